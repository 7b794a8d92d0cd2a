//! Ingestion: streams each configured CSV export through the csv crate, decodes each
//! field as UTF-8 (with or without BOM) or, where a field is not valid UTF-8, as
//! Windows-1252, normalizes the mapped columns and builds the [`Dataset`].
//!
//! Rows that cannot be used (wrong number of fields, empty or duplicate record id) go
//! to `rejected` with their line and reason; the run goes on. A file that cannot be used
//! at all (missing, empty, header only) is an error naming the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::config::{Config, FieldKind, SourceConfig};
use crate::error::{Error, Result};
use crate::normalize::{self, PhoneNormalizer};
use crate::record::{Dataset, Display, Profile, Record, Rejected, Shown, SourceCounts};
use phonenumber::country::Id as Region;

/// Bytes read to find the header and sniff the delimiter.
const SNIFF_BYTES: usize = 64 * 1024;
/// Delimiters tried when the config names none, in order of preference on a tie.
const SNIFF_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Reads the header row of a CSV file, sniffing the delimiter when not given.
/// The error is a plain sentence for the config validator to place.
pub fn read_header(
    path: &Path,
    delimiter: Option<u8>,
) -> std::result::Result<(Vec<String>, u8), String> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => format!("cannot open: {e}"),
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err("is a directory, not a CSV file".into());
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.by_ref()
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("the file is empty (a header row is required)".into());
    }
    if head.contains(&0) {
        return Err(
            "the file contains NUL bytes: it looks like a binary file, not CSV text".into(),
        );
    }
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(head));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(head);
    let mut row = csv::ByteRecord::new();
    match reader.read_byte_record(&mut row) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty (a header row is required)".into()),
        Err(e) => return Err(format!("cannot parse the header row: {e}")),
    }
    let header: Vec<String> = row.iter().map(|f| decode(f).trim().to_string()).collect();
    Ok((header, delimiter))
}

/// Picks the candidate delimiter that occurs most often outside quotes on the first line.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; SNIFF_DELIMITERS.len()];
    let mut in_quotes = false;
    for &b in head {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(i) = SNIFF_DELIMITERS.iter().position(|&d| d == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..counts.len())
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        SNIFF_DELIMITERS[best]
    }
}

/// Decodes a field: UTF-8 when valid, otherwise Windows-1252 (the usual Excel export).
fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// Reads and normalizes every source of the config.
pub fn ingest(config: &Config, mut progress: impl FnMut(u64)) -> Result<Dataset> {
    let region = normalize::phone::parse_region(&config.default_region)
        .ok_or_else(|| Error::Usage(format!("unknown region {}", config.default_region)))?;
    let mut data = Dataset::default();
    let mut profile_ids: HashMap<Profile, u32> = HashMap::new();
    for (s, source) in config.sources.iter().enumerate() {
        data.sources.push(source.name.clone());
        let counts = ingest_source(
            s as u16,
            source,
            region,
            &mut data,
            &mut profile_ids,
            &mut progress,
        )?;
        data.counts.push(counts);
    }
    drop(profile_ids);
    attach_shared_cases(&mut data);
    Ok(data)
}

/// Puts the case numbers that records share (a claim citing a ticket) into their
/// profiles, and gives every record without any value its own profile: records are
/// grouped into one profile only when their identifying values are the same, and "no
/// values" or "cites this ticket" is not something two different people cannot share.
fn attach_shared_cases(data: &mut Dataset) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for r in &data.records {
        let mut codes: Vec<String> = r.cases.iter().filter_map(|c| normalize_code(c)).collect();
        codes.sort();
        codes.dedup();
        for c in codes {
            *seen.entry(c).or_default() += 1;
        }
    }
    // Only records that cite a shared case, or hold no value at all, change profile;
    // the others keep theirs (no re-hashing of a million profiles).
    let mut split: HashMap<(u32, Vec<String>), u32> = HashMap::new();
    for i in 0..data.records.len() {
        let r = &data.records[i];
        let mut shared: Vec<String> = r
            .cases
            .iter()
            .filter_map(|c| normalize_code(c))
            .filter(|c| seen.get(c).is_some_and(|&n| n > 1))
            .collect();
        shared.sort();
        shared.dedup();
        let old = r.profile;
        let empty = data.profiles[old as usize].is_empty();
        if shared.is_empty() && !empty {
            continue;
        }
        let next = data.profiles.len() as u32;
        let new = if shared.is_empty() {
            data.profiles.push(Profile::default());
            next
        } else {
            *split.entry((old, shared)).or_insert_with_key(|(_, cases)| {
                let mut p = data.profiles[old as usize].clone();
                p.cases = cases.clone();
                data.profiles.push(p);
                next
            })
        };
        data.records[i].profile = new;
    }
    // Drop profiles left without records, keeping the order of the rest.
    let mut used = vec![false; data.profiles.len()];
    for r in &data.records {
        used[r.profile as usize] = true;
    }
    let mut remap = vec![u32::MAX; data.profiles.len()];
    let mut kept = 0u32;
    for (i, u) in used.iter().enumerate() {
        if *u {
            remap[i] = kept;
            kept += 1;
        }
    }
    let profiles = std::mem::take(&mut data.profiles);
    data.profiles = profiles
        .into_iter()
        .zip(used)
        .filter_map(|(p, u)| u.then_some(p))
        .collect();
    for r in data.records.iter_mut() {
        r.profile = remap[r.profile as usize];
    }
}

/// Rows normalized together in parallel; reading and bookkeeping stay sequential.
const BATCH_ROWS: usize = 16_384;

thread_local! {
    /// Each worker thread keeps its own phone cache (the parser is not shared).
    static PHONES: std::cell::RefCell<Option<PhoneNormalizer>> = const { std::cell::RefCell::new(None) };
}

/// Normalizes a batch of accepted rows in parallel, in order.
fn normalize_batch(
    source: &SourceConfig,
    rows: &[csv::ByteRecord],
    region: Region,
) -> Vec<Normalized> {
    use rayon::prelude::*;
    rows.par_iter()
        .with_min_len(256)
        .map(|row| {
            PHONES.with(|cell| {
                let mut slot = cell.borrow_mut();
                if slot.as_ref().is_none_or(|p| p.region() != region) {
                    *slot = Some(PhoneNormalizer::new(region));
                }
                match slot.as_mut() {
                    Some(phones) => normalize_row(source, row, phones),
                    None => normalize_row(source, row, &mut PhoneNormalizer::new(region)),
                }
            })
        })
        .collect()
}

type Normalized = (Profile, Display, Option<chrono::NaiveDate>, Vec<String>);

fn ingest_source(
    s: u16,
    source: &SourceConfig,
    region: Region,
    data: &mut Dataset,
    profile_ids: &mut HashMap<Profile, u32>,
    progress: &mut impl FnMut(u64),
) -> Result<SourceCounts> {
    let file = File::open(&source.path).map_err(|e| Error::io(&source.path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(source.delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let mut counts = SourceCounts {
        name: source.name.clone(),
        ..Default::default()
    };
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut row = csv::ByteRecord::new();
    let mut batch: Vec<csv::ByteRecord> = Vec::with_capacity(BATCH_ROWS);
    let mut batch_meta: Vec<(String, u64)> = Vec::with_capacity(BATCH_ROWS);
    let flush = |batch: &mut Vec<csv::ByteRecord>,
                 meta: &mut Vec<(String, u64)>,
                 data: &mut Dataset,
                 profile_ids: &mut HashMap<Profile, u32>| {
        for ((profile, display, date, cases), (record_id, line)) in
            normalize_batch(source, batch, region)
                .into_iter()
                .zip(meta.drain(..))
        {
            let next = data.profiles.len() as u32;
            let profile_ord = *profile_ids.entry(profile).or_insert_with_key(|p| {
                data.profiles.push(p.clone());
                next
            });
            data.records.push(Record {
                source: s,
                line,
                record_id,
                date,
                cases,
                display,
                profile: profile_ord,
            });
        }
        batch.clear();
    };
    let width = source.header.len();
    loop {
        match reader.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(Error::InputAt {
                    path: source.path.clone(),
                    line,
                    message: format!("cannot read CSV: {e}"),
                });
            }
        }
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        // A blank line inside a file is not a row.
        if row.len() == 1 && row[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        counts.rows += 1;
        if counts.rows % 65_536 == 0 {
            progress(65_536);
        }
        let reject = |reason: String, data: &mut Dataset, counts: &mut SourceCounts| {
            counts.rejected += 1;
            data.rejected.push(Rejected {
                source: source.name.clone(),
                line,
                reason,
                raw: raw_row(&row, source.delimiter),
            });
        };
        if row.len() != width {
            reject(
                format!(
                    "wrong number of fields: expected {width} (as in the header), found {}",
                    row.len()
                ),
                data,
                &mut counts,
            );
            continue;
        }
        let record_id = decode(&row[source.record_id_column]).trim().to_string();
        if record_id.is_empty() {
            reject(
                format!("empty record id (column `{}`)", source.record_id),
                data,
                &mut counts,
            );
            continue;
        }
        if let Some(first) = seen_ids.get(&record_id) {
            reject(
                format!(
                    "duplicate record id `{record_id}` (column `{}`; first seen on line {first})",
                    source.record_id
                ),
                data,
                &mut counts,
            );
            continue;
        }
        seen_ids.insert(record_id.clone(), line);
        batch.push(row.clone());
        batch_meta.push((record_id, line));
        if batch.len() == BATCH_ROWS {
            flush(&mut batch, &mut batch_meta, data, profile_ids);
        }
        counts.accepted += 1;
    }
    flush(&mut batch, &mut batch_meta, data, profile_ids);
    progress(counts.rows % 65_536);
    if counts.rows == 0 {
        return Err(Error::input(
            &source.path,
            "has a header row but no data rows",
        ));
    }
    Ok(counts)
}

fn raw_row(row: &csv::ByteRecord, delimiter: u8) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let _ = w.write_byte_record(row);
    let bytes = w.into_inner().unwrap_or_default();
    decode(&bytes).trim_end_matches(['\r', '\n']).to_string()
}

/// Normalizes the mapped columns of one row.
fn normalize_row(
    source: &SourceConfig,
    row: &csv::ByteRecord,
    phones: &mut PhoneNormalizer,
) -> (Profile, Display, Option<chrono::NaiveDate>, Vec<String>) {
    let mut p = Profile::default();
    let mut d = Display::default();
    let mut date = None;
    let mut cases = Vec::new();
    let value = |c: usize| decode(&row[c]);
    let joined = |kind: FieldKind| -> String {
        source
            .columns_of(kind)
            .iter()
            .map(|&c| value(c).trim().to_string())
            .filter(|v| !normalize::is_placeholder(v))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let keep_first = |slot: &mut Option<Shown>, raw: &str, key: &str| {
        if slot.is_none() {
            *slot = Some(Shown {
                raw: raw.trim().to_string(),
                key: key.to_string(),
            });
        }
    };
    for (kind, cols) in &source.fields {
        match kind {
            FieldKind::FirstName | FieldKind::LastName => {}
            FieldKind::FullName => {
                for &c in cols {
                    let raw = value(c);
                    if let Some(n) = normalize::parse_full_name(&raw) {
                        keep_first(&mut d.name, &raw, &n.display());
                        p.names.push(n);
                    }
                }
            }
            FieldKind::Email => {
                for &c in cols {
                    let raw = value(c);
                    if let Some(e) = normalize::normalize_email(&raw) {
                        keep_first(&mut d.email, &raw, &e.address);
                        p.emails.push(e);
                    }
                }
            }
            FieldKind::Phone => {
                for &c in cols {
                    let raw = value(c);
                    if let Some(ph) = phones.normalize(&raw) {
                        keep_first(&mut d.phone, &raw, &ph.e164);
                        p.phones.push(ph);
                    }
                }
            }
            FieldKind::Serial => {
                for &c in cols {
                    let raw = value(c);
                    for part in raw.split([';', '|', ',']) {
                        if let Some(s) = normalize::normalize_serial(part) {
                            d.serials.push(Shown {
                                raw: part.trim().to_string(),
                                key: s.key.clone(),
                            });
                            p.serials.push(s);
                        }
                    }
                }
            }
            FieldKind::Address => {
                let raw = joined(FieldKind::Address);
                if let Some(a) = normalize::normalize_address(&raw) {
                    keep_first(&mut d.address, &raw, &a);
                    p.addresses.push(a);
                }
            }
            FieldKind::City => cols
                .iter()
                .for_each(|&c| p.cities.extend(normalize::normalize_city(&value(c)))),
            FieldKind::Postcode => cols
                .iter()
                .for_each(|&c| p.postcodes.extend(normalize::normalize_postcode(&value(c)))),
            FieldKind::Dob => cols
                .iter()
                .for_each(|&c| p.dobs.extend(normalize::parse_date(&value(c)))),
            FieldKind::Date => {
                if date.is_none() {
                    date = cols.iter().find_map(|&c| normalize::parse_date(&value(c)));
                }
            }
            FieldKind::Case => {
                for &c in cols {
                    for part in value(c).split([';', '|', ',']) {
                        if normalize_code(part).is_some() {
                            cases.push(part.trim().to_string());
                        }
                    }
                }
            }
            FieldKind::Id => cols
                .iter()
                .for_each(|&c| p.ids.extend(normalize_code(&value(c)))),
            FieldKind::Text => cols.iter().for_each(|&c| {
                let folded = normalize::fold_text(&value(c));
                if !folded.is_empty() && !normalize::is_placeholder(&value(c)) {
                    p.texts.push(folded);
                }
            }),
        }
    }
    let has_first = !source.columns_of(FieldKind::FirstName).is_empty();
    let has_last = !source.columns_of(FieldKind::LastName).is_empty();
    if has_first || has_last {
        let (first, last) = (joined(FieldKind::FirstName), joined(FieldKind::LastName));
        if let Some(n) = normalize::parse_name_parts(&first, &last) {
            keep_first(&mut d.name, format!("{first} {last}").trim(), &n.display());
            p.names.push(n);
        }
    }
    p.canonicalize();
    cases.sort();
    cases.dedup();
    (p, d, date, cases)
}

/// Identifiers and case numbers: upper-case alphanumerics, other characters dropped
/// ("t-00123 " → "T00123"); placeholders are missing.
pub fn normalize_code(raw: &str) -> Option<String> {
    if normalize::is_placeholder(raw) {
        return None;
    }
    let code: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect();
    (!code.is_empty()).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2;3"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"x,y\";b;c\n"), b';');
        assert_eq!(sniff_delimiter(b"single\n"), b',');
    }

    #[test]
    fn decodes_windows_1252_fields() {
        assert_eq!(decode(b"Jos\xe9"), "José");
        assert_eq!(decode("José".as_bytes()), "José");
    }

    #[test]
    fn codes_are_upper_alphanumeric() {
        assert_eq!(normalize_code(" t-00123 ").as_deref(), Some("T00123"));
        assert_eq!(normalize_code("N/A"), None);
    }
}
