//! End-to-end tests: the real `idresolve` binary on the fixtures, in temporary folders.

use std::fs;
use std::path::Path;

use crate::util::{code, csv_rows, idresolve, ok, root, run_ok as run, run_previous, stderr};

/// golden_id of each (source, record_id) in a mapping.
fn golden_of(out: &Path) -> std::collections::HashMap<(String, String), String> {
    csv_rows(&out.join("mapping.csv"))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect()
}

/// `idresolve generate --customers N --seed S --out DIR`.
fn generate(dir: &Path, customers: u32, seed: u32) {
    ok(&[
        "generate",
        "--customers",
        &customers.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        dir.to_str().unwrap(),
    ]);
}

fn run_demo(out: &Path) {
    let config = root().join("fixtures/demo/resolve.toml");
    run(&config, out);
}

#[test]
fn demo_links_the_scattered_records_of_each_customer() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_demo(&out);
    for f in [
        "mapping.csv",
        "golden.csv",
        "cases.csv",
        "links.csv",
        "rejected.csv",
        "model.json",
        "run.json",
        "state.json",
        "index/meta.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let g = golden_of(&out);
    let id = |s: &str, r: &str| g[&(s.to_string(), r.to_string())].clone();
    // Robert Smith of Springfield: warranty claim, account, five tickets, two orders.
    let robert = id("warranty", "W-1001");
    for (s, r) in [
        ("billing", "A-77"),
        ("support", "T-5001"),
        ("support", "T-5003"),
        ("support", "T-5008"),
        ("shop", "O-9001"),
        ("shop", "O-9002"),
    ] {
        assert_eq!(id(s, r), robert, "{s}:{r} should belong to Robert Smith");
    }
    // Jennifer shares his phone and address (a household) and is someone else; so is the
    // other Robert Smith, in Dayton.
    assert_ne!(id("billing", "A-78"), robert);
    assert_ne!(id("billing", "A-82"), robert);
    assert_eq!(id("billing", "A-78"), id("support", "T-5007"));
    // Accents and umlauts: Müller / Mueller.
    assert_eq!(id("warranty", "W-1006"), id("shop", "O-9007"));
    // The ragged shop row is rejected, named and counted, not dropped.
    let rejected = csv_rows(&out.join("rejected.csv"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0][0].as_str(), rejected[0][1].as_str()),
        ("shop", "9")
    );
    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["records_rejected"], 1);
    assert_eq!(run["records_accepted"], g.len());
    // The demo's configured threshold wins over the model's own.
    assert_eq!(run["threshold_from"], "config");
    assert_eq!(run["threshold"], 0.9);
    // Every case number of Robert's, linked under his golden ID.
    let cases: Vec<String> = csv_rows(&out.join("cases.csv"))
        .into_iter()
        .filter(|r| r[0] == robert)
        .map(|r| r[2].clone())
        .collect();
    for c in ["W-1001", "T-5001", "T-5003", "A-77", "O-9002"] {
        assert!(
            cases.iter().any(|x| x == c),
            "case {c} not linked to Robert: {cases:?}"
        );
    }
}

#[test]
fn demo_quality_against_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_demo(&out);
    let truth = root().join("fixtures/demo/truth.csv");
    let json = ok(&[
        "evaluate",
        "--mapping",
        out.join("mapping.csv").to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(e["pairwise_precision"], 1.0, "{e}");
    assert!(e["pairwise_recall"].as_f64().unwrap() >= 0.95, "{e}");
    assert_eq!(e["missing_from_mapping"], 1, "the rejected row is reported");
}

#[test]
fn same_output_for_one_and_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 400, 3);
    let config = data.join("resolve.toml");
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = tmp.path().join(format!("out{threads}"));
        ok(&[
            "run",
            "--threads",
            threads,
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--emit-pairs",
        ]);
        outs.push(out);
    }
    for f in [
        "mapping.csv",
        "golden.csv",
        "cases.csv",
        "links.csv",
        "pairs.csv",
        "model.json",
        "rejected.csv",
        "attention.csv",
        "review.csv",
    ] {
        assert_eq!(
            fs::read(outs[0].join(f)).unwrap(),
            fs::read(outs[1].join(f)).unwrap(),
            "{f} differs between 1 and 2 threads"
        );
    }
    // pairs.csv carries each comparison's level, for analysis in other tools.
    let pairs = fs::read_to_string(outs[0].join("pairs.csv")).unwrap();
    let header = pairs.lines().next().unwrap();
    assert!(
        header.ends_with(
            ",first_name,last_name,email,phone,serial,dob,address,city,postcode,id,case,text"
        ),
        "{header}"
    );
    assert!(pairs.lines().nth(1).unwrap().split(',').count() >= 19);
}

#[test]
fn generate_is_deterministic_for_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate(&a, 200, 9);
    generate(&b, 200, 9);
    for f in [
        "warranty.csv",
        "billing.csv",
        "support.csv",
        "shop.csv",
        "truth.csv",
        "resolve.toml",
    ] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn rerun_with_previous_keeps_golden_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    generate(&full, 600, 5);
    // Last night's exports: every tenth row of each export had not arrived yet.
    let old = tmp.path().join("old");
    fs::create_dir_all(&old).unwrap();
    for f in [
        "warranty.csv",
        "billing.csv",
        "support.csv",
        "shop.csv",
        "resolve.toml",
    ] {
        let text = fs::read_to_string(full.join(f)).unwrap();
        let kept: Vec<&str> = if f.ends_with(".csv") {
            text.lines()
                .enumerate()
                .filter(|(i, _)| *i == 0 || i % 10 != 0)
                .map(|(_, l)| l)
                .collect()
        } else {
            text.lines().collect()
        };
        fs::write(old.join(f), kept.join("\n") + "\n").unwrap();
    }
    let (out1, out2, out3) = (
        tmp.path().join("out1"),
        tmp.path().join("out2"),
        tmp.path().join("out3"),
    );
    run(&old.join("resolve.toml"), &out1);
    // No [match] threshold in a generated config: the model's own best, within 0.5–0.99.
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out1.join("run.json")).unwrap()).unwrap();
    assert_eq!(report["threshold_from"], "model");
    let best = report["model_best_threshold"]["threshold"]
        .as_f64()
        .unwrap();
    assert_eq!(report["threshold"].as_f64().unwrap(), best.clamp(0.5, 0.99));
    // Same input again: every ID unchanged.
    run_previous(&old.join("resolve.toml"), &out2, &out1);
    assert_eq!(golden_of(&out1), golden_of(&out2));
    // Tonight: ~10% more rows. Last night's customers keep their IDs: every real person
    // (by the generator's truth) present last night has all their old records under one
    // of the IDs they had then. (When new rows bridge a person whom last night split in
    // two, one of the two IDs lives on: that is a merge, listed in changes.csv.)
    run_previous(&full.join("resolve.toml"), &out3, &out1);
    let (before, after) = (golden_of(&out1), golden_of(&out3));
    let truth: std::collections::HashMap<(String, String), String> =
        csv_rows(&full.join("truth.csv"))
            .into_iter()
            .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
            .collect();
    let mut people: std::collections::HashMap<&String, Vec<&(String, String)>> = Default::default();
    for rec in before.keys() {
        people.entry(&truth[rec]).or_default().push(rec);
    }
    // Customers that last night's run got right (no stranger in any of their golden IDs)
    // must keep their IDs. A wrong merge that tonight's fuller data splits (a value that
    // now shows up with four families is no longer evidence) rightly gives someone a new ID.
    // A wrong merge tonight (a father's new record bridging to his son's), or a split
    // (tonight's rows show a phone to be a household's, and a nameless record on it no
    // longer links), is a quality error measured by `evaluate`, not a lost ID: stability
    // is checked on the people both nights got right (no stranger in their IDs) and
    // tonight holds whole.
    let entities_of_id = |m: &std::collections::HashMap<(String, String), String>| {
        let mut e: std::collections::HashMap<String, std::collections::HashSet<String>> =
            Default::default();
        for (rec, id) in m {
            e.entry(id.clone()).or_default().insert(truth[rec].clone());
        }
        e
    };
    let (then, now) = (entities_of_id(&before), entities_of_id(&after));
    let pure: Vec<&Vec<&(String, String)>> = people
        .values()
        .filter(|recs| {
            let tonight: std::collections::HashSet<&String> =
                recs.iter().filter_map(|r| after.get(*r)).collect();
            tonight.len() == 1
                && recs
                    .iter()
                    .all(|r| then[&before[*r]].len() == 1 && now[&after[*r]].len() == 1)
        })
        .collect();
    // (A precondition, not the property under test: most people were got right.)
    assert!(
        pure.len() as f64 >= 0.85 * people.len() as f64,
        "{} of {} people right both nights",
        pure.len(),
        people.len()
    );
    let kept = pure
        .iter()
        .filter(|recs| {
            recs.iter()
                .all(|r| recs.iter().any(|o| before[*o] == after[*r]))
        })
        .count();
    let share = kept as f64 / pure.len() as f64;
    assert!(
        share >= 0.999,
        "only {share:.4} of last night's customers kept their golden ID"
    );
    // New customers get new IDs, never a previous one.
    let old_ids: std::collections::HashSet<&String> = before.values().collect();
    for (rec, id) in &after {
        if !before.contains_key(rec) && old_ids.contains(id) {
            // A new record may join an existing customer; then some old record has that ID too.
            assert!(
                after.iter().any(|(r, i)| i == id && before.contains_key(r)),
                "{rec:?} got reused ID {id}"
            );
        }
    }
    // The night's lineage: merged IDs are aliases of the ID that lives on and are no
    // longer handed out; new and split IDs were never handed out before; a removed ID
    // held no record tonight.
    let changes = csv_rows(&out3.join("changes.csv"));
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out3.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["run"], 2);
    let ids_tonight: std::collections::HashSet<&String> = after.values().collect();
    for row in &changes {
        let (kind, old, new) = (row[1].as_str(), &row[2], &row[3]);
        assert_eq!(row[0], "2");
        match kind {
            "merged" => {
                assert_eq!(state["aliases"][old.as_str()], new.as_str());
                assert!(!ids_tonight.contains(old) && ids_tonight.contains(new));
            }
            "new" | "split" => assert!(!old_ids.contains(new) && ids_tonight.contains(new)),
            "moved" => assert!(old_ids.contains(new) && ids_tonight.contains(new)),
            "removed" => assert!(!ids_tonight.contains(old)),
            other => panic!("unknown change kind {other}"),
        }
    }
    assert!(changes.iter().any(|r| r[1] == "new"));
}

#[test]
fn interrupted_run_leaves_the_previous_output_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 3000, 4);
    let out = tmp.path().join("out");
    let config = data.join("resolve.toml");
    run(&config, &out);
    let before = fs::read(out.join("mapping.csv")).unwrap();
    for delay_ms in [50, 400, 900] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("idresolve"))
            .args([
                "run",
                "--quiet",
                "--config",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whenever it was stopped, OUT holds one complete run: the same mapping (same input).
        assert_eq!(
            fs::read(out.join("mapping.csv")).unwrap(),
            before,
            "killed after {delay_ms} ms"
        );
        assert!(out.join("run.json").exists() && out.join("index/meta.json").exists());
    }
}

#[test]
fn explain_shows_levels_weights_and_the_link() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_demo(&out);
    let text = ok(&[
        "explain",
        "--out",
        out.to_str().unwrap(),
        "warranty:W-1001",
        "support:T-5003",
    ]);
    assert!(text.contains("shared_case_number"), "{text}");
    assert!(text.contains("nickname"), "{text}");
    assert!(text.contains("same golden ID"), "{text}");
    let json = ok(&[
        "explain",
        "--out",
        out.to_str().unwrap(),
        "billing:A-77",
        "billing:A-78",
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        e["same_golden_id"], false,
        "Robert and Jennifer share a household, not an identity"
    );
    assert!(e["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["comparison"] == "first_name" && c["level"] == "different"));
    let bad = idresolve(&[
        "explain",
        "--out",
        out.to_str().unwrap(),
        "billing:NOPE",
        "billing:A-77",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn lookup_finds_customers_from_messy_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_demo(&out);
    let o = out.to_str().unwrap();
    let top = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["lookup", "--out", o, "--json"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(&all)).unwrap();
        v[0].clone()
    };
    let maria = top(&["--phone", "555.987.6543"]);
    assert_eq!(
        maria["golden"]["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace('í', "i"),
        "maria garcia"
    );
    assert_eq!(maria["confidence"], 1.0);
    assert!(
        maria["records"].as_array().unwrap().len() >= 5,
        "the whole history: {maria}"
    );
    assert_eq!(
        top(&["--name", "Maria Garcai"])["golden"]["golden_id"],
        maria["golden"]["golden_id"],
        "misspelled name"
    );
    let robert = top(&["--case", "T-5003"]);
    assert_eq!(
        top(&["--serial", "5CD-1234-XYX"])["golden"]["golden_id"],
        robert["golden"]["golden_id"],
        "serial with a typo"
    );
    assert_eq!(
        top(&["rob.smith@gmail.com"])["golden"]["golden_id"],
        robert["golden"]["golden_id"],
        "free text e-mail"
    );
    let text = ok(&["lookup", "--out", o, "--phone", "(555) 987-6543"]);
    assert!(text.contains("T-5005") && text.contains("O-9003"), "{text}");
    let none = idresolve(&["lookup", "--out", o, "--email", "nobody@nowhere.example"]);
    assert_eq!(none.status.code(), Some(1));
    let batch = tmp.path().join("queries.txt");
    fs::write(&batch, "phone:555 222 3344\ncase:W-1005\n").unwrap();
    let lines = ok(&["lookup", "--out", o, "--batch", batch.to_str().unwrap()]);
    assert_eq!(lines.lines().count(), 2);
    assert!(
        lines
            .lines()
            .all(|l| l.split('\t').nth(1).is_some_and(|g| g.starts_with('G'))),
        "{lines}"
    );
}

#[test]
fn lookup_by_golden_id_follows_aliases_and_says_what_became_of_an_id() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_demo(&out);
    let first = ok(&["lookup", "--out", out.to_str().unwrap(), "--id", "G0000001"]);
    assert!(first.starts_with("1. G0000001 "), "{first}");
    // As a later night leaves them: G0000077 merged into G0000001, G0000066 removed.
    let state_path = out.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&state_path).unwrap()).unwrap();
    state["aliases"] = serde_json::json!({"G0000077": "G0000001"});
    state["removed"] = serde_json::json!(["G0000066"]);
    fs::write(&state_path, state.to_string()).unwrap();
    let merged = ok(&["lookup", "--out", out.to_str().unwrap(), "G0000077"]);
    assert!(
        merged.starts_with("G0000077 was merged into G0000001\n1. G0000001 "),
        "{merged}"
    );
    let json = ok(&[
        "lookup",
        "--out",
        out.to_str().unwrap(),
        "--id",
        "G0000077",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["golden"]["golden_id"], "G0000001");
    assert_eq!(v[0]["id_status"]["status"], "merged_into");
    assert_eq!(v[0]["id_status"]["into"], "G0000001");
    for (id, says) in [
        ("G0000066", "was removed"),
        ("G0000099", "no customer has golden ID"),
    ] {
        let o = idresolve(&["lookup", "--out", out.to_str().unwrap(), "--id", id]);
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}

#[test]
fn steward_overrides_split_a_wrong_merge_join_a_miss_and_hold_on_rerun() {
    type Rec = (String, String);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 1500, 9);
    let config = data.join("resolve.toml");
    let out1 = tmp.path().join("out1");
    run(&config, &out1);
    let before = golden_of(&out1);
    let truth: std::collections::HashMap<Rec, String> = csv_rows(&data.join("truth.csv"))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect();
    let mut by_id: std::collections::BTreeMap<&String, Vec<&Rec>> = Default::default();
    let mut by_person: std::collections::BTreeMap<&String, Vec<&Rec>> = Default::default();
    for (rec, id) in &before {
        by_id.entry(id).or_default().push(rec);
        by_person.entry(&truth[rec]).or_default().push(rec);
    }
    // A wrong merge: two people in one golden ID. A miss: one person in two.
    let wrong = by_id
        .values_mut()
        .find_map(|recs| {
            recs.sort();
            let other = recs.iter().find(|r| truth[*r] != truth[recs[0]])?;
            Some((recs[0].clone(), (*other).clone()))
        })
        .expect("the run merged two people somewhere");
    let missed = by_person
        .values_mut()
        .find_map(|recs| {
            recs.sort();
            let other = recs.iter().find(|r| before[*r] != before[recs[0]])?;
            Some((recs[0].clone(), (*other).clone()))
        })
        .expect("the run missed someone somewhere");
    let row = |d: &str, (a, b): &(Rec, Rec)| format!("{d},{},{},{},{},test\n", a.0, a.1, b.0, b.1);
    fs::write(
        data.join("overrides.csv"),
        format!(
            "decision,source_a,record_id_a,source_b,record_id_b,note\n{}{}{}",
            row("unlink", &wrong),
            row("link", &missed),
            "link,shop,NO-SUCH-ORDER,billing,NO-SUCH-ACCOUNT,gone\n"
        ),
    )
    .unwrap();
    let toml = fs::read_to_string(&config).unwrap().replacen(
        "\n[[source]]",
        "\n[match]\noverrides = \"overrides.csv\"\n\n[[source]]",
        1,
    );
    fs::write(&config, toml).unwrap();
    let honoured = |out: &Path| {
        let m = golden_of(out);
        m[&wrong.0] != m[&wrong.1] && m[&missed.0] == m[&missed.1]
    };
    let out2 = tmp.path().join("out2");
    run_previous(&config, &out2, &out1);
    assert!(honoured(&out2));
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out2.join("run.json")).unwrap()).unwrap();
    assert_eq!(report["overrides"]["applied"], 2, "{}", report["overrides"]);
    assert_eq!(report["overrides"]["stale_lines"], serde_json::json!([4]));
    // The unlink cuts where the evidence is weakest: few records beyond the two it names
    // change customer; the link moves the smaller customer whole.
    let after = golden_of(&out2);
    let joined: std::collections::HashSet<&String> = [&before[&missed.0], &before[&missed.1]]
        .into_iter()
        .collect();
    let moved = before
        .iter()
        .filter(|(rec, id)| !joined.contains(id) && after[*rec] != **id)
        .count();
    assert!(moved <= 2 + 3, "{moved} records moved for one unlink");
    // The night's ID changes made by the steward say so.
    let changes = csv_rows(&out2.join("changes.csv"));
    // The link merged two IDs; the unlink split one, or moved a record to another.
    for kinds in [&["merged"][..], &["split", "moved"]] {
        assert!(
            changes
                .iter()
                .any(|r| kinds.contains(&r[1].as_str()) && r[5] == "override"),
            "no {kinds:?} by override in {changes:?}"
        );
    }
    // explain says who decided.
    let explain = |(a, b): &(Rec, Rec)| {
        ok(&[
            "explain",
            "--out",
            out2.to_str().unwrap(),
            &format!("{}:{}", a.0, a.1),
            &format!("{}:{}", b.0, b.1),
        ])
    };
    let said = explain(&wrong);
    assert!(
        said.contains("kept apart by a steward's unlink") && said.contains("line 2"),
        "{said}"
    );
    assert!(explain(&missed).contains("a steward's link"));
    // The customer's card shows the steward's decision on it.
    let id = golden_of(&out2)[&wrong.0].clone();
    let card = ok(&["lookup", "--out", out2.to_str().unwrap(), "--id", &id]);
    assert!(
        card.contains(&format!(
            "steward: unlink {}:{} and {}:{} (overrides.csv line 2: test)",
            wrong.0 .0, wrong.0 .1, wrong.1 .0, wrong.1 .1
        )),
        "{card}"
    );
    // Every later night honours them.
    let out3 = tmp.path().join("out3");
    run_previous(&config, &out3, &out2);
    assert!(honoured(&out3));
}

#[test]
fn review_rows_rank_doubtful_decisions_and_copy_into_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 600, 3);
    let config = data.join("resolve.toml");
    let out = tmp.path().join("out");
    run(&config, &out);
    let text = fs::read_to_string(out.join("review.csv")).unwrap();
    assert!(text.starts_with(
        "decision,source_a,record_id_a,source_b,record_id_b,note,match_probability,doubt,run_decision,"
    ));
    let rows = csv_rows(&out.join("review.csv"));
    assert!(rows.len() > 10, "{} rows", rows.len());
    let doubt: Vec<f64> = rows.iter().map(|r| r[7].parse().unwrap()).collect();
    assert!(doubt.windows(2).all(|w| w[0] >= w[1]), "ranked by doubt");
    let golden = golden_of(&out);
    for r in &rows {
        assert_eq!(r[0], "");
        let together =
            golden[&(r[1].clone(), r[2].clone())] == golden[&(r[3].clone(), r[4].clone())];
        assert_eq!(together, r[5].starts_with("linked"), "{r:?}");
        // The doubt is the model's probability that the run decided wrong.
        if let Ok(p) = r[6].parse::<f64>() {
            let doubt: f64 = r[7].parse().unwrap();
            let expected = if together { 1.0 - p } else { p };
            assert!((doubt - expected).abs() < 1e-5, "{r:?}");
        }
    }
    // Rows copied as they are, two of them decided, make an overrides file a run accepts.
    let mut lines: Vec<&str> = text.lines().take(4).collect();
    let decided: Vec<String> = lines[1..3].iter().map(|l| format!("unlink{l}")).collect();
    lines.splice(1..3, decided.iter().map(String::as_str));
    fs::write(data.join("overrides.csv"), lines.join("\n") + "\n").unwrap();
    let toml = fs::read_to_string(&config).unwrap().replacen(
        "\n[[source]]",
        "\n[match]\noverrides = \"overrides.csv\"\n\n[[source]]",
        1,
    );
    fs::write(&config, toml).unwrap();
    let out2 = tmp.path().join("out2");
    run(&config, &out2);
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out2.join("run.json")).unwrap()).unwrap();
    let o = &report["overrides"];
    assert_eq!(o["undecided"], 1, "{o}");
    assert_eq!(
        o["applied"].as_u64().unwrap() + o["already_satisfied"].as_u64().unwrap(),
        2,
        "{o}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let bash = ok(&["completions", "bash"]);
    assert!(
        bash.contains("_idresolve()") && bash.contains("--previous"),
        "{bash}"
    );
    for shell in ["zsh", "fish", "powershell"] {
        assert!(ok(&["completions", shell]).contains("lookup"), "{shell}");
    }
    let man = ok(&["man"]);
    assert!(
        man.contains(".TH idresolve 1") && man.contains("lookup"),
        "{man}"
    );
    assert_eq!(code(&idresolve(&["completions", "tcsh"])), 2);
}

#[test]
fn bad_inputs_give_clear_errors_and_never_panic() {
    let bad = root().join("fixtures/bad");
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, i32, &[&str]); 9] = [
        ("empty.toml", 2, &["empty.csv", "empty"]),
        ("header_only.toml", 1, &["header_only.csv", "no data rows"]),
        ("garbage.toml", 2, &["garbage.csv", "binary"]),
        ("missing_file.toml", 2, &["does_not_exist.csv", "not found"]),
        (
            "missing_column.toml",
            2,
            &[
                "phone_number",
                "did you mean `phone`",
                "columns: `id`, `name`, `phone`",
            ],
        ),
        (
            "many_problems.toml",
            2,
            &["threshold", "telephone", "unique", "ident"],
        ),
        ("syntax.toml", 2, &["line 1"]),
        ("empty_config.toml", 2, &["[[source]]"]),
        ("nonexistent.toml", 2, &["nonexistent.toml"]),
    ];
    for (config, code, needles) in cases {
        let out = idresolve(&[
            "run",
            "--config",
            bad.join(config).to_str().unwrap(),
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{config}: {err}");
        for n in needles {
            assert!(err.contains(n), "{config}: message lacks {n:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{config}: {err}");
    }
}

#[test]
fn ragged_rows_and_bad_ids_are_rejected_with_reasons_and_the_rest_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(&root().join("fixtures/bad/ragged.toml"), &out);
    let rejected = csv_rows(&out.join("rejected.csv"));
    let reasons: Vec<(&str, &str)> = rejected
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(l, r)| *l == "3" && r.contains("expected 3")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(l, r)| *l == "4" && r.contains("found 4")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(l, r)| *l == "5" && r.contains("empty record id")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(_, r)| r.contains("duplicate record id `1`")),
        "{reasons:?}"
    );
    let ids: Vec<String> = csv_rows(&out.join("mapping.csv"))
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(
        ids,
        ["1", "3", "4"],
        "every usable row is in the mapping, the quoted newline included"
    );
}

#[test]
fn windows_1252_exports_are_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(&root().join("fixtures/bad/cp1252.toml"), &out);
    let golden = fs::read_to_string(out.join("golden.csv")).unwrap();
    assert!(
        golden.contains("José Müller") && golden.contains("Zoë Smith"),
        "{golden}"
    );
}

#[test]
fn evaluate_of_the_truth_itself_is_perfect() {
    let truth = root().join("fixtures/demo/truth.csv");
    let tmp = tempfile::tempdir().unwrap();
    let mapping = tmp.path().join("mapping.csv");
    let rows = csv_rows(&truth);
    let mut text = String::from("source,record_id,golden_id\n");
    for r in rows {
        text.push_str(&format!("{},{},{}\n", r[0], r[1], r[2]));
    }
    fs::write(&mapping, text).unwrap();
    let e: serde_json::Value = serde_json::from_str(&ok(&[
        "evaluate",
        "--mapping",
        mapping.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        (
            e["pairwise_f1"].as_f64(),
            e["bcubed_f1"].as_f64(),
            e["exact_entities"].as_f64()
        ),
        (Some(1.0), Some(1.0), Some(1.0))
    );
}
