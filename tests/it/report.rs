//! `report.html` (every run) and `explain --html`: self-contained pages that render in a
//! real browser (headless Chromium; skipped with a message when absent).

use crate::desk::{chromium, headless};
use crate::util::{idresolve, ok, root, run_ok};

#[test]
fn every_run_writes_a_self_contained_report_that_renders() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run_ok(&root().join("fixtures/demo/resolve.toml"), &out);
    let path = out.join("report.html");
    let html = std::fs::read_to_string(&path).expect("report.html");
    // Nothing is fetched: no external reference of any kind.
    for banned in ["http://", "https://", "<script", "src=", "@import"] {
        assert!(!html.contains(banned), "report.html contains {banned}");
    }
    for id in [
        "id=\"run\"",
        "id=\"sources\"",
        "id=\"model\"",
        "id=\"scores\"",
        "id=\"clusters\"",
        "id=\"borderline\"",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
    // The model's levels and the borderline pairs' waterfalls are drawn.
    assert!(html.matches("<rect").count() > 50);
    assert!(html.contains("shared_case_number"));
    assert!(html.contains("class=\"fall\""));

    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED: Chromium not found (apt-get install chromium); report.html was not rendered"
        );
        return;
    };
    let url = format!("file://{}", path.display());
    let o = headless(&chromium, &t.path().join("profile"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(dom.contains("idresolve run report"), "not rendered: {dom}");
    assert!(dom.contains("<svg"), "no charts in the DOM");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(!log.contains("Uncaught"), "script error: {log}");
}

#[test]
fn explain_html_draws_the_waterfall_and_never_replaces_a_file() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run_ok(&root().join("fixtures/demo/resolve.toml"), &out);
    let page = t.path().join("pair.html");
    let args = [
        "explain",
        "--out",
        out.to_str().unwrap(),
        "warranty:W-1001",
        "support:T-5003",
        "--html",
        page.to_str().unwrap(),
    ];
    ok(&args);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("W-1001") && html.contains("T-5003"));
    assert!(html.contains("prior") && html.contains("total"));
    let again = idresolve(&args);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&page).unwrap(), html);
}
