//! Gaussian noise for the private step.

mod prefetch;

pub use prefetch::PrefetchedNoise;

use rand_chacha::ChaCha12Rng;

use crate::Float;
use crate::rng::{Stream, seek, stream};

/// A source of i.i.d. standard normal draws, added scaled to a gradient.
pub trait NoiseSource<F: Float> {
    /// Adds `std * z_j` to every `dst[j]`, where the `z_j` are the next `dst.len()`
    /// draws of the stream.
    fn add_noise(&mut self, dst: &mut [F], std: F);
}

/// Standard normal draws (`rand_distr`'s ziggurat) from a seeded ChaCha12 stream: the
/// same seed gives the same noise, bit for bit. Call `t` (step `t`'s noise) draws from
/// its own part of the stream, so a resumed run continues it exactly.
pub struct GaussianNoise {
    rng: ChaCha12Rng,
    calls: u64,
}

impl GaussianNoise {
    pub fn seeded(seed: u64) -> Self {
        GaussianNoise::seeded_at(seed, 0)
    }

    /// The stream of `seed` as it is after `calls` calls.
    pub fn seeded_at(seed: u64, calls: u64) -> Self {
        GaussianNoise { rng: stream(seed, Stream::Noise), calls }
    }

    /// Writes the next call's draws to `out`.
    pub(crate) fn draw(&mut self, out: &mut [impl Float]) {
        seek(&mut self.rng, self.calls);
        self.calls += 1;
        for z in out {
            *z = Float::standard_normal(&mut self.rng);
        }
    }
}

impl<F: Float> NoiseSource<F> for GaussianNoise {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        seek(&mut self.rng, self.calls);
        self.calls += 1;
        for v in dst {
            *v += std * F::standard_normal(&mut self.rng);
        }
    }
}

/// Below this many coordinates, drawing the noise inline is cheaper than handing
/// buffers to another thread.
const PREFETCH_MIN_LEN: usize = 2048;

/// The noise source training uses, after `steps` noisy steps: the seeded stream of
/// [`GaussianNoise`], drawn ahead on a second core when the gradient is large enough
/// for that to pay. Either way the draws, hence the trained weights, are the same.
pub fn for_training<F: Float>(seed: u64, len: usize, steps: u64) -> Box<dyn NoiseSource<F> + Send> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let source = GaussianNoise::seeded_at(seed, steps);
    if len >= PREFETCH_MIN_LEN && cores > 1 { Box::new(PrefetchedNoise::new(source, len)) } else { Box::new(source) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_requested_spread_and_repeat_with_the_seed() {
        let n = 200_000;
        let mut a = vec![0.0f64; n];
        GaussianNoise::seeded(7).add_noise(&mut a, 2.0);
        let mean = a.iter().sum::<f64>() / n as f64;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.02, "std {}", var.sqrt());

        let mut b = vec![0.0f64; n];
        GaussianNoise::seeded(7).add_noise(&mut b, 2.0);
        assert_eq!(a, b);
        let mut c = vec![0.0f64; n];
        GaussianNoise::seeded(8).add_noise(&mut c, 2.0);
        assert_ne!(a, c);
    }
}
