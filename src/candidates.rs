//! Candidate generation: which profile pairs are worth comparing. Every distinct profile
//! queries the [`crate::index`] once with its own terms (rare terms only, see below) and
//! keeps its top K hits; profiles that share a case number (a warranty claim citing a
//! support ticket) are joined directly by hash. Pairs are ordered (lower ordinal first)
//! and deduplicated. Runs in parallel over one shared searcher; the result does not
//! depend on the thread count.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::index::{profile_terms, record_case_terms, TermIndex};
use crate::record::{Dataset, ProfileOrd};

/// Terms held by more profiles than this are left out of a query (unless among the
/// rarest [`KEEP_RAREST_TERMS`]): a household phone, a role mailbox or the surname Smith
/// would otherwise make every query touch a long posting list (DESIGN.md measured 10×).
/// Scaled with the data: sqrt(n), at least 64 — about 1,000 at 1M profiles. (2·sqrt(n)
/// was 25% slower at 100k records with the same pair completeness and F1.)
pub fn max_term_doc_freq(profiles: usize) -> u64 {
    ((profiles as f64).sqrt() * 1.0).max(64.0) as u64
}
/// A profile whose terms are all frequent still queries with its rarest few.
pub const KEEP_RAREST_TERMS: usize = 4;
/// Most terms one query uses (the rarest): a query's cost is the length of the posting
/// lists it touches, and the rarest terms carry the most evidence.
pub const MAX_QUERY_TERMS: usize = 16;
/// An exact key (personal e-mail, phone, serial, id, case number) held by at most this
/// many profiles ties them into one *key group*: one person's records under a handful of
/// spellings, or a household. More than this is an office line or a shared mailbox.
const MAX_PROFILES_PER_KEY: usize = 32;
/// Key groups up to this many profiles are compared pair by pair (a customer's ticket
/// that gives only a phone meets the order that gives only an e-mail through the
/// account that gives both); larger groups only pair profiles that share a key directly.
const MAX_KEY_GROUP: usize = 64;

/// Candidate pairs and their statistics.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Profile pairs `(a, b)` with `a < b`, sorted.
    pub pairs: Vec<(ProfileOrd, ProfileOrd)>,
    pub stats: CandidateStats,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CandidateStats {
    pub profiles: u64,
    pub profile_pairs: u64,
    /// Pairs from key groups (before deduplication with search hits).
    pub key_group_pairs: u64,
    /// Candidates per record: the other records of its profile and of every profile paired with it.
    pub per_record_mean: f64,
    pub per_record_p99: u64,
    pub per_record_max: u64,
    pub max_term_doc_freq: u64,
    pub top_k: usize,
}

/// Builds the candidate index over all profiles (in RAM); `output` saves it for `lookup`.
pub fn build_index(data: &Dataset, progress: impl FnMut(u64)) -> crate::Result<TermIndex> {
    let (offsets, members) = data.profile_members();
    TermIndex::build(
        data.profiles.len(),
        |i, terms| {
            profile_terms(&data.profiles[i], terms);
            for &r in &members[offsets[i] as usize..offsets[i + 1] as usize] {
                record_case_terms(&data.records[r as usize], terms);
            }
            terms.sort_unstable();
            terms.dedup();
        },
        progress,
    )
}

/// Searches candidates for every profile.
pub fn generate(
    data: &Dataset,
    index: &TermIndex,
    top_k: usize,
    progress: impl Fn(u64) + Sync,
) -> Candidates {
    let searcher = index.searcher();
    let n = data.profiles.len();
    let max_df = max_term_doc_freq(n);
    let mut pairs: Vec<(u32, u32)> = (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map_init(Vec::new, |terms, i| {
            terms.clear();
            profile_terms(&data.profiles[i], terms);
            // One more than K: the profile itself is usually the first hit.
            let hits =
                searcher.search(terms, top_k + 1, max_df, KEEP_RAREST_TERMS, MAX_QUERY_TERMS);
            if i % 4096 == 0 {
                progress(4096);
            }
            hits.into_iter()
                .map(|h| h.ord as u32)
                .filter(|&o| o as usize != i)
                .take(top_k)
                .map(|o| (o.min(i as u32), o.max(i as u32)))
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    let key_pairs = key_group_pairs(data);
    let key_pair_count = key_pairs.len();
    pairs.extend(key_pairs);
    pairs.par_sort_unstable();
    pairs.dedup();
    let mut stats = stats(data, &pairs, max_df, top_k);
    stats.key_group_pairs = key_pair_count as u64;
    Candidates { pairs, stats }
}

/// Profile pairs tied together by exact keys (see [`MAX_PROFILES_PER_KEY`]): the
/// exact-key join DESIGN.md recommends, extended to the whole key group.
fn key_group_pairs(data: &Dataset) -> Vec<(u32, u32)> {
    use crate::compare::value_hash;
    let mut by_key: HashMap<u64, Vec<u32>> = HashMap::new();
    for (i, p) in data.profiles.iter().enumerate() {
        let i = i as u32;
        let mut add = |k: u64| by_key.entry(k).or_default().push(i);
        p.emails
            .iter()
            .filter(|e| !e.role)
            .for_each(|e| add(value_hash(&("e", &e.address))));
        p.phones
            .iter()
            .for_each(|x| add(value_hash(&("p", &x.e164))));
        p.serials
            .iter()
            .for_each(|x| add(value_hash(&("s", &x.folded))));
        p.ids.iter().for_each(|x| add(value_hash(&("i", x))));
        p.cases.iter().for_each(|x| add(value_hash(&("k", x))));
    }
    let mut keys: Vec<Vec<u32>> = by_key
        .into_values()
        .map(|mut v| {
            v.sort_unstable();
            v.dedup();
            v
        })
        .filter(|v| v.len() >= 2 && v.len() <= MAX_PROFILES_PER_KEY)
        .collect();
    keys.sort_unstable();
    // Union-find over profiles by shared keys.
    let mut parent: Vec<u32> = (0..data.profiles.len() as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for v in &keys {
        for &p in &v[1..] {
            let (a, b) = (find(&mut parent, v[0]), find(&mut parent, p));
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
    }
    let mut groups: HashMap<u32, Vec<u32>> = HashMap::new();
    for v in &keys {
        for &p in v {
            let r = find(&mut parent, p);
            groups.entry(r).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    let all_pairs = |v: &[u32], out: &mut Vec<(u32, u32)>| {
        for (i, &a) in v.iter().enumerate() {
            for &b in &v[i + 1..] {
                out.push((a, b));
            }
        }
    };
    for mut members in groups.into_values() {
        members.sort_unstable();
        members.dedup();
        if members.len() <= MAX_KEY_GROUP {
            all_pairs(&members, &mut out);
        }
    }
    // Large groups: only the profiles that share a key directly.
    for v in &keys {
        all_pairs(v, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn stats(data: &Dataset, pairs: &[(u32, u32)], max_df: u64, top_k: usize) -> CandidateStats {
    let mut size = vec![0u64; data.profiles.len()];
    for r in &data.records {
        size[r.profile as usize] += 1;
    }
    // Each record is compared with the other records of its profile and with every
    // record of each paired profile.
    let mut per_profile: Vec<u64> = size.iter().map(|&s| s.saturating_sub(1)).collect();
    for &(a, b) in pairs {
        per_profile[a as usize] += size[b as usize];
        per_profile[b as usize] += size[a as usize];
    }
    let mut per_record: Vec<u64> = data
        .records
        .iter()
        .map(|r| per_profile[r.profile as usize])
        .collect();
    per_record.sort_unstable();
    let n = per_record.len().max(1);
    CandidateStats {
        profiles: data.profiles.len() as u64,
        profile_pairs: pairs.len() as u64,
        key_group_pairs: 0,
        per_record_mean: per_record.iter().sum::<u64>() as f64 / n as f64,
        per_record_p99: per_record.get((n * 99) / 100).copied().unwrap_or(0),
        per_record_max: per_record.last().copied().unwrap_or(0),
        max_term_doc_freq: max_df,
        top_k,
    }
}
