//! Steward decisions: `overrides.csv`, named by `[match] overrides`, with rows
//! `decision,source_a,record_id_a,source_b,record_id_b,note`. A `link` puts the two
//! records in one customer, an `unlink` keeps them in two; every run honours them.
//!
//! This module owns the file's format ([`read`]), which records its rows name tonight
//! ([`Overrides::resolve`]), and the record-level step after clustering ([`apply`]).
//! An `unlink` is first a cannot-link constraint inside clustering ([`crate::cluster`]
//! refuses any merge that would join its two records' profiles, so the component parts
//! where the evidence between its sides is weakest: links are taken strongest first);
//! [`apply`] then separates what clustering cannot (two records with identical values
//! share a profile) and joins the customers of every `link`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{Dataset, RecordOrd};

/// Header of `overrides.csv` (and of `review.csv`, whose rows can be copied into it).
pub const HEADER: [&str; 6] = [
    "decision",
    "source_a",
    "record_id_a",
    "source_b",
    "record_id_b",
    "note",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Link,
    Unlink,
}

/// One decided row of the file.
#[derive(Debug, Clone)]
pub struct Override {
    /// Line in the file (the header is line 1).
    pub line: u64,
    pub decision: Decision,
    pub a: (String, String),
    pub b: (String, String),
    pub note: String,
}

impl Override {
    pub fn decision_str(&self) -> &'static str {
        match self.decision {
            Decision::Link => "link",
            Decision::Unlink => "unlink",
        }
    }
}

/// The decided rows of an overrides file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub path: PathBuf,
    pub rows: Vec<Override>,
    /// Rows with an empty decision (copied from `review.csv`, not yet decided).
    pub undecided: u64,
}

/// Reads and checks an overrides file: every problem names the file and line; a pair
/// both linked and unlinked is an error naming both lines.
pub fn read(path: &Path, sources: &[String]) -> Result<Overrides> {
    let at = |line: u64, message: String| Error::InputAt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&bytes[..]);
    let header = reader
        .headers()
        .map_err(|e| at(1, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    if names.len() < 5 || names[..5] != HEADER[..5] {
        return Err(at(1, format!("the header must be `{}`", HEADER.join(","))));
    }
    let mut out = Overrides {
        path: path.to_path_buf(),
        ..Default::default()
    };
    // Each unordered pair of records: its decision and line.
    type Pair = ((String, String), (String, String));
    let mut seen: HashMap<Pair, (Decision, u64)> = HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            at(
                e.position().map_or(0, |p| p.line()),
                format!("cannot read the row: {e}"),
            )
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let field = |i: usize| row.get(i).unwrap_or("").trim().to_string();
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let decision = match field(0).to_ascii_lowercase().as_str() {
            "link" => Decision::Link,
            "unlink" => Decision::Unlink,
            "" => {
                out.undecided += 1;
                continue;
            }
            other => {
                return Err(at(
                    line,
                    format!("decision `{other}` must be `link`, `unlink` or empty"),
                ))
            }
        };
        let (a, b) = ((field(1), field(2)), (field(3), field(4)));
        for (s, id) in [&a, &b] {
            if !sources.iter().any(|n| n == s) {
                return Err(at(
                    line,
                    format!(
                        "source `{s}` is not in the config (sources: {})",
                        sources.join(", ")
                    ),
                ));
            }
            if id.is_empty() {
                return Err(at(line, "a record id is empty".into()));
            }
        }
        if a == b {
            return Err(at(line, "both sides name the same record".into()));
        }
        let key = if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        if let Some(&(earlier, first_line)) = seen.get(&key) {
            if earlier != decision {
                return Err(at(
                    line,
                    format!("contradicts line {first_line}: the same two records are both linked and unlinked"),
                ));
            }
            continue;
        }
        seen.insert(key, (decision, line));
        out.rows.push(Override {
            line,
            decision,
            a,
            b,
            note: field(5),
        });
    }
    Ok(out)
}

/// The rows of an overrides file that name records of tonight's data.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// (record a, record b, line): in file order.
    pub links: Vec<(RecordOrd, RecordOrd, u64)>,
    pub unlinks: Vec<(RecordOrd, RecordOrd, u64)>,
    /// Lines naming a record that is not in tonight's data.
    pub stale: Vec<u64>,
    pub undecided: u64,
}

impl Resolved {
    /// Cannot-link constraints for clustering: the profiles of each unlink whose two
    /// records have different values (index into `unlinks`, profile a, profile b).
    pub fn cannot_link(&self, data: &Dataset) -> Vec<crate::cluster::CannotLink> {
        self.unlinks
            .iter()
            .enumerate()
            .map(|(i, &(a, b, _))| {
                (
                    i,
                    data.records[a as usize].profile,
                    data.records[b as usize].profile,
                )
            })
            .filter(|&(_, pa, pb)| pa != pb)
            .collect()
    }
}

impl Overrides {
    /// Finds the records the rows name.
    pub fn resolve(&self, data: &Dataset) -> Resolved {
        let mut wanted: HashMap<(&str, &str), Option<RecordOrd>> = HashMap::new();
        for o in &self.rows {
            for (s, id) in [&o.a, &o.b] {
                wanted.insert((s.as_str(), id.as_str()), None);
            }
        }
        for (i, r) in data.records.iter().enumerate() {
            let key = (
                data.sources[r.source as usize].as_str(),
                r.record_id.as_str(),
            );
            if let Some(slot) = wanted.get_mut(&key) {
                *slot = Some(i as RecordOrd);
            }
        }
        let mut out = Resolved {
            undecided: self.undecided,
            ..Default::default()
        };
        for o in &self.rows {
            let find = |(s, id): &(String, String)| wanted[&(s.as_str(), id.as_str())];
            match (find(&o.a), find(&o.b)) {
                (Some(a), Some(b)) => match o.decision {
                    Decision::Link => out.links.push((a, b, o.line)),
                    Decision::Unlink => out.unlinks.push((a, b, o.line)),
                },
                _ => out.stale.push(o.line),
            }
        }
        out
    }
}

/// What the overrides did in a run, for `run.json` and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideStats {
    /// Overrides that changed the result: a link that joined two customers, an unlink
    /// that refused a merge or separated two records.
    pub applied: u64,
    /// Overrides the run had already honoured on its own.
    pub already_satisfied: u64,
    /// Links refused because other links would put an unlinked pair together (lines).
    pub refused_lines: Vec<u64>,
    /// Rows naming a record not in tonight's data (lines).
    pub stale_lines: Vec<u64>,
    /// Rows with no decision yet.
    pub undecided: u64,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

/// Applies the overrides to tonight's customers (records of each, ordered by their
/// first record): separates each unlinked pair still together (the second record
/// leaves; clustering already kept apart every pair whose records differ), then joins
/// the customers of each link unless that would put an unlinked pair together.
/// `constrained[i]`: clustering refused a merge because of unlink `i`. Returns the
/// customers, ordered by their first record again, the statistics, and the records
/// whose customer an override decided.
pub fn apply(
    customers: Vec<Vec<RecordOrd>>,
    records: usize,
    resolved: &Resolved,
    constrained: &[bool],
) -> (Vec<Vec<RecordOrd>>, OverrideStats, Vec<RecordOrd>) {
    let mut stats = OverrideStats {
        stale_lines: resolved.stale.clone(),
        undecided: resolved.undecided,
        ..Default::default()
    };
    let mut customers = customers;
    let mut customer_of = vec![0u32; records];
    for (c, recs) in customers.iter().enumerate() {
        for &r in recs {
            customer_of[r as usize] = c as u32;
        }
    }
    let mut decided: Vec<RecordOrd> = Vec::new();
    for (i, &(a, b, _)) in resolved.unlinks.iter().enumerate() {
        let c = customer_of[a as usize];
        if customer_of[b as usize] == c {
            customers[c as usize].retain(|&r| r != b);
            customer_of[b as usize] = customers.len() as u32;
            customers.push(vec![b]);
            stats.applied += 1;
            decided.extend([a, b]);
        } else if constrained.get(i).copied().unwrap_or(false) {
            stats.applied += 1;
            decided.extend([a, b]);
        } else {
            stats.already_satisfied += 1;
        }
    }
    let mut parent: Vec<u32> = (0..customers.len() as u32).collect();
    for &(a, b, line) in &resolved.links {
        let (ca, cb) = (
            find(&mut parent, customer_of[a as usize]),
            find(&mut parent, customer_of[b as usize]),
        );
        if ca == cb {
            stats.already_satisfied += 1;
            continue;
        }
        let forbidden = resolved.unlinks.iter().any(|&(x, y, _)| {
            let (cx, cy) = (
                find(&mut parent, customer_of[x as usize]),
                find(&mut parent, customer_of[y as usize]),
            );
            (cx == ca && cy == cb) || (cx == cb && cy == ca)
        });
        if forbidden {
            stats.refused_lines.push(line);
            continue;
        }
        parent[ca.max(cb) as usize] = ca.min(cb);
        stats.applied += 1;
        decided.extend([a, b]);
    }
    let mut merged: Vec<Vec<RecordOrd>> = vec![Vec::new(); customers.len()];
    for (c, recs) in customers.into_iter().enumerate() {
        let root = find(&mut parent, c as u32) as usize;
        merged[root].extend(recs);
    }
    let mut out: Vec<Vec<RecordOrd>> = merged.into_iter().filter(|c| !c.is_empty()).collect();
    for c in out.iter_mut() {
        c.sort_unstable();
    }
    out.sort_unstable_by_key(|c| c[0]);
    decided.sort_unstable();
    decided.dedup();
    (out, stats, decided)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Overrides> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.csv");
        std::fs::write(&path, text).unwrap();
        read(&path, &["shop".into(), "billing".into()])
    }

    const HEAD: &str = "decision,source_a,record_id_a,source_b,record_id_b,note\n";

    #[test]
    fn rows_are_read_and_undecided_ones_counted() {
        let o = read_text(&format!(
            "{HEAD}link,shop,O-1,billing,A-1,same person\nUNLINK,shop,O-2,billing,A-2,\n,shop,O-3,billing,A-3,from review.csv\n"
        ))
        .unwrap();
        assert_eq!(o.rows.len(), 2);
        assert_eq!(o.rows[1].decision, Decision::Unlink);
        assert_eq!(o.rows[1].line, 3);
        assert_eq!(o.undecided, 1);
    }

    #[test]
    fn problems_name_the_line() {
        let err = |text: &str| read_text(&format!("{HEAD}{text}")).unwrap_err().to_string();
        let e = err("link,shop,O-1,billing,A-1,\nunlink,billing,A-1,shop,O-1,\n");
        assert!(e.contains(":3: contradicts line 2"), "{e}");
        let e = err("merge,shop,O-1,billing,A-1,\n");
        assert!(e.contains(":2: decision `merge`"), "{e}");
        let e = err("link,crm,C-1,billing,A-1,\n");
        assert!(e.contains(":2: source `crm` is not in the config"), "{e}");
        let e = read_text("a,b\n").unwrap_err().to_string();
        assert!(e.contains(":1: the header must be"), "{e}");
    }

    #[test]
    fn a_link_that_would_join_an_unlinked_pair_is_refused() {
        // Customers {0,1}, {2}, {3}; unlink 1-2; link 0-2 would join them: refused.
        // Link 0-3 joins.
        let resolved = Resolved {
            links: vec![(0, 2, 3), (0, 3, 4)],
            unlinks: vec![(1, 2, 2)],
            ..Default::default()
        };
        let (customers, stats, decided) =
            apply(vec![vec![0, 1], vec![2], vec![3]], 4, &resolved, &[false]);
        assert_eq!(customers, [vec![0, 1, 3], vec![2]]);
        assert_eq!(stats.refused_lines, [3]);
        assert_eq!((stats.applied, stats.already_satisfied), (1, 1));
        assert_eq!(decided, [0, 3]);
    }

    #[test]
    fn an_unlink_of_two_records_with_one_profile_moves_the_second_out() {
        let resolved = Resolved {
            unlinks: vec![(0, 2, 2)],
            ..Default::default()
        };
        let (customers, stats, _) = apply(vec![vec![0, 1, 2]], 3, &resolved, &[]);
        assert_eq!(customers, [vec![0, 1], vec![2]]);
        assert_eq!(stats.applied, 1);
    }
}
