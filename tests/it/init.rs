//! `idresolve init`: the draft config for exports it has never seen runs unedited.

use std::path::Path;

use crate::util::{ok, root};

/// Rewrites a generated export under another vendor's column names, delimiter,
/// encoding and date layout.
fn rewrite(
    from: &Path,
    to: &Path,
    names: &[(&str, &str)],
    delimiter: u8,
    windows_1252: bool,
    dates: &[&str],
) {
    // Generated exports carry broken rows on purpose: keep them as they are.
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(from)
        .unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let date_cols: Vec<usize> = dates
        .iter()
        .map(|d| header.iter().position(|h| h == d).unwrap())
        .collect();
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .from_writer(Vec::new());
    w.write_record(header.iter().map(|h| {
        names
            .iter()
            .find(|(a, _)| a == h)
            .map_or(h.as_str(), |(_, b)| b)
    }))
    .unwrap();
    for row in r.records() {
        let row = row.unwrap();
        let fields: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| {
                // ISO dates become day-first with slashes (25/03/1985).
                if date_cols.contains(&i) && v.len() == 10 && v.as_bytes()[4] == b'-' {
                    format!("{}/{}/{}", &v[8..10], &v[5..7], &v[0..4])
                } else {
                    v.to_string()
                }
            })
            .collect();
        w.write_record(&fields).unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let bytes = if windows_1252 {
        encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
    } else {
        text.into_bytes()
    };
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn init_drafts_a_config_that_runs_unedited_on_unseen_exports() {
    let t = tempfile::tempdir().unwrap();
    let gen = t.path().join("gen");
    ok(&[
        "generate",
        "--customers",
        "800",
        "--seed",
        "7",
        "--out",
        gen.to_str().unwrap(),
    ]);
    let d = t.path().join("exports");
    std::fs::create_dir(&d).unwrap();
    // A German CRM: `;`, Windows-1252, day-first birth dates, German column names.
    rewrite(
        &gen.join("billing.csv"),
        &d.join("kunden.csv"),
        &[
            ("account_id", "Kundennummer"),
            ("first_name", "Vorname"),
            ("last_name", "Nachname"),
            ("email", "E-Mail"),
            ("phone", "Telefon"),
            ("mobile", "Handy"),
            ("street", "Straße"),
            ("city", "Ort"),
            ("zip", "PLZ"),
            ("birth_date", "Geburtsdatum"),
            ("opened", "Kunde seit"),
        ],
        b';',
        true,
        &["birth_date"],
    );
    // A ticket system whose headers name no kind init knows for name, phone, serial, date.
    rewrite(
        &gen.join("support.csv"),
        &d.join("tickets.csv"),
        &[
            ("case_number", "Ticket"),
            ("caller", "Anrufer"),
            ("callback_number", "Rückruf"),
            ("email", "Mail"),
            ("device_serial", "Gerät"),
            ("opened_at", "Eingang"),
            ("subject", "Betreff"),
        ],
        b',',
        false,
        &[],
    );
    // Warranty claims: US dates (month first) among German headers.
    rewrite(
        &gen.join("warranty.csv"),
        &d.join("garantie.csv"),
        &[
            ("claim_no", "Garantiefall"),
            ("owner_name", "Inhaber"),
            ("owner_email", "E-Mail-Adresse"),
            ("owner_phone", "Tel."),
            ("serial_number", "Seriennummer"),
            ("purchase_date", "Kaufdatum"),
            ("support_case_ref", "Ticket-Bezug"),
        ],
        b',',
        false,
        &[],
    );
    rewrite(
        &gen.join("shop.csv"),
        &d.join("orders.csv"),
        &[
            ("order_id", "OrderNo"),
            ("customer_name", "Buyer"),
            ("customer_email", "BuyerEmail"),
            ("customer_phone", "BuyerPhone"),
            ("ship_to", "DeliverTo"),
            ("ship_address", "DeliveryStreet"),
            ("ship_city", "DeliveryCity"),
            ("ship_zip", "DeliveryZip"),
            ("order_date", "Placed"),
        ],
        b',',
        false,
        &[],
    );
    // The truth, under the new source names.
    let truth = std::fs::read_to_string(gen.join("truth.csv")).unwrap();
    let truth = truth
        .lines()
        .map(|l| {
            for (a, b) in [
                ("billing,", "kunden,"),
                ("support,", "tickets,"),
                ("warranty,", "garantie,"),
                ("shop,", "orders,"),
            ] {
                if let Some(rest) = l.strip_prefix(a) {
                    return format!("{b}{rest}");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("truth.csv"), truth).unwrap();

    let config = d.join("resolve.toml");
    let files: Vec<String> = ["kunden.csv", "tickets.csv", "garantie.csv", "orders.csv"]
        .iter()
        .map(|f| d.join(f).display().to_string())
        .collect();
    let mut args = vec!["init", "--out", config.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    ok(&args);
    let draft = std::fs::read_to_string(&config).unwrap();
    for line in [
        "delimiter = \";\"",
        "dob = \"Geburtsdatum\"",
        "full_name = \"Anrufer\"",
        "serial = \"Gerät\"",
        "email = \"E-Mail-Adresse\"",
        "date_order = \"dmy\"",
        "case = [\"Garantiefall\", \"Ticket-Bezug\"]",
        "note = \"Betreff\"",
        "kind = \"support\"",
        "[source.recipient]",
    ] {
        assert!(
            draft.contains(line),
            "{line} missing from the draft:\n{draft}"
        );
    }
    // init never replaces a file.
    let again = crate::util::idresolve(&["init", "--out", config.to_str().unwrap(), &files[0]]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), draft);

    let out = t.path().join("out");
    crate::util::run_ok(&config, &out);
    let report = ok(&[
        "evaluate",
        "--json",
        "--mapping",
        out.join("mapping.csv").to_str().unwrap(),
        "--truth",
        d.join("truth.csv").to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    let f1 = v["pairwise_f1"].as_f64().unwrap();
    eprintln!("init on unseen exports: pairwise F1 {f1}");
    assert!(f1 >= 0.90, "F1 {f1} with the drafted config:\n{draft}");
}

#[test]
fn init_reproduces_the_demo_configs_field_kinds() {
    let demo = root().join("fixtures/demo");
    let files: Vec<String> = ["warranty.csv", "billing.csv", "support.csv", "shop.csv"]
        .iter()
        .map(|f| demo.join(f).display().to_string())
        .collect();
    let mut args = vec!["init"];
    args.extend(files.iter().map(String::as_str));
    let draft = ok(&args);
    let kinds = |text: &str| -> Vec<(String, Vec<(String, String)>)> {
        let v: toml::Value = toml::from_str(text).unwrap();
        v["source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut f: Vec<(String, String)> = s["fields"]
                    .as_table()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect();
                f.sort();
                (s["name"].as_str().unwrap().to_string(), f)
            })
            .collect()
    };
    let demo_config = std::fs::read_to_string(demo.join("resolve.toml")).unwrap();
    assert_eq!(kinds(&draft), kinds(&demo_config), "{draft}");
    // And it runs unedited (paths relative to where it was asked).
    let t = tempfile::tempdir().unwrap();
    let config = t.path().join("resolve.toml");
    let mut args = vec!["init", "--out", config.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    ok(&args);
    crate::util::run_ok(&config, &t.path().join("out"));
}
