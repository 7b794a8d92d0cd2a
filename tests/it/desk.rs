//! `idresolve serve`: the agent desk, tested against the real binary on a loopback port —
//! the API's contract, hostile requests, the token, graceful shutdown, and the page as
//! headless Chromium renders it (skipped with a message when Chromium is absent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{csv_rows, root, run_ok};

/// A running `idresolve serve`, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(out: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("idresolve"))
            .args(["serve", "--quiet", "--listen", "127.0.0.1:0", "--out"])
            .arg(out)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("serve prints its address");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, base }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into()
    }

    /// GET `path`: status and body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut r = Server::agent()
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Sends raw bytes as a request and returns the status line's code.
    fn raw(&self, request: &[u8]) -> (u16, String) {
        let addr = self.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).expect("send");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo_run(t: &Path) -> PathBuf {
    let out = t.join("out");
    run_ok(&root().join("fixtures/demo/resolve.toml"), &out);
    out
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn api_finds_the_customer_behind_a_phone_a_case_and_a_golden_id() {
    let t = tempfile::tempdir().unwrap();
    let out = demo_run(t.path());
    let desk = Server::start(&out, &[]);

    // A phone as the caller says it: María García's, written "(555) 987-6543" in warranty.
    let v = desk.json(&format!("/api/lookup?phone={}", enc("555 987 6543")));
    assert_eq!(v["query"], "555 987 6543");
    let first = &v["customers"][0];
    assert!(
        first["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("garc"),
        "{first:#}"
    );
    for key in [
        "golden_id",
        "name",
        "confidence",
        "golden",
        "cases",
        "attention",
    ] {
        assert!(!first[key].is_null(), "{key} missing: {first:#}");
    }
    let cases = first["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        for key in ["source", "case", "date", "record_id", "text"] {
            assert!(c[key].is_string(), "{key} missing: {c:#}");
        }
    }
    // Newest first.
    let dates: Vec<&str> = cases
        .iter()
        .filter_map(|c| c["date"].as_str())
        .filter(|d| !d.is_empty())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");

    // Every case number of the run finds its own customer first.
    let rows = csv_rows(&out.join("cases.csv"));
    assert!(rows.len() > 20);
    for row in &rows {
        let (golden, case) = (&row[0], &row[2]);
        let v = desk.json(&format!("/api/lookup?case={}", enc(case)));
        assert_eq!(
            v["customers"][0]["golden_id"].as_str(),
            Some(golden.as_str()),
            "case {case}"
        );
    }

    // The repeat caller of the demo carries his attention flags on the card.
    let bob = desk.json(&format!("/api/lookup?q={}", enc("T-5002")));
    let flags = bob["customers"][0]["attention"].as_array().unwrap();
    assert!(
        flags.iter().any(|f| f["reason"] == "repeat_support"),
        "{bob:#}"
    );
    let id = bob["customers"][0]["golden_id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = desk.json(&format!("/api/customer/{id}"));
    assert_eq!(one["golden_id"].as_str(), Some(id.as_str()));
    let list = desk.json("/api/attention");
    assert_eq!(
        list["customers"][0]["golden_id"].as_str(),
        Some(id.as_str())
    );
    assert_eq!(desk.get("/api/customer/G9999999").0, 404);
}

#[test]
fn hostile_requests_get_4xx_and_the_desk_keeps_serving() {
    let t = tempfile::tempdir().unwrap();
    let out = demo_run(t.path());
    std::fs::write(t.path().join("secret.txt"), "root:x:0:0").unwrap();
    let desk = Server::start(&out, &[]);
    let long = "7".repeat(100 * 1024);
    let requests: Vec<Vec<u8>> = vec![
        b"GET /api/lookup?q= HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/lookup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        format!("GET /api/lookup?q={long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .into_bytes(),
        b"GET /api/lookup?q=%FF%FE%80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/lookup?q=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /%2e%2e/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
        b"GET /api/customer/..%2F..%2Fsecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
        b"GET /index/meta.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /run.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /api/lookup?q=a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
            .to_vec(),
        b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/lookup?q=a&limit=100000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .to_vec(),
        b"GET /attention?page=-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"NONSENSE\r\n\r\n".to_vec(),
    ];
    for r in &requests {
        let (code, text) = desk.raw(r);
        let shown = String::from_utf8_lossy(&r[..r.len().min(60)]).into_owned();
        assert!((400..500).contains(&code), "{shown:?} got {code}");
        assert!(!text.contains("root:x"), "{shown:?} served a file");
    }
    // Still serving.
    let v = desk.json(&format!("/api/lookup?case={}", enc("T-5001")));
    assert!(v["customers"][0]["golden_id"].is_string());
}

#[test]
fn a_token_is_required_when_set_and_beyond_loopback() {
    let t = tempfile::tempdir().unwrap();
    let out = demo_run(t.path());
    let token = "s3cret-token-0123456789";
    let desk = Server::start(&out, &["--token", token]);
    assert_eq!(desk.get("/api/lookup?q=Smith").0, 401);
    let r = Server::agent()
        .get(&format!("{}/api/lookup?q=Smith", desk.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The page takes ?token= once and keeps it in a cookie, out of the URL.
    let (code, text) = desk.raw(
        format!("GET /?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(code, 303, "{text}");
    assert!(text
        .to_ascii_lowercase()
        .contains("set-cookie: idresolve_token="));
    let (code, _) = desk.raw(
        format!("GET /?q=Smith HTTP/1.1\r\nHost: x\r\nCookie: idresolve_token={token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(code, 200);

    // Anything but loopback without a token is refused before listening.
    let o = Command::new(assert_cmd::cargo::cargo_bin("idresolve"))
        .args(["serve", "--quiet", "--listen", "0.0.0.0:0", "--out"])
        .arg(&out)
        .env_remove("IDRESOLVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--token"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_desk_cleanly() {
    let t = tempfile::tempdir().unwrap();
    let out = demo_run(t.path());
    let mut desk = Server::start(&out, &[]);
    assert_eq!(desk.get("/").0, 200);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(desk.child.id() as i32, libc::SIGTERM) };
    let mut status = None;
    // Up to 30 s: a loaded machine running the whole suite once took over 5 s here.
    for _ in 0..600 {
        if let Some(s) = desk.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "did not stop on SIGTERM"
    );
}

/// Chromium as the distribution installs it, if it is here.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .find(|p| p.is_file())
}

pub fn headless(chromium: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_page_shows_the_whole_history_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: Chromium not found (apt-get install chromium); the desk page was not rendered");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let out = demo_run(t.path());
    let desk = Server::start(&out, &[]);
    // The caller gives his phone as he says it; the agent types it as heard.
    let url = format!("{}/?q={}", desk.base, enc("555-123-4567"));
    let o = headless(&chromium, &t.path().join("profile"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        dom.contains("id=\"customer\""),
        "no customer card: {dom}\n{log}"
    );
    assert!(dom.contains("id=\"timeline\""), "no timeline: {dom}");
    // The household phone: Jennifer and Robert both; each card lists every system's cases.
    assert!(dom.contains("Other possible customers"), "{dom}");
    let robert = format!("{}/?q={}", desk.base, enc("T-5002"));
    let o = headless(
        &chromium,
        &t.path().join("profile"),
        &["--dump-dom", &robert],
    );
    let dom = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "T-5001",
        "T-5003",
        "W-1001",
        "A-77",
        "O-9002",
        "repeat support",
        "laptop will not boot",
    ] {
        assert!(dom.contains(needle), "{needle} not on the card: {dom}");
    }
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(!log.contains("Uncaught"), "script error: {log}");
}

#[test]
fn a_phone_without_country_code_is_also_tried_in_the_sources_regions() {
    // The European fixture: default region DE, a French billing system. A French mobile
    // written the French way must find its French owner, not a German number.
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run_ok(&root().join("fixtures/intl/resolve.toml"), &out);
    let desk = Server::start(&out, &[]);
    let v = desk.json(&format!("/api/lookup?phone={}", enc("06.12.34.56.78")));
    let name = v["customers"][0]["name"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(name.contains("martin"), "{v:#}");
}
