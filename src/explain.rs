//! `explain`: why two records of a finished run share a golden ID or not. Re-reads the
//! run's config and data (ingest is deterministic, so profiles are the same), loads
//! `model.json`, compares the two records field by field, and follows `links.csv` to
//! show the chain of links that joined them.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare;
use crate::error::{Error, Result};
use crate::model::{self, Contribution, Model, Scorer, TermFrequencies};
use crate::record::{Dataset, RecordOrd};
use crate::Config;

/// One side of the explanation.
#[derive(Debug, Serialize)]
pub struct ExplainedRecord {
    pub source: String,
    pub record_id: String,
    pub line: u64,
    pub golden_id: String,
    pub values: Vec<(String, String)>,
}

/// A link in the chain that joined the two records.
#[derive(Debug, Serialize)]
pub struct ChainStep {
    pub from: String,
    pub to: String,
    pub match_weight: f64,
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub a: ExplainedRecord,
    pub b: ExplainedRecord,
    pub prior_weight: f64,
    pub contributions: Vec<Contribution>,
    pub match_weight: f64,
    pub match_probability: f64,
    pub threshold: f64,
    pub same_golden_id: bool,
    /// How they were joined: "same profile", "direct link", "chain", or "not linked".
    pub how: String,
    pub chain: Vec<ChainStep>,
    /// A steward's decision on this very pair (`overrides.csv`): "link" or "unlink", with
    /// the file and line.
    pub steward: Option<StewardDecision>,
    /// Exports that changed since the run: the values shown are today's, not the run's.
    pub warnings: Vec<String>,
}

/// A row of the run's `overrides.csv` that names the two records.
#[derive(Debug, Serialize)]
pub struct StewardDecision {
    pub decision: String,
    pub file: String,
    pub line: u64,
}

/// Parses "source:record_id".
pub fn parse_ref(s: &str) -> Result<(String, String)> {
    s.split_once(':')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| {
            Error::Usage(format!(
                "`{s}` is not SOURCE:RECORD_ID (e.g. support:T-100012)"
            ))
        })
}

/// Rows of a table of the run, in whichever format the run wrote it, with the
/// `columns` asked for in that order.
fn read_rows(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let path = &if path.is_file() {
        path.to_path_buf()
    } else {
        let stem = path.file_stem().map(|s| s.to_string_lossy().to_string());
        path.parent()
            .zip(stem)
            .and_then(|(d, s)| crate::tables::find(d, &s))
            .unwrap_or_else(|| path.to_path_buf())
    };
    if !path.is_file() {
        return Err(Error::input(path, "cannot read: file not found"));
    }
    let (header, rows) = crate::tables::read(path)?;
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| Error::input(path, format!("column `{c}` not found")))
        })
        .collect::<Result<_>>()?;
    Ok(rows
        .into_iter()
        .map(|row| {
            idx.iter()
                .map(|&i| row.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect())
}

/// Explains a pair of records of the run in `out`.
pub fn explain(out: &Path, a: &str, b: &str) -> Result<Explanation> {
    let (ra, rb) = (parse_ref(a)?, parse_ref(b)?);
    let run = crate::report::RunReport::load(out)?;
    let config_path = PathBuf::from(&run.config);
    let config = Config::load(&config_path)?;
    let model = Model::load(&out.join("model.json"))?;
    let mut warnings = Vec::new();
    for src in &run.sources {
        let file = &src.file;
        if file.is_empty() {
            continue;
        }
        let (_, bytes, modified) = crate::export::file_fingerprint(Path::new(file));
        if bytes != src.file_bytes || modified != src.file_modified {
            warnings.push(format!(
                "{file} changed since the run (size or time differs): the values shown are read from it today and may not be the ones the run saw; rerun to explain the current data"
            ));
        }
    }
    let data = crate::ingest::ingest(&config, |_| {})?;
    let shared = compare::SharedValues::learn(&data);
    let tf = TermFrequencies::from_data(&data, &shared.impersonal(&data));
    let find = |(s, id): &(String, String)| {
        data.find(s, id).ok_or_else(|| {
            Error::Usage(format!(
                "record {s}:{id} is not in the run's data (sources: {})",
                data.sources.join(", ")
            ))
        })
    };
    let (ia, ib) = (find(&ra)?, find(&rb)?);
    let golden = golden_ids(&out.join("mapping.csv"))?;
    let (pa, pb) = (
        data.records[ia as usize].profile,
        data.records[ib as usize].profile,
    );
    let c = compare::compare_with(
        &data.profiles[pa as usize],
        &data.profiles[pb as usize],
        &shared,
    );
    let scorer = Scorer {
        model: &model,
        tf: &tf,
    };
    let weight = scorer.weight(&c);
    let describe = |i: RecordOrd| {
        let r = &data.records[i as usize];
        let source = data.sources[r.source as usize].clone();
        let golden_id = golden
            .get(&(source.clone(), r.record_id.to_string()))
            .cloned()
            .unwrap_or_default();
        ExplainedRecord {
            source,
            record_id: r.record_id.to_string(),
            line: r.line,
            golden_id,
            values: values(&data, i),
        }
    };
    let (ea, eb) = (describe(ia), describe(ib));
    let same = !ea.golden_id.is_empty() && ea.golden_id == eb.golden_id;
    let steward = match &config.matching.overrides {
        Some(path) => crate::overrides::read(path, &data.sources)?
            .rows
            .into_iter()
            .find(|o| (o.a == ra && o.b == rb) || (o.a == rb && o.b == ra))
            .map(|o| StewardDecision {
                decision: match o.decision {
                    crate::overrides::Decision::Link => "link".into(),
                    crate::overrides::Decision::Unlink => "unlink".into(),
                },
                file: path.display().to_string(),
                line: o.line,
            }),
        None => None,
    };
    let (how, chain) = if pa == pb && same {
        (
            "same profile: identical normalized values, linked to each other".to_string(),
            Vec::new(),
        )
    } else if same {
        let chain = chain(&data, &out.join("links.csv"), pa, pb)?;
        let how = match &steward {
            Some(s) if s.decision == "link" => {
                format!("a steward's link ({} line {})", s.file, s.line)
            }
            _ if chain.len() == 1 => "direct link".into(),
            _ if chain.is_empty() => "joined through a steward's link elsewhere".into(),
            _ => "chain of links".into(),
        };
        (how, chain)
    } else {
        let how = match &steward {
            Some(s) if s.decision == "unlink" => {
                format!(
                    "kept apart by a steward's unlink ({} line {})",
                    s.file, s.line
                )
            }
            _ => "not linked".into(),
        };
        (how, Vec::new())
    };
    Ok(Explanation {
        a: ea,
        b: eb,
        prior_weight: model.prior_weight,
        contributions: scorer.contributions(&c),
        match_weight: weight,
        match_probability: model::probability(weight),
        threshold: run.threshold,
        same_golden_id: same,
        how,
        chain,
        steward,
        warnings,
    })
}

fn golden_ids(path: &Path) -> Result<HashMap<(String, String), String>> {
    Ok(crate::mapping::read(path)?
        .into_iter()
        .map(|r| ((r.source, r.record_id), r.golden_id))
        .collect())
}

/// The normalized values of a record, for display.
fn values(data: &Dataset, i: RecordOrd) -> Vec<(String, String)> {
    let r = &data.records[i as usize];
    let p = &data.profiles[r.profile as usize];
    let join = |v: Vec<String>| v.join("; ");
    let strings = |v: &[compact_str::CompactString]| v.iter().map(|s| s.to_string()).collect();
    let mut out = vec![
        (
            "name".into(),
            join(
                p.names
                    .iter()
                    .map(|n| format!("{} | {} | {}", n.first, n.middle, n.last))
                    .collect(),
            ),
        ),
        (
            "email".into(),
            join(p.emails.iter().map(|e| e.address.to_string()).collect()),
        ),
        (
            "phone".into(),
            join(p.phones.iter().map(|x| x.e164.to_string()).collect()),
        ),
        (
            "serial".into(),
            join(p.serials.iter().map(|s| s.key.to_string()).collect()),
        ),
        (
            "dob".into(),
            join(p.dobs.iter().map(|d| d.to_string()).collect()),
        ),
        ("address".into(), join(strings(&p.addresses))),
        ("city".into(), join(strings(&p.cities))),
        ("postcode".into(), join(strings(&p.postcodes))),
        ("id".into(), join(strings(&p.ids))),
        ("case".into(), data.details.get(i).cases.join("; ")),
        (
            "date".into(),
            r.date.map(|d| d.to_string()).unwrap_or_default(),
        ),
    ];
    out.retain(|(_, v)| !v.is_empty());
    out
}

/// Shortest path of accepted links between two profiles (links.csv names each profile by
/// a representative record).
fn chain(data: &Dataset, links_csv: &Path, from: u32, to: u32) -> Result<Vec<ChainStep>> {
    let by_id: HashMap<(&str, &str), RecordOrd> = data
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                (
                    data.sources[r.source as usize].as_str(),
                    r.record_id.as_str(),
                ),
                i as RecordOrd,
            )
        })
        .collect();
    let mut adjacency: HashMap<u32, Vec<(u32, f64, String, String)>> = HashMap::new();
    let columns = [
        "source_a",
        "record_id_a",
        "source_b",
        "record_id_b",
        "match_weight",
    ];
    for row in read_rows(links_csv, &columns)? {
        let get = |i: usize| row.get(i).map_or("", String::as_str);
        let (Some(&a), Some(&b)) = (by_id.get(&(get(0), get(1))), by_id.get(&(get(2), get(3))))
        else {
            continue;
        };
        let (pa, pb) = (
            data.records[a as usize].profile,
            data.records[b as usize].profile,
        );
        let w: f64 = get(4).parse().unwrap_or(f64::NAN);
        let (na, nb) = (
            format!("{}:{}", get(0), get(1)),
            format!("{}:{}", get(2), get(3)),
        );
        adjacency
            .entry(pa)
            .or_default()
            .push((pb, w, na.clone(), nb.clone()));
        adjacency.entry(pb).or_default().push((pa, w, nb, na));
    }
    let mut prev: HashMap<u32, (u32, f64, String, String)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(p) = queue.pop_front() {
        if p == to {
            break;
        }
        for (q, w, np, nq) in adjacency.get(&p).cloned().unwrap_or_default() {
            if q != from && !prev.contains_key(&q) {
                prev.insert(q, (p, w, np, nq));
                queue.push_back(q);
            }
        }
    }
    let mut steps = Vec::new();
    let mut at = to;
    while let Some((p, w, np, nq)) = prev.get(&at).cloned() {
        steps.push(ChainStep {
            from: np,
            to: nq,
            match_weight: w,
        });
        at = p;
        if at == from {
            break;
        }
    }
    steps.reverse();
    Ok(steps)
}
