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
    /// With --previous: normalize, search, score and cluster again only what changed
    /// since that run (new, changed and removed records and the customers they touch),
    /// with its model; everything else is carried over. See docs/guide.md.
    #[arg(long, requires = "previous", conflicts_with = "model")]
    pub incremental: bool,
    /// Also write pairs.csv with every scored candidate pair.
    #[arg(long)]
    pub emit_pairs: bool,
    /// Format of mapping, golden, cases, links, attention and pairs: csv, parquet or
    /// jsonl (typed columns in Parquet and JSON Lines).
    #[arg(long, default_value = "csv", value_parser = ["csv", "parquet", "jsonl"])]
    pub output_format: String,
}

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the `libmimalloc-sys` of
/// Cargo.lock; its Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Peak resident memory of a run per byte of its exports when freed memory is kept,
/// measured on generated four-system exports: 1M records, 104 MB of CSV, 2.26 GiB
/// (`/usr/bin/time`), ~23 bytes a byte.
const PEAK_PER_INPUT_BYTE: u64 = 24;

/// A run is a batch: memory it frees is kept for its next allocation instead of being
/// handed back to the system after a delay. The stages free and allocate gigabytes in
/// turn, and every page handed back is zeroed again by the kernel when it is taken anew
/// (page clearing was a third of ingest's and clustering's samples at 1M records).
/// Measured at 1M, same binary and files: 57.1 s -> 52.4 s, peak RSS +0.14 GiB.
///
/// Kept memory is not free, though: at 1M records it is ~0.4 GiB above what the run
/// holds at its fullest (2.26 against 1.86 GiB with memory handed back after 100 ms, in
/// 55-56 against 56-61 s). A run whose exports make it likely to need more than half
/// of the memory the system has available hands freed memory back after 100 ms
/// instead: the ten-million-record run (1.05 GB of exports) needs that to stay within
/// 16 GiB.
///
/// Returns whether memory is tight by that measure: such a run also moves the records'
/// details out of memory until the output needs them ([`Options::spill_details`]).
fn choose_memory_policy(inputs: &[std::path::PathBuf]) -> bool {
    let input_bytes: u64 = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let delay_ms = match available_memory() {
        Some(avail) if input_bytes.saturating_mul(PEAK_PER_INPUT_BYTE) > avail / 2 => 100,
        _ => -1,
    };
    // SAFETY: mi_option_set only stores an option value; mimalloc reads it atomically.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms);
    }
    delay_ms >= 0
}

/// `MemAvailable` of /proc/meminfo, in bytes (None where there is none).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// An incremental run gives up transparent huge pages. It allocates big tables it
/// touches once or sparsely (last night's profiles, rows and edges, read back and
/// merged), and the kernel clears every 2 MiB page in full when it is first touched:
/// page clearing was 17 % of a 1M night's samples. A full run keeps them: its index,
/// search and clustering walk large tables at random, where fewer TLB misses pay for
/// the clearing. Measured at 1M, alternating, same binary: night 19.6 -> 17.1 s
/// (mean of four) without huge pages; full run 64-65 s with, 72-75 s without.
fn huge_pages(incremental: bool) {
    #[cfg(target_os = "linux")]
    if incremental {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and sets a flag of this
        // process; a kernel without it returns an error, which changes nothing.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    let _ = incremental;
}

pub fn run(args: Args, quiet: bool) -> anyhow::Result<ExitCode> {
    huge_pages(args.incremental);
    let config = Config::load(&args.config)?;
    let tight = choose_memory_policy(
        &config
            .sources
            .iter()
            .map(|s| s.path.clone())
            .collect::<Vec<_>>(),
    );
    // The output folder is checked (and locked) before any work: a run that would
    // destroy a user's files is refused at once.
    let mut protected = vec![args.config.clone()];
    protected.extend(config.sources.iter().map(|s| s.path.clone()));
    protected.extend(args.model.iter().cloned());
    protected.extend(config.matching.overrides.iter().cloned());
    let out_dir = idresolve::outdir::OutputDir::prepare(&args.out, &protected)?;
    let options = Options {
        model: args.model,
        previous: args.previous,
        emit_pairs: args.emit_pairs,
        incremental: args.incremental,
        output_format: idresolve::tabular::Format::parse(&args.output_format).unwrap_or_default(),
        work_dir: Some(out_dir.staging().to_path_buf()),
        spill_details: tight,
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
    // Millions of small allocations: the process is about to exit, and the system takes
    // its memory back at once (freeing them one by one took seconds at 1M records).
    std::mem::forget(resolution);
    // Values a normalizer refused as invalid are data the run did not use: say so,
    // quiet or not. (Placeholders such as `N/A` are missing on purpose: counted only.)
    for src in &report.sources {
        for f in &src.fields {
            let given = f.filled - f.refused_placeholder.min(f.filled);
            if given > 0 && f.refused_invalid * 20 > given {
                eprintln!(
                    "warning: source `{}`: {} refused as invalid in {} of {} filled cells ({:.1}%); see run.json",
                    src.name,
                    f.field,
                    f.refused_invalid,
                    given,
                    100.0 * f.refused_invalid as f64 / given as f64,
                );
            }
        }
        if src.ambiguous_dates > 0 && !quiet {
            eprintln!(
                "note: source `{}`: {} dates could be day- or month-first and were read as {} (set date_order to change)",
                src.name, src.ambiguous_dates, src.date_order
            );
        }
    }
    if let Some(o) = &report.overrides {
        let lines = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        if !o.stale_lines.is_empty() {
            eprintln!(
                "warning: overrides: {} rows name a record not in tonight's data (lines {}); they were skipped",
                o.stale_lines.len(),
                lines(&o.stale_lines)
            );
        }
        if !o.refused_lines.is_empty() {
            eprintln!(
                "warning: overrides: {} links would put an unlinked pair together and were not applied (lines {})",
                o.refused_lines.len(),
                lines(&o.refused_lines)
            );
        }
    }
    if !quiet {
        for src in &report.sources {
            eprintln!(
                "  {:<16} rows {} = {} accepted + {} rejected{}",
                src.name,
                src.rows,
                src.accepted,
                src.rejected,
                if src.rows_with_trailing_empty_fields > 0 {
                    format!(
                        " ({} with a trailing delimiter)",
                        src.rows_with_trailing_empty_fields
                    )
                } else {
                    String::new()
                }
            );
        }
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
                + report.clustering.refused_conflicting_id
                + report.clustering.refused_impersonal_profile,
            report.golden_ids,
        );
        if let Some(o) = &report.overrides {
            eprintln!(
                "overrides: {} applied, {} already satisfied, {} refused, {} stale, {} undecided",
                o.applied,
                o.already_satisfied,
                o.refused_lines.len(),
                o.stale_lines.len(),
                o.undecided
            );
        }
        if let Some(n) = &report.records_since_previous {
            eprintln!(
                "since the previous run: {} records new, {} changed, {} unchanged, {} removed",
                n.new, n.changed, n.unchanged, n.removed
            );
        }
        if let Some(i) = &report.incremental {
            eprintln!(
                "incremental: {} rows normalized, {} new profiles ({} re-indexed), {} new pairs; {} customers clustered again ({} records), {} carried over",
                i.rows_normalized,
                i.profiles_new,
                i.profiles_reindexed,
                i.pairs_new,
                i.customers_reclustered,
                i.records_reclustered,
                i.customers_carried
            );
            for why in &i.full_run_advised {
                eprintln!("advice: run without --incremental tonight or soon: {why}");
            }
        }
        if let Some(changes) = &report.id_changes {
            let kept = report.golden_ids_kept_from_previous.unwrap_or(0);
            let kinds: Vec<String> = ["new", "merged", "split", "moved", "removed"]
                .iter()
                .map(|k| format!("{} {k}", changes.get(*k).copied().unwrap_or(0)))
                .collect();
            eprintln!(
                "golden IDs (run {}): {kept} kept · {} (see changes.csv)",
                report.run,
                kinds.join(", ")
            );
        }
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
