//! Exports as files: the one place that opens an input file. Checks that it is a
//! regular file (a FIFO would block), reads it whole, recognises its encoding (UTF-8
//! with or without BOM; UTF-16 with a BOM or by its zero bytes, transcoded with
//! `encoding_rs`), refuses binary files, sniffs the delimiter and reads the header of
//! any width. Fields that are not valid UTF-8 are decoded as Windows-1252 by [`decode`].
//!
//! Used by [`crate::config`] (to check columns against the header) and by
//! [`crate::ingest`] (to read the rows); it knows nothing of field kinds.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes read first to find the header (more are read while the header is longer).
const HEAD_BYTES: usize = 64 * 1024;
/// Delimiters tried when the config names none, in order of preference on a tie.
const SNIFF_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The text encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }
}

/// Absolute path, size and modification time of an export, as `run.json` keeps them.
pub fn file_fingerprint(path: &Path) -> (String, u64, i64) {
    let shown = std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let meta = std::fs::metadata(path).ok();
    let bytes = meta.as_ref().map_or(0, |m| m.len());
    let modified = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    (shown, bytes, modified)
}

/// Checks that `path` is a regular file before it is opened (opening a FIFO blocks).
fn check_regular(path: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => format!("cannot open: {e}"),
    })?;
    if meta.is_dir() {
        return Err("is a directory, not a CSV file".into());
    }
    if !meta.is_file() {
        return Err(
            "is not a regular file (a FIFO, device or socket); export to a file first".into(),
        );
    }
    Ok(())
}

/// The encoding of a file from its first bytes: a BOM, or the zero bytes of UTF-16
/// text without one (ASCII characters have a zero high byte).
fn sniff_encoding(head: &[u8]) -> (Encoding, usize) {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return (Encoding::Utf8, 3);
    }
    if head.starts_with(b"\xFF\xFE") {
        return (Encoding::Utf16Le, 2);
    }
    if head.starts_with(b"\xFE\xFF") {
        return (Encoding::Utf16Be, 2);
    }
    let n = head.len().min(4096) & !1;
    if n >= 4 {
        let even = head[..n].iter().step_by(2).filter(|&&b| b == 0).count();
        let odd = head[1..n].iter().step_by(2).filter(|&&b| b == 0).count();
        let half = n / 2;
        if odd * 10 >= half * 7 && even * 10 < half {
            return (Encoding::Utf16Le, 0);
        }
        if even * 10 >= half * 7 && odd * 10 < half {
            return (Encoding::Utf16Be, 0);
        }
    }
    (Encoding::Utf8, 0)
}

/// Bytes as UTF-8 text: the BOM dropped, UTF-16 transcoded.
fn to_utf8(bytes: Vec<u8>) -> (Vec<u8>, Encoding) {
    let (enc, bom) = sniff_encoding(&bytes);
    let text = match enc {
        Encoding::Utf8 if bom == 0 => bytes,
        Encoding::Utf8 => bytes[bom..].to_vec(),
        Encoding::Utf16Le => encoding_rs::UTF_16LE
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned()
            .into_bytes(),
        Encoding::Utf16Be => encoding_rs::UTF_16BE
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned()
            .into_bytes(),
    };
    (text, enc)
}

fn check_text(text: &[u8]) -> std::result::Result<(), String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty (a header row is required)".into());
    }
    if let Some(pos) = memchr::memchr(0, text) {
        let line = memchr::memchr_iter(b'\n', &text[..pos]).count() + 1;
        return Err(format!(
            "the file contains NUL bytes (line {line}): it looks like a binary file, not CSV text"
        ));
    }
    Ok(())
}

/// An export read whole and decoded, with its header.
pub struct Export {
    pub text: Vec<u8>,
    pub encoding: Encoding,
    pub header: Vec<String>,
    pub delimiter: u8,
    /// Byte offset where the first data row starts.
    pub body: usize,
}

/// Parses the header row of UTF-8 `text`; `None` when the text ends inside it.
fn parse_header(
    text: &[u8],
    delimiter: Option<u8>,
    complete: bool,
) -> std::result::Result<Option<(Vec<String>, u8, usize)>, String> {
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(text));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut row = csv::ByteRecord::new();
    match reader.read_byte_record(&mut row) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty (a header row is required)".into()),
        Err(e) => return Err(format!("cannot parse the header row: {e}")),
    }
    let end = reader.position().byte() as usize;
    if end >= text.len() && !complete {
        return Ok(None);
    }
    let header: Vec<String> = row.iter().map(|f| decode(f).trim().to_string()).collect();
    Ok(Some((header, delimiter, end)))
}

/// Reads the header row of an export, sniffing the delimiter when not given; reads
/// only as much of the file as the header takes. The error is a plain sentence for the
/// config validator to place.
pub fn read_header(
    path: &Path,
    delimiter: Option<u8>,
) -> std::result::Result<(Vec<String>, u8), String> {
    check_regular(path)?;
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut head = Vec::new();
    let mut want = HEAD_BYTES;
    loop {
        let before = head.len();
        file.by_ref()
            .take((want - before) as u64)
            .read_to_end(&mut head)
            .map_err(|e| format!("cannot read: {e}"))?;
        let complete = head.len() < want;
        let (mut text, _) = to_utf8(head.clone());
        if !complete {
            // A UTF-16 or UTF-8 sequence may be cut at the end of the buffer.
            while text.last().is_some_and(|&b| b >= 0x80) {
                text.pop();
            }
        }
        check_text(&text)?;
        if let Some((header, delimiter, _)) = parse_header(&text, delimiter, complete)? {
            return Ok((header, delimiter));
        }
        want *= 4;
    }
}

/// Reads a whole export for ingestion.
pub fn read_export(path: &Path, delimiter: u8) -> Result<Export> {
    check_regular(path).map_err(|m| Error::input(path, m))?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (text, encoding) = to_utf8(bytes);
    check_text(&text).map_err(|m| Error::input(path, m))?;
    let (header, delimiter, body) = parse_header(&text, Some(delimiter), true)
        .map_err(|m| Error::input(path, m))?
        .ok_or_else(|| Error::input(path, "cannot parse the header row"))?;
    Ok(Export {
        text,
        encoding,
        header,
        delimiter,
        body,
    })
}

/// Picks the candidate delimiter that occurs most often outside quotes on the first line.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let counts = delimiter_counts(head);
    let best = (0..counts.len())
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        SNIFF_DELIMITERS[best]
    }
}

fn delimiter_counts(head: &[u8]) -> [usize; SNIFF_DELIMITERS.len()] {
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
    counts
}

/// The delimiter a one-column header suggests instead of `used`, if any.
pub fn suggest_delimiter(header_cell: &str, used: u8) -> Option<u8> {
    let counts = delimiter_counts(header_cell.as_bytes());
    (0..counts.len())
        .filter(|&i| SNIFF_DELIMITERS[i] != used && counts[i] > 0)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .map(|i| SNIFF_DELIMITERS[i])
}

/// Decodes a field: UTF-8 when valid, otherwise Windows-1252 (the usual Excel export).
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
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
        assert_eq!(suggest_delimiter("id;name;email", b','), Some(b';'));
        assert_eq!(suggest_delimiter("id", b','), None);
    }

    #[test]
    fn decodes_windows_1252_fields() {
        assert_eq!(decode(b"Jos\xe9"), "José");
        assert_eq!(decode("José".as_bytes()), "José");
    }

    #[test]
    fn recognises_utf16_with_and_without_bom() {
        assert_eq!(
            sniff_encoding(b"\xff\xfei\x00d\x00"),
            (Encoding::Utf16Le, 2)
        );
        assert_eq!(
            sniff_encoding(b"i\x00d\x00,\x00n\x00"),
            (Encoding::Utf16Le, 0)
        );
        assert_eq!(
            sniff_encoding(b"\x00i\x00d\x00,\x00n"),
            (Encoding::Utf16Be, 0)
        );
        assert_eq!(sniff_encoding(b"\xef\xbb\xbfid"), (Encoding::Utf8, 3));
        assert_eq!(sniff_encoding(b"id,name"), (Encoding::Utf8, 0));
    }
}
