//! `idresolve serve`: the agent desk over a finished run (see `idresolve::desk`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use idresolve::desk::Desk;

/// Environment variable that may hold the token instead of `--token`.
pub const TOKEN_ENV: &str = "IDRESOLVE_TOKEN";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder of a finished run.
    #[arg(long)]
    pub out: PathBuf,
    /// Address to listen on. Anything but loopback needs a token; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A secret every request must carry (`Authorization: Bearer TOKEN`, or open
    /// `/?token=TOKEN` once in the browser). Also read from IDRESOLVE_TOKEN.
    #[arg(long)]
    pub token: Option<String>,
    /// Do not log requests on stderr (the log names the route and status, never the
    /// query or the customer).
    #[arg(long)]
    pub no_request_log: bool,
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<ExitCode> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var(TOKEN_ENV).ok())
        .filter(|t| !t.trim().is_empty());
    if !args.listen.ip().is_loopback() && token.is_none() {
        return Err(idresolve::Error::Usage(format!(
            "--listen {}: the desk shows customer data; to serve beyond this machine set --token (or {TOKEN_ENV})",
            args.listen
        ))
        .into());
    }
    if token.as_deref().is_some_and(|t| t.len() < 16) {
        return Err(
            idresolve::Error::Usage("the token must be at least 16 characters".into()).into(),
        );
    }
    let out = args.out.clone();
    let desk = super::guard_damaged(&out, || {
        Desk::open(&out, token.clone(), !(quiet || args.no_request_log))
    })?;
    // Lookups read files and search the index synchronously, on tokio's blocking pool: a
    // few threads per core keep the cores busy without piling up runnable threads.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(4 * cores)
        .enable_all()
        .thread_name("idresolve-desk")
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| idresolve::Error::Usage(format!("--listen {}: {e}", args.listen)))?;
        let local = listener.local_addr()?;
        // The address on stdout (a script or test reads it when the port was 0).
        println!("idresolve desk: http://{local}/ (run {})", out.display());
        if !quiet {
            eprintln!(
                "{} customers on the attention list; Ctrl-C stops{}",
                desk.attention_customers,
                if token.is_some() {
                    "; a token is required"
                } else {
                    ""
                }
            );
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        idresolve::desk::serve(listener, Arc::new(desk)).await?;
        if !quiet {
            eprintln!("idresolve desk: stopped");
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
