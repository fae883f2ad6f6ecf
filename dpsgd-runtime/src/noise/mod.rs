//! Gaussian noise for the private step.

mod chacha;
mod prefetch;
mod ziggurat;

pub use prefetch::PrefetchedNoise;

use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use self::chacha::ChaCha12;
use crate::Float;
use crate::rng::{STEP_WORDS, Stream, stream};

/// A source of i.i.d. standard normal draws, added scaled to a gradient.
pub trait NoiseSource<F: Float> {
    /// Adds `std * z_j` to every `dst[j]`, where the `z_j` are the next `dst.len()`
    /// draws of the stream.
    fn add_noise(&mut self, dst: &mut [F], std: F);
}

/// Standard normal draws (the ziggurat method, `ziggurat.rs`) from a seeded ChaCha12
/// stream (`chacha.rs`): the same seed gives the same noise, bit for bit. Call `t`
/// (step `t`'s noise) draws from its own part of the stream, so a resumed run
/// continues it exactly. Within a call, each block of `BLOCK` coordinates draws from
/// its own stretch of that part, so the blocks are drawn in parallel and the noise
/// does not depend on the thread count.
pub struct GaussianNoise {
    rng: ChaCha12Rng,
    calls: u64,
}

/// Coordinates drawn from one stretch of the stream.
const BLOCK: usize = 4096;
/// Words of the stream reserved for a block: the ziggurat takes one 64-bit word per
/// draw and rarely more, so a block takes about 2 * 4096 of these 2^20.
const BLOCK_WORDS: u128 = 1 << 20;
/// The most coordinates one call can draw: a call's part of the stream holds
/// `STEP_WORDS / BLOCK_WORDS` blocks (about 4 billion coordinates).
const MAX_LEN: u128 = STEP_WORDS / BLOCK_WORDS * BLOCK as u128;

impl GaussianNoise {
    pub fn seeded(seed: u64) -> Self {
        GaussianNoise::seeded_at(seed, 0)
    }

    /// The stream of `seed` as it is after `calls` calls.
    pub fn seeded_at(seed: u64, calls: u64) -> Self {
        GaussianNoise { rng: stream(seed, Stream::Noise), calls }
    }

    /// Calls `apply(out[j], z_j)` with the next call's draws `z_j`, on the pool's
    /// threads when `parallel`.
    fn next_call<F: Float>(&mut self, out: &mut [F], parallel: bool, apply: impl Fn(&mut F, F) + Sync) {
        assert!(out.len() as u128 <= MAX_LEN, "noise for more than {MAX_LEN} coordinates in one call");
        let start = self.calls as u128 * STEP_WORDS;
        self.calls += 1;
        let draw_block = |k: usize, block: &mut [F]| {
            let mut words = ChaCha12::at(&self.rng, start + k as u128 * BLOCK_WORDS);
            ziggurat::fill(&mut words, block, |v, z| apply(v, F::from_f64(z)));
        };
        // Handing one block to the thread pool costs more than drawing it here.
        if parallel && out.len() > BLOCK {
            out.par_chunks_mut(BLOCK).enumerate().for_each(|(k, block)| draw_block(k, block));
        } else {
            out.chunks_mut(BLOCK).enumerate().for_each(|(k, block)| draw_block(k, block));
        }
    }

    /// Writes the next call's draws to `out`, on the calling thread.
    pub(crate) fn draw<F: Float>(&mut self, out: &mut [F]) {
        self.next_call(out, false, |v, z| *v = z);
    }
}

impl<F: Float> NoiseSource<F> for GaussianNoise {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        self.next_call(dst, true, |v, z| *v += std * z);
    }
}

/// Gradients of at least this many coordinates can have their noise drawn ahead on a
/// background thread; below it, drawing inline is cheaper than the handover.
const PREFETCH_MIN_LEN: usize = 2048;
/// ... when batches hold at least this many examples (expected). Drawing ahead pays
/// where a step leaves a core idle for part of its time, as steps of larger batches
/// of small models do; where both cores are busy, the background thread only takes
/// their time, and drawing across the pool at the end of the step is faster. Measured
/// on two cores, drawn ahead against across the pool: the feed-forward net (5,352
/// parameters) 2.67M against 1.57M examples/s at batch 120, 2.13M against 1.23M at 60,
/// 0.59M against 0.66M at batch 20; the embedding net (160,370) 159k against 115k at
/// batch 120, 81k against 75k at 60, 46k against 54k at 40, 26k against 34k at 20; the
/// MNIST CNN about the same either way; the LSTM net at batch 20, 742 against 797.
const PREFETCH_MIN_BATCH: f64 = 48.0;

/// The noise source training uses, after `steps` noisy steps, for gradients of `len`
/// coordinates and batches of `expected_batch` examples: the seeded stream of
/// [`GaussianNoise`], drawn ahead or drawn in parallel as measured faster. Either way
/// the draws, hence the trained weights, are the same.
pub fn for_training<F: Float>(
    seed: u64,
    len: usize,
    expected_batch: f64,
    steps: u64,
) -> Box<dyn NoiseSource<F> + Send> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let source = GaussianNoise::seeded_at(seed, steps);
    if cores > 1 && len >= PREFETCH_MIN_LEN && expected_batch >= PREFETCH_MIN_BATCH {
        Box::new(PrefetchedNoise::new(source, len))
    } else {
        Box::new(source)
    }
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

    #[test]
    fn draws_do_not_depend_on_the_thread_count_and_blocks_differ() {
        let len = 3 * BLOCK + 17;
        let draw = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut noise = GaussianNoise::seeded_at(3, 5);
            let mut out = vec![0.0f32; len];
            pool.install(|| noise.add_noise(&mut out, 1.0));
            out
        };
        let one = draw(1);
        assert_eq!(one, draw(3));
        assert_ne!(one[..BLOCK], one[BLOCK..2 * BLOCK]);

        // A call shorter than a block draws its first block's values.
        let mut short = vec![0.0f32; 100];
        GaussianNoise::seeded_at(3, 5).add_noise(&mut short, 1.0);
        assert_eq!(short, one[..100]);
    }
}
