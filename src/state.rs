//! `OUT/state/`: what an incremental run (`run --previous OLD --incremental`) needs of
//! the run before it, beyond what the output folder holds anyway (`mapping.csv`,
//! `state.json` and the ID lineage, `rows.bin`, `model.json`, and `index/`, whose
//! documents are the profiles below by ordinal). Every run writes it; only an
//! incremental run reads it. The one owner of the format, version 3:
//!
//! ```text
//! manifest.json  {"format": "idresolve-state-3", "version": <idresolve version>,
//!                 "config": <fingerprint of the config's meaning>, "profiles": n,
//!                 "records": m, "edges": e, "links": l, "threshold": p,
//!                 "layers": [{"profiles": n_k, "records": m_k}, ...]}
//! profiles.K.bin layer K's profiles (the table's next n_k after the layers before it)
//!                in chunks of up to 65,536 profiles, each its length in bytes u32 and
//!                postcard (Vec<Profile>), decoded in parallel; ordinal = index document.
//!                A profile none of whose records remain stays in the table (and the
//!                index) until a full run: it has no records, so it pairs with nothing.
//! hashes.K.bin   little-endian u64 per profile of layer K: the hash it is interned by
//!                (`ingest::profile_hash`, FxHash; valid for this version only)
//! records.K.bin  u64 m_k, then m_k entries: its length in bytes after this field u32,
//!                source u16, profile u32, row fingerprint u64, id length u32, id bytes,
//!                then postcard: (profile before shared case numbers Option<Profile>,
//!                event date, normalizing counts bytes), then the record's details as
//!                the run held them (`record::DetailStore`: postcard (case numbers,
//!                display)); decoded only for a row that is reused, the details checked
//!                and copied as they are. An entry with profile u32::MAX and nothing
//!                after its id is a tombstone: the record is gone. Read in layer order,
//!                an entry replaces one of the same (source, id) before it.
//! shared.bin     little-endian: per value strangers or a household share (s):
//!                comparison u8, 0 = strangers' / 1 = a household's u8, value hash u64
//! graph.bin      little-endian, fixed width:
//!                per profile (n): group root u32, linked u8, best weight f32,
//!                                 weight with itself f32, impersonal u8
//!                per scored edge (e): a u32, b u32, weight f32, decision u8,
//!                                     scored only as last night's pair u8
//!                per link (l): a u32, b u32, weight f32
//! ```
//!
//! Layers: a full run writes layer 0 with everything. A night links last night's layers
//! into its own state as they are (a hard link, a copy across file systems: their files
//! are never written again) and writes one more: its new profiles, and the records that
//! are new, changed, or hold another profile tonight, with a tombstone per record gone.
//! A night that would hold more than [`MAX_LAYERS`] layers writes the state whole again
//! as layer 0. The profile table only grows between full runs (profiles are interned by
//! content, so an ordinal never changes meaning), which is what makes it layerable.
//!
//! The config fingerprint covers what gives the state its meaning (sources, their
//! columns, regions and date orders, the match settings) and not the export paths, so
//! that a nightly job may read tonight's files from another folder. Another version of
//! idresolve or another config is a clear error telling to run without `--incremental`.

use std::io::Write;
use std::path::Path;

use compact_str::CompactString;
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use crate::cluster::{Clustering, Decision, Edge, Link};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{Reuse, Reused};
use crate::record::{Dataset, Profile};

pub const STATE_DIR: &str = "state";
const FORMAT: &str = "idresolve-state-3";
/// Layers a chain of nights may stack before a night writes the state whole again.
pub const MAX_LAYERS: usize = 8;
/// Profiles per chunk of `profiles.K.bin`.
const PROFILE_CHUNK: usize = 1 << 16;
/// Records whose details are copied into `records.K.bin` before the pages read for them
/// are handed back ([`crate::record::DetailStore::release_pages`]).
const DETAIL_PAGES_EVERY: usize = 1 << 20;
const MANIFEST: &str = "manifest.json";
const PROFILES: &str = "profiles";
const RECORDS: &str = "records";
const GRAPH: &str = "graph.bin";
const SHARED: &str = "shared.bin";
const HASHES: &str = "hashes";
/// A tombstone's profile field in `records.K.bin`.
const GONE: u32 = u32::MAX;

/// The file of layer `k` of a layered part (`profiles`, `hashes`, `records`).
fn layer_file(part: &str, k: usize) -> String {
    format!("{part}.{k}.bin")
}
const RETRY: &str = "run without --incremental to start afresh";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: String,
    pub config: String,
    pub profiles: u64,
    pub records: u64,
    pub edges: u64,
    pub links: u64,
    /// Values strangers or households share (`shared.bin`).
    #[serde(default)]
    pub shared: u64,
    /// The link threshold of the run (a probability).
    pub threshold: f64,
    /// Incremental runs since the last full run (0 for a full run), the records new,
    /// changed or removed over them, and the records of that full run.
    #[serde(default)]
    pub nights_since_full: u64,
    #[serde(default)]
    pub records_touched_since_full: u64,
    #[serde(default)]
    pub records_at_full: u64,
    /// The layers of the profile table and the records, oldest first.
    pub layers: Vec<Layer>,
}

/// One layer of the state: the profiles it adds to the table and its record entries
/// (tombstones included).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Layer {
    pub profiles: u64,
    pub records: u64,
}

/// What a night hands on of last night's state: its layers, linked into tonight's state
/// as they are, and which of tonight's records they already hold byte for byte.
pub struct Carry {
    /// `OLD/state`.
    pub dir: std::path::PathBuf,
    pub layers: Vec<Layer>,
    /// Per record of tonight: last night's entry for it is tonight's (same row
    /// fingerprint, same profile; the rest of an entry follows from those).
    pub held: Vec<bool>,
    /// Last night's records gone tonight (source, record id).
    pub removed: Vec<(u16, CompactString)>,
}

/// Where a run stands in a chain of incremental runs (see [`Manifest`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Chain {
    pub nights_since_full: u64,
    pub records_touched_since_full: u64,
    pub records_at_full: u64,
}

/// A fingerprint of what the config means for matching (not where the exports are).
pub fn config_fingerprint(config: &Config) -> String {
    let mut text = format!("{}|{:?}|", config.default_region, config.matching.threshold);
    let m = &config.matching;
    text.push_str(&format!(
        "{}|{}|{}|",
        m.candidates, m.u_sample_pairs, m.max_em_iterations
    ));
    for s in &config.sources {
        text.push_str(&format!(
            "[{}|{:?}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}|{}]",
            s.name,
            s.format,
            s.record_id,
            s.header,
            s.region,
            s.date_order.as_str(),
            s.fields,
            s.recipient,
            s.kind,
            s.flexible
        ));
    }
    format!("{:016x}", crate::rows::row_hash([text.as_bytes()]))
}

/// What a saved record holds beyond its head (borrowing from the run); its details'
/// encoding ([`crate::record::DetailStore`]) follows, copied as it is.
#[derive(Serialize)]
struct PayloadOut<'a> {
    before: Option<&'a Profile>,
    date: Option<chrono::NaiveDate>,
    stats: &'a [u8],
}

/// A saved record's payload, read back.
#[derive(Deserialize)]
struct PayloadIn {
    before: Option<Profile>,
    date: Option<chrono::NaiveDate>,
    stats: Vec<u8>,
}

/// Bytes of a record's head in `records.K.bin`: length u32, source u16, profile u32,
/// fingerprint u64, id length u32.
const HEAD: usize = 22;

/// Per profile, as clustering left it.
#[derive(Debug, Clone, Copy)]
pub struct ProfileState {
    pub group: u32,
    pub linked: bool,
    pub best_weight: f32,
    pub self_weight: f32,
    pub impersonal: bool,
}

/// A scored edge as saved: its evidence is not kept (an incremental run compares again
/// the pairs it clusters again).
#[derive(Debug, Clone, Copy)]
pub struct SavedEdge {
    pub a: u32,
    pub b: u32,
    pub weight: f32,
    pub decision: Decision,
    pub carried_only: bool,
}

/// Writes a file of the state through a buffer (never the whole file in memory: at 10M
/// records the graph alone is gigabytes).
fn write_streamed(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let file = crate::outdir::create_new_private_file(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| Error::io(path, e);
    fill(&mut w).map_err(io)?;
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)
}

/// Writes `dir/state/` for a run; a night (`carry`) links last night's layers and adds
/// its own.
#[allow(clippy::too_many_arguments)]
pub fn save(
    dir: &Path,
    config: &str,
    data: &Dataset,
    shared: &crate::compare::SharedValues,
    edges: &[Edge],
    clustering: &Clustering,
    self_weight: &[f32],
    impersonal: &[bool],
    threshold: f64,
    chain: Chain,
    carry: Option<&Carry>,
) -> Result<()> {
    let dir = dir.join(STATE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let ser = |path: &Path, e: postcard::Error| Error::io(path, std::io::Error::other(e));

    // Last night's layers, linked, unless there are as many as a chain may stack.
    let carry = carry.filter(|c| c.layers.len() < MAX_LAYERS);
    let mut layers: Vec<Layer> = Vec::new();
    if let Some(c) = carry {
        for (k, layer) in c.layers.iter().enumerate() {
            for part in [PROFILES, HASHES, RECORDS] {
                let (from, to) = (
                    c.dir.join(layer_file(part, k)),
                    dir.join(layer_file(part, k)),
                );
                crate::outdir::link_or_copy(&from, &to).map_err(|e| Error::io(&from, e))?;
            }
            layers.push(*layer);
        }
    }
    let k = layers.len();
    let first = layers.iter().map(|l| l.profiles as usize).sum::<usize>();
    let profiles = data.profiles.get(first..).unwrap_or(&[]);
    let held = |i: usize| carry.is_some_and(|c| c.held.get(i).copied().unwrap_or(false));
    let removed: &[(u16, CompactString)] = carry.map_or(&[], |c| &c.removed);

    write_streamed(&dir.join(layer_file(PROFILES, k)), |w| {
        let mut buf = Vec::new();
        for chunk in profiles.chunks(PROFILE_CHUNK) {
            buf.clear();
            buf = postcard::to_extend(chunk, buf).map_err(std::io::Error::other)?;
            w.write_all(&(buf.len() as u32).to_le_bytes())?;
            w.write_all(&buf)?;
        }
        Ok(())
    })?;
    let hashes: Vec<u8> = {
        use rayon::prelude::*;
        profiles
            .par_iter()
            .flat_map_iter(|p| crate::ingest::profile_hash(p).to_le_bytes())
            .collect()
    };
    let path = dir.join(layer_file(HASHES, k));
    crate::outdir::create_new_private_file(&path)?
        .write_all(&hashes)
        .map_err(|e| Error::io(&path, e))?;

    let path = dir.join(layer_file(RECORDS, k));
    let mut before: HashMap<u32, &Profile> = HashMap::default();
    for (r, p) in &data.before_cases {
        before.insert(*r, p);
    }
    let entries = (0..data.records.len()).filter(|&i| !held(i)).count() + removed.len();
    let file = crate::outdir::create_new_private_file(&path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| Error::io(&path, e);
    w.write_all(&(entries as u64).to_le_bytes()).map_err(io)?;
    let mut buf = Vec::with_capacity(512);
    let head = |buf: &mut Vec<u8>, source: u16, profile: u32, hash: u64, id: &str| {
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&source.to_le_bytes());
        buf.extend_from_slice(&profile.to_le_bytes());
        buf.extend_from_slice(&hash.to_le_bytes());
        buf.extend_from_slice(&(id.len() as u32).to_le_bytes());
        buf.extend_from_slice(id.as_bytes());
    };
    let finish = |buf: &mut Vec<u8>| {
        let len = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
    };
    for (i, r) in data.records.iter().enumerate() {
        if held(i) {
            continue;
        }
        let stats = match (data.row_stats_at.get(i), data.row_stats_at.get(i + 1)) {
            (Some(&a), Some(&b)) => &data.row_stats[a as usize..b as usize],
            _ => &[],
        };
        let payload = PayloadOut {
            before: before.get(&(i as u32)).copied(),
            date: r.date,
            stats,
        };
        let hash = data.row_hashes.get(i).copied().unwrap_or(0);
        head(&mut buf, r.source, r.profile, hash, &r.record_id);
        buf = postcard::to_extend(&payload, std::mem::take(&mut buf)).map_err(|e| ser(&path, e))?;
        buf.extend_from_slice(data.details.encoded(i as u32));
        if i % DETAIL_PAGES_EVERY == DETAIL_PAGES_EVERY - 1 {
            data.details.release_pages();
        }
        finish(&mut buf);
        w.write_all(&buf).map_err(io)?;
    }
    for (source, id) in removed {
        head(&mut buf, *source, GONE, 0, id);
        finish(&mut buf);
        w.write_all(&buf).map_err(io)?;
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;
    layers.push(Layer {
        profiles: profiles.len() as u64,
        records: entries as u64,
    });

    let n = data.profiles.len();
    write_streamed(&dir.join(GRAPH), |w| {
        // Fixed-width items encoded in parallel a block at a time, written in order.
        fn blocks<W: Write>(
            w: &mut W,
            n: usize,
            width: usize,
            item: impl Fn(usize, &mut [u8]) + Sync,
        ) -> std::io::Result<()> {
            use rayon::prelude::*;
            const BLOCK: usize = 1 << 16;
            let mut buf = Vec::new();
            for start in (0..n).step_by(BLOCK * 16) {
                let end = (start + BLOCK * 16).min(n);
                buf.clear();
                buf.resize((end - start) * width, 0);
                buf.par_chunks_mut(BLOCK * width)
                    .enumerate()
                    .for_each(|(b, out)| {
                        for (k, slot) in out.chunks_exact_mut(width).enumerate() {
                            item(start + b * BLOCK + k, slot);
                        }
                    });
                w.write_all(&buf)?;
            }
            Ok(())
        }
        blocks(w, n, 14, |p, out| {
            let group = clustering.group.get(p).copied().unwrap_or(p as u32);
            let best = clustering.best_weight.get(p).copied().unwrap_or(f32::NAN);
            let own = self_weight.get(p).copied().unwrap_or(f32::NAN);
            out[0..4].copy_from_slice(&group.to_le_bytes());
            out[4] = u8::from(clustering.linked.get(p).copied().unwrap_or(false));
            out[5..9].copy_from_slice(&best.to_le_bytes());
            out[9..13].copy_from_slice(&own.to_le_bytes());
            out[13] = u8::from(impersonal.get(p).copied().unwrap_or(false));
        })?;
        blocks(w, edges.len(), 14, |i, out| {
            let e = &edges[i];
            out[0..4].copy_from_slice(&e.a.to_le_bytes());
            out[4..8].copy_from_slice(&e.b.to_le_bytes());
            out[8..12].copy_from_slice(&e.weight.to_le_bytes());
            out[12] = clustering.decisions.get(i).copied().unwrap_or_default() as u8;
            out[13] = u8::from(e.carried_only);
        })?;
        let links = &clustering.links;
        blocks(w, links.len(), 12, |i, out| {
            let l = &links[i];
            out[0..4].copy_from_slice(&l.a.to_le_bytes());
            out[4..8].copy_from_slice(&l.b.to_le_bytes());
            out[8..12].copy_from_slice(&l.weight.to_le_bytes());
        })
    })?;

    let path = dir.join(SHARED);
    let entries = shared.entries();
    let mut s = Vec::with_capacity(entries.len() * 10);
    for (i, kind, k) in &entries {
        s.extend_from_slice(&[*i, *kind]);
        s.extend_from_slice(&k.to_le_bytes());
    }
    crate::outdir::write_private(&path, &s)?;

    crate::outdir::write_json(
        &dir.join(MANIFEST),
        &Manifest {
            format: FORMAT.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config: config.into(),
            profiles: n as u64,
            records: data.records.len() as u64,
            edges: edges.len() as u64,
            links: clustering.links.len() as u64,
            shared: entries.len() as u64,
            threshold,
            nights_since_full: chain.nights_since_full,
            records_touched_since_full: chain.records_touched_since_full,
            records_at_full: chain.records_at_full,
            layers,
        },
    )
}

/// A saved record's head: where it is in the records' layers, and what finding changes
/// needs.
#[derive(Debug, Clone, Copy)]
pub struct SavedRow {
    pub hash: u64,
    pub profile: u32,
    /// Its place among the layers' entries (0..[`Saved::entries`]).
    pub ord: u32,
    /// Its layer (high 16 bits) and byte offset in that layer's file.
    at: u64,
}

/// Bits of [`SavedRow::at`] for the offset in a layer's file.
const AT_BITS: u32 = 48;

/// Saved rows by (source, record id).
pub type SavedRows = HashMap<(u16, CompactString), SavedRow>;

/// The state of the previous run, read back.
pub struct Saved {
    pub manifest: Manifest,
    pub sources: Vec<String>,
    pub profiles: Vec<Profile>,
    /// [`crate::ingest::profile_hash`] of each profile.
    pub hashes: Vec<u64>,
    /// (source, record id) → the saved row.
    pub rows: SavedRows,
    /// `records.K.bin` of each layer, mapped: a payload is decoded when its row is reused.
    records: Vec<memmap2::Mmap>,
    /// Entries in the records' layers, tombstones and replaced ones included.
    pub entries: usize,
    /// `OLD/state`.
    dir: std::path::PathBuf,
    pub profile_state: Vec<ProfileState>,
    /// `graph.bin`, mapped; its edges are read from it ([`Saved::edges`]).
    graph: memmap2::Mmap,
    pub links: Vec<Link>,
    /// The values strangers and households shared in that run.
    pub shared: crate::compare::SharedValues,
}

impl Saved {
    /// Scored pairs of that run, sorted by pair (checked when read).
    pub fn edges(&self) -> impl Iterator<Item = SavedEdge> + Clone + '_ {
        let base = self.profile_state.len() * 14;
        let n = self.manifest.edges as usize;
        self.graph[base..base + n * 14].chunks_exact(14).map(|c| {
            let u = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            SavedEdge {
                a: u(0),
                b: u(4),
                weight: f32::from_bits(u(8)),
                decision: Decision::from_u8(c[12]).unwrap_or_default(),
                carried_only: c[13] != 0,
            }
        })
    }

    pub fn edge_count(&self) -> usize {
        self.manifest.edges as usize
    }

    /// What tonight hands on of this state (see [`Carry`]).
    pub fn carry(&self, held: Vec<bool>, removed: Vec<(u16, CompactString)>) -> Carry {
        Carry {
            dir: self.dir.clone(),
            layers: self.manifest.layers.clone(),
            held,
            removed,
        }
    }
}

impl Reuse for Saved {
    fn get(&self, source: &str, record_id: &str, hash: u64) -> Option<Reused> {
        let s = self.sources.iter().position(|n| n == source)? as u16;
        let row = self.rows.get(&(s, CompactString::from(record_id)))?;
        if row.hash != hash {
            return None;
        }
        let records = self.records.get((row.at >> AT_BITS) as usize)?;
        let at = (row.at & ((1 << AT_BITS) - 1)) as usize;
        let len = u32::from_le_bytes(records.get(at..at + 4)?.try_into().ok()?) as usize;
        let id_len = u32::from_le_bytes(records.get(at + 18..at + 22)?.try_into().ok()?) as usize;
        let payload = records.get(at + HEAD + id_len..at + 4 + len)?;
        // A payload that does not decode is normalized again (never trusted blindly).
        let (p, details) = postcard::take_from_bytes::<PayloadIn>(payload).ok()?;
        if !crate::record::DetailStore::valid(details) {
            return None;
        }
        Some(Reused {
            profile: match p.before {
                Some(before) => Err(before),
                None => Ok(row.profile),
            },
            details: details.to_vec(),
            date: p.date,
            stats: p.stats,
        })
    }
}

/// Maps a state file for reading. The files of a finished output folder are never
/// written again (a run writes a new folder and swaps it in whole), so the mapping
/// stays valid while the run reads it; pages come from the page cache without a copy.
fn map(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the file is not modified while mapped (see above); a damaged file is
    // caught by the length and range checks of its reader, not trusted.
    unsafe { memmap2::Mmap::map(&file) }
}

/// Reads `old/state/`, checking that it was written by this version for this config.
pub fn load(old: &Path, config: &Config, sources: &[String]) -> Result<Saved> {
    let dir = old.join(STATE_DIR);
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::input(
            old,
            format!("holds no incremental state (state/manifest.json): it was written by an older idresolve; {RETRY}"),
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::input(&path, format!("damaged ({e}); {RETRY}")))?;
    if manifest.format != FORMAT || manifest.version != env!("CARGO_PKG_VERSION") {
        return Err(Error::input(
            &path,
            format!(
                "written by idresolve {} (state format {}), this is {} ({FORMAT}); {RETRY}",
                manifest.version,
                manifest.format,
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    if manifest.config != config_fingerprint(config) {
        return Err(Error::input(
            &path,
            format!("written for another config (sources, columns, regions or match settings differ); {RETRY}"),
        ));
    }
    let unreadable = |path: &Path, e: std::io::Error| {
        Error::input(path, format!("cannot be read ({e}); {RETRY}"))
    };
    let damaged =
        |path: &Path, what: String| Error::input(path, format!("damaged ({what}); {RETRY}"));

    let layers = &manifest.layers;
    let in_layers: u64 = layers.iter().map(|l| l.profiles).sum();
    if layers.is_empty() || layers.len() > MAX_LAYERS || in_layers != manifest.profiles {
        return Err(damaged(
            &dir.join(MANIFEST),
            format!(
                "{} layers holding {in_layers} profiles, the manifest says {}",
                layers.len(),
                manifest.profiles
            ),
        ));
    }
    // The profile table and the records' index are read side by side.
    let read_profiles = || -> Result<Vec<Profile>> {
        let mut files = Vec::new();
        let mut chunks = Vec::new();
        for k in 0..layers.len() {
            let path = dir.join(layer_file(PROFILES, k));
            files.push((path.clone(), map(&path).map_err(|e| unreadable(&path, e))?));
        }
        for (k, (path, bytes)) in files.iter().enumerate() {
            let mut at = 0usize;
            while at < bytes.len() {
                let len = bytes
                    .get(at..at + 4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
                    .filter(|len| at + 4 + len <= bytes.len())
                    .ok_or_else(|| damaged(path, "a chunk runs past the end".into()))?;
                chunks.push((k, &bytes[at + 4..at + 4 + len]));
                at += 4 + len;
            }
        }
        let decoded: Vec<Vec<Profile>> = {
            use rayon::prelude::*;
            chunks
                .par_iter()
                .map(|(k, c)| {
                    postcard::from_bytes(c).map_err(|e| damaged(&files[*k].0, e.to_string()))
                })
                .collect::<Result<_>>()?
        };
        let mut held = vec![0u64; layers.len()];
        for ((k, _), chunk) in chunks.iter().zip(&decoded) {
            held[*k] += chunk.len() as u64;
        }
        for (k, (layer, n)) in layers.iter().zip(&held).enumerate() {
            if *n != layer.profiles {
                return Err(damaged(
                    &files[k].0,
                    format!("{n} profiles, the manifest says {}", layer.profiles),
                ));
            }
        }
        let n: usize = decoded.iter().map(Vec::len).sum();
        // Room for the night's new profiles: growing a table of a million profiles later
        // would copy it (and take twice its size in fresh pages). Tonight pushes at most
        // a profile per row (new rows, changed rows, rows whose profile before shared
        // case numbers): room for as many as last night's rows (bounded: the manifest is
        // not trusted), of which only the slots used are ever touched.
        let room = (manifest.records as usize).min(2 * n + 1024);
        let mut profiles = Vec::with_capacity(n + room);
        for chunk in decoded {
            profiles.extend(chunk);
        }
        drop(files);
        Ok(profiles)
    };
    let read_records = || -> Result<(SavedRows, Vec<memmap2::Mmap>, usize)> {
        let n = manifest.profiles as usize;
        let mut rows = HashMap::default();
        rows.reserve(manifest.records.min(1 << 28) as usize);
        let mut maps = Vec::new();
        let mut ord = 0u64;
        for (k, layer) in layers.iter().enumerate() {
            let path = dir.join(layer_file(RECORDS, k));
            let bytes = map(&path).map_err(|e| unreadable(&path, e))?;
            let count = bytes
                .first_chunk::<8>()
                .map(|c| u64::from_le_bytes(*c))
                .ok_or_else(|| damaged(&path, "too short".into()))?;
            if count != layer.records {
                return Err(damaged(
                    &path,
                    format!("{count} records, the manifest says {}", layer.records),
                ));
            }
            let mut at = 8usize;
            for _ in 0..count {
                let head = bytes
                    .get(at..at + HEAD)
                    .ok_or_else(|| damaged(&path, "cut short".into()))?;
                let u32_of =
                    |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
                let len = u32_of(0) as usize;
                let source = u16::from_le_bytes([head[4], head[5]]);
                let profile = u32_of(6);
                let hash = u64::from_le_bytes(head[10..18].try_into().unwrap_or([0; 8]));
                let id_len = u32_of(18) as usize;
                let id = bytes
                    .get(at + HEAD..at + HEAD + id_len)
                    .filter(|_| HEAD - 4 + id_len <= len && at + 4 + len <= bytes.len())
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| damaged(&path, "a record runs past its end".into()))?;
                let gone = profile == GONE && len == HEAD - 4 + id_len;
                if !gone && profile as usize >= n || source as usize >= sources.len() {
                    return Err(damaged(
                        &path,
                        "a record points beyond the profiles or sources".into(),
                    ));
                }
                let key = (source, CompactString::from(id));
                if gone {
                    rows.remove(&key);
                } else {
                    rows.insert(
                        key,
                        SavedRow {
                            hash,
                            profile,
                            ord: u32::try_from(ord)
                                .map_err(|_| damaged(&path, "too many records".into()))?,
                            at: (k as u64) << AT_BITS | at as u64,
                        },
                    );
                }
                ord += 1;
                at += 4 + len;
            }
            if at != bytes.len() {
                return Err(damaged(&path, "bytes after the last record".into()));
            }
            maps.push(bytes);
        }
        if rows.len() as u64 != manifest.records {
            return Err(damaged(
                &dir.join(MANIFEST),
                format!(
                    "{} records in its layers, the manifest says {}",
                    rows.len(),
                    manifest.records
                ),
            ));
        }
        Ok((rows, maps, ord as usize))
    };
    let (profiles, records) = rayon::join(read_profiles, read_records);
    let profiles = profiles?;
    let (rows, records, entry_count) = records?;
    let n = profiles.len();
    let mut hashes: Vec<u64> =
        Vec::with_capacity(n + (manifest.records as usize).min(2 * n + 1024));
    for (k, layer) in layers.iter().enumerate() {
        let path = dir.join(layer_file(HASHES, k));
        let bytes = std::fs::read(&path).map_err(|e| unreadable(&path, e))?;
        if bytes.len() as u64 != layer.profiles * 8 {
            return Err(damaged(
                &path,
                format!("{} bytes for {} profiles", bytes.len(), layer.profiles),
            ));
        }
        hashes.extend(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
        );
    }

    let path = dir.join(GRAPH);
    let g = map(&path).map_err(|e| unreadable(&path, e))?;
    let want = n * 14 + manifest.edges as usize * 14 + manifest.links as usize * 12;
    if g.len() != want {
        return Err(damaged(
            &path,
            format!("{} bytes, expected {want}", g.len()),
        ));
    }
    let u32_at = |i: usize| u32::from_le_bytes([g[i], g[i + 1], g[i + 2], g[i + 3]]);
    let f32_at = |i: usize| f32::from_bits(u32_at(i));
    let profile_state: Vec<ProfileState> = (0..n)
        .map(|p| {
            let at = p * 14;
            ProfileState {
                group: u32_at(at),
                linked: g[at + 4] != 0,
                best_weight: f32_at(at + 5),
                self_weight: f32_at(at + 9),
                impersonal: g[at + 13] != 0,
            }
        })
        .collect();
    let base = n * 14;
    for i in 0..manifest.edges as usize {
        let at = base + i * 14;
        let (a, b) = (u32_at(at), u32_at(at + 4));
        if Decision::from_u8(g[at + 12]).is_none() || a as usize >= n || b as usize >= n {
            return Err(damaged(
                &path,
                format!("edge {i} is not an edge of these profiles"),
            ));
        }
    }
    let base = base + manifest.edges as usize * 14;
    let links = (0..manifest.links as usize)
        .map(|i| {
            let at = base + i * 12;
            Link {
                a: u32_at(at),
                b: u32_at(at + 4),
                weight: f32_at(at + 8),
            }
        })
        .collect();
    let path = dir.join(SHARED);
    let s = std::fs::read(&path).map_err(|e| unreadable(&path, e))?;
    if s.len() as u64 != manifest.shared * 10 {
        return Err(damaged(
            &path,
            format!("{} bytes, expected {}", s.len(), manifest.shared * 10),
        ));
    }
    let entries: Vec<(u8, u8, u64)> = s
        .chunks_exact(10)
        .map(|c| {
            (
                c[0],
                c[1],
                u64::from_le_bytes(c[2..10].try_into().unwrap_or([0; 8])),
            )
        })
        .collect();
    let shared = crate::compare::SharedValues::from_entries(&entries);
    Ok(Saved {
        shared,
        manifest,
        sources: sources.to_vec(),
        profiles,
        hashes,
        rows,
        records,
        entries: entry_count,
        dir,
        profile_state,
        graph: g,
        links,
    })
}
