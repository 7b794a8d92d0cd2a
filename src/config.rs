//! Configuration in two stages: the raw TOML as written ([`RawConfig`]) and the
//! validated [`Config`] the pipeline trusts — paths resolved against the config file,
//! columns checked against each file's header, delimiters sniffed, defaults filled.
//! Validation runs before any work and reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::export;

/// What a column means. Each kind has its own normalizer and comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKind {
    FirstName,
    LastName,
    FullName,
    Email,
    Phone,
    Serial,
    Address,
    City,
    Postcode,
    Dob,
    Date,
    Case,
    Id,
    Text,
    Country,
    /// Shown on the customer's timeline (`lookup`, the desk): a ticket's subject, an
    /// order's note. Never matched.
    Note,
}

impl FieldKind {
    pub const ALL: [FieldKind; 16] = [
        FieldKind::FirstName,
        FieldKind::LastName,
        FieldKind::FullName,
        FieldKind::Email,
        FieldKind::Phone,
        FieldKind::Serial,
        FieldKind::Address,
        FieldKind::City,
        FieldKind::Postcode,
        FieldKind::Dob,
        FieldKind::Date,
        FieldKind::Case,
        FieldKind::Id,
        FieldKind::Text,
        FieldKind::Country,
        FieldKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::FirstName => "first_name",
            FieldKind::LastName => "last_name",
            FieldKind::FullName => "full_name",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Serial => "serial",
            FieldKind::Address => "address",
            FieldKind::City => "city",
            FieldKind::Postcode => "postcode",
            FieldKind::Dob => "dob",
            FieldKind::Date => "date",
            FieldKind::Case => "case",
            FieldKind::Id => "id",
            FieldKind::Text => "text",
            FieldKind::Country => "country",
            FieldKind::Note => "note",
        }
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldKind {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        FieldKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// The config file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub normalize: RawNormalize,
    #[serde(default, rename = "match")]
    pub matching: RawMatch,
    #[serde(default)]
    pub source: Vec<RawSource>,
    #[serde(default)]
    pub attention: RawAttention,
}

/// `[attention]`: when a customer goes on the attention list (see `attention`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttention {
    pub support_cases: Option<u32>,
    pub support_window_days: Option<u32>,
    pub claims_per_serial: Option<u32>,
    pub loyal_systems: Option<u32>,
    pub loyal_support_cases: Option<u32>,
    pub loyal_window_days: Option<u32>,
    /// The day the windows end (default: the newest event date in the exports).
    pub as_of: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNormalize {
    pub default_region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub threshold: Option<f64>,
    pub candidates: Option<usize>,
    pub u_sample_pairs: Option<usize>,
    pub max_em_iterations: Option<usize>,
    /// A steward's decisions (`overrides.csv`), relative to the config file.
    pub overrides: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Option<String>,
    /// What the system is: `support`, `warranty`, `billing`, `shop` or `other`.
    pub kind: Option<String>,
    pub path: Option<String>,
    pub record_id: Option<String>,
    /// `csv`, `jsonl` or `parquet` (default: from the file's extension).
    pub format: Option<String>,
    pub delimiter: Option<String>,
    /// Phone region of the source (default: `[normalize] default_region`).
    pub region: Option<String>,
    /// `dmy`, `mdy` or `ymd` (default: the region's usual order).
    pub date_order: Option<String>,
    /// Accept short rows, the missing fields empty.
    #[serde(default)]
    pub flexible: bool,
    /// Accept an export with a header and no rows (a quiet night).
    #[serde(default)]
    pub allow_empty: bool,
    /// Share of rejected rows above which the run fails (default 0.5).
    pub max_rejected_share: Option<f64>,
    #[serde(default)]
    pub fields: BTreeMap<String, OneOrMany>,
    /// A second party of the row (a gift's ship-to name and address): these columns are
    /// the buyer's only when the recipient's name is the buyer's.
    #[serde(default)]
    pub recipient: BTreeMap<String, OneOrMany>,
}

/// `phone = "mobile"` or `phone = ["mobile", "home"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn columns(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(c) => vec![c.as_str()],
            OneOrMany::Many(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

/// Match probability above which two records are linked when the model cannot choose
/// (no scored pairs); without `[match] threshold` the model's own best threshold is used,
/// see docs/matching.md.
pub const DEFAULT_THRESHOLD: f64 = 0.97;
/// Default number of candidates searched per distinct record profile; see docs/benchmarks.md.
pub const DEFAULT_CANDIDATES: usize = 20;
/// Random record pairs sampled to estimate `u` probabilities (Splink uses 1e6–1e7).
pub const DEFAULT_U_SAMPLE_PAIRS: usize = 2_000_000;
/// EM iteration cap; EM on these models converges in 10–40 iterations.
pub const DEFAULT_MAX_EM_ITERATIONS: usize = 200;

/// Default share of rejected rows above which a source fails the run.
pub const DEFAULT_MAX_REJECTED_SHARE: f64 = 0.5;
/// Most random pairs for u-estimation: beyond ~1e8 the estimate gains nothing, and the
/// sample is held in memory.
pub const MAX_U_SAMPLE_PAIRS: usize = 100_000_000;

/// What kind of system a source is; the attention list counts support cases and
/// warranty claims by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SystemKind {
    Support,
    Warranty,
    Billing,
    Shop,
    #[default]
    Other,
}

impl SystemKind {
    pub const ALL: [SystemKind; 5] = [
        SystemKind::Support,
        SystemKind::Warranty,
        SystemKind::Billing,
        SystemKind::Shop,
        SystemKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SystemKind::Support => "support",
            SystemKind::Warranty => "warranty",
            SystemKind::Billing => "billing",
            SystemKind::Shop => "shop",
            SystemKind::Other => "other",
        }
    }
}

/// `[attention]`, validated: the rules' thresholds and windows.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionConfig {
    /// Support cases within `support_window_days` that flag a customer (default 3 in 30).
    pub support_cases: u32,
    pub support_window_days: u32,
    /// Warranty claims on one serial that flag it (default 2); one claim and
    /// `claims_per_serial` support cases on the serial flag it too.
    pub claims_per_serial: u32,
    /// A customer in this many systems (default 3) with `loyal_support_cases` support
    /// cases (default 2) in the last `loyal_window_days` (default 60).
    pub loyal_systems: u32,
    pub loyal_support_cases: u32,
    pub loyal_window_days: u32,
    /// The last day of the windows; `None`: the newest event date in the exports.
    pub as_of: Option<chrono::NaiveDate>,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            support_cases: 3,
            support_window_days: 30,
            claims_per_serial: 2,
            loyal_systems: 3,
            loyal_support_cases: 2,
            loyal_window_days: 60,
            as_of: None,
        }
    }
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// `kind = "support" | "warranty" | "billing" | "shop" | "other"` (default other).
    pub kind: SystemKind,
    pub path: PathBuf,
    pub record_id: String,
    pub record_id_column: usize,
    /// The file's format (`format = …`, else its extension).
    pub format: crate::tabular::Format,
    pub delimiter: u8,
    pub header: Vec<String>,
    /// Phone region (ISO 3166 alpha-2, upper case).
    pub region: String,
    pub date_order: crate::normalize::DateOrder,
    pub flexible: bool,
    pub allow_empty: bool,
    pub max_rejected_share: f64,
    /// Field kind → column indexes, in config order.
    pub fields: Vec<(FieldKind, Vec<usize>)>,
    /// `[source.recipient]`: field kind → column indexes of the row's second party.
    pub recipient: Vec<(FieldKind, Vec<usize>)>,
}

/// Field kinds a `[source.recipient]` table may map: who the row concerns and where.
pub const RECIPIENT_KINDS: [FieldKind; 7] = [
    FieldKind::FullName,
    FieldKind::FirstName,
    FieldKind::LastName,
    FieldKind::Address,
    FieldKind::City,
    FieldKind::Postcode,
    FieldKind::Phone,
];

impl SourceConfig {
    pub fn recipient_columns_of(&self, kind: FieldKind) -> &[usize] {
        self.recipient
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[])
    }

    pub fn columns_of(&self, kind: FieldKind) -> &[usize] {
        self.fields
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[])
    }
}

/// Matching settings.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    /// `[match] threshold`; `None`: the model chooses (see `model::chosen_threshold`).
    pub threshold: Option<f64>,
    pub candidates: usize,
    pub u_sample_pairs: usize,
    pub max_em_iterations: usize,
    /// `[match] overrides`: the steward's link/unlink decisions (see `overrides`).
    pub overrides: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub default_region: String,
    pub matching: MatchConfig,
    pub sources: Vec<SourceConfig>,
    pub attention: AttentionConfig,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            problems: vec![format!("cannot read the config file: {e}")],
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            problems: vec![e.to_string().trim_end().to_string()],
        })?;
        Config::validate(raw, path)
    }

    /// Validates a raw config; `path` is the config file (paths are relative to it).
    pub fn validate(raw: RawConfig, path: &Path) -> Result<Config> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();

        let default_region = raw.normalize.default_region.unwrap_or_else(|| "US".into());
        if crate::normalize::phone::parse_region(&default_region).is_none() {
            problems.push(format!(
                "[normalize] default_region = {default_region:?} is not a region code (use two letters, e.g. \"US\", \"GB\", \"AU\")"
            ));
        }
        let m = raw.matching;
        let threshold = m.threshold;
        if let Some(t) = threshold.filter(|t| !(*t > 0.0 && *t < 1.0)) {
            problems.push(format!(
                "[match] threshold = {t} must be a probability strictly between 0 and 1"
            ));
        }
        let candidates = m.candidates.unwrap_or(DEFAULT_CANDIDATES);
        if !(1..=1000).contains(&candidates) {
            problems.push(format!(
                "[match] candidates = {candidates} must be between 1 and 1000"
            ));
        }
        let u_sample_pairs = m.u_sample_pairs.unwrap_or(DEFAULT_U_SAMPLE_PAIRS);
        if !(1000..=MAX_U_SAMPLE_PAIRS).contains(&u_sample_pairs) {
            problems.push(format!(
                "[match] u_sample_pairs = {u_sample_pairs} must be between 1000 and {MAX_U_SAMPLE_PAIRS}"
            ));
        }
        let max_em_iterations = m.max_em_iterations.unwrap_or(DEFAULT_MAX_EM_ITERATIONS);
        if !(1..=100_000).contains(&max_em_iterations) {
            problems.push(format!(
                "[match] max_em_iterations = {max_em_iterations} must be between 1 and 100000"
            ));
        }

        let overrides = m.overrides.as_deref().map(|p| base.join(p));
        if let Some(p) = overrides.as_ref().filter(|p| !p.is_file()) {
            problems.push(format!(
                // The header is `overrides::HEADER` (not imported: overrides reads clusters).
                "[match] overrides = {:?}: not found or not a file ({}); create it with the header `decision,source_a,record_id_a,source_b,record_id_b,note`",
                m.overrides.as_deref().unwrap_or_default(),
                p.display(),
            ));
        }

        let attention = validate_attention(&raw.attention, &mut problems);

        if raw.source.is_empty() {
            problems.push(
                "no [[source]] is configured: add one [[source]] table per CSV export".into(),
            );
        }
        let mut sources = Vec::new();
        let mut seen_names: Vec<String> = Vec::new();
        for (i, s) in raw.source.iter().enumerate() {
            let at = format!("[[source]] #{}", i + 1);
            if let Some(src) = validate_source(
                s,
                &at,
                base,
                &default_region,
                &mut seen_names,
                &mut problems,
            ) {
                sources.push(src);
            }
        }
        // The same file under two names would count every row twice.
        for i in 0..sources.len() {
            for j in 0..i {
                let same = match (
                    std::fs::canonicalize(&sources[i].path),
                    std::fs::canonicalize(&sources[j].path),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                };
                if same {
                    problems.push(format!(
                        "source `{}` and source `{}` read the same file {}; each export must be one source",
                        sources[j].name,
                        sources[i].name,
                        sources[i].path.display()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Config {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            default_region: default_region.to_ascii_uppercase(),
            matching: MatchConfig {
                threshold,
                candidates,
                u_sample_pairs,
                max_em_iterations,
                overrides,
            },
            sources,
            attention,
        })
    }

    /// Field kinds used by at least one source.
    pub fn kinds_in_use(&self) -> Vec<FieldKind> {
        let mut kinds: Vec<FieldKind> = self
            .sources
            .iter()
            .flat_map(|s| s.fields.iter().map(|(k, _)| *k))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

fn validate_source(
    s: &RawSource,
    at: &str,
    base: &Path,
    default_region: &str,
    seen_names: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Option<SourceConfig> {
    let before = problems.len();
    let name = match s.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            problems.push(format!("{at}: `name` is missing"));
            String::new()
        }
    };
    let at = if name.is_empty() {
        at.to_string()
    } else {
        format!("source `{name}`")
    };
    if !name.is_empty() {
        if seen_names.contains(&name) {
            problems.push(format!(
                "{at}: the name is used by another source; source names must be unique"
            ));
        }
        seen_names.push(name.clone());
    }
    let kind = match s.kind.as_deref().map(str::trim) {
        None => SystemKind::Other,
        Some(k) => SystemKind::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(k))
            .unwrap_or_else(|| {
                problems.push(format!(
                    "{at}: kind = {k:?} is not a kind of system{}; kinds are: {}",
                    suggest(k, SystemKind::ALL.iter().map(|x| x.as_str())),
                    SystemKind::ALL.map(|x| x.as_str()).join(", ")
                ));
                SystemKind::Other
            }),
    };
    let delimiter = match s.delimiter.as_deref() {
        None => None,
        Some("\\t") | Some("\t") | Some("tab") => Some(b'\t'),
        Some(d) if d.len() == 1 && d.is_ascii() => Some(d.as_bytes()[0]),
        Some(d) => {
            problems.push(format!(
                "{at}: delimiter = {d:?} must be a single ASCII character (or \"\\t\")"
            ));
            None
        }
    };
    let path = match s.path.as_deref() {
        Some(p) if !p.trim().is_empty() => base.join(p),
        _ => {
            problems.push(format!("{at}: `path` is missing"));
            return None;
        }
    };
    let record_id = s.record_id.clone().unwrap_or_default();
    if record_id.is_empty() {
        problems.push(format!(
            "{at}: `record_id` is missing (the column with each row's own id)"
        ));
    }
    let mut kinds = Vec::new();
    for key in s.fields.keys() {
        match key.parse::<FieldKind>() {
            Ok(k) => kinds.push((k, key)),
            Err(()) => problems.push(format!(
                "{at}: [source.fields] key `{key}` is not a field kind{}; kinds are: {}",
                suggest(key, FieldKind::ALL.iter().map(|k| k.as_str())),
                FieldKind::ALL.map(|k| k.as_str()).join(", ")
            )),
        }
    }
    let mut recipient_kinds = Vec::new();
    for (key, cols) in &s.recipient {
        match key.parse::<FieldKind>() {
            Ok(k) if RECIPIENT_KINDS.contains(&k) => recipient_kinds.push((k, key)),
            _ => problems.push(format!(
                "{at}: [source.recipient] key `{key}` is not a recipient field; recipient fields are: {}",
                RECIPIENT_KINDS.map(|k| k.as_str()).join(", ")
            )),
        }
        if cols.columns().is_empty() {
            problems.push(format!(
                "{at}: recipient.{key} = [] names no column: name at least one, or remove the key"
            ));
        }
    }
    if s.fields.is_empty() {
        problems.push(format!(
            "{at}: [source.fields] is empty: map at least one field kind to a column"
        ));
    }
    for (key, cols) in &s.fields {
        if cols.columns().is_empty() {
            problems.push(format!(
                "{at}: fields.{key} = [] names no column: name at least one, or remove the key"
            ));
        }
    }
    let region = s
        .region
        .as_deref()
        .unwrap_or(default_region)
        .trim()
        .to_ascii_uppercase();
    if crate::normalize::phone::parse_region(&region).is_none() {
        problems.push(format!(
            "{at}: region = {region:?} is not a region code (two letters, e.g. \"GB\", \"DE\", \"US\")"
        ));
    }
    let date_order = match s.date_order.as_deref() {
        None => crate::normalize::DateOrder::of_region(&region),
        Some(o) => crate::normalize::DateOrder::parse(o).unwrap_or_else(|| {
            problems.push(format!(
                "{at}: date_order = {o:?} must be \"dmy\", \"mdy\" or \"ymd\""
            ));
            crate::normalize::DateOrder::of_region(&region)
        }),
    };
    let max_rejected_share = s.max_rejected_share.unwrap_or(DEFAULT_MAX_REJECTED_SHARE);
    if !(0.0..=1.0).contains(&max_rejected_share) {
        problems.push(format!(
            "{at}: max_rejected_share = {max_rejected_share} must be a share between 0 and 1"
        ));
    }
    let format = match s.format.as_deref() {
        None => crate::tabular::Format::of_path(&path),
        Some(f) => crate::tabular::Format::parse(f).unwrap_or_else(|| {
            problems.push(format!(
                "{at}: format = {f:?} is not a format; formats are: {}",
                crate::tabular::Format::ALL.map(|f| f.as_str()).join(", ")
            ));
            crate::tabular::Format::of_path(&path)
        }),
    };
    let read = if format == crate::tabular::Format::Csv {
        export::read_header(&path, delimiter)
    } else {
        crate::tabular::header(&path, format).map(|h| (h, b','))
    };
    let (header, delimiter) = match read {
        Ok(h) => h,
        Err(message) => {
            problems.push(format!("{at}: {}: {message}", path.display()));
            return None;
        }
    };
    // One column holding other delimiters is a file split on the wrong character.
    let wrong_delimiter = if header.len() == 1 {
        export::suggest_delimiter(&header[0], delimiter)
    } else {
        None
    };
    let find = |col: &str, what: &str, problems: &mut Vec<String>| -> Option<usize> {
        let mut hits = header
            .iter()
            .enumerate()
            .filter(|(_, h)| *h == col)
            .map(|(i, _)| i);
        let pos = hits.next();
        if let (Some(first), Some(second)) = (pos, hits.next()) {
            problems.push(format!(
                "{at}: {what} column `{col}` appears more than once in the header of {} (columns {} and {}); rename one so the config can say which",
                path.display(),
                first + 1,
                second + 1
            ));
            return None;
        }
        if pos.is_none() {
            if let Some(d) = wrong_delimiter {
                problems.push(format!(
                    "{at}: {what} column `{col}` not found in {}: the header is one column that holds `{}`; set delimiter = {:?}",
                    path.display(),
                    d as char,
                    (d as char).to_string()
                ));
                return None;
            }
            let shown: Vec<String> = header
                .iter()
                .take(40)
                .map(|h| format!("`{}`", h.chars().take(60).collect::<String>()))
                .collect();
            problems.push(format!(
                "{at}: {what} column `{col}` not found in {}{}; columns: {}{}",
                path.display(),
                suggest(col, header.iter().map(String::as_str)),
                shown.join(", "),
                if header.len() > 40 {
                    format!(" and {} more", header.len() - 40)
                } else {
                    String::new()
                }
            ));
        }
        pos
    };
    let record_id_column = if record_id.is_empty() {
        None
    } else {
        find(&record_id, "record_id", problems)
    };
    let mut fields = Vec::new();
    for (kind, key) in kinds {
        let cols: Vec<usize> = s.fields[key]
            .columns()
            .into_iter()
            .filter_map(|c| find(c, &format!("fields.{key}"), problems))
            .collect();
        fields.push((kind, cols));
    }
    let mut recipient = Vec::new();
    for (kind, key) in recipient_kinds {
        let cols: Vec<usize> = s.recipient[key]
            .columns()
            .into_iter()
            .filter_map(|c| find(c, &format!("recipient.{key}"), problems))
            .collect();
        recipient.push((kind, cols));
    }
    if problems.len() > before {
        return None;
    }
    Some(SourceConfig {
        name,
        kind,
        path,
        record_id,
        record_id_column: record_id_column?,
        format,
        delimiter,
        header,
        region,
        date_order,
        flexible: s.flexible,
        allow_empty: s.allow_empty,
        max_rejected_share,
        fields,
        recipient,
    })
}

fn validate_attention(raw: &RawAttention, problems: &mut Vec<String>) -> AttentionConfig {
    let d = AttentionConfig::default();
    let as_of = raw.as_of.as_deref().and_then(|t| {
        chrono::NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
            .map_err(|_| {
                problems.push(format!(
                    "[attention] as_of = {t:?} must be a date written YYYY-MM-DD"
                ))
            })
            .ok()
    });
    let mut count = |key: &str, value: Option<u32>, default: u32, max: u32| -> u32 {
        let v = value.unwrap_or(default);
        if !(1..=max).contains(&v) {
            problems.push(format!(
                "[attention] {key} = {v} must be between 1 and {max}"
            ));
        }
        v
    };
    AttentionConfig {
        support_cases: count("support_cases", raw.support_cases, d.support_cases, 10_000),
        support_window_days: count(
            "support_window_days",
            raw.support_window_days,
            d.support_window_days,
            36_500,
        ),
        claims_per_serial: count(
            "claims_per_serial",
            raw.claims_per_serial,
            d.claims_per_serial,
            10_000,
        ),
        loyal_systems: count("loyal_systems", raw.loyal_systems, d.loyal_systems, 1_000),
        loyal_support_cases: count(
            "loyal_support_cases",
            raw.loyal_support_cases,
            d.loyal_support_cases,
            10_000,
        ),
        loyal_window_days: count(
            "loyal_window_days",
            raw.loyal_window_days,
            d.loyal_window_days,
            36_500,
        ),
        as_of,
    }
}

/// "; did you mean `X`?" for the closest candidate, if any is close.
fn suggest<'a>(wrong: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let norm = |s: &str| s.to_lowercase().replace([' ', '_', '-'], "");
    let w = norm(wrong);
    candidates
        .filter(|c| c.len() <= 64)
        .map(|c| (strsim::jaro_winkler(&w, &norm(c)), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_kinds_round_trip() {
        for k in FieldKind::ALL {
            assert_eq!(k.as_str().parse::<FieldKind>(), Ok(k));
        }
        assert!("phone_number".parse::<FieldKind>().is_err());
    }

    #[test]
    fn suggestion_names_the_close_column() {
        let cols = ["Phone Number", "Email", "Name"];
        assert_eq!(
            suggest("phone_number", cols.into_iter()),
            " (did you mean `Phone Number`?)"
        );
        assert_eq!(suggest("zzz", cols.into_iter()), "");
    }
}
