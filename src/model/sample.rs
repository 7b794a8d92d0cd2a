//! u-sampling: level frequencies among random record pairs (almost all different
//! people), in seeded chunks so that the sample does not depend on the thread count.

use super::*;

/// Level probabilities among random record pairs, and how many pairs reached each
/// comparison (not missing), from [`estimate_u`].
pub type RandomU = ([Vec<f64>; N], [u64; N]);

/// Estimates `u` from random record pairs. Returns per comparison the level frequencies
/// among non-missing comparisons, and how many were non-missing.
pub fn estimate_u(data: &Dataset, pairs: usize, shared: &compare::SharedValues) -> RandomU {
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
                    let c = compare::compare_with(
                        &data.profiles[ra.profile as usize],
                        &data.profiles[rb.profile as usize],
                        shared,
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
