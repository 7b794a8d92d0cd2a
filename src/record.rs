//! The data model shared by the stages: a [`Record`] is one accepted CSV row; its
//! normalized matching values form a [`Profile`]. Records with identical profiles
//! (a customer's twelve identical support tickets) share one profile, so the index,
//! the candidate search and the comparisons run once per distinct profile.

use std::path::Path;

use chrono::NaiveDate;
use compact_str::CompactString;

use crate::normalize::{Email, PersonName, Phone, Serial};

/// Position of a record in [`Dataset::records`].
pub type RecordOrd = u32;
/// Position of a profile in [`Dataset::profiles`].
pub type ProfileOrd = u32;

/// The normalized values of a record that take part in matching. Every list is sorted
/// and deduplicated, so equal values make equal profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub names: Vec<PersonName>,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub serials: Vec<Serial>,
    pub dobs: Vec<NaiveDate>,
    pub addresses: Vec<CompactString>,
    pub cities: Vec<CompactString>,
    pub postcodes: Vec<CompactString>,
    pub ids: Vec<CompactString>,
    pub texts: Vec<CompactString>,
    /// Case numbers (normalized) that this profile's records share with other records:
    /// a warranty claim citing a support ticket. A record's own, uncited case number is
    /// not part of its profile.
    pub cases: Vec<CompactString>,
}

impl Profile {
    /// Sorts and deduplicates every list (call once after filling).
    pub fn canonicalize(&mut self) {
        fn sd<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        sd(&mut self.names);
        sd(&mut self.emails);
        sd(&mut self.phones);
        sd(&mut self.serials);
        sd(&mut self.dobs);
        sd(&mut self.addresses);
        sd(&mut self.cities);
        sd(&mut self.postcodes);
        sd(&mut self.ids);
        sd(&mut self.texts);
        sd(&mut self.cases);
    }

    /// True when the profile holds no value at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && self.emails.is_empty()
            && self.phones.is_empty()
            && self.serials.is_empty()
            && self.dobs.is_empty()
            && self.addresses.is_empty()
            && self.cities.is_empty()
            && self.postcodes.is_empty()
            && self.ids.is_empty()
            && self.texts.is_empty()
            && self.cases.is_empty()
    }
}

/// A value as written, with the normalized key it is grouped by in survivorship.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    pub raw: CompactString,
    pub key: CompactString,
}

/// Raw values as written, for golden records and the agent's view.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Display {
    pub name: Option<Shown>,
    pub email: Option<Shown>,
    pub phone: Option<Shown>,
    pub address: Option<Shown>,
    pub serials: Vec<Shown>,
    /// `note` columns as written (a ticket's subject), joined by " · ": timeline only.
    pub note: Option<CompactString>,
}

/// One accepted row of one source. What it shows beyond its matching values (raw
/// values, case numbers) is kept encoded in [`Dataset::details`], not here: a record in
/// memory is a few dozen bytes, so that ten million of them fit.
#[derive(Debug, Clone)]
pub struct Record {
    pub source: u16,
    /// Line of the row in its file (1-based; the header is line 1).
    pub line: u64,
    pub record_id: CompactString,
    /// The event date of the record (`date` kind), for timelines and survivorship.
    pub date: Option<NaiveDate>,
    pub profile: ProfileOrd,
}

impl Record {
    /// A record with an id and a profile and nothing else (for tests of later stages).
    pub fn bare(source: u16, line: u64, record_id: &str, profile: ProfileOrd) -> Record {
        Record {
            source,
            line,
            record_id: record_id.into(),
            date: None,
            profile,
        }
    }
}

/// A record's details: the case numbers, claims and orders named on the row, as written
/// (trimmed), and its raw values as written. Encoded in that order (postcard), so that
/// the case numbers can be read without the rest ([`DetailStore::cases`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Details {
    pub cases: Vec<CompactString>,
    pub display: Display,
}

impl Details {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and options into a vector cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// [`Details`] read in place, to check an encoding without copying it.
#[derive(serde::Deserialize)]
struct DetailsView<'a> {
    #[serde(borrow)]
    _cases: Vec<&'a str>,
    #[serde(borrow)]
    _display: [Option<ShownView<'a>>; 4],
    #[serde(borrow)]
    _serials: Vec<ShownView<'a>>,
    #[serde(borrow)]
    _note: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct ShownView<'a> {
    #[serde(borrow)]
    _raw: &'a str,
    #[serde(borrow)]
    _key: &'a str,
}

#[derive(serde::Deserialize)]
struct CasesView<'a> {
    #[serde(borrow)]
    cases: Vec<&'a str>,
}

/// Every record's [`Details`], encoded one after another (record order): one buffer
/// and one offset a record instead of a dozen small allocations.
#[derive(Debug, Default)]
pub struct DetailStore {
    bytes: DetailBytes,
    /// End of record `i`'s encoding in `bytes`.
    ends: Vec<u64>,
}

/// Where the encodings are: in memory while ingest fills them, or in a file the run
/// wrote to its work folder ([`DetailStore::spill`]).
#[derive(Debug)]
enum DetailBytes {
    Heap(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Default for DetailBytes {
    fn default() -> Self {
        DetailBytes::Heap(Vec::new())
    }
}

impl std::ops::Deref for DetailBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            DetailBytes::Heap(v) => v,
            DetailBytes::Mapped(m) => m,
        }
    }
}

impl DetailStore {
    /// The buffer, to append to (a spilled store is read back into memory first).
    fn heap(&mut self) -> &mut Vec<u8> {
        if let DetailBytes::Mapped(m) = &self.bytes {
            self.bytes = DetailBytes::Heap(m.to_vec());
        }
        match &mut self.bytes {
            DetailBytes::Heap(v) => v,
            DetailBytes::Mapped(_) => unreachable!("converted above"),
        }
    }

    pub fn reserve(&mut self, records: usize, bytes: usize) {
        self.heap().reserve(bytes);
        self.ends.reserve_exact(records);
    }

    pub fn push(&mut self, d: &Details) {
        let bytes = self.heap();
        *bytes = postcard::to_extend(d, std::mem::take(bytes)).unwrap_or_default();
        let end = bytes.len() as u64;
        self.ends.push(end);
    }

    /// Moves the encodings out of memory into a file in `dir` (a run's work folder),
    /// read from there as pages are needed: between ingest and the golden records
    /// nothing reads them, and at ten million records they are ~2 GB. The file is
    /// unlinked as soon as it is mapped, so it never shows in the output folder.
    pub fn spill(&mut self, dir: &Path) -> crate::Result<()> {
        use std::io::Write;
        let DetailBytes::Heap(bytes) = &self.bytes else {
            return Ok(());
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let path = dir.join(".details.spill");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| crate::Error::io(&path, e))?;
        let written = file.write_all(bytes).and_then(|()| {
            // SAFETY: the file was created here (create_new) and is unlinked below; no
            // other process opens it, and nothing writes to it once mapped.
            unsafe { memmap2::Mmap::map(&file) }
        });
        let removed = std::fs::remove_file(&path);
        let map = written.map_err(|e| crate::Error::io(&path, e))?;
        removed.map_err(|e| crate::Error::io(&path, e))?;
        self.bytes = DetailBytes::Mapped(map);
        Ok(())
    }

    /// Hands the pages a spilled store has read back to the kernel (nothing to do in
    /// memory). Every pass over all records' details (index terms, queries, the state,
    /// the lookup rows) faults the whole file in, and mapped pages count in the run's
    /// resident memory until they are dropped: at ten million records ~1.2 GB held from
    /// the search to the end. A later read faults the same bytes in again from the file.
    pub fn release_pages(&self) {
        if let DetailBytes::Mapped(map) = &self.bytes {
            // SAFETY: the map is read-only and its file was written once, before it was
            // mapped, and never again: MADV_DONTNEED on a read-only file mapping only
            // drops page-table entries, and the next read sees the same bytes, so no
            // borrow of the map can observe it.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Appends an encoding already checked with [`DetailStore::valid`].
    pub fn push_encoded(&mut self, encoded: &[u8]) {
        let bytes = self.heap();
        bytes.extend_from_slice(encoded);
        let end = bytes.len() as u64;
        self.ends.push(end);
    }

    /// Record `i`'s encoding (empty when it has none).
    pub fn encoded(&self, i: RecordOrd) -> &[u8] {
        let i = i as usize;
        let Some(&end) = self.ends.get(i) else {
            return &[];
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start as usize..end as usize]
    }

    /// Record `i`'s details (empty ones for a record stored without).
    pub fn get(&self, i: RecordOrd) -> Details {
        postcard::from_bytes(self.encoded(i)).unwrap_or_default()
    }

    /// Record `i`'s case numbers, read without the rest.
    pub fn cases(&self, i: RecordOrd) -> Vec<&str> {
        postcard::take_from_bytes::<CasesView>(self.encoded(i))
            .map(|(v, _)| v.cases)
            .unwrap_or_default()
    }

    /// Whether `encoded` is a whole [`Details`] encoding (a saved one is checked before
    /// it is reused: never trusted blindly).
    pub fn valid(encoded: &[u8]) -> bool {
        matches!(postcard::take_from_bytes::<DetailsView>(encoded), Ok((_, rest)) if rest.is_empty())
    }
}

/// A row that could not be used, with the reason; written to `rejected.csv`.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub source: String,
    pub line: u64,
    pub reason: String,
    pub raw: String,
}

/// Counts per source, for `run.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SourceCounts {
    pub name: String,
    /// The export as read: path, size and modification time (seconds since 1970), so
    /// that `explain` can tell when it changed since the run.
    pub file: String,
    pub file_bytes: u64,
    pub file_modified: i64,
    /// Phone region and date order the source was read with.
    pub region: String,
    pub date_order: String,
    /// Encoding the file was read in (`utf-8`, `utf-16le`, `utf-16be`; fields that are
    /// not valid UTF-8 are read as Windows-1252 and counted in `windows_1252_fields`).
    pub encoding: String,
    pub windows_1252_fields: u64,
    /// Data rows (physical records, blank lines excluded): `rows = accepted + rejected`,
    /// checked by the run.
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Rejected rows by reason.
    pub rejected_reasons: std::collections::BTreeMap<String, u64>,
    /// Rows accepted with extra empty fields at the end (a trailing delimiter).
    pub rows_with_trailing_empty_fields: u64,
    /// Short rows accepted with the missing fields empty (`flexible = true`).
    pub short_rows_padded: u64,
    /// Dates that could be read day-first or month-first, read by `date_order`.
    pub ambiguous_dates: u64,
    /// Rows whose `country` column set another phone region than the source's.
    pub rows_with_country_region: u64,
    /// Rows whose `[source.recipient]` is someone other than the buyer (a gift): its
    /// name, address and phone were kept out of the buyer's profile.
    #[serde(default)]
    pub rows_with_other_recipient: u64,
    /// Per field kind: values filled, accepted, refused.
    pub fields: Vec<FieldCounts>,
}

/// What the normalizer of one field kind made of a source's values (one per cell).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FieldCounts {
    pub field: String,
    /// Non-empty cells.
    pub filled: u64,
    /// Cells that gave a value for matching.
    pub accepted: u64,
    /// Cells refused as placeholders (`N/A`, `unknown`, `test`, ...).
    pub refused_placeholder: u64,
    /// Cells refused as invalid for the kind (no e-mail, junk digits, impossible date).
    pub refused_invalid: u64,
    /// Cells longer than the value cap, truncated before normalizing.
    pub truncated: u64,
}

impl FieldCounts {
    pub fn refused(&self) -> u64 {
        self.refused_placeholder + self.refused_invalid
    }
}

/// Everything ingestion produced.
#[derive(Debug, Default)]
pub struct Dataset {
    pub sources: Vec<String>,
    pub records: Vec<Record>,
    /// Each record's [`Details`], by record ordinal.
    pub details: DetailStore,
    pub profiles: Vec<Profile>,
    /// A fingerprint of each record's row as read (`rows::row_hash`), in record order.
    pub row_hashes: Vec<u64>,
    /// What normalizing each record's row counted, encoded (owned by `ingest`): record
    /// `i`'s bytes are `row_stats[row_stats_at[i]..row_stats_at[i + 1]]`, empty when a
    /// later run must normalize the row again. Saved in the incremental state.
    pub row_stats: Vec<u8>,
    pub row_stats_at: Vec<u32>,
    /// Records whose profile gained case numbers shared with other records, with their
    /// profile before (sorted by record): what a later run reuses for the row.
    pub before_cases: Vec<(RecordOrd, Profile)>,
    pub rejected: Vec<Rejected>,
    pub counts: Vec<SourceCounts>,
}

impl Dataset {
    /// How many records share each profile.
    pub fn records_per_profile(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.profiles.len()];
        for r in &self.records {
            n[r.profile as usize] += 1;
        }
        n
    }

    /// Records of each profile, in record order (CSR: offsets and members).
    pub fn profile_members(&self) -> (Vec<u32>, Vec<RecordOrd>) {
        let mut offsets = vec![0u32; self.profiles.len() + 1];
        for r in &self.records {
            offsets[r.profile as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut members = vec![0; self.records.len()];
        for (i, r) in self.records.iter().enumerate() {
            let slot = &mut next[r.profile as usize];
            members[*slot as usize] = i as RecordOrd;
            *slot += 1;
        }
        (offsets, members)
    }

    /// Finds a record by source name and record id.
    pub fn find(&self, source: &str, record_id: &str) -> Option<RecordOrd> {
        let s = self.sources.iter().position(|n| n == source)? as u16;
        self.records
            .iter()
            .position(|r| r.source == s && r.record_id == record_id)
            .map(|i| i as RecordOrd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_stored_encoded_and_read_back_whole_or_by_case_numbers() {
        let shown = |raw: &str| Shown {
            raw: raw.into(),
            key: raw.to_lowercase().into(),
        };
        let full = Details {
            cases: vec!["T-1".into(), "CLM-20230001-long-enough-to-spill".into()],
            display: Display {
                name: Some(shown("SMITH, Robert")),
                email: Some(shown("rob.smith+shop@gmail.com")),
                phone: Some(shown("(555) 123-4567")),
                address: Some(shown("12 Long Street, Springfield, IL 62704")),
                serials: vec![shown("SN-4411"), shown("SN-4412")],
                note: Some("screen flickers · again".into()),
            },
        };
        let mut store = DetailStore::default();
        store.push(&Details::default());
        store.push(&full);
        assert_eq!(store.get(0), Details::default());
        assert_eq!(store.get(1), full);
        assert_eq!(store.cases(1), ["T-1", "CLM-20230001-long-enough-to-spill"]);
        // A record stored without details reads as empty.
        assert_eq!(store.get(2), Details::default());
        // A whole encoding is valid; a cut or padded one is not (a damaged saved row is
        // normalized again).
        let bytes = full.encode();
        assert_eq!(store.encoded(1), &bytes[..]);
        assert!(DetailStore::valid(&bytes));
        assert!(!DetailStore::valid(&bytes[..bytes.len() - 3]));
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(!DetailStore::valid(&padded));

        // Spilled to a work folder, the store reads the same, leaves no file behind,
        // and still takes more records.
        let dir = std::env::temp_dir().join(format!("idresolve-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        store.spill(&dir).unwrap();
        assert!(matches!(store.bytes, DetailBytes::Mapped(_)));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(store.get(1), full);
        assert_eq!(store.cases(1), ["T-1", "CLM-20230001-long-enough-to-spill"]);
        store.push(&full);
        assert_eq!(store.get(2), full);
        assert_eq!(store.get(1), full);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Resident KiB of this process's mappings whose path contains `marker`
    /// (/proc/self/smaps).
    fn mapped_resident_kib(marker: &str) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut kib = 0;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if first.contains('-') && !first.ends_with(':') {
                inside = line.contains(marker);
            } else if inside && first == "Rss:" {
                kib += line
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        kib
    }

    #[test]
    fn a_spilled_store_hands_back_the_pages_it_read_and_reads_the_same_after() {
        let record = |i: usize| Details {
            cases: vec![format!("T-{i}").into(), format!("CLM-{i:08}").into()],
            display: Display {
                note: Some(format!("note {i} ").repeat(20).into()),
                ..Display::default()
            },
        };
        let mut store = DetailStore::default();
        for i in 0..20_000 {
            store.push(&record(i));
        }
        let dir = std::env::temp_dir().join(format!("idresolve-release-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        store.spill(&dir).unwrap();
        let marker = dir.to_str().unwrap().to_string();
        let read_all = |store: &DetailStore| (0..20_000).all(|i| store.get(i as u32) == record(i));
        assert!(read_all(&store));
        // ~4 MB read through the map: its pages are resident ...
        assert!(
            mapped_resident_kib(&marker) > 1024,
            "{}",
            mapped_resident_kib(&marker)
        );
        store.release_pages();
        // ... and handed back, and the bytes are the same when read again.
        assert_eq!(mapped_resident_kib(&marker), 0);
        assert!(read_all(&store));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
