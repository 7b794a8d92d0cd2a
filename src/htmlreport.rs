//! `report.html`: one self-contained page per run (inline SVG and CSS, no script, nothing
//! fetched) that answers "is the model sane, where should the threshold be, which
//! clusters should I look at": the run and its sources, the model's match weights and
//! m/u per level, the histogram of pair weights with the model's expected precision,
//! recall and F1 by threshold, cluster sizes, the largest clusters and those held by one
//! weak link, the night's ID changes, and borderline pairs with their waterfalls. Also
//! the waterfall page of `explain --html`.
//!
//! The numbers and the SVG geometry are computed here; the markup is in the templates
//! (`src/htmlreport/*.html`, minijinja, auto-escaped).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::{self, Contribution};
use crate::report::RunReport;
use crate::Resolution;

const TEMPLATES: [(&str, &str); 3] = [
    ("macros.html", include_str!("htmlreport/macros.html")),
    ("report.html", include_str!("htmlreport/report.html")),
    ("waterfall.html", include_str!("htmlreport/waterfall.html")),
];

/// Largest clusters listed, and members shown of each.
const LARGEST: usize = 10;
const MEMBERS_SHOWN: usize = 25;
/// Clusters listed as held by one weak link, and borderline pairs per side.
const WEAK: usize = 15;
const BORDERLINE: usize = 6;
/// Width of the charts' plotting area, in SVG pixels: histograms and curves, the
/// model's weight bars, a waterfall.
const CHART_W: f64 = 640.0;
const MODEL_W: f64 = 360.0;
const FALL_W: f64 = 480.0;

fn env() -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| Error::input(name, e.to_string()))?;
    }
    Ok(env)
}

fn render(name: &str, ctx: &Value) -> Result<String> {
    env()?
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::input(name, format!("the page could not be rendered: {e}")))
}

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A waterfall: the prior, each comparison's weight (with its term-frequency
/// adjustment), the total; each bar's start and end in SVG pixels.
pub fn waterfall(prior: f64, contributions: &[Contribution], threshold: f64) -> Value {
    let mut steps = vec![("prior".to_string(), String::new(), prior, 0.0)];
    for c in contributions {
        if c.level == "missing" && c.weight == 0.0 {
            continue;
        }
        steps.push((
            c.comparison.to_string(),
            c.level.to_string(),
            c.weight,
            c.tf_adjustment,
        ));
    }
    let mut at = 0.0;
    let mut spans = Vec::new();
    for (name, level, w, adj) in &steps {
        let from = at;
        at += w + adj;
        spans.push((name, level, *w, *adj, from, at));
    }
    let total = at;
    let threshold_w = model::weight_of_probability(threshold);
    let lo = spans
        .iter()
        .flat_map(|s| [s.4, s.5])
        .chain([0.0, threshold_w])
        .fold(f64::INFINITY, f64::min);
    let hi = spans
        .iter()
        .flat_map(|s| [s.4, s.5])
        .chain([0.0, threshold_w])
        .fold(f64::NEG_INFINITY, f64::max);
    let scale = FALL_W / (hi - lo).max(1.0);
    let x = |w: f64| r1((w - lo) * scale);
    let rows: Vec<Value> = spans
        .iter()
        .map(|(name, level, w, adj, from, to)| {
            json!({
                "name": name,
                "level": level,
                "weight": r1(*w),
                "tf": r1(*adj),
                "x": x(from.min(*to)),
                "width": r1(((to - from).abs() * scale).max(1.0)),
                "up": to >= from,
            })
        })
        .collect();
    json!({
        "rows": rows,
        "total": r1(total),
        "probability": r3(model::probability(total)),
        "zero_x": x(0.0),
        "threshold_x": x(threshold_w),
        "threshold_weight": r1(threshold_w),
        "total_x": x(total),
        "height": 22 * rows.len() + 30,
        "width": FALL_W,
    })
}

/// Writes `report.html` for a run into `path`.
/// `customer_of[r]` is record `r`'s customer (as `output` has it).
pub fn write(res: &Resolution, report: &RunReport, customer_of: &[u32], path: &Path) -> Result<()> {
    finish(prepare(res, report, customer_of), report, path)
}

/// Puts the final timings of `report` into a [`prepare`]d page and writes it.
pub fn finish(mut ctx: Value, report: &RunReport, path: &Path) -> Result<()> {
    ctx["timings"] = timings(report);
    ctx["run"]["seconds"] = json!(r1(report.seconds.iter().map(|(_, s)| s).sum::<f64>()));
    let html = render("report.html", &ctx)?;
    crate::outdir::write_private(path, html.as_bytes())
}

/// The stage timings' bars.
fn timings(report: &RunReport) -> Value {
    let longest = report
        .seconds
        .iter()
        .map(|(_, s)| *s)
        .fold(0.0f64, f64::max)
        .max(0.001);
    report
        .seconds
        .iter()
        .map(|(stage, s)| json!({"stage": stage, "seconds": s, "width": r1(CHART_W * 0.6 * s / longest)}))
        .collect()
}

/// The waterfall page of one pair (`explain --html`): each side as `{source, record_id,
/// name, contact}`.
pub fn waterfall_page(title: &str, sides: [Value; 2], fall: Value) -> Result<String> {
    render(
        "waterfall.html",
        &json!({ "title": title, "sides": sides, "fall": fall }),
    )
}

/// The page's content before the run's last timings are known ([`finish`] puts them in):
/// what takes time (every scored pair is read), made while the output files are written.
pub fn prepare(res: &Resolution, report: &RunReport, customer_of: &[u32]) -> Value {
    let data = &res.data;
    let threshold_w = model::weight_of_probability(res.threshold);

    // Sources and fields.
    let sources: Vec<Value> = report
        .sources
        .iter()
        .map(|s| {
            let mut reasons: Vec<(&String, &u64)> = s.rejected_reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let fields: Vec<Value> = s
                .fields
                .iter()
                .map(|f| {
                    let share = |n: u64, of: u64| {
                        if of == 0 {
                            0.0
                        } else {
                            r1(100.0 * n as f64 / of as f64)
                        }
                    };
                    json!({
                        "field": f.field,
                        "filled": f.filled,
                        "fill": share(f.filled, s.rows),
                        "accepted": f.accepted,
                        "placeholder": f.refused_placeholder,
                        "invalid": f.refused_invalid,
                        "refused": share(f.refused(), f.filled),
                    })
                })
                .collect();
            json!({
                "name": s.name,
                "file": s.file,
                "rows": s.rows,
                "accepted": s.accepted,
                "rejected": s.rejected,
                "reasons": reasons.iter().take(3).map(|(r, n)| json!({"reason": r, "n": n})).collect::<Vec<_>>(),
                "region": s.region,
                "date_order": s.date_order,
                "encoding": s.encoding,
                "fields": fields,
            })
        })
        .collect();

    // Timings.
    let timings = timings(report);

    // The model: each active comparison's levels.
    let max_w = res
        .model
        .comparisons
        .iter()
        .filter(|c| c.active)
        .flat_map(|c| c.levels.iter().map(|l| l.weight.abs()))
        .fold(1.0f64, f64::max);
    let half = MODEL_W / 2.0;
    let comparisons: Vec<Value> = res
        .model
        .comparisons
        .iter()
        .filter(|c| c.active)
        .map(|c| {
            let levels: Vec<Value> = c
                .levels
                .iter()
                .map(|l| {
                    let w = l.weight;
                    let len = r1((w.abs() / max_w * (half - 10.0)).max(1.0));
                    json!({
                        "level": l.level,
                        "m": format!("{:.4}", l.m),
                        "u": format!("{:.2e}", l.u_random),
                        "weight": r1(w),
                        "x": if w >= 0.0 { half } else { r1(half - len) },
                        "width": len,
                        "up": w >= 0.0,
                    })
                })
                .collect();
            json!({"comparison": c.comparison, "tf_level": c.tf_level, "levels": levels})
        })
        .collect();

    // Scores: a histogram of pair weights (1 bit a bin), and the expected quality curve.
    // Read from the edges three times rather than copied (0.8 GB at 10M records).
    let weights = || {
        res.edges
            .iter()
            .filter(|e| !e.carried_only && !e.weight.is_nan())
            .map(|e| e.weight)
    };
    let (lo, hi) = weights().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), w| {
        (a.min(w as f64), b.max(w as f64))
    });
    let (lo, hi) = if weights().next().is_none() {
        (-10.0, 10.0)
    } else {
        (
            lo.floor().max(-60.0),
            hi.ceil().min(80.0).max(lo.floor() + 1.0),
        )
    };
    let bins = ((hi - lo) as usize).max(1);
    let mut counts = vec![0u64; bins];
    for w in weights() {
        let b = ((w as f64 - lo).floor().max(0.0) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bin_w = CHART_W / bins as f64;
    let hist_h = 160.0;
    let histogram: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            // Log scale: the non-matches outnumber the matches many times over.
            let h = if n == 0 {
                0.0
            } else {
                r1(hist_h * (1.0 + n as f64).ln() / (1.0 + most).ln())
            };
            json!({"x": r1(i as f64 * bin_w), "width": r1((bin_w - 1.0).max(1.0)), "y": r1(hist_h - h), "height": h, "n": n, "from": lo + i as f64})
        })
        .collect();
    let wx = |w: f64| r1((w - lo) / (hi - lo) * CHART_W);
    let steps: Vec<f64> = (0..=((hi - lo) * 4.0) as usize)
        .map(|i| lo + i as f64 * 0.25)
        .collect();
    // The curve's steps and, last, the run's threshold: one pass over the pairs.
    let mut curve = model::expected_quality_curve(
        weights(),
        &steps
            .iter()
            .map(|&w| model::probability(w))
            .chain([res.threshold])
            .collect::<Vec<_>>(),
    );
    let at_threshold = curve.split_off(steps.len());
    let line = |f: &dyn Fn(&model::ExpectedQuality) -> f64| -> String {
        curve
            .iter()
            .zip(&steps)
            .map(|(q, &w)| format!("{},{}", wx(w), r1(hist_h - f(q) * hist_h)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ticks: Vec<Value> = (lo as i64..=hi as i64)
        .filter(|w| w % 5 == 0)
        .map(|w| json!({"x": wx(w as f64), "label": w}))
        .collect();

    // Clusters.
    let max_bucket = report
        .cluster_sizes
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let sizes: Vec<Value> = report
        .cluster_sizes
        .iter()
        .map(|(b, n)| {
            let w = if *n == 0 {
                0.0
            } else {
                r1(CHART_W * 0.6 * (1.0 + *n as f64).ln() / (1.0 + max_bucket).ln())
            };
            json!({"bucket": b, "n": n, "width": w})
        })
        .collect();
    let member = |r: u32| {
        let rec = &data.records[r as usize];
        let display = data.details.get(r).display;
        let contact = [display.email.as_ref(), display.phone.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.raw.as_str())
            .collect::<Vec<_>>()
            .join(" · ");
        json!({
            "source": data.sources[rec.source as usize],
            "record_id": rec.record_id.as_str(),
            "name": display.name.as_ref().map(|s| s.raw.as_str()).unwrap_or(""),
            "contact": contact,
        })
    };
    let mut by_size: Vec<usize> = (0..res.customers.len()).collect();
    by_size.sort_by(|&a, &b| {
        res.customers[b]
            .len()
            .cmp(&res.customers[a].len())
            .then(res.ids.ids[a].cmp(&res.ids.ids[b]))
    });
    let largest: Vec<Value> = by_size
        .iter()
        .take(LARGEST)
        .filter(|&&c| res.customers[c].len() > 1)
        .map(|&c| {
            let recs = &res.customers[c];
            let mut names: BTreeMap<String, usize> = BTreeMap::new();
            for &r in recs {
                if let Some(n) = &data.details.get(r).display.name {
                    *names.entry(n.key.to_string()).or_default() += 1;
                }
            }
            json!({
                "golden_id": res.ids.ids[c],
                "name": res.goldens[c].name,
                "records": recs.len(),
                "distinct_names": names.len(),
                "members": recs.iter().take(MEMBERS_SHOWN).map(|&r| member(r)).collect::<Vec<_>>(),
                "more": recs.len().saturating_sub(MEMBERS_SHOWN),
            })
        })
        .collect();
    // The weakest link inside each customer joined by links (links are one per merge,
    // so each is the only thing holding its two sides together).
    let (offsets, members) = data.profile_members();
    let rep = |p: u32| members[offsets[p as usize] as usize];
    let mut weakest: Vec<Option<(f32, u32, u32)>> = vec![None; res.customers.len()];
    for l in &res.clustering.links {
        let c = customer_of[rep(l.a) as usize] as usize;
        let e = weakest[c].get_or_insert((f32::INFINITY, l.a, l.b));
        if l.weight < e.0 {
            *e = (l.weight, l.a, l.b);
        }
    }
    let mut weak: Vec<(u32, (f32, u32, u32))> = weakest
        .into_iter()
        .enumerate()
        .filter_map(|(c, w)| Some((c as u32, w?)))
        .filter(|(c, _)| res.customers[*c as usize].len() >= 3)
        .collect();
    weak.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(a.0.cmp(&b.0)));
    let weak: Vec<Value> = weak
        .iter()
        .take(WEAK)
        .map(|(c, (w, a, b))| {
            json!({
                "golden_id": res.ids.ids[*c as usize],
                "name": res.goldens[*c as usize].name,
                "records": res.customers[*c as usize].len(),
                "weight": r1(*w as f64),
                "probability": r3(model::probability(*w as f64)),
                "a": member(rep(*a)),
                "b": member(rep(*b)),
            })
        })
        .collect();

    // Borderline pairs: the scored pairs nearest the threshold on each side.
    let scorer = model::Scorer {
        model: &res.model,
        tf: &res.tf,
    };
    // The nearest few on one side, nearest first (ties by pair order): kept in a bounded
    // heap while the scored pairs stream by, not a sort (nor a copy) of every pair. A
    // distance is never negative, so its bits order as its value does.
    let nearest = |above: bool| -> Vec<usize> {
        let mut heap = std::collections::BinaryHeap::with_capacity(BORDERLINE + 1);
        for (i, e) in res.edges.iter().enumerate() {
            if e.weight.is_nan() || (e.weight as f64 >= threshold_w) != above {
                continue;
            }
            let near = ((e.weight as f64 - threshold_w).abs().to_bits(), i);
            if heap.len() < BORDERLINE {
                heap.push(near);
            } else if heap.peek().is_some_and(|far| near < *far) {
                heap.pop();
                heap.push(near);
            }
        }
        heap.into_sorted_vec().into_iter().map(|(_, i)| i).collect()
    };
    let pick = |above: bool| -> Vec<Value> {
        nearest(above)
            .into_iter()
            .map(|i| {
                let e = &res.edges[i];
                let c = crate::compare::compare_with(
                    &data.profiles[e.a as usize],
                    &data.profiles[e.b as usize],
                    &res.shared,
                );
                json!({
                    "a": member(rep(e.a)),
                    "b": member(rep(e.b)),
                    "decision": res.clustering.decisions[i].as_str(),
                    "fall": waterfall(res.model.prior_weight, &scorer.contributions(&c), res.threshold),
                })
            })
            .collect()
    };
    let borderline = json!({"above": pick(true), "below": pick(false)});

    let changes = report.id_changes.as_ref().map(|by| {
        by.iter()
            .map(|(k, n)| json!({"kind": k, "n": n}))
            .collect::<Vec<_>>()
    });

    json!({
        "run": {
            "version": report.idresolve,
            "config": report.config,
            "records_in": report.records_in,
            "accepted": report.records_accepted,
            "rejected": report.records_rejected,
            "profiles": report.profiles,
            "golden_ids": report.golden_ids,
            "kept": report.golden_ids_kept_from_previous,
            "threshold": report.threshold,
            "threshold_from": report.threshold_from,
            "per_record": r1(report.candidates.per_record_mean),
            "pairs": report.candidates.profile_pairs,
            "links": report.clustering.merges,
            "seconds": r1(report.seconds.iter().map(|(_, s)| s).sum::<f64>()),
            "threads": report.threads,
            "attention": report.attention,
        },
        "sources": sources,
        "timings": timings,
        "model": {
            "prior": format!("{:.4}", res.model.prior),
            "prior_weight": r1(res.model.prior_weight),
            "random_match_probability": format!("{:.2e}", res.model.random_match_probability),
            "em_iterations": res.model.training.em_iterations,
            "em_converged": res.model.training.em_converged,
            "em_pairs": res.model.training.em_pairs,
            "u_sample_pairs": res.model.training.u_sample_pairs,
            "reused": report.model.reused,
            "comparisons": comparisons,
            "half": half,
            "width": MODEL_W,
        },
        "scores": {
            "pairs": weights().count(),
            "histogram": histogram,
            "height": hist_h,
            "width": CHART_W,
            "threshold_x": wx(threshold_w.clamp(lo, hi)),
            "threshold_weight": r1(threshold_w),
            "precision": line(&|q| q.precision),
            "recall": line(&|q| q.recall),
            "f1": line(&|q| q.f1),
            "ticks": ticks,
            "expected": at_threshold.first().map(|q| json!({
                "precision": r3(q.precision), "recall": r3(q.recall), "f1": r3(q.f1)
            })),
            "best": res.model_best.map(|q| json!({
                "threshold": r3(q.threshold), "precision": r3(q.precision), "recall": r3(q.recall), "f1": r3(q.f1)
            })),
        },
        "clusters": {"sizes": sizes, "largest": largest, "weak": weak},
        "changes": changes,
        "night": report.records_since_previous,
        "incremental": report.incremental,
        "borderline": borderline,
    })
}
