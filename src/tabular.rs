//! Exports that are not CSV: JSON Lines (`.jsonl`, `.ndjson`) and Parquet (`.parquet`).
//! Each is read as rows of strings under a header, the shape the CSV reader gives, so
//! that ingestion treats every format alike:
//!
//! - JSON Lines: one object per line; nested objects are addressed by a dotted path
//!   (`customer.email`); numbers keep their written digits (`700123456`), booleans are
//!   `true`/`false`, `null` is empty, an array of values is joined with `;` (a list of
//!   serials). The header is every path seen in the first [`JSONL_HEADER_LINES`] lines,
//!   in first-seen order. A line that is not a JSON object is a rejected row with its
//!   line number.
//! - Parquet (through the `parquet` crate's Arrow reader, one record batch at a time, so
//!   a file is never held whole): typed columns become the strings the normalizers
//!   expect — integers and decimals as written, dates `YYYY-MM-DD`, timestamps with
//!   their date first, booleans, nulls empty; struct columns are flattened to dotted
//!   paths, list columns joined with `;`. Rows are numbered from 1 in file order.
//!
//! The format follows the file's extension, or `format = …` in the config.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};

/// Lines read for a JSON Lines file's header.
pub const JSONL_HEADER_LINES: usize = 10_000;

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Jsonl, Format::Parquet];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    /// `format = …` as written (`csv`, `tsv`, `jsonl`, `ndjson`, `parquet`).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json-lines" | "jsonlines" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The format a file's extension names (CSV for any other).
    pub fn of_path(path: &Path) -> Format {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" | "parq" => Format::Parquet,
            _ => Format::Csv,
        }
    }
}

/// One row of a non-CSV export: its position (line or row number) and fields aligned
/// to the header, or why it cannot be used (with the row as text, for `rejected.csv`).
pub enum Row {
    Fields(u64, csv::ByteRecord),
    Bad(u64, String, String),
}

/// The header of a non-CSV export. The error is a sentence for the config validator.
pub fn header(path: &Path, format: Format) -> std::result::Result<Vec<String>, String> {
    match format {
        Format::Csv => Err("not a CSV reader".into()),
        Format::Jsonl => jsonl_header(path),
        Format::Parquet => parquet_header(path),
    }
}

/// Reads every row of a non-CSV export in order, calling `each` for each.
pub fn rows(
    path: &Path,
    format: Format,
    header: &[String],
    each: &mut dyn FnMut(Row),
) -> Result<()> {
    match format {
        Format::Csv => Err(Error::input(path, "not a CSV reader")),
        Format::Jsonl => jsonl_rows(path, header, each),
        Format::Parquet => parquet_rows(path, header, each),
    }
}

fn open(path: &Path) -> std::result::Result<File, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => format!("cannot open: {e}"),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    File::open(path).map_err(|e| format!("cannot open: {e}"))
}

/// Appends every leaf of `v` under `prefix` as (dotted path, text).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, child, out);
            }
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

/// A JSON value as the text a CSV cell would hold.
fn scalar(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(";"),
        Value::Object(_) => v.to_string(),
    }
}

fn jsonl_header(path: &Path) -> std::result::Result<Vec<String>, String> {
    let mut reader = BufReader::new(open(path)?);
    let mut header: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut line = Vec::new();
    let mut n = 0;
    while n < JSONL_HEADER_LINES {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read: {e}"))?
            == 0
        {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim().trim_start_matches('\u{feff}');
        if text.is_empty() {
            continue;
        }
        n += 1;
        if let Ok(v @ serde_json::Value::Object(_)) =
            serde_json::from_str::<serde_json::Value>(text)
        {
            let mut leaves = Vec::new();
            flatten("", &v, &mut leaves);
            for (k, _) in leaves {
                if seen.insert(k.clone()) {
                    header.push(k);
                }
            }
        }
    }
    if header.is_empty() {
        return Err(format!(
            "no JSON object in the first {JSONL_HEADER_LINES} lines: is this JSON Lines (one object per line)?"
        ));
    }
    Ok(header)
}

fn jsonl_rows(path: &Path, header: &[String], each: &mut dyn FnMut(Row)) -> Result<()> {
    let file = open(path).map_err(|m| Error::input(path, m))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let index: std::collections::HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut fields: Vec<String> = vec![String::new(); header.len()];
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let raw = String::from_utf8_lossy(&line);
        let text = raw.trim().trim_start_matches('\u{feff}');
        if text.is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                each(Row::Bad(
                    number,
                    format!("invalid JSON: {e}"),
                    text.to_string(),
                ));
                continue;
            }
        };
        if !value.is_object() {
            each(Row::Bad(
                number,
                "not a JSON object (one object per line is expected)".into(),
                text.to_string(),
            ));
            continue;
        }
        let mut leaves = Vec::new();
        flatten("", &value, &mut leaves);
        for f in &mut fields {
            f.clear();
        }
        for (k, v) in leaves {
            if let Some(&i) = index.get(k.as_str()) {
                fields[i] = v;
            }
        }
        let mut row = csv::ByteRecord::new();
        for f in &fields {
            row.push_field(f.as_bytes());
        }
        each(Row::Fields(number, row));
    }
    Ok(())
}

/// Leaf columns of an Arrow schema: dotted paths through structs.
fn leaves(prefix: &str, fields: &arrow_schema::Fields, out: &mut Vec<String>) {
    for f in fields {
        let name = if prefix.is_empty() {
            f.name().clone()
        } else {
            format!("{prefix}.{}", f.name())
        };
        match f.data_type() {
            arrow_schema::DataType::Struct(children) => leaves(&name, children, out),
            _ => out.push(name),
        }
    }
}

fn parquet_builder(
    path: &Path,
) -> std::result::Result<parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>, String>
{
    let file = open(path)?;
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable Parquet file: {e}"))
}

fn parquet_header(path: &Path) -> std::result::Result<Vec<String>, String> {
    let builder = parquet_builder(path)?;
    let mut out = Vec::new();
    leaves("", builder.schema().fields(), &mut out);
    Ok(out)
}

/// The text of each row of `array`, flattened into `columns` (struct children become
/// their own columns, in schema order).
fn columns_of(array: &arrow_array::ArrayRef, out: &mut Vec<Vec<String>>) -> Result<()> {
    use arrow_array::Array;
    use arrow_schema::DataType;
    match array.data_type() {
        DataType::Struct(_) => {
            let s = array
                .as_any()
                .downcast_ref::<arrow_array::StructArray>()
                .ok_or_else(|| Error::Usage("a struct column is not a struct".into()))?;
            for child in s.columns() {
                columns_of(child, out)?;
            }
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let n = array.len();
            let mut col = Vec::with_capacity(n);
            for i in 0..n {
                if array.is_null(i) {
                    col.push(String::new());
                    continue;
                }
                let items = match array.data_type() {
                    DataType::List(_) => array
                        .as_any()
                        .downcast_ref::<arrow_array::ListArray>()
                        .map(|l| l.value(i)),
                    _ => array
                        .as_any()
                        .downcast_ref::<arrow_array::LargeListArray>()
                        .map(|l| l.value(i)),
                };
                let mut parts = Vec::new();
                if let Some(items) = items {
                    let mut inner = Vec::new();
                    columns_of(&items, &mut inner)?;
                    if let Some(first) = inner.into_iter().next() {
                        parts = first.into_iter().filter(|s| !s.is_empty()).collect();
                    }
                }
                col.push(parts.join(";"));
            }
            out.push(col);
        }
        _ => {
            let options = arrow_cast::display::FormatOptions::default()
                .with_null("")
                .with_timestamp_format(Some("%Y-%m-%dT%H:%M:%S%.f"))
                .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.f%:z"));
            let formatter = arrow_cast::display::ArrayFormatter::try_new(array.as_ref(), &options)
                .map_err(|e| Error::Usage(format!("a Parquet column cannot be shown: {e}")))?;
            out.push(
                (0..array.len())
                    .map(|i| formatter.value(i).to_string())
                    .collect(),
            );
        }
    }
    Ok(())
}

fn parquet_rows(path: &Path, header: &[String], each: &mut dyn FnMut(Row)) -> Result<()> {
    let builder = parquet_builder(path).map_err(|m| Error::input(path, m))?;
    let mut names = Vec::new();
    leaves("", builder.schema().fields(), &mut names);
    if names != header {
        return Err(Error::input(
            path,
            "the columns changed while the run was starting; run again",
        ));
    }
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| Error::input(path, e.to_string()))?;
    let mut number = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| {
            Error::input(
                path,
                format!("cannot read the rows after row {number}: {e}"),
            )
        })?;
        let mut columns: Vec<Vec<String>> = Vec::with_capacity(header.len());
        for array in batch.columns() {
            columns_of(array, &mut columns)?;
        }
        for i in 0..batch.num_rows() {
            number += 1;
            let mut row = csv::ByteRecord::new();
            for c in &columns {
                row.push_field(c[i].as_bytes());
            }
            each(Row::Fields(number, row));
        }
    }
    Ok(())
}
