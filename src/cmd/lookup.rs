//! `idresolve lookup` (placeholder).

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub out: PathBuf,
    pub query: Option<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(idresolve::Error::Usage("lookup is not implemented yet".into()).into())
}
