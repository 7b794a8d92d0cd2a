//! Subcommands: one module each, each with its arguments and one `run`.

pub mod evaluate;
pub mod explain;
pub mod generate;
pub mod lookup;
pub mod progress;
pub mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cross-system customer identity resolution: link CSV exports that share no key into
/// golden customer IDs.
#[derive(Debug, Parser)]
#[command(name = "idresolve", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads (default: all cores). Results are identical for any count.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// No progress bars or summary on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve the exports named in a config into golden customer IDs.
    Run(run::Args),
    /// Show why two records of a finished run were (or were not) linked.
    Explain(explain::Args),
    /// Find a customer's whole history by phone, e-mail, serial, name or case number.
    Lookup(lookup::Args),
    /// Score a mapping against ground truth (precision, recall, F1).
    Evaluate(evaluate::Args),
    /// Write synthetic exports with ground truth, for testing and benchmarks.
    Generate(generate::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .map_err(|e| idresolve::Error::Usage(format!("--threads: {e}")))?;
    }
    match cli.command {
        Command::Run(a) => run::run(a, cli.quiet),
        Command::Explain(a) => explain::run(a),
        Command::Lookup(a) => lookup::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Generate(a) => generate::run(a, cli.quiet),
    }
}
