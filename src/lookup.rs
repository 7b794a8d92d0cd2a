//! `lookup`: the support agent's view. Opens the index a run saved in `OUT/index/` (the
//! candidate index: one document per distinct record profile, with a table of the
//! customers each profile belongs to) and answers a phone number, e-mail, serial, case number,
//! name or free text with the best-matching customers and, for each, the golden record
//! and every linked record in date order. Values go through the same normalizers as
//! ingestion, so "(555) 123-4567" finds "+15551234567" and "bob smith" finds
//! "SMITH, Robert". Nothing of the pipeline is re-run: only the rows shown are read.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::{profile_terms, term, Hit, IndexSearcher, TermIndex, TermKind};
use crate::normalize::normalize_code;
use crate::normalize::{self, PhoneNormalizer};
use crate::record::Profile;
use crate::store::Store;
pub use crate::store::{GoldenView, RecordView};

/// Profiles fetched per requested answer.
const PROFILES_PER_ANSWER: usize = 8;
/// Customers whose best score is within this share of the top score match the query
/// equally well (scores of one value differ by field lengths only).
const TIED_SCORE: f32 = 0.05;

/// Profiles read per whole key asked for, to find every customer holding it.
const KEY_HOLDERS: usize = 200;

/// A score ordered by `total_cmp`, for sort keys.
#[derive(PartialEq)]
struct OrdScore(f32);
impl Eq for OrdScore {}
impl PartialOrd for OrdScore {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdScore {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A golden ID as idresolve writes them (`G` and digits): a query to look up by ID.
pub fn looks_like_golden_id(text: &str) -> bool {
    let t = text.trim();
    t.len() > 1 && t.starts_with('G') && t[1..].bytes().all(|b| b.is_ascii_digit())
}

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

/// One answer: a customer, how well it matches, and its history.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub rank: usize,
    /// Share of the query's attainable evidence this customer matches (1.0: all of it).
    pub confidence: f64,
    pub golden: GoldenView,
    /// Linked records in date order (filled for the top answer, or all with `full`).
    pub records: Vec<RecordView>,
    /// For a query by golden ID: what became of the ID asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_status: Option<IdStatus>,
    /// A steward's decisions (`overrides.csv`) naming any of the listed records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<StewardRow>,
    /// Why this customer is on the attention list (`attention.csv`), if it is.
    pub attention: Vec<crate::attention::Flag>,
}

/// A row of the run's `overrides.csv`, as the agent sees it on a customer's card.
#[derive(Debug, Clone, Serialize)]
pub struct StewardRow {
    pub decision: String,
    /// `source:record_id` of each side.
    pub a: String,
    pub b: String,
    pub line: u64,
    pub note: String,
}

/// What became of a golden ID asked for by [`Lookup::by_golden_id`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "into", rename_all = "snake_case")]
pub enum IdStatus {
    /// The ID is a customer's today.
    Current,
    /// The ID was merged into another (an alias in `state.json`): the customer is this one.
    MergedInto(String),
    /// None of the ID's records remain.
    Removed,
    /// The run knows no such ID.
    Unknown,
}

impl IdStatus {
    /// What an agent reads about golden ID `id` (none when it is a customer's today).
    pub fn note(&self, id: &str) -> Option<String> {
        match self {
            IdStatus::MergedInto(to) => Some(format!("{id} was merged into {to}")),
            IdStatus::Removed => Some(format!("{id} was removed: none of its records remain")),
            IdStatus::Unknown => Some(format!("no customer has golden ID {id}")),
            IdStatus::Current => None,
        }
    }
}

/// An opened lookup index.
pub struct Lookup {
    searcher: IndexSearcher,
    store: Store,
    /// The run's output folder (for `state.json`'s lineage).
    out: std::path::PathBuf,
    /// `state.json`, read by the first lookup by golden ID (a desk asks many).
    state: std::sync::OnceLock<std::result::Result<Option<crate::identity::IdState>, String>>,
    /// The steward's decisions of the run's config (none when it has no overrides file,
    /// or the config or file can no longer be read).
    steward: Vec<crate::overrides::Override>,
    /// The run's attention list, worst first, and where each customer's rows are.
    attention: Vec<crate::attention::Flag>,
    attention_of: std::collections::HashMap<String, std::ops::Range<usize>>,
    phones: std::sync::Mutex<PhoneNormalizer>,
    /// The other phone regions the run's sources were read in: a number written without
    /// its country code is also tried in each (where it is a valid number there).
    other_regions: Vec<std::sync::Mutex<PhoneNormalizer>>,
}

impl Lookup {
    /// Opens the lookup index of a finished run.
    pub fn open(out: &Path) -> Result<Lookup> {
        let dir = out.join(crate::store::DIR);
        if !dir.join("meta.json").exists() {
            return Err(Error::input(
                out,
                "no lookup index here (expected index/ from `idresolve run`)",
            ));
        }
        let index = TermIndex::open(&dir)?;
        let store = Store::open(&dir, out)?;
        let report = crate::report::RunReport::load(out)?;
        let region = normalize::phone::parse_region(&report.default_region).ok_or_else(|| {
            Error::input(
                out.join("run.json"),
                format!("default_region {:?} is not a region", report.default_region),
            )
        })?;
        let steward = crate::Config::load(std::path::Path::new(&report.config))
            .ok()
            .and_then(|config| {
                let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
                crate::overrides::read(config.matching.overrides.as_deref()?, &names).ok()
            })
            .map(|o| o.rows)
            .unwrap_or_default();
        let mut regions: Vec<String> = report
            .sources
            .iter()
            .map(|s| s.region.to_ascii_uppercase())
            .filter(|r| *r != report.default_region.to_ascii_uppercase())
            .collect();
        regions.sort();
        regions.dedup();
        let other_regions = regions
            .iter()
            .filter_map(|r| normalize::phone::parse_region(r))
            .map(|r| std::sync::Mutex::new(PhoneNormalizer::new(r)))
            .collect();
        let attention = crate::attention::read(out)?;
        let mut attention_of = std::collections::HashMap::new();
        let mut i = 0;
        while i < attention.len() {
            let from = i;
            while i < attention.len() && attention[i].golden_id == attention[from].golden_id {
                i += 1;
            }
            attention_of.insert(attention[from].golden_id.clone(), from..i);
        }
        Ok(Lookup {
            searcher: index.searcher(),
            store,
            out: out.to_path_buf(),
            state: std::sync::OnceLock::new(),
            steward,
            attention,
            attention_of,
            phones: std::sync::Mutex::new(PhoneNormalizer::new(region)),
            other_regions,
        })
    }

    /// The search terms of a query: exact ones and ones matched within one edit.
    /// The search terms of a query: exact ones, ones matched within one edit, and the
    /// whole-value keys among the exact ones (a phone, an e-mail, a serial, a case).
    fn terms(&self, kind: QueryKind, text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut exact = Vec::new();
        let mut fuzzy = Vec::new();
        let mut keys = Vec::new();
        let any = kind == QueryKind::Any;
        if any || kind == QueryKind::Phone {
            if let Some(p) = self.phones.lock().ok().and_then(|mut n| n.normalize(text)) {
                keys.push(term(TermKind::Phone, &p.e164));
                exact.push(format!("p7:{}", p.last7()));
            }
            // Written without its country code, the number may be one of another
            // source's region (a French mobile in a German company's shop).
            if !text.trim_start().starts_with('+') {
                for n in &self.other_regions {
                    let Ok(mut n) = n.lock() else { continue };
                    if !normalize::phone::is_valid_in(text, n.region()) {
                        continue;
                    }
                    if let Some(p) = n.normalize(text) {
                        keys.push(term(TermKind::Phone, &p.e164));
                    }
                }
            }
        }
        if any || kind == QueryKind::Email {
            if let Some(e) = normalize::normalize_email(text) {
                keys.push(term(TermKind::Email, &e.address));
                exact.push(term(TermKind::EmailLocal, e.local()));
            }
        }
        if any || kind == QueryKind::Serial {
            if let Some(s) = normalize::normalize_serial(text) {
                keys.push(term(TermKind::Serial, &s.key));
                fuzzy.push(term(TermKind::SerialFolded, &s.folded));
            }
        }
        if any || kind == QueryKind::Case {
            if let Some(c) = normalize_code(text) {
                keys.push(term(TermKind::Case, &c));
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
        exact.extend(keys.iter().cloned());
        exact.sort();
        exact.dedup();
        (exact, fuzzy, keys)
    }

    /// The name on a customer's golden record (none for an ID the run does not hold).
    pub fn name_of(&self, golden_id: &str) -> Result<Option<String>> {
        match self.store.customer_by_id(golden_id)? {
            Some(c) => Ok(Some(self.store.customer(c, false)?.0.name)),
            None => Ok(None),
        }
    }

    /// Customers on the attention list.
    pub fn attention_customers(&self) -> usize {
        self.attention_of.len()
    }

    /// The attention list of the run, worst first (rows of one customer together).
    pub fn attention(&self) -> &[crate::attention::Flag] {
        &self.attention
    }

    /// The attention rows of one customer.
    pub fn attention_of(&self, golden_id: &str) -> Vec<crate::attention::Flag> {
        self.attention_of
            .get(golden_id)
            .map(|r| self.attention[r.clone()].to_vec())
            .unwrap_or_default()
    }

    /// The steward's rows that name any of `records`.
    fn steward_rows(&self, records: &[RecordView]) -> Vec<StewardRow> {
        let named = |(s, id): &(String, String)| {
            records.iter().any(|r| &r.source == s && &r.record_id == id)
        };
        self.steward
            .iter()
            .filter(|o| named(&o.a) || named(&o.b))
            .map(|o| StewardRow {
                decision: o.decision_str().to_string(),
                a: format!("{}:{}", o.a.0, o.a.1),
                b: format!("{}:{}", o.b.0, o.b.1),
                line: o.line,
                note: o.note.clone(),
            })
            .collect()
    }

    /// The customer a golden ID stands for today: the ID's own, or, for an ID merged
    /// into another, the one it became (aliases in `state.json`, kept from run to run).
    pub fn by_golden_id(&self, id: &str) -> Result<(IdStatus, Option<Answer>)> {
        let id = id.trim();
        let state = self
            .state
            .get_or_init(|| crate::identity::IdState::load(&self.out).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::input(self.out.join("state.json"), e.clone()))?;
        let (status, current) = match state {
            Some(s) if s.removed.iter().any(|r| r == id) => return Ok((IdStatus::Removed, None)),
            Some(s) => match s.aliases.get(id) {
                Some(to) => (IdStatus::MergedInto(to.clone()), to.as_str()),
                None => (IdStatus::Current, id),
            },
            None => (IdStatus::Current, id),
        };
        let Some(c) = self.store.customer_by_id(current)? else {
            return Ok((IdStatus::Unknown, None));
        };
        let (golden, records) = self.store.customer(c, true)?;
        Ok((
            status.clone(),
            Some(Answer {
                rank: 1,
                confidence: 1.0,
                overrides: self.steward_rows(&records),
                attention: self.attention_of(&golden.golden_id),
                golden,
                records,
                id_status: Some(status.clone()),
            }),
        ))
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
        let (exact, fuzzy, keys) = self.terms(kind, text);
        // Hits are profiles; a customer scores as its best profile. Enough profiles are
        // fetched to fill `limit` customers in practice (a customer has a few profiles).
        let limit = limit.max(1);
        let profile_hits = self
            .searcher
            .search_fuzzy(&exact, &fuzzy, limit * PROFILES_PER_ANSWER);
        // A customer scores as its best profile (hits come best first).
        let mut hits: Vec<Hit> = Vec::new();
        for h in profile_hits {
            for (c, _) in self.store.customers_of(h.ord)? {
                if !hits.iter().any(|x| x.ord == c) {
                    hits.push(Hit {
                        ord: c,
                        score: h.score,
                    });
                }
            }
        }
        // The customers holding a whole key asked for (the phone, the e-mail, the serial,
        // the case number) come first: most records carrying it first, the caller is
        // more likely the one in touch about it more often (a household's shared phone).
        // Then the others by score; those who match about equally well (two namesakes)
        // by how many records they have.
        let mut holds: Vec<u32> = vec![0; hits.len()];
        for key in &keys {
            for h in self
                .searcher
                .search_fuzzy(std::slice::from_ref(key), &[], KEY_HOLDERS)
            {
                for (c, n) in self.store.customers_of(h.ord)? {
                    match hits.iter().position(|x| x.ord == c) {
                        Some(i) => holds[i] += n,
                        None => {
                            hits.push(Hit {
                                ord: c,
                                score: h.score,
                            });
                            holds.push(n);
                        }
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_by(|&a, &b| {
            (holds[b] > 0)
                .cmp(&(holds[a] > 0))
                .then(hits[b].score.total_cmp(&hits[a].score))
                .then(hits[a].ord.cmp(&hits[b].ord))
        });
        let holders = holds.iter().filter(|&&n| n > 0).count();
        order[..holders].sort_by_key(|&i| {
            (
                std::cmp::Reverse(holds[i]),
                std::cmp::Reverse(self.store.record_count(hits[i].ord)),
                std::cmp::Reverse(OrdScore(hits[i].score)),
                hits[i].ord,
            )
        });
        if let Some(best) = order.get(holders).map(|&i| hits[i].score) {
            let rest = &mut order[holders..];
            let tier = rest
                .iter()
                .take_while(|&&i| hits[i].score >= best * (1.0 - TIED_SCORE))
                .count();
            rest[..tier].sort_by_key(|&i| {
                (
                    std::cmp::Reverse(self.store.record_count(hits[i].ord)),
                    std::cmp::Reverse(OrdScore(hits[i].score)),
                    hits[i].ord,
                )
            });
        }
        let mut hits: Vec<Hit> = order.iter().map(|&i| hits[i]).collect();
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
                let (golden, records) = self.store.customer(h.ord, full || i == 0)?;
                Ok(Answer {
                    rank: i + 1,
                    confidence: if attainable > 0.0 {
                        (h.score / attainable).min(1.0) as f64
                    } else {
                        0.0
                    },
                    overrides: self.steward_rows(&records),
                    attention: self.attention_of(&golden.golden_id),
                    golden,
                    records,
                    id_status: None,
                })
            })
            .collect()
    }
}
