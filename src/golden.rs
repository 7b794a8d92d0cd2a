//! Golden records: survivorship over a customer's records — for each field the most
//! frequent normalized value, ties to the most recent record, shown as that record
//! wrote it. IDs are [`crate::identity`]'s.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::record::{Dataset, RecordOrd, Shown};

/// One golden customer record.
#[derive(Debug, Clone, Serialize)]
pub struct GoldenRecord {
    pub golden_id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub serials: Vec<String>,
    pub records: usize,
    pub by_source: Vec<(String, usize)>,
    pub first_seen: Option<NaiveDate>,
    pub last_seen: Option<NaiveDate>,
}

impl GoldenRecord {
    /// The row of `golden.csv` (and of the lookup store's `golden.csv`).
    pub fn row(&self) -> [String; 10] {
        let sources: Vec<String> = self
            .by_source
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        [
            self.golden_id.clone(),
            self.name.clone(),
            self.email.clone(),
            self.phone.clone(),
            self.address.clone(),
            self.serials.join(";"),
            self.records.to_string(),
            sources.join(";"),
            self.first_seen.map(|d| d.to_string()).unwrap_or_default(),
            self.last_seen.map(|d| d.to_string()).unwrap_or_default(),
        ]
    }
}

/// The surviving value: most frequent normalized key, ties to the most recent record,
/// then to the smaller key; shown in the form of its most recent record.
fn survive<'a>(values: impl Iterator<Item = (&'a Shown, Option<NaiveDate>)>) -> Option<String> {
    let mut by_key: BTreeMap<&str, (usize, Option<NaiveDate>, &str)> = BTreeMap::new();
    for (v, date) in values {
        let e = by_key
            .entry(v.key.as_str())
            .or_insert((0, None, v.raw.as_str()));
        e.0 += 1;
        if date >= e.1 {
            e.1 = date;
            e.2 = v.raw.as_str();
        }
    }
    by_key
        .into_iter()
        .max_by(|a, b| (a.1 .0, a.1 .1).cmp(&(b.1 .0, b.1 .1)).then(b.0.cmp(a.0)))
        .map(|(_, (_, _, raw))| raw.to_string())
}

/// Builds the golden record of one customer.
pub fn golden_record(data: &Dataset, id: &str, records: &[RecordOrd]) -> GoldenRecord {
    let recs: Vec<&crate::record::Record> =
        records.iter().map(|&r| &data.records[r as usize]).collect();
    let shown: Vec<crate::record::Display> = records
        .iter()
        .map(|&r| data.details.get(r).display)
        .collect();
    let pick = |f: fn(&crate::record::Display) -> Option<&Shown>| {
        survive(
            recs.iter()
                .zip(&shown)
                .filter_map(|(r, d)| f(d).map(|v| (v, r.date))),
        )
        .unwrap_or_default()
    };
    let mut serials: BTreeMap<&str, &str> = BTreeMap::new();
    for d in &shown {
        for s in &d.serials {
            serials.entry(s.key.as_str()).or_insert(s.raw.as_str());
        }
    }
    let mut by_source: BTreeMap<u16, usize> = BTreeMap::new();
    for r in &recs {
        *by_source.entry(r.source).or_default() += 1;
    }
    GoldenRecord {
        golden_id: id.to_string(),
        name: pick(|d| d.name.as_ref()),
        email: pick(|d| d.email.as_ref()),
        phone: pick(|d| d.phone.as_ref()),
        address: pick(|d| d.address.as_ref()),
        serials: serials.into_values().map(str::to_string).collect(),
        records: recs.len(),
        by_source: by_source
            .into_iter()
            .map(|(s, n)| (data.sources[s as usize].clone(), n))
            .collect(),
        first_seen: recs.iter().filter_map(|r| r.date).min(),
        last_seen: recs.iter().filter_map(|r| r.date).max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(raw: &str, key: &str) -> Shown {
        Shown {
            raw: raw.into(),
            key: key.into(),
        }
    }

    #[test]
    fn survivorship_prefers_frequent_then_recent() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let a = shown("Bob Smith", "bob smith");
        let b = shown("SMITH, Robert", "robert smith");
        let c = shown("Robert Smith", "robert smith");
        let got = survive(
            [
                (&a, d("2024-01-01")),
                (&b, d("2020-01-01")),
                (&c, d("2023-01-01")),
            ]
            .into_iter(),
        );
        assert_eq!(
            got.as_deref(),
            Some("Robert Smith"),
            "two records say robert smith; the newer form wins"
        );
        let got = survive([(&a, d("2024-01-01")), (&b, d("2020-01-01"))].into_iter());
        assert_eq!(
            got.as_deref(),
            Some("Bob Smith"),
            "a tie goes to the most recent"
        );
    }
}
