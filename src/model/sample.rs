//! u-sampling: level frequencies among random record pairs (almost all different
//! people), in seeded chunks so that the sample does not depend on the thread count.

use super::*;

/// Level probabilities among random record pairs, and how many pairs reached each
/// comparison (not missing), from [`estimate_u`].
pub type RandomU = ([Vec<f64>; N], [u64; N]);

/// Estimates `u` from random record pairs. Returns per comparison the level frequencies
/// among non-missing comparisons, and how many were non-missing.
pub fn estimate_u(data: &Dataset, pairs: usize, shared: &compare::SharedValues) -> RandomU {
    let sample = USample::new(data, pairs);
    (0..rayon::current_num_threads())
        .into_par_iter()
        .for_each(|_| sample.work(shared));
    sample.finish()
}

/// A u-sample in seeded chunks that any number of threads draw from ([`USample::work`]):
/// a chunk's pairs depend only on its number, and counts add up the same whatever
/// thread drew which chunk, so the result does not depend on who helped.
pub struct USample<'a> {
    data: &'a Dataset,
    pairs: usize,
    chunks: usize,
    next: std::sync::atomic::AtomicUsize,
    counts: std::sync::Mutex<[Vec<u64>; N]>,
}

impl<'a> USample<'a> {
    pub fn new(data: &'a Dataset, pairs: usize) -> USample<'a> {
        let chunks = if data.records.len() >= 2 {
            pairs.div_ceil(U_SAMPLE_CHUNK)
        } else {
            0
        };
        USample {
            data,
            pairs,
            chunks,
            next: std::sync::atomic::AtomicUsize::new(0),
            counts: std::sync::Mutex::new(std::array::from_fn(|i| vec![0; SPECS[i].levels.len()])),
        }
    }

    /// Draws and compares chunks until none is left.
    pub fn work(&self, shared: &compare::SharedValues) {
        use std::sync::atomic::Ordering;
        let (data, n) = (self.data, self.data.records.len());
        loop {
            let chunk = self.next.fetch_add(1, Ordering::Relaxed);
            if chunk >= self.chunks {
                return;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(
                U_SAMPLE_SEED ^ (chunk as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let mut local: [Vec<u64>; N] = std::array::from_fn(|i| vec![0; SPECS[i].levels.len()]);
            let todo = U_SAMPLE_CHUNK.min(self.pairs - chunk * U_SAMPLE_CHUNK);
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
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            for i in 0..N {
                for (l, v) in local[i].iter().enumerate() {
                    counts[i][l] += v;
                }
            }
        }
    }

    /// `u` from every chunk, once [`USample::work`] has returned on some thread (every
    /// chunk is then drawn).
    pub fn finish(self) -> RandomU {
        debug_assert!(self.next.load(std::sync::atomic::Ordering::Relaxed) >= self.chunks);
        let counts = self.counts.into_inner().unwrap_or_else(|e| e.into_inner());
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
}
