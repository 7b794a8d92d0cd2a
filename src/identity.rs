//! Identity across runs: the one owner of golden IDs. It turns the clustering into
//! customers, reads the previous run (its `mapping.csv` through
//! [`crate::mapping::read`] and its `state.json`), says which of tonight's
//! profiles shared an ID last night (carried pairs, scored again whatever the search
//! finds), keeps last night's links that no evidence is against, assigns IDs and
//! records the change log (`changes.csv`).
//!
//! **IDs are stable.** With the previous run's mapping, a customer keeps the golden ID
//! that most of its records had (ties to the smaller ID); an ID goes to one customer only;
//! new customers get new IDs from a counter that never goes back, so an ID is never
//! reused for someone else. Without a previous run, IDs are numbered in input order, so
//! the same input always gives the same IDs.
//!
//! Golden records (survivorship) are [`crate::golden`]'s.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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
    pub mapping: HashMap<(String, String), String>,
    /// The next ID number the previous run would have handed out.
    pub next_id: u64,
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
}

/// Largest golden ID number: far beyond any real count, and far from `u64::MAX`, so
/// that the counter can never wrap and hand out an ID twice.
pub const MAX_ID: u64 = 999_999_999_999;

impl IdState {
    pub fn new(next_golden_id: u64) -> IdState {
        IdState {
            tool: crate::outdir::TOOL.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            next_golden_id,
        }
    }

    /// Writes `state.json` into `dir`; [`load_previous`] reads it.
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

/// Reads `mapping.csv` and `state.json` of a previous run's output folder.
pub fn load_previous(dir: &Path) -> Result<Previous> {
    let path = dir.join("mapping.csv");
    let mut prev = Previous::default();
    for row in crate::mapping::read(&path)? {
        let id = row.golden_id;
        let n = parse_id(&id).map_or(0, |n| n.saturating_add(1));
        if n > MAX_ID {
            return Err(Error::input(
                &path,
                format!("golden ID `{id}` is beyond the largest ID ({}); the previous mapping is damaged", format_id(MAX_ID)),
            ));
        }
        prev.next_id = prev.next_id.max(n);
        prev.mapping.insert((row.source, row.record_id), id);
    }
    let state_path = dir.join("state.json");
    if let Ok(text) = std::fs::read_to_string(&state_path) {
        let state: IdState =
            serde_json::from_str(&text).map_err(|e| Error::input(&state_path, e.to_string()))?;
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
        let key = (
            data.sources[r.source as usize].clone(),
            r.record_id.to_string(),
        );
        if let Some(g) = prev.mapping.get(&key) {
            by_id.entry(g.as_str()).or_default().push(r.profile);
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

/// A change of golden IDs between runs, for `changes.csv`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IdChange {
    pub kind: &'static str,
    pub golden_id: String,
    pub previous_ids: Vec<String>,
    pub records: usize,
}

/// Golden IDs for customers, and the next free ID number.
pub struct IdAssignment {
    pub ids: Vec<String>,
    pub next_id: u64,
    pub changes: Vec<IdChange>,
    pub kept: usize,
}

/// Assigns golden IDs, carrying previous IDs over where given.
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
            changes: Vec::new(),
            kept: 0,
        };
    };
    // Votes: how many records of customer c had previous ID g.
    let mut votes: Vec<(usize, String, usize)> = Vec::new();
    let mut previous_of: Vec<Vec<String>> = vec![Vec::new(); customers.len()];
    let mut customers_of_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (c, recs) in customers.iter().enumerate() {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for &r in recs {
            let rec = &data.records[r as usize];
            let key = (
                data.sources[rec.source as usize].clone(),
                rec.record_id.to_string(),
            );
            if let Some(g) = prev.mapping.get(&key) {
                *count.entry(g.as_str()).or_default() += 1;
            }
        }
        for (g, n) in count {
            votes.push((n, g.to_string(), c));
            previous_of[c].push(g.to_string());
            customers_of_id.entry(g.to_string()).or_default().push(c);
        }
    }
    // Strongest claims first; ties to the smaller ID, then the earlier customer.
    votes.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let mut ids: Vec<Option<String>> = vec![None; customers.len()];
    let mut taken: HashMap<String, usize> = HashMap::new();
    for (_, g, c) in votes {
        if ids[c].is_none() && !taken.contains_key(&g) {
            taken.insert(g.clone(), c);
            ids[c] = Some(g);
        }
    }
    let kept = ids.iter().filter(|i| i.is_some()).count();
    let mut next = prev.next_id;
    let mut changes = Vec::new();
    let ids: Vec<String> = ids
        .into_iter()
        .enumerate()
        .map(|(c, id)| {
            let id = id.unwrap_or_else(|| {
                next += 1;
                format_id(next - 1)
            });
            let prevs = &previous_of[c];
            if prevs.is_empty() {
                changes.push(IdChange {
                    kind: "new",
                    golden_id: id.clone(),
                    previous_ids: vec![],
                    records: customers[c].len(),
                });
            } else if prevs.len() > 1 {
                changes.push(IdChange {
                    kind: "merged",
                    golden_id: id.clone(),
                    previous_ids: prevs.clone(),
                    records: customers[c].len(),
                });
            }
            id
        })
        .collect();
    for (g, cs) in &customers_of_id {
        if cs.len() > 1 {
            for &c in cs {
                changes.push(IdChange {
                    kind: "split",
                    golden_id: ids[c].clone(),
                    previous_ids: vec![g.clone()],
                    records: customers[c].len(),
                });
            }
        }
    }
    let mut used: Vec<&String> = prev.mapping.values().collect();
    used.sort();
    used.dedup();
    for g in used {
        if !taken.contains_key(g) && customers_of_id.get(g).is_none_or(|cs| cs.len() <= 1) {
            changes.push(IdChange {
                kind: "retired",
                golden_id: g.clone(),
                previous_ids: vec![g.clone()],
                records: 0,
            });
        }
    }
    changes.sort();
    IdAssignment {
        ids,
        next_id: next,
        changes,
        kept,
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

    #[test]
    fn ids_round_trip() {
        assert_eq!(format_id(42), "G0000042");
        assert_eq!(parse_id("G0000042"), Some(42));
        assert_eq!(parse_id("X1"), None);
    }
}
