//! The Fellegi-Sunter model: for each comparison level, `m` = P(level | same person) and
//! `u` = P(level | different people). `u` is estimated from a large random sample of
//! record pairs (almost all of which are different people); `m` and the share of
//! matches among candidate pairs are estimated by expectation-maximisation over the
//! candidate pairs, with `u` held fixed — no labels needed. A pair's match weight is
//! log2 of its Bayes factor plus the prior; exact agreement on a value is adjusted by
//! that value's frequency (term-frequency adjustment), so sharing "smith" counts less
//! than sharing a rare surname.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compare::{self, Comparison, MISSING, N, SPECS};
use crate::error::{Error, Result};
use crate::record::Dataset;

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

const MODEL_FORMAT: &str = "idresolve-model-1";

impl Model {
    /// Writes `model.json`; [`Model::load`] reads it back.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::output::write_json(path, self)
    }

    pub fn load(path: &std::path::Path) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let model: Model = serde_json::from_str(&text)
            .map_err(|e| Error::input(path, format!("not a model file: {e}")))?;
        if model.format != MODEL_FORMAT || model.comparisons.len() != N {
            return Err(Error::input(
                path,
                format!("model format `{}` is not `{MODEL_FORMAT}`", model.format),
            ));
        }
        for (c, spec) in model.comparisons.iter().zip(SPECS.iter()) {
            if c.comparison != spec.name || c.levels.len() != spec.levels.len() {
                return Err(Error::input(
                    path,
                    format!("comparison `{}` does not match this version", c.comparison),
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

/// Estimates `u` from random record pairs. Returns per comparison the level frequencies
/// among non-missing comparisons, and how many were non-missing.
pub fn estimate_u(data: &Dataset, pairs: usize) -> ([Vec<f64>; N], [u64; N]) {
    let n = data.records.len();
    let mut counts: [Vec<u64>; N] = std::array::from_fn(|i| vec![0; SPECS[i].levels.len()]);
    if n >= 2 {
        let chunks = pairs.div_ceil(U_SAMPLE_CHUNK);
        let partial: Vec<[Vec<u64>; N]> = (0..chunks)
            .into_par_iter()
            .map(|chunk| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    U_SAMPLE_SEED ^ (chunk as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                let mut local: [Vec<u64>; N] =
                    std::array::from_fn(|i| vec![0; SPECS[i].levels.len()]);
                let todo = U_SAMPLE_CHUNK.min(pairs - chunk * U_SAMPLE_CHUNK);
                for _ in 0..todo {
                    let a = rng.gen_range(0..n);
                    let mut b = rng.gen_range(0..n - 1);
                    if b >= a {
                        b += 1;
                    }
                    let (ra, rb) = (&data.records[a], &data.records[b]);
                    let c = compare::compare(
                        &data.profiles[ra.profile as usize],
                        &data.profiles[rb.profile as usize],
                    );
                    for i in 0..N {
                        if c.levels[i] != MISSING {
                            local[i][c.levels[i] as usize] += 1;
                        }
                    }
                }
                local
            })
            .collect();
        for part in partial {
            for i in 0..N {
                for (l, v) in part[i].iter().enumerate() {
                    counts[i][l] += v;
                }
            }
        }
    }
    let mut seen = [0u64; N];
    let u = std::array::from_fn(|i| {
        let total: u64 = counts[i].iter().sum();
        seen[i] = total;
        let levels = counts[i].len() as f64;
        // Add-one smoothing: a level never seen among random pairs is rare, not impossible.
        counts[i]
            .iter()
            .map(|&c| (c as f64 + 1.0) / (total as f64 + levels))
            .collect()
    });
    (u, seen)
}

/// Starting `m`: most matches agree exactly; weaker agreement less often; "different" rarely.
fn initial_m(levels: usize) -> Vec<f64> {
    let mut m: Vec<f64> = (0..levels)
        .map(|l| if l == 0 { 0.05 } else { 2f64.powi(l as i32) })
        .collect();
    let rest: f64 = m[1..].iter().sum();
    for v in m.iter_mut().skip(1) {
        *v = *v / rest * 0.95;
    }
    m
}

/// Trains a model: `u` among random pairs by sampling; then `m`, `u` among candidate
/// pairs and the share of matches among candidates by EM over `comparisons` (the
/// candidate pairs' comparison vectors), starting from the sampled `u`.
///
/// Why EM re-estimates `u`: candidate pairs were chosen because they agree on
/// something, so different people among them agree far more often than random pairs
/// do. With `u` fixed at the random-pair value, EM explains that extra agreement by
/// calling nearly every candidate a match (measured: prior → 0.99999 on generated
/// data). Why scoring then uses the random-pair `u`: the candidate search selects
/// pairs *because* they share a rare value, so among candidates a rare surname is
/// not rare; scored against random pairs with the random-pair prior, the Bayes factor
/// means the same for every pair, and term-frequency adjustment stays sound.
pub fn train(
    data: &Dataset,
    comparisons: &[Comparison],
    u_sample_pairs: usize,
    max_iterations: usize,
) -> Model {
    let (u_random, u_seen) = estimate_u(data, u_sample_pairs);
    let mut model = fit(&u_random, comparisons, max_iterations, true);
    for (i, c) in model.comparisons.iter_mut().enumerate() {
        c.active &= u_seen[i] > 0;
    }
    let profiles = data.profiles.len() as f64;
    let all_pairs = (profiles * (profiles - 1.0) / 2.0).max(1.0);
    let expected_matches = model.prior * comparisons.len() as f64;
    let p = (expected_matches / all_pairs).clamp(MIN_PROBABILITY * MIN_PROBABILITY, 0.5);
    // The random sample holds matches at rate p; on small data (a demo, one family's
    // records) that is not negligible. Remove their expected share from u.
    for c in model.comparisons.iter_mut() {
        for l in c.levels.iter_mut() {
            l.u_random = ((l.u_random - p * l.m) / (1.0 - p)).clamp(MIN_PROBABILITY, 1.0);
            l.weight = (l.m / l.u_random).log2();
        }
    }
    // Scores are for any pair, not only candidates: m (the same among candidates as
    // anywhere, if the candidates hold nearly all matches) against the random-pair u,
    // from the random-pair prior. Candidate selection then cannot bias the score.
    model.random_match_probability = p;
    model.prior_weight = (p / (1.0 - p)).log2();
    model.training.u_sample_pairs = u_sample_pairs as u64;
    model
}

/// Starting share of matches among candidate pairs.
const INITIAL_PRIOR: f64 = 0.1;

/// EM for `m`, the prior and (when `free_u`) `u`, over the comparison vectors,
/// starting from `u_start`.
pub fn fit(
    u_start: &[Vec<f64>; N],
    comparisons: &[Comparison],
    max_iterations: usize,
    free_u: bool,
) -> Model {
    // Distinct level patterns with their counts: EM runs over patterns, not pairs.
    let mut pattern_counts: HashMap<[u8; N], u64> = HashMap::new();
    for c in comparisons {
        *pattern_counts.entry(c.levels).or_default() += 1;
    }
    let mut patterns: Vec<([u8; N], f64)> = pattern_counts
        .into_iter()
        .map(|(p, c)| (p, c as f64))
        .collect();
    patterns.sort_by_key(|p| p.0);
    let active: [bool; N] = std::array::from_fn(|i| patterns.iter().any(|(p, _)| p[i] != MISSING));
    let m_start: [Vec<f64>; N] = std::array::from_fn(|i| initial_m(SPECS[i].levels.len()));
    let mut m = m_start.clone();
    let mut u: [Vec<f64>; N] = u_start.clone();
    let mut prior: f64 = INITIAL_PRIOR;
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations && !patterns.is_empty() {
        iterations += 1;
        let mut m_acc: [Vec<f64>; N] = std::array::from_fn(|i| vec![0.0; SPECS[i].levels.len()]);
        let mut u_acc: [Vec<f64>; N] = std::array::from_fn(|i| vec![0.0; SPECS[i].levels.len()]);
        let (mut match_mass, mut total) = (0.0, 0.0);
        for (p, count) in &patterns {
            // E step: posterior probability that this pattern is a match.
            let (mut lm, mut lu) = (prior.ln(), (1.0 - prior).ln());
            for i in (0..N).filter(|&i| active[i] && p[i] != MISSING) {
                lm += m[i][p[i] as usize].ln();
                lu += u[i][p[i] as usize].ln();
            }
            let post = 1.0 / (1.0 + (lu - lm).exp());
            match_mass += post * count;
            total += count;
            for i in (0..N).filter(|&i| active[i] && p[i] != MISSING) {
                m_acc[i][p[i] as usize] += post * count;
                u_acc[i][p[i] as usize] += (1.0 - post) * count;
            }
        }
        // M step.
        let new_prior = (match_mass / total).clamp(MIN_PROBABILITY, 1.0 - MIN_PROBABILITY);
        let mut change = (new_prior - prior).abs();
        prior = new_prior;
        let update =
            |params: &mut Vec<f64>, acc: &[f64], toward: &[f64], floor: f64, change: &mut f64| {
                let sum: f64 = acc.iter().sum();
                if sum > 0.0 {
                    for ((v, a), t) in params.iter_mut().zip(acc).zip(toward) {
                        let new =
                            ((a + PRIOR_PSEUDO_PAIRS * t) / (sum + PRIOR_PSEUDO_PAIRS)).max(floor);
                        *change = change.max((new - *v).abs());
                        *v = new;
                    }
                }
            };
        for i in 0..N {
            let coverage = m_acc[i].iter().sum::<f64>() / match_mass.max(f64::MIN_POSITIVE);
            if coverage < MIN_MATCH_COVERAGE {
                m[i].clone_from(&m_start[i]);
            } else {
                update(&mut m[i], &m_acc[i], &m_start[i], MIN_M, &mut change);
            }
            if free_u {
                update(
                    &mut u[i],
                    &u_acc[i],
                    &u_start[i],
                    MIN_PROBABILITY,
                    &mut change,
                );
            }
        }
        if change < EM_TOLERANCE {
            converged = true;
            break;
        }
    }
    let training = Training {
        u_sample_pairs: 0,
        em_pairs: comparisons.len() as u64,
        em_patterns: patterns.len() as u64,
        em_iterations: iterations as u64,
        em_converged: converged,
    };
    Model::from_params(&m, &u, u_start, active, prior, training)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let model = fit(&u_full, &data, 500, false);
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
