//! Sources as JSON Lines and Parquet, and outputs in either: the same exports in any
//! format give the CSV run's golden-ID partition; typed Parquet columns become the text
//! the normalizers expect; bad JSON lines are rejected rows with their line number.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::util::{csv_rows, ok, root, run_ok};

/// The demo export's rows of the header's width (the CSV run rejects the others).
fn demo_rows(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = root().join("fixtures/demo").join(name);
    let delimiter = if name == "billing.csv" { b';' } else { b',' };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap())
        .filter(|x| x.len() == header.len())
        .map(|x| x.iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// Writes an export as JSON Lines; `nest` moves columns into an object (`caller.name`).
fn to_jsonl(name: &str, to: &Path, nest: &[(&str, &str)]) {
    let (header, rows) = demo_rows(name);
    let mut out = String::new();
    for row in rows {
        let mut v = serde_json::Map::new();
        for (h, x) in header.iter().zip(row) {
            let value = if x.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(x)
            };
            match nest.iter().find(|(col, _)| col == h) {
                Some((_, path)) => {
                    let (outer, inner) = path.split_once('.').unwrap();
                    v.entry(outer.to_string())
                        .or_insert_with(|| serde_json::json!({}))
                        .as_object_mut()
                        .unwrap()
                        .insert(inner.to_string(), value);
                }
                None => {
                    v.insert(h.clone(), value);
                }
            }
        }
        out.push_str(&serde_json::Value::Object(v).to_string());
        out.push('\n');
    }
    std::fs::write(to, out).unwrap();
}

/// Writes an export as Parquet: text columns as strings (null when empty), `dates`
/// (ISO or m/d/Y in the demo) as Date32.
fn to_parquet(name: &str, to: &Path, dates: &[&str]) {
    let (header, rows) = demo_rows(name);
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if dates.contains(&h.as_str()) {
            let mut b = Date32Builder::new();
            for r in &rows {
                let d = chrono::NaiveDate::parse_from_str(&r[i], "%Y-%m-%d")
                    .or_else(|_| chrono::NaiveDate::parse_from_str(&r[i], "%m/%d/%Y"))
                    .ok();
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
                b.append_option(d.map(|d| (d - epoch).num_days() as i32));
            }
            fields.push(Field::new(h, DataType::Date32, true));
            arrays.push(Arc::new(b.finish()));
        } else {
            let mut b = StringBuilder::new();
            for r in &rows {
                if r[i].is_empty() {
                    b.append_null();
                } else {
                    b.append_value(&r[i]);
                }
            }
            fields.push(Field::new(h, DataType::Utf8, true));
            arrays.push(Arc::new(b.finish()));
        }
    }
    write_batch(to, fields, arrays);
}

fn write_batch(to: &Path, fields: Vec<Field>, arrays: Vec<ArrayRef>) {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let f = std::fs::File::create(to).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The partition of a mapping: each golden ID's set of records.
fn partition(mapping: &Path) -> BTreeSet<BTreeSet<(String, String)>> {
    let mut by: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for r in csv_rows(mapping) {
        by.entry(r[2].clone())
            .or_default()
            .insert((r[0].clone(), r[1].clone()));
    }
    by.into_values().collect()
}

/// The demo config with the sources' paths (and support's columns) replaced.
fn config(dir: &Path, ext: &str, nested: bool) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(root().join("fixtures/demo/resolve.toml")).unwrap();
    let mut text = String::new();
    for line in demo.lines() {
        let line = if let Some(name) = line
            .strip_prefix("path = \"")
            .and_then(|l| l.strip_suffix(".csv\""))
        {
            format!("path = \"{name}.{ext}\"")
        } else if line.starts_with("delimiter") {
            continue;
        } else if nested && line == "full_name = \"caller\"" {
            "full_name = \"caller.name\"".into()
        } else if nested && line == "phone = \"callback_number\"" {
            "phone = \"caller.phone\"".into()
        } else {
            line.to_string()
        };
        text.push_str(&line);
        text.push('\n');
    }
    let path = dir.join("resolve.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn jsonl_and_parquet_sources_give_the_csv_runs_partition() {
    let t = tempfile::tempdir().unwrap();
    let csv_out = t.path().join("csv-out");
    run_ok(&root().join("fixtures/demo/resolve.toml"), &csv_out);
    let expected = partition(&csv_out.join("mapping.csv"));

    let j = t.path().join("jsonl");
    std::fs::create_dir(&j).unwrap();
    for name in ["warranty", "billing", "shop"] {
        to_jsonl(
            &format!("{name}.csv"),
            &j.join(format!("{name}.jsonl")),
            &[],
        );
    }
    to_jsonl(
        "support.csv",
        &j.join("support.jsonl"),
        &[
            ("caller", "caller.name"),
            ("callback_number", "caller.phone"),
        ],
    );
    let out = t.path().join("jsonl-out");
    run_ok(&config(&j, "jsonl", true), &out);
    assert_eq!(partition(&out.join("mapping.csv")), expected);

    let p = t.path().join("parquet");
    std::fs::create_dir(&p).unwrap();
    to_parquet(
        "warranty.csv",
        &p.join("warranty.parquet"),
        &["purchase_date"],
    );
    to_parquet("billing.csv", &p.join("billing.parquet"), &["birth_date"]);
    to_parquet("support.csv", &p.join("support.parquet"), &[]);
    to_parquet("shop.csv", &p.join("shop.parquet"), &[]);
    let out = t.path().join("parquet-out");
    run_ok(&config(&p, "parquet", false), &out);
    assert_eq!(partition(&out.join("mapping.csv")), expected);
}

#[test]
fn typed_parquet_columns_read_as_the_text_they_stand_for() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("typed.parquet");
    let mut id = Int64Builder::new();
    let mut day = Date32Builder::new();
    let mut at = TimestampMillisecondBuilder::new();
    let mut flag = BooleanBuilder::new();
    let mut email = StringBuilder::new();
    id.append_value(700123456);
    id.append_value(700123457);
    day.append_value(19_000); // 2022-01-08
    day.append_null();
    at.append_value(1_700_000_000_000); // 2023-11-14T22:13:20
    at.append_null();
    flag.append_value(true);
    flag.append_null();
    email.append_value("a@example.com");
    email.append_null();
    let customer = StructArray::from(vec![(
        Arc::new(Field::new("email", DataType::Utf8, true)),
        Arc::new(email.finish()) as ArrayRef,
    )]);
    write_batch(
        &path,
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("day", DataType::Date32, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("vip", DataType::Boolean, true),
            Field::new("customer", customer.data_type().clone(), true),
        ],
        vec![
            Arc::new(id.finish()),
            Arc::new(day.finish()),
            Arc::new(at.finish()),
            Arc::new(flag.finish()),
            Arc::new(customer),
        ],
    );
    let (header, rows) = idresolve::tables::read(&path).unwrap();
    assert_eq!(header, ["id", "day", "at", "vip", "customer.email"]);
    assert_eq!(
        rows[0],
        [
            "700123456",
            "2022-01-08",
            "2023-11-14T22:13:20",
            "true",
            "a@example.com"
        ]
    );
    assert_eq!(rows[1], ["700123457", "", "", "", ""]);
}

#[test]
fn a_bad_json_line_is_a_rejected_row_with_its_line_number() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(
        d.join("people.jsonl"),
        "{\"id\": 1, \"name\": \"Ann Lee\", \"contact\": {\"email\": \"ann@example.com\"}}\n\
         {\"id\": 2, \"name\": \"Bob Ray\", \"contact\": {\"email\": \"bob@example.com\"}\n\
         \n\
         [1, 2]\n\
         {\"id\": 3, \"name\": \"Ann Lee\", \"contact\": {\"email\": \"ANN@example.com\"}}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("resolve.toml"),
        "[[source]]\nname = \"people\"\npath = \"people.jsonl\"\nrecord_id = \"id\"\n\
         max_rejected_share = 0.9\n[source.fields]\nfull_name = \"name\"\nemail = \"contact.email\"\n",
    )
    .unwrap();
    let out = d.join("out");
    run_ok(&d.join("resolve.toml"), &out);
    let rejected = csv_rows(&out.join("rejected.csv"));
    let lines: Vec<&str> = rejected.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(lines, ["2", "4"], "{rejected:?}");
    assert!(rejected[0][2].starts_with("invalid JSON"));
    let mapping = csv_rows(&out.join("mapping.csv"));
    let ids: Vec<&str> = mapping.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(ids, ["1", "3"]);
}

#[test]
fn tables_can_be_written_as_parquet_and_json_lines() {
    let t = tempfile::tempdir().unwrap();
    let csv_out = t.path().join("csv");
    run_ok(&root().join("fixtures/demo/resolve.toml"), &csv_out);
    let expected = csv_rows(&csv_out.join("mapping.csv"));
    for format in ["parquet", "jsonl"] {
        let out = t.path().join(format);
        ok(&[
            "run",
            "--config",
            root().join("fixtures/demo/resolve.toml").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--output-format",
            format,
        ]);
        for table in ["mapping", "golden", "cases", "links", "attention"] {
            assert!(
                out.join(format!("{table}.{format}")).is_file(),
                "{table}.{format}"
            );
            assert!(!out.join(format!("{table}.csv")).exists());
        }
        let (header, rows) =
            idresolve::tables::read(&out.join(format!("mapping.{format}"))).unwrap();
        assert_eq!(
            header,
            ["source", "record_id", "golden_id", "match_probability"]
        );
        // The same rows; probabilities are floats there ("1.0" for "1.000000").
        assert_eq!(rows.len(), expected.len());
        for (got, want) in rows.iter().zip(&expected) {
            assert_eq!(got[..3], want[..3], "{format}");
            let p = |s: &str| s.parse::<f64>().ok();
            assert_eq!(p(&got[3]), p(&want[3]), "{format}");
        }
        // lookup (and the desk) read the attention list in that format.
        let card = ok(&[
            "lookup",
            "--out",
            out.to_str().unwrap(),
            "--case",
            "T-5002",
            "--json",
        ]);
        assert!(card.contains("repeat_support"), "{format}: {card}");
        // The next run reads it back for stable IDs.
        let next = t.path().join(format!("{format}-next"));
        ok(&[
            "run",
            "--config",
            root().join("fixtures/demo/resolve.toml").to_str().unwrap(),
            "--out",
            next.to_str().unwrap(),
            "--previous",
            out.to_str().unwrap(),
        ]);
        assert_eq!(csv_rows(&next.join("mapping.csv")), expected);
    }
}
