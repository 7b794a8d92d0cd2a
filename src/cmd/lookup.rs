//! `idresolve lookup`: one customer's whole history from a phone, e-mail, serial, case
//! number or name, from a finished run's saved index.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use idresolve::lookup::{Answer, Lookup, QueryKind};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["query", "phone", "email", "serial", "case", "name", "id", "batch"]).required(true)))]
pub struct Args {
    /// Output folder of a finished run.
    #[arg(long)]
    pub out: PathBuf,
    /// Free text: tried as phone, e-mail, serial, case number and name.
    pub query: Option<String>,
    /// A phone number in any format ("(555) 123-4567", "+1 555 123 4567").
    #[arg(long)]
    pub phone: Option<String>,
    /// An e-mail address (case, plus-tags and gmail dots do not matter).
    #[arg(long)]
    pub email: Option<String>,
    /// A serial number; one character off still finds its owner.
    #[arg(long)]
    pub serial: Option<String>,
    /// A case number, claim or order as any source wrote it.
    #[arg(long)]
    pub case: Option<String>,
    /// A name in any order or spelling ("SMITH, Robert", "bob smith").
    #[arg(long)]
    pub name: Option<String>,
    /// A golden ID, also one merged into another since (it says what it became). Free
    /// text that looks like a golden ID (`G0000123`) is looked up as one.
    #[arg(long)]
    pub id: Option<String>,
    /// A file with one query per line (free text, or `phone:…`, `email:…`, `serial:…`,
    /// `case:…`, `name:…`); prints one line per query.
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// How many customers to list (1 to 1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn typed(line: &str) -> (QueryKind, &str) {
    for (prefix, kind) in [
        ("phone:", QueryKind::Phone),
        ("email:", QueryKind::Email),
        ("serial:", QueryKind::Serial),
        ("case:", QueryKind::Case),
        ("name:", QueryKind::Name),
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return (kind, rest.trim());
        }
    }
    (QueryKind::Any, line.trim())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let out_dir = args.out.clone();
    let lookup = super::guard_damaged(&out_dir, || Lookup::open(&out_dir))?;
    let query = |kind, text: &str, limit: usize, full: bool| {
        super::guard_damaged(&out_dir, || lookup.query(kind, text, limit, full))
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(batch) = &args.batch {
        let file = std::fs::File::open(batch).map_err(|e| idresolve::Error::Io {
            path: batch.clone(),
            cause: e,
        })?;
        let mut misses = 0;
        let mut reader = std::io::BufReader::new(file);
        let mut bytes = Vec::new();
        let mut number = 0u64;
        loop {
            bytes.clear();
            let n = reader
                .read_until(b'\n', &mut bytes)
                .map_err(|e| idresolve::Error::Io {
                    path: batch.clone(),
                    cause: e,
                })?;
            if n == 0 {
                break;
            }
            number += 1;
            let Ok(line) = std::str::from_utf8(&bytes) else {
                eprintln!("{}:{number}: not UTF-8 text; line skipped", batch.display());
                misses += 1;
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"query": String::from_utf8_lossy(&bytes).trim_end(), "line": number, "error": "not UTF-8 text", "customers": []})
                    )?;
                }
                continue;
            };
            let line = line.trim_end_matches(['\r', '\n']);
            if line.trim().is_empty() {
                continue;
            }
            let (kind, text) = typed(line);
            let answers = query(kind, text, 1, false)?;
            match answers.first() {
                Some(a) if args.json => writeln!(
                    out,
                    "{}",
                    serde_json::json!({"query": line, "customers": [{"golden_id": a.golden.golden_id, "name": a.golden.name, "confidence": a.confidence}]})
                )?,
                Some(a) => writeln!(
                    out,
                    "{line}\t{}\t{}\t{:.2}",
                    a.golden.golden_id, a.golden.name, a.confidence
                )?,
                None if args.json => {
                    misses += 1;
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"query": line, "customers": []})
                    )?
                }
                None => {
                    misses += 1;
                    writeln!(out, "{line}\t\t\t0")?
                }
            }
        }
        return Ok(if misses > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let by_id = args.id.as_deref().or(args
        .query
        .as_deref()
        .filter(|q| idresolve::lookup::looks_like_golden_id(q)));
    if let Some(id) = by_id {
        let (status, answer) = super::guard_damaged(&out_dir, || lookup.by_golden_id(id))?;
        let note = status.note(id);
        let Some(answer) = answer else {
            if args.json {
                writeln!(out, "{}", serde_json::json!([]))?;
            }
            eprintln!("{}", note.unwrap_or_default());
            return Ok(ExitCode::from(1));
        };
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&[answer])?)?;
        } else {
            if let Some(note) = note {
                writeln!(out, "{note}")?;
            }
            print_answers(&mut out, &[answer])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (kind, text) = if let Some(v) = args.phone.as_deref() {
        (QueryKind::Phone, v)
    } else if let Some(v) = args.email.as_deref() {
        (QueryKind::Email, v)
    } else if let Some(v) = args.serial.as_deref() {
        (QueryKind::Serial, v)
    } else if let Some(v) = args.case.as_deref() {
        (QueryKind::Case, v)
    } else if let Some(v) = args.name.as_deref() {
        (QueryKind::Name, v)
    } else {
        (QueryKind::Any, args.query.as_deref().unwrap_or_default())
    };
    let answers = query(kind, text, args.limit as usize, args.json)?;
    if answers.is_empty() {
        if args.json {
            writeln!(out, "[]")?;
        } else {
            eprintln!("no customer matches {text:?}");
        }
        return Ok(ExitCode::from(1));
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answers)?)?;
    } else {
        print_answers(&mut out, &answers)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_answers(out: &mut impl Write, answers: &[Answer]) -> std::io::Result<()> {
    for a in answers {
        let g = &a.golden;
        writeln!(
            out,
            "{}. {}  {}  (confidence {:.2})",
            a.rank, g.golden_id, g.name, a.confidence
        )?;
        if a.rank > 1 {
            continue;
        }
        for f in &a.attention {
            writeln!(out, "   ! {}: {}", f.reason.as_str(), f.detail)?;
        }
        let contact: Vec<String> = [
            ("email", &g.email),
            ("phone", &g.phone),
            ("address", &g.address),
            ("serials", &g.serials),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
        writeln!(out, "   {}", contact.join(" · "))?;
        writeln!(
            out,
            "   {} records ({}) · first seen {} · last seen {}",
            g.records,
            g.sources.replace(';', ", "),
            g.first_seen,
            g.last_seen
        )?;
        for r in &a.records {
            let what: Vec<&str> = [
                r.name.as_str(),
                r.phone.as_str(),
                r.email.as_str(),
                r.serials.as_str(),
                r.note.as_str(),
            ]
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect();
            writeln!(
                out,
                "     {:<10}  {:<9} {:<12} {:<24} {}",
                if r.date.is_empty() { "-" } else { &r.date },
                r.source,
                r.record_id,
                r.cases.replace(';', ", "),
                what.join(" · ")
            )?;
        }
        for o in &a.overrides {
            writeln!(
                out,
                "   steward: {} {} and {} (overrides.csv line {}{}{})",
                o.decision,
                o.a,
                o.b,
                o.line,
                if o.note.is_empty() { "" } else { ": " },
                o.note
            )?;
        }
    }
    Ok(())
}
