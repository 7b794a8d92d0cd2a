//! The search index behind candidate generation and `lookup`: one tantivy document per
//! searchable unit (a distinct record profile for candidates, a golden customer for
//! lookup) holding *terms* made from normalized values, and the unit's ordinal as a fast
//! field. Nothing else is stored.
//!
//! Every term lives in one raw-tokenized field with a kind prefix (`e:` e-mail, `p:`
//! phone, `g:` name trigram …), so BM25's inverse document frequency ranks a shared rare
//! value above a shared common one without per-field tuning. This module owns which
//! terms a profile has and how the index is built and searched; *which* units to query
//! and what to do with the hits is [`crate::candidates`] and [`crate::lookup`].

use std::path::Path;

use rayon::prelude::*;
use tantivy::collector::{Collector, TopDocs};
use tantivy::directory::{MmapDirectory, RamDirectory};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{
    BooleanQuery, BoostQuery, EnableScoring, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED,
};
use tantivy::{Index, IndexReader, IndexSettings, Searcher, SegmentReader, TantivyDocument, Term};

use crate::error::Result;
use crate::normalize::normalize_code;
use crate::record::Profile;

/// Writer memory budget (an upper bound: the arena grows as documents come). The writer's
/// in-memory postings for 1M generated profiles outgrow 512 MB, which made tantivy flush
/// several segments and merge them; with this budget 1M profiles stay in one segment
/// (index stage 23.9 s -> 16.5-16.9 s, same peak RSS, same output). DocIds follow
/// insertion order either way (one writer thread).
const WRITER_BUDGET_BYTES: usize = 1536 * 1024 * 1024;
/// Units whose terms are made in parallel before they go to the writer.
const BUILD_BATCH: usize = 8192;

/// Schema fields.
#[derive(Clone, Copy)]
pub struct Fields {
    pub terms: Field,
    pub ord: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Term frequencies and field norms on: tantivy's block-WAND top-K (used when
    // frequencies are indexed) needs block-max scores, which it computes from field
    // norms — with norms off it writes zeros and skips blocks holding real hits (a
    // 1M-record lookup for "Brandon Harris" found one of them). Norms also make BM25
    // favour short profiles (a ticket with a phone and a name), which measured better
    // pair completeness on generated data (0.965 -> 0.972) with FEBRL unchanged.
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::WithFreqs)
        .set_fieldnorms(true);
    let terms = b.add_text_field(
        "terms",
        TextOptions::default().set_indexing_options(indexing),
    );
    let ord = b.add_u64_field("ord", FAST | INDEXED);
    (b.build(), Fields { terms, ord })
}

/// Appends the search terms of a profile to `out`, unsorted and possibly repeated (two
/// names with one surname): an index document wants them deduplicated, a query does not
/// mind.
pub fn profile_terms(p: &Profile, out: &mut Vec<String>) {
    for n in &p.names {
        // First and last names share prefixes so that swapped fields still meet.
        for part in [&n.first, &n.last] {
            for word in part.split(' ').filter(|w| w.len() > 1) {
                out.push(term(TermKind::NameWord, word));
                trigrams(word, TermKind::NameTrigram, out);
            }
        }
        for code in [&n.first_phonetic, &n.last_phonetic] {
            if !code.is_empty() {
                out.push(term(TermKind::NamePhonetic, code));
            }
        }
        for g in &n.first_groups {
            out.push(term(TermKind::Nickname, itoa::Buffer::new().format(*g)));
        }
        name_pair_terms(n, out);
    }
    for e in &p.emails {
        out.push(term(TermKind::Email, &e.address));
        if !e.role {
            out.push(term(TermKind::EmailLocal, e.local()));
        }
    }
    for ph in &p.phones {
        out.push(term(TermKind::Phone, &ph.e164));
        out.push(term(TermKind::PhoneLast7, ph.last7()));
    }
    for s in &p.serials {
        out.push(term(TermKind::Serial, &s.key));
        out.push(term(TermKind::SerialFolded, &s.folded));
    }
    for d in &p.dobs {
        out.push(term(TermKind::Dob, &d.to_string()));
    }
    for a in &p.addresses {
        // The whole address as one term: "1626 walnut ln" is held by a household, each
        // of its words by thousands.
        out.push(term(TermKind::Address, a));
        for t in a.split(' ') {
            out.push(term(TermKind::AddressToken, t));
        }
    }
    for c in &p.cities {
        out.push(term(TermKind::City, c));
    }
    for pc in &p.postcodes {
        out.push(term(TermKind::Postcode, pc));
    }
    for id in &p.ids {
        out.push(term(TermKind::Id, id));
    }
    for c in &p.cases {
        out.push(term(TermKind::Case, c));
    }
    for t in &p.texts {
        for w in t.split(' ').filter(|w| w.len() > 2) {
            out.push(term(TermKind::Text, w));
        }
    }
}

/// Terms for the first and last name *together*. "Nicole" and "Moore" are each held by
/// thousands of profiles at 200k, so a query that has only them (a support ticket with a
/// name and a callback number) ranks every Nicole and every Moore alike and its top K is
/// a lottery; "Nicole Moore" is held by a handful. Both orders meet (the pair is sorted,
/// for swapped fields), and so do a nickname ("Bob" and "Robert" share a nickname group),
/// the sound of the name (Double Metaphone) and an initial ("R Brown").
fn name_pair_terms(n: &crate::normalize::PersonName, out: &mut Vec<String>) {
    fn pair(kind: TermKind, a: &str, b: &str) -> String {
        let prefix = kind.prefix();
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let mut t = String::with_capacity(prefix.len() + a.len() + b.len() + 1);
        t.push_str(prefix);
        t.push_str(a);
        t.push('|');
        t.push_str(b);
        t
    }
    if n.first.is_empty() || n.last.is_empty() {
        return;
    }
    out.push(pair(TermKind::FirstLast, &n.first, &n.last));
    if !n.first_phonetic.is_empty() && !n.last_phonetic.is_empty() {
        out.push(pair(
            TermKind::FirstLastPhonetic,
            &n.first_phonetic,
            &n.last_phonetic,
        ));
    }
    for g in &n.first_groups {
        out.push(pair(
            TermKind::LastNickname,
            &n.last,
            itoa::Buffer::new().format(*g),
        ));
    }
    if let Some(initial) = n.first.chars().next() {
        let mut buf = [0u8; 4];
        out.push(pair(
            TermKind::LastInitial,
            &n.last,
            initial.encode_utf8(&mut buf),
        ));
    }
}

/// Case-number terms of one record: its own id and every case it quotes, normalized
/// (`k:T5003`). The candidate index holds them for every record so that `lookup` finds a
/// customer by any case; a code only one profile holds is skipped by the search.
pub fn record_case_terms(record_id: &str, cases: &[&str], out: &mut Vec<String>) {
    let codes = cases.iter().copied().chain([record_id]);
    out.extend(
        codes
            .filter_map(normalize_code)
            .map(|c| term(TermKind::Case, &c)),
    );
}

/// `prefix` followed by `value`, allocated once (format! was a visible share of term making).
/// The kinds of term in the candidate index, each with its prefix: the one spelling
/// shared by indexing ([`profile_terms`]) and [`crate::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// `n:`: a word of a name.
    NameWord,
    /// `g:`: a trigram of a name word.
    NameTrigram,
    /// `ph:`: a name word's phonetic code.
    NamePhonetic,
    /// `nk:`: a first name's nickname group.
    Nickname,
    /// `e:`: an e-mail address.
    Email,
    /// `el:`: an e-mail's local part.
    EmailLocal,
    /// `p:`: a phone number (E.164).
    Phone,
    /// `p7:`: a phone's last seven digits.
    PhoneLast7,
    /// `d:`: a date of birth (ISO).
    Dob,
    /// `s:`: a serial number.
    Serial,
    /// `sf:`: a serial with confusables folded.
    SerialFolded,
    /// `ad:`: a whole address.
    Address,
    /// `a:`: an address token.
    AddressToken,
    /// `c:`: a city.
    City,
    /// `pc:`: a postcode.
    Postcode,
    /// `i:`: an identifier.
    Id,
    /// `k:`: a case number.
    Case,
    /// `x:`: a text word.
    Text,
    /// `nf:`: first and last name together.
    FirstLast,
    /// `np:`: first and last name, phonetic.
    FirstLastPhonetic,
    /// `nn:`: last name and a nickname group.
    LastNickname,
    /// `ni:`: last name and first initial.
    LastInitial,
}

impl TermKind {
    pub const ALL: [TermKind; 22] = [
        TermKind::NameWord,
        TermKind::NameTrigram,
        TermKind::NamePhonetic,
        TermKind::Nickname,
        TermKind::Email,
        TermKind::EmailLocal,
        TermKind::Phone,
        TermKind::PhoneLast7,
        TermKind::Dob,
        TermKind::Serial,
        TermKind::SerialFolded,
        TermKind::Address,
        TermKind::AddressToken,
        TermKind::City,
        TermKind::Postcode,
        TermKind::Id,
        TermKind::Case,
        TermKind::Text,
        TermKind::FirstLast,
        TermKind::FirstLastPhonetic,
        TermKind::LastNickname,
        TermKind::LastInitial,
    ];

    /// The kind of an index term, from its prefix.
    pub fn of(term: &str) -> Option<TermKind> {
        let (k, _) = term.split_once(':')?;
        TermKind::ALL
            .into_iter()
            .find(|t| &t.prefix()[..t.prefix().len() - 1] == k)
    }

    /// How much a matching term of this kind counts next to BM25's rarity: an exact key
    /// (e-mail, phone, serial, id, date of birth, case number) is whole evidence; a name
    /// trigram is a fragment, and a name yields about seven of them, so one shared rare
    /// key outranks a stranger with the same common name.
    pub fn boost(self) -> f32 {
        use TermKind::*;
        match self {
            Email | EmailLocal | Phone | Serial | SerialFolded | Id | Case => 4.0,
            Dob | PhoneLast7 | Address => 2.0,
            NameWord | NamePhonetic | Nickname | Postcode | FirstLast | LastNickname
            | FirstLastPhonetic | LastInitial => 1.0,
            AddressToken | City => 0.5,
            NameTrigram => 0.35,
            Text => 0.3,
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            TermKind::NameWord => "n:",
            TermKind::NameTrigram => "g:",
            TermKind::NamePhonetic => "ph:",
            TermKind::Nickname => "nk:",
            TermKind::Email => "e:",
            TermKind::EmailLocal => "el:",
            TermKind::Phone => "p:",
            TermKind::PhoneLast7 => "p7:",
            TermKind::Dob => "d:",
            TermKind::Serial => "s:",
            TermKind::SerialFolded => "sf:",
            TermKind::Address => "ad:",
            TermKind::AddressToken => "a:",
            TermKind::City => "c:",
            TermKind::Postcode => "pc:",
            TermKind::Id => "i:",
            TermKind::Case => "k:",
            TermKind::Text => "x:",
            TermKind::FirstLast => "nf:",
            TermKind::FirstLastPhonetic => "np:",
            TermKind::LastNickname => "nn:",
            TermKind::LastInitial => "ni:",
        }
    }
}

/// A term of the index: the kind's prefix and the value.
pub fn term(kind: TermKind, value: &str) -> String {
    let prefix = kind.prefix();
    let mut t = String::with_capacity(prefix.len() + value.len());
    t.push_str(prefix);
    t.push_str(value);
    t
}

/// The boost of a term by its kind ([`TermKind::boost`]).
pub fn term_boost(term: &str) -> f32 {
    TermKind::of(term).map_or(0.3, TermKind::boost)
}

/// Character trigrams of a word padded with `_` at both ends ("_sm", "smi", …, "th_").
pub fn trigrams(word: &str, kind: TermKind, out: &mut Vec<String>) {
    let mut padded = String::with_capacity(word.len() + 2);
    padded.push('_');
    padded.push_str(word);
    padded.push('_');
    // Byte offsets of each char and of the end: a trigram spans four of them.
    let bounds: Vec<usize> = padded
        .char_indices()
        .map(|(i, _)| i)
        .chain([padded.len()])
        .collect();
    out.extend(bounds.windows(4).map(|w| term(kind, &padded[w[0]..w[3]])));
}

/// A built index, ready for searching from many threads.
pub struct TermIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// The directory of an index built in RAM (not one opened from disk), for
    /// [`TermIndex::persist`].
    ram: Option<RamDirectory>,
    /// The folder of an index built or opened on disk.
    dir: Option<std::path::PathBuf>,
}

/// Where an index is built: in RAM, or in a folder of its own (a run's work folder,
/// which becomes the output's `index/`): at ten million profiles the index is ~1 GB,
/// and on disk its pages are read as searches need them instead of being held.
#[derive(Clone, Debug)]
pub enum BuildIn {
    Ram,
    Dir(std::path::PathBuf),
}

impl BuildIn {
    /// An empty index of this schema, where it is to be built.
    fn create(&self) -> Result<(Index, Option<RamDirectory>)> {
        let (schema, _) = schema();
        match self {
            BuildIn::Ram => {
                let ram = RamDirectory::create();
                let index = Index::create(ram.clone(), schema, IndexSettings::default())?;
                Ok((index, Some(ram)))
            }
            BuildIn::Dir(dir) => {
                let index = Index::create(open_dir(dir)?, schema, IndexSettings::default())?;
                Ok((index, None))
            }
        }
    }

    fn dir(&self) -> Option<std::path::PathBuf> {
        match self {
            BuildIn::Ram => None,
            BuildIn::Dir(d) => Some(d.clone()),
        }
    }
}

/// Creates `dir` (owner only) and opens it as a tantivy directory.
fn open_dir(dir: &Path) -> Result<MmapDirectory> {
    crate::outdir::create_private_dir(dir)?;
    MmapDirectory::open(dir)
        .map_err(|e| crate::Error::io(dir, std::io::Error::other(e.to_string())))
}

impl TermIndex {
    /// Builds an index over `n` units, unit `i` having ordinal `i` and the terms
    /// `terms_of(i, buffer)` appends, in RAM ([`TermIndex::persist`] saves it) or in a
    /// folder. Terms are made in parallel, a batch at a time, while tantivy's single
    /// writer thread indexes the previous batch: one writer thread keeps DocIds in
    /// insertion order and builds reproducible.
    pub fn build(
        n: usize,
        into: &BuildIn,
        terms_of: impl Fn(usize, &mut Vec<String>) + Sync,
        progress: impl FnMut(u64),
    ) -> Result<TermIndex> {
        let (index, ram) = into.create()?;
        let units: Vec<u32> = (0..n as u32).collect();
        Self::add_and_open(index, ram, into.dir(), 0, &units, terms_of, progress, true)
    }

    /// Copies the index [`TermIndex::persist`] saved in `dir` (never written to) into
    /// RAM or a folder and writes `units` (sorted; an incremental run's new profiles,
    /// and old ones whose records changed, whose saved documents are deleted) as one
    /// more segment: the saved documents keep their DocIds and ordinals, so the result
    /// is the same whatever the thread count. The saved index must hold units
    /// `0..first`.
    pub fn extend_saved(
        dir: &Path,
        into: &BuildIn,
        first: usize,
        units: &[u32],
        terms_of: impl Fn(usize, &mut Vec<String>) + Sync,
        progress: impl FnMut(u64),
    ) -> Result<TermIndex> {
        let saved = Index::open_in_dir(dir).map_err(|e| {
            crate::Error::input(
                dir,
                format!(
                    "cannot open the saved index ({e}); run without --incremental to start afresh"
                ),
            )
        })?;
        let mut files: Vec<std::path::PathBuf> = saved
            .load_metas()?
            .list_segment_files()
            .into_iter()
            .collect();
        files.sort();
        files.push("meta.json".into());
        drop(saved);
        let ram = match into {
            BuildIn::Ram => Some(RamDirectory::create()),
            BuildIn::Dir(to) => {
                crate::outdir::create_private_dir(to)?;
                None
            }
        };
        for f in &files {
            let path = dir.join(f);
            let copied = match (&ram, into) {
                (Some(ram), _) => std::fs::read(&path).and_then(|bytes| {
                    tantivy::Directory::atomic_write(ram, f, &bytes).map_err(std::io::Error::other)
                }),
                // Segment files are never written again once made (the index library
                // adds files and deletes its own): last night's are linked, not copied
                // (~110 MB at 1M profiles). meta.json is rewritten by the library: a copy.
                (None, BuildIn::Dir(to)) if f.as_os_str() != "meta.json" => {
                    crate::outdir::link_or_copy(&path, &to.join(f))
                }
                (None, BuildIn::Dir(to)) => std::fs::copy(&path, to.join(f)).map(|_| ()),
                (None, BuildIn::Ram) => unreachable!("RAM has a directory"),
            };
            match copied {
                Ok(()) => {}
                // A component this schema does not write (positions).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(crate::Error::io(&path, e)),
            }
        }
        let damaged = |e: tantivy::TantivyError| {
            crate::Error::input(
                dir,
                format!(
                    "the saved index is damaged ({e}); run without --incremental to start afresh"
                ),
            )
        };
        let index = match (&ram, into) {
            (Some(ram), _) => Index::open(ram.clone()).map_err(damaged)?,
            (None, BuildIn::Dir(to)) => Index::open(open_dir(to)?).map_err(damaged)?,
            (None, BuildIn::Ram) => unreachable!("RAM has a directory"),
        };
        let held = index.reader().map_err(damaged)?.searcher().num_docs() as usize;
        if held != first {
            return Err(crate::Error::input(
                dir,
                format!("the saved index holds {held} profiles, its state {first}: damaged (run without --incremental)"),
            ));
        }
        Self::add_and_open(
            index,
            ram,
            into.dir(),
            first,
            units,
            terms_of,
            progress,
            false,
        )
    }

    /// Adds `units` to `index` with one writer thread, replacing the documents of those
    /// below `first`, and opens it for search; `merge` makes one segment of all (a fresh
    /// build).
    #[allow(clippy::too_many_arguments)]
    fn add_and_open(
        index: Index,
        ram: Option<RamDirectory>,
        dir: Option<std::path::PathBuf>,
        first: usize,
        units: &[u32],
        terms_of: impl Fn(usize, &mut Vec<String>) + Sync,
        mut progress: impl FnMut(u64),
        merge: bool,
    ) -> Result<TermIndex> {
        let fields = Fields {
            terms: index.schema().get_field("terms")?,
            ord: index.schema().get_field("ord")?,
        };
        let mut writer =
            index.writer_with_num_threads::<TantivyDocument>(1, WRITER_BUDGET_BYTES)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        for &u in units.iter().take_while(|&&u| (u as usize) < first) {
            writer.delete_term(Term::from_field_u64(fields.ord, u as u64));
        }
        for chunk in units.chunks(BUILD_BATCH) {
            let docs: Vec<TantivyDocument> = chunk
                .par_iter()
                .map_init(Vec::new, |terms, &i| {
                    let i = i as usize;
                    terms.clear();
                    terms_of(i, terms);
                    let mut doc = TantivyDocument::default();
                    doc.add_u64(fields.ord, i as u64);
                    for t in terms.drain(..) {
                        doc.add_text(fields.terms, t);
                    }
                    doc
                })
                .collect();
            for doc in docs {
                writer.add_document(doc)?;
            }
            progress(chunk.len() as u64);
        }
        writer.commit()?;
        if merge && index.searchable_segment_ids()?.len() > 1 {
            // Queries are fastest over one segment. tantivy lists segments in no fixed
            // order and stacks their documents in the order it is given: in the order of
            // their units, the merged DocIds follow the units, run after run.
            let ids: Vec<_> = segments_in_unit_order(&index.reader()?.searcher())
                .iter()
                .map(|s| s.segment_id())
                .collect();
            writer.merge(&ids).wait()?;
        }
        writer.wait_merging_threads()?;
        if let Some(dir) = &dir {
            // The writer's lock file, left behind when it is released: nothing to keep.
            let _ = std::fs::remove_file(dir.join(".tantivy-writer.lock"));
        }
        let reader = index.reader()?;
        reader.reload()?;
        Ok(TermIndex {
            index,
            reader,
            fields,
            ram,
            dir,
        })
    }

    /// Writes the index into `dir`, where [`TermIndex::open`] finds it (nothing to do
    /// for an index built there).
    pub fn persist(&self, dir: &Path) -> Result<()> {
        if let Some(ram) = &self.ram {
            ram.persist(&open_dir(dir)?)?;
        } else if let Some(from) = self.dir.as_deref().filter(|&from| from != dir) {
            crate::outdir::create_private_dir(dir)?;
            for e in std::fs::read_dir(from).map_err(|e| crate::Error::io(from, e))? {
                let e = e.map_err(|e| crate::Error::io(from, e))?;
                if e.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::copy(e.path(), dir.join(e.file_name()))
                        .map_err(|err| crate::Error::io(e.path(), err))?;
                }
            }
        }
        Ok(())
    }

    /// Opens an index persisted by [`TermIndex::build`].
    pub fn open(dir: &Path) -> Result<TermIndex> {
        let index = Index::open_in_dir(dir)?;
        let (_, fields) = schema();
        let fields = Fields {
            terms: index.schema().get_field("terms").unwrap_or(fields.terms),
            ord: index.schema().get_field("ord").unwrap_or(fields.ord),
        };
        let reader = index.reader()?;
        Ok(TermIndex {
            index,
            reader,
            fields,
            ram: None,
            dir: Some(dir.to_path_buf()),
        })
    }

    /// A searcher for many queries (candidate search): the document frequencies of
    /// the kinds of term that recur across profiles ([`RECURRING_KINDS`]) are read from
    /// the term dictionaries once, so that sizing a query's terms does not walk the
    /// dictionary for each of them (at ten million profiles, dictionary lookups were a
    /// fifth of the search, most of them for name trigrams and words).
    pub fn searcher_for_many_queries(&self) -> IndexSearcher {
        let mut searcher = self.searcher();
        let mut recurring: rustc_hash::FxHashMap<Box<[u8]>, u64> = Default::default();
        for kind in RECURRING_KINDS {
            let from = kind.prefix().as_bytes();
            let mut to = from.to_vec();
            // The prefix ends with ':'; ';' is the next byte.
            if let Some(last) = to.last_mut() {
                *last += 1;
            }
            for inverted in &searcher.inverted {
                let Ok(mut stream) = inverted.terms().range().ge(from).lt(&to).into_stream() else {
                    // Without the table, every frequency is read from the dictionaries.
                    return searcher;
                };
                while stream.advance() {
                    *recurring.entry(stream.key().into()).or_default() +=
                        u64::from(stream.value().doc_freq);
                }
            }
        }
        searcher.recurring = Some(recurring);
        searcher
    }

    pub fn searcher(&self) -> IndexSearcher {
        let searcher = self.reader.searcher();
        // A tie at the K-th hit goes to the lower DocAddress, which must not depend on
        // the order tantivy lists segments in.
        let segments = segments_in_unit_order(&searcher);
        let ords = segments
            .iter()
            .map(|s| s.fast_fields().u64("ord"))
            .collect::<tantivy::Result<Vec<_>>>()
            .unwrap_or_default();
        let inverted: Vec<_> = segments
            .iter()
            .filter_map(|s| s.inverted_index(self.fields.terms).ok())
            .collect();
        let total_tokens = inverted.iter().map(|i| i.total_num_tokens()).sum();
        let total_docs = searcher.num_docs();
        IndexSearcher {
            searcher,
            segments,
            fields: self.fields,
            ords,
            inverted,
            total_tokens,
            total_docs,
            recurring: None,
        }
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn index(&self) -> &Index {
        &self.index
    }
}

/// The searcher's segments in the order of their units (tantivy's own order is not
/// fixed: it keeps segments in a hash map).
fn segments_in_unit_order(searcher: &Searcher) -> Vec<SegmentReader> {
    let mut segments = searcher.segment_readers().to_vec();
    segments.sort_by_cached_key(segment_order_key);
    segments
}

/// Where a segment goes among the others: the unit of its first live document (a
/// unit lives in one document at a time, so no two segments with live documents share
/// one; a segment with none goes last).
fn segment_order_key(segment: &SegmentReader) -> u64 {
    let Ok(ords) = segment.fast_fields().u64("ord") else {
        return u64::MAX;
    };
    (0..segment.max_doc())
        .find(|&d| segment.alive_bitset().is_none_or(|alive| alive.is_alive(d)))
        .and_then(|d| ords.first(d))
        .unwrap_or(u64::MAX)
}

/// A searcher shared by all threads (tantivy's `Searcher` is `Send + Sync`).
pub struct IndexSearcher {
    searcher: Searcher,
    /// The searcher's segments in the order of their units ([`segment_order_key`]);
    /// `ords` and `inverted` follow it.
    segments: Vec<SegmentReader>,
    fields: Fields,
    ords: Vec<tantivy::columnar::Column<u64>>,
    /// The terms field of each segment, held once: `Searcher::doc_freq` fetches it behind
    /// a lock for every call, a visible share of candidate search.
    inverted: Vec<std::sync::Arc<tantivy::InvertedIndexReader>>,
    total_tokens: u64,
    total_docs: u64,
    /// The document frequency of every term of [`RECURRING_KINDS`], when read ahead
    /// ([`TermIndex::searcher_for_many_queries`]).
    recurring: Option<rustc_hash::FxHashMap<Box<[u8]>, u64>>,
}

/// Kinds of term whose values recur across many profiles and are few (name words,
/// their trigrams and sounds, nickname groups, address words, cities, postcodes): a
/// table of their document frequencies is small, and they are most of a query's terms.
const RECURRING_KINDS: [TermKind; 7] = [
    TermKind::NameWord,
    TermKind::NameTrigram,
    TermKind::NamePhonetic,
    TermKind::Nickname,
    TermKind::AddressToken,
    TermKind::City,
    TermKind::Postcode,
];

/// BM25 statistics for one query whose document frequencies are already known: tantivy
/// would otherwise look every term up in the term dictionary a second time.
struct KnownStatistics<'a> {
    searcher: &'a IndexSearcher,
    doc_freqs: &'a [(u64, &'a String)],
}

impl tantivy::query::Bm25StatisticsProvider for KnownStatistics<'_> {
    fn total_num_tokens(&self, _field: Field) -> tantivy::Result<u64> {
        Ok(self.searcher.total_tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.searcher.total_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let value = term.value();
        let text = value.as_str().unwrap_or("");
        Ok(
            match self.doc_freqs.iter().find(|(_, t)| t.as_str() == text) {
                Some(&(df, _)) => df,
                None => self.searcher.doc_freq(text),
            },
        )
    }
}

/// One search hit: the unit's ordinal and its BM25 score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub ord: u64,
    pub score: f32,
}

impl IndexSearcher {
    /// Number of units holding a term.
    pub fn doc_freq(&self, term: &str) -> u64 {
        if let Some(recurring) = &self.recurring {
            if RECURRING_KINDS.iter().any(|k| term.starts_with(k.prefix())) {
                return recurring.get(term.as_bytes()).copied().unwrap_or(0);
            }
        }
        self.inverted
            .iter()
            .filter_map(|i| i.terms().get(term.as_bytes()).ok().flatten())
            .map(|info| u64::from(info.doc_freq))
            .sum()
    }

    /// OR-query over exact `terms` plus terms matched within one edit (`fuzzy`), for
    /// `lookup`: a serial read out with a typo still finds its owner.
    pub fn search_fuzzy(&self, terms: &[String], fuzzy: &[String], k: usize) -> Vec<Hit> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for t in terms {
            let term = TermQuery::new(
                Term::from_field_text(self.fields.terms, t),
                IndexRecordOption::WithFreqs,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(term), term_boost(t))),
            ));
        }
        for t in fuzzy {
            let term = FuzzyTermQuery::new(Term::from_field_text(self.fields.terms, t), 1, true);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(term), term_boost(t))),
            ));
        }
        self.run(clauses, k, &[])
    }

    fn run(
        &self,
        clauses: Vec<(Occur, Box<dyn Query>)>,
        k: usize,
        doc_freqs: &[(u64, &String)],
    ) -> Vec<Hit> {
        if clauses.is_empty() || k == 0 {
            return Vec::new();
        }
        let query = BooleanQuery::new(clauses);
        let statistics = KnownStatistics {
            searcher: self,
            doc_freqs,
        };
        let Ok(top) = self.top_docs(&query, k, &statistics) else {
            return Vec::new();
        };
        let mut hits: Vec<Hit> = top
            .into_iter()
            .filter_map(|(score, addr)| {
                let ord = self
                    .ords
                    .get(addr.segment_ord as usize)?
                    .first(addr.doc_id)?;
                Some(Hit { ord, score })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.ord.cmp(&b.ord)));
        hits
    }

    /// tantivy's `Searcher::search_with_statistics_provider` over the segments in
    /// their fixed order (its own takes them in the order it lists them).
    fn top_docs(
        &self,
        query: &dyn Query,
        k: usize,
        statistics: &dyn tantivy::query::Bm25StatisticsProvider,
    ) -> tantivy::Result<Vec<(f32, tantivy::DocAddress)>> {
        let collector = TopDocs::with_limit(k).order_by_score();
        let scoring = EnableScoring::enabled_from_statistics_provider(statistics, &self.searcher);
        let weight = query.weight(scoring)?;
        let fruits = self
            .segments
            .iter()
            .enumerate()
            .map(|(ord, segment)| collector.collect_segment(weight.as_ref(), ord as u32, segment))
            .collect::<tantivy::Result<Vec<_>>>()?;
        collector.merge_fruits(fruits)
    }

    /// OR-query over the terms of a unit that is itself in the index: terms only it holds
    /// are skipped, so are terms held by more than `max_doc_freq` units unless among the
    /// `keep_rarest` rarest, and at most `max_terms` (the rarest) are used; top `k` hits,
    /// ties broken by ordinal.
    pub fn search(
        &self,
        terms: &[String],
        k: usize,
        max_doc_freq: u64,
        keep_rarest: usize,
        max_terms: usize,
    ) -> Vec<Hit> {
        let mut with_df: Vec<(u64, &String)> = terms
            .iter()
            .map(|t| (self.doc_freq(t), t))
            .filter(|(df, _)| *df > 1)
            .collect();
        with_df.sort_unstable();
        with_df.dedup();
        let clauses: Vec<(Occur, Box<dyn Query>)> = with_df
            .iter()
            .enumerate()
            .filter(|(i, (df, _))| *df <= max_doc_freq || *i < keep_rarest)
            .take(max_terms)
            .map(|(_, (_, t))| {
                let term = TermQuery::new(
                    Term::from_field_text(self.fields.terms, t),
                    IndexRecordOption::WithFreqs,
                );
                let q: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), term_boost(t)));
                (Occur::Should, q)
            })
            .collect();
        self.run(clauses, k, &with_df)
    }
}

/// The candidate search shares one searcher across rayon threads.
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<IndexSearcher>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_at_the_kth_hit_go_to_the_lowest_units_whatever_the_order_tantivy_lists_segments_in() {
        // Seven segments of four units each (a build, then six incremental nights), all
        // with the same terms: every hit ties. tantivy lists segments in no fixed order
        // (a hash map's); the top three must be units 0, 1, 2 every time.
        let root = tempfile::tempdir().unwrap();
        let terms_of = |_: usize, out: &mut Vec<String>| {
            out.extend(["n:smith".to_string(), "c:springfield".to_string()])
        };
        let mut dir = root.path().join("0");
        TermIndex::build(4, &BuildIn::Dir(dir.clone()), terms_of, |_| {}).unwrap();
        for night in 1..7u32 {
            let next = root.path().join(night.to_string());
            let units: Vec<u32> = (night * 4..night * 4 + 4).collect();
            let index = TermIndex::extend_saved(
                &dir,
                &BuildIn::Dir(next.clone()),
                (night * 4) as usize,
                &units,
                terms_of,
                |_| {},
            )
            .unwrap();
            drop(index);
            dir = next;
        }
        let index = TermIndex::open(&dir).unwrap();
        assert_eq!(index.index().searchable_segment_ids().unwrap().len(), 7);
        let hits = index
            .searcher()
            .search(&["n:smith".to_string()], 3, 1000, 4, 16);
        let ords: Vec<u64> = hits.iter().map(|h| h.ord).collect();
        assert_eq!(ords, [0, 1, 2]);
    }

    #[test]
    fn document_frequencies_read_ahead_are_the_dictionaries_own() {
        // Two segments (a build and one night), terms of recurring kinds and others.
        let root = tempfile::tempdir().unwrap();
        let docs: [&[&str]; 6] = [
            &[
                "g:_sm",
                "g:smi",
                "n:smith",
                "nf:smith|bob",
                "c:springfield",
                "p:+15551234567",
            ],
            &["g:_sm", "n:smith", "nk:robert", "a:elm", "pc:62704"],
            &[
                "g:_sm",
                "n:smyth",
                "ph:SM0",
                "c:springfield",
                "e:bob@example.com",
            ],
            &[
                "g:_jo",
                "n:jones",
                "nk:robert",
                "a:elm",
                "pc:62704",
                "nn:jones|robert",
            ],
            &["g:_sm", "n:smith", "c:shelbyville", "pc:62704"],
            &["n:smith", "ph:SM0", "a:oak"],
        ];
        let terms_of =
            |i: usize, out: &mut Vec<String>| out.extend(docs[i].iter().map(|t| t.to_string()));
        let first = root.path().join("0");
        TermIndex::build(4, &BuildIn::Dir(first.clone()), terms_of, |_| {}).unwrap();
        let index = TermIndex::extend_saved(
            &first,
            &BuildIn::Dir(root.path().join("1")),
            4,
            &[4, 5],
            terms_of,
            |_| {},
        )
        .unwrap();
        let (plain, ahead) = (index.searcher(), index.searcher_for_many_queries());
        assert!(ahead.recurring.as_ref().is_some_and(|r| r.len() > 10));
        let mut asked: Vec<&str> = docs.iter().flat_map(|d| d.iter().copied()).collect();
        asked.extend([
            "g:zzz",
            "n:nobody",
            "c:",
            "n",
            "nf:nobody",
            "c:springfield2",
        ]);
        for term in asked {
            assert_eq!(ahead.doc_freq(term), plain.doc_freq(term), "{term}");
        }
        assert_eq!(ahead.doc_freq("n:smith"), 4);
        assert_eq!(ahead.doc_freq("g:_sm"), 4);
    }

    #[test]
    fn every_term_kind_has_its_own_prefix_and_is_found_again() {
        for k in TermKind::ALL {
            assert_eq!(TermKind::of(&term(k, "x")), Some(k));
            assert!(k.prefix().ends_with(':'));
        }
    }

    #[test]
    fn trigrams_are_padded_and_whole_characters() {
        let mut out = Vec::new();
        trigrams("smith", TermKind::NameTrigram, &mut out);
        assert_eq!(out, ["g:_sm", "g:smi", "g:mit", "g:ith", "g:th_"]);
        out.clear();
        trigrams("zoë", TermKind::NameTrigram, &mut out);
        assert_eq!(out, ["g:_zo", "g:zoë", "g:oë_"]);
        out.clear();
        trigrams("a", TermKind::NameTrigram, &mut out);
        assert_eq!(out, ["g:_a_"]);
    }

    #[test]
    fn name_pair_terms_meet_across_order_nickname_and_initial() {
        use crate::normalize::parse_full_name;
        let terms = |raw: &str| {
            let mut out = Vec::new();
            name_pair_terms(&parse_full_name(raw).unwrap(), &mut out);
            out
        };
        let shared = |a: &str, b: &str| {
            let (x, y) = (terms(a), terms(b));
            x.into_iter().filter(|t| y.contains(t)).collect::<Vec<_>>()
        };
        assert!(shared("Nicole Moore", "MOORE, Nicole").contains(&"nf:moore|nicole".to_string()));
        assert!(shared("Bob Smith", "Robert Smith")
            .iter()
            .any(|t| t.starts_with("nn:")));
        assert_eq!(shared("R Brown", "Robert Brown"), ["ni:brown|r"]);
        assert!(shared("Nicole Moore", "Nicole Adams").is_empty());
    }
}
