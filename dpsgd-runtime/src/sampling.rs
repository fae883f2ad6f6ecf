//! Which examples go into each step's batch.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use rand_distr::{Distribution, Geometric};

use crate::error::{Result, ensure_config};
use crate::rng::{SecretKey, Stream, seek};

/// Poisson sampling: every example joins each batch independently with probability
/// `q`, which is what the privacy accounting of DP-SGD assumes. Batch sizes vary and
/// may be zero.
///
/// Draws the gaps between chosen examples from a geometric distribution, so a step
/// costs O(q N) random numbers instead of N coin flips. The subsampling amplifies
/// privacy only while nobody can tell which examples a batch holds: training keys
/// the sampler with the run's secret key.
pub struct PoissonSampler {
    len: usize,
    gaps: Geometric,
    rng: ChaCha12Rng,
    /// Batches drawn so far; batch `t` is drawn from step `t`'s part of the stream.
    step: u64,
}

impl PoissonSampler {
    /// A sampler over examples `0..len` at rate `rate` (`q`), keyed by `key`'s
    /// sampling stream. Errors unless `rate` lies in `(0, 1]` and `len > 0`.
    pub fn new(len: usize, rate: f64, key: &SecretKey) -> Result<Self> {
        ensure_config!(rate > 0.0 && rate <= 1.0, "the sampling rate q must lie in (0, 1], got {rate}");
        ensure_config!(len > 0, "cannot sample from an empty dataset");
        let gaps = Geometric::new(rate).map_err(|e| crate::Error::Config(format!("sampling rate {rate}: {e}")))?;
        Ok(PoissonSampler { len, gaps, rng: key.stream(Stream::Sampling), step: 0 })
    }

    /// Continues as if `step` batches had been drawn.
    pub fn seek(&mut self, step: u64) {
        self.step = step;
    }

    /// Replaces `batch` with the next batch's example indices, in increasing order.
    pub fn next_batch(&mut self, batch: &mut Vec<usize>) {
        seek(&mut self.rng, self.step);
        self.step += 1;
        batch.clear();
        let mut next = 0u64;
        loop {
            next = next.saturating_add(self.gaps.sample(&mut self.rng));
            if next >= self.len as u64 {
                return;
            }
            batch.push(next as usize);
            next += 1;
        }
    }
}

/// Fixed-size batches from a fresh shuffle every epoch: the non-private baseline.
/// The last batch of an epoch may be smaller.
pub struct ShuffledBatches {
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
    rng: ChaCha12Rng,
    /// The epoch `order` belongs to; epoch `e`'s shuffle comes from its part of the stream.
    epoch: u64,
}

impl ShuffledBatches {
    /// Batches of `batch_size` over examples `0..len`, shuffled by `key`'s sampling
    /// stream. Errors unless both are positive.
    pub fn new(len: usize, batch_size: usize, key: &SecretKey) -> Result<Self> {
        ensure_config!(batch_size > 0, "the batch size must be at least 1");
        ensure_config!(len > 0, "cannot draw batches from an empty dataset");
        let mut batches =
            ShuffledBatches { order: Vec::new(), batch_size, position: 0, rng: key.stream(Stream::Sampling), epoch: 0 };
        batches.order = (0..len).collect();
        batches.shuffle(0);
        Ok(batches)
    }

    /// Puts the examples in epoch `epoch`'s order.
    fn shuffle(&mut self, epoch: u64) {
        self.order.sort_unstable();
        seek(&mut self.rng, epoch);
        self.order.shuffle(&mut self.rng);
        self.epoch = epoch;
        self.position = 0;
    }

    /// Continues as if `step` batches had been drawn.
    pub fn seek(&mut self, step: u64) {
        let per_epoch = self.order.len().div_ceil(self.batch_size) as u64;
        self.shuffle(step / per_epoch);
        self.position = ((step % per_epoch) as usize * self.batch_size).min(self.order.len());
    }

    /// Replaces `batch` with the next batch's indices, reshuffling at the end of an epoch.
    pub fn next_batch(&mut self, batch: &mut Vec<usize>) {
        if self.position >= self.order.len() {
            self.shuffle(self.epoch + 1);
        }
        let end = (self.position + self.batch_size).min(self.order.len());
        batch.clear();
        batch.extend_from_slice(&self.order[self.position..end]);
        self.position = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> SecretKey {
        SecretKey::insecure_from_seed(seed)
    }

    #[test]
    fn poisson_batches_have_the_expected_size_and_inclusion_rate() {
        let (n, q, steps) = (1000, 0.05, 4000);
        let mut sampler = PoissonSampler::new(n, q, &key(3)).unwrap();
        let mut counts = vec![0usize; n];
        let mut batch = Vec::new();
        let mut sizes = Vec::new();
        for _ in 0..steps {
            sampler.next_batch(&mut batch);
            assert!(batch.windows(2).all(|w| w[0] < w[1]));
            for &i in &batch {
                counts[i] += 1;
            }
            sizes.push(batch.len() as f64);
        }
        let mean = sizes.iter().sum::<f64>() / steps as f64;
        let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / steps as f64;
        // Binomial(n, q): mean 50, variance 47.5.
        assert!((mean - 50.0).abs() < 0.5, "mean batch size {mean}");
        assert!((var - 47.5).abs() < 5.0, "batch size variance {var}");
        // Every example is included at rate q (200 expected, sd 13.8).
        assert!(counts.iter().all(|&c| (120..=280).contains(&c)));
    }

    /// Pearson's chi-square test of the batch sizes against Binomial(N, q): with a fixed
    /// seed, below the 0.1% critical value.
    #[test]
    fn poisson_batch_sizes_follow_the_binomial_distribution() {
        let (n, q, steps) = (2000usize, 0.02, 20_000);
        let mut sampler = PoissonSampler::new(n, q, &key(11)).unwrap();
        let mut batch = Vec::new();
        let mut observed = vec![0.0f64; n + 1];
        for _ in 0..steps {
            sampler.next_batch(&mut batch);
            observed[batch.len()] += 1.0;
        }
        let log_pmf = |k: usize| {
            let log_choose: f64 = (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum();
            log_choose + k as f64 * q.ln() + (n - k) as f64 * (-q).ln_1p()
        };
        // Bins 25..=55 (mean 40, sd 6.3), the tails merged into the end bins.
        let (lo, hi) = (25, 55);
        let mut chi2 = 0.0;
        for k in lo..=hi {
            let (mut o, mut e) = (observed[k], steps as f64 * log_pmf(k).exp());
            if k == lo {
                o += observed[..lo].iter().sum::<f64>();
                e += (0..lo).map(|j| steps as f64 * log_pmf(j).exp()).sum::<f64>();
            }
            if k == hi {
                o += observed[hi + 1..].iter().sum::<f64>();
                e += (hi + 1..=n).map(|j| steps as f64 * log_pmf(j).exp()).sum::<f64>();
            }
            chi2 += (o - e) * (o - e) / e;
        }
        // 30 degrees of freedom: P(chi2 > 59.7) = 0.001.
        assert!(chi2 < 59.7, "chi-square {chi2}");
    }

    #[test]
    fn full_rate_takes_everything_and_bad_rates_are_errors() {
        let mut sampler = PoissonSampler::new(10, 1.0, &key(1)).unwrap();
        let mut batch = Vec::new();
        sampler.next_batch(&mut batch);
        assert_eq!(batch, (0..10).collect::<Vec<_>>());
        for q in [0.0, -0.1, 1.5, f64::NAN] {
            let err = PoissonSampler::new(10, q, &key(1)).err().expect("an error").to_string();
            assert!(err.contains("the sampling rate q must lie in (0, 1]"), "q = {q}: {err}");
        }
    }

    #[test]
    fn seeking_continues_the_same_batches() {
        let draw = |sampler: &mut dyn FnMut(&mut Vec<usize>), n: usize| {
            let mut all = Vec::new();
            let mut batch = Vec::new();
            for _ in 0..n {
                sampler(&mut batch);
                all.push(batch.clone());
            }
            all
        };
        let mut whole = PoissonSampler::new(500, 0.03, &key(4)).unwrap();
        let expected = draw(&mut |b| whole.next_batch(b), 10);
        let mut resumed = PoissonSampler::new(500, 0.03, &key(4)).unwrap();
        resumed.seek(6);
        assert_eq!(draw(&mut |b| resumed.next_batch(b), 4), expected[6..]);

        let mut whole = ShuffledBatches::new(10, 4, &key(2)).unwrap();
        let expected = draw(&mut |b| whole.next_batch(b), 10);
        for start in [0, 2, 3, 7] {
            let mut resumed = ShuffledBatches::new(10, 4, &key(2)).unwrap();
            resumed.seek(start as u64);
            assert_eq!(draw(&mut |b| resumed.next_batch(b), 10 - start), expected[start..], "from {start}");
        }
    }

    #[test]
    fn shuffled_batches_cover_every_example_once_per_epoch() {
        let mut batches = ShuffledBatches::new(10, 4, &key(1)).unwrap();
        let mut seen = Vec::new();
        let mut batch = Vec::new();
        for _ in 0..3 {
            batches.next_batch(&mut batch);
            seen.extend_from_slice(&batch);
        }
        assert_eq!(batch.len(), 2, "the third batch ends the epoch");
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }
}
