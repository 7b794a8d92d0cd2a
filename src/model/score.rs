//! Scoring: a comparison vector's match weight (prior + each level's weight + TF
//! adjustments), and its contributions for `explain`.

use super::*;

/// One comparison's part in a pair's score.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub comparison: &'static str,
    pub level: &'static str,
    pub weight: f64,
    pub tf_adjustment: f64,
}

/// Scores comparison vectors with a model and the data's term frequencies.
pub struct Scorer<'a> {
    pub model: &'a Model,
    pub tf: &'a TermFrequencies,
}

impl Scorer<'_> {
    /// Match weight (log2 odds, prior included) of a comparison.
    pub fn weight(&self, c: &Comparison) -> f64 {
        let mut w = self.model.prior_weight;
        for i in 0..N {
            w += self
                .field_weight(c, i)
                .map(|(w, adj)| w + adj)
                .unwrap_or(0.0);
        }
        w
    }

    fn field_weight(&self, c: &Comparison, i: usize) -> Option<(f64, f64)> {
        let level = c.levels[i];
        let params = &self.model.comparisons[i];
        if level == MISSING || !params.active {
            return None;
        }
        let lp = &params.levels[level as usize];
        let mut adj = 0.0;
        if SPECS[i].tf_level == Some(level) && c.tf_keys[i] != 0 {
            if let Some(freq) = self.tf.frequency(i, c.tf_keys[i]) {
                // Splink's adjustment: how much rarer (or more common) this value is than
                // the average agreeing value among random pairs.
                adj = (lp.u_random / freq.max(MIN_PROBABILITY)).log2();
            }
        }
        Some((lp.weight, adj))
    }

    /// Each comparison's level, weight and TF adjustment (for `explain`).
    pub fn contributions(&self, c: &Comparison) -> Vec<Contribution> {
        (0..N)
            .filter(|&i| self.model.comparisons[i].active)
            .map(|i| {
                let (weight, tf_adjustment) = self.field_weight(c, i).unwrap_or((0.0, 0.0));
                Contribution {
                    comparison: SPECS[i].name,
                    level: if c.levels[i] == MISSING {
                        "missing"
                    } else {
                        SPECS[i].levels[c.levels[i] as usize]
                    },
                    weight,
                    tf_adjustment,
                }
            })
            .collect()
    }
}
