//! Snapshots of what people read: `explain`, `lookup`, the run summary and `--help`.
//! A change to any of them shows up as a diff to review (`cargo insta review`, or set
//! `INSTA_UPDATE=always` and read `git diff`).

use assert_cmd::Command;

use crate::util::root;

fn text(args: &[&str]) -> (String, String) {
    let o = Command::cargo_bin("idresolve")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success() || args.contains(&"--help"), "{args:?}");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn demo_run_summary_explain_and_lookup() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let o = out.to_str().unwrap();
    let config = root().join("fixtures/demo/resolve.toml");
    let (_, summary) = text(&["run", "--config", config.to_str().unwrap(), "--out", o]);
    // Timings and the temporary folder differ from run to run.
    let summary: String = summary
        .lines()
        .filter(|l| !l.starts_with("time:"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("run_summary", summary);
    let (explain, _) = text(&["explain", "--out", o, "warranty:W-1001", "support:T-5003"]);
    insta::assert_snapshot!("explain", explain);
    let (lookup, _) = text(&["lookup", "--out", o, "--phone", "(555) 123-4567"]);
    insta::assert_snapshot!("lookup_phone", lookup);
}

#[test]
fn help_texts() {
    for cmd in ["run", "lookup", "explain", "evaluate", "generate"] {
        let (help, _) = text(&[cmd, "--help"]);
        insta::assert_snapshot!(format!("help_{cmd}"), help);
    }
    let (help, _) = text(&["--help"]);
    insta::assert_snapshot!("help", help);
}
