//! `idresolve explain`: two records side by side, the level and weight of every
//! comparison, and how they came to share (or not) a golden ID.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder of a finished run.
    #[arg(long)]
    pub out: PathBuf,
    /// First record, as SOURCE:RECORD_ID.
    pub a: String,
    /// Second record, as SOURCE:RECORD_ID.
    pub b: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the pair's waterfall as a web page to this file (a new file: an
    /// existing one is never replaced).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let e = super::guard_damaged(&args.out, || {
        idresolve::explain::explain(&args.out, &args.a, &args.b)
    })?;
    for w in &e.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(path) = &args.html {
        write_html(path, &e)?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in [&e.a, &e.b] {
        writeln!(
            out,
            "{}:{}  (line {}, golden ID {})",
            r.source, r.record_id, r.line, r.golden_id
        )?;
        for (k, v) in &r.values {
            writeln!(out, "    {k:<9} {v}")?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<12} {:<34} {:>8} {:>8}",
        "comparison", "level", "weight", "tf adj"
    )?;
    writeln!(out, "{:<12} {:<34} {:>8.2}", "prior", "", e.prior_weight)?;
    for c in &e.contributions {
        writeln!(
            out,
            "{:<12} {:<34} {:>8.2} {:>8.2}",
            c.comparison, c.level, c.weight, c.tf_adjustment
        )?;
    }
    writeln!(
        out,
        "{:<12} {:<34} {:>8.2}   probability {:.6} (threshold {})",
        "total", "", e.match_weight, e.match_probability, e.threshold
    )?;
    writeln!(out)?;
    if e.same_golden_id {
        writeln!(out, "same golden ID ({}): {}", e.a.golden_id, e.how)?;
        for s in &e.chain {
            writeln!(
                out,
                "    {} — {}  (weight {:.2})",
                s.from, s.to, s.match_weight
            )?;
        }
    } else {
        writeln!(
            out,
            "different golden IDs ({} and {}): {}",
            e.a.golden_id, e.b.golden_id, e.how
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_html(path: &std::path::Path, e: &idresolve::explain::Explanation) -> anyhow::Result<()> {
    let side = |r: &idresolve::explain::ExplainedRecord| {
        let value = |k: &str| {
            r.values
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let contact = [value("email"), value("phone")]
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        serde_json::json!({
            "source": r.source,
            "record_id": r.record_id,
            "name": value("name"),
            "contact": contact,
        })
    };
    let title = format!(
        "{}:{} and {}:{} — {} ({:.3})",
        e.a.source, e.a.record_id, e.b.source, e.b.record_id, e.how, e.match_probability
    );
    let fall = idresolve::htmlreport::waterfall(e.prior_weight, &e.contributions, e.threshold);
    let page = idresolve::htmlreport::waterfall_page(&title, [side(&e.a), side(&e.b)], fall)?;
    let mut f = super::create_new(path, "--html")?;
    f.write_all(page.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
