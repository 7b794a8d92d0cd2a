//! Training: expectation-maximisation of m, u and the prior over the candidate pairs'
//! comparison patterns, from the sampled u.

use super::*;

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

/// The comparison levels of one pair: all that EM reads of a comparison (a training
/// sample of 3M pairs is 33 MB of levels, against 310 MB of whole comparisons).
pub type Levels = [u8; N];

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
///
/// `comparisons` may be a sample of the candidate pairs; `candidate_pairs` is how many
/// there are in all, so that the expected number of matches (and the random-pair prior)
/// is the sample's share of matches times all candidates, not times the sample.
pub fn train(
    data: &Dataset,
    comparisons: &[Levels],
    candidate_pairs: usize,
    shared: &compare::SharedValues,
    u_sample_pairs: usize,
    max_iterations: usize,
) -> Model {
    let random = estimate_u(data, u_sample_pairs, shared);
    train_from_u(
        data,
        comparisons,
        candidate_pairs,
        random,
        u_sample_pairs,
        max_iterations,
    )
}

/// [`train`] with `u` among random pairs already estimated ([`estimate_u`] over
/// `u_sample_pairs`): the estimate needs only the records, so a run makes it while the
/// candidate index is built.
pub fn train_from_u(
    data: &Dataset,
    comparisons: &[Levels],
    candidate_pairs: usize,
    (u_random, u_seen): RandomU,
    u_sample_pairs: usize,
    max_iterations: usize,
) -> Model {
    let mut model = fit(&u_random, comparisons, max_iterations, true);
    for (i, c) in model.comparisons.iter_mut().enumerate() {
        c.active &= u_seen[i] > 0;
    }
    let profiles = data.profiles.len() as f64;
    let all_pairs = (profiles * (profiles - 1.0) / 2.0).max(1.0);
    let expected_matches = model.prior * candidate_pairs.max(comparisons.len()) as f64;
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
    comparisons: &[Levels],
    max_iterations: usize,
    free_u: bool,
) -> Model {
    // Distinct level patterns with their counts: EM runs over patterns, not pairs.
    let mut pattern_counts: HashMap<[u8; N], u64> = HashMap::default();
    for levels in comparisons {
        *pattern_counts.entry(*levels).or_default() += 1;
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
