//! Quality against ground truth: pairwise precision/recall/F1, B-cubed, exactly
//! reproduced entities, cluster counts, and (given candidate pairs) pair completeness.
//!
//! Pairs are counted through cluster intersection sizes — Σ C(|A∩B|, 2) over predicted
//! cluster A and true entity B — so a million records take seconds and no pair list is
//! ever built. Records of the truth that the mapping lacks count as singletons and are
//! reported; mapping rows that the truth lacks are ignored and reported.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// The figures `evaluate` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub records: u64,
    pub true_entities: u64,
    pub predicted_clusters: u64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
    pub pairwise_precision: f64,
    pub pairwise_recall: f64,
    pub pairwise_f1: f64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f1: f64,
    /// Share of true entities whose records form exactly one predicted cluster.
    pub exact_entities: f64,
    pub missing_from_mapping: u64,
    pub not_in_truth: u64,
    /// Share of true pairs among the candidate pairs (with `--pairs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_completeness: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_pairs: Option<u64>,
    /// Missed true pairs by cause (with `--pairs`): never a candidate, or what clustering
    /// did with the scored pair (`pairs.csv`'s decision), most common first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed_by_cause: Vec<Cause>,
    /// False pairs by how they came together (with `--pairs`): linked directly, or only
    /// by chaining, with what the direct pair got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub false_by_cause: Vec<Cause>,
    /// The predicted clusters that hold the most false pairs (records of different true
    /// entities), worst first: where precision is lost, by mechanism.
    pub worst_clusters: Vec<WrongCluster>,
}

/// A predicted cluster that joins records of several true entities.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WrongCluster {
    pub golden_id: String,
    pub records: u64,
    pub true_entities: u64,
    pub false_pairs: u64,
    /// Share of all false pairs.
    pub share: f64,
}

/// A cause and how many pairs it accounts for.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    pub cause: String,
    pub pairs: u64,
    /// Share of the missed (or false) pairs.
    pub share: f64,
}

/// Counts causes into a list, most common first (ties by name).
fn causes(counts: HashMap<String, u64>) -> Vec<Cause> {
    let total: u64 = counts.values().sum();
    let mut v: Vec<Cause> = counts
        .into_iter()
        .map(|(cause, pairs)| Cause {
            cause,
            pairs,
            share: ratio(pairs, total),
        })
        .collect();
    v.sort_by(|a, b| b.pairs.cmp(&a.pairs).then(a.cause.cmp(&b.cause)));
    v
}

/// Pairs of records that share a label, visited per label group.
fn pairs_within(labels: &[u32], mut visit: impl FnMut(u32, u32)) {
    let mut by: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by.entry(l).or_default().push(i as u32);
    }
    for members in by.values() {
        for (k, &a) in members.iter().enumerate() {
            for &b in &members[k + 1..] {
                visit(a, b);
            }
        }
    }
}

/// Missed and false pairs by cause, from the decision of each scored record pair.
fn by_cause(
    truth: &[u32],
    predicted: &[u32],
    decided: &HashMap<(u32, u32), String>,
) -> (Vec<Cause>, Vec<Cause>) {
    let direct = |a: u32, b: u32| decided.get(&(a.min(b), a.max(b))).map(String::as_str);
    let mut missed: HashMap<String, u64> = HashMap::new();
    pairs_within(truth, |a, b| {
        if predicted[a as usize] != predicted[b as usize] {
            let cause = direct(a, b).unwrap_or("never a candidate");
            *missed.entry(cause.to_string()).or_default() += 1;
        }
    });
    let mut false_pairs: HashMap<String, u64> = HashMap::new();
    pairs_within(predicted, |a, b| {
        if truth[a as usize] != truth[b as usize] {
            let cause = match direct(a, b) {
                Some(d @ ("linked" | "already together" | "same profile")) => {
                    format!("direct: {d}")
                }
                Some(d) => format!("chained only (direct pair {d})"),
                None => "chained only (never a candidate)".to_string(),
            };
            *false_pairs.entry(cause).or_default() += 1;
        }
    });
    (causes(missed), causes(false_pairs))
}

/// How many wrongly merged clusters `evaluate` lists.
const WORST_CLUSTERS: usize = 10;

/// The clusters with most false pairs; `names[p]` is predicted cluster p's golden ID.
fn worst_clusters(truth: &[u32], predicted: &[u32], names: &[String]) -> Vec<WrongCluster> {
    let mut by_cluster: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
    for (&t, &p) in truth.iter().zip(predicted) {
        *by_cluster.entry(p).or_default().entry(t).or_default() += 1;
    }
    let mut out: Vec<WrongCluster> = by_cluster
        .into_iter()
        .filter(|(_, ents)| ents.len() > 1)
        .map(|(p, ents)| {
            let n: u64 = ents.values().sum();
            let same: u64 = ents.values().map(|&c| pairs(c)).sum();
            WrongCluster {
                golden_id: names.get(p as usize).cloned().unwrap_or_default(),
                records: n,
                true_entities: ents.len() as u64,
                false_pairs: pairs(n) - same,
                share: 0.0,
            }
        })
        .collect();
    let total: u64 = out.iter().map(|w| w.false_pairs).sum();
    out.sort_by(|a, b| {
        b.false_pairs
            .cmp(&a.false_pairs)
            .then(a.golden_id.cmp(&b.golden_id))
    });
    out.truncate(WORST_CLUSTERS);
    for w in &mut out {
        w.share = ratio(w.false_pairs, total);
    }
    out
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Scores a predicted clustering against the truth. `truth[i]` and `predicted[i]` are the
/// entity and cluster labels of record `i`.
pub fn score(truth: &[u32], predicted: &[u32]) -> Evaluation {
    assert_eq!(truth.len(), predicted.len());
    let mut true_size: HashMap<u32, u64> = HashMap::new();
    let mut pred_size: HashMap<u32, u64> = HashMap::new();
    let mut joint: HashMap<(u32, u32), u64> = HashMap::new();
    for (&t, &p) in truth.iter().zip(predicted) {
        *true_size.entry(t).or_default() += 1;
        *pred_size.entry(p).or_default() += 1;
        *joint.entry((p, t)).or_default() += 1;
    }
    let true_pairs: u64 = true_size.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: u64 = pred_size.values().map(|&n| pairs(n)).sum();
    let correct_pairs: u64 = joint.values().map(|&n| pairs(n)).sum();
    let n = truth.len() as f64;
    // B-cubed: each record in cell (p,t) has precision |p∩t|/|p| and recall |p∩t|/|t|.
    let (mut bp, mut br) = (0.0, 0.0);
    let mut exact = 0u64;
    for (&(p, t), &k) in &joint {
        let k = k as f64;
        bp += k * k / pred_size[&p] as f64;
        br += k * k / true_size[&t] as f64;
        if k as u64 == pred_size[&p] && k as u64 == true_size[&t] {
            exact += 1;
        }
    }
    let (bp, br) = if n > 0.0 {
        (bp / n, br / n)
    } else {
        (1.0, 1.0)
    };
    let pp = ratio(correct_pairs, predicted_pairs);
    let pr = ratio(correct_pairs, true_pairs);
    Evaluation {
        records: truth.len() as u64,
        true_entities: true_size.len() as u64,
        predicted_clusters: pred_size.len() as u64,
        true_pairs,
        predicted_pairs,
        correct_pairs,
        pairwise_precision: pp,
        pairwise_recall: pr,
        pairwise_f1: f1(pp, pr),
        bcubed_precision: bp,
        bcubed_recall: br,
        bcubed_f1: f1(bp, br),
        exact_entities: ratio(exact, true_size.len() as u64),
        missing_from_mapping: 0,
        not_in_truth: 0,
        worst_clusters: Vec::new(),
        pair_completeness: None,
        candidate_pairs: None,
        missed_by_cause: Vec::new(),
        false_by_cause: Vec::new(),
    }
}

/// Reads a CSV with a header and returns, per row, the values of the named columns.
fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    if crate::tabular::Format::of_path(path) != crate::tabular::Format::Csv {
        // A mapping or pairs table written as Parquet or JSON Lines.
        let (header, rows) = crate::tables::read(path)?;
        let idx: Vec<Option<usize>> = columns
            .iter()
            .map(|c| {
                let (name, optional) = c.strip_suffix('?').map_or((*c, false), |n| (n, true));
                match header.iter().position(|h| h == name) {
                    Some(i) => Ok(Some(i)),
                    None if optional => Ok(None),
                    None => Err(Error::input(
                        path,
                        format!("column `{name}` not found (columns: {})", header.join(", ")),
                    )),
                }
            })
            .collect::<Result<_>>()?;
        return Ok(rows
            .into_iter()
            .map(|row| {
                idx.iter()
                    .map(|i| i.and_then(|i| row.get(i).cloned()).unwrap_or_default())
                    .collect()
            })
            .collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::input(path, e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| Error::input(path, e.to_string()))?
        .clone();
    // A name ending in `?` is optional: missing, it reads as empty.
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            if let Some(c) = c.strip_suffix('?') {
                return Ok(header
                    .iter()
                    .position(|h| h.trim() == c)
                    .unwrap_or(usize::MAX));
            }
            header.iter().position(|h| h.trim() == *c).ok_or_else(|| {
                Error::input(
                    path,
                    format!(
                        "column `{c}` not found (columns: {})",
                        header.iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::InputAt {
            path: path.to_path_buf(),
            line: e.position().map(|p| p.line()).unwrap_or(i as u64 + 2),
            message: e.to_string(),
        })?;
        let row: Option<Vec<String>> = idx
            .iter()
            .map(|&i| {
                if i == usize::MAX {
                    Some(String::new())
                } else {
                    rec.get(i).map(str::to_string)
                }
            })
            .collect();
        match row {
            Some(r) => rows.push(r),
            None => {
                return Err(Error::InputAt {
                    path: path.to_path_buf(),
                    line: rec.position().map(|p| p.line()).unwrap_or(0),
                    message: "row has fewer fields than the header".into(),
                })
            }
        }
    }
    Ok(rows)
}

/// Evaluates `mapping.csv` against `truth.csv`, and candidate pairs when given.
pub fn evaluate(mapping: &Path, truth: &Path, pairs_csv: Option<&Path>) -> Result<Evaluation> {
    let truth_rows = read_columns(truth, &["source", "record_id", "entity_id"])?;
    let mut record_index: HashMap<(String, String), u32> = HashMap::with_capacity(truth_rows.len());
    let mut entity_ids: HashMap<String, u32> = HashMap::new();
    let mut truth_labels = Vec::with_capacity(truth_rows.len());
    for mut row in truth_rows {
        let next = entity_ids.len() as u32;
        let e = *entity_ids
            .entry(std::mem::take(&mut row[2]))
            .or_insert(next);
        let key = (std::mem::take(&mut row[0]), std::mem::take(&mut row[1]));
        if record_index
            .insert(key.clone(), truth_labels.len() as u32)
            .is_some()
        {
            return Err(Error::input(
                truth,
                format!("record {}:{} is listed twice", key.0, key.1),
            ));
        }
        truth_labels.push(e);
    }
    if truth_labels.is_empty() {
        return Err(Error::input(
            truth,
            "the truth file has no rows: nothing to evaluate against",
        ));
    }
    let mut predicted: Vec<Option<u32>> = vec![None; truth_labels.len()];
    let mut golden_ids: HashMap<String, u32> = HashMap::new();
    let mut not_in_truth = 0;
    for mut row in read_columns(mapping, &["source", "record_id", "golden_id"])? {
        let next = golden_ids.len() as u32;
        let g = *golden_ids
            .entry(std::mem::take(&mut row[2]))
            .or_insert(next);
        match record_index.get(&(std::mem::take(&mut row[0]), std::mem::take(&mut row[1]))) {
            Some(&i) => predicted[i as usize] = Some(g),
            None => not_in_truth += 1,
        }
    }
    let mut missing = 0u64;
    let mut next_singleton = golden_ids.len() as u32;
    let predicted: Vec<u32> = predicted
        .into_iter()
        .map(|p| {
            p.unwrap_or_else(|| {
                missing += 1;
                next_singleton += 1;
                next_singleton
            })
        })
        .collect();
    if missing == truth_labels.len() as u64 {
        return Err(Error::input(
            mapping,
            format!(
                "no record of {} is in this mapping (no source and record_id in common): are they from the same data?",
                truth.display()
            ),
        ));
    }
    let mut eval = score(&truth_labels, &predicted);
    let mut names = vec![String::new(); golden_ids.len()];
    for (id, &g) in &golden_ids {
        names[g as usize] = id.clone();
    }
    eval.worst_clusters = worst_clusters(&truth_labels, &predicted, &names);
    eval.missing_from_mapping = missing;
    eval.not_in_truth = not_in_truth;
    if let Some(pairs_csv) = pairs_csv {
        let rows = read_columns(
            pairs_csv,
            &[
                "source_a",
                "record_id_a",
                "source_b",
                "record_id_b",
                "decision?",
            ],
        )?;
        let candidate_rows = rows.len() as u64;
        let mut decided: HashMap<(u32, u32), String> = HashMap::with_capacity(rows.len());
        let mut has_decisions = false;
        for mut r in rows {
            let a = record_index.get(&(std::mem::take(&mut r[0]), std::mem::take(&mut r[1])));
            let b = record_index.get(&(std::mem::take(&mut r[2]), std::mem::take(&mut r[3])));
            if let (Some(&a), Some(&b)) = (a, b) {
                has_decisions |= !r[4].is_empty();
                let d = if r[4].is_empty() {
                    "scored".to_string()
                } else {
                    std::mem::take(&mut r[4])
                };
                decided.insert((a.min(b), a.max(b)), d);
            }
        }
        let found = decided
            .keys()
            .filter(|&&(a, b)| a != b && truth_labels[a as usize] == truth_labels[b as usize])
            .count();
        eval.candidate_pairs = Some(candidate_rows);
        eval.pair_completeness = Some(ratio(found as u64, eval.true_pairs));
        if has_decisions {
            (eval.missed_by_cause, eval.false_by_cause) =
                by_cause(&truth_labels, &predicted, &decided);
        }
    }
    Ok(eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_and_false_pairs_are_told_apart_by_cause() {
        // Entity 0 = records 0, 1, 2; entity 1 = record 3. Predicted: {0, 1, 3}, {2}.
        let truth = [0, 0, 0, 1];
        let pred = [0, 0, 1, 0];
        let decided: HashMap<(u32, u32), String> = [
            ((0, 1), "linked"),
            ((0, 2), "refused: different first names"),
            ((1, 3), "linked"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        let (missed, false_pairs) = by_cause(&truth, &pred, &decided);
        let counts = |v: &[Cause]| -> Vec<(String, u64)> {
            v.iter().map(|c| (c.cause.clone(), c.pairs)).collect()
        };
        // Missed: (0,2) refused, (1,2) never a candidate.
        assert_eq!(
            counts(&missed),
            vec![
                ("never a candidate".to_string(), 1),
                ("refused: different first names".to_string(), 1)
            ]
        );
        // False: (1,3) direct, (0,3) chained.
        assert_eq!(
            counts(&false_pairs),
            vec![
                ("chained only (never a candidate)".to_string(), 1),
                ("direct: linked".to_string(), 1)
            ]
        );
    }

    #[test]
    fn the_worst_clusters_are_listed_by_false_pairs() {
        // Cluster 0 joins entities 0 and 1 (3 + 2 records: 6 false pairs), cluster 1
        // joins 2 and 3 (1 + 1: 1 false pair), cluster 2 is right.
        let truth = [0, 0, 0, 1, 1, 2, 3, 4, 4];
        let pred = [0, 0, 0, 0, 0, 1, 1, 2, 2];
        let names: Vec<String> = ["G1", "G2", "G3"].map(String::from).to_vec();
        let w = worst_clusters(&truth, &pred, &names);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (
                w[0].golden_id.as_str(),
                w[0].false_pairs,
                w[0].true_entities
            ),
            ("G1", 6, 2)
        );
        assert_eq!((w[1].golden_id.as_str(), w[1].false_pairs), ("G2", 1));
        assert!((w[0].share - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_figures() {
        // Truth: {0,1,2} {3,4} {5}. Predicted: {0,1} {2,3,4} {5}.
        let truth = [0, 0, 0, 1, 1, 2];
        let pred = [7, 7, 8, 8, 8, 9];
        let e = score(&truth, &pred);
        assert_eq!(
            (e.true_pairs, e.predicted_pairs, e.correct_pairs),
            (4, 4, 2)
        );
        assert_eq!((e.pairwise_precision, e.pairwise_recall), (0.5, 0.5));
        // B-cubed precision: records 0,1: 2/2; record 2: 1/3; records 3,4: 2/3; record 5: 1.
        let bp = (1.0 + 1.0 + 1.0 / 3.0 + 2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 6.0;
        assert!((e.bcubed_precision - bp).abs() < 1e-12);
        // B-cubed recall: records 0,1: 2/3; 2: 1/3; 3,4: 2/2; 5: 1.
        let br = (2.0 / 3.0 + 2.0 / 3.0 + 1.0 / 3.0 + 1.0 + 1.0 + 1.0) / 6.0;
        assert!((e.bcubed_recall - br).abs() < 1e-12);
        assert_eq!(e.exact_entities, 1.0 / 3.0);
        assert_eq!((e.true_entities, e.predicted_clusters), (3, 3));
    }

    /// Pair counting through intersections agrees with enumerating every pair.
    #[test]
    fn agrees_with_brute_force_pair_enumeration() {
        let mut x: u64 = 88172645463325252;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m) as u32
        };
        for _ in 0..20 {
            let n = 60;
            let truth: Vec<u32> = (0..n).map(|_| next(15)).collect();
            let pred: Vec<u32> = (0..n).map(|_| next(20)).collect();
            let (mut t, mut p, mut both) = (0u64, 0u64, 0u64);
            for i in 0..n {
                for j in i + 1..n {
                    let same_t = truth[i] == truth[j];
                    let same_p = pred[i] == pred[j];
                    t += same_t as u64;
                    p += same_p as u64;
                    both += (same_t && same_p) as u64;
                }
            }
            let e = score(&truth, &pred);
            assert_eq!(
                (e.true_pairs, e.predicted_pairs, e.correct_pairs),
                (t, p, both)
            );
        }
    }

    #[test]
    fn perfect_and_all_singletons() {
        let truth = [0, 0, 1, 1, 1];
        let e = score(&truth, &[5, 5, 6, 6, 6]);
        assert_eq!(e.pairwise_f1, 1.0);
        assert_eq!(e.exact_entities, 1.0);
        let e = score(&truth, &[0, 1, 2, 3, 4]);
        assert_eq!(e.pairwise_recall, 0.0);
        assert_eq!(e.pairwise_precision, 1.0, "no predicted pair is wrong");
    }
}
