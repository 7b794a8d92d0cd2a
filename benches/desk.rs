//! The agent desk under load, and how often it puts the right customer first.
//!
//! `cargo bench --bench desk -- OUT [REQUESTS] [CONCURRENCY]` starts `idresolve serve`
//! over the finished run in OUT on a loopback port (nothing leaves the machine), then:
//!
//! 1. accuracy: every sampled record's phone, rewritten the way another caller would say
//!    it (another format), and every sampled case number, asked of `/api/lookup`; the
//!    right customer is the golden ID `mapping.csv` gives that record;
//! 2. load: REQUESTS (default 2000) lookups — phones, case numbers, e-mails, names — at
//!    CONCURRENCY (default 16) connections; prints errors and latency percentiles.
//!
//! The requests are bounded (a fixed count) and go to 127.0.0.1 only.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Desk(Child, String);

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(out: &Path) -> Desk {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idresolve"))
        .args(["serve", "--quiet", "--listen", "127.0.0.1:0", "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("idresolve serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("address printed")
        .trim_end_matches('/')
        .to_string();
    Desk(child, base)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The phone as another system or caller writes it: same digits, another layout.
fn rewritten(raw: &str) -> Option<String> {
    let d: String = raw.chars().filter(char::is_ascii_digit).collect();
    let international = raw.trim_start().starts_with('+') || raw.trim_start().starts_with("00");
    Some(match d.len() {
        // A national number with a trunk 0 (Europe, Australia): the same digits in
        // another grouping ("06 12 34 56 78" -> "06.12.34.56.78", "030 12345678" ->
        // "030/123 456 78").
        _ if !international && d.starts_with('0') && d.len() >= 9 => {
            if raw.contains(' ') {
                d.as_bytes()
                    .chunks(2)
                    .map(|c| std::str::from_utf8(c).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(".")
            } else {
                format!("{}/{}", &d[..3], &d[3..])
            }
        }
        10 if !international && raw.contains('(') => {
            format!("{}.{}.{}", &d[..3], &d[3..6], &d[6..])
        }
        10 if !international => format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        11 if d.starts_with('1') => format!("+1 {} {} {}", &d[1..4], &d[4..7], &d[7..]),
        n if n >= 8 && international => {
            let d = d.trim_start_matches("00");
            // Spaced in threes after a two-digit country code.
            let (cc, rest) = d.split_at(2);
            let groups: Vec<&str> = rest
                .as_bytes()
                .chunks(3)
                .map(|c| std::str::from_utf8(c).unwrap_or(""))
                .collect();
            format!("+{cc} {}", groups.join(" "))
        }
        _ => return None,
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// The first customer's golden ID for a lookup, or the error.
fn first(agent: &ureq::Agent, base: &str, query: &str) -> Result<Option<String>, String> {
    let mut r = agent
        .get(&format!("{base}/api/lookup?{query}&limit=3"))
        .call()
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(v["customers"][0]["golden_id"].as_str().map(str::to_string))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(out) = args.first().map(PathBuf::from) else {
        eprintln!("usage: cargo bench --bench desk -- OUT [REQUESTS] [CONCURRENCY]");
        return;
    };
    let requests: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);

    let mut golden: HashMap<(String, String), String> = HashMap::new();
    let mut mapping = csv::Reader::from_path(out.join("mapping.csv")).expect("mapping.csv");
    for row in mapping.records() {
        let row = row.expect("row");
        golden.insert((row[0].to_string(), row[1].to_string()), row[2].to_string());
    }
    // The desk's own row file: each record as written (source, id, date, name, e-mail,
    // phone, serials, address, cases, note).
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(out.join("index/records.csv"))
        .expect("index/records.csv");
    let mut phones = Vec::new();
    let mut cases = Vec::new();
    let mut mix = Vec::new();
    for (i, row) in rows.records().enumerate() {
        let row = row.expect("row");
        let Some(g) = golden.get(&(row[0].to_string(), row[1].to_string())) else {
            continue;
        };
        // A fixed, spread sample: every 7th record.
        if i % 7 != 0 {
            continue;
        }
        if let Some(p) = rewritten(&row[5]) {
            phones.push((format!("phone={}", enc(&p)), g.clone()));
        }
        // The record's own case number (a claim also lists the ticket it cites, which
        // is the ticket's own record's case).
        let own: Vec<&str> = row[8].split(';').filter(|c| !c.is_empty()).collect();
        if let Some(c) = own.iter().find(|c| **c == &row[1]).or(own.first()) {
            cases.push((format!("case={}", enc(c)), g.clone()));
        }
        if !row[4].is_empty() {
            mix.push(format!("q={}", enc(&row[4])));
        }
        if !row[3].is_empty() {
            mix.push(format!("q={}", enc(&row[3])));
        }
    }
    phones.truncate(2000);
    cases.truncate(2000);

    let desk = start(&out);
    let agent = agent();
    for (what, sample) in [("reformatted phones", &phones), ("case numbers", &cases)] {
        let (mut right, mut errors) = (0, 0);
        for (query, expected) in sample.iter() {
            match first(&agent, &desk.1, query) {
                Ok(Some(g)) if &g == expected => right += 1,
                Ok(_) => {}
                Err(_) => errors += 1,
            }
        }
        println!(
            "{what}: right customer first {right}/{} ({:.2} %), errors {errors}",
            sample.len(),
            100.0 * right as f64 / sample.len().max(1) as f64
        );
    }

    // Load: phones, cases and free text in turn.
    let queries: Vec<String> = (0..requests)
        .map(|i| match i % 3 {
            0 if !phones.is_empty() => phones[i / 3 % phones.len()].0.clone(),
            1 if !cases.is_empty() => cases[i / 3 % cases.len()].0.clone(),
            _ if !mix.is_empty() => mix[i / 3 % mix.len()].clone(),
            _ => "q=Smith".to_string(),
        })
        .collect();
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(requests));
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let agent = self::agent();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= queries.len() {
                        break;
                    }
                    let t = Instant::now();
                    if first(&agent, &desk.1, &queries[i]).is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.lock().unwrap().push(t.elapsed());
                }
            });
        }
    });
    let wall = started.elapsed();
    let mut l = latencies.into_inner().unwrap();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "load: {requests} requests at concurrency {concurrency}: {} errors, {:.0} req/s, latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        errors.load(Ordering::Relaxed),
        requests as f64 / wall.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(pct(1.0)),
    );
}
