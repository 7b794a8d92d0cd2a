//! Helpers shared by the integration tests: the fixture root and the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the real `idresolve` binary with `--quiet`.
pub fn idresolve(args: &[&str]) -> Output {
    Command::cargo_bin("idresolve")
        .expect("binary")
        .args(args)
        .arg("--quiet")
        .output()
        .expect("runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `idresolve ARGS`, asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = idresolve(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rows of a CSV file (header excluded).
pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.records()
        .map(|row| row.expect("row").iter().map(str::to_string).collect())
        .collect()
}

/// `idresolve run --config CONFIG --out OUT --previous PREVIOUS`, quiet; asserts success.
pub fn run_previous(config: &Path, out: &Path, previous: &Path) {
    ok(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--previous",
        previous.to_str().unwrap(),
    ]);
}

/// `idresolve run --config CONFIG --out OUT`, quiet.
pub fn run(config: &Path, out: &Path) -> Output {
    idresolve(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// [`run`], asserting success.
pub fn run_ok(config: &Path, out: &Path) {
    let o = run(config, out);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
}

/// A copy of the demo (exports and config) in `dir/demo`, for tests that edit it;
/// returns its config.
pub fn demo_copy(dir: &Path) -> PathBuf {
    let d = dir.join("demo");
    std::fs::create_dir_all(&d).unwrap();
    for e in std::fs::read_dir(root().join("fixtures/demo")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
    }
    d.join("resolve.toml")
}
