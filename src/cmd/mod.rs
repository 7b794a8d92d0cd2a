//! Subcommands: one module each, each with its arguments and one `run`.

pub mod evaluate;
pub mod explain;
pub mod generate;
pub mod init;
pub mod lookup;
pub mod progress;
pub mod run;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cross-system customer identity resolution: link CSV exports that share no key into
/// golden customer IDs.
#[derive(Debug, Parser)]
#[command(name = "idresolve", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads (default: all cores; at most 256). Results are identical for any count.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// No progress bars or summary on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Draft a config (resolve.toml) from the exports: columns placed by name and values.
    Init(init::Args),
    /// Resolve the exports named in a config into golden customer IDs.
    Run(run::Args),
    /// Show why two records of a finished run were (or were not) linked.
    Explain(explain::Args),
    /// Find a customer's whole history by phone, e-mail, serial, name or case number.
    Lookup(lookup::Args),
    /// Serve the agent desk: a customer's whole history in the browser, and the
    /// attention list (HTTP, read-only, loopback unless a token is set).
    Serve(serve::Args),
    /// Score a mapping against ground truth (precision, recall, F1).
    Evaluate(evaluate::Args),
    /// Write synthetic exports with ground truth, for testing and benchmarks.
    Generate(generate::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `idresolve man > idresolve.1`.
    Man,
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()
            .map_err(|e| idresolve::Error::Usage(format!("--threads: {e}")))?;
    }
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Run(a) => run::run(a, cli.quiet),
        Command::Explain(a) => explain::run(a),
        Command::Lookup(a) => lookup::run(a),
        Command::Serve(a) => serve::run(a, cli.quiet),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Generate(a) => generate::run(a, cli.quiet),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "idresolve", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Creates `path` for writing only if nothing is there: a command that writes a file
/// the user named never replaces one. `flag` names the option in the error.
pub fn create_new(path: &std::path::Path, flag: &str) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "exists; it is never replaced (choose another name)".to_string()
            } else {
                e.to_string()
            };
            idresolve::Error::Usage(format!("{flag} {}: {why}", path.display())).into()
        })
}

/// Runs a side command's work over a run folder, turning a panic inside a library that
/// reads its files (a damaged index segment, a truncated store) into a clear error.
pub fn guard_damaged<T>(
    out: &std::path::Path,
    work: impl FnOnce() -> idresolve::Result<T>,
) -> anyhow::Result<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    std::panic::set_hook(previous);
    match result {
        Ok(r) => Ok(r?),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(idresolve::Error::input(
                out,
                format!(
                    "the run folder looks damaged ({what}); run `idresolve run` again to rebuild it"
                ),
            )
            .into())
        }
    }
}
