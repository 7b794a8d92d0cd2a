//! The lookup store: the files beside tantivy's own in `OUT/index/` — which customers
//! each indexed profile belongs to (`profiles.bin`), where each customer's rows are
//! (`customers.bin`), and the golden and record rows `lookup` shows (`golden.csv`,
//! `records.csv`, read by byte offset so that only the rows shown are read). A night
//! links last night's record rows (`records.csv` and the layers after it,
//! `records.K.csv`) and writes only the rows of the customers it did not carry over
//! into one more layer; past 8 layers it writes them whole again. The one
//! owner of their byte layout: [`write`] writes it, [`Store`] reads it, and a damaged
//! file is an error, never a panic.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::golden::GoldenRecord;
use crate::outdir;
use crate::Resolution;

/// Files of the lookup index, beside tantivy's own files in `index/`.
pub const LOOKUP_CUSTOMERS: &str = "customers.bin";
pub const LOOKUP_RECORDS: &str = "records.csv";
pub const LOOKUP_GOLDEN: &str = "golden.csv";
/// Customers of each indexed profile: `u64` profile count n, n + 1 `u64` offsets, m `u32`
/// customer ordinals, then m `u32` counts: how many of the profile's records each of those
/// customers holds (a file without the counts, from before them, reads as one each).
pub const LOOKUP_PROFILES: &str = "profiles.bin";
/// Bytes per customer in `customers.bin`: golden row offset, records offset, record count.
/// The records offset's high byte is the layer of `records.csv` the rows are in.
pub const CUSTOMER_ENTRY_BYTES: usize = 20;
/// Where the layer is in a records offset of `customers.bin`.
const LAYER_SHIFT: u32 = 56;
/// Layers of record rows a chain of nights may stack before a night writes them whole.
const MAX_ROW_LAYERS: usize = crate::state::MAX_LAYERS;

/// The file of layer `k` of the record rows: `records.csv` (a full run's, and every
/// store's before layers), then `records.K.csv`, one per night since.
fn records_file(k: usize) -> String {
    if k == 0 {
        LOOKUP_RECORDS.to_string()
    } else {
        format!("records.{k}.csv")
    }
}

/// A night's hand-over of last night's lookup store: the customers carried over as they
/// were, whose record rows are last night's byte for byte (the same records, unchanged),
/// and are pointed to in last night's layers (linked) rather than written again.
pub struct Carried {
    /// `OLD/index`.
    pub dir: PathBuf,
    /// Golden IDs of the customers carried over.
    pub ids: rustc_hash::FxHashSet<compact_str::CompactString>,
}

/// The golden record as saved.
#[derive(Debug, Clone, Serialize)]
pub struct GoldenView {
    pub golden_id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub serials: String,
    pub records: String,
    pub sources: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// One linked record, as written in its source.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub source: String,
    pub record_id: String,
    pub date: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub serials: String,
    pub address: String,
    pub cases: String,
    /// The record's `note` columns (a ticket's subject).
    pub note: String,
}

/// The lookup store's folder inside an output folder.
pub const DIR: &str = "index";

/// The lookup index: the run's candidate index (one tantivy document per profile, with
/// every record's case numbers and id), the customers of each profile, and two row files
/// with byte offsets so that `lookup` reads only the rows it shows.
pub fn write(res: &Resolution, goldens: &[GoldenRecord], dir: &Path) -> Result<()> {
    let data = &res.data;
    // The candidate index is the lookup index (saved beside making the row files): one
    // document per profile, plus which customers each profile's records belong to (a
    // profile whose records did not link is one customer per record).
    let persist = || {
        res.index
            .as_ref()
            .map_or(Ok(()), |index| index.persist(dir))
    };
    let (persisted, entries) = rayon::join(persist, || row_files(res, goldens, dir));
    persisted?;
    let entries = entries?;
    // Which customers each profile's records belong to, with how many records: every
    // record's (profile, customer) sorted, one run a (profile, customer). (A list per
    // profile was ~0.5 GB at 10M records, held at the output's peak.)
    let mut by_profile: Vec<(u32, u32)> = res
        .customers
        .par_iter()
        .enumerate()
        .flat_map_iter(|(c, recs)| {
            recs.iter()
                .map(move |&r| (data.records[r as usize].profile, c as u32))
        })
        .collect();
    by_profile.par_sort_unstable();
    let runs = || by_profile.chunk_by(|a, b| a == b);
    let profiles = data.profiles.len();
    let mut starts = vec![0u64; profiles + 1];
    for run in runs() {
        starts[run[0].0 as usize + 1] += 1;
    }
    for p in 0..profiles {
        starts[p + 1] += starts[p];
    }
    let mut table = Vec::with_capacity(8 + 8 * (profiles + 1) + 8 * data.records.len());
    table.extend_from_slice(&(profiles as u64).to_le_bytes());
    for offset in &starts {
        table.extend_from_slice(&offset.to_le_bytes());
    }
    drop(starts);
    for run in runs() {
        table.extend_from_slice(&run[0].1.to_le_bytes());
    }
    for run in runs() {
        table.extend_from_slice(&(run.len() as u32).to_le_bytes());
    }
    let path = dir.join(LOOKUP_PROFILES);
    outdir::write_private(&path, &table)?;

    outdir::write_private(&dir.join(LOOKUP_CUSTOMERS), &entries)
}

/// Customers per block of rows made together (in parallel; blocks joined in order).
const ROW_BLOCK: usize = 4096;
/// Blocks made at a time before they are written: the rows of ten million records are
/// ~1.3 GB, and only these blocks are held at once.
const BLOCKS_AT_ONCE: usize = 16;

/// A block's golden rows, record rows, and per customer (golden row offset, record row
/// offset in the block or, for a customer carried over, in last night's store, records).
type Block = (
    Vec<u8>,
    Vec<u8>,
    Vec<(u64, std::result::Result<u64, u64>, u32)>,
);

/// Writes `golden.csv` and `records.csv` of the lookup index; returns the customers'
/// entries: per customer, the byte offsets of its golden row and first record row and
/// its record count.
fn row_files(res: &Resolution, goldens: &[GoldenRecord], dir: &Path) -> Result<Vec<u8>> {
    let data = &res.data;
    let err = |e: csv::Error| Error::io(dir, std::io::Error::other(e.to_string()));
    let into = |w: csv::Writer<Vec<u8>>| {
        w.into_inner()
            .map_err(|e| Error::io(dir, std::io::Error::other(e.to_string())))
    };
    // Last night's record rows, for the customers carried over: its layers are linked
    // (unless there are as many as may stack) and tonight's rows go into one more.
    let reuse = match (&res.store_carry, &res.carry) {
        (Some(c), Some(state)) => {
            let layers = (0..)
                .take_while(|&k| c.dir.join(records_file(k)).exists())
                .count();
            if layers == 0 || layers >= MAX_ROW_LAYERS {
                None
            } else {
                let old = Store::open_rows(&c.dir)?;
                for k in 0..layers {
                    let (from, to) = (c.dir.join(records_file(k)), dir.join(records_file(k)));
                    outdir::link_or_copy(&from, &to).map_err(|e| Error::io(&from, e))?;
                }
                Some((old.read_ids()?, old, layers, &c.ids, &state.held))
            }
        }
        _ => None,
    };
    let layer = reuse.as_ref().map_or(0, |r| r.2);
    // A carried customer's entry in last night's store: its records offset (with its
    // layer) when the rows there are its rows (same ID, as many records, all unchanged).
    let carried_rows = |c: usize, recs: &[u32]| -> Option<u64> {
        let (by_id, old, layers, ids, held) = reuse.as_ref()?;
        let id = res.ids.ids.get(c)?.as_str();
        if !ids.contains(id) || !recs.iter().all(|&r| held.get(r as usize) == Some(&true)) {
            return None;
        }
        let at = *by_id.get(id)? as usize * CUSTOMER_ENTRY_BYTES;
        let entry = old.customers.get(at..at + CUSTOMER_ENTRY_BYTES)?;
        let count = u32::from_le_bytes(entry[16..20].try_into().ok()?);
        let offset = u64::from_le_bytes(entry[8..16].try_into().ok()?);
        // Rows in a layer that was not linked (a store damaged or pruned by hand) are
        // written again.
        (count as usize == recs.len() && ((offset >> LAYER_SHIFT) as usize) < *layers)
            .then_some(offset)
    };
    let block_rows = |b: usize, block: &[Vec<u32>]| -> Result<Block> {
        let mut golden_buf = csv::Writer::from_writer(Vec::new());
        let mut record_buf = csv::Writer::from_writer(Vec::new());
        let mut at = Vec::with_capacity(block.len());
        for (k, recs) in block.iter().enumerate() {
            let c = b * ROW_BLOCK + k;
            golden_buf.flush().map_err(|e| Error::io(dir, e))?;
            record_buf.flush().map_err(|e| Error::io(dir, e))?;
            let carried = carried_rows(c, recs);
            at.push((
                golden_buf.get_ref().len() as u64,
                carried.ok_or(record_buf.get_ref().len() as u64),
                recs.len() as u32,
            ));
            let g = &goldens[c];
            golden_buf.write_record(g.row()).map_err(err)?;
            if carried.is_some() {
                continue;
            }
            let mut sorted: Vec<u32> = recs.clone();
            sorted.sort_by_key(|&r| (data.records[r as usize].date, r));
            for r in sorted {
                let rec = &data.records[r as usize];
                let details = data.details.get(r);
                let d = &details.display;
                fn raw(s: &Option<crate::record::Shown>) -> &str {
                    s.as_ref().map_or("", |v| v.raw.as_str())
                }
                record_buf
                    .write_record([
                        data.sources[rec.source as usize].as_str(),
                        &rec.record_id,
                        &rec.date.map(|d| d.to_string()).unwrap_or_default(),
                        raw(&d.name),
                        raw(&d.email),
                        raw(&d.phone),
                        &d.serials
                            .iter()
                            .map(|s| s.raw.as_str())
                            .collect::<Vec<_>>()
                            .join(";"),
                        raw(&d.address),
                        &details.cases.join(";"),
                        d.note.as_deref().unwrap_or(""),
                    ])
                    .map_err(err)?;
            }
        }
        Ok((into(golden_buf)?, into(record_buf)?, at))
    };
    // New files only: last night's row layers are linked beside them.
    let open = |name: &str| -> Result<(PathBuf, BufWriter<std::fs::File>)> {
        let path = dir.join(name);
        let f = BufWriter::new(outdir::create_new_private_file(&path)?);
        Ok((path, f))
    };
    let (golden_path, mut golden) = open(LOOKUP_GOLDEN)?;
    let (records_path, mut records) = open(&records_file(layer))?;
    let mut entries = Vec::with_capacity(res.customers.len() * CUSTOMER_ENTRY_BYTES);
    let (mut g0, mut r0) = (0u64, 0u64);
    let blocks: Vec<&[Vec<u32>]> = res.customers.chunks(ROW_BLOCK).collect();
    for (batch, some) in blocks.chunks(BLOCKS_AT_ONCE).enumerate() {
        let made: Vec<Result<_>> = some
            .par_iter()
            .enumerate()
            .map(|(k, block)| block_rows(batch * BLOCKS_AT_ONCE + k, block))
            .collect();
        // The rows read the records' details at random; their pages go batch by batch.
        data.details.release_pages();
        for block in made {
            let (g, r, at) = block?;
            for (go, ro, n) in at {
                let ro = match ro {
                    Ok(carried) => carried,
                    Err(here) => (layer as u64) << LAYER_SHIFT | (r0 + here),
                };
                entries.extend_from_slice(&(g0 + go).to_le_bytes());
                entries.extend_from_slice(&ro.to_le_bytes());
                entries.extend_from_slice(&n.to_le_bytes());
            }
            g0 += g.len() as u64;
            r0 += r.len() as u64;
            golden
                .write_all(&g)
                .map_err(|e| Error::io(&golden_path, e))?;
            records
                .write_all(&r)
                .map_err(|e| Error::io(&records_path, e))?;
        }
    }
    golden.flush().map_err(|e| Error::io(&golden_path, e))?;
    records.flush().map_err(|e| Error::io(&records_path, e))?;
    Ok(entries)
}

/// The opened store of a run's `index/`.
pub struct Store {
    customers: Vec<u8>,
    profiles: Vec<u8>,
    dir: PathBuf,
    /// Golden ID → customer, read from `golden.csv` on the first lookup by ID (a
    /// long-running desk asks many; a one-off `lookup` asks one).
    by_id: std::sync::OnceLock<std::collections::HashMap<compact_str::CompactString, u32>>,
}

impl Store {
    /// Reads the store's tables (the row files are read on demand).
    pub fn open(dir: &Path, out: &Path) -> Result<Store> {
        let customers_path = dir.join(LOOKUP_CUSTOMERS);
        let customers =
            std::fs::read(&customers_path).map_err(|e| Error::io(&customers_path, e))?;
        let profiles_path = dir.join(LOOKUP_PROFILES);
        if !profiles_path.exists() {
            return Err(Error::input(
                out,
                "the lookup index was written by an earlier idresolve (no index/profiles.bin): \
                 run `idresolve run` again",
            ));
        }
        let profiles = std::fs::read(&profiles_path).map_err(|e| Error::io(&profiles_path, e))?;
        Ok(Store {
            customers,
            profiles,
            dir: dir.to_path_buf(),
            by_id: std::sync::OnceLock::new(),
        })
    }

    /// The customers' entries and golden rows of a store, without its profiles' table.
    fn open_rows(dir: &Path) -> Result<Store> {
        let customers_path = dir.join(LOOKUP_CUSTOMERS);
        let customers =
            std::fs::read(&customers_path).map_err(|e| Error::io(&customers_path, e))?;
        Ok(Store {
            customers,
            profiles: Vec::new(),
            dir: dir.to_path_buf(),
            by_id: std::sync::OnceLock::new(),
        })
    }

    /// Customers holding records of profile `p`, each with how many of them.
    pub fn customers_of(&self, p: u64) -> Result<Vec<(u64, u32)>> {
        let damaged = || {
            Error::input(
                self.dir.join(LOOKUP_PROFILES),
                format!("profile {p} is missing: the index is damaged"),
            )
        };
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                self.profiles.get(i..i + 8)?.try_into().ok()?,
            ))
        };
        let u32_at = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                self.profiles.get(i..i + 4)?.try_into().ok()?,
            ))
        };
        let n = u64_at(0).ok_or_else(damaged)?;
        if p >= n {
            return Err(damaged());
        }
        let (from, to) = (
            u64_at(8 + 8 * p as usize).ok_or_else(damaged)?,
            u64_at(16 + 8 * p as usize).ok_or_else(damaged)?,
        );
        let total = u64_at(8 + 8 * n as usize).ok_or_else(damaged)? as usize;
        let base = 8 + 8 * (n as usize + 1);
        let counts = base + 4 * total;
        let with_counts = self.profiles.len() >= counts + 4 * total;
        (from..to)
            .map(|i| {
                let c = u32_at(base + 4 * i as usize).ok_or_else(damaged)?;
                let k = if with_counts {
                    u32_at(counts + 4 * i as usize).ok_or_else(damaged)?
                } else {
                    1
                };
                Ok((u64::from(c), k))
            })
            .collect()
    }

    /// The customer whose golden ID is `id` (golden rows are one per customer, in
    /// customer order; the map of them is made by the first call).
    pub fn customer_by_id(&self, id: &str) -> Result<Option<u64>> {
        if self.by_id.get().is_none() {
            let map = self.read_ids()?;
            let _ = self.by_id.set(map);
        }
        Ok(self
            .by_id
            .get()
            .and_then(|m| m.get(id))
            .map(|&c| u64::from(c)))
    }

    fn read_ids(&self) -> Result<std::collections::HashMap<compact_str::CompactString, u32>> {
        let path = self.dir.join(LOOKUP_GOLDEN);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::new(file));
        let mut row = csv::ByteRecord::new();
        let mut map = std::collections::HashMap::new();
        let mut c = 0u32;
        while reader
            .read_byte_record(&mut row)
            .map_err(|e| Error::input(&path, e.to_string()))?
        {
            if let Some(id) = row.get(0).and_then(|b| std::str::from_utf8(b).ok()) {
                map.insert(id.into(), c);
            }
            c += 1;
        }
        Ok(map)
    }

    /// How many records customer `c` has (0 for a customer the store does not hold).
    pub fn record_count(&self, c: u64) -> u32 {
        let at = c as usize * CUSTOMER_ENTRY_BYTES + 16;
        self.customers
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    }

    /// Reads the golden row and (optionally) the record rows of customer `c`.
    pub fn customer(&self, c: u64, with_records: bool) -> Result<(GoldenView, Vec<RecordView>)> {
        let at = c as usize * CUSTOMER_ENTRY_BYTES;
        let entry = self
            .customers
            .get(at..at + CUSTOMER_ENTRY_BYTES)
            .ok_or_else(|| {
                Error::input(
                    self.dir.join(LOOKUP_CUSTOMERS),
                    format!("customer {c} is missing: the index is damaged"),
                )
            })?;
        let u64_at = |i: usize| u64::from_le_bytes(entry[i..i + 8].try_into().unwrap_or([0; 8]));
        let (golden_offset, records_offset) = (u64_at(0), u64_at(8));
        let count = u32::from_le_bytes(entry[16..20].try_into().unwrap_or([0; 4])) as usize;
        let g = read_rows(&self.dir.join(LOOKUP_GOLDEN), golden_offset, 1)?;
        let g = g.first().ok_or_else(|| {
            Error::input(
                self.dir.join(LOOKUP_GOLDEN),
                "row missing: the index is damaged",
            )
        })?;
        let f = |i: usize| g.get(i).unwrap_or("").to_string();
        let golden = GoldenView {
            golden_id: f(0),
            name: f(1),
            email: f(2),
            phone: f(3),
            address: f(4),
            serials: f(5),
            records: f(6),
            sources: f(7),
            first_seen: f(8),
            last_seen: f(9),
        };
        let records = if with_records {
            let layer = (records_offset >> LAYER_SHIFT) as usize;
            let offset = records_offset & ((1 << LAYER_SHIFT) - 1);
            read_rows(&self.dir.join(records_file(layer)), offset, count)?
                .iter()
                .map(|r| {
                    let f = |i: usize| r.get(i).unwrap_or("").to_string();
                    RecordView {
                        source: f(0),
                        record_id: f(1),
                        date: f(2),
                        name: f(3),
                        email: f(4),
                        phone: f(5),
                        serials: f(6),
                        address: f(7),
                        cases: f(8),
                        note: f(9),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok((golden, records))
    }
}

fn read_rows(path: &Path, offset: u64, count: usize) -> Result<Vec<csv::StringRecord>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    reader
        .records()
        .take(count)
        .map(|r| r.map_err(|e| Error::input(path, e.to_string())))
        .collect()
}
