//! The incremental run: `run --previous OLD --incremental`. It reads tonight's exports
//! whole (every row is fingerprinted, `rows::row_hash`), and looks again only at what
//! changed since OLD:
//!
//! 1. *ingest*: a row with the same source, record id and fingerprint as one OLD saved
//!    (`state`) is not normalized again; its values come from the state, so the dataset is
//!    the one a full run would read. Its profiles are then numbered onto OLD's profile
//!    table (kept ordinals, new profiles appended), so that OLD's index still fits.
//! 2. *index*: OLD's index, plus one segment with the new profiles and the old profiles
//!    whose records changed (their saved documents are replaced: a repeat caller's new
//!    case number is found by `lookup`).
//! 3. *candidates*: searched for the new profiles only (key groups, search, near phones),
//!    scored with OLD's model; the values strangers share and term frequencies are learned
//!    from tonight's records, as in a full run.
//! 4. *cluster*: only the affected customers — those holding a new, changed or removed
//!    record, sharing a profile with one, named by the steward's overrides, or reached by a
//!    new pair above the threshold — are clustered again, with every pair saved between
//!    their profiles and tonight's new pairs, compared again. Every other customer is
//!    carried over as it was.
//! 5. golden IDs, golden records, attention and outputs as in a full run, and the state
//!    for the next night.
//!
//! Documented differences from a full `--previous` run: the model and the threshold are
//! OLD's (not retrained); an old profile does not search again, so a new profile is
//! paired with it only when the new one finds it; profiles of removed records stay in
//! the table and the index (without records; they pair with nothing) until a full run;
//! the clustering counts in `run.json` cover the customers clustered again.

use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::{Deserialize, Serialize};

use crate::candidates::{self, Focus};
use crate::cluster::{self, Clustering, Decision, Edge};
use crate::compare::{self, Evidence};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity;
use crate::model::{self, Model, Scorer, TermFrequencies};
use crate::record::{Dataset, RecordOrd};
use crate::{ingest, overrides, rows, state, Options, Progress, Resolution, Timer};

/// What an incremental run looked at again, for `run.json` and the summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncrementalStats {
    /// Rows normalized tonight (new or changed); the others came from the state.
    pub rows_normalized: u64,
    pub profiles_new: u64,
    /// Old profiles whose records changed: their index documents were written again.
    pub profiles_reindexed: u64,
    /// Profiles kept in the table and the index without any record (removed records).
    pub profiles_without_records: u64,
    /// Candidate pairs found for the new profiles.
    pub pairs_new: u64,
    /// Pairs compared again to cluster the affected customers.
    pub pairs_rescored: u64,
    /// Previous customers clustered again, and their records with tonight's new ones.
    pub customers_reclustered: u64,
    pub records_reclustered: u64,
    /// Previous customers carried over unchanged.
    pub customers_carried: u64,
    /// Values whose standing (shared by strangers, a household's) changed since OLD: the
    /// customers holding them were clustered again.
    pub shared_values_changed: u64,
    /// Index segments after this run (a full run makes one).
    pub index_segments: u64,
    /// Incremental runs since the last full run, this one included.
    pub nights_since_full_run: u64,
    /// Records new, changed or removed over those nights, as a share of the records of
    /// the last full run.
    pub records_touched_since_full_run: u64,
    pub records_at_last_full_run: u64,
    pub touched_share: f64,
    /// Share of tonight's new pairs at or above the threshold, and of the saved pairs:
    /// far apart, the model trained on the full run no longer fits tonight's records.
    pub new_pairs_linkable_share: f64,
    pub saved_pairs_linkable_share: f64,
    /// Why a full run is advised (empty when it is not): see docs/guide.md.
    pub full_run_advised: Vec<String>,
}

/// A full run is advised after this many incremental nights...
pub const ADVISE_FULL_AFTER_NIGHTS: u64 = 7;
/// ... or when this share of the full run's records was touched since ...
pub const ADVISE_FULL_TOUCHED_SHARE: f64 = 0.10;
/// ... or when the share of new pairs above the threshold is this many times the saved
/// pairs' share, or less than its inverse (and there are enough new pairs to say).
pub const ADVISE_FULL_LINKABLE_RATIO: f64 = 2.0;

impl IncrementalStats {
    fn advise(&mut self) {
        self.full_run_advised.clear();
        if self.nights_since_full_run >= ADVISE_FULL_AFTER_NIGHTS {
            self.full_run_advised.push(format!(
                "{} incremental nights since the last full run",
                self.nights_since_full_run
            ));
        }
        if self.touched_share >= ADVISE_FULL_TOUCHED_SHARE {
            self.full_run_advised.push(format!(
                "{:.1} % of the records changed since the last full run",
                100.0 * self.touched_share
            ));
        }
        let (new, old) = (
            self.new_pairs_linkable_share,
            self.saved_pairs_linkable_share,
        );
        if self.pairs_new >= 1000
            && old > 0.0
            && (new / old > ADVISE_FULL_LINKABLE_RATIO
                || new / old < 1.0 / ADVISE_FULL_LINKABLE_RATIO)
        {
            self.full_run_advised.push(format!(
                "{:.1} % of tonight's new pairs link against {:.1} % of the saved ones: the model may no longer fit",
                100.0 * new,
                100.0 * old
            ));
        }
    }
}

/// Runs the pipeline on what changed since `options.previous` (see the module docs).
pub fn resolve(config: &Config, options: &Options, progress: &dyn Progress) -> Result<Resolution> {
    let mut t = Timer(Vec::new(), Instant::now());
    let Some(old) = options.previous.as_deref() else {
        return Err(Error::Usage(
            "--incremental needs --previous OLD (the output folder of the last run)".into(),
        ));
    };
    if options.model.is_some() {
        return Err(Error::Usage(
            "--incremental scores with the previous run's model; leave out --model".into(),
        ));
    }
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    // Last night's IDs and its state are independent reads: side by side.
    let (previous, saved) = rayon::join(
        || identity::load_previous_with(old, false),
        || state::load(old, config, &names),
    );
    let previous = previous?;
    let mut saved = saved?;
    let model = Model::load(&old.join("model.json"))?;
    let threshold = config
        .matching
        .threshold
        .unwrap_or(saved.manifest.threshold);
    let threshold_weight = model::weight_of_probability(threshold);
    let mut stats = IncrementalStats::default();
    t.lap("state");

    progress.stage("ingest", None);
    let seed = ingest::Seed {
        profiles: std::mem::take(&mut saved.profiles),
        hashes: std::mem::take(&mut saved.hashes),
        records: saved.rows.len(),
    };
    let n_old = seed.profiles.len();
    let mut data = ingest::ingest_reusing(config, Some((&saved, seed)), |n| progress.advance(n))?;
    progress.finish();

    // Which records are new or changed, and which saved rows are gone.
    let old_of: Vec<Option<state::SavedRow>> = data
        .records
        .par_iter()
        .map(|r| saved.rows.get(&(r.source, r.record_id.clone())).copied())
        .collect();
    let dirty: Vec<bool> = old_of
        .par_iter()
        .zip(&data.row_hashes)
        .map(|(o, h)| o.is_none_or(|o| o.hash != *h))
        .collect();
    stats.rows_normalized = dirty.iter().filter(|&&d| d).count() as u64;
    let mut seen_tonight = vec![false; saved.entries];
    for o in old_of.iter().flatten() {
        seen_tonight[o.ord as usize] = true;
    }
    let removed: Vec<(u16, &compact_str::CompactString, u32)> = saved
        .rows
        .iter()
        .filter(|(_, row)| !seen_tonight[row.ord as usize])
        .map(|((s, id), row)| (*s, id, row.profile))
        .collect();
    let mut removed_keys: Vec<(String, String)> = removed
        .iter()
        .map(|&(s, id, _)| (names[s as usize].clone(), id.to_string()))
        .collect();
    removed_keys.sort();
    // What last night's state holds as it is: the rest goes into tonight's layer.
    let carry = saved.carry(
        old_of
            .par_iter()
            .zip(&data.row_hashes)
            .zip(&data.records)
            .map(|((o, h), r)| o.is_some_and(|o| o.hash == *h && o.profile == r.profile))
            .collect(),
        removed.iter().map(|&(s, id, _)| (s, id.clone())).collect(),
    );
    let removed_profiles: Vec<u32> = removed.iter().map(|&(_, _, p)| p).collect();
    let seen = old_of.iter().filter(|o| o.is_some()).count() as u64;
    let changed = dirty
        .iter()
        .zip(&old_of)
        .filter(|(d, o)| **d && o.is_some())
        .count() as u64;
    let night = rows::Night {
        new: data.records.len() as u64 - seen,
        changed,
        unchanged: seen - changed,
        removed: removed.len() as u64,
    };
    stats.nights_since_full_run = saved.manifest.nights_since_full + 1;
    stats.records_touched_since_full_run =
        saved.manifest.records_touched_since_full + night.new + night.changed + night.removed;
    stats.records_at_last_full_run = saved.manifest.records_at_full;
    stats.touched_share =
        stats.records_touched_since_full_run as f64 / saved.manifest.records_at_full.max(1) as f64;
    drop(seen_tonight);

    let n = data.profiles.len();
    let (offsets, members) = data.profile_members();
    let live: Vec<bool> = (0..n).map(|p| offsets[p + 1] > offsets[p]).collect();
    stats.profiles_new = (n_old..n).filter(|&p| live[p]).count() as u64;
    stats.profiles_without_records = live.iter().filter(|&&l| !l).count() as u64;
    let mut touched = vec![false; n];
    for (i, r) in data.records.iter().enumerate() {
        if dirty[i] {
            touched[r.profile as usize] = true;
            if let Some(o) = old_of[i] {
                touched[o.profile as usize] = true;
            }
        }
    }
    for &p in &removed_profiles {
        touched[p as usize] = true;
    }
    let steward = config
        .matching
        .overrides
        .as_deref()
        .map(|path| overrides::read(path, &data.sources))
        .transpose()?
        .map(|o| o.resolve(&data));
    if let Some(dir) = options.spill_dir() {
        data.details.spill(dir)?;
    }
    t.lap("ingest");

    // Last night's records per profile (for the shared values' standing).
    let mut sizes_before = vec![0u32; n_old];
    for row in saved.rows.values() {
        sizes_before[row.profile as usize] += 1;
    }
    // The profiles that search: tonight's new ones.
    let query: Vec<bool> = (0..n).map(|p| p >= n_old && live[p]).collect();
    // The saved index with the new and changed profiles, while what needs only the
    // records is learned beside it.
    progress.stage("index", Some((n - n_old) as u64));
    // Every new profile gets a document (ingest keeps none without records): the saved
    // index holds one document per profile of the table, which the next night checks.
    let reindex: Vec<u32> = (0..n as u32)
        .filter(|&p| p as usize >= n_old || touched[p as usize] && live[p as usize])
        .collect();
    stats.profiles_reindexed = reindex.iter().filter(|&&p| (p as usize) < n_old).count() as u64;
    // Both sides in the whole pool: the extension is one writer thread and a short
    // parallel term pass, the other side parallel throughout.
    let (index, (exact, shared, impersonal, tf)) = rayon::join(
        || {
            candidates::extend_index(
                &old.join(crate::store::DIR),
                &crate::index_in(options),
                &data,
                n_old,
                &reindex,
                (&offsets, &members),
                |k| progress.advance(k),
            )
        },
        || {
            let shared = compare::SharedValues::relearn(&data, &saved.shared, &sizes_before);
            let exact = candidates::ExactJoins::find_for(&data, Some(&query));
            let impersonal = shared.impersonal(&data);
            let tf = TermFrequencies::from_data(&data, &impersonal);
            (exact, shared, impersonal, tf)
        },
    );
    let index = index?;
    stats.index_segments = index
        .index()
        .searchable_segment_ids()
        .map_or(0, |s| s.len() as u64);
    progress.finish();
    data.details.release_pages();
    t.lap("index");

    progress.stage("candidates", Some((n - n_old) as u64));
    let candidates = candidates::generate_for(
        &data,
        &index,
        exact,
        config.matching.candidates,
        Some(Focus {
            query: &query,
            live: &live,
        }),
        |k| progress.advance(k),
    );
    stats.pairs_new = candidates.pairs.len() as u64;
    // An index built in the work folder is already the output's: its pages go now.
    let index = options.work_dir.is_none().then_some(index);
    progress.finish();
    t.lap("candidates");

    progress.stage("compare+score", Some(candidates.pairs.len() as u64));
    let scorer = Scorer {
        model: &model,
        tf: &tf,
    };
    let score = |d: &Dataset, a: u32, b: u32| {
        let c = compare::compare_with(&d.profiles[a as usize], &d.profiles[b as usize], &shared);
        (scorer.weight(&c) as f32, shared.evidence(&c))
    };
    // Each new pair's weight, and whether it can join customers: above the threshold,
    // or agreeing on a key (a lone profile joins the one customer holding its key).
    let new_edges: Vec<(u32, u32, f32, bool)> = candidates
        .pairs
        .par_iter()
        .map(|&(a, b)| {
            let (w, e) = score(&data, a, b);
            let key = e.personal_key_agrees
                || e.personal_email_typo
                || e.phone == compare::ContactAgreement::Exact;
            (a, b, w, key || w as f64 >= threshold_weight)
        })
        .collect();
    let linkable = |n: usize, w: &mut dyn Iterator<Item = f32>| {
        w.filter(|&w| w as f64 >= threshold_weight).count() as f64 / n.max(1) as f64
    };
    stats.new_pairs_linkable_share = linkable(new_edges.len(), &mut new_edges.iter().map(|e| e.2));
    stats.saved_pairs_linkable_share =
        linkable(saved.edge_count(), &mut saved.edges().map(|e| e.weight));
    progress.finish();
    t.lap("compare+score");

    // The customers to cluster again, closed over shared profiles and previous IDs.
    progress.stage("cluster", None);
    // Last night's IDs by record, and (beside them, one pass over the saved edges) last
    // night's pairs above the threshold that clustering refused: when one side is
    // clustered again (a record gone that stood in the way), so is the other.
    let ((old_id, by_id), strong) = rayon::join(
        || {
            let old_id: Vec<Option<&str>> = data
                .records
                .par_iter()
                .map(|r| previous.id_of(&data, r))
                .collect();
            let mut by_id: HashMap<&str, Vec<RecordOrd>> = HashMap::default();
            for (i, g) in old_id.iter().enumerate() {
                if let Some(g) = g {
                    by_id.entry(g).or_default().push(i as RecordOrd);
                }
            }
            (old_id, by_id)
        },
        || {
            Adjacency::of(
                n,
                saved
                    .edges()
                    .filter(|e| {
                        e.weight as f64 >= threshold_weight
                            && e.decision != Decision::Linked
                            && e.decision != Decision::AlreadyTogether
                    })
                    .map(|e| (e.a, e.b)),
            )
        },
    );
    let mut reach = Reach {
        in_s: vec![false; data.records.len()],
        profile_in: vec![false; n],
        id_in: HashSet::default(),
        stack: Vec::new(),
    };
    for k in &removed_keys {
        if let Some(g) = previous.mapping.get(&k.0, &k.1) {
            reach.add_id(g, &by_id);
        }
    }
    for (i, &d) in dirty.iter().enumerate() {
        if d || touched[data.records[i].profile as usize] {
            reach.add_record(i as RecordOrd);
        }
    }
    for &(a, b, _, joins) in &new_edges {
        if joins {
            reach.add_profile(a as usize, &offsets, &members);
            reach.add_profile(b as usize, &offsets, &members);
        }
    }
    // Profiles holding a value that strangers or a household came to share tonight (or
    // no longer do) compare otherwise with their neighbours: their customers too.
    let restanding = shared.changed_since(&saved.shared);
    stats.shared_values_changed = restanding.len() as u64;
    if !restanding.is_empty() {
        let holders: Vec<u32> = (0..n as u32)
            .into_par_iter()
            .filter(|&p| {
                live[p as usize]
                    && compare::keyed_values(&data.profiles[p as usize])
                        .iter()
                        .any(|k| restanding.contains(k))
            })
            .collect();
        for p in holders {
            reach.add_profile(p as usize, &offsets, &members);
        }
    }
    if let Some(s) = &steward {
        for &(a, b, _) in s.links.iter().chain(&s.unlinks) {
            reach.add_record(a);
            reach.add_record(b);
        }
    }
    reach.close(&data, &old_id, &by_id, &offsets, &members, &strong);

    // The affected part as a dataset of its own.
    let s_profiles: Vec<u32> = (0..n as u32)
        .filter(|&p| reach.profile_in[p as usize])
        .collect();
    let mut local = vec![u32::MAX; n];
    for (i, &p) in s_profiles.iter().enumerate() {
        local[p as usize] = i as u32;
    }
    let s_records: Vec<RecordOrd> = (0..data.records.len() as u32)
        .filter(|&r| reach.in_s[r as usize])
        .collect();
    let sub = Dataset {
        sources: data.sources.clone(),
        records: s_records
            .iter()
            .map(|&r| {
                let mut rec = data.records[r as usize].clone();
                rec.profile = local[rec.profile as usize];
                rec
            })
            .collect(),
        profiles: s_profiles
            .iter()
            .map(|&p| data.profiles[p as usize].clone())
            .collect(),
        ..Default::default()
    };
    stats.records_reclustered = s_records.len() as u64;
    stats.customers_reclustered = reach.id_in.len() as u64;
    stats.customers_carried = (by_id.len() - reach.id_in.len()) as u64;

    // Pairs between the affected profiles: last night's search pairs and tonight's new
    // ones, and (scored, not searched) the pairs of records that shared an ID.
    let inside = |a: u32, b: u32| local[a as usize] != u32::MAX && local[b as usize] != u32::MAX;
    let to_local = |a: u32, b: u32| {
        let (x, y) = (local[a as usize], local[b as usize]);
        (x.min(y), x.max(y))
    };
    let mut searched: Vec<(u32, u32)> = saved
        .edges()
        .filter(|e| !e.carried_only && inside(e.a, e.b))
        .map(|e| to_local(e.a, e.b))
        .chain(
            new_edges
                .iter()
                .filter(|&&(a, b, _, _)| inside(a, b))
                .map(|&(a, b, _, _)| to_local(a, b)),
        )
        .collect();
    searched.par_sort_unstable();
    searched.dedup();
    let carried = identity::previous_pairs(&sub, &previous);
    let mut pairs = searched.clone();
    pairs.extend(carried.iter().copied());
    pairs.par_sort_unstable();
    pairs.dedup();
    stats.pairs_rescored = pairs.len() as u64;
    let mut s_edges: Vec<Edge> = pairs
        .par_iter()
        .map(|&(a, b)| {
            let (weight, evidence) = score(&sub, a, b);
            Edge {
                a,
                b,
                weight,
                evidence,
                carried_only: searched.binary_search(&(a, b)).is_err(),
            }
        })
        .collect();
    let links_kept = identity::keep_previous_links(&mut s_edges, &carried, threshold_weight);
    let s_impersonal: Vec<bool> = s_profiles.iter().map(|&p| impersonal[p as usize]).collect();
    let s_self = crate::self_weights(&sub, &s_impersonal, &scorer, &shared);
    let cannot_link: Vec<cluster::CannotLink> = steward
        .as_ref()
        .map(|s| s.cannot_link(&data))
        .unwrap_or_default()
        .into_iter()
        .filter(|&(_, a, b)| inside(a, b))
        .map(|(i, a, b)| (i, local[a as usize], local[b as usize]))
        .collect();
    let mut s_clustering = cluster::cluster(
        &sub,
        &s_edges,
        &s_self,
        &s_impersonal,
        &shared,
        threshold_weight,
        cluster::Rules {
            penalties: crate::conflict_penalties(&model),
            cannot_link: &cannot_link,
        },
    );
    s_clustering.stats.links_kept_from_previous = links_kept;

    // Customers: the affected ones as clustered tonight, the others as they were.
    let mut customers: Vec<Vec<RecordOrd>> = identity::customers(&sub, &s_clustering)
        .into_iter()
        .map(|c| c.into_iter().map(|r| s_records[r as usize]).collect())
        .collect();
    customers.extend(
        by_id
            .iter()
            .filter(|(g, _)| !reach.id_in.contains(*g))
            .map(|(_, recs)| recs.clone()),
    );
    let store_carry = crate::store::Carried {
        dir: old.join(crate::store::DIR),
        ids: by_id
            .keys()
            .filter(|g| !reach.id_in.contains(*g))
            .map(|g| compact_str::CompactString::from(*g))
            .collect(),
    };
    for c in &mut customers {
        c.sort_unstable();
    }
    customers.par_sort_unstable_by_key(|c| c[0]);

    let mut constrained = s_clustering.constrained.clone();
    if let Some(s) = &steward {
        constrained.resize(s.unlinks.len(), false);
    }
    // Merging into the saved clustering (one thread, for the outputs and the next
    // state) and settling the golden IDs (from the customers) are independent.
    let (global, (customers, ids, override_stats)) = rayon::join(
        || {
            Merged::of(
                &saved,
                &s_profiles,
                &local,
                &live,
                &s_clustering,
                &s_edges,
                &s_self,
                &new_edges,
                n,
            )
        },
        || {
            crate::settle_ids(
                &data,
                customers,
                steward.as_ref(),
                &constrained,
                Some(&previous),
            )
        },
    );
    let mut clustering = global.clustering;
    clustering.constrained = constrained;
    progress.finish();
    t.lap("cluster");

    let (goldens, attention) = crate::goldens_and_attention(config, &data, &customers, &ids);
    t.lap("golden");

    Ok(Resolution {
        data,
        index,
        candidates,
        model,
        tf,
        edges: global.edges,
        self_weight: global.self_weight,
        impersonal,
        clustering,
        customers,
        ids,
        goldens,
        shared,
        threshold,
        threshold_configured: config.matching.threshold.is_some(),
        model_best: None,
        default_region: config.default_region.clone(),
        overrides: override_stats,
        attention,
        night: Some(night),
        incremental: Some({
            stats.advise();
            stats
        }),
        config_fingerprint: state::config_fingerprint(config),
        carry: Some(carry),
        store_carry: Some(store_carry),
        timings: t.0,
    })
}

/// The records to cluster again, closed: every record of a profile in the set, and every
/// record of a previous customer in the set, is in the set.
struct Reach<'a> {
    in_s: Vec<bool>,
    profile_in: Vec<bool>,
    id_in: HashSet<&'a str>,
    stack: Vec<RecordOrd>,
}

impl<'a> Reach<'a> {
    fn add_record(&mut self, r: RecordOrd) {
        if !self.in_s[r as usize] {
            self.in_s[r as usize] = true;
            self.stack.push(r);
        }
    }

    /// Every record of profile `p` (`offsets`, `members`: [`Dataset::profile_members`]).
    fn add_profile(&mut self, p: usize, offsets: &[u32], members: &[RecordOrd]) {
        for &m in &members[offsets[p] as usize..offsets[p + 1] as usize] {
            self.add_record(m);
        }
    }

    fn add_id(&mut self, g: &'a str, by_id: &HashMap<&'a str, Vec<RecordOrd>>) {
        if self.id_in.insert(g) {
            for &r in by_id.get(g).map(Vec::as_slice).unwrap_or(&[]) {
                self.add_record(r);
            }
        }
    }

    fn close(
        &mut self,
        data: &Dataset,
        old_id: &[Option<&'a str>],
        by_id: &HashMap<&'a str, Vec<RecordOrd>>,
        offsets: &[u32],
        members: &[RecordOrd],
        strong: &Adjacency,
    ) {
        while let Some(r) = self.stack.pop() {
            if let Some(g) = old_id[r as usize] {
                self.add_id(g, by_id);
            }
            let p = data.records[r as usize].profile as usize;
            if !self.profile_in[p] {
                self.profile_in[p] = true;
                let neighbours = strong.of_profile(p).iter().map(|&q| q as usize);
                for q in std::iter::once(p).chain(neighbours) {
                    self.add_profile(q, offsets, members);
                }
            }
        }
    }
}

/// Profiles' neighbours over a set of pairs (CSR).
struct Adjacency {
    offsets: Vec<u32>,
    next: Vec<u32>,
}

impl Adjacency {
    fn of(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> Adjacency {
        let mut offsets = vec![0u32; n + 1];
        for (a, b) in pairs.clone() {
            offsets[a as usize + 1] += 1;
            offsets[b as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill = offsets.clone();
        let mut next = vec![0u32; offsets[n] as usize];
        for (a, b) in pairs {
            for (x, y) in [(a, b), (b, a)] {
                next[fill[x as usize] as usize] = y;
                fill[x as usize] += 1;
            }
        }
        Adjacency { offsets, next }
    }

    fn of_profile(&self, p: usize) -> &[u32] {
        self.next
            .get(self.offsets[p] as usize..self.offsets[p + 1] as usize)
            .unwrap_or(&[])
    }
}

/// The whole night's clustering for the outputs and the next state: the saved one, with
/// the affected profiles' part replaced by tonight's.
struct Merged {
    clustering: Clustering,
    edges: Vec<Edge>,
    self_weight: Vec<f32>,
}

impl Merged {
    #[allow(clippy::too_many_arguments)]
    fn of(
        saved: &state::Saved,
        s_profiles: &[u32],
        local: &[u32],
        live: &[bool],
        s: &Clustering,
        s_edges: &[Edge],
        s_self: &[f32],
        new_edges: &[(u32, u32, f32, bool)],
        n: usize,
    ) -> Merged {
        let old = |p: usize| saved.profile_state.get(p);
        let mut c = Clustering {
            group: (0..n)
                .map(|p| old(p).map_or(p as u32, |s| s.group))
                .collect(),
            linked: (0..n).map(|p| old(p).is_some_and(|s| s.linked)).collect(),
            best_weight: (0..n)
                .map(|p| old(p).map_or(f32::NAN, |s| s.best_weight))
                .collect(),
            stats: s.stats.clone(),
            ..Default::default()
        };
        let mut self_weight: Vec<f32> = (0..n)
            .map(|p| old(p).map_or(f32::NAN, |s| s.self_weight))
            .collect();
        for (i, &p) in s_profiles.iter().enumerate() {
            let p = p as usize;
            c.group[p] = s_profiles[s.group[i] as usize];
            c.linked[p] = s.linked[i];
            c.best_weight[p] = s.best_weight[i];
            self_weight[p] = s_self[i];
        }
        let inside =
            |a: u32, b: u32| local[a as usize] != u32::MAX && local[b as usize] != u32::MAX;
        let alive = |a: u32, b: u32| live[a as usize] && live[b as usize];
        // Saved edges come sorted by pair; tonight's (new pairs outside the affected part,
        // and the affected part's) are sorted and merged in, straight into the two
        // vectors (millions of edges at 1M records: no copy of them is made).
        let mut tonight: Vec<(Edge, Decision)> = new_edges
            .iter()
            .filter(|&&(a, b, _, _)| !inside(a, b))
            .map(|&(a, b, weight, _)| {
                (
                    Edge {
                        a,
                        b,
                        weight,
                        evidence: Evidence::default(),
                        carried_only: false,
                    },
                    Decision::BelowThreshold,
                )
            })
            .chain(s_edges.iter().zip(&s.decisions).map(|(e, &d)| {
                let (a, b) = (s_profiles[e.a as usize], s_profiles[e.b as usize]);
                (
                    Edge {
                        a: a.min(b),
                        b: a.max(b),
                        ..*e
                    },
                    d,
                )
            }))
            .collect();
        tonight.par_sort_unstable_by_key(|(e, _)| (e.a, e.b));
        tonight.dedup_by_key(|(e, _)| (e.a, e.b));
        let capacity = saved.edge_count() + tonight.len();
        let mut edges: Vec<Edge> = Vec::with_capacity(capacity);
        let mut decisions: Vec<Decision> = Vec::with_capacity(capacity);
        let mut next = tonight.into_iter().peekable();
        for e in saved
            .edges()
            .filter(|e| !inside(e.a, e.b) && alive(e.a, e.b))
        {
            while let Some((t, d)) = next.next_if(|(t, _)| (t.a, t.b) < (e.a, e.b)) {
                edges.push(t);
                decisions.push(d);
            }
            if next.peek().is_some_and(|(t, _)| (t.a, t.b) == (e.a, e.b)) {
                continue;
            }
            edges.push(Edge {
                a: e.a,
                b: e.b,
                weight: e.weight,
                evidence: Evidence::default(),
                carried_only: e.carried_only,
            });
            decisions.push(e.decision);
        }
        for (t, d) in next {
            edges.push(t);
            decisions.push(d);
        }
        c.decisions = decisions;
        c.links = saved
            .links
            .iter()
            .filter(|l| local[l.a as usize] == u32::MAX && local[l.b as usize] == u32::MAX)
            .copied()
            .chain(s.links.iter().map(|l| cluster::Link {
                a: s_profiles[l.a as usize],
                b: s_profiles[l.b as usize],
                weight: l.weight,
            }))
            .collect();
        Merged {
            clustering: c,
            edges,
            self_weight,
        }
    }
}
