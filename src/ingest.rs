//! Ingestion: reads each configured export, decodes it, splits it into records with the
//! csv crate, normalizes the mapped columns and builds the [`Dataset`].
//!
//! Encodings: UTF-8 with or without BOM; UTF-16 (what Excel writes as "Unicode text"),
//! with a BOM or recognised by its zero bytes, transcoded with `encoding_rs`; a field
//! that is not valid UTF-8 is read as Windows-1252 (the usual Excel CSV), and counted.
//!
//! Every row is accounted for: `rows = accepted + rejected` per source, checked here.
//! Rows that cannot be used (extra non-empty fields, short rows unless `flexible`, an
//! empty or duplicate record id, a stray quote) go to `rejected` with their physical
//! line and reason; the run goes on unless a source loses more than its
//! `max_rejected_share`. A stray quote costs only its own line: a quoted field that
//! runs over line breaks where the file's rows do not, is cut at its line and reading
//! resumes on the next. A file that cannot be used at all (missing, not a regular
//! file, empty, binary, header only unless `allow_empty`) is an error naming it.

// FxHash: the keys are value hashes, small ids or short strings; SipHash is a
// measured cost here and its DoS resistance buys nothing for a batch job.
use rustc_hash::FxHashMap as HashMap;

use crate::config::{Config, FieldKind, SourceConfig};
use crate::error::{Error, Result};
use crate::export::{decode, file_fingerprint, read_export};
use crate::normalize::{self, PhoneNormalizer};
use crate::record::{
    Dataset, Details, Display, FieldCounts, Profile, Record, RecordOrd, Rejected, Shown,
    SourceCounts,
};
use crate::tabular::{Format, Row};
use compact_str::CompactString;
use phonenumber::country::Id as Region;

/// Interns profiles into [`Dataset::profiles`]: a table of (hash, ordinal) finds a
/// profile already held. Each profile is held once (a map keyed by profile beside the
/// list held every profile twice, and its 270-byte buckets were most of ingest's page
/// faults at 1M records).
#[derive(Default)]
struct ProfileSet {
    table: hashbrown::HashTable<(u64, u32)>,
}

/// The hash a profile is interned by (saved with an incremental state's profiles).
pub fn profile_hash(p: &Profile) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(p)
}

impl ProfileSet {
    /// A set holding an earlier run's profiles (with their [`profile_hash`]es) at their
    /// ordinals; profiles without values are never shared, so not held.
    fn seeded(profiles: &[Profile], hashes: &[u64]) -> ProfileSet {
        let mut set = ProfileSet::default();
        set.table.reserve(profiles.len(), |&(h, _)| h);
        for (i, (p, &h)) in profiles.iter().zip(hashes).enumerate() {
            if !p.is_empty() {
                set.table.insert_unique(h, (h, i as u32), |&(h, _)| h);
            }
        }
        set
    }

    /// The ordinal of `p` in `profiles`, pushing it if it is new.
    fn intern(&mut self, profiles: &mut Vec<Profile>, p: Profile) -> u32 {
        let hash = profile_hash(&p);
        let found = self
            .table
            .find(hash, |&(h, i)| h == hash && profiles[i as usize] == p);
        if let Some(&(_, i)) = found {
            return i;
        }
        let i = profiles.len() as u32;
        // A copy made here, not the normalizer's: its values were allocated among the
        // row's temporaries in the worker threads, and keeping them there left ~0.5 GiB
        // of half-empty pages at 1M records.
        profiles.push(p.clone());
        self.table.insert_unique(hash, (hash, i), |&(h, _)| h);
        i
    }
}

/// Longest value compared, in bytes: a longer cell is cut (at a character boundary)
/// and counted, so that no cell can make a run slow.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Longest `raw` written to `rejected.csv` for one row.
const MAX_REJECTED_RAW: usize = 4096;
/// A record spanning more physical lines than this is a stray quote, whatever else.
const MAX_RECORD_LINES: usize = 32;

/// A value cut to [`MAX_VALUE_BYTES`] at a character boundary, and whether it was cut.
fn capped(s: std::borrow::Cow<'_, str>) -> (std::borrow::Cow<'_, str>, bool) {
    if s.len() <= MAX_VALUE_BYTES {
        return (s, false);
    }
    let mut end = MAX_VALUE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string().into(), true)
}

/// Reads and normalizes every source of the config.
pub fn ingest(config: &Config, progress: impl FnMut(u64) + Send) -> Result<Dataset> {
    ingest_reusing(config, None, progress)
}

/// A row normalized by an earlier run, as [`Reuse`] hands it back: everything
/// normalizing the row gave, so that the run reads exactly as if it had normalized it.
pub struct Reused {
    /// The row's profile before case numbers shared with other records were attached:
    /// its ordinal in the [`Seed`] when it was that run's profile of the row too.
    pub profile: std::result::Result<u32, Profile>,
    /// The row's [`Details`], encoded (checked with [`crate::record::DetailStore::valid`]).
    pub details: Vec<u8>,
    pub date: Option<chrono::NaiveDate>,
    /// What normalizing the row counted ([`Dataset::row_stats`]'s encoding).
    pub stats: Vec<u8>,
}

/// Rows an earlier run normalized, by source, record id and the row's fingerprint
/// ([`crate::rows::row_hash`]): an incremental run normalizes only the others.
pub trait Reuse: Sync {
    fn get(&self, source: &str, record_id: &str, hash: u64) -> Option<Reused>;
}

/// An earlier run's profile table, for an incremental run: its profiles keep their
/// ordinals (those of its index), new ones are appended, and none is dropped (a profile
/// whose records are gone stays, without records, until a full run).
pub struct Seed {
    pub profiles: Vec<Profile>,
    /// [`profile_hash`] of each.
    pub hashes: Vec<u64>,
    /// Rows expected (the earlier run's records), to size the tables once.
    pub records: usize,
}

/// [`ingest`], taking rows an earlier run normalized from `reuse` instead of
/// normalizing them again, onto its profile table (`seed`).
pub fn ingest_reusing(
    config: &Config,
    reuse: Option<(&dyn Reuse, Seed)>,
    mut progress: impl FnMut(u64) + Send,
) -> Result<Dataset> {
    let mut data = Dataset::default();
    let (reuse, mut profiles, seeded) = match reuse {
        Some((r, seed)) => {
            let set = ProfileSet::seeded(&seed.profiles, &seed.hashes);
            data.profiles = seed.profiles;
            let n = seed.records + seed.records / 16;
            data.records.reserve(n);
            data.details.reserve(n, n * 96);
            data.row_hashes.reserve(n);
            data.row_stats_at.reserve(n + 1);
            data.row_stats.reserve(n * 24);
            (Some(r), set, Some(data.profiles.len()))
        }
        None => {
            // Room for every line of every CSV export, made once: reserved source by
            // source, each next source copied the tables read so far (a profile is
            // 264 bytes) into fresh memory.
            let lines = line_count_hint(config);
            data.records.reserve_exact(lines);
            data.profiles.reserve_exact(lines);
            data.details.reserve(lines, lines * 96);
            data.row_hashes.reserve_exact(lines);
            data.row_stats_at.reserve_exact(lines + 1);
            (None, ProfileSet::default(), None)
        }
    };
    data.row_stats_at.push(0);
    for (s, source) in config.sources.iter().enumerate() {
        data.sources.push(source.name.clone());
        let counts = ingest_source(
            s as u16,
            source,
            reuse,
            &mut data,
            &mut profiles,
            &mut progress,
        )?;
        data.counts.push(counts);
    }
    attach_shared_cases(&mut data, seeded.map(|n| (n, &mut profiles)));
    drop(profiles);
    Ok(data)
}

/// The lines of the config's CSV exports (a capacity hint: a quoted field may span
/// lines; an unreadable file counts nothing here and is reported when it is read).
fn line_count_hint(config: &Config) -> usize {
    use std::io::Read;
    let count = |path: &std::path::Path| {
        let Ok(mut f) = std::fs::File::open(path) else {
            return 0;
        };
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0;
        while let Ok(k @ 1..) = f.read(&mut buf) {
            n += memchr::memchr_iter(b'\n', &buf[..k]).count();
        }
        n
    };
    config
        .sources
        .iter()
        .filter(|s| s.format == Format::Csv)
        .map(|s| count(&s.path))
        .sum()
}

/// Puts the case numbers that records share (a claim citing a ticket) into their
/// profiles, and gives every record without any value its own profile: records are
/// grouped into one profile only when their identifying values are the same, and "no
/// values" or "cites this ticket" is not something two different people cannot share.
///
/// With an earlier run's table (`seeded`: its length and the set holding it), profiles
/// are interned into it and none is dropped, so that ordinals stay; a record without
/// values keeps the table's profile it had (it is its own).
fn attach_shared_cases(data: &mut Dataset, mut seeded: Option<(usize, &mut ProfileSet)>) {
    use rayon::prelude::*;
    // Each record's case numbers, normalized once (in parallel), then counted.
    let codes: Vec<Vec<compact_str::CompactString>> = {
        let details = &data.details;
        (0..data.records.len() as RecordOrd)
            .into_par_iter()
            .map(|i| {
                let mut codes: Vec<compact_str::CompactString> = details
                    .cases(i)
                    .into_iter()
                    .filter_map(normalize::normalize_code)
                    .map(Into::into)
                    .collect();
                codes.sort();
                codes.dedup();
                codes
            })
            .collect()
    };
    // The codes more than one record cites: sorted and counted in runs (in parallel),
    // then each record's shared ones picked out (in parallel).
    let shared_codes: rustc_hash::FxHashSet<&str> = {
        let mut all: Vec<&str> = codes.iter().flatten().map(|c| c.as_str()).collect();
        all.par_sort_unstable();
        all.chunk_by(|a, b| a == b)
            .filter(|run| run.len() > 1)
            .map(|run| run[0])
            .collect()
    };
    let shared_of: Vec<Vec<&str>> = codes
        .par_iter()
        .map(|codes| {
            codes
                .iter()
                .map(|c| c.as_str())
                .filter(|c| shared_codes.contains(c))
                .collect()
        })
        .collect();
    // Only records that cite a shared case, or hold no value at all, change profile;
    // the others keep theirs (no re-hashing of a million profiles).
    let at_most_new = shared_of
        .par_iter()
        .zip(&data.records)
        .filter(|(shared, r)| !shared.is_empty() || data.profiles[r.profile as usize].is_empty())
        .count();
    data.profiles.reserve_exact(at_most_new);
    let mut split: HashMap<(u32, Vec<String>), u32> = HashMap::default();
    for (i, shared) in shared_of.iter().enumerate() {
        let r = &data.records[i];
        let old = r.profile;
        let empty = data.profiles[old as usize].is_empty();
        if shared.is_empty() && !empty {
            continue;
        }
        let shared: Vec<String> = shared.iter().map(|c| c.to_string()).collect();
        if !shared.is_empty() {
            data.before_cases
                .push((i as u32, data.profiles[old as usize].clone()));
        }
        let next = data.profiles.len() as u32;
        let new = if shared.is_empty() {
            match &seeded {
                // A value-less record reused from the table: the profile is its own.
                Some((n, _)) if (old as usize) < *n => continue,
                _ => {
                    data.profiles.push(Profile::default());
                    next
                }
            }
        } else if let Some((_, set)) = seeded.as_mut() {
            let key = (old, shared);
            match split.get(&key) {
                Some(&p) => p,
                None => {
                    let mut p = data.profiles[old as usize].clone();
                    p.cases = key.1.iter().map(|c| c.as_str().into()).collect();
                    let ord = set.intern(&mut data.profiles, p);
                    split.insert(key, ord);
                    ord
                }
            }
        } else {
            *split.entry((old, shared)).or_insert_with_key(|(_, cases)| {
                let mut p = data.profiles[old as usize].clone();
                p.cases = cases.iter().map(|c| c.as_str().into()).collect();
                data.profiles.push(p);
                next
            })
        };
        data.records[i].profile = new;
    }
    // Drop profiles left without records, keeping the order of the rest; with an
    // earlier run's table, only among tonight's new profiles (the table's ordinals
    // stay). A reused row's profile before shared case numbers is interned to find its
    // profile after them; where a full run dropped it, it is pushed again here and
    // would otherwise stay behind without records (~7 % of the table at 1M records,
    // each an index document and a state entry).
    drop_unused_profiles(data, seeded.map_or(0, |(n, _)| n));
}

/// Drops the profiles from ordinal `from` on that no record holds, keeping the order
/// of the rest.
fn drop_unused_profiles(data: &mut Dataset, from: usize) {
    if from >= data.profiles.len() {
        return;
    }
    let mut used = vec![false; data.profiles.len() - from];
    for r in &data.records {
        if let Some(u) = (r.profile as usize).checked_sub(from) {
            used[u] = true;
        }
    }
    if used.iter().all(|&u| u) {
        return;
    }
    let mut remap = vec![u32::MAX; used.len()];
    let mut kept = from as u32;
    for (i, u) in used.iter().enumerate() {
        if *u {
            remap[i] = kept;
            kept += 1;
        }
    }
    // In place: no second table (264 bytes a profile).
    let mut i = 0;
    data.profiles.retain(|_| {
        let keep = i < from || used[i - from];
        i += 1;
        keep
    });
    for r in data.records.iter_mut() {
        if let Some(u) = (r.profile as usize).checked_sub(from) {
            r.profile = remap[u];
        }
    }
}

/// Rows normalized together in parallel; reading and bookkeeping stay sequential.
const BATCH_ROWS: usize = 16_384;

thread_local! {
    /// Each worker thread keeps its own phone normalizers, one per region met (the
    /// parser is not shared; each has its own cache).
    static PHONES: std::cell::RefCell<HashMap<Region, PhoneNormalizer>> =
        std::cell::RefCell::new(HashMap::default());
}

const KINDS: usize = FieldKind::ALL.len();

/// What normalizing one cell of a kind gave.
#[derive(Debug, Default, Clone, Copy)]
struct Cell {
    filled: u32,
    accepted: u32,
    placeholder: u32,
    truncated: u32,
}

/// Counts of one row (or a batch), folded into [`SourceCounts`].
#[derive(Debug, Default, Clone)]
struct RowStats {
    cells: [Cell; KINDS],
    ambiguous_dates: u32,
    country_region: u32,
    windows_1252: u32,
    other_recipient: u32,
}

impl RowStats {
    /// A row's counts as bytes: `[kind, filled, accepted, placeholder, truncated]` for
    /// each kind it counted, then ambiguous dates, country region, Windows-1252 fields
    /// and other recipient. `None` when a count does not fit a byte (never for a row of
    /// fewer than 256 columns): such a row is normalized again by a later run.
    fn encode(&self) -> Option<Vec<u8>> {
        let b = |n: u32| u8::try_from(n).ok();
        let mut out = Vec::with_capacity(24);
        for (k, c) in self.cells.iter().enumerate() {
            if c.filled + c.accepted + c.placeholder + c.truncated > 0 {
                out.extend([
                    k as u8,
                    b(c.filled)?,
                    b(c.accepted)?,
                    b(c.placeholder)?,
                    b(c.truncated)?,
                ]);
            }
        }
        out.extend([
            b(self.ambiguous_dates)?,
            b(self.country_region)?,
            b(self.windows_1252)?,
            b(self.other_recipient)?,
        ]);
        Some(out)
    }

    /// The counts [`RowStats::encode`] wrote; `None` for bytes it cannot have written.
    fn decode(bytes: &[u8]) -> Option<RowStats> {
        let (cells, tail) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if cells.len() % 5 != 0 {
            return None;
        }
        let mut st = RowStats::default();
        for c in cells.chunks_exact(5) {
            let cell = st.cells.get_mut(c[0] as usize)?;
            *cell = Cell {
                filled: c[1].into(),
                accepted: c[2].into(),
                placeholder: c[3].into(),
                truncated: c[4].into(),
            };
        }
        st.ambiguous_dates = tail[0].into();
        st.country_region = tail[1].into();
        st.windows_1252 = tail[2].into();
        st.other_recipient = tail[3].into();
        Some(st)
    }

    fn add(&mut self, o: &RowStats) {
        for (a, b) in self.cells.iter_mut().zip(&o.cells) {
            a.filled += b.filled;
            a.accepted += b.accepted;
            a.placeholder += b.placeholder;
            a.truncated += b.truncated;
        }
        self.ambiguous_dates += o.ambiguous_dates;
        self.country_region += o.country_region;
        self.other_recipient += o.other_recipient;
        self.windows_1252 += o.windows_1252;
    }
}

struct Normalized {
    /// The row's profile, or its ordinal in the seeded table (a reused row).
    profile: std::result::Result<u32, Profile>,
    /// The row's [`Details`], encoded.
    details: Vec<u8>,
    date: Option<chrono::NaiveDate>,
    stats: RowStats,
}

/// Fingerprints and normalizes a batch of accepted rows in parallel, in order; a row
/// `reuse` holds (same source, record id and fingerprint) is taken from it instead.
fn normalize_batch(
    source: &SourceConfig,
    rows: &[csv::ByteRecord],
    meta: &[(CompactString, u64)],
    region: Region,
    reuse: Option<&dyn Reuse>,
) -> Vec<(u64, Normalized)> {
    use rayon::prelude::*;
    rows.par_iter()
        .zip(meta)
        .with_min_len(256)
        .map(|(row, (record_id, _))| {
            // The row's fingerprint is made here, in parallel, not by the reading thread.
            let hash = crate::rows::row_hash(row.iter());
            let kept = reuse.and_then(|r| r.get(&source.name, record_id, hash));
            if let Some(k) = kept {
                if let Some(stats) = RowStats::decode(&k.stats) {
                    let n = Normalized {
                        profile: k.profile,
                        details: k.details,
                        date: k.date,
                        stats,
                    };
                    return (hash, n);
                }
            }
            let n = PHONES.with(|cell| {
                let mut phones = cell.borrow_mut();
                normalize_row(source, row, region, &mut phones)
            });
            (hash, n)
        })
        .collect()
}

/// Why a row was rejected, as counted in `run.json` (the row's own reason says more).
const R_FIELDS: &str = "wrong number of fields";
const R_EMPTY_ID: &str = "empty record id";
const R_DUPLICATE_ID: &str = "duplicate record id";
const R_QUOTE: &str = "unbalanced quote";
const R_FORMAT: &str = "unreadable row";

/// Physical line numbers of byte offsets, counted forward (offsets only grow).
struct Lines<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl Lines<'_> {
    fn of(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.text.len());
        if offset >= self.at {
            self.line += memchr::memchr_iter(b'\n', &self.text[self.at..offset]).count() as u64;
        } else {
            self.line -= memchr::memchr_iter(b'\n', &self.text[offset..self.at]).count() as u64;
        }
        self.at = offset;
        self.line
    }
}

/// True when a record that runs over line breaks looks like a stray quote that
/// swallowed the rows after it: its fields hold lines with as many delimiters as a row.
fn swallowed_rows(row: &csv::ByteRecord, raw: &[u8], width: usize, delimiter: u8) -> bool {
    let lines = memchr::memchr_iter(b'\n', raw.trim_ascii_end()).count();
    if lines == 0 {
        return false;
    }
    if lines >= MAX_RECORD_LINES || row.len() != width {
        return true;
    }
    let row_like = width.saturating_sub(1).max(2);
    row.iter().any(|f| {
        f.split(|&b| b == b'\n')
            .skip(1)
            .any(|l| memchr::memchr_iter(delimiter, l).count() >= row_like)
    })
}

fn raw_text(bytes: &[u8]) -> String {
    let t = bytes.trim_ascii_end();
    let cut = &t[..t.len().min(MAX_REJECTED_RAW)];
    let mut s = decode(cut).into_owned();
    if cut.len() < t.len() {
        s.push_str(" …(truncated)");
    }
    s
}

/// Rows fingerprinted and normalized, waiting to be added to the dataset, with their
/// (record id, line).
type Batch = (Vec<(u64, Normalized)>, Vec<(CompactString, u64)>);

fn ingest_source(
    s: u16,
    source: &SourceConfig,
    reuse: Option<&dyn Reuse>,
    data: &mut Dataset,
    profiles: &mut ProfileSet,
    progress: &mut (impl FnMut(u64) + Send),
) -> Result<SourceCounts> {
    // Reading a batch overlaps normalizing the one before (a task of this scope).
    rayon::scope(|scope| ingest_source_in(scope, s, source, reuse, data, profiles, progress))
}

fn ingest_source_in<'s>(
    scope: &rayon::Scope<'s>,
    s: u16,
    source: &'s SourceConfig,
    reuse: Option<&'s dyn Reuse>,
    data: &mut Dataset,
    profiles: &mut ProfileSet,
    progress: &mut impl FnMut(u64),
) -> Result<SourceCounts> {
    let region = normalize::phone::parse_region(&source.region).unwrap_or(Region::US);
    let mut counts = SourceCounts {
        name: source.name.clone(),
        region: source.region.clone(),
        date_order: source.date_order.as_str().to_string(),
        ..Default::default()
    };
    (counts.file, counts.file_bytes, counts.file_modified) = file_fingerprint(&source.path);
    let mut stats = RowStats::default();
    let mut seen_ids: HashMap<CompactString, u64> = HashMap::default();
    let mut batch: Vec<csv::ByteRecord> = Vec::with_capacity(BATCH_ROWS);
    let mut batch_meta: Vec<(CompactString, u64)> = Vec::with_capacity(BATCH_ROWS);
    // The batch being normalized while the next is read (at most one).
    let pending: std::cell::RefCell<Option<std::sync::mpsc::Receiver<Batch>>> =
        std::cell::RefCell::new(None);
    let add = |(normalized, meta): Batch,
               data: &mut Dataset,
               stats: &mut RowStats,
               profiles: &mut ProfileSet| {
        for ((hash, n), (record_id, line)) in normalized.into_iter().zip(meta) {
            stats.add(&n.stats);
            data.row_hashes.push(hash);
            // An empty encoding (a count beyond a byte) makes a later run normalize it.
            data.row_stats.extend(n.stats.encode().unwrap_or_default());
            data.row_stats_at.push(data.row_stats.len() as u32);
            let profile_ord = match n.profile {
                Ok(ord) => ord,
                Err(p) => profiles.intern(&mut data.profiles, p),
            };
            data.details.push_encoded(&n.details);
            data.records.push(Record {
                source: s,
                line,
                record_id,
                date: n.date,
                profile: profile_ord,
            });
        }
    };
    // Adds the batch in flight, if any, to the dataset (in order), waiting for it by
    // helping rayon with its work (with one thread that is this very batch).
    let settle = |data: &mut Dataset, stats: &mut RowStats, profiles: &mut ProfileSet| {
        let Some(rx) = pending.borrow_mut().take() else {
            return;
        };
        let done = loop {
            match rx.try_recv() {
                Ok(done) => break Some(done),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break None,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::yield_now();
                    }
                }
            }
        };
        // A task that panicked has propagated its panic through the scope already.
        if let Some(done) = done {
            add(done, data, stats, profiles);
        }
    };
    // Sends the batch to be normalized while reading goes on; the one before is added
    // first, so that records keep their order.
    let flush = |batch: &mut Vec<csv::ByteRecord>,
                 meta: &mut Vec<(CompactString, u64)>,
                 data: &mut Dataset,
                 stats: &mut RowStats,
                 profiles: &mut ProfileSet| {
        settle(data, stats, profiles);
        if batch.is_empty() {
            return;
        }
        let rows = std::mem::replace(batch, Vec::with_capacity(BATCH_ROWS));
        let meta = std::mem::replace(meta, Vec::with_capacity(BATCH_ROWS));
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move |_| {
            let normalized = normalize_batch(source, &rows, &meta, region, reuse);
            drop(rows);
            let _ = tx.send((normalized, meta));
        });
        *pending.borrow_mut() = Some(rx);
    };
    let width = source.header.len();
    let reject = |reason_class: &'static str,
                  reason: String,
                  line: u64,
                  raw: &[u8],
                  data: &mut Dataset,
                  counts: &mut SourceCounts| {
        counts.rejected += 1;
        *counts
            .rejected_reasons
            .entry(reason_class.to_string())
            .or_default() += 1;
        data.rejected.push(Rejected {
            source: source.name.clone(),
            line,
            reason,
            raw: raw_text(raw),
        });
    };
    // A row of the right width: its record id must be there and new; then it is
    // normalized with its batch.
    let admit = |row: &csv::ByteRecord,
                 line: u64,
                 raw: Option<&[u8]>,
                 data: &mut Dataset,
                 counts: &mut SourceCounts,
                 seen_ids: &mut HashMap<CompactString, u64>,
                 batch: &mut Vec<csv::ByteRecord>,
                 batch_meta: &mut Vec<(CompactString, u64)>,
                 stats: &mut RowStats,
                 profiles: &mut ProfileSet| {
        // The row as text for rejected.csv: as read for CSV, its fields otherwise (made
        // only for a rejected row).
        let shown = || {
            raw.map_or_else(
                || row.iter().collect::<Vec<_>>().join(&b","[..]),
                <[u8]>::to_vec,
            )
        };
        let (record_id, _) = capped(decode(&row[source.record_id_column]));
        let record_id = CompactString::from(record_id.trim());
        if record_id.is_empty() {
            reject(
                R_EMPTY_ID,
                format!("empty record id (column `{}`)", source.record_id),
                line,
                &shown(),
                data,
                counts,
            );
            return;
        }
        if let Some(first) = seen_ids.get(&record_id) {
            reject(
                R_DUPLICATE_ID,
                format!(
                    "duplicate record id `{record_id}` (column `{}`; first seen on {} {first})",
                    source.record_id,
                    if source.format == Format::Parquet {
                        "row"
                    } else {
                        "line"
                    }
                ),
                line,
                &shown(),
                data,
                counts,
            );
            return;
        }
        seen_ids.insert(record_id.clone(), line);
        batch.push(row.clone());
        batch_meta.push((record_id, line));
        if batch.len() == BATCH_ROWS {
            flush(batch, batch_meta, data, stats, profiles);
        }
        counts.accepted += 1;
    };
    if source.format != Format::Csv {
        counts.encoding = source.format.as_str().to_string();
        crate::tabular::rows(&source.path, source.format, &source.header, &mut |r| {
            counts.rows += 1;
            if counts.rows.is_multiple_of(65_536) {
                progress(65_536);
            }
            match r {
                Row::Fields(line, row) => {
                    admit(
                        &row,
                        line,
                        None,
                        data,
                        &mut counts,
                        &mut seen_ids,
                        &mut batch,
                        &mut batch_meta,
                        &mut stats,
                        profiles,
                    );
                }
                Row::Bad(line, reason, raw) => {
                    reject(R_FORMAT, reason, line, raw.as_bytes(), data, &mut counts)
                }
            }
        })?;
    } else {
        let export = read_export(&source.path, source.delimiter)?;
        if export.header.len() != source.header.len() {
            return Err(Error::input(
                &source.path,
                "the header changed while the run was starting; run again",
            ));
        }
        counts.encoding = export.encoding.as_str().to_string();
        let text = &export.text[..];
        // Room for every line as a record (and a profile), made once and exactly:
        // growing the tables by doubling copied them again and again, and left them up
        // to twice as big as needed (1.8 GB of unused profile slots at 10M records).
        let lines = memchr::memchr_iter(b'\n', text).count();
        data.records.reserve_exact(lines);
        seen_ids.reserve(lines);
        // A night's table is last night's (reserved with room for new profiles when it
        // was read): reserving a profile per line again would copy it source by source.
        if reuse.is_none() {
            data.profiles.reserve_exact(lines);
        }
        data.details.reserve(lines, lines * 96);
        data.row_hashes.reserve_exact(lines);
        data.row_stats_at.reserve_exact(lines);
        let mut lines = Lines {
            text,
            at: 0,
            line: 1,
        };
        let mut pos = export.body;
        let mut row = csv::ByteRecord::new();
        'restart: while pos < text.len() {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(export.delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(&text[pos..]);
            loop {
                let start_rel = reader.position().byte() as usize;
                match reader.read_byte_record(&mut row) {
                    Ok(true) => {}
                    Ok(false) => break 'restart,
                    Err(e) => {
                        // The csv crate only fails on I/O and UTF-8 (neither applies to
                        // byte records in memory); treat it as a bad line all the same.
                        let start = pos + start_rel;
                        let end = memchr::memchr(b'\n', &text[start..])
                            .map_or(text.len(), |i| start + i + 1);
                        counts.rows += 1;
                        let line = lines.of(start);
                        reject(
                            R_QUOTE,
                            format!("cannot read CSV: {e}"),
                            line,
                            &text[start..end],
                            data,
                            &mut counts,
                        );
                        pos = end;
                        continue 'restart;
                    }
                }
                let end_rel = reader.position().byte() as usize;
                // The record starts after any blank lines the reader skipped.
                let mut start = pos + start_rel;
                while start < text.len() && matches!(text[start], b'\r' | b'\n') {
                    start += 1;
                }
                let end = (pos + end_rel).max(start);
                let raw = &text[start..end];
                // A blank (whitespace-only) line inside a file is not a row.
                if row.len() == 1 && row[0].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                counts.rows += 1;
                if counts.rows.is_multiple_of(65_536) {
                    progress(65_536);
                }
                let line = lines.of(start);
                if swallowed_rows(&row, raw, width, export.delimiter) {
                    // Cut the record at its first line, and read on from the next.
                    let line_end = memchr::memchr(b'\n', raw).map_or(end, |i| start + i + 1);
                    reject(
                    R_QUOTE,
                    "unbalanced quote: a quoted field runs over the following lines; this line is rejected and reading resumes on the next".into(),
                    line,
                    &text[start..line_end],
                    data,
                    &mut counts,
                );
                    pos = line_end;
                    continue 'restart;
                }
                if row.len() > width && row.iter().skip(width).all(|f| f.trim_ascii().is_empty()) {
                    // A trailing delimiter on every row ("a,b,c,"): the extra fields are empty.
                    row.truncate(width);
                    counts.rows_with_trailing_empty_fields += 1;
                } else if row.len() < width && source.flexible {
                    while row.len() < width {
                        row.push_field(b"");
                    }
                    counts.short_rows_padded += 1;
                }
                if row.len() != width {
                    reject(
                        R_FIELDS,
                        format!(
                        "wrong number of fields: expected {width} (as in the header), found {}{}",
                        row.len(),
                        if row.len() < width && !source.flexible {
                            " (set flexible = true to accept short rows)"
                        } else {
                            ""
                        }
                    ),
                        line,
                        raw,
                        data,
                        &mut counts,
                    );
                    continue;
                }
                admit(
                    &row,
                    line,
                    Some(raw),
                    data,
                    &mut counts,
                    &mut seen_ids,
                    &mut batch,
                    &mut batch_meta,
                    &mut stats,
                    profiles,
                );
            }
        }
    }
    flush(&mut batch, &mut batch_meta, data, &mut stats, profiles);
    settle(data, &mut stats, profiles);
    progress(counts.rows % 65_536);
    if counts.rows != counts.accepted + counts.rejected {
        return Err(Error::input(
            &source.path,
            format!(
                "internal error: {} rows read but {} accepted and {} rejected; please report this",
                counts.rows, counts.accepted, counts.rejected
            ),
        ));
    }
    counts.ambiguous_dates = stats.ambiguous_dates as u64;
    counts.rows_with_country_region = stats.country_region as u64;
    counts.rows_with_other_recipient = stats.other_recipient as u64;
    counts.windows_1252_fields = stats.windows_1252 as u64;
    counts.fields = source
        .fields
        .iter()
        .map(|(kind, _)| {
            let c = stats.cells[*kind as usize];
            FieldCounts {
                field: kind.as_str().to_string(),
                filled: c.filled as u64,
                accepted: c.accepted as u64,
                refused_placeholder: c.placeholder as u64,
                refused_invalid: c.filled.saturating_sub(c.accepted + c.placeholder) as u64,
                truncated: c.truncated as u64,
            }
        })
        .collect();
    if counts.rows == 0 {
        if source.allow_empty {
            return Ok(counts);
        }
        return Err(Error::input(
            &source.path,
            format!(
                "source `{}` has a header row but no data rows (set allow_empty = true on the source to accept an empty export)",
                source.name
            ),
        ));
    }
    let share = counts.rejected as f64 / counts.rows as f64;
    if counts.rejected > 0 && share > source.max_rejected_share {
        let (top, n) = counts
            .rejected_reasons
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(r, n)| (r.clone(), *n))
            .unwrap_or_default();
        let first = data
            .rejected
            .iter()
            .find(|r| r.source == source.name)
            .map(|r| format!(" (first: line {}: {})", r.line, r.reason))
            .unwrap_or_default();
        return Err(Error::input(
            &source.path,
            format!(
                "source `{}`: {} of {} rows rejected ({:.0}%, more than max_rejected_share = {}); top reason: {top} ({n} rows){first}. No mapping was written: fix the export or the config",
                source.name,
                counts.rejected,
                counts.rows,
                share * 100.0,
                source.max_rejected_share
            ),
        ));
    }
    Ok(counts)
}

/// Normalizes the mapped columns of one row.
fn normalize_row(
    source: &SourceConfig,
    row: &csv::ByteRecord,
    source_region: Region,
    phones: &mut HashMap<Region, PhoneNormalizer>,
) -> Normalized {
    let mut p = Profile::default();
    let mut d = Display::default();
    let mut date = None;
    let mut cases = Vec::new();
    let mut st = RowStats::default();
    let value = |c: usize, kind: FieldKind, st: &mut RowStats| -> String {
        let bytes = &row[c];
        if std::str::from_utf8(bytes).is_err() {
            st.windows_1252 += 1;
        }
        let (v, cut) = capped(decode(bytes));
        let cell = &mut st.cells[kind as usize];
        if !v.trim().is_empty() {
            cell.filled += 1;
            if normalize::is_placeholder(&v) {
                cell.placeholder += 1;
            }
        }
        if cut {
            cell.truncated += 1;
        }
        v.into_owned()
    };
    let accept = |kind: FieldKind, ok: bool, st: &mut RowStats| {
        if ok {
            st.cells[kind as usize].accepted += 1;
        }
    };
    // The row's country, when a column gives one, sets the region of its phones.
    let mut region = source_region;
    for &c in source.columns_of(FieldKind::Country) {
        let raw = value(c, FieldKind::Country, &mut st);
        if let Some(r) = normalize::parse_country(&raw) {
            accept(FieldKind::Country, true, &mut st);
            if region == source_region && r != source_region {
                st.country_region += 1;
            }
            region = r;
            break;
        }
    }
    let keep_first = |slot: &mut Option<Shown>, raw: &str, key: &str| {
        if slot.is_none() {
            *slot = Some(Shown {
                raw: raw.trim().into(),
                key: key.into(),
            });
        }
    };
    let name_part = |kind: FieldKind, st: &mut RowStats| -> String {
        let parts: Vec<String> = source
            .columns_of(kind)
            .iter()
            .map(|&c| value(c, kind, st).trim().to_string())
            .filter(|v| !normalize::is_placeholder(v))
            .collect();
        parts.join(" ")
    };
    for (kind, cols) in &source.fields {
        let kind = *kind;
        match kind {
            FieldKind::FirstName | FieldKind::LastName | FieldKind::Country => {}
            FieldKind::FullName => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    if let Some(n) = normalize::parse_full_name(&raw) {
                        accept(kind, true, &mut st);
                        keep_first(&mut d.name, &raw, &n.display());
                        p.names.push(n);
                    }
                }
            }
            FieldKind::Email => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    if let Some(e) = normalize::normalize_email(&raw) {
                        accept(kind, true, &mut st);
                        keep_first(&mut d.email, &raw, &e.address);
                        p.emails.push(e);
                    }
                }
            }
            FieldKind::Phone => {
                let normalizer = phones
                    .entry(region)
                    .or_insert_with(|| PhoneNormalizer::new(region));
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    if let Some(ph) = normalizer.normalize(&raw) {
                        accept(kind, true, &mut st);
                        keep_first(&mut d.phone, &raw, &ph.e164);
                        p.phones.push(ph);
                    }
                }
            }
            FieldKind::Serial => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    let mut any = false;
                    for part in raw.split([';', '|', ',']) {
                        if let Some(s) = normalize::normalize_serial(part) {
                            any = true;
                            d.serials.push(Shown {
                                raw: part.trim().into(),
                                key: s.key.clone(),
                            });
                            p.serials.push(s);
                        }
                    }
                    accept(kind, any, &mut st);
                }
            }
            FieldKind::Address => {
                let raw = name_part(kind, &mut st);
                if let Some(a) = normalize::normalize_address(&raw) {
                    // The address columns are one value: every filled cell counts.
                    let c = &mut st.cells[kind as usize];
                    c.accepted = c.filled - c.placeholder;
                    keep_first(&mut d.address, &raw, &a);
                    p.addresses.push(a.into());
                }
            }
            FieldKind::City => {
                for &c in cols {
                    let v = normalize::normalize_city(&value(c, kind, &mut st));
                    accept(kind, v.is_some(), &mut st);
                    p.cities.extend(v.map(Into::into));
                }
            }
            FieldKind::Postcode => {
                for &c in cols {
                    let v = normalize::normalize_postcode(&value(c, kind, &mut st));
                    accept(kind, v.is_some(), &mut st);
                    p.postcodes.extend(v.map(Into::into));
                }
            }
            FieldKind::Dob | FieldKind::Date => {
                for &c in cols {
                    let parsed =
                        normalize::parse_date_in(&value(c, kind, &mut st), source.date_order);
                    accept(kind, parsed.is_some(), &mut st);
                    if let Some(pd) = parsed {
                        st.ambiguous_dates += pd.ambiguous as u32;
                        if kind == FieldKind::Dob {
                            p.dobs.push(pd.date);
                        } else if date.is_none() {
                            date = Some(pd.date);
                        }
                    }
                }
            }
            FieldKind::Case => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    let mut any = false;
                    for part in raw.split([';', '|', ',']) {
                        if normalize::normalize_code(part).is_some() {
                            any = true;
                            cases.push(part.trim().into());
                        }
                    }
                    accept(kind, any, &mut st);
                }
            }
            FieldKind::Id => {
                for &c in cols {
                    let v = normalize::normalize_code(&value(c, kind, &mut st));
                    accept(kind, v.is_some(), &mut st);
                    p.ids.extend(v.map(Into::into));
                }
            }
            FieldKind::Note => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    let raw = raw.trim();
                    let ok = !raw.is_empty() && !normalize::is_placeholder(raw);
                    accept(kind, ok, &mut st);
                    if ok {
                        let note = d.note.get_or_insert_with(Default::default);
                        if !note.is_empty() {
                            note.push_str(" · ");
                        }
                        note.push_str(raw);
                    }
                }
            }
            FieldKind::Text => {
                for &c in cols {
                    let raw = value(c, kind, &mut st);
                    let folded = normalize::fold_text(&raw);
                    let ok = !folded.is_empty() && !normalize::is_placeholder(&raw);
                    accept(kind, ok, &mut st);
                    if ok {
                        p.texts.push(folded.into());
                    }
                }
            }
        }
    }
    let has_first = !source.columns_of(FieldKind::FirstName).is_empty();
    let has_last = !source.columns_of(FieldKind::LastName).is_empty();
    if has_first || has_last {
        let first = name_part(FieldKind::FirstName, &mut st);
        let last = name_part(FieldKind::LastName, &mut st);
        if let Some(n) = normalize::parse_name_parts(&first, &last) {
            // Name parts are accepted together: every filled, non-placeholder cell.
            for k in [FieldKind::FirstName, FieldKind::LastName] {
                let c = &mut st.cells[k as usize];
                c.accepted = c.filled - c.placeholder;
            }
            keep_first(&mut d.name, format!("{first} {last}").trim(), &n.display());
            p.names.push(n);
        }
    }
    if !source.recipient.is_empty() {
        recipient(source, row, region, phones, &mut p, &mut st);
    }
    p.canonicalize();
    cases.sort();
    cases.dedup();
    Normalized {
        profile: Err(p),
        details: Details { cases, display: d }.encode(),
        date,
        stats: st,
    }
}

/// `[source.recipient]`: the row's second party. When the recipient's name is the
/// buyer's (or the recipient has none), the order ships home and the recipient's address
/// and phone are the buyer's; otherwise they are someone else's (a gift, a family
/// member) and say nothing about who the buyer is: they stay out of the profile and the
/// row is counted (`rows_with_other_recipient`). A row with no buyer name cannot tell,
/// and keeps them out too.
fn recipient(
    source: &SourceConfig,
    row: &csv::ByteRecord,
    region: Region,
    phones: &mut HashMap<Region, PhoneNormalizer>,
    p: &mut Profile,
    st: &mut RowStats,
) {
    let text = |kind: FieldKind| -> String {
        source
            .recipient_columns_of(kind)
            .iter()
            .map(|&c| capped(decode(&row[c])).0.trim().to_string())
            .filter(|v| !v.is_empty() && !normalize::is_placeholder(v))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut names: Vec<normalize::PersonName> = Vec::new();
    names.extend(normalize::parse_full_name(&text(FieldKind::FullName)));
    names.extend(normalize::parse_name_parts(
        &text(FieldKind::FirstName),
        &text(FieldKind::LastName),
    ));
    let someone_else = !names.is_empty()
        && (p.names.is_empty()
            || !names.iter().any(|r| {
                p.names
                    .iter()
                    .any(|b| crate::compare::names_compatible(r, b))
            }));
    if someone_else {
        st.other_recipient += 1;
        return;
    }
    p.addresses
        .extend(normalize::normalize_address(&text(FieldKind::Address)).map(Into::into));
    p.cities
        .extend(normalize::normalize_city(&text(FieldKind::City)).map(Into::into));
    p.postcodes
        .extend(normalize::normalize_postcode(&text(FieldKind::Postcode)).map(Into::into));
    let normalizer = phones
        .entry(region)
        .or_insert_with(|| PhoneNormalizer::new(region));
    for &c in source.recipient_columns_of(FieldKind::Phone) {
        p.phones
            .extend(normalizer.normalize(capped(decode(&row[c])).0.trim()));
    }
}
