//! Output: writes a [`Resolution`] into the output folder — `mapping.csv`, `golden.csv`,
//! `cases.csv`, `links.csv`, `rejected.csv`, `model.json`, `run.json`, `state.json`,
//! `changes.csv` (with a previous run), `attention.csv`, `review.csv`, `pairs.csv` (on request) and the lookup index in
//! `index/`.
//!
//! Everything is written into a temporary sibling folder first and renamed into place
//! only when complete: an interrupted run never leaves a half-written mapping, and a
//! failed run leaves the previous output untouched. Rows are sorted, so the same input
//! gives byte-identical files whatever the thread count (only `run.json`'s timings vary).

use std::path::Path;

use crate::error::Result;
use crate::golden::GoldenRecord;
use crate::identity::IdState;
use crate::model;
pub use crate::report::{ModelSummary, RunReport};
use crate::tables::{self, Kind};
use crate::tabular::Format;
use crate::{Options, Progress, Resolution};

/// Header of `pairs.csv`: the pair, its score and what clustering did with it.
const PAIRS_CSV_HEADER: [&str; 7] = [
    "source_a",
    "record_id_a",
    "source_b",
    "record_id_b",
    "match_weight",
    "match_probability",
    "decision",
];

/// Header of `links.csv`: two records and their score.
const PAIR_HEADER: [&str; 6] = [
    "source_a",
    "record_id_a",
    "source_b",
    "record_id_b",
    "match_weight",
    "match_probability",
];

fn prob(weight: f32) -> String {
    if weight.is_nan() {
        String::new()
    } else {
        format!("{:.6}", model::probability(weight as f64))
    }
}

/// Writes every output of a run into `dir`, the staging folder of an
/// [`crate::outdir::OutputDir`], which then swaps it into place.
pub fn write(
    res: &Resolution,
    config_path: &Path,
    dir: &Path,
    options: &Options,
    progress: &dyn Progress,
) -> Result<RunReport> {
    write_all(res, config_path, dir, options, progress)
}

fn write_all(
    res: &Resolution,
    config_path: &Path,
    dir: &Path,
    options: &Options,
    progress: &dyn Progress,
) -> Result<RunReport> {
    let data = &res.data;
    let started = std::time::Instant::now();
    progress.stage("output", Some(data.records.len() as u64));
    // Customer index of each record, and the probability of its strongest link.
    let mut customer_of = vec![0u32; data.records.len()];
    for (c, recs) in res.customers.iter().enumerate() {
        for &r in recs {
            customer_of[r as usize] = c as u32;
        }
    }
    let goldens = &res.goldens;
    let seconds: Vec<(String, f64)> = res
        .timings
        .iter()
        .map(|(s, t)| (s.to_string(), round3(*t)))
        .collect();
    let mut report = RunReport {
        idresolve: env!("CARGO_PKG_VERSION").to_string(),
        config: std::path::absolute(config_path)
            .unwrap_or_else(|_| config_path.to_path_buf())
            .display()
            .to_string(),
        default_region: res.default_region.clone(),
        records_in: data.counts.iter().map(|c| c.rows).sum(),
        records_accepted: data.records.len() as u64,
        records_rejected: data.rejected.len() as u64,
        sources: data.counts.clone(),
        profiles: data.profiles.len() as u64,
        candidates: res.candidates.stats.clone(),
        model: ModelSummary {
            reused: options.model.is_some() || options.incremental,
            prior: res.model.prior,
            em_iterations: res.model.training.em_iterations,
            em_converged: res.model.training.em_converged,
        },
        threshold: res.threshold,
        threshold_from: if res.threshold_configured {
            "config".into()
        } else {
            "model".into()
        },
        model_best_threshold: res.model_best,
        clustering: res.clustering.stats.clone(),
        shared_values: res.shared.counts(),
        golden_ids: res.customers.len() as u64,
        golden_ids_kept_from_previous: options.previous.as_ref().map(|_| res.ids.kept as u64),
        run: res.ids.run,
        overrides: res.overrides.clone(),
        id_changes: options.previous.as_ref().map(|_| {
            let mut by_kind = std::collections::BTreeMap::new();
            for c in &res.ids.changes {
                *by_kind.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
            }
            by_kind
        }),
        records_since_previous: res.night,
        incremental: res.incremental.clone(),
        attention: {
            let mut by_reason = std::collections::BTreeMap::new();
            for f in &res.attention {
                *by_reason.entry(f.reason.as_str().to_string()).or_insert(0) += 1;
            }
            by_reason
        },
        cluster_sizes: size_histogram(&res.customers),
        seconds,
        threads: rayon::current_num_threads(),
    };
    // The lookup index, the state for an incremental run, the tables and the report's
    // page are independent.
    let (((index, state), tables), page) = rayon::join(
        || {
            rayon::join(
                || {
                    rayon::join(
                        || crate::store::write(res, goldens, &dir.join(crate::store::DIR)),
                        || save_state(res, dir),
                    )
                },
                || write_tables(res, dir, options, &customer_of, goldens, progress),
            )
        },
        || crate::htmlreport::prepare(res, &report, &customer_of),
    );
    index?;
    state?;
    tables?;
    progress.finish();

    report
        .seconds
        .push(("output".into(), round3(started.elapsed().as_secs_f64())));
    report.save(dir)?;
    crate::htmlreport::finish(page, &report, &dir.join("report.html"))?;
    Ok(report)
}

/// `state/` for the next incremental run, with the chain of nights since the last full run.
fn save_state(res: &Resolution, dir: &Path) -> Result<()> {
    let chain = match &res.incremental {
        Some(i) => crate::state::Chain {
            nights_since_full: i.nights_since_full_run,
            records_touched_since_full: i.records_touched_since_full_run,
            records_at_full: i.records_at_last_full_run,
        },
        None => crate::state::Chain {
            nights_since_full: 0,
            records_touched_since_full: 0,
            records_at_full: res.data.records.len() as u64,
        },
    };
    crate::state::save(
        dir,
        &res.config_fingerprint,
        &res.data,
        &res.shared,
        &res.edges,
        &res.clustering,
        &res.self_weight,
        &res.impersonal,
        res.threshold,
        chain,
        res.carry.as_ref(),
    )
}

/// The CSV and JSON tables of a run (everything but the lookup index).
fn write_tables(
    res: &Resolution,
    dir: &Path,
    options: &Options,
    customer_of: &[u32],
    goldens: &[GoldenRecord],
    progress: &dyn Progress,
) -> Result<()> {
    let data = &res.data;
    let source = |r: &crate::record::Record| data.sources[r.source as usize].as_str();
    let fmt = options.output_format;
    // Borrowed cells: only the probability is made (a million rows, four cells each).
    let mapping_rows = data.records.iter().enumerate().map(|(i, r)| {
        use std::borrow::Cow;
        [
            Cow::Borrowed(source(r)),
            Cow::Borrowed(r.record_id.as_str()),
            Cow::Borrowed(res.ids.ids[customer_of[i] as usize].as_str()),
            Cow::Owned(prob(res.clustering.best_weight[r.profile as usize])),
        ]
    });
    // One representative record per profile names the profile in links.csv and pairs.csv.
    let (offsets, members) = data.profile_members();
    // Three independent groups of tables, side by side for a night (its lookup store
    // and state, written beside them, are mostly linked layers, so the cores have room);
    // in turn for a full run, whose output is already both cores' work and, at 10M
    // records, the run's memory peak.
    let together = res.carry.is_some();
    let (a, (b, c)) = join_if(
        together,
        || -> Result<()> {
            crate::mapping::write(dir, fmt, mapping_rows)?;
            progress.advance(data.records.len() as u64 / 4);

            let mut order: Vec<usize> = (0..goldens.len()).collect();
            order.sort_by(|&a, &b| goldens[a].golden_id.cmp(&goldens[b].golden_id));
            const GOLDEN_HEADER: [&str; 10] = [
                "golden_id",
                "name",
                "email",
                "phone",
                "address",
                "serials",
                "records",
                "sources",
                "first_seen",
                "last_seen",
            ];
            tables::write(
                dir,
                "golden",
                fmt,
                &GOLDEN_HEADER,
                &[
                    Kind::Str,
                    Kind::Str,
                    Kind::Str,
                    Kind::Str,
                    Kind::Str,
                    Kind::Str,
                    Kind::I64,
                    Kind::Str,
                    Kind::Date,
                    Kind::Date,
                ],
                order.iter().map(|&c| goldens[c].row()),
            )?;
            Ok(())
        },
        || {
            join_if(
                together,
                || -> Result<()> {
                    let mut cases: Vec<(&str, Option<chrono::NaiveDate>, &str, &str, &str)> =
                        Vec::new();
                    for (i, r) in data.records.iter().enumerate() {
                        for case in data.details.cases(i as crate::record::RecordOrd) {
                            cases.push((
                                &res.ids.ids[customer_of[i] as usize],
                                r.date,
                                source(r),
                                case,
                                &r.record_id,
                            ));
                        }
                    }
                    cases.sort();
                    tables::write(
                        dir,
                        "cases",
                        fmt,
                        &["golden_id", "source", "case", "date", "record_id"],
                        &[Kind::Str, Kind::Str, Kind::Str, Kind::Date, Kind::Str],
                        cases.iter().map(|(g, d, s, c, r)| {
                            [
                                g.to_string(),
                                s.to_string(),
                                c.to_string(),
                                d.map(|d| d.to_string()).unwrap_or_default(),
                                r.to_string(),
                            ]
                        }),
                    )?;
                    progress.advance(data.records.len() as u64 / 4);

                    let rep =
                        |p: u32| &data.records[members[offsets[p as usize] as usize] as usize];
                    let mut links = res.clustering.links.clone();
                    links.sort_by_key(|l| (l.a, l.b));
                    tables::write(
                        dir,
                        "links",
                        fmt,
                        &PAIR_HEADER,
                        &[
                            Kind::Str,
                            Kind::Str,
                            Kind::Str,
                            Kind::Str,
                            Kind::F64,
                            Kind::F64,
                        ],
                        links.iter().map(|l| {
                            let (ra, rb) = (rep(l.a), rep(l.b));
                            [
                                source(ra).to_string(),
                                ra.record_id.to_string(),
                                source(rb).to_string(),
                                rb.record_id.to_string(),
                                format!("{:.3}", l.weight),
                                prob(l.weight),
                            ]
                        }),
                    )?;
                    tables::write_csv(
                        &dir.join("rejected.csv"),
                        &["source", "line", "reason", "raw"],
                        data.rejected.iter().map(|r| {
                            [
                                r.source.clone(),
                                r.line.to_string(),
                                r.reason.clone(),
                                r.raw.clone(),
                            ]
                        }),
                    )?;
                    if options.previous.is_some() {
                        tables::write_csv(
                            &dir.join("changes.csv"),
                            &["run", "kind", "old_id", "new_id", "records", "reason"],
                            res.ids.changes.iter().map(|c| {
                                [
                                    res.ids.run.to_string(),
                                    c.kind.as_str().to_string(),
                                    c.old_id.clone(),
                                    c.new_id.clone(),
                                    c.records.to_string(),
                                    c.reason.to_string(),
                                ]
                            }),
                        )?;
                    }
                    Ok(())
                },
                || -> Result<()> {
                    write_review(res, &dir.join("review.csv"))?;
                    tables::write(
                        dir,
                        "attention",
                        fmt,
                        &crate::attention::HEADER,
                        &[
                            Kind::Str,
                            Kind::Str,
                            Kind::I64,
                            Kind::Date,
                            Kind::Date,
                            Kind::Str,
                        ],
                        res.attention.iter().map(|f| f.row()),
                    )?;
                    if options.emit_pairs {
                        write_pairs(res, dir, fmt, &offsets, &members)?;
                    }
                    Ok(())
                },
            )
        },
    );
    a?;
    b?;
    c?;
    res.model.save(&dir.join("model.json"))?;
    crate::rows::write(dir, data)?;
    IdState::of(&res.ids).save(dir)?;
    progress.advance(data.records.len() as u64 / 4);
    Ok(())
}

/// `rayon::join(a, b)` when `together`, else `a` then `b`.
fn join_if<RA: Send, RB: Send>(
    together: bool,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    if together {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn size_histogram(customers: &[Vec<u32>]) -> Vec<(String, u64)> {
    let buckets: [(&str, usize, usize); 6] = [
        ("1", 1, 1),
        ("2", 2, 2),
        ("3-5", 3, 5),
        ("6-10", 6, 10),
        ("11-50", 11, 50),
        ("51+", 51, usize::MAX),
    ];
    buckets
        .iter()
        .map(|(name, lo, hi)| {
            (
                name.to_string(),
                customers
                    .iter()
                    .filter(|c| (*lo..=*hi).contains(&c.len()))
                    .count() as u64,
            )
        })
        .collect()
}

/// Every compared record pair with its score: pairs of profiles expanded to their
/// records, plus the records within one profile.
/// `review.csv`: [`crate::review::rows`] with `overrides.csv`'s columns first (decision
/// empty) and what a steward reads after them.
fn write_review(res: &Resolution, path: &Path) -> Result<()> {
    let data = &res.data;
    let rows = crate::review::rows(data, &res.edges, &res.clustering.decisions, &res.customers);
    let shown = |r: crate::record::RecordOrd| {
        let d = &data.details.get(r).display;
        let raw = |s: &Option<crate::record::Shown>| s.as_ref().map(|v| v.raw.to_string());
        (
            raw(&d.name).unwrap_or_default(),
            [raw(&d.email), raw(&d.phone), raw(&d.address)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
        )
    };
    let mut header: Vec<&str> = crate::overrides::HEADER.to_vec();
    header.extend([
        "match_probability",
        "doubt",
        "run_decision",
        "name_a",
        "name_b",
        "contact_a",
        "contact_b",
    ]);
    tables::write_csv(
        path,
        &header,
        rows.iter().map(|row| {
            let (ra, rb) = (&data.records[row.a as usize], &data.records[row.b as usize]);
            let ((name_a, contact_a), (name_b, contact_b)) = (shown(row.a), shown(row.b));
            let note = if row.together {
                "linked: one customer?"
            } else {
                "kept apart: one customer?"
            };
            [
                String::new(),
                data.sources[ra.source as usize].clone(),
                ra.record_id.to_string(),
                data.sources[rb.source as usize].clone(),
                rb.record_id.to_string(),
                note.to_string(),
                if row.probability.is_nan() {
                    String::new()
                } else {
                    format!("{:.6}", row.probability)
                },
                format!("{:.6}", row.doubt),
                row.decision.to_string(),
                name_a,
                name_b,
                contact_a,
                contact_b,
            ]
        }),
    )
}

fn write_pairs(
    res: &Resolution,
    dir: &Path,
    fmt: Format,
    offsets: &[u32],
    members: &[u32],
) -> Result<()> {
    use crate::compare::{compare_with, MISSING, N, SPECS};
    use rayon::prelude::*;
    let data = &res.data;
    // The pair columns, then one column per comparison with the level the pair reached.
    let mut header: Vec<&str> = PAIRS_CSV_HEADER.to_vec();
    header.extend(SPECS.iter().map(|s| s.name));
    let mut kinds = vec![Kind::Str; header.len()];
    kinds[4] = Kind::F64;
    kinds[5] = Kind::F64;
    let recs = |p: u32| &members[offsets[p as usize] as usize..offsets[p as usize + 1] as usize];
    let levels_of = |a: u32, b: u32| {
        compare_with(
            &data.profiles[a as usize],
            &data.profiles[b as usize],
            &res.shared,
        )
        .levels
    };
    // Levels per edge and per profile compared with itself, computed once each.
    let edge_levels: Vec<[u8; N]> = res.edges.par_iter().map(|e| levels_of(e.a, e.b)).collect();
    let self_levels: Vec<Option<[u8; N]>> = (0..data.profiles.len() as u32)
        .into_par_iter()
        .map(|p| (recs(p).len() > 1).then(|| levels_of(p, p)))
        .collect();
    let mut rows: Vec<(u32, u32, f32, &str, &[u8; N])> = Vec::new();
    for ((e, d), l) in res
        .edges
        .iter()
        .zip(&res.clustering.decisions)
        .zip(&edge_levels)
    {
        for &a in recs(e.a) {
            for &b in recs(e.b) {
                rows.push((a.min(b), a.max(b), e.weight, d.as_str(), l));
            }
        }
    }
    for p in 0..data.profiles.len() as u32 {
        let rs = recs(p);
        let Some(l) = &self_levels[p as usize] else {
            continue;
        };
        let decision = if res.clustering.linked[p as usize] {
            "same profile"
        } else {
            "same profile, not linked"
        };
        for (i, &a) in rs.iter().enumerate() {
            for &b in &rs[i + 1..] {
                rows.push((a.min(b), a.max(b), res.self_weight[p as usize], decision, l));
            }
        }
    }
    rows.sort_by_key(|r| (r.0, r.1));
    let lines = rows.into_iter().map(|(a, b, weight, decision, levels)| {
        let (ra, rb) = (&data.records[a as usize], &data.records[b as usize]);
        let mut record: Vec<String> = Vec::with_capacity(7 + N);
        record.extend([
            data.sources[ra.source as usize].clone(),
            ra.record_id.to_string(),
            data.sources[rb.source as usize].clone(),
            rb.record_id.to_string(),
            format!("{weight:.3}"),
            prob(weight),
            decision.to_string(),
        ]);
        record.extend(levels.iter().zip(SPECS.iter()).map(|(&l, spec)| {
            if l == MISSING {
                "missing".to_string()
            } else {
                spec.levels[l as usize].to_string()
            }
        }));
        record
    });
    tables::write(dir, "pairs", fmt, &header, &kinds, lines)
}
