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
    /// What the run decided (`linked`, `below threshold`, `refused: …`).
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
    let mut out: Vec<ReviewRow> = edges
        .iter()
        .zip(decisions)
        .filter(|(e, _)| !e.carried_only)
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
    out.sort_by(|x, y| {
        y.doubt
            .total_cmp(&x.doubt)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    out.truncate(MAX_ROWS);
    out
}
