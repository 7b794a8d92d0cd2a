//! `idresolve init`: drafts a config from the exports (see `idresolve::init`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The exports (CSV, TSV, `;`-separated; any encoding a run reads).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the draft to this file (never replaced: an existing file is an error).
    /// Without it the draft goes to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = match &args.out {
        Some(p) => p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".")),
        None => PathBuf::from("."),
    };
    let text = idresolve::init::init(&args.files, &base)?;
    match &args.out {
        None => {
            std::io::stdout().write_all(text.as_bytes())?;
        }
        Some(path) => {
            let mut f = super::create_new(path, "--out")?;
            f.write_all(text.as_bytes())
                .map_err(|e| idresolve::Error::Io {
                    path: path.clone(),
                    cause: e,
                })?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
