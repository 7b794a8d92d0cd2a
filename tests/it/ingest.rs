//! Faithful ingest of other companies' exports, and outputs that never destroy data:
//! every case of the "safe outputs and faithful ingest" issue, as a test. The library is
//! called directly where a value must be checked; the binary where exit codes, messages
//! and files on disk are the point.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::util::{code, demo_copy, idresolve, root, run, run_ok, run_previous, stderr};
use idresolve::record::Dataset;
use idresolve::Config;

fn ingest(config: &Path) -> Dataset {
    let config = Config::load(config).unwrap_or_else(|e| panic!("{e}"));
    idresolve::ingest::ingest(&config, |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A folder with one CSV and a config mapping its columns.
fn one_source(dir: &Path, csv: &[u8], source_extra: &str, fields: &str) -> PathBuf {
    fs::write(dir.join("data.csv"), csv).unwrap();
    let config = dir.join("resolve.toml");
    fs::write(
        &config,
        format!(
            "[[source]]\nname = \"people\"\npath = \"data.csv\"\nrecord_id = \"id\"\n{source_extra}\n[source.fields]\n{fields}\n"
        ),
    )
    .unwrap();
    config
}

const NAME_EMAIL: &str = "full_name = \"name\"\nemail = \"email\"";

// ---- the output folder ----

#[test]
fn out_never_removes_what_idresolve_did_not_write() {
    let t = tempfile::tempdir().unwrap();
    let config = demo_copy(t.path());
    // A folder of the user's notes.
    let notes = t.path().join("notes");
    fs::create_dir(&notes).unwrap();
    fs::write(notes.join("todo.txt"), "keep").unwrap();
    let o = run(&config, &notes);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("todo.txt"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(notes.join("todo.txt")).unwrap(), "keep");
    // The folder of the config and the exports.
    let demo = config.parent().unwrap();
    let o = run(&config, demo);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(demo.join("warranty.csv").is_file() && config.is_file());
    // A parent of the exports.
    let o = run(&config, t.path());
    assert_eq!(code(&o), 2);
    // A regular file, a device, a symbolic link.
    let file = t.path().join("file.txt");
    fs::write(&file, "mine").unwrap();
    assert_eq!(code(&run(&config, &file)), 2);
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
    assert_eq!(code(&run(&config, Path::new("/dev/null"))), 2);
    {
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&notes, &link).unwrap();
    assert_eq!(code(&run(&config, &link)), 2);
    assert!(notes.join("todo.txt").is_file());
    // An empty folder and an earlier output are fine; so is --previous equal to --out.
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    run_ok(&config, &out);
    run_ok(&config, &out);
    run_previous(&config, &out, &out);
    assert!(out.join("mapping.csv").is_file());
}

#[test]
fn outputs_are_private_staging_of_killed_runs_is_removed_and_a_mode_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let config = demo_copy(t.path());
    let out = t.path().join("out");
    // A killed run's staging folder, full of personal data.
    let stale = t.path().join(".out.idresolve-tmp-999999");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("mapping.csv"), "x").unwrap();
    run_ok(&config, &out);
    assert!(!stale.exists(), "stale staging folder removed");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("mapping.csv")), 0o600);
    for e in fs::read_dir(out.join("index")).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
    fs::set_permissions(&out, fs::Permissions::from_mode(0o750)).unwrap();
    run_ok(&config, &out);
    assert_eq!(mode(&out), 0o750, "the user's mode is kept");
    let left: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-tmp-") || n.contains("-old-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_old_output_moved_aside_by_a_killed_swap_is_recovered() {
    let t = tempfile::tempdir().unwrap();
    let config = demo_copy(t.path());
    let out = t.path().join("out");
    run_ok(&config, &out);
    let aside = t.path().join(".out.idresolve-old-4242");
    fs::rename(&out, &aside).unwrap();
    // The next run finds no `out`, puts the last good output back, then replaces it.
    run_previous(&config, &out, &out);
    assert!(!aside.exists());
    assert!(out.join("mapping.csv").is_file());
}

// ---- rows ----

#[test]
fn a_trailing_delimiter_on_every_row_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(
        t.path(),
        b"id,name,email\n1,Ann Lee,ann@x.org,\n2,Bob Roe,bob@x.org,\n3,Cy Day,cy@x.org,  \n",
        "",
        NAME_EMAIL,
    );
    let data = ingest(&config);
    assert_eq!(data.records.len(), 3);
    assert_eq!(data.counts[0].rows_with_trailing_empty_fields, 3);
    // Extra fields that hold something are still wrong.
    let config = one_source(
        t.path(),
        b"id,name,email\n1,Ann Lee,ann@x.org,\n2,Bob Roe,bob@x.org,oops\n3,Cy,cy@x.org\n",
        "",
        NAME_EMAIL,
    );
    let data = ingest(&config);
    assert_eq!((data.counts[0].accepted, data.counts[0].rejected), (2, 1));
    assert_eq!(data.rejected[0].line, 3);
}

#[test]
fn short_rows_are_accepted_only_when_flexible() {
    let t = tempfile::tempdir().unwrap();
    let csv = b"id,name,email\n1,Ann Lee\n2,Bob Roe,bob@x.org\n3,Cy Day,cy@x.org\n";
    let data = ingest(&one_source(t.path(), csv, "", NAME_EMAIL));
    assert_eq!(data.counts[0].rejected, 1);
    let data = ingest(&one_source(t.path(), csv, "flexible = true", NAME_EMAIL));
    assert_eq!(data.counts[0].accepted, 3);
    assert_eq!(data.counts[0].short_rows_padded, 1);
}

#[test]
fn a_source_that_is_mostly_rejected_fails_the_run() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(
        t.path(),
        b"id,name,email\n1,Ann,a@x.org,x\n2,Bob,b@x.org,y\n3,Cy,c@x.org\n",
        "",
        NAME_EMAIL,
    );
    let out = t.path().join("out");
    let o = run(&config, &out);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("people") && e.contains("wrong number of fields"),
        "{e}"
    );
    assert!(
        !out.exists(),
        "no mapping is published without a whole system"
    );
    fs::write(
        &config,
        fs::read_to_string(&config).unwrap().replace(
            "record_id = \"id\"",
            "record_id = \"id\"\nmax_rejected_share = 0.9",
        ),
    )
    .unwrap();
    run_ok(&config, &out);
}

#[test]
fn an_empty_export_fails_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a.csv"), "id,name\n1,Ann Lee\n2,Bob Roe\n").unwrap();
    fs::write(t.path().join("b.csv"), "id,name\n").unwrap();
    let config = t.path().join("resolve.toml");
    let write = |extra: &str| {
        fs::write(
            &config,
            format!(
                "[[source]]\nname=\"a\"\npath=\"a.csv\"\nrecord_id=\"id\"\n[source.fields]\nfull_name=\"name\"\n\
                 [[source]]\nname=\"b\"\npath=\"b.csv\"\nrecord_id=\"id\"\n{extra}\n[source.fields]\nfull_name=\"name\"\n"
            ),
        )
        .unwrap()
    };
    write("");
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("allow_empty"), "{}", stderr(&o));
    write("allow_empty = true");
    run_ok(&config, &t.path().join("out"));
}

#[test]
fn a_stray_quote_costs_only_its_own_line() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(
        t.path(),
        b"id,name,email\nX1,Ann Lee,a@x.org\nX2,\"Bob Roe,b@x.org\nX3,Cy Day,c@x.org\nX4,Di Eve,d@x.org\n",
        "",
        NAME_EMAIL,
    );
    let data = ingest(&config);
    let c = &data.counts[0];
    assert_eq!((c.rows, c.accepted, c.rejected), (4, 3, 1));
    assert_eq!(data.rejected[0].line, 3);
    assert!(data.rejected[0].reason.contains("quote"));
    assert_eq!(data.rejected[0].raw, "X2,\"Bob Roe,b@x.org");
    // A long export: one stray quote near the top costs one row, not the rest.
    let mut big = b"id,name,email\n".to_vec();
    for i in 0..5000 {
        if i == 10 {
            big.extend_from_slice(format!("R{i},\"Stray Quote,s@x.org\n").as_bytes());
        } else {
            big.extend_from_slice(format!("R{i},Person {i},p{i}@x.org\n").as_bytes());
        }
    }
    let data = ingest(&one_source(t.path(), &big, "", NAME_EMAIL));
    let c = &data.counts[0];
    assert_eq!((c.rows, c.accepted, c.rejected), (5000, 4999, 1));
    // A real quoted line break is kept.
    let data = ingest(&one_source(
        t.path(),
        b"id,name,email\n1,\"Ann\nLee\",a@x.org\n2,Bob,b@x.org\n",
        "",
        NAME_EMAIL,
    ));
    assert_eq!(data.counts[0].accepted, 2);
    assert_eq!(data.records[1].line, 4);
}

#[test]
fn line_numbers_are_physical_lines_whatever_the_line_ends() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(
        t.path(),
        b"id,name,email\r\n1,Ann,a@x.org\n\n2,Bob,b@x.org,extra\n3,Cy,c@x.org\r\n,Di,d@x.org\n",
        "max_rejected_share = 0.9",
        NAME_EMAIL,
    );
    let data = ingest(&config);
    let lines: Vec<u64> = data.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 6]);
    assert_eq!(
        data.records.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 5]
    );
}

#[test]
fn a_header_of_any_width_is_read() {
    let t = tempfile::tempdir().unwrap();
    let mut header: Vec<String> = (0..7000).map(|i| format!("column_number_{i}")).collect();
    header[0] = "id".into();
    header[6998] = "name".into();
    header[6999] = "email".into();
    let mut row: Vec<String> = vec![String::new(); 7000];
    row[0] = "1".into();
    row[6998] = "Ann Lee".into();
    row[6999] = "ann@x.org".into();
    let csv = format!("{}\n{}\n", header.join(","), row.join(","));
    assert!(csv.len() > 64 * 1024);
    let data = ingest(&one_source(t.path(), csv.as_bytes(), "", NAME_EMAIL));
    assert_eq!(data.counts[0].accepted, 1);
    assert_eq!(data.profiles[0].emails.len(), 1);
}

// ---- encodings ----

#[test]
fn utf16_exports_are_read() {
    let t = tempfile::tempdir().unwrap();
    let text = "id\tname\temail\r\n1\tJürgen Müller\tj@x.de\r\n2\tZoë Ørsted\tz@x.dk\r\n";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let data = ingest(&one_source(t.path(), &le, "", NAME_EMAIL));
    assert_eq!(data.counts[0].accepted, 2);
    assert_eq!(data.counts[0].encoding, "utf-16le");
    assert_eq!(
        data.details.get(0).display.name.as_ref().unwrap().raw,
        "Jürgen Müller"
    );
    // Without a BOM, big-endian.
    let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let data = ingest(&one_source(t.path(), &be, "", NAME_EMAIL));
    assert_eq!(data.counts[0].encoding, "utf-16be");
    assert_eq!(data.counts[0].accepted, 2);
}

// ---- international exports ----

#[test]
fn international_fixture_every_phone_and_date_is_right() {
    let dir = root().join("fixtures/intl");
    let data = ingest(&dir.join("resolve.toml"));
    let mut want = csv::Reader::from_path(dir.join("expected.csv")).unwrap();
    let mut checked = 0;
    for row in want.records() {
        let row = row.unwrap();
        let (s, id, phone, dob) = (&row[0], &row[1], &row[2], &row[3]);
        let r = data
            .find(s, id)
            .unwrap_or_else(|| panic!("{s}:{id} not accepted"));
        let p = &data.profiles[data.records[r as usize].profile as usize];
        let phones: Vec<&str> = p.phones.iter().map(|p| p.e164.as_str()).collect();
        assert_eq!(phones, [phone], "{s}:{id}");
        if !dob.is_empty() {
            let dobs: Vec<String> = p.dobs.iter().map(|d| d.to_string()).collect();
            assert_eq!(dobs, [dob], "{s}:{id}");
        }
        checked += 1;
    }
    assert_eq!(checked, data.records.len());
    assert!(data.rejected.is_empty());
    let by = |n: &str| data.counts.iter().find(|c| c.name == n).unwrap();
    assert_eq!(by("support").encoding, "utf-16le");
    assert!(by("kunden").windows_1252_fields > 0);
    assert_eq!(by("shop").rows_with_trailing_empty_fields, by("shop").rows);
    assert!(by("shop").rows_with_country_region > 0);
    assert!(by("facturation").ambiguous_dates > 0);
    // Day-first event dates: "03/07/2024" in the UK desk is 3 July.
    let c = data.find("support", "C-9002").unwrap();
    assert_eq!(
        data.records[c as usize].date.unwrap().to_string(),
        "2024-07-03"
    );
}

#[test]
fn international_fixture_links_its_people() {
    let t = tempfile::tempdir().unwrap();
    let dir = root().join("fixtures/intl");
    let out = t.path().join("out");
    run_ok(&dir.join("resolve.toml"), &out);
    let o = idresolve(&[
        "evaluate",
        "--json",
        "--mapping",
        out.join("mapping.csv").to_str().unwrap(),
        "--truth",
        dir.join("truth.csv").to_str().unwrap(),
    ]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f1 = e["pairwise_f1"].as_f64().unwrap();
    assert!(f1 >= 0.95, "F1 {f1}");
    // The Irish number that looks like a keyboard run finds its owner.
    let o = idresolve(&[
        "lookup",
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--phone",
        "+353 1 234 5678",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let answers: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let name = answers[0]["golden"]["name"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(name.contains("byrne"), "{name}");
}

#[test]
fn refused_values_are_counted_and_warned_about() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(
        t.path(),
        b"id,name,email\n1,Ann Lee,not an email\n2,Bob Roe,N/A\n3,Cy Day,cy@x.org\n4,Di Eve,\n",
        "",
        NAME_EMAIL,
    );
    let data = ingest(&config);
    let email = data.counts[0]
        .fields
        .iter()
        .find(|f| f.field == "email")
        .unwrap();
    assert_eq!(
        (
            email.filled,
            email.accepted,
            email.refused_placeholder,
            email.refused_invalid
        ),
        (3, 1, 1, 1)
    );
    let o = Command::cargo_bin("idresolve")
        .unwrap()
        .args(["run", "--config", config.to_str().unwrap(), "--out"])
        .arg(t.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("email refused as invalid in 1 of 2"),
        "{}",
        stderr(&o)
    );
}

// ---- config and inputs ----

#[test]
fn config_mistakes_are_named() {
    let t = tempfile::tempdir().unwrap();
    let csv = b"id,name,email\n1,Ann,a@x.org\n";
    // Wrong delimiter: the hint names the right one.
    let config = one_source(
        t.path(),
        b"id;name;email\n1;Ann;a@x.org\n",
        "delimiter = \",\"",
        NAME_EMAIL,
    );
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("delimiter = \";\""), "{}", stderr(&o));
    assert!(!stderr(&o).contains("did you mean"), "{}", stderr(&o));
    // An empty column list.
    let config = one_source(t.path(), csv, "", "full_name = \"name\"\nemail = []");
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("fields.email = []"), "{}", stderr(&o));
    // A duplicated header name that the config uses.
    let config = one_source(
        t.path(),
        b"id,name,name\n1,Ann,Bob\n",
        "",
        "full_name = \"name\"",
    );
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("more than once"), "{}", stderr(&o));
    // The same file as two sources.
    fs::write(t.path().join("data.csv"), csv).unwrap();
    fs::write(
        t.path().join("twice.toml"),
        "[[source]]\nname=\"a\"\npath=\"data.csv\"\nrecord_id=\"id\"\n[source.fields]\nfull_name=\"name\"\n\
         [[source]]\nname=\"b\"\npath=\"./data.csv\"\nrecord_id=\"id\"\n[source.fields]\nfull_name=\"name\"\n",
    )
    .unwrap();
    let o = run(&t.path().join("twice.toml"), &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
    // Keys out of range.
    for (key, value) in [
        ("u_sample_pairs", "9223372036854775807"),
        ("max_em_iterations", "0"),
    ] {
        let config = one_source(t.path(), csv, "", NAME_EMAIL);
        let text = fs::read_to_string(&config).unwrap();
        fs::write(&config, format!("[match]\n{key} = {value}\n{text}")).unwrap();
        let o = run(&config, &t.path().join("out"));
        assert_eq!(code(&o), 2, "{key}: {}", stderr(&o));
        assert!(stderr(&o).contains(key));
    }
    // A bad region and date order.
    let config = one_source(
        t.path(),
        csv,
        "region = \"XX\"\ndate_order = \"dym\"",
        NAME_EMAIL,
    );
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("region") && stderr(&o).contains("date_order"));
}

#[test]
fn a_fifo_as_an_input_is_refused_not_waited_on() {
    let t = tempfile::tempdir().unwrap();
    let config = one_source(t.path(), b"", "", NAME_EMAIL);
    fs::remove_file(t.path().join("data.csv")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(t.path().join("data.csv"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !made {
        eprintln!("mkfifo not available; skipped");
        return;
    }
    let o = run(&config, &t.path().join("out"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

// ---- side commands ----

fn demo_out(t: &Path) -> (PathBuf, PathBuf) {
    let config = demo_copy(t);
    let out = t.join("out");
    run_ok(&config, &out);
    (config, out)
}

#[test]
fn side_commands_survive_a_closed_pipe() {
    use std::process::Stdio;
    let t = tempfile::tempdir().unwrap();
    let (config, out) = demo_out(t.path());
    let truth = config.parent().unwrap().join("truth.csv");
    let o = out.to_str().unwrap();
    for args in [
        vec!["explain", "--out", o, "warranty:W-1001", "support:T-5003"],
        vec![
            "evaluate",
            "--mapping",
            &format!("{o}/mapping.csv"),
            "--truth",
            truth.to_str().unwrap(),
        ],
        vec!["lookup", "--out", o, "--phone", "555 123 4567"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idresolve"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn lookup_batch_json_is_json_for_every_line_and_names_bad_lines() {
    let t = tempfile::tempdir().unwrap();
    let (_, out) = demo_out(t.path());
    let batch = t.path().join("q.txt");
    let mut q = b"phone:555 123 4567\nnobody-like-this-zzzz\n".to_vec();
    q.extend_from_slice(b"name:\xff\xfe bad\ncase:W-1005\n");
    fs::write(&batch, q).unwrap();
    let o = idresolve(&[
        "lookup",
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--batch",
        batch.to_str().unwrap(),
    ]);
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["customers"], serde_json::json!([]));
    assert!(lines[3]["customers"][0]["golden_id"].is_string());
    assert!(stderr(&o).contains(":3:"), "{}", stderr(&o));
}

#[test]
fn numeric_options_are_range_checked() {
    let t = tempfile::tempdir().unwrap();
    let (_, out) = demo_out(t.path());
    let o = out.to_str().unwrap();
    for args in [
        vec!["lookup", "--out", o, "--limit", "9223372036854775807", "x"],
        vec!["lookup", "--out", o, "--limit", "2305843009213693952", "x"],
        vec!["--threads", "100000", "lookup", "--out", o, "x"],
        vec![
            "generate",
            "--customers",
            "18446744073709551615",
            "--out",
            o,
        ],
    ] {
        let r = idresolve(&args);
        assert_eq!(code(&r), 2, "{args:?}: {}", stderr(&r));
    }
}

#[test]
fn damaged_run_folders_give_errors_not_panics() {
    let t = tempfile::tempdir().unwrap();
    let (config, out) = demo_out(t.path());
    // Flip bytes in every index file.
    for e in fs::read_dir(out.join("index")).unwrap() {
        let p = e.unwrap().path();
        let mut b = fs::read(&p).unwrap();
        for i in (0..b.len()).step_by(7) {
            b[i] ^= 0x5A;
        }
        fs::write(&p, b).unwrap();
    }
    for q in ["555 123 4567", "Robert Smith", "W-1001"] {
        let o = idresolve(&["lookup", "--out", out.to_str().unwrap(), q]);
        assert!(matches!(code(&o), 1 | 0), "{q}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // A damaged model.json: the run refuses it, naming what is wrong.
    let model = t.path().join("model.json");
    let run_with_model = |field: &str, value: serde_json::Value, out_name: &str| {
        let mut m: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
        m[field] = value;
        fs::write(&model, m.to_string()).unwrap();
        idresolve(&[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            t.path().join(out_name).to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
    };
    // A nonsense model.
    let o = run_with_model("prior", serde_json::json!(2.0), "o2");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("prior"));
    // A model written by another version (its date-of-birth levels differ).
    let o = run_with_model("format", serde_json::json!("idresolve-model-1"), "o4");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("model.json") && stderr(&o).contains("rerun (without --model)"),
        "{}",
        stderr(&o)
    );
    // A golden-ID counter at the end of its range.
    let state = out.join("state.json");
    fs::write(
        &state,
        r#"{"tool":"idresolve","next_golden_id":18446744073709551615}"#,
    )
    .unwrap();
    let o = idresolve(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        t.path().join("o3").to_str().unwrap(),
        "--previous",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
}

#[test]
fn evaluate_refuses_an_empty_or_foreign_truth() {
    let t = tempfile::tempdir().unwrap();
    let (_, out) = demo_out(t.path());
    let truth = t.path().join("truth.csv");
    fs::write(&truth, "source,record_id,entity_id\n").unwrap();
    let m = out.join("mapping.csv");
    let o = idresolve(&[
        "evaluate",
        "--mapping",
        m.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    fs::write(&truth, "source,record_id,entity_id\nother,1,1\nother,2,1\n").unwrap();
    let o = idresolve(&[
        "evaluate",
        "--mapping",
        m.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("same data"), "{}", stderr(&o));
}

#[test]
fn explain_warns_when_an_export_changed_since_the_run() {
    let t = tempfile::tempdir().unwrap();
    let (config, out) = demo_out(t.path());
    let args = [
        "explain",
        "--out",
        out.to_str().unwrap(),
        "warranty:W-1001",
        "support:T-5003",
    ];
    assert!(!stderr(&idresolve(&args)).contains("changed since the run"));
    let shop = config.parent().unwrap().join("shop.csv");
    let mut text = fs::read_to_string(&shop).unwrap();
    text.push_str("O-99999,New Person,new@x.org,,,,,2024-01-01\n");
    fs::write(&shop, text).unwrap();
    let o = idresolve(&args);
    assert!(
        stderr(&o).contains("changed since the run"),
        "{}",
        stderr(&o)
    );
}

// ---- fuzzing: whole files and configs ----

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that make CSV hard: delimiters, quotes, line ends, NUL-free binary, UTF-8.
    fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b",".to_vec()),
            Just(b";".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b" ".to_vec()),
            Just("Jürgen".as_bytes().to_vec()),
            Just(b"\xe9\xff".to_vec()),
            Just(b"555-123-4567".to_vec()),
            Just(b"a@x.org".to_vec()),
            Just(b"03/07/2023".to_vec()),
            "[a-zA-Z0-9]{1,6}".prop_map(|s| s.into_bytes()),
        ];
        proptest::collection::vec(piece, 0..120).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any file body under a good header: no panic, and every row accounted for.
        #[test]
        fn any_file_is_read_or_refused_and_every_row_is_counted(body in csv_bytes(), flexible in any::<bool>()) {
            let t = tempfile::tempdir().unwrap();
            let mut csv = b"id,name,email,phone,dob\n".to_vec();
            csv.extend_from_slice(&body);
            let config = one_source(
                t.path(),
                &csv,
                &format!("flexible = {flexible}\nallow_empty = true\nmax_rejected_share = 1.0"),
                "full_name = \"name\"\nemail = \"email\"\nphone = \"phone\"\ndob = \"dob\"",
            );
            let config = Config::load(&config).unwrap();
            match idresolve::ingest::ingest(&config, |_| {}) {
                Ok(data) => {
                    for c in &data.counts {
                        prop_assert_eq!(c.rows, c.accepted + c.rejected);
                    }
                    prop_assert_eq!(data.records.len() as u64, data.counts[0].accepted);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Any header and body, any config text: errors, never panics.
        #[test]
        fn any_file_and_config_never_panics(head in csv_bytes(), body in csv_bytes(), cfg in "[a-z_=\\[\\]\" .\n0-9-]{0,200}") {
            let t = tempfile::tempdir().unwrap();
            let mut csv = head;
            csv.extend_from_slice(&body);
            let config = one_source(t.path(), &csv, "", NAME_EMAIL);
            if let Ok(config) = Config::load(&config) {
                let _ = idresolve::ingest::ingest(&config, |_| {});
            }
            let other = t.path().join("other.toml");
            fs::write(&other, &cfg).unwrap();
            let _ = Config::load(&other);
        }
    }
}

#[test]
fn a_gifts_recipient_is_not_the_buyer() {
    let t = tempfile::tempdir().unwrap();
    let csv = b"id,name,email,ship_to,ship_street\n\
        1,Robert Smith,rob@x.com,Robert Smith,1 Elm Street\n\
        2,Robert Smith,rob@x.com,Mary Jones,9 Oak Road\n\
        3,Robert Smith,rob@x.com,Bob Smith,1 Elm Street\n\
        4,Robert Smith,rob@x.com,,5 Pine Way\n";
    let config = one_source(
        t.path(),
        csv,
        "",
        "full_name = \"name\"\nemail = \"email\"\n[source.recipient]\nfull_name = \"ship_to\"\naddress = \"ship_street\"",
    );
    let d = ingest(&config);
    let address = |i: usize| d.profiles[d.records[i].profile as usize].addresses.clone();
    // Ships to himself (a nickname is still him, and no name says nothing else): his address.
    assert_eq!(address(0).len(), 1);
    assert_eq!(address(2), address(0));
    assert_eq!(address(3).len(), 1);
    // A gift to Mary Jones: her street is not his.
    assert!(address(1).is_empty());
    assert_eq!(d.counts[0].rows_with_other_recipient, 1);
    // Only names and places may be a recipient's.
    let bad = one_source(
        t.path(),
        csv,
        "",
        "full_name = \"name\"\n[source.recipient]\nemail = \"email\"",
    );
    let e = Config::load(&bad).unwrap_err().to_string();
    assert!(e.contains("[source.recipient] key `email`"), "{e}");
}

#[test]
fn a_run_with_previous_says_which_records_are_new_changed_and_removed() {
    let t = tempfile::tempdir().unwrap();
    let config = demo_copy(t.path());
    let dir = config.parent().unwrap().to_path_buf();
    let old = t.path().join("old");
    crate::util::run_ok(&config, &old);
    assert!(old.join("rows.bin").is_file());
    // Tonight: one ticket's phone corrected, one order gone, one account new; the
    // billing export re-saved with every field quoted (the same content).
    let support = fs::read_to_string(dir.join("support.csv")).unwrap();
    fs::write(
        dir.join("support.csv"),
        support.replacen(
            "T-5002,Bob Smith,555-123-4567",
            "T-5002,Bob Smith,555-123-4568",
            1,
        ),
    )
    .unwrap();
    let shop = fs::read_to_string(dir.join("shop.csv")).unwrap();
    let shop: Vec<&str> = shop.lines().filter(|l| !l.starts_with("O-9004,")).collect();
    fs::write(dir.join("shop.csv"), shop.join("\n") + "\n").unwrap();
    let billing = fs::read_to_string(dir.join("billing.csv")).unwrap();
    let quoted: Vec<String> = billing
        .lines()
        .map(|l| {
            l.split(';')
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(";")
        })
        .collect();
    fs::write(
        dir.join("billing.csv"),
        quoted.join("\n") + "\nA-99;Nina;Novak;nina@example.com;555 222 3333;1 Elm St;Springfield;62701;1990-01-01\n",
    )
    .unwrap();
    let new = t.path().join("new");
    crate::util::run_previous(&config, &new, &old);
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(new.join("run.json")).unwrap()).unwrap();
    let n = &report["records_since_previous"];
    assert_eq!(
        (
            n["new"].as_u64(),
            n["changed"].as_u64(),
            n["removed"].as_u64(),
            n["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(29)),
        "{n}"
    );
}
