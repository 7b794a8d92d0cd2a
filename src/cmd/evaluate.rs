//! `idresolve evaluate`: a mapping against ground truth.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// mapping.csv of a run.
    #[arg(long)]
    pub mapping: PathBuf,
    /// truth.csv: source,record_id,entity_id.
    #[arg(long)]
    pub truth: PathBuf,
    /// pairs.csv of a run made with --emit-pairs: also report pair completeness.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let e = idresolve::evaluate::evaluate(&args.mapping, &args.truth, args.pairs.as_deref())?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "records            {:>10}   (missing from mapping: {}, not in truth: {})",
        e.records, e.missing_from_mapping, e.not_in_truth
    )?;
    writeln!(
        out,
        "entities           {:>10} true, {} predicted clusters",
        e.true_entities, e.predicted_clusters
    )?;
    writeln!(
        out,
        "pairs              {:>10} true, {} predicted, {} correct",
        e.true_pairs, e.predicted_pairs, e.correct_pairs
    )?;
    writeln!(
        out,
        "pairwise   precision {:.4}  recall {:.4}  F1 {:.4}",
        e.pairwise_precision, e.pairwise_recall, e.pairwise_f1
    )?;
    writeln!(
        out,
        "B-cubed    precision {:.4}  recall {:.4}  F1 {:.4}",
        e.bcubed_precision, e.bcubed_recall, e.bcubed_f1
    )?;
    writeln!(out, "entities reproduced exactly {:.4}", e.exact_entities)?;
    if !e.worst_clusters.is_empty() {
        writeln!(
            out,
            "clusters with most false pairs (share of all false pairs):"
        )?;
        for w in &e.worst_clusters {
            writeln!(
                out,
                "    {}  {} records of {} true entities  {} false pairs ({:.1}%)",
                w.golden_id,
                w.records,
                w.true_entities,
                w.false_pairs,
                100.0 * w.share
            )?;
        }
    }
    if let (Some(pc), Some(n)) = (e.pair_completeness, e.candidate_pairs) {
        writeln!(
            out,
            "pair completeness  {pc:.4}   ({n} candidate record pairs)"
        )?;
    }
    for (title, list) in [
        ("missed pairs by cause:", &e.missed_by_cause),
        ("false pairs by cause:", &e.false_by_cause),
    ] {
        if !list.is_empty() {
            writeln!(out, "{title}")?;
            for c in list {
                writeln!(
                    out,
                    "    {:>9} ({:>5.1}%)  {}",
                    c.pairs,
                    100.0 * c.share,
                    c.cause
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
