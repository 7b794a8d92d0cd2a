//! Term frequencies: how often each agreeing value occurs, for the TF adjustment of an
//! exact level (a shared rare surname is worth more than a shared "smith").

use super::*;

/// Counts of values per comparison, for term-frequency adjustment.
#[derive(Debug, Default)]
pub struct TermFrequencies {
    counts: Vec<HashMap<u64, u32>>,
    totals: [u64; N],
}

impl TermFrequencies {
    /// Counts the values of a run's people. A profile stands for one person when it holds
    /// a personal value (an e-mail, phone, serial, id, address or date of birth that
    /// strangers do not share) and counts once, however many records repeat it. A profile
    /// of a name and nothing personal ("Jane Doe" with a placeholder e-mail, a name-only
    /// ticket) may be as many people as it has records, and counts once per record: so a
    /// name typed for 139 unknown callers is as common as it is, not as rare as one
    /// person's.
    /// `impersonal[p]` is [`compare::SharedValues::impersonal`].
    pub fn from_data(data: &Dataset, impersonal: &[bool]) -> TermFrequencies {
        let records = data.records_per_profile();
        let weights: Vec<u32> = impersonal
            .iter()
            .zip(&records)
            .map(|(&none, &n)| match (none, n) {
                // A profile without records (kept by an incremental run) counts nothing.
                (_, 0) if !data.records.is_empty() => 0,
                (true, n) => n.max(1),
                (false, _) => 1,
            })
            .collect();
        Self::counted(&data.profiles, &weights)
    }

    /// Counts every value of the given profiles once.
    pub fn from_profiles(profiles: &[crate::record::Profile]) -> TermFrequencies {
        Self::counted(profiles, &vec![1; profiles.len()])
    }

    fn counted(profiles: &[crate::record::Profile], weights: &[u32]) -> TermFrequencies {
        use rayon::prelude::*;
        type Counts = (Vec<HashMap<u64, u32>>, [u64; N]);
        let empty = || -> Counts { (vec![HashMap::default(); N], [0; N]) };
        // Counted in parallel slices and added up: sums, so the same whatever the split.
        let (counts, totals) = profiles
            .par_iter()
            .zip(weights)
            .with_min_len(1 << 14)
            .fold(empty, |mut acc, (p, &w)| {
                compare::tf_values(p, |i, key| {
                    *acc.0[i].entry(key).or_default() += w;
                    acc.1[i] += w as u64;
                });
                acc
            })
            .reduce(empty, |mut a, mut b| {
                for i in 0..N {
                    if a.0[i].len() < b.0[i].len() {
                        std::mem::swap(&mut a.0[i], &mut b.0[i]);
                    }
                    for (k, v) in b.0[i].drain() {
                        *a.0[i].entry(k).or_default() += v;
                    }
                    a.1[i] += b.1[i];
                }
                a
            });
        TermFrequencies { counts, totals }
    }

    /// Relative frequency of a value among the values of comparison `i` (at least 1/total).
    /// A name counts as common if it is common as a given name *or* as a surname: names
    /// compared with first and last swapped ("SANCHEZ Dennis" read as given name
    /// Sanchez) would otherwise look as rare as a surname used as a given name.
    pub fn frequency(&self, i: usize, key: u64) -> Option<f64> {
        let own = self.relative(i, key)?;
        let other = match i {
            compare::FIRST_NAME => self.relative(compare::LAST_NAME, key),
            compare::LAST_NAME => self.relative(compare::FIRST_NAME, key),
            _ => None,
        };
        Some(other.map_or(own, |o| own.max(o)))
    }

    fn relative(&self, i: usize, key: u64) -> Option<f64> {
        let total = self.totals[i];
        if total == 0 {
            return None;
        }
        let count = self.counts[i].get(&key).copied().unwrap_or(1).max(1);
        Some(count as f64 / total as f64)
    }

    pub fn count(&self, i: usize, key: u64) -> u32 {
        self.counts[i].get(&key).copied().unwrap_or(0)
    }

    pub fn distinct(&self, i: usize) -> usize {
        self.counts[i].len()
    }
}
