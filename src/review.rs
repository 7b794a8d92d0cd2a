//! `review.csv`: the linking decisions most worth a data steward's look, ranked by how
//! likely the run's decision is wrong by its own model. A link the run made at match
//! probability p is wrong with probability 1 − p; two records the run kept apart
//! although the model gave them p (below the threshold, or refused by a guard) belong
//! together with probability p. Links the run did not need (two profiles already joined
//! through others) are not listed: cutting them would change nothing.
//!
//! The first columns are `overrides.csv`'s, with the decision left empty: a row copied
//! into the overrides file and given `link` or `unlink` is a steward's decision (see
//! [`crate::overrides`]); the columns after `note` are for reading and are ignored there.

use crate::cluster::{Decision, Edge};
use crate::record::{Dataset, RecordOrd};

/// Most rows written: a steward's day of work, not every scored pair.
pub const MAX_ROWS: usize = 2000;
/// Pairs whose decision is wrong with a smaller probability are not listed.
const MIN_DOUBT: f64 = 0.01;
/// A customer of at least this many records whose records carry at least
/// [`MANY_SURNAMES`] surnames is listed as a whole (a household or an office merged?).
const LARGE_CUSTOMER: usize = 5;
const MANY_SURNAMES: usize = 3;

/// One pair to review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRow {
    pub a: RecordOrd,
    pub b: RecordOrd,
    /// The model's match probability of the pair.
    pub probability: f64,
    /// Probability that the run's decision is wrong (the rank).
    pub doubt: f64,
    /// Whether the run put the two records in one customer.
    pub together: bool,
    /// What the run decided (`linked`, `below threshold`, `refused: …`, or
    /// `large customer, several surnames`).
    pub decision: &'static str,
}

/// The pairs to review, most doubtful first (ties by record order), at most [`MAX_ROWS`].
/// `customers`: each customer's records, as written to `mapping.csv`.
pub fn rows(
    data: &Dataset,
    edges: &[Edge],
    decisions: &[Decision],
    customers: &[Vec<RecordOrd>],
) -> Vec<ReviewRow> {
    let mut customer_of = vec![u32::MAX; data.records.len()];
    for (c, recs) in customers.iter().enumerate() {
        for &r in recs {
            customer_of[r as usize] = c as u32;
        }
    }
    // The first record of each profile stands for it.
    let mut first = vec![RecordOrd::MAX; data.profiles.len()];
    for (i, r) in data.records.iter().enumerate() {
        let slot = &mut first[r.profile as usize];
        if *slot == RecordOrd::MAX {
            *slot = i as RecordOrd;
        }
    }
    use rayon::prelude::*;
    // Weights beyond which no pair is in doubt (a little wide: the exact test follows),
    // checked before the records are looked up.
    let linked_below = crate::model::weight_of_probability(1.0 - MIN_DOUBT) + 0.01;
    let apart_above = crate::model::weight_of_probability(MIN_DOUBT) - 0.01;
    let mut out: Vec<ReviewRow> = edges
        .par_iter()
        .zip(decisions)
        .filter(|(e, _)| !e.carried_only)
        .filter(|(e, &d)| match d {
            Decision::Linked => e.weight as f64 <= linked_below,
            Decision::AlreadyTogether => false,
            _ => e.weight as f64 >= apart_above,
        })
        .filter_map(|(e, &d)| {
            let (a, b) = (first[e.a as usize], first[e.b as usize]);
            if a == RecordOrd::MAX || b == RecordOrd::MAX {
                return None;
            }
            let together = customer_of[a as usize] == customer_of[b as usize];
            let p = crate::model::probability(e.weight as f64);
            let doubt = match d {
                Decision::Linked if together => 1.0 - p,
                // Joined through other links, or kept apart as decided: nothing to ask.
                Decision::Linked | Decision::AlreadyTogether => return None,
                _ if together => return None,
                _ => p,
            };
            (doubt >= MIN_DOUBT).then_some(ReviewRow {
                a: a.min(b),
                b: a.max(b),
                probability: p,
                doubt,
                together,
                decision: d.as_str(),
            })
        })
        .collect();
    out.extend(several_surnames(data, customers));
    let order = |x: &ReviewRow, y: &ReviewRow| {
        y.doubt
            .total_cmp(&x.doubt)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
            .then(x.together.cmp(&y.together))
            .then(x.decision.cmp(y.decision))
    };
    // Only the first MAX_ROWS are kept: select them, then sort those.
    if out.len() > MAX_ROWS {
        out.select_nth_unstable_by(MAX_ROWS, order);
        out.truncate(MAX_ROWS);
    }
    out.sort_by(order);
    out
}

/// Large customers whose records carry several surnames: one row each, pairing the first
/// record of its most common surname with the first of the next. The doubt is the share
/// of its named records that do not carry the most common surname (a family with one
/// married name scores low, an office of strangers high); the probability is not a
/// pair's (NaN).
fn several_surnames(data: &Dataset, customers: &[Vec<RecordOrd>]) -> Vec<ReviewRow> {
    customers
        .iter()
        .filter(|recs| recs.len() >= LARGE_CUSTOMER)
        .filter_map(|recs| {
            // (surname, records carrying it, first such record), in first-seen order.
            let mut surnames: Vec<(&str, usize, RecordOrd)> = Vec::new();
            let mut named = 0;
            for &r in recs {
                let p = &data.profiles[data.records[r as usize].profile as usize];
                let Some(last) = p
                    .names
                    .iter()
                    .map(|n| n.last.as_str())
                    .find(|l| !l.is_empty())
                else {
                    continue;
                };
                named += 1;
                match surnames.iter_mut().find(|(s, _, _)| *s == last) {
                    Some(entry) => entry.1 += 1,
                    None => surnames.push((last, 1, r)),
                }
            }
            if surnames.len() < MANY_SURNAMES {
                return None;
            }
            surnames.sort_by(|x, y| y.1.cmp(&x.1).then(x.2.cmp(&y.2)));
            let (a, b) = (surnames[0].2, surnames[1].2);
            Some(ReviewRow {
                a: a.min(b),
                b: a.max(b),
                probability: f64::NAN,
                doubt: 1.0 - surnames[0].1 as f64 / named as f64,
                together: true,
                decision: "large customer, several surnames",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::parse_full_name;

    fn people(names: &[&str]) -> Dataset {
        let mut d = Dataset {
            sources: vec!["s".into()],
            ..Default::default()
        };
        for (i, name) in names.iter().enumerate() {
            let mut p = crate::record::Profile::default();
            p.names.extend(parse_full_name(name));
            d.profiles.push(p);
            d.records.push(crate::record::Record::bare(
                0,
                i as u64 + 2,
                &format!("r{i}"),
                i as u32,
            ));
        }
        d
    }

    #[test]
    fn a_large_customer_with_several_surnames_is_listed_once() {
        let d = people(&[
            "Ann Lee",
            "Ann Lee",
            "Bo Lee",
            "Carl Diaz",
            "Dana Okafor",
            "Eve Diaz",
        ]);
        let listed = rows(&d, &[], &[], &[vec![0, 1, 2, 3, 4, 5]]);
        assert_eq!(listed.len(), 1);
        // Lee (3 of 6) and the next, Diaz (first seen in record 3).
        assert_eq!((listed[0].a, listed[0].b), (0, 3));
        assert!((listed[0].doubt - 0.5).abs() < 1e-9);
        assert!(listed[0].together && listed[0].probability.is_nan());
        // Two surnames, or fewer records, are not listed.
        assert!(rows(&d, &[], &[], &[vec![0, 1, 2, 3, 5]]).is_empty());
        assert!(rows(&d, &[], &[], &[vec![0, 3, 4]]).is_empty());
    }
}
