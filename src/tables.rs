//! The output tables in the format a user asks for (`--output-format csv | parquet |
//! jsonl`): `mapping`, `golden`, `cases`, `links`, `attention` and `pairs`. The one owner
//! of those formats: rows arrive as text (what the CSV holds, byte for byte), and each
//! column's [`Kind`] says what it is typed as elsewhere — probabilities and weights as
//! floats, counts as integers, dates as dates, an empty cell as null. Parquet files are
//! written a row group at a time (Arrow arrays, snappy-compressed); JSON Lines as one
//! object per row. [`read`] reads any of the three back, for `--previous`, `explain`
//! and `evaluate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::tabular::Format;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    F64,
    I64,
    Date,
}

/// Rows per Parquet row group.
const ROW_GROUP: usize = 65_536;

/// The file of table `stem` in `format` (`mapping.parquet`).
pub fn file_name(stem: &str, format: Format) -> String {
    format!("{stem}.{}", format.as_str())
}

/// The file of table `stem` in `dir`, whatever its format.
pub fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    Format::ALL
        .iter()
        .map(|f| dir.join(file_name(stem, *f)))
        .find(|p| p.is_file())
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Writes table `stem` into `dir` in `format`: a header, each column's kind, text rows.
pub fn write<R, I>(
    dir: &Path,
    stem: &str,
    format: Format,
    header: &[&str],
    kinds: &[Kind],
    rows: I,
) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    let path = dir.join(file_name(stem, format));
    match format {
        Format::Csv => write_csv(
            &path,
            header,
            rows.into_iter().map(|row| row.into_iter().map(Bytes)),
        ),
        Format::Jsonl => write_jsonl(&path, header, kinds, rows),
        Format::Parquet => write_parquet(&path, header, kinds, rows),
    }
}

/// A text cell as the bytes the CSV writer takes.
struct Bytes<T>(T);

impl<T: AsRef<str>> AsRef<[u8]> for Bytes<T> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().as_bytes()
    }
}

/// Writes a CSV file (private, buffered) from a header and rows: every CSV table of a
/// run goes through here.
pub fn write_csv<R, I>(path: &Path, header: &[&str], rows: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let f = crate::outdir::create_private_file(path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, f));
    w.write_record(header).map_err(|e| io_error(path, e))?;
    for row in rows {
        w.write_record(row).map_err(|e| io_error(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

fn json_cell(kind: Kind, text: &str) -> serde_json::Value {
    use serde_json::Value;
    if text.is_empty() {
        return Value::Null;
    }
    match kind {
        Kind::Str | Kind::Date => Value::String(text.to_string()),
        Kind::F64 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Kind::I64 => text
            .parse::<i64>()
            .map_or(Value::Null, |n| Value::Number(n.into())),
    }
}

fn write_jsonl<R, I>(path: &Path, header: &[&str], kinds: &[Kind], rows: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    use std::io::Write;
    let f = crate::outdir::create_private_file(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    // Keys in the header's order (a JSON map would sort them).
    let keys: Vec<String> = header
        .iter()
        .map(|h| serde_json::Value::String(h.to_string()).to_string())
        .collect();
    let mut line = String::new();
    for row in rows {
        line.clear();
        line.push('{');
        for (i, ((key, kind), cell)) in keys.iter().zip(kinds).zip(row).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(key);
            line.push(':');
            line.push_str(&json_cell(*kind, cell.as_ref()).to_string());
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())
            .map_err(|e| Error::io(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

fn write_parquet<R, I>(path: &Path, header: &[&str], kinds: &[Kind], rows: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    use arrow_array::builder::{Date32Builder, Float64Builder, Int64Builder, StringBuilder};
    use arrow_array::{ArrayRef, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    let schema = Arc::new(Schema::new(
        header
            .iter()
            .zip(kinds)
            .map(|(name, kind)| {
                let t = match kind {
                    Kind::Str => DataType::Utf8,
                    Kind::F64 => DataType::Float64,
                    Kind::I64 => DataType::Int64,
                    Kind::Date => DataType::Date32,
                };
                Field::new(*name, t, true)
            })
            .collect::<Vec<_>>(),
    ));
    let f = crate::outdir::create_private_file(path)?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props))
        .map_err(|e| io_error(path, e))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let flush = |cells: &mut Vec<Vec<String>>,
                 writer: &mut parquet::arrow::ArrowWriter<std::fs::File>|
     -> Result<()> {
        if cells.first().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = cells
            .iter()
            .zip(kinds)
            .map(|(col, kind)| -> ArrayRef {
                match kind {
                    Kind::Str => {
                        let mut b = StringBuilder::new();
                        for c in col {
                            b.append_value(c);
                        }
                        Arc::new(b.finish())
                    }
                    Kind::F64 => {
                        let mut b = Float64Builder::new();
                        for c in col {
                            b.append_option(c.parse::<f64>().ok());
                        }
                        Arc::new(b.finish())
                    }
                    Kind::I64 => {
                        let mut b = Int64Builder::new();
                        for c in col {
                            b.append_option(c.parse::<i64>().ok());
                        }
                        Arc::new(b.finish())
                    }
                    Kind::Date => {
                        let mut b = Date32Builder::new();
                        for c in col {
                            b.append_option(
                                c.parse::<chrono::NaiveDate>()
                                    .ok()
                                    .map(|d| (d - epoch).num_days() as i32),
                            );
                        }
                        Arc::new(b.finish())
                    }
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| io_error(path, e))?;
        writer.write(&batch).map_err(|e| io_error(path, e))?;
        for c in cells.iter_mut() {
            c.clear();
        }
        Ok(())
    };
    for row in rows {
        for (col, cell) in cells.iter_mut().zip(row) {
            col.push(cell.as_ref().to_string());
        }
        if cells[0].len() == ROW_GROUP {
            flush(&mut cells, &mut writer)?;
        }
    }
    flush(&mut cells, &mut writer)?;
    writer.close().map_err(|e| io_error(path, e))?;
    Ok(())
}

/// Reads a table in any of the three formats: its header and rows as text (a null is
/// empty; floats and dates as Arrow shows them).
pub fn read(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let format = Format::of_path(path);
    if format == Format::Csv {
        let mut reader =
            csv::Reader::from_path(path).map_err(|e| Error::input(path, e.to_string()))?;
        let header = reader
            .headers()
            .map_err(|e| Error::input(path, e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for row in reader.records() {
            let row = row.map_err(|e| Error::input(path, e.to_string()))?;
            rows.push(row.iter().map(str::to_string).collect());
        }
        return Ok((header, rows));
    }
    let header = crate::tabular::header(path, format).map_err(|m| Error::input(path, m))?;
    let mut rows = Vec::new();
    let mut bad = None;
    crate::tabular::rows(path, format, &header, &mut |r| match r {
        crate::tabular::Row::Fields(_, row) => rows.push(
            row.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        ),
        crate::tabular::Row::Bad(line, reason, _) => {
            bad.get_or_insert((line, reason));
        }
    })?;
    if let Some((line, reason)) = bad {
        return Err(Error::input(path, format!("line {line}: {reason}")));
    }
    Ok((header, rows))
}
