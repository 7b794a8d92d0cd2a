//! Identity across runs: the one owner of golden IDs. It turns the clustering into
//! customers, reads the previous run (its `mapping.csv` through
//! [`crate::mapping::read`] and its `state.json`), says which of tonight's
//! profiles shared an ID last night (carried pairs, scored again whatever the search
//! finds), keeps last night's links that no evidence is against, assigns IDs and
//! records the change log (`changes.csv`).
//!
//! **IDs are stable, and their changes can be followed.** With the previous run's
//! mapping, each previous ID stays with the customer holding most of its records; a
//! customer holding several keeps the oldest and the others become its aliases (a
//! merge); the other parts of a split get new IDs, split from the old one; an ID none of
//! whose records remain is removed. New IDs come from a counter that never goes back, so
//! an ID is never reused for someone else. `state.json` carries the counter, the run
//! number and every alias so far; `changes.csv` lists the night's changes. Without a
//! previous run, IDs are numbered in input order, so the same input always gives the
//! same IDs.
//!
//! Golden records (survivorship) are [`crate::golden`]'s.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use compact_str::CompactString;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cluster::Clustering;
use crate::error::{Error, Result};
use crate::record::{Dataset, RecordOrd};

/// Records of each customer, in input order; customers ordered by their first record.
pub fn customers(data: &Dataset, clustering: &Clustering) -> Vec<Vec<RecordOrd>> {
    let mut by_group: HashMap<u32, usize> = HashMap::new();
    let mut out: Vec<Vec<RecordOrd>> = Vec::new();
    for (i, r) in data.records.iter().enumerate() {
        let p = r.profile as usize;
        if clustering.linked[p] {
            let slot = *by_group.entry(clustering.group[p]).or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
            out[slot].push(i as RecordOrd);
        } else {
            out.push(vec![i as RecordOrd]);
        }
    }
    out
}

/// What the previous run left for ID carry-over.
#[derive(Debug, Default)]
pub struct Previous {
    /// (source, record_id) → golden ID.
    pub mapping: PreviousIds,
    /// The next ID number the previous run would have handed out.
    pub next_id: u64,
    /// The previous run's number in its chain of runs (0 when it did not say).
    pub run: u64,
    /// IDs merged away so far: alias → the ID that holds its records.
    pub aliases: BTreeMap<String, String>,
    /// IDs removed so far (none of their records remained).
    pub removed: Vec<String>,
    /// The previous run's row fingerprints (`rows.bin`; none from an older run).
    pub rows: Option<crate::rows::Fingerprints>,
}

impl Previous {
    /// The golden ID record `r` of `data` had in the previous run.
    pub fn id_of(&self, data: &Dataset, r: &crate::record::Record) -> Option<&str> {
        self.mapping
            .get(&data.sources[r.source as usize], &r.record_id)
    }
}

/// The previous run's golden ID of each (source, record id): a table per source keyed by
/// record id, each distinct golden ID held once. Looked up without allocating.
#[derive(Debug, Default)]
pub struct PreviousIds {
    sources: FxHashMap<String, usize>,
    by_source: Vec<FxHashMap<CompactString, u32>>,
    ids: Vec<CompactString>,
    id_slot: FxHashMap<CompactString, u32>,
}

impl PreviousIds {
    pub fn insert(&mut self, source: &str, record_id: &str, golden_id: &str) {
        let s = match self.sources.get(source) {
            Some(&s) => s,
            None => {
                self.sources
                    .insert(source.to_string(), self.by_source.len());
                self.by_source.push(FxHashMap::default());
                self.by_source.len() - 1
            }
        };
        let g = match self.id_slot.get(golden_id) {
            Some(&g) => g,
            None => {
                let g = self.ids.len() as u32;
                self.ids.push(golden_id.into());
                self.id_slot.insert(golden_id.into(), g);
                g
            }
        };
        self.by_source[s].insert(record_id.into(), g);
    }

    pub fn get(&self, source: &str, record_id: &str) -> Option<&str> {
        let s = *self.sources.get(source)?;
        let g = *self.by_source[s].get(record_id)?;
        Some(&self.ids[g as usize])
    }

    /// Every golden ID of the previous run, once each, in first-seen order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(CompactString::as_str)
    }
}

/// `state.json`: the ID counter, so that IDs are never reused across runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdState {
    /// Always `idresolve`: the marker that makes a folder an idresolve output
    /// ([`crate::outdir`]). Absent in outputs of earlier versions.
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub version: String,
    pub next_golden_id: u64,
    /// This run's number in its chain of `--previous` runs (1 for a run without one).
    #[serde(default)]
    pub run: u64,
    /// Golden IDs merged into another: alias → the ID that now holds its records
    /// (chains resolved). Never handed out again.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Golden IDs none of whose records remain. Never handed out again.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// Largest golden ID number: far beyond any real count, and far from `u64::MAX`, so
/// that the counter can never wrap and hand out an ID twice.
pub const MAX_ID: u64 = 999_999_999_999;

impl IdState {
    /// The state a run leaves: its counter, number and lineage.
    pub fn of(ids: &IdAssignment) -> IdState {
        IdState {
            tool: crate::outdir::TOOL.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            next_golden_id: ids.next_id,
            run: ids.run,
            aliases: ids.aliases.clone(),
            removed: ids.removed.clone(),
        }
    }

    /// Reads `state.json` of an output folder (`None` when there is none).
    pub fn load(dir: &Path) -> Result<Option<IdState>> {
        let path = dir.join("state.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::input(&path, e.to_string()))
    }

    /// Writes `state.json` into `dir`; [`load_previous`] and [`IdState::load`] read it.
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::outdir::write_json(&dir.join("state.json"), self)
    }
}

/// Formats an ID number as a golden ID.
pub fn format_id(n: u64) -> String {
    format!("G{n:07}")
}

fn parse_id(id: &str) -> Option<u64> {
    id.strip_prefix('G')?.parse().ok()
}

/// Reads `mapping.csv`, `state.json` and `rows.bin` of a previous run's output folder.
pub fn load_previous(dir: &Path) -> Result<Previous> {
    load_previous_with(dir, true)
}

/// [`load_previous`]; `rows: false` leaves out `rows.bin` (an incremental run finds what
/// changed from its state).
pub fn load_previous_with(dir: &Path, rows: bool) -> Result<Previous> {
    let path = dir.join("mapping.csv");
    let mut prev = Previous::default();
    crate::mapping::read_each(&path, |source, record_id, id| {
        let n = parse_id(id).map_or(0, |n| n.saturating_add(1));
        if n > MAX_ID {
            return Err(Error::input(
                &path,
                format!("golden ID `{id}` is beyond the largest ID ({}); the previous mapping is damaged", format_id(MAX_ID)),
            ));
        }
        prev.next_id = prev.next_id.max(n);
        prev.mapping.insert(source, record_id, id);
        Ok(())
    })?;
    // The golden IDs' lookup table is needed only while reading.
    prev.mapping.id_slot = FxHashMap::default();
    let state_path = dir.join("state.json");
    if let Some(state) = IdState::load(dir)? {
        if state.next_golden_id > MAX_ID {
            return Err(Error::input(
                &state_path,
                format!(
                    "next_golden_id = {} is beyond the largest ID ({}); the file is damaged",
                    state.next_golden_id,
                    format_id(MAX_ID)
                ),
            ));
        }
        prev.next_id = prev.next_id.max(state.next_golden_id);
        prev.run = state.run;
        prev.aliases = state.aliases;
        prev.removed = state.removed;
        if rows {
            prev.rows = crate::rows::read(dir)?;
        }
    }
    prev.next_id = prev.next_id.max(1);
    Ok(prev)
}

/// Largest group of tonight's profiles that shared a previous golden ID whose pairs are
/// all compared again; larger groups (rare) are compared with their first profile only.
const MAX_CARRIED_GROUP: usize = 32;

/// Profile pairs `(a, b)`, `a < b`, sorted, whose records shared a golden ID in the
/// previous run.
pub fn previous_pairs(data: &Dataset, prev: &Previous) -> Vec<(u32, u32)> {
    let mut by_id: HashMap<&str, Vec<u32>> = HashMap::new();
    for r in &data.records {
        if let Some(g) = prev.id_of(data, r) {
            by_id.entry(g).or_default().push(r.profile);
        }
    }
    let mut pairs = Vec::new();
    for mut v in by_id.into_values() {
        v.sort_unstable();
        v.dedup();
        if v.len() <= MAX_CARRIED_GROUP {
            for (i, &a) in v.iter().enumerate() {
                pairs.extend(v[i + 1..].iter().map(|&b| (a, b)));
            }
        } else {
            pairs.extend(v[1..].iter().map(|&b| (v[0], b)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// A nightly job's links are kept: a scored pair of records that shared a golden ID last
/// night is raised to the threshold when tonight's evidence is short of it but not against
/// it (weight ≥ 0, i.e. at least even odds). The clustering guards still apply, so new
/// evidence of two people (a conflicting date of birth, a household) still splits them.
/// Returns how many links were kept this way. `carried` is sorted.
pub fn keep_previous_links(
    edges: &mut [crate::cluster::Edge],
    carried: &[(u32, u32)],
    threshold_weight: f64,
) -> u64 {
    // The threshold as an f32 no smaller than it (edge weights are f32).
    let mut raised = threshold_weight as f32;
    while (raised as f64) < threshold_weight {
        raised += raised.abs().max(f32::MIN_POSITIVE) * f32::EPSILON;
    }
    let mut kept = 0;
    for e in edges.iter_mut() {
        let w = e.weight as f64;
        if (0.0..threshold_weight).contains(&w) && carried.binary_search(&(e.a, e.b)).is_ok() {
            e.weight = raised;
            kept += 1;
        }
    }
    kept
}

/// What happened to a golden ID between two runs, for `changes.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A customer with no record of a previous one.
    New,
    /// Two or more previous customers are one tonight: the oldest ID lives on, the others
    /// (`old_id`) are its aliases.
    Merged,
    /// Part of a previous customer is a customer of its own tonight: a new ID, split from
    /// `old_id` (the part with most of the records keeps the old ID).
    Split,
    /// Records of `old_id` now belong to another previous customer, `new_id`.
    Moved,
    /// None of `old_id`'s records remain: the ID is never handed out again.
    Removed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Merged => "merged",
            ChangeKind::Split => "split",
            ChangeKind::Moved => "moved",
            ChangeKind::Removed => "removed",
        }
    }
}

/// A change of golden IDs between runs: one row of `changes.csv`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IdChange {
    pub kind: ChangeKind,
    /// The previous ID (empty for `new`).
    pub old_id: String,
    /// Tonight's ID (empty for `removed`).
    pub new_id: String,
    /// Records concerned: the customer's (`new`, `split`), the records that came from
    /// `old_id` (`merged`, `moved`), none (`removed`).
    pub records: usize,
    /// `override` when a steward's decision (`overrides.csv`) made the change.
    pub reason: &'static str,
}

/// Golden IDs for customers, the next free ID number and the lineage.
pub struct IdAssignment {
    pub ids: Vec<String>,
    pub next_id: u64,
    /// This run's number in its chain (1 without a previous run).
    pub run: u64,
    pub changes: Vec<IdChange>,
    /// Customers that kept a previous ID.
    pub kept: usize,
    /// Every ID merged away so far (previous runs' included): alias → holder.
    pub aliases: BTreeMap<String, String>,
    /// Every ID removed so far.
    pub removed: Vec<String>,
}

impl IdAssignment {
    /// Marks the changes of customers holding a record an override decided
    /// (`decided`, sorted) with `reason = override`.
    pub fn mark_override(&mut self, customers: &[Vec<RecordOrd>], decided: &[RecordOrd]) {
        let ids: std::collections::BTreeSet<&str> = customers
            .iter()
            .zip(&self.ids)
            .filter(|(recs, _)| recs.iter().any(|r| decided.binary_search(r).is_ok()))
            .map(|(_, id)| id.as_str())
            .collect();
        for c in &mut self.changes {
            if ids.contains(c.new_id.as_str()) {
                c.reason = "override";
            }
        }
    }
}

/// Age order of golden IDs: the lower number is the older ID (IDs of another form last,
/// by text).
fn age_key(id: &str) -> (u64, &str) {
    (parse_id(id).unwrap_or(u64::MAX), id)
}

/// Assigns golden IDs, carrying previous IDs over where given (see the module's doc).
pub fn assign_ids(
    data: &Dataset,
    customers: &[Vec<RecordOrd>],
    previous: Option<&Previous>,
) -> IdAssignment {
    let Some(prev) = previous else {
        let ids = (0..customers.len())
            .map(|i| format_id(i as u64 + 1))
            .collect();
        return IdAssignment {
            ids,
            next_id: customers.len() as u64 + 1,
            run: 1,
            changes: Vec::new(),
            kept: 0,
            aliases: BTreeMap::new(),
            removed: Vec::new(),
        };
    };
    // Overlap: how many records of customer c had previous ID g (looked up in parallel:
    // a million keys).
    let overlap: Vec<BTreeMap<&str, usize>> = {
        use rayon::prelude::*;
        customers
            .par_iter()
            .map(|recs| {
                let mut counts = BTreeMap::new();
                for &r in recs {
                    if let Some(g) = prev.id_of(data, &data.records[r as usize]) {
                        *counts.entry(g).or_default() += 1;
                    }
                }
                counts
            })
            .collect()
    };
    // Each previous ID stays with the customer holding most of its records (ties to the
    // earlier customer). A hash map: the order of its entries is never used.
    let mut home: rustc_hash::FxHashMap<&str, (usize, usize)> = Default::default();
    for (c, counts) in overlap.iter().enumerate() {
        for (&g, &n) in counts {
            let best = home.entry(g).or_insert((n, c));
            if n > best.0 {
                *best = (n, c);
            }
        }
    }
    let mut held: Vec<Vec<&str>> = vec![Vec::new(); customers.len()];
    for (&g, &(_, c)) in &home {
        held[c].push(g);
    }
    let mut next = prev.next_id;
    let mut changes = Vec::new();
    let mut aliases = prev.aliases.clone();
    let mut kept = 0;
    let mut ids = Vec::with_capacity(customers.len());
    for (c, recs) in customers.iter().enumerate() {
        let mine = &mut held[c];
        mine.sort_by_key(|g| age_key(g));
        let id = match mine.first() {
            Some(&oldest) => {
                kept += 1;
                // A merge: the oldest ID lives on, the others are its aliases.
                for &g in &mine[1..] {
                    aliases.insert(g.to_string(), oldest.to_string());
                    changes.push(IdChange {
                        kind: ChangeKind::Merged,
                        old_id: g.to_string(),
                        new_id: oldest.to_string(),
                        records: overlap[c][g],
                        reason: "",
                    });
                }
                oldest.to_string()
            }
            None => {
                next += 1;
                let id = format_id(next - 1);
                // Split from the previous ID most of its records had (ties to the older).
                let from = overlap[c]
                    .iter()
                    .max_by(|x, y| x.1.cmp(y.1).then_with(|| age_key(y.0).cmp(&age_key(x.0))));
                changes.push(IdChange {
                    kind: if from.is_some() {
                        ChangeKind::Split
                    } else {
                        ChangeKind::New
                    },
                    old_id: from.map(|(g, _)| g.to_string()).unwrap_or_default(),
                    new_id: id.clone(),
                    records: recs.len(),
                    reason: "",
                });
                id
            }
        };
        // Records that came from another previous customer that lives on elsewhere.
        if !mine.is_empty() {
            for (&g, &n) in &overlap[c] {
                if !mine.contains(&g) {
                    changes.push(IdChange {
                        kind: ChangeKind::Moved,
                        old_id: g.to_string(),
                        new_id: id.clone(),
                        records: n,
                        reason: "",
                    });
                }
            }
        }
        ids.push(id);
    }
    // Previous IDs none of whose records remain.
    let mut removed = prev.removed.clone();
    let mut used: Vec<&str> = prev.mapping.ids().collect();
    used.sort_unstable();
    for g in used {
        if !home.contains_key(g) {
            removed.push(g.to_string());
            changes.push(IdChange {
                kind: ChangeKind::Removed,
                old_id: g.to_string(),
                new_id: String::new(),
                records: 0,
                reason: "",
            });
        }
    }
    removed.sort_by(|a, b| age_key(a).cmp(&age_key(b)));
    removed.dedup();
    // Chains (A merged into B last week, B into C tonight) resolve to today's holder.
    let resolved: BTreeMap<String, String> = aliases
        .keys()
        .map(|a| {
            let mut to = &aliases[a];
            let mut hops = 0;
            while let Some(next) = aliases.get(to) {
                if hops > aliases.len() {
                    break;
                }
                to = next;
                hops += 1;
            }
            (a.clone(), to.clone())
        })
        .collect();
    changes.sort();
    IdAssignment {
        ids,
        next_id: next,
        run: prev.run + 1,
        changes,
        kept,
        aliases: resolved,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_nights_links_are_kept_unless_evidence_is_against_them() {
        let edge = |a, b, weight| crate::cluster::Edge {
            a,
            b,
            weight,
            evidence: Default::default(),
            carried_only: false,
        };
        let threshold = 5.01;
        let mut edges = vec![
            edge(0, 1, 2.0),  // together last night, weak tonight: kept
            edge(0, 2, -1.0), // together last night, evidence against: not kept
            edge(1, 2, 9.0),  // above the threshold anyway
            edge(3, 4, 2.0),  // not together last night
        ];
        let carried = vec![(0, 1), (0, 2), (1, 2)];
        assert_eq!(keep_previous_links(&mut edges, &carried, threshold), 1);
        assert!(edges[0].weight as f64 >= threshold);
        assert_eq!(
            [edges[1].weight, edges[2].weight, edges[3].weight],
            [-1.0, 9.0, 2.0]
        );
    }

    /// `n` records of one source (`r0`, `r1`, …), each its own profile.
    fn records(n: usize) -> Dataset {
        let mut d = Dataset {
            sources: vec!["s".into()],
            ..Default::default()
        };
        for i in 0..n {
            d.records.push(crate::record::Record::bare(
                0,
                i as u64 + 2,
                &format!("r{i}"),
                i as u32,
            ));
            d.profiles.push(Default::default());
        }
        d
    }

    /// Last night's mapping: record `i` had ID `ids[i]` (None: not there last night).
    fn last_night(ids: &[Option<u64>], next_id: u64) -> Previous {
        Previous {
            mapping: {
                let mut m = PreviousIds::default();
                for (i, g) in ids.iter().enumerate() {
                    if let Some(g) = g {
                        m.insert("s", &format!("r{i}"), &format_id(*g));
                    }
                }
                m
            },
            next_id,
            run: 3,
            ..Default::default()
        }
    }

    fn change(kind: ChangeKind, old: u64, new: u64, records: usize) -> IdChange {
        let id = |n: u64| if n == 0 { String::new() } else { format_id(n) };
        IdChange {
            kind,
            old_id: id(old),
            new_id: id(new),
            records,
            reason: "",
        }
    }

    #[test]
    fn a_merge_keeps_the_oldest_id_and_makes_the_others_aliases() {
        let d = records(5);
        let prev = last_night(&[Some(1), Some(1), Some(5), Some(5), Some(5)], 6);
        let a = assign_ids(&d, &[vec![0, 1, 2, 3, 4]], Some(&prev));
        // G1 lives on although G5 had more of the records: the oldest ID survives.
        assert_eq!(a.ids, [format_id(1)]);
        assert_eq!(a.changes, [change(ChangeKind::Merged, 5, 1, 3)]);
        assert_eq!(a.aliases[&format_id(5)], format_id(1));
        assert_eq!((a.run, a.next_id, a.kept), (4, 6, 1));
    }

    #[test]
    fn a_split_leaves_the_id_with_the_larger_part_and_gives_the_other_a_new_one() {
        let d = records(5);
        let prev = last_night(&[Some(2); 5], 7);
        let a = assign_ids(&d, &[vec![0, 1], vec![2, 3, 4]], Some(&prev));
        assert_eq!(a.ids, [format_id(7), format_id(2)]);
        assert_eq!(a.changes, [change(ChangeKind::Split, 2, 7, 2)]);
        assert!(a.aliases.is_empty());
        assert_eq!(a.next_id, 8);
    }

    #[test]
    fn new_moved_and_removed_ids_are_listed_and_never_reused() {
        let d = records(6);
        // r4 and r5 are new tonight; G3 held only records that are gone.
        let mut prev = last_night(&[Some(1), Some(1), Some(2), Some(2), None, None], 9);
        prev.mapping.insert("s", "gone", &format_id(3));
        prev.removed = vec![format_id(8)];
        let a = assign_ids(&d, &[vec![0], vec![1, 2, 3], vec![4, 5]], Some(&prev));
        // G1's records are split one and one: the tie goes to the earlier customer; r1
        // moved to G2's customer.
        assert_eq!(a.ids, [format_id(1), format_id(2), format_id(9)]);
        assert_eq!(
            a.changes,
            [
                change(ChangeKind::New, 0, 9, 2),
                change(ChangeKind::Moved, 1, 2, 1),
                change(ChangeKind::Removed, 3, 0, 0),
            ]
        );
        assert_eq!(a.removed, [format_id(3), format_id(8)]);
    }

    #[test]
    fn alias_chains_resolve_to_the_id_that_holds_the_records_now() {
        let d = records(2);
        let mut prev = last_night(&[Some(1), Some(5)], 6);
        prev.aliases.insert(format_id(3), format_id(5));
        let a = assign_ids(&d, &[vec![0, 1]], Some(&prev));
        assert_eq!(a.aliases[&format_id(3)], format_id(1));
        assert_eq!(a.aliases[&format_id(5)], format_id(1));
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(format_id(42), "G0000042");
        assert_eq!(parse_id("G0000042"), Some(42));
        assert_eq!(parse_id("X1"), None);
    }
}
