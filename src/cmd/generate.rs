//! `idresolve generate`: synthetic exports with ground truth.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of real customers behind the records (1 to 100,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub customers: u64,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder for the exports, resolve.toml and truth.csv.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<ExitCode> {
    let g = idresolve::generate::generate(args.customers, args.seed, &args.out)?;
    if !quiet {
        let per: Vec<String> = g
            .per_source
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        eprintln!(
            "{} customers, {} records ({}) in {}",
            g.customers,
            g.records,
            per.join(", "),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
