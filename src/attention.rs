//! The attention list (`attention.csv`): customers who need a call back, found by rules
//! over their linked records once every record has its customer. A source says what kind
//! of system it is (`kind = "support"`, `"warranty"`, ...); the rules count support
//! cases and warranty claims by it:
//!
//! - `repeat_support`: `support_cases` support cases (default 3) within
//!   `support_window_days` (30) — the caller who keeps explaining the same thing;
//! - `repeat_claims`: `claims_per_serial` warranty claims (2) on one serial, or one claim
//!   and that many support cases naming the serial on or after the claim — the device
//!   that keeps failing;
//! - `loyal_at_risk`: a customer in `loyal_systems` systems (3) with
//!   `loyal_support_cases` support cases (2) in the last `loyal_window_days` (60) before
//!   `as_of` (default: the newest event date of the run) — the customer who may leave.
//!
//! Rows are ordered worst first: customers with more reasons, then more flagged cases,
//! then the latest contact, then golden ID. The same input gives the same list.

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::config::{AttentionConfig, SystemKind};
use crate::record::{Dataset, Record, RecordOrd};

/// Why a customer is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    RepeatSupport,
    RepeatClaims,
    LoyalAtRisk,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RepeatSupport => "repeat_support",
            Reason::RepeatClaims => "repeat_claims",
            Reason::LoyalAtRisk => "loyal_at_risk",
        }
    }
}

/// One row of `attention.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Flag {
    pub golden_id: String,
    pub reason: Reason,
    /// Cases (records) the rule counted.
    pub cases: u32,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    /// What the rule saw, in words, with the case numbers.
    pub detail: String,
}

/// Header of `attention.csv`.
pub const HEADER: [&str; 6] = [
    "golden_id",
    "reason",
    "cases",
    "first_date",
    "last_date",
    "detail",
];

impl Flag {
    pub fn row(&self) -> [String; 6] {
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        [
            self.golden_id.clone(),
            self.reason.as_str().to_string(),
            self.cases.to_string(),
            date(self.first_date),
            date(self.last_date),
            self.detail.clone(),
        ]
    }
}

impl std::str::FromStr for Reason {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Reason, ()> {
        [
            Reason::RepeatSupport,
            Reason::RepeatClaims,
            Reason::LoyalAtRisk,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(())
    }
}

/// Reads a run's attention list from its folder — `attention.csv`, or the `.parquet` or
/// `.jsonl` of `--output-format` (none: an empty list, as for runs before the list).
pub fn read(out: &std::path::Path) -> crate::error::Result<Vec<Flag>> {
    use crate::error::Error;
    let Some(path) = crate::tables::find(out, "attention") else {
        return Ok(Vec::new());
    };
    let (header, rows) = crate::tables::read(&path)?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::input(&path, format!("column `{name}` not found")))
    };
    let cols = HEADER.map(col);
    let mut idx = [0usize; 6];
    for (i, c) in cols.into_iter().enumerate() {
        idx[i] = c?;
    }
    let mut flags = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let line = i + 2;
        let bad = |what: &str| Error::input(&path, format!("row {line}: {what}"));
        let f = |k: usize| row.get(idx[k]).map_or("", String::as_str);
        let date = |k: usize| -> crate::error::Result<Option<NaiveDate>> {
            match f(k) {
                "" => Ok(None),
                d => d
                    .parse()
                    .map(Some)
                    .map_err(|_| bad(&format!("{d:?} is not a date"))),
            }
        };
        flags.push(Flag {
            golden_id: f(0).to_string(),
            reason: f(1)
                .parse()
                .map_err(|_| bad(&format!("{:?} is not a reason", f(1))))?,
            cases: f(2)
                .parse()
                .map_err(|_| bad(&format!("{:?} is not a count", f(2))))?,
            first_date: date(3)?,
            last_date: date(4)?,
            detail: f(5).to_string(),
        });
    }
    Ok(flags)
}

/// The day the windows end: the configured `as_of`, or the newest event date.
pub fn as_of(data: &Dataset, config: &AttentionConfig) -> Option<NaiveDate> {
    config
        .as_of
        .or_else(|| data.records.iter().filter_map(|r| r.date).max())
}

/// The attention list of a run: `customers[c]` holds customer `c`'s records and
/// `ids[c]` its golden ID; `kinds[s]` is the kind of source `s`.
pub fn flags(
    data: &Dataset,
    customers: &[Vec<RecordOrd>],
    ids: &[String],
    kinds: &[SystemKind],
    config: &AttentionConfig,
) -> Vec<Flag> {
    if !kinds
        .iter()
        .any(|k| matches!(k, SystemKind::Support | SystemKind::Warranty))
    {
        return Vec::new();
    }
    let as_of = as_of(data, config);
    let mut per_customer: Vec<Vec<Flag>> = customers
        .par_iter()
        .zip(ids)
        .map(|(recs, id)| customer_flags(data, recs, id, kinds, config, as_of))
        .filter(|f| !f.is_empty())
        .collect();
    // Worst first: more reasons, more cases, the latest contact; then golden ID.
    per_customer.sort_by(|a, b| {
        let key = |f: &Vec<Flag>| {
            (
                f.len(),
                f.iter().map(|x| x.cases).sum::<u32>(),
                f.iter().filter_map(|x| x.last_date).max(),
            )
        };
        key(b)
            .cmp(&key(a))
            .then(a[0].golden_id.cmp(&b[0].golden_id))
    });
    per_customer.into_iter().flatten().collect()
}

/// The case number a record is known by: its record id when that is one of its case
/// numbers (a claim that cites a ticket is known by the claim), else its first one.
fn case_of<'a>(r: &'a Case) -> &'a str {
    let cases = &r.details.cases;
    if cases.contains(&r.record_id) {
        return &r.record_id;
    }
    cases.first().map_or(r.record_id.as_str(), |c| c.as_str())
}

/// A record with its details, as the rules read it.
struct Case<'a> {
    record: &'a Record,
    details: crate::record::Details,
}

impl std::ops::Deref for Case<'_> {
    type Target = Record;
    fn deref(&self) -> &Record {
        self.record
    }
}

/// "T-1, T-2, T-3" (at most five, then "and N more").
fn listed<'a>(cases: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = cases.collect();
    let mut s = all.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if all.len() > 5 {
        s.push_str(&format!(" and {} more", all.len() - 5));
    }
    s
}

fn customer_flags(
    data: &Dataset,
    recs: &[RecordOrd],
    id: &str,
    kinds: &[SystemKind],
    config: &AttentionConfig,
    as_of: Option<NaiveDate>,
) -> Vec<Flag> {
    let kind = |r: &Case| kinds.get(r.source as usize).copied().unwrap_or_default();
    // The rules read the details of support cases and warranty claims only.
    let all: Vec<Case> = recs
        .iter()
        .map(|&r| {
            let record = &data.records[r as usize];
            let read = matches!(
                kinds
                    .get(record.source as usize)
                    .copied()
                    .unwrap_or_default(),
                SystemKind::Support | SystemKind::Warranty
            );
            Case {
                record,
                details: if read {
                    data.details.get(r)
                } else {
                    crate::record::Details::default()
                },
            }
        })
        .collect();
    let records: Vec<&Case> = all.iter().collect();
    // Support cases in date order (undated ones count for serials, not for windows).
    let mut support: Vec<&Case> = records
        .iter()
        .copied()
        .filter(|r| kind(r) == SystemKind::Support)
        .collect();
    support.sort_by(|a, b| (a.date, case_of(a)).cmp(&(b.date, case_of(b))));
    let dated: Vec<&Case> = support
        .iter()
        .copied()
        .filter(|r| r.date.is_some())
        .collect();
    let mut out = Vec::new();
    let flag = |reason, cases: &[&Case], detail: String| Flag {
        golden_id: id.to_string(),
        reason,
        cases: cases.len() as u32,
        first_date: cases.iter().filter_map(|r| r.date).min(),
        last_date: cases.iter().filter_map(|r| r.date).max(),
        detail,
    };

    // repeat_support: the window of `support_window_days` with the most cases (the
    // latest such window on a tie).
    let window = i64::from(config.support_window_days);
    let (mut best, mut i) = ((0usize, 0usize), 0usize);
    for j in 0..dated.len() {
        let day = |r: &Case| r.date.unwrap_or_default();
        while (day(dated[j]) - day(dated[i])).num_days() >= window {
            i += 1;
        }
        if j + 1 - i >= best.1 - best.0 {
            best = (i, j + 1);
        }
    }
    let in_window = &dated[best.0..best.1];
    if in_window.len() >= config.support_cases as usize {
        let span = (in_window[in_window.len() - 1].date.unwrap_or_default()
            - in_window[0].date.unwrap_or_default())
        .num_days();
        out.push(flag(
            Reason::RepeatSupport,
            in_window,
            format!(
                "{} support cases in {} days: {}",
                in_window.len(),
                span + 1,
                listed(in_window.iter().map(|r| case_of(r)))
            ),
        ));
    }

    // repeat_claims: claims and support cases by serial (confusable characters folded).
    let mut by_serial: std::collections::BTreeMap<String, (Vec<&Case>, Vec<&Case>, &str)> =
        Default::default();
    for r in &records {
        let k = kind(r);
        if !matches!(k, SystemKind::Warranty | SystemKind::Support) {
            continue;
        }
        let mut seen: Vec<String> = Vec::new();
        for s in &r.details.display.serials {
            let Some(key) = crate::normalize::normalize_serial(&s.key).map(|s| s.folded) else {
                continue;
            };
            if seen.iter().any(|x| x == key.as_str()) {
                continue;
            }
            seen.push(key.to_string());
            let e = by_serial
                .entry(key.to_string())
                .or_insert_with(|| (Vec::new(), Vec::new(), s.raw.as_str()));
            if k == SystemKind::Warranty {
                e.0.push(r);
            } else {
                e.1.push(r);
            }
        }
    }
    // Support cases count on a claimed serial from the first claim on: the device came
    // back after the claim.
    let need = config.claims_per_serial as usize;
    for (claims, support, _) in by_serial.values_mut() {
        let first_claim = claims.iter().filter_map(|r| r.date).min();
        support.retain(|r| match (r.date, first_claim) {
            (Some(d), Some(c)) => d >= c,
            _ => true,
        });
    }
    let worst = by_serial
        .values()
        .filter(|(claims, support, _)| {
            claims.len() >= need || (!claims.is_empty() && support.len() >= need)
        })
        .max_by_key(|(claims, support, _)| (claims.len() + support.len(), claims.len()));
    if let Some((claims, support, serial)) = worst {
        let mut cases: Vec<&Case> = claims.iter().chain(support.iter()).copied().collect();
        cases.sort_by(|a, b| (a.date, case_of(a)).cmp(&(b.date, case_of(b))));
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let what = if support.is_empty() {
            plural(claims.len(), "warranty claim")
        } else {
            format!(
                "{} and {}",
                plural(claims.len(), "warranty claim"),
                plural(support.len(), "support case")
            )
        };
        out.push(flag(
            Reason::RepeatClaims,
            &cases,
            format!(
                "{what} on serial {serial}: {}",
                listed(cases.iter().map(|r| case_of(r)))
            ),
        ));
    }

    // loyal_at_risk: in many systems, and calling support lately.
    let mut systems: Vec<u16> = records.iter().map(|r| r.source).collect();
    systems.sort_unstable();
    systems.dedup();
    if let Some(end) = as_of.filter(|_| systems.len() >= config.loyal_systems as usize) {
        let since = end - chrono::Duration::days(i64::from(config.loyal_window_days));
        let recent: Vec<&Case> = dated
            .iter()
            .copied()
            .filter(|r| r.date.is_some_and(|d| d > since && d <= end))
            .collect();
        if recent.len() >= config.loyal_support_cases as usize {
            out.push(flag(
                Reason::LoyalAtRisk,
                &recent,
                format!(
                    "in {} systems ({}); {} support cases in the {} days to {end}: {}",
                    systems.len(),
                    systems
                        .iter()
                        .map(|&s| data.sources[s as usize].as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    recent.len(),
                    config.loyal_window_days,
                    listed(recent.iter().map(|r| case_of(r)))
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Details, Record, Shown};

    fn rec(source: u16, id: &str, date: &str, serial: Option<&str>) -> (Record, Details) {
        let mut r = Record::bare(source, 2, id, 0);
        r.date = Some(date.parse().unwrap());
        let mut d = Details {
            cases: vec![id.into()],
            ..Default::default()
        };
        if let Some(s) = serial {
            d.display.serials.push(Shown {
                raw: s.into(),
                key: s.into(),
            });
        }
        (r, d)
    }

    fn data(records: Vec<(Record, Details)>) -> Dataset {
        let mut data = Dataset {
            sources: vec!["support".into(), "warranty".into(), "shop".into()],
            ..Default::default()
        };
        for (r, d) in records {
            data.records.push(r);
            data.details.push(&d);
        }
        data
    }

    const KINDS: [SystemKind; 3] = [SystemKind::Support, SystemKind::Warranty, SystemKind::Shop];

    #[test]
    fn three_support_cases_within_thirty_days_flag_a_customer() {
        let d = data(vec![
            rec(0, "T-1", "2024-03-01", None),
            rec(0, "T-2", "2024-03-15", None),
            rec(0, "T-3", "2024-03-29", None),
            rec(0, "T-4", "2024-09-01", None),
        ]);
        let f = flags(
            &d,
            &[vec![0, 1, 2, 3]],
            &["G1".into()],
            &KINDS,
            &AttentionConfig::default(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reason, Reason::RepeatSupport);
        assert_eq!(f[0].cases, 3);
        assert_eq!(f[0].first_date, Some("2024-03-01".parse().unwrap()));
        assert_eq!(f[0].detail, "3 support cases in 29 days: T-1, T-2, T-3");
        // Spread over more than the window: no flag.
        let d = data(vec![
            rec(0, "T-1", "2024-03-01", None),
            rec(0, "T-2", "2024-03-20", None),
            rec(0, "T-3", "2024-04-05", None),
        ]);
        let cfg = AttentionConfig::default();
        assert!(flags(&d, &[vec![0, 1, 2]], &["G1".into()], &KINDS, &cfg).is_empty());
    }

    #[test]
    fn claims_on_one_serial_and_loyal_customers_are_flagged_worst_first() {
        let d = data(vec![
            // G1: two claims on one serial (written two ways), in two systems.
            rec(1, "W-1", "2023-01-01", Some("5CD1234XYZ")),
            rec(1, "W-2", "2023-06-01", Some("5CD-1234-XYZ")),
            // G2: in three systems, two recent support cases, one claim on its serial
            // before them, and one support case before the claim.
            rec(0, "T-7", "2024-05-01", Some("ABC123")),
            rec(0, "T-8", "2024-06-01", Some("ABC123")),
            rec(1, "W-9", "2022-01-01", Some("ABC123")),
            rec(0, "T-6", "2021-01-01", Some("ABC123")),
            rec(2, "O-1", "2024-06-20", None),
        ]);
        let f = flags(
            &d,
            &[vec![0, 1], vec![2, 3, 4, 5, 6]],
            &["G1".into(), "G2".into()],
            &KINDS,
            &AttentionConfig::default(),
        );
        let got: Vec<(&str, Reason, u32)> = f
            .iter()
            .map(|f| (f.golden_id.as_str(), f.reason, f.cases))
            .collect();
        assert_eq!(
            got,
            [
                ("G2", Reason::RepeatClaims, 3),
                ("G2", Reason::LoyalAtRisk, 2),
                ("G1", Reason::RepeatClaims, 2),
            ]
        );
        assert_eq!(
            f[0].detail,
            "1 warranty claim and 2 support cases on serial ABC123: W-9, T-7, T-8"
        );
        // Without kinds there is nothing to count.
        let other = [SystemKind::Other; 3];
        let cfg = AttentionConfig::default();
        assert!(flags(&d, &[vec![0, 1]], &["G1".into()], &other, &cfg).is_empty());
    }
}
