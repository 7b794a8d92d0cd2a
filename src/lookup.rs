//! `lookup`: the support agent's view. Opens the index a run saved in `OUT/index/` (the
//! candidate index: one document per distinct record profile, with a table of the
//! customers each profile belongs to) and answers a phone number, e-mail, serial, case number,
//! name or free text with the best-matching customers and, for each, the golden record
//! and every linked record in date order. Values go through the same normalizers as
//! ingestion, so "(555) 123-4567" finds "+15551234567" and "bob smith" finds
//! "SMITH, Robert". Nothing of the pipeline is re-run: only the rows shown are read.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::{profile_terms, term, Hit, IndexSearcher, TermIndex, TermKind};
use crate::normalize::normalize_code;
use crate::normalize::{self, PhoneNormalizer};
use crate::output::{
    CUSTOMER_ENTRY_BYTES, LOOKUP_CUSTOMERS, LOOKUP_GOLDEN, LOOKUP_PROFILES, LOOKUP_RECORDS,
};
use crate::record::Profile;

/// Profiles fetched per requested answer.
const PROFILES_PER_ANSWER: usize = 8;

/// What the query value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Try every interpretation of the text.
    Any,
    Phone,
    Email,
    Serial,
    Case,
    Name,
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
}

/// One answer: a customer, how well it matches, and its history.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub rank: usize,
    /// Share of the query's attainable evidence this customer matches (1.0: all of it).
    pub confidence: f64,
    pub golden: GoldenView,
    /// Linked records in date order (filled for the top answer, or all with `full`).
    pub records: Vec<RecordView>,
}

/// An opened lookup index.
pub struct Lookup {
    searcher: IndexSearcher,
    customers: Vec<u8>,
    /// Customers of each indexed profile (see [`LOOKUP_PROFILES`]).
    profiles: Vec<u8>,
    dir: PathBuf,
    phones: std::sync::Mutex<PhoneNormalizer>,
}

impl Lookup {
    /// Opens the lookup index of a finished run.
    pub fn open(out: &Path) -> Result<Lookup> {
        let dir = out.join("index");
        if !dir.join("meta.json").exists() {
            return Err(Error::input(
                out,
                "no lookup index here (expected index/ from `idresolve run`)",
            ));
        }
        let index = TermIndex::open(&dir)?;
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
        let report = crate::output::RunReport::load(out)?;
        let region = normalize::phone::parse_region(&report.default_region).ok_or_else(|| {
            Error::input(
                out.join("run.json"),
                format!("default_region {:?} is not a region", report.default_region),
            )
        })?;
        Ok(Lookup {
            searcher: index.searcher(),
            customers,
            profiles,
            dir,
            phones: std::sync::Mutex::new(PhoneNormalizer::new(region)),
        })
    }

    /// The search terms of a query: exact ones and ones matched within one edit.
    fn terms(&self, kind: QueryKind, text: &str) -> (Vec<String>, Vec<String>) {
        let mut exact = Vec::new();
        let mut fuzzy = Vec::new();
        let any = kind == QueryKind::Any;
        if any || kind == QueryKind::Phone {
            if let Some(p) = self.phones.lock().ok().and_then(|mut n| n.normalize(text)) {
                exact.push(term(TermKind::Phone, &p.e164));
                exact.push(format!("p7:{}", p.last7()));
            }
        }
        if any || kind == QueryKind::Email {
            if let Some(e) = normalize::normalize_email(text) {
                exact.push(term(TermKind::Email, &e.address));
                exact.push(term(TermKind::EmailLocal, e.local()));
            }
        }
        if any || kind == QueryKind::Serial {
            if let Some(s) = normalize::normalize_serial(text) {
                exact.push(term(TermKind::Serial, &s.key));
                fuzzy.push(term(TermKind::SerialFolded, &s.folded));
            }
        }
        if any || kind == QueryKind::Case {
            if let Some(c) = normalize_code(text) {
                exact.push(term(TermKind::Case, &c));
            }
        }
        if any || kind == QueryKind::Name {
            let mut p = Profile::default();
            p.names.extend(normalize::parse_full_name(text));
            // A name query uses name terms only.
            let mut name_terms = Vec::new();
            profile_terms(&p, &mut name_terms);
            exact.extend(name_terms);
        }
        exact.sort();
        exact.dedup();
        (exact, fuzzy)
    }

    /// The best `limit` customers for a query; `full` fills the records of every answer,
    /// otherwise only of the first.
    pub fn query(
        &self,
        kind: QueryKind,
        text: &str,
        limit: usize,
        full: bool,
    ) -> Result<Vec<Answer>> {
        let (exact, fuzzy) = self.terms(kind, text);
        // Hits are profiles; a customer scores as its best profile. Enough profiles are
        // fetched to fill `limit` customers in practice (a customer has a few profiles).
        let limit = limit.max(1);
        let profile_hits = self
            .searcher
            .search_fuzzy(&exact, &fuzzy, limit * PROFILES_PER_ANSWER);
        let mut hits: Vec<Hit> = Vec::new();
        for h in profile_hits {
            for c in self.customers_of(h.ord)? {
                if !hits.iter().any(|x| x.ord == c) {
                    hits.push(Hit {
                        ord: c,
                        score: h.score,
                    });
                }
            }
        }
        // Profile hits come best first, so each customer kept its best score.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.ord.cmp(&b.ord)));
        hits.truncate(limit);
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        // The evidence attainable: each term's best score on its own.
        let attainable: f32 = exact
            .iter()
            .map(|t| {
                self.searcher
                    .search_fuzzy(std::slice::from_ref(t), &[], 1)
                    .first()
                    .map_or(0.0, |h| h.score)
            })
            .chain(fuzzy.iter().map(|t| {
                self.searcher
                    .search_fuzzy(&[], std::slice::from_ref(t), 1)
                    .first()
                    .map_or(0.0, |h| h.score)
            }))
            .sum();
        hits.iter()
            .enumerate()
            .map(|(i, h)| {
                let (golden, records) = self.customer(h.ord, full || i == 0)?;
                Ok(Answer {
                    rank: i + 1,
                    confidence: if attainable > 0.0 {
                        (h.score / attainable).min(1.0) as f64
                    } else {
                        0.0
                    },
                    golden,
                    records,
                })
            })
            .collect()
    }

    /// Customers holding records of profile `p`.
    fn customers_of(&self, p: u64) -> Result<Vec<u64>> {
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
        let n = u64_at(0).ok_or_else(damaged)?;
        if p >= n {
            return Err(damaged());
        }
        let (from, to) = (
            u64_at(8 + 8 * p as usize).ok_or_else(damaged)?,
            u64_at(16 + 8 * p as usize).ok_or_else(damaged)?,
        );
        let base = 8 + 8 * (n as usize + 1);
        (from..to)
            .map(|i| {
                let at = base + 4 * i as usize;
                self.profiles
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(|b| u32::from_le_bytes(b) as u64)
                    .ok_or_else(damaged)
            })
            .collect()
    }

    /// Reads the golden row and (optionally) the record rows of customer `c`.
    fn customer(&self, c: u64, with_records: bool) -> Result<(GoldenView, Vec<RecordView>)> {
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
            read_rows(&self.dir.join(LOOKUP_RECORDS), records_offset, count)?
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
