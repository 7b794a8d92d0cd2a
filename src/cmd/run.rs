//! `idresolve run`: config → golden IDs in an output folder.

use std::path::PathBuf;
use std::process::ExitCode;

use idresolve::{Config, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file (TOML), see docs/config.md.
    #[arg(long)]
    pub config: PathBuf,
    /// Output folder: created, or replaced atomically when the run completes if it is
    /// empty or an earlier idresolve output (anything else is refused).
    #[arg(long)]
    pub out: PathBuf,
    /// Reuse a trained model.json instead of training (scheduled jobs).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Output folder of the previous run: customers keep their golden IDs.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Also write pairs.csv with every scored candidate pair.
    #[arg(long)]
    pub emit_pairs: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    // The output folder is checked (and locked) before any work: a run that would
    // destroy a user's files is refused at once.
    let mut protected = vec![args.config.clone()];
    protected.extend(config.sources.iter().map(|s| s.path.clone()));
    protected.extend(args.model.iter().cloned());
    let out_dir = idresolve::outdir::OutputDir::prepare(&args.out, &protected)?;
    let options = Options {
        model: args.model,
        previous: args.previous,
        emit_pairs: args.emit_pairs,
    };
    let bars = super::progress::Bars::new(quiet);
    let resolution = idresolve::resolve(&config, &options, &bars)?;
    let report = idresolve::output::write(
        &resolution,
        &args.config,
        out_dir.staging(),
        &options,
        &bars,
    )?;
    out_dir.commit()?;
    if !quiet {
        eprintln!(
            "records {} in, {} accepted, {} rejected{} · {} profiles · {} candidate pairs ({:.1} per record) · {} links, {} refused · {} golden IDs",
            report.records_in,
            report.records_accepted,
            report.records_rejected,
            if report.records_rejected > 0 { " (see rejected.csv)" } else { "" },
            report.profiles,
            report.candidates.profile_pairs,
            report.candidates.per_record_mean,
            report.clustering.merges,
            report.clustering.refused_different_first_names
                + report.clustering.refused_household_contact_only
                + report.clustering.refused_conflicting_dob
                + report.clustering.refused_conflicting_id,
            report.golden_ids,
        );
        let times: Vec<String> = report
            .seconds
            .iter()
            .map(|(s, t)| format!("{s} {t:.2}s"))
            .collect();
        eprintln!(
            "time: {} · output in {}",
            times.join(", "),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
