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
    /// Counts every value of every profile.
    pub fn from_data(data: &Dataset) -> TermFrequencies {
        Self::from_profiles(&data.profiles)
    }

    /// Counts every value of the given profiles.
    pub fn from_profiles(profiles: &[crate::record::Profile]) -> TermFrequencies {
        let mut tf = TermFrequencies {
            counts: vec![HashMap::new(); N],
            totals: [0; N],
        };
        for p in profiles {
            compare::tf_values(p, |i, key| {
                *tf.counts[i].entry(key).or_default() += 1;
                tf.totals[i] += 1;
            });
        }
        tf
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
