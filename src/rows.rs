//! `rows.bin`: a fingerprint of every accepted row of a run, so that the next run with
//! `--previous` can say what the night was — records new, changed (same source and
//! record id, other content), unchanged and removed — and, later, so that an incremental
//! run can tell which records it must look at again. The one owner of the format:
//!
//! ```text
//! "idresolve-rows-1\n"
//! u32 source count, then each source name (u32 length, UTF-8 bytes)
//! u64 record count, then each record: u16 source, u32 id length, id bytes, u64 hash
//! ```
//!
//! little-endian. The hash is FNV-1a (64 bit) over the row's fields as read (unquoted,
//! before decoding or normalizing), each followed by the byte 0x1F: stable across
//! versions and platforms, and the same for a re-quoted export.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Dataset;

pub const ROWS_FILE: &str = "rows.bin";
const MAGIC: &[u8] = b"idresolve-rows-1\n";

/// FNV-1a over the fields of a row.
pub fn row_hash<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for f in fields {
        for &b in f.iter().chain(std::iter::once(&0x1f)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// What changed in the records since the previous run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Night {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub removed: u64,
}

/// The previous run's fingerprints: (source, record id) → hash.
pub type Fingerprints = HashMap<(String, String), u64>;

/// Writes `rows.bin` for a run's records.
pub fn write(dir: &Path, data: &Dataset) -> Result<()> {
    let mut b = Vec::with_capacity(64 + data.records.len() * 24);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(data.sources.len() as u32).to_le_bytes());
    for s in &data.sources {
        b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(&(data.records.len() as u64).to_le_bytes());
    for (r, h) in data.records.iter().zip(&data.row_hashes) {
        b.extend_from_slice(&r.source.to_le_bytes());
        b.extend_from_slice(&(r.record_id.len() as u32).to_le_bytes());
        b.extend_from_slice(r.record_id.as_bytes());
        b.extend_from_slice(&h.to_le_bytes());
    }
    crate::outdir::write_private(&dir.join(ROWS_FILE), &b)
}

/// Reads a run's `rows.bin`; `None` for a run written before it existed.
pub fn read(dir: &Path) -> Result<Option<Fingerprints>> {
    let path = dir.join(ROWS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let damaged = || Error::input(&path, "damaged (run without --previous to start afresh)");
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes.get(at..at + n).ok_or_else(damaged)?;
        at += n;
        Ok(s)
    };
    if take(MAGIC.len())? != MAGIC {
        return Err(Error::input(
            &path,
            "not a rows file of this idresolve version (run without --previous to start afresh)",
        ));
    }
    let u32_of = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap_or([0; 4]));
    let n_sources = u32_of(take(4)?) as usize;
    let mut sources = Vec::with_capacity(n_sources.min(1 << 16));
    for _ in 0..n_sources {
        let len = u32_of(take(4)?) as usize;
        sources.push(String::from_utf8_lossy(take(len)?).into_owned());
    }
    let n = u64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8])) as usize;
    let mut out = HashMap::with_capacity(n.min(1 << 26));
    for _ in 0..n {
        let s = u16::from_le_bytes(take(2)?.try_into().unwrap_or([0; 2])) as usize;
        let len = u32_of(take(4)?) as usize;
        let id = String::from_utf8_lossy(take(len)?).into_owned();
        let h = u64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8]));
        let source = sources.get(s).cloned().ok_or_else(damaged)?;
        out.insert((source, id), h);
    }
    Ok(Some(out))
}

/// Tonight's records against the previous run's fingerprints.
pub fn compare(data: &Dataset, previous: &Fingerprints) -> Night {
    let mut night = Night::default();
    let mut seen = 0u64;
    for (r, h) in data.records.iter().zip(&data.row_hashes) {
        let key = (
            data.sources[r.source as usize].clone(),
            r.record_id.to_string(),
        );
        match previous.get(&key) {
            None => night.new += 1,
            Some(p) => {
                seen += 1;
                if p == h {
                    night.unchanged += 1;
                } else {
                    night.changed += 1;
                }
            }
        }
    }
    night.removed = previous.len() as u64 - seen.min(previous.len() as u64);
    night
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_over_fields_with_separators() {
        // Known FNV-1a 64 of the empty input, and field boundaries matter.
        assert_eq!(row_hash(std::iter::empty()), 0xcbf2_9ce4_8422_2325);
        let ab_c = row_hash([&b"ab"[..], &b"c"[..]]);
        let a_bc = row_hash([&b"a"[..], &b"bc"[..]]);
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c, row_hash([&b"ab"[..], &b"c"[..]]));
    }
}
