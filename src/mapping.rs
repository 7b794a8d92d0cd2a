//! `mapping.csv`: every accepted record and its golden ID — the table downstream systems
//! load. The one owner of its columns: [`write`] writes it, [`read`] reads it (columns
//! found by name) for the next run's IDs and for `explain`.

use std::path::Path;

use crate::error::{Error, Result};

/// `mapping.csv`'s columns: written by [`write`], read by [`read`].
pub const MAPPING_HEADER: [&str; 4] = ["source", "record_id", "golden_id", "match_probability"];

/// One row of `mapping.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    pub source: String,
    pub record_id: String,
    pub golden_id: String,
}

/// Reads a run's `mapping.csv` (or, when the run wrote its tables in another format,
/// the `mapping.parquet` or `mapping.jsonl` beside it), its columns found by name.
pub fn read(path: &Path) -> Result<Vec<MappingRow>> {
    let mut rows = Vec::new();
    read_each(path, |source, record_id, golden_id| {
        rows.push(MappingRow {
            source: source.to_string(),
            record_id: record_id.to_string(),
            golden_id: golden_id.to_string(),
        });
        Ok(())
    })?;
    Ok(rows)
}

/// [`read`], handing each row's source, record id and golden ID to `each` without
/// keeping the rows (a CSV row is read into one reused buffer).
pub fn read_each(path: &Path, mut each: impl FnMut(&str, &str, &str) -> Result<()>) -> Result<()> {
    let path = &if path.is_file() {
        path.to_path_buf()
    } else {
        path.parent()
            .and_then(|d| crate::tables::find(d, "mapping"))
            .unwrap_or_else(|| path.to_path_buf())
    };
    if crate::tabular::Format::of_path(path) != crate::tabular::Format::Csv {
        let (header, rows) = crate::tables::read(path)?;
        let (s, r, g) = id_columns(path, header.iter().map(String::as_str))?;
        for row in rows {
            each(&row[s], &row[r], &row[g])?;
        }
        return Ok(());
    }
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| Error::input(path, format!("cannot read the mapping: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| Error::input(path, e.to_string()))?
        .clone();
    let (s, r, g) = id_columns(path, header.iter())?;
    let mut row = csv::StringRecord::new();
    while reader
        .read_record(&mut row)
        .map_err(|e| Error::input(path, e.to_string()))?
    {
        let get = |i: usize| row.get(i).unwrap_or("");
        each(get(s), get(r), get(g))?;
    }
    Ok(())
}

/// Where `source`, `record_id` and `golden_id` are in a mapping's header.
fn id_columns<'a>(
    path: &Path,
    header: impl Iterator<Item = &'a str> + Clone,
) -> Result<(usize, usize, usize)> {
    let col = |name: &str| {
        header.clone().position(|h| h == name).ok_or_else(|| {
            Error::input(
                path,
                format!("column `{name}` not found: is this an idresolve output folder?"),
            )
        })
    };
    Ok((
        col(MAPPING_HEADER[0])?,
        col(MAPPING_HEADER[1])?,
        col(MAPPING_HEADER[2])?,
    ))
}

/// Writes the mapping into `dir` in `format` (`mapping.csv` by default): one
/// `[source, record_id, golden_id, match_probability]` per record.
pub fn write(
    dir: &Path,
    format: crate::tabular::Format,
    rows: impl IntoIterator<Item = [impl AsRef<str>; 4]>,
) -> Result<()> {
    use crate::tables::Kind;
    crate::tables::write(
        dir,
        "mapping",
        format,
        &MAPPING_HEADER,
        &[Kind::Str, Kind::Str, Kind::Str, Kind::F64],
        rows,
    )
}
