//! The Fellegi-Sunter model: for each comparison level, `m` = P(level | same person) and
//! `u` = P(level | different people). `u` is estimated from a large random sample of
//! record pairs (almost all of which are different people); `m` and the share of
//! matches among candidate pairs are estimated by expectation-maximisation over the
//! candidate pairs (which also re-estimates `u` among candidates; scoring uses the
//! random-pair `u`, see [`train`]) — no labels needed. A pair's match weight is log2 of
//! its Bayes factor plus the prior; exact agreement on a value is adjusted by that
//! value's frequency (term-frequency adjustment), so sharing "smith" counts less than
//! sharing a rare surname.
//!
//! Here: the parameters and `model.json` (`save`, `load` with sanity checks). In
//! `sample`: u-sampling. In `em`: training. In `tf`: term frequencies. In `score`: the
//! match weight of a comparison and its contributions.

// FxHash: the keys are value hashes, small ids or short strings; SipHash is a
// measured cost here and its DoS resistance buys nothing for a batch job.
use rustc_hash::FxHashMap as HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compare::{self, Comparison, MISSING, N, SPECS};
use crate::error::{Error, Result};
use crate::record::Dataset;

mod em;
mod sample;
mod score;
mod tf;

pub use em::{fit, train, train_from_u, Levels};
pub use sample::{estimate_u, RandomU, USample};
pub use score::{Contribution, Scorer};
pub use tf::TermFrequencies;

/// EM stops when no parameter moves more than this between iterations.
const EM_TOLERANCE: f64 = 1e-6;
/// Probabilities never reach 0 or 1: a level never seen in training still has a finite weight.
const MIN_PROBABILITY: f64 = 1e-6;
/// No level is impossible for the same person (people move, mistype, change phones):
/// one comparison can say at most about log2(1/0.0005) ≈ 11 bits against a match.
const MIN_M: f64 = 5e-4;
/// Pseudo-pairs of the Dirichlet prior that pulls `m` toward its starting values and `u`
/// toward the random-pair `u` (maximum a posteriori EM). With thousands of pairs it is
/// negligible; a comparison that few matches reach (a field only one source has) keeps
/// sensible values instead of whatever a handful of pairs suggest.
const PRIOR_PSEUDO_PAIRS: f64 = 10.0;
/// A comparison that fewer than this share of the matches can make (a date of birth only
/// one source records, and each person has one record there) says nothing learnable
/// about matches: whatever EM finds there is leakage from non-matches. Its `m` stays at
/// the starting values.
const MIN_MATCH_COVERAGE: f64 = 0.01;
/// Seed of the random pair sample: same data, same `u`.
const U_SAMPLE_SEED: u64 = 0x1d5e_5017;
/// Pairs per parallel sampling chunk (each chunk has its own seeded generator, so the
/// sample does not depend on the thread count).
const U_SAMPLE_CHUNK: usize = 65_536;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LevelParams {
    pub level: String,
    pub m: f64,
    /// P(level | different people) among candidate pairs (EM).
    pub u: f64,
    /// P(level | different people) among random record pairs (sampled); the base of
    /// term-frequency adjustment.
    pub u_random: f64,
    /// log2(m/u_random): the evidence this level adds to a pair's match weight.
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComparisonParams {
    pub comparison: String,
    pub active: bool,
    pub levels: Vec<LevelParams>,
    /// The level whose weight is adjusted by value frequency, if any.
    pub tf_level: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Training {
    pub u_sample_pairs: u64,
    pub em_pairs: u64,
    pub em_patterns: u64,
    pub em_iterations: u64,
    pub em_converged: bool,
}

/// A trained model, as saved to `model.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    pub format: String,
    /// Share of matches among candidate pairs.
    /// Share of matches among candidate pairs (EM).
    pub prior: f64,
    /// Probability that two random records (profiles) are the same person: the expected
    /// number of matching candidate pairs over all pairs. Scoring starts from it.
    pub random_match_probability: f64,
    /// log2 of the odds of `random_match_probability`: the weight every pair starts from.
    pub prior_weight: f64,
    pub comparisons: Vec<ComparisonParams>,
    pub training: Training,
}

const MODEL_FORMAT: &str = "idresolve-model-2";

impl Model {
    /// Writes `model.json`; [`Model::load`] reads it back.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::outdir::write_json(path, self)
    }

    pub fn load(path: &std::path::Path) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let model: Model = serde_json::from_str(&text)
            .map_err(|e| Error::input(path, format!("not a model file: {e}")))?;
        if model.format != MODEL_FORMAT || model.comparisons.len() != N {
            return Err(Error::input(
                path,
                format!(
                    "model format `{}` is not `{MODEL_FORMAT}`: written by another version of \
                     idresolve: rerun (without --model) to train a new one",
                    model.format
                ),
            ));
        }
        for (c, spec) in model.comparisons.iter().zip(SPECS.iter()) {
            if c.comparison != spec.name || c.levels.len() != spec.levels.len() {
                return Err(Error::input(
                    path,
                    format!(
                        "comparison `{}` does not match this version: rerun (without \
                         --model) to train a new one",
                        c.comparison
                    ),
                ));
            }
        }
        model
            .check()
            .map_err(|m| Error::input(path, format!("not a usable model: {m}")))?;
        Ok(model)
    }

    /// What disagreement on comparison `i` costs (bits, ≥ 0): minus the weight of its
    /// "different" level. Clustering charges it to a merge whose groups conflict there.
    pub fn disagreement_penalty(&self, i: usize) -> f64 {
        -self.comparisons[i].levels[0].weight.min(0.0)
    }

    /// Sanity of a model read from a file: probabilities in range, weights finite and
    /// of a size a trained model can have (a hand-edited prior of 2 or a weight of 1e308
    /// would link everything).
    fn check(&self) -> std::result::Result<(), String> {
        let prob = |x: f64| x.is_finite() && x > 0.0 && x < 1.0;
        if !prob(self.prior) {
            return Err(format!(
                "prior = {} is not a probability in (0, 1)",
                self.prior
            ));
        }
        if !prob(self.random_match_probability) {
            return Err(format!(
                "random_match_probability = {} is not a probability in (0, 1)",
                self.random_match_probability
            ));
        }
        if !self.prior_weight.is_finite() || self.prior_weight.abs() > 200.0 {
            return Err(format!(
                "prior_weight = {} is out of range",
                self.prior_weight
            ));
        }
        for c in &self.comparisons {
            for l in &c.levels {
                let p01 = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
                if !p01(l.m) || !p01(l.u) || !p01(l.u_random) {
                    return Err(format!(
                        "{} level `{}`: m, u and u_random must be probabilities",
                        c.comparison, l.level
                    ));
                }
                if !l.weight.is_finite() || l.weight.abs() > 100.0 {
                    return Err(format!(
                        "{} level `{}`: weight {} is out of range (a trained weight is within ±100 bits)",
                        c.comparison, l.level, l.weight
                    ));
                }
            }
        }
        Ok(())
    }

    fn from_params(
        m: &[Vec<f64>; N],
        u: &[Vec<f64>; N],
        u_random: &[Vec<f64>; N],
        active: [bool; N],
        prior: f64,
        training: Training,
    ) -> Model {
        let comparisons = SPECS
            .iter()
            .enumerate()
            .map(|(i, spec)| ComparisonParams {
                comparison: spec.name.to_string(),
                active: active[i],
                levels: spec
                    .levels
                    .iter()
                    .enumerate()
                    .map(|(l, name)| LevelParams {
                        level: name.to_string(),
                        m: m[i][l],
                        u: u[i][l],
                        u_random: u_random[i][l],
                        weight: (m[i][l] / u_random[i][l]).log2(),
                    })
                    .collect(),
                tf_level: spec.tf_level.map(|l| spec.levels[l as usize].to_string()),
            })
            .collect();
        Model {
            format: MODEL_FORMAT.into(),
            prior,
            random_match_probability: prior,
            prior_weight: (prior / (1.0 - prior)).log2(),
            comparisons,
            training,
        }
    }
}

/// Probability from a match weight.
pub fn probability(weight: f64) -> f64 {
    let odds = weight.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// Match weight that corresponds to a probability.
pub fn weight_of_probability(p: f64) -> f64 {
    (p / (1.0 - p)).log2()
}

/// What the model itself expects of a threshold over the scored pairs, without labels:
/// each pair is a match with its match probability, so the expected true links above a
/// threshold are the sum of their probabilities, the expected false links the sum of
/// the rest, and the expected misses the probability mass below it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExpectedQuality {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The threshold (a match probability) at which the model expects the best pairwise F1
/// over these pair weights, with what it expects there; `None` without pairs.
/// The weights are sorted in place (a copy as f64 was 1.6 GB at 10M records; widening
/// an f32 is exact and keeps the order).
pub fn expected_best_threshold(mut w: Vec<f32>) -> Option<ExpectedQuality> {
    w.retain(|x| !x.is_nan());
    w.par_sort_unstable_by(|a, b| b.total_cmp(a));
    let total: f64 = w.iter().map(|&x| probability(x as f64)).sum();
    if w.is_empty() || total <= 0.0 {
        return None;
    }
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut best: Option<(f64, f64, f64, f64)> = None;
    for (i, &x) in w.iter().enumerate() {
        let x = x as f64;
        let p = probability(x);
        tp += p;
        fp += 1.0 - p;
        // Only where the next weight is lower: ties are one threshold.
        if w.get(i + 1).is_some_and(|&next| next as f64 == x) {
            continue;
        }
        let f1 = 2.0 * tp / (2.0 * tp + fp + (total - tp));
        if best.is_none_or(|b| f1 > b.0) {
            best = Some((f1, x, tp / (tp + fp), tp / total));
        }
    }
    best.map(|(f1, x, precision, recall)| ExpectedQuality {
        threshold: probability(x),
        precision,
        recall,
        f1,
    })
}

/// What the model expects at each of `thresholds` (match probabilities) over these pair
/// weights, as [`expected_best_threshold`] reckons it: a curve for choosing a threshold
/// without labels.
pub fn expected_quality_curve(
    weights: impl IntoIterator<Item = f32>,
    thresholds: &[f64],
) -> Vec<ExpectedQuality> {
    // One pass, no sort: the pairs' count and probability mass between consecutive
    // thresholds (bucket k holds probabilities with k thresholds at or below them).
    let mut cuts: Vec<f64> = thresholds.iter().copied().filter(|t| !t.is_nan()).collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut count = vec![0u64; cuts.len() + 1];
    let mut mass = vec![0.0f64; cuts.len() + 1];
    for w in weights {
        if w.is_nan() {
            continue;
        }
        let x = probability(w as f64);
        let k = cuts.partition_point(|&t| t <= x);
        count[k] += 1;
        mass[k] += x;
    }
    let total: f64 = mass.iter().sum();
    // Pairs at or above cut j: buckets j + 1 and up.
    let mut above_n = vec![0u64; cuts.len() + 1];
    let mut above_mass = vec![0.0f64; cuts.len() + 1];
    for k in (0..cuts.len()).rev() {
        above_n[k] = above_n[k + 1] + count[k + 1];
        above_mass[k] = above_mass[k + 1] + mass[k + 1];
    }
    thresholds
        .iter()
        .map(|&t| {
            let (above, tp) = match cuts.binary_search_by(|c| c.total_cmp(&t)) {
                Ok(j) => (above_n[j] as f64, above_mass[j]),
                Err(_) => (0.0, 0.0),
            };
            let fp = above - tp;
            let precision = if above > 0.0 { tp / above } else { 1.0 };
            let recall = if total > 0.0 { tp / total } else { 0.0 };
            let f1 = if tp > 0.0 {
                2.0 * tp / (2.0 * tp + fp + (total - tp))
            } else {
                0.0
            };
            ExpectedQuality {
                threshold: t,
                precision,
                recall,
                f1,
            }
        })
        .collect()
}

/// Bounds of a threshold the model chooses: below even odds a link is more likely wrong
/// than right; above 0.99 the model would be trusted to be sure of nearly nothing.
pub const CHOSEN_THRESHOLD_RANGE: (f64, f64) = (0.5, 0.99);

/// The link threshold: the configured one, else the model's own best
/// ([`expected_best_threshold`]) within [`CHOSEN_THRESHOLD_RANGE`], else `fallback`.
pub fn chosen_threshold(
    configured: Option<f64>,
    best: Option<&ExpectedQuality>,
    fallback: f64,
) -> f64 {
    let (lo, hi) = CHOSEN_THRESHOLD_RANGE;
    configured.unwrap_or_else(|| best.map_or(fallback, |q| q.threshold.clamp(lo, hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_threshold_wins_and_the_models_choice_is_bounded() {
        let q = |t| ExpectedQuality {
            threshold: t,
            precision: 1.0,
            recall: 1.0,
            f1: 1.0,
        };
        assert_eq!(chosen_threshold(Some(0.9), Some(&q(0.6)), 0.97), 0.9);
        assert_eq!(chosen_threshold(None, Some(&q(0.6)), 0.97), 0.6);
        assert_eq!(chosen_threshold(None, Some(&q(0.2)), 0.97), 0.5);
        assert_eq!(chosen_threshold(None, Some(&q(0.9999)), 0.97), 0.99);
        assert_eq!(chosen_threshold(None, None, 0.97), 0.97);
    }

    /// Draws comparison vectors from a known two-class model over three comparisons.
    fn synthetic(
        n: usize,
        prior: f64,
        m: &[Vec<f64>],
        u: &[Vec<f64>],
        seed: u64,
    ) -> Vec<Comparison> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draw = |probs: &[f64], rng: &mut ChaCha8Rng| {
            let mut x = rng.gen::<f64>();
            for (l, p) in probs.iter().enumerate() {
                x -= p;
                if x <= 0.0 {
                    return l as u8;
                }
            }
            (probs.len() - 1) as u8
        };
        let fields = [compare::PHONE, compare::SERIAL, compare::CITY];
        (0..n)
            .map(|_| {
                let is_match = rng.gen_bool(prior);
                let mut c = Comparison {
                    levels: [MISSING; N],
                    tf_keys: [0; N],
                };
                for (k, &i) in fields.iter().enumerate() {
                    let probs = if is_match { &m[k] } else { &u[k] };
                    c.levels[i] = draw(probs, &mut rng);
                }
                c
            })
            .collect()
    }

    #[test]
    fn em_recovers_known_m_and_prior() {
        // phone: 4 levels, serial: 4 levels, city: 3 levels.
        let m = vec![
            vec![0.05, 0.05, 0.1, 0.8],
            vec![0.1, 0.05, 0.05, 0.8],
            vec![0.1, 0.1, 0.8],
        ];
        let u = vec![
            vec![0.97, 0.015, 0.01, 0.005],
            vec![0.98, 0.01, 0.005, 0.005],
            vec![0.8, 0.1, 0.1],
        ];
        let data = synthetic(200_000, 0.25, &m, &u, 7);
        let mut u_full: [Vec<f64>; N] = std::array::from_fn(|i| {
            vec![1.0 / SPECS[i].levels.len() as f64; SPECS[i].levels.len()]
        });
        u_full[compare::PHONE] = u[0].clone();
        u_full[compare::SERIAL] = u[1].clone();
        u_full[compare::CITY] = u[2].clone();
        let levels: Vec<Levels> = data.iter().map(|c| c.levels).collect();
        let model = fit(&u_full, &levels, 500, false);
        assert!(model.training.em_converged);
        assert!((model.prior - 0.25).abs() < 0.01, "prior {}", model.prior);
        for (k, i) in [compare::PHONE, compare::SERIAL, compare::CITY]
            .into_iter()
            .enumerate()
        {
            for (l, want) in m[k].iter().enumerate() {
                let got = model.comparisons[i].levels[l].m;
                assert!(
                    (got - want).abs() < 0.02,
                    "{} level {l}: m {got} vs {want}",
                    SPECS[i].name
                );
            }
        }
        assert!(!model.comparisons[compare::EMAIL].active);
    }

    #[test]
    fn sharing_a_common_surname_counts_less_than_a_rare_one() {
        use crate::normalize::parse_full_name;
        let person = |n: &str| crate::record::Profile {
            names: parse_full_name(n).into_iter().collect(),
            ..Default::default()
        };
        // 50 Smiths and one Dalevankel among 60 profiles.
        let mut profiles: Vec<_> = (0..50)
            .map(|i| person(&format!("Person{i} Smith")))
            .collect();
        profiles.extend((0..9).map(|i| person(&format!("Other{i} Jones{i}"))));
        profiles.push(person("Ann Dalevankel"));
        let tf = TermFrequencies::from_profiles(&profiles);
        let u: [Vec<f64>; N] = std::array::from_fn(|i| {
            vec![1.0 / SPECS[i].levels.len() as f64; SPECS[i].levels.len()]
        });
        let mut m = u.clone();
        m[compare::LAST_NAME] = vec![0.05, 0.05, 0.05, 0.05, 0.8];
        let model = Model::from_params(
            &m,
            &u,
            &u,
            [true; N],
            0.01,
            Training {
                u_sample_pairs: 0,
                em_pairs: 0,
                em_patterns: 0,
                em_iterations: 0,
                em_converged: true,
            },
        );
        let scorer = Scorer {
            model: &model,
            tf: &tf,
        };
        let smith = compare::compare(&person("Ann Smith"), &person("Bob Smith"));
        let rare = compare::compare(&person("Ann Dalevankel"), &person("Bob Dalevankel"));
        assert_eq!(
            smith.levels[compare::LAST_NAME],
            rare.levels[compare::LAST_NAME],
            "both agree exactly"
        );
        let (ws, wr) = (scorer.weight(&smith), scorer.weight(&rare));
        assert!(
            ws + 3.0 < wr,
            "smith {ws:.2} should weigh clearly less than dalevankel {wr:.2}"
        );
        let adj = scorer
            .contributions(&smith)
            .into_iter()
            .find(|c| c.comparison == "last_name")
            .map(|c| c.tf_adjustment);
        assert!(
            adj.is_some_and(|a| a < 0.0),
            "a common value is adjusted down: {adj:?}"
        );
    }

    /// "SMITH Robert" read with first and last swapped matches "Robert Smith" on the given
    /// name Smith: a common surname, not a rare given name.
    #[test]
    fn a_surname_compared_as_a_given_name_keeps_its_frequency() {
        use crate::normalize::parse_name_parts;
        let person = |first: &str, last: &str| crate::record::Profile {
            names: parse_name_parts(first, last).into_iter().collect(),
            ..Default::default()
        };
        let mut profiles: Vec<_> = (0..50)
            .map(|i| person(&format!("P{i}x"), "Smith"))
            .collect();
        profiles.push(person("Smith", "Robertson"));
        let tf = TermFrequencies::from_profiles(&profiles);
        let key = compare::value_hash("smith");
        let as_given = tf.frequency(compare::FIRST_NAME, key).unwrap();
        let as_surname = tf.frequency(compare::LAST_NAME, key).unwrap();
        assert!(as_surname > 0.9, "{as_surname}");
        assert_eq!(as_given, as_surname, "the larger of the two");
    }

    #[test]
    fn probability_and_weight_are_inverse() {
        for p in [0.01, 0.5, 0.9, 0.999] {
            assert!((probability(weight_of_probability(p)) - p).abs() < 1e-12);
        }
        assert_eq!(probability(2000.0), 1.0);
    }
}
