//! Candidate generation: which profile pairs are worth comparing. Three sources, merged:
//! profiles that share an exact key (e-mail, phone, serial, id, cited case number) form
//! *key groups* whose pairs are all candidates; each key group, and each profile in none,
//! queries the [`crate::index`] once with its terms (rare terms only, see below) and keeps
//! its top K hits; phone numbers one keystroke apart are joined directly. Pairs are
//! ordered (lower ordinal first) and deduplicated. Runs in parallel over one shared
//! searcher; the result does not depend on the thread count.

use rayon::prelude::*;
use serde::Serialize;

use crate::index::{profile_terms, record_case_terms, BuildIn, TermIndex};
use crate::record::{Dataset, Profile, ProfileOrd};

/// Terms held by more profiles than this are left out of a query (unless among the
/// rarest [`KEEP_RAREST_TERMS`]): a household phone, a role mailbox or the surname Smith
/// would otherwise make every query touch a long posting list (ARCHITECTURE.md: measured 10×).
/// Scaled with the data: sqrt(n), at least 64 and at most [`MAX_TERM_DOC_FREQ_CEILING`]
/// — 1,000 from 1M profiles on. (2·sqrt(n) was 25% slower at 100k records with the
/// same pair completeness and F1.)
pub fn max_term_doc_freq(profiles: usize) -> u64 {
    ((profiles as f64).sqrt()).clamp(64.0, MAX_TERM_DOC_FREQ_CEILING as f64) as u64
}
/// A value more than this many profiles hold says little about who someone is at any
/// size of data, and every query that uses it reads its whole posting list: beyond 1M
/// profiles the cap stops growing, so a query's cost stops growing with the data.
pub const MAX_TERM_DOC_FREQ_CEILING: u64 = 1000;
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

#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct CandidateStats {
    pub profiles: u64,
    pub profile_pairs: u64,
    /// Pairs from key groups (before deduplication with search hits).
    pub key_group_pairs: u64,
    /// Pairs of profiles whose phone numbers are one keystroke apart (before deduplication).
    pub near_phone_pairs: u64,
    /// Candidates per record: the other records of its profile and of every profile paired with it.
    pub per_record_mean: f64,
    pub per_record_p99: u64,
    pub per_record_max: u64,
    pub max_term_doc_freq: u64,
    pub top_k: usize,
}

/// Builds the candidate index over all profiles (in RAM); `output` saves it for `lookup`.
pub fn build_index(
    data: &Dataset,
    into: &BuildIn,
    progress: impl FnMut(u64),
) -> crate::Result<TermIndex> {
    let (offsets, members) = data.profile_members();
    TermIndex::build(
        data.profiles.len(),
        into,
        |i, terms| document_terms(data, (&offsets, &members), i, terms),
        progress,
    )
}

/// An incremental run's index: the one saved in `dir` (profiles `0..first`) with the
/// profiles `units` written anew (see [`TermIndex::extend_saved`]).
pub fn extend_index(
    dir: &std::path::Path,
    into: &BuildIn,
    data: &Dataset,
    first: usize,
    units: &[u32],
    members: (&[u32], &[crate::record::RecordOrd]),
    progress: impl FnMut(u64),
) -> crate::Result<TermIndex> {
    TermIndex::extend_saved(
        dir,
        into,
        first,
        units,
        |i, terms| document_terms(data, members, i, terms),
        progress,
    )
}

/// The terms of profile `i`'s index document: its values' and its records' case numbers
/// and ids (`members`: [`Dataset::profile_members`]), sorted, each once.
fn document_terms(
    data: &Dataset,
    (offsets, members): (&[u32], &[crate::record::RecordOrd]),
    i: usize,
    terms: &mut Vec<String>,
) {
    profile_terms(&data.profiles[i], terms);
    for &r in &members[offsets[i] as usize..offsets[i + 1] as usize] {
        record_case_terms(
            &data.records[r as usize].record_id,
            &data.details.cases(r),
            terms,
        );
    }
    terms.sort_unstable();
    terms.dedup();
}

/// Searches candidates for every profile.
///
/// The unit of search is a *key group* (profiles tied by exact keys, see
/// [`MAX_PROFILES_PER_KEY`]) or a profile outside any: a group queries once with the union
/// of its members' terms, and each hit is paired with every member. This is iterative
/// blocking in the sense of Whang et al. (SIGMOD 2009): what one record of a customer
/// knows (the shop order's address) finds the records another of its records cannot (the
/// support ticket that gave only a name and a phone).
pub fn generate(
    data: &Dataset,
    index: &TermIndex,
    exact: ExactJoins,
    top_k: usize,
    progress: impl Fn(u64) + Sync,
) -> Candidates {
    generate_for(data, index, exact, top_k, None, progress)
}

/// What an incremental run searches for: only units holding a profile of `query` (its
/// new profiles), pairing only profiles that have records tonight (`live`: a profile
/// whose records are all gone stays in the saved index).
pub struct Focus<'a> {
    pub query: &'a [bool],
    pub live: &'a [bool],
}

/// [`generate`], restricted to the pairs that touch `focus.query` when given.
pub fn generate_for(
    data: &Dataset,
    index: &TermIndex,
    exact: ExactJoins,
    top_k: usize,
    focus: Option<Focus>,
    progress: impl Fn(u64) + Sync,
) -> Candidates {
    let searcher = index.searcher_for_many_queries();
    let n = data.profiles.len();
    let max_df = max_term_doc_freq(n);
    let ExactJoins { groups, near } = exact;
    let mut units = search_units(n, &groups.small);
    let live = |p: u32| focus.as_ref().is_none_or(|f| f.live[p as usize]);
    let wanted = |a: u32, b: u32| {
        focus
            .as_ref()
            .is_none_or(|f| (f.query[a as usize] || f.query[b as usize]) && live(a) && live(b))
    };
    if let Some(f) = &focus {
        units.retain(|u| u.iter().any(|&p| f.query[p as usize]));
    }
    let group_k = group_top_k(top_k);
    let mut pairs: Vec<(u32, u32)> = units
        .par_iter()
        .with_min_len(64)
        .map_init(Vec::new, |terms, unit| {
            terms.clear();
            for &p in unit.iter() {
                profile_terms(&data.profiles[p as usize], terms);
            }
            if unit.len() > 1 {
                // Members share most of their terms; look each up once.
                terms.sort_unstable();
                terms.dedup();
            }
            let k = if unit.len() > 1 { group_k } else { top_k };
            let max_terms = MAX_QUERY_TERMS + GROUP_EXTRA_TERMS.min(4 * (unit.len() - 1));
            // The unit's own profiles are usually the first hits.
            let hits = searcher.search(terms, k + unit.len(), max_df, KEEP_RAREST_TERMS, max_terms);
            progress(unit.len() as u64);
            let mut out = Vec::with_capacity(k * unit.len());
            for h in hits
                .into_iter()
                .map(|h| h.ord as u32)
                .filter(|&o| unit.binary_search(&o).is_err() && live(o))
                .take(k)
            {
                out.extend(unit.iter().map(|&m| (m.min(h), m.max(h))));
            }
            out
        })
        .flatten()
        .collect();
    let mut key_pairs = groups.pairs();
    key_pairs.retain(|&(a, b)| wanted(a, b));
    let key_pair_count = key_pairs.len();
    pairs.extend(key_pairs);
    let near: Vec<(u32, u32)> = near.into_iter().filter(|&(a, b)| wanted(a, b)).collect();
    let near_phone_count = near.len();
    pairs.extend(near);
    if focus.is_some() {
        pairs.retain(|&(a, b)| wanted(a, b));
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    // Duplicates were ~40 % of the list: the pairs are held through scoring.
    pairs.shrink_to_fit();
    let mut stats = stats(data, &pairs, max_df, top_k);
    stats.key_group_pairs = key_pair_count as u64;
    stats.near_phone_pairs = near_phone_count as u64;
    Candidates { pairs, stats }
}

/// The candidates found without the index: key groups and phone numbers one keystroke
/// apart. They need only the records, so a run joins them while the index is built.
pub struct ExactJoins {
    groups: KeyGroups,
    near: Vec<(u32, u32)>,
}

impl ExactJoins {
    pub fn find(data: &Dataset) -> ExactJoins {
        Self::find_for(data, None)
    }

    /// With `query` (an incremental run's new profiles): only what can pair them — the
    /// keys they hold, and the keys of the profiles holding those (a key group reaches a
    /// profile through another member's key), and the phones one keystroke from theirs.
    pub fn find_for(data: &Dataset, query: Option<&[bool]>) -> ExactJoins {
        ExactJoins {
            groups: key_groups(data, query),
            near: near_phone_pairs(data, query),
        }
    }
}

/// Hits a key group keeps, each paired with every member: half a lone profile's K. A
/// group already holds its customer's keyed records; what it searches for is the rest,
/// and every hit costs one pair per member. (Measured when this was chosen, on generated
/// data, 50k customers: a group K of 5, 8, 10 and 20 gave pair completeness 0.9944,
/// 0.9954, 0.9959, 0.9962 at 16.6, 21.3, 24.5 and ~40 candidates per record, same F1.)
fn group_top_k(top_k: usize) -> usize {
    top_k.div_ceil(2)
}

/// More query terms a key group may use than one profile, 4 per further member.
const GROUP_EXTRA_TERMS: usize = 8;

/// Search units: every small key group, and every profile outside one on its own.
fn search_units(n: usize, groups: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut grouped = vec![false; n];
    for g in groups {
        g.iter().for_each(|&p| grouped[p as usize] = true);
    }
    let mut units: Vec<Vec<u32>> = groups.to_vec();
    units.extend(
        (0..n as u32)
            .filter(|&p| !grouped[p as usize])
            .map(|p| vec![p]),
    );
    units.sort_unstable_by_key(|u| u[0]);
    units
}

/// Profiles tied together by exact keys (see [`MAX_PROFILES_PER_KEY`]): the exact-key
/// join the design recommends (ARCHITECTURE.md), extended to the whole key group.
struct KeyGroups {
    /// Groups of 2..=[`MAX_KEY_GROUP`] profiles, each sorted: all their pairs are candidates.
    small: Vec<Vec<u32>>,
    /// The profiles of each shared key (sorted): within larger groups, only profiles that
    /// share a key directly are paired.
    keys: Vec<Vec<u32>>,
}

impl KeyGroups {
    fn pairs(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let all_pairs = |v: &[u32], out: &mut Vec<(u32, u32)>| {
            for (i, &a) in v.iter().enumerate() {
                for &b in &v[i + 1..] {
                    out.push((a, b));
                }
            }
        };
        self.small.iter().for_each(|g| all_pairs(g, &mut out));
        self.keys.iter().for_each(|k| all_pairs(k, &mut out));
        out.par_sort_unstable();
        out.dedup();
        out
    }
}

fn key_groups(data: &Dataset, query: Option<&[bool]>) -> KeyGroups {
    use crate::compare::value_hash;
    // (key, profile) for every exact key, grouped by a parallel sort (a hash map of
    // vectors was a second of single-threaded work at 1M records).
    let mut keyed: Vec<(u64, u32)> = data
        .profiles
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, p)| {
            let i = i as u32;
            let emails = p
                .emails
                .iter()
                .filter(|e| !e.role)
                .map(|e| value_hash(&("e", &e.address)));
            let phones = p.phones.iter().map(|x| value_hash(&("p", &x.e164)));
            let serials = p.serials.iter().map(|x| value_hash(&("s", &x.folded)));
            let ids = p.ids.iter().map(|x| value_hash(&("i", x)));
            let cases = p.cases.iter().map(|x| value_hash(&("k", x)));
            emails
                .chain(phones)
                .chain(serials)
                .chain(ids)
                .chain(cases)
                .map(move |k| (k, i))
        })
        .collect();
    if let Some(query) = query {
        // Two steps out from the query's keys.
        let mut wanted: rustc_hash::FxHashSet<u64> = keyed
            .par_iter()
            .filter(|&&(_, p)| query[p as usize])
            .map(|&(k, _)| k)
            .collect();
        let holders: rustc_hash::FxHashSet<u32> = keyed
            .par_iter()
            .filter(|(k, _)| wanted.contains(k))
            .map(|&(_, p)| p)
            .collect();
        let further: Vec<u64> = keyed
            .par_iter()
            .filter(|(_, p)| holders.contains(p))
            .map(|&(k, _)| k)
            .collect();
        wanted.extend(further);
        keyed = keyed
            .into_par_iter()
            .filter(|(k, _)| wanted.contains(k))
            .collect();
    }
    keyed.par_sort_unstable();
    keyed.dedup();
    let mut keys: Vec<Vec<u32>> = keyed
        .chunk_by(|x, y| x.0 == y.0)
        .filter(|run| run.len() >= 2 && run.len() <= MAX_PROFILES_PER_KEY)
        .map(|run| run.iter().map(|&(_, p)| p).collect())
        .collect();
    keys.par_sort_unstable();
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
    let mut members: Vec<(u32, u32)> = keys
        .iter()
        .flatten()
        .map(|&p| (find(&mut parent, p), p))
        .collect();
    members.par_sort_unstable();
    members.dedup();
    let mut small: Vec<Vec<u32>> = members
        .chunk_by(|x, y| x.0 == y.0)
        .filter(|group| group.len() <= MAX_KEY_GROUP)
        .map(|group| group.iter().map(|&(_, p)| p).collect())
        .collect();
    small.sort_unstable();
    KeyGroups { small, keys }
}

/// Profile pairs whose phone numbers are one keystroke apart (a substitution,
/// transposition, insertion or deletion: "512-344-5153" and "512-344-5135"). Each
/// national number is keyed by itself and by itself with each digit deleted in turn (a
/// symmetric deletion neighbourhood, as in SymSpell); two numbers one edit apart share a
/// key. A key held by more than [`MAX_PROFILES_PER_KEY`] profiles is an office line's
/// neighbourhood and pairs nothing. Found by a sort-based join rather than the search:
/// eleven more terms per phone made the 1M-record index 2.5 times slower to build.
/// A phone's one-deletion variants and itself, keyed: (key, which of its phones).
fn phone_variants(p: &crate::record::Profile) -> impl Iterator<Item = (u64, u16)> + '_ {
    use std::hash::Hasher;
    p.phones
        .iter()
        .take(u16::MAX as usize)
        .enumerate()
        .flat_map(move |(j, ph)| {
            let national = ph.national();
            (0..=national.len()).map(move |skip| {
                // skip == len: the number itself. The variant is hashed whole (FxHash of
                // the concatenation: its writes do not stream, and SipHash, which does,
                // was a second of a 1M-record incremental run).
                let mut buf = [0u8; 40];
                let country = &ph.e164.as_bytes()[..ph.country_len as usize];
                let parts = [
                    country,
                    &national.as_bytes()[..skip],
                    national.as_bytes().get(skip + 1..).unwrap_or(&[]),
                ];
                let mut len = 0;
                let mut long = Vec::new();
                for part in parts {
                    if len + part.len() <= buf.len() {
                        buf[len..len + part.len()].copy_from_slice(part);
                    } else {
                        if long.is_empty() {
                            long.extend_from_slice(&buf[..len]);
                        }
                        long.extend_from_slice(part);
                    }
                    len += part.len();
                }
                let bytes = if long.is_empty() {
                    &buf[..len]
                } else {
                    &long[..]
                };
                let mut h = rustc_hash::FxHasher::default();
                h.write(bytes);
                (h.finish(), j as u16)
            })
        })
}

fn near_phone_pairs(data: &Dataset, query: Option<&[bool]>) -> Vec<(u32, u32)> {
    // (key, profile, which of its phones): 16 bytes an entry, ~11 entries a phone. With
    // a query, only the entries of keys its profiles hold are kept (never the whole
    // list).
    let wanted: Option<rustc_hash::FxHashSet<u64>> = query.map(|q| {
        data.profiles
            .par_iter()
            .enumerate()
            .filter(|(i, _)| q[*i])
            .flat_map_iter(|(_, p)| phone_variants(p).map(|(k, _)| k))
            .collect()
    });
    let mut keyed: Vec<(u64, u32, u16)> = data
        .profiles
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, p)| {
            phone_variants(p)
                .filter(|(k, _)| wanted.as_ref().is_none_or(|w| w.contains(k)))
                .map(move |(k, j)| (k, i as u32, j))
        })
        .collect();
    keyed.par_sort_unstable();
    keyed.dedup();
    let phone = |&(_, p, j): &(u64, u32, u16)| &data.profiles[p as usize].phones[j as usize].e164;
    // Numbers one keystroke apart are a typo only when the names could be one person's
    // (a first or last name sounding alike, fields swapped or not); a profile without a
    // name is paired as before. Otherwise the pairs grow with the square of how densely
    // the numbers fill their area codes: 1M records had ~1M such pairs, 10M had 92M
    // (from 16 area codes), nearly all of strangers.
    let names_meet = |a: u32, b: u32| {
        let (a, b) = (&data.profiles[a as usize], &data.profiles[b as usize]);
        fn codes(p: &Profile) -> Vec<&str> {
            p.names
                .iter()
                .flat_map(|n| [n.first_phonetic.as_str(), n.last_phonetic.as_str()])
                .filter(|c| !c.is_empty())
                .collect()
        }
        let (mine, theirs) = (codes(a), codes(b));
        mine.is_empty() || theirs.is_empty() || mine.iter().any(|c| theirs.contains(c))
    };
    let mut out = Vec::new();
    for run in keyed.chunk_by(|x, y| x.0 == y.0) {
        if run.len() < 2 || run.len() > MAX_PROFILES_PER_KEY {
            continue;
        }
        for (i, x) in run.iter().enumerate() {
            for y in &run[i + 1..] {
                // With a query, a pair without a query profile is not wanted (the
                // caller keeps only pairs holding one): not compared at all.
                let asked = query.is_none_or(|q| q[x.1 as usize] || q[y.1 as usize]);
                // Same number: a key group's pair already.
                if asked && x.1 != y.1 && phone(x) != phone(y) && names_meet(x.1, y.1) {
                    out.push((x.1.min(y.1), x.1.max(y.1)));
                }
            }
        }
    }
    out.par_sort_unstable();
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
        near_phone_pairs: 0,
        per_record_mean: per_record.iter().sum::<u64>() as f64 / n as f64,
        per_record_p99: per_record.get((n * 99) / 100).copied().unwrap_or(0),
        per_record_max: per_record.last().copied().unwrap_or(0),
        max_term_doc_freq: max_df,
        top_k,
    }
}
