//! Nightly incremental runs (`run --previous OLD --incremental`): the same answer as a
//! full run, IDs kept along a chain of nights, clear errors for a state that does not
//! fit, and OLD never touched.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{csv_rows, demo_copy, idresolve, ok, stderr};

type Key = (String, String);

/// The exports of `data` split into nights: a row is in a night when `keep(night, row
/// number)` says so; edited rows get a changed phone digit. Writes `dir/<night>/` with
/// the config and the exports.
fn nights(data: &Path, dir: &Path, plan: &[Vec<(usize, bool)>]) -> Vec<PathBuf> {
    let config = fs::read_to_string(data.join("resolve.toml")).unwrap();
    let files: Vec<String> = fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv") && n != "truth.csv")
        .collect();
    let mut out = Vec::new();
    for (n, rows) in plan.iter().enumerate() {
        let night = dir.join(format!("night{n}"));
        fs::create_dir_all(&night).unwrap();
        fs::write(night.join("resolve.toml"), &config).unwrap();
        for f in &files {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_path(data.join(f))
                .unwrap();
            let all: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_path(night.join(f))
                .unwrap();
            w.write_record(&all[0]).unwrap();
            for &(i, edit) in rows {
                let Some(row) = all.get(i + 1) else { continue };
                let mut row: Vec<String> = row.iter().map(str::to_string).collect();
                if edit {
                    // A customer's phone (or any digit-bearing detail) edited.
                    if let Some(c) = row.iter_mut().skip(1).find(|v| {
                        v.chars().filter(char::is_ascii_digit).count() >= 7 && !v.contains('@')
                    }) {
                        let last = c.rfind(|ch: char| ch.is_ascii_digit()).unwrap();
                        let d = c.as_bytes()[last] - b'0';
                        c.replace_range(last..last + 1, &((d + 1) % 10).to_string());
                    }
                }
                w.write_record(&row).unwrap();
            }
        }
        out.push(night);
    }
    out
}

fn mapping(out: &Path) -> HashMap<Key, String> {
    csv_rows(&out.join("mapping.csv"))
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[2].clone()))
        .collect()
}

fn run(config: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

/// Every file under `dir` with a hash of its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    use std::hash::{Hash, Hasher};
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                fs::read(&p).unwrap().hash(&mut h);
                out.push((p.clone(), h.finish()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn incremental_nights_agree_with_a_full_run() {
    let tmp = tempfile::tempdir().unwrap();
    // KEEP_NIGHTLY=1 keeps the nights and outputs for a look.
    let root = if std::env::var_os("KEEP_NIGHTLY").is_some() {
        let kept = tempfile::tempdir().unwrap().keep();
        eprintln!("kept {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let data = root.join("data");
    ok(&[
        "generate",
        "--customers",
        "2500",
        "--seed",
        "11",
        "--out",
        data.to_str().unwrap(),
    ]);
    // Night 0: 98 % of the rows. Each later night: less 0.3 % (removed), 0.2 % edited,
    // plus 1 % new rows.
    let rows = ["support.csv", "shop.csv", "billing.csv", "warranty.csv"]
        .iter()
        .map(|f| {
            csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(data.join(f))
                .unwrap()
                .records()
                .count()
        })
        .max()
        .unwrap();
    let mut x: u64 = 7;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0
    };
    let mut current: Vec<(usize, bool)> = (0..rows).map(|i| (i, false)).collect();
    let held: Vec<usize> = current
        .iter()
        .filter(|_| rnd() < 0.02)
        .map(|&(i, _)| i)
        .collect();
    let held_set: HashSet<usize> = held.iter().copied().collect();
    current.retain(|(i, _)| !held_set.contains(i));
    let mut plan = vec![current.clone()];
    for night in 0..2 {
        let mut next: Vec<(usize, bool)> = Vec::new();
        for &(i, edited) in &current {
            let r = rnd();
            if r < 0.003 {
                continue;
            }
            next.push((i, edited || r < 0.005));
        }
        let half = held.len() / 2;
        let new = if night == 0 {
            &held[..half]
        } else {
            &held[half..]
        };
        next.extend(new.iter().map(|&i| (i, false)));
        next.sort();
        plan.push(next.clone());
        current = next;
    }
    let dirs = nights(&data, &root, &plan);
    let out: Vec<PathBuf> = (0..3).map(|n| root.join(format!("out{n}"))).collect();
    let cfg = |n: usize| dirs[n].join("resolve.toml");
    run(&cfg(0), &out[0], &[]);
    let prev = |n: usize| out[n].to_str().unwrap().to_string();
    let before = snapshot(&out[0]);
    run(&cfg(1), &out[1], &["--previous", &prev(0), "--incremental"]);
    assert_eq!(
        snapshot(&out[0]),
        before,
        "an incremental run never touches OLD"
    );
    // Same input, same output, whatever the thread count (every file but the two that
    // carry the seconds and threads, and tantivy's own, named by random segment ids).
    let one = root.join("out1-threads1");
    run(
        &cfg(1),
        &one,
        &["--previous", &prev(0), "--incremental", "--threads", "1"],
    );
    let files = |dir: &Path| -> Vec<(PathBuf, u64)> {
        snapshot(dir)
            .into_iter()
            .map(|(p, h)| (p.strip_prefix(dir).unwrap().to_path_buf(), h))
            .filter(|(p, _)| {
                let name = p.to_string_lossy();
                !(name == "run.json"
                    || name == "report.html"
                    || name.starts_with("index/")
                        && !name.ends_with(".bin")
                        && !name.ends_with(".csv"))
            })
            .collect()
    };
    assert_eq!(files(&out[1]), files(&one), "1 and 2 threads");
    // Tonight's profile table grows only by profiles that records hold (a reused row's
    // profile before shared case numbers, interned to find its profile after them, is
    // not kept).
    let (r0, r1) = (run_json(&out[0]), run_json(&out[1]));
    let grown = r1["profiles"].as_u64().unwrap() - r0["profiles"].as_u64().unwrap();
    assert_eq!(grown, r1["incremental"]["profiles_new"].as_u64().unwrap());
    run(&cfg(2), &out[2], &["--previous", &prev(1), "--incremental"]);

    // What the nights were, as the runs saw them.
    let r2 = run_json(&out[2]);
    let night = &r2["records_since_previous"];
    assert!(night["new"].as_u64().unwrap() > 0, "{night}");
    assert!(night["changed"].as_u64().unwrap() > 0, "{night}");
    assert!(night["removed"].as_u64().unwrap() > 0, "{night}");
    let inc = &r2["incremental"];
    assert!(
        inc["customers_carried"].as_u64().unwrap()
            > 10 * inc["customers_reclustered"].as_u64().unwrap(),
        "most customers are carried over: {inc}"
    );
    assert_eq!(inc["index_segments"], 3, "one segment per night: {inc}");

    // The chain against a full run on night 2 with night 1's IDs and the same model
    // (an incremental run does not retrain: the documented difference).
    let full = root.join("full2");
    let model = out[0].join("model.json");
    run(
        &cfg(2),
        &full,
        &["--previous", &prev(1), "--model", model.to_str().unwrap()],
    );
    let (m_inc, m_full, m_prev) = (mapping(&out[2]), mapping(&full), mapping(&out[1]));
    assert_eq!(
        m_inc.keys().collect::<HashSet<_>>(),
        m_full.keys().collect::<HashSet<_>>(),
        "every record of tonight is mapped, and none of the removed"
    );
    // The partition: a customer of the full run is a customer of the chain, record for
    // record. IDs: a customer the full run gives an ID that existed last night has the
    // same ID in the chain (new IDs are numbered in customer order, so one customer
    // found otherwise shifts the numbers of the new ones after it).
    let groups = |m: &HashMap<Key, String>| -> HashMap<String, Vec<Key>> {
        let mut g: HashMap<String, Vec<Key>> = HashMap::new();
        for (k, id) in m {
            g.entry(id.clone()).or_default().push(k.clone());
        }
        for v in g.values_mut() {
            v.sort();
        }
        g
    };
    let (g_inc, g_full) = (groups(&m_inc), groups(&m_full));
    let chain: HashSet<&Vec<Key>> = g_inc.values().collect();
    let differ: Vec<String> = g_full
        .iter()
        .filter(|(_, recs)| !chain.contains(recs))
        .map(|(g, recs)| {
            let inc: Vec<String> = recs
                .iter()
                .map(|r| format!("{}:{}={}", r.0, r.1, m_inc[r]))
                .collect();
            format!("{g}: {}", inc.join(" "))
        })
        .collect();
    let share = 1.0 - differ.len() as f64 / g_full.len() as f64;
    assert!(
        share >= 0.999,
        "customers of the full run that the chain has too: {share:.4} of {}; differing: {differ:#?}",
        g_full.len()
    );
    let known: HashSet<&String> = m_prev.values().collect();
    let kept: Vec<(&String, &Vec<Key>)> =
        g_full.iter().filter(|(g, _)| known.contains(g)).collect();
    let same_id = kept
        .iter()
        .filter(|(g, recs)| g_inc.get(*g) == Some(*recs))
        .count();
    assert!(
        same_id as f64 >= 0.999 * kept.len() as f64,
        "customers with last night's ID and the same records: {same_id} of {}",
        kept.len()
    );
    // No ID handed out tonight was used before.
    let earlier: HashSet<String> = mapping(&out[0])
        .into_values()
        .chain(m_prev.values().cloned())
        .collect();
    let handed_out: HashSet<&String> = m_inc
        .values()
        .filter(|g| !m_prev.values().any(|p| p == *g))
        .collect();
    assert!(!handed_out.is_empty());
    assert!(handed_out.iter().all(|g| !earlier.contains(*g)));
}

#[test]
fn a_state_from_another_config_or_version_is_refused_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path());
    let data = config.parent().unwrap().to_path_buf();
    let old = tmp.path().join("old");
    run(&config, &old, &[]);
    let o = old.to_str().unwrap();
    let inc = |config: &Path, out: &str| {
        idresolve(&[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out,
            "--previous",
            o,
            "--incremental",
        ])
    };
    // The same config in another folder (tonight's exports elsewhere) is fine; nothing
    // changed, nothing to advise.
    let out1 = tmp.path().join("new1");
    assert!(inc(&config, out1.to_str().unwrap()).status.success());
    let i = &run_json(&out1)["incremental"];
    assert_eq!(i["nights_since_full_run"], 1, "{i}");
    assert_eq!(i["full_run_advised"].as_array().unwrap().len(), 0, "{i}");
    // A night that changed a fifth of the records: a full run is advised.
    let billing = data.join("billing.csv");
    let original = fs::read_to_string(&billing).unwrap();
    let edited: String = original
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                format!("{l} \n")
            }
        })
        .collect();
    fs::write(&billing, edited).unwrap();
    let r = inc(&config, tmp.path().join("new1b").to_str().unwrap());
    assert!(r.status.success(), "{}", stderr(&r));
    let i = &run_json(&tmp.path().join("new1b"))["incremental"];
    let advice = i["full_run_advised"].to_string();
    assert!(advice.contains("changed since the last full run"), "{i}");
    let page = fs::read_to_string(tmp.path().join("new1b/report.html")).unwrap();
    assert!(
        page.contains("Incremental run") && page.contains("A full run is advised"),
        "report.html shows the night"
    );
    fs::write(&billing, original).unwrap();
    // Another config: refused, naming the state and the way out; nothing written.
    let text = fs::read_to_string(&config).unwrap();
    let other = data.join("other.toml");
    fs::write(
        &other,
        text.replacen("default_region = \"US\"", "default_region = \"GB\"", 1),
    )
    .unwrap();
    let out2 = tmp.path().join("new2");
    let r = inc(&other, out2.to_str().unwrap());
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("another config") && stderr(&r).contains("run without --incremental"),
        "{}",
        stderr(&r)
    );
    assert!(!out2.exists());
    // Another version's state.
    let manifest = old.join("state/manifest.json");
    let m = fs::read_to_string(&manifest).unwrap();
    let mut older: serde_json::Value = serde_json::from_str(&m).unwrap();
    older["format"] = "idresolve-state-0".into();
    fs::write(&manifest, older.to_string()).unwrap();
    let r = inc(&config, tmp.path().join("new3").to_str().unwrap());
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("run without --incremental"),
        "{}",
        stderr(&r)
    );
    // A damaged one.
    fs::write(&manifest, m).unwrap();
    let records = old.join("state/records.0.bin");
    let bytes = fs::read(&records).unwrap();
    fs::write(&records, &bytes[..bytes.len() / 2]).unwrap();
    let r = inc(&config, tmp.path().join("new4").to_str().unwrap());
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("damaged") && stderr(&r).contains("records.0.bin"),
        "{}",
        stderr(&r)
    );
    // --incremental without --previous is a usage error.
    let r = idresolve(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
        "--incremental",
    ]);
    assert_eq!(r.status.code(), Some(2));
}

#[test]
fn an_incremental_run_into_its_own_previous_folder_leaves_it_whole_when_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&[
        "generate",
        "--customers",
        "3000",
        "--seed",
        "4",
        "--out",
        data.to_str().unwrap(),
    ]);
    let config = data.join("resolve.toml");
    let out = tmp.path().join("out");
    run(&config, &out, &[]);
    let mut before = snapshot(&out);
    let rows_before = mapping(&out).len();
    let o = out.to_str().unwrap();
    for delay_ms in [30, 150, 400] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("idresolve"))
            .args([
                "run",
                "--quiet",
                "--config",
                config.to_str().unwrap(),
                "--out",
                o,
                "--previous",
                o,
                "--incremental",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let now = snapshot(&out);
        if now != before {
            // Finished (or stopped between the swap and its exit): OUT is tonight's
            // run, whole.
            assert!(
                out.join("state/manifest.json").exists() && out.join("run.json").exists(),
                "stopped after {delay_ms} ms ({status})"
            );
            assert_eq!(mapping(&out).len(), rows_before);
            before = now;
        }
    }
    // And it is usable: the nightly job runs again, in place.
    run(&config, &out, &["--previous", o, "--incremental"]);
    assert_eq!(mapping(&out).len(), rows_before);
}

#[test]
fn a_repeat_callers_new_ticket_is_found_by_its_case_number_after_an_incremental_night() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_copy(tmp.path());
    let data = config.parent().unwrap().to_path_buf();
    let old = tmp.path().join("old");
    run(&config, &old, &[]);
    // Bob calls again: the same name, number and serial as his first ticket (so the same
    // profile, already in last night's index), a new case number.
    let mut support = fs::read_to_string(data.join("support.csv")).unwrap();
    support.push_str(
        "T-5999,Bob Smith,(555) 123-4567,,5CD1234XYZ,2023-03-01T09:00:00Z,still not booting\n",
    );
    fs::write(data.join("support.csv"), support).unwrap();
    let new = tmp.path().join("new");
    run(
        &config,
        &new,
        &["--previous", old.to_str().unwrap(), "--incremental"],
    );
    let found = |case: &str| -> String {
        let text = ok(&[
            "lookup",
            "--out",
            new.to_str().unwrap(),
            "--json",
            "--case",
            case,
        ]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v[0]["golden"]["golden_id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let bob = found("T-5001");
    assert!(!bob.is_empty());
    assert_eq!(found("T-5999"), bob, "the new ticket leads to Bob's card");
    assert_eq!(
        mapping(&new)[&("support".to_string(), "T-5999".to_string())],
        bob
    );
}

#[test]
#[cfg(unix)]
fn last_nights_index_segments_are_linked_never_changed_and_outlive_its_folder() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&[
        "generate",
        "--customers",
        "800",
        "--seed",
        "6",
        "--out",
        data.to_str().unwrap(),
    ]);
    let config = data.join("resolve.toml");
    let old = tmp.path().join("old");
    run(&config, &old, &[]);
    // A user opened last night's folder to a group: its files' modes are theirs.
    let segment = fs::read_dir(old.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .expect("a segment file");
    fs::set_permissions(&segment, fs::Permissions::from_mode(0o640)).unwrap();
    let before = snapshot(&old);
    let new = tmp.path().join("new");
    let o = old.to_str().unwrap();
    run(&config, &new, &["--previous", o, "--incremental"]);
    // The segment is the same file in both folders (linked, not copied)...
    let linked = new.join("index").join(segment.file_name().unwrap());
    assert_eq!(
        fs::metadata(&linked).unwrap().ino(),
        fs::metadata(&segment).unwrap().ino()
    );
    // ... and last night's folder is as it was, bytes and modes.
    assert_eq!(snapshot(&old), before);
    assert_eq!(
        fs::metadata(&segment).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // Last night's folder removed: tonight's stands on its own, for lookup and the
    // next night.
    let rows = mapping(&new).len();
    fs::remove_dir_all(&old).unwrap();
    let next = tmp.path().join("next");
    run(
        &config,
        &next,
        &["--previous", new.to_str().unwrap(), "--incremental"],
    );
    assert_eq!(mapping(&next).len(), rows);
    assert_eq!(mapping(&next), mapping(&new));
}

/// Every customer of `out`'s mapping, looked up in its store by golden ID, shows its
/// records.
fn store_shows_the_mapping(out: &Path, night: usize) {
    let store = idresolve::store::Store::open(&out.join("index"), out).unwrap();
    let mut by_id: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (key, id) in mapping(out) {
        by_id.entry(id).or_default().push(key);
    }
    for (id, mut recs) in by_id {
        let c = store
            .customer_by_id(&id)
            .unwrap()
            .expect("a customer of the mapping");
        let (golden, rows) = store.customer(c, true).unwrap();
        assert_eq!(golden.golden_id, id, "night {night}");
        let mut shown: Vec<(String, String)> =
            rows.into_iter().map(|r| (r.source, r.record_id)).collect();
        shown.sort();
        recs.sort();
        assert_eq!(shown, recs, "night {night}: customer {id}");
    }
}

#[test]
fn a_chain_of_nights_layers_its_state_and_reads_back_exactly_its_records() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&[
        "generate",
        "--customers",
        "300",
        "--seed",
        "5",
        "--out",
        data.to_str().unwrap(),
    ]);
    let rows = fs::read_to_string(data.join("shop.csv"))
        .unwrap()
        .lines()
        .count();
    // Night n: rows removed, edited and added in turn (row i's fate by (i + n) mod 7),
    // one night more than the layers a chain may stack.
    let nights_n = idresolve::state::MAX_LAYERS + 2;
    let plan: Vec<Vec<(usize, bool)>> = (0..nights_n)
        .map(|n| {
            (0..rows)
                .filter(|i| (i * 3 + n) % 11 != 0 && (n > 0 || i % 13 != 0))
                .map(|i| (i, (i + n) % 17 == 0))
                .collect()
        })
        .collect();
    let dirs = nights(&data, tmp.path(), &plan);
    let out: Vec<PathBuf> = (0..nights_n)
        .map(|n| tmp.path().join(format!("out{n}")))
        .collect();
    let cfg = |n: usize| dirs[n].join("resolve.toml");
    run(&cfg(0), &out[0], &[]);
    for n in 1..nights_n {
        let prev = out[n - 1].to_str().unwrap().to_string();
        run(&cfg(n), &out[n], &["--previous", &prev, "--incremental"]);
    }
    let config = idresolve::Config::load(&cfg(0)).unwrap();
    let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    for (n, o) in out.iter().enumerate() {
        let saved = idresolve::state::load(o, &config, &names).unwrap();
        // One layer per night since the full run, until a night writes it whole again.
        let layers = n % idresolve::state::MAX_LAYERS + 1;
        assert_eq!(saved.manifest.layers.len(), layers, "night {n}");
        // The state read back holds every record of the night, with its fingerprint,
        // and none that is gone (rows.bin holds the night's records as read).
        let held: HashMap<(String, String), u64> = saved
            .rows
            .iter()
            .map(|((s, id), row)| ((names[*s as usize].clone(), id.to_string()), row.hash))
            .collect();
        let read: HashMap<(String, String), u64> = idresolve::rows::read(o)
            .unwrap()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(held.len(), read.len(), "night {n}");
        assert!(
            held == read,
            "night {n}: the state's records differ from rows.bin"
        );
        assert_eq!(
            saved.profiles.len() as u64,
            run_json(o)["profiles"].as_u64().unwrap(),
            "night {n}"
        );
        // Each record's profile is what a full run on the night's exports makes of it (a
        // profile is the row's values and the case numbers it shares tonight).
        let full = tmp.path().join(format!("full{n}"));
        run(&cfg(n), &full, &[]);
        let whole = idresolve::state::load(&full, &config, &names).unwrap();
        assert_eq!(whole.rows.len(), saved.rows.len(), "night {n}");
        for (key, row) in &whole.rows {
            let night = saved.rows.get(key).expect("a record of the night");
            assert!(
                saved.profiles[night.profile as usize] == whole.profiles[row.profile as usize],
                "night {n}: {key:?} holds another profile than a full run gives it"
            );
        }
        // The lookup store shows each customer's records, whether its rows were written
        // tonight or are last night's (linked layers of `records.csv`).
        store_shows_the_mapping(o, n);
        let layers_of_rows = (1..)
            .take_while(|k| o.join(format!("index/records.{k}.csv")).exists())
            .count();
        assert_eq!(
            layers_of_rows,
            n % idresolve::state::MAX_LAYERS,
            "night {n}"
        );
        // Last night's layers are tonight's files, not copies.
        #[cfg(unix)]
        if n > 0 && layers > 1 {
            use std::os::unix::fs::MetadataExt;
            let inode = |d: &Path| fs::metadata(d.join("state/records.0.bin")).unwrap().ino();
            assert_eq!(inode(&out[n]), inode(&out[n - 1]), "night {n}");
        }
    }
    // A store whose middle layer of rows went missing: the night writes again the rows
    // it can no longer point to.
    fs::remove_file(out[2].join("index/records.1.csv")).unwrap();
    let pruned = tmp.path().join("after-pruned");
    run(
        &cfg(3),
        &pruned,
        &["--previous", out[2].to_str().unwrap(), "--incremental"],
    );
    store_shows_the_mapping(&pruned, 3);
}
