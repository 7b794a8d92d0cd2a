//! `OUT/state/`: what an incremental run (`run --previous OLD --incremental`) needs of
//! the run before it, beyond what the output folder holds anyway (`mapping.csv`,
//! `state.json` and the ID lineage, `rows.bin`, `model.json`, and `index/`, whose
//! documents are the profiles below by ordinal). Every run writes it; only an
//! incremental run reads it. The one owner of the format, version 1:
//!
//! ```text
//! manifest.json  {"format": "idresolve-state-1", "version": <idresolve version>,
//!                 "config": <fingerprint of the config's meaning>, "profiles": n,
//!                 "records": m, "edges": e, "links": l, "threshold": p}
//! profiles.bin   postcard: the profile table (Vec<Profile>); ordinal = index document.
//!                A profile none of whose records remain stays in the table (and the
//!                index) until a full run: it has no records, so it pairs with nothing.
//! records.bin    postcard: u64 m, then per accepted record, in record order:
//!                (source u16, record id, row fingerprint u64, profile u32,
//!                 profile before shared case numbers Option<Profile>, display,
//!                 event date, case numbers, normalizing counts bytes)
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
use crate::record::{Dataset, Display, Profile};

pub const STATE_DIR: &str = "state";
const FORMAT: &str = "idresolve-state-1";
const MANIFEST: &str = "manifest.json";
const PROFILES: &str = "profiles.bin";
const RECORDS: &str = "records.bin";
const GRAPH: &str = "graph.bin";
const SHARED: &str = "shared.bin";
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

/// One record as saved (borrowing from the run).
#[derive(Serialize)]
struct RowOut<'a> {
    source: u16,
    id: &'a str,
    hash: u64,
    profile: u32,
    before: Option<&'a Profile>,
    display: &'a Display,
    date: Option<chrono::NaiveDate>,
    cases: &'a [CompactString],
    stats: &'a [u8],
}

/// One record as read back.
#[derive(Deserialize)]
struct RowIn {
    source: u16,
    id: CompactString,
    hash: u64,
    profile: u32,
    before: Option<Profile>,
    display: Display,
    date: Option<chrono::NaiveDate>,
    cases: Vec<CompactString>,
    stats: Vec<u8>,
}

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

/// Writes `dir/state/` for a run.
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
) -> Result<()> {
    let dir = dir.join(STATE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let ser = |path: &Path, e: postcard::Error| Error::io(path, std::io::Error::other(e));

    let path = dir.join(PROFILES);
    let bytes = postcard::to_allocvec(&data.profiles).map_err(|e| ser(&path, e))?;
    crate::outdir::write_private(&path, &bytes)?;

    let path = dir.join(RECORDS);
    let mut before: HashMap<u32, &Profile> = HashMap::default();
    for (r, p) in &data.before_cases {
        before.insert(*r, p);
    }
    let file = crate::outdir::create_private_file(&path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| Error::io(&path, e);
    w.write_all(&(data.records.len() as u64).to_le_bytes())
        .map_err(io)?;
    let mut buf = Vec::with_capacity(512);
    for (i, r) in data.records.iter().enumerate() {
        let stats = match (data.row_stats_at.get(i), data.row_stats_at.get(i + 1)) {
            (Some(&a), Some(&b)) => &data.row_stats[a as usize..b as usize],
            _ => &[],
        };
        let row = RowOut {
            source: r.source,
            id: &r.record_id,
            hash: data.row_hashes.get(i).copied().unwrap_or(0),
            profile: r.profile,
            before: before.get(&(i as u32)).copied(),
            display: &r.display,
            date: r.date,
            cases: &r.cases,
            stats,
        };
        buf.clear();
        let bytes =
            postcard::to_extend(&row, std::mem::take(&mut buf)).map_err(|e| ser(&path, e))?;
        w.write_all(&bytes).map_err(io)?;
        buf = bytes;
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;

    let path = dir.join(GRAPH);
    let n = data.profiles.len();
    let mut g = Vec::with_capacity(n * 14 + edges.len() * 14 + clustering.links.len() * 12);
    for p in 0..n {
        g.extend_from_slice(
            &clustering
                .group
                .get(p)
                .copied()
                .unwrap_or(p as u32)
                .to_le_bytes(),
        );
        g.push(u8::from(clustering.linked.get(p).copied().unwrap_or(false)));
        g.extend_from_slice(
            &clustering
                .best_weight
                .get(p)
                .copied()
                .unwrap_or(f32::NAN)
                .to_le_bytes(),
        );
        g.extend_from_slice(
            &self_weight
                .get(p)
                .copied()
                .unwrap_or(f32::NAN)
                .to_le_bytes(),
        );
        g.push(u8::from(impersonal.get(p).copied().unwrap_or(false)));
    }
    for (i, e) in edges.iter().enumerate() {
        g.extend_from_slice(&e.a.to_le_bytes());
        g.extend_from_slice(&e.b.to_le_bytes());
        g.extend_from_slice(&e.weight.to_le_bytes());
        g.push(clustering.decisions.get(i).copied().unwrap_or_default() as u8);
        g.push(u8::from(e.carried_only));
    }
    for l in &clustering.links {
        g.extend_from_slice(&l.a.to_le_bytes());
        g.extend_from_slice(&l.b.to_le_bytes());
        g.extend_from_slice(&l.weight.to_le_bytes());
    }
    crate::outdir::write_private(&path, &g)?;

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
        },
    )
}

/// A saved record, for [`Reuse`] and for finding what changed.
pub struct SavedRow {
    pub hash: u64,
    pub profile: u32,
    before: Option<Profile>,
    display: Display,
    date: Option<chrono::NaiveDate>,
    cases: Vec<CompactString>,
    stats: Vec<u8>,
}

/// The state of the previous run, read back.
pub struct Saved {
    pub manifest: Manifest,
    pub sources: Vec<String>,
    pub profiles: Vec<Profile>,
    /// (source, record id) → the saved row.
    pub rows: HashMap<(u16, CompactString), SavedRow>,
    pub profile_state: Vec<ProfileState>,
    pub edges: Vec<SavedEdge>,
    pub links: Vec<Link>,
    /// The values strangers and households shared in that run.
    pub shared: crate::compare::SharedValues,
}

impl Reuse for Saved {
    fn get(&self, source: &str, record_id: &str, hash: u64) -> Option<Reused> {
        let s = self.sources.iter().position(|n| n == source)? as u16;
        let row = self.rows.get(&(s, CompactString::from(record_id)))?;
        if row.hash != hash {
            return None;
        }
        let profile = match &row.before {
            Some(p) => p.clone(),
            None => self.profiles.get(row.profile as usize)?.clone(),
        };
        Some(Reused {
            profile,
            display: row.display.clone(),
            date: row.date,
            cases: row.cases.clone(),
            stats: row.stats.clone(),
        })
    }
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
    let damaged =
        |path: &Path, what: String| Error::input(path, format!("damaged ({what}); {RETRY}"));

    let path = dir.join(PROFILES);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let profiles: Vec<Profile> =
        postcard::from_bytes(&bytes).map_err(|e| damaged(&path, e.to_string()))?;
    drop(bytes);
    let n = profiles.len();
    if n as u64 != manifest.profiles {
        return Err(damaged(
            &path,
            format!("{n} profiles, the manifest says {}", manifest.profiles),
        ));
    }

    let path = dir.join(RECORDS);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let (count, mut rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| damaged(&path, "too short".into()))?;
    let count = u64::from_le_bytes(*count);
    if count != manifest.records {
        return Err(damaged(
            &path,
            format!("{count} records, the manifest says {}", manifest.records),
        ));
    }
    let mut rows = HashMap::default();
    rows.reserve(count.min(1 << 28) as usize);
    for _ in 0..count {
        let (row, tail): (RowIn, &[u8]) =
            postcard::take_from_bytes(rest).map_err(|e| damaged(&path, e.to_string()))?;
        rest = tail;
        if row.profile as usize >= n || row.source as usize >= sources.len() {
            return Err(damaged(
                &path,
                "a record points beyond the profiles or sources".into(),
            ));
        }
        rows.insert(
            (row.source, row.id),
            SavedRow {
                hash: row.hash,
                profile: row.profile,
                before: row.before,
                display: row.display,
                date: row.date,
                cases: row.cases,
                stats: row.stats,
            },
        );
    }
    drop(bytes);

    let path = dir.join(GRAPH);
    let g = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
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
    let mut edges = Vec::with_capacity(manifest.edges as usize);
    for i in 0..manifest.edges as usize {
        let at = base + i * 14;
        let (a, b) = (u32_at(at), u32_at(at + 4));
        let decision = Decision::from_u8(g[at + 12])
            .ok_or_else(|| damaged(&path, "unknown decision".into()))?;
        if a as usize >= n || b as usize >= n {
            return Err(damaged(&path, "an edge points beyond the profiles".into()));
        }
        edges.push(SavedEdge {
            a,
            b,
            weight: f32_at(at + 8),
            decision,
            carried_only: g[at + 13] != 0,
        });
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
    let s = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
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
        rows,
        profile_state,
        edges,
        links,
    })
}
