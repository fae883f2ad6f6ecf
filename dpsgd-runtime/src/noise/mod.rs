//! Gaussian noise for the private step.

pub(crate) mod chacha;
mod deferred;
mod prefetch;
mod ziggurat;

pub use deferred::DeferredTableNoise;
pub use prefetch::PrefetchedNoise;

use std::ops::Range;

use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use self::chacha::ChaCha12;
use crate::Float;
use crate::rng::{STEP_WORDS, SecretKey, Stream};
use crate::spec::ModelSpec;

/// A source of i.i.d. standard normal draws, added scaled to a gradient.
pub trait NoiseSource<F: Float> {
    /// Adds `std * z_j` to every `dst[j]`, where the `z_j` are the next `dst.len()`
    /// draws of the stream.
    fn add_noise(&mut self, dst: &mut [F], std: F);
}

/// Standard normal draws (the ziggurat method, `ziggurat.rs`) from a keyed ChaCha12
/// stream (`chacha.rs`): the same key gives the same noise, bit for bit. Call `t`
/// (step `t`'s noise) draws from its own part of the stream, so a resumed run
/// continues it exactly. Within a call, each block of `BLOCK` coordinates draws from
/// its own stretch of that part, so the blocks are drawn in parallel and the noise
/// does not depend on the thread count.
///
/// Training keys it with a run's [`SecretKey`] from the operating system; the
/// `insecure_reproducible` constructors key it from a public seed, for tests and
/// benchmarks, and noise anyone can regenerate protects nothing.
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
    /// The noise stream of `key` as it is after `calls` calls.
    pub fn keyed(key: &SecretKey, calls: u64) -> Self {
        GaussianNoise::keyed_for(key, Stream::Noise, calls)
    }

    /// The noise of `key`'s stream for `purpose` as it is after `calls` calls.
    pub(crate) fn keyed_for(key: &SecretKey, purpose: Stream, calls: u64) -> Self {
        GaussianNoise { rng: key.stream(purpose), calls }
    }

    /// Noise from a public seed: NOT private, anyone can regenerate it.
    pub fn insecure_reproducible(seed: u64) -> Self {
        GaussianNoise::insecure_reproducible_at(seed, 0)
    }

    /// [`insecure_reproducible`](Self::insecure_reproducible) after `calls` calls.
    pub fn insecure_reproducible_at(seed: u64, calls: u64) -> Self {
        GaussianNoise::keyed(&SecretKey::insecure_from_seed(seed), calls)
    }

    /// Calls `apply(out[j], z_j)` with the next call's draws `z_j` for the coordinates
    /// in `blocks` (of `BLOCK` each), on the pool's threads.
    fn next_call<F: Float>(&mut self, out: &mut [F], blocks: Range<usize>, apply: impl Fn(&mut F, F) + Sync) {
        assert!(out.len() as u128 <= MAX_LEN, "noise for more than {MAX_LEN} coordinates in one call");
        let call = self.calls;
        self.calls += 1;
        let draw_block = |(k, block): (usize, &mut [F])| self.block(call, k, block, &apply);
        let (skip, take) = (blocks.start, blocks.len());
        // Handing one block to the thread pool costs more than drawing it here.
        if take > 1 {
            out.par_chunks_mut(BLOCK).enumerate().skip(skip).take(take).for_each(draw_block);
        } else {
            out.chunks_mut(BLOCK).enumerate().skip(skip).take(take).for_each(draw_block);
        }
    }

    /// Adds `std * z_j` to the coordinates of `dst` in blocks `blocks` (of `BLOCK`
    /// coordinates each) of the next call's draws, the same values a whole call would
    /// add there, and leaves the others: processes that add disjoint runs of blocks
    /// covering `dst` add one call's noise between them, once.
    pub fn add_noise_blocks<F: Float>(&mut self, dst: &mut [F], std: F, blocks: Range<usize>) {
        self.next_call(dst, blocks, |v, z| *v += std * z);
    }

    /// The number of blocks noise for `len` coordinates is drawn in.
    pub fn blocks(len: usize) -> usize {
        len.div_ceil(BLOCK)
    }

    /// Calls `apply(block[j], z_j)` with the draws of block `k` of call `call`.
    fn block<F: Float>(&self, call: u64, k: usize, block: &mut [F], apply: impl Fn(&mut F, F)) {
        let mut words = ChaCha12::at(&self.rng, call as u128 * STEP_WORDS + k as u128 * BLOCK_WORDS);
        ziggurat::fill(&mut words, block, |v, z| apply(v, F::from_f64(z)));
    }
}

impl<F: Float> NoiseSource<F> for GaussianNoise {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        self.next_call(dst, 0..GaussianNoise::blocks(dst.len()), |v, z| *v += std * z);
    }
}

/// Gradients of at least this many coordinates can have their noise drawn ahead on a
/// background thread; below it, drawing inline is cheaper than the handover.
const PREFETCH_MIN_LEN: usize = 2048;
/// ... when batches hold at least this many examples (expected), or when the noise
/// is a large part of the step (below). Drawing ahead pays where a step leaves a core
/// idle for part of its time, as steps of larger batches of small models do, and
/// where the noise outlasts the rest of the step: the step then draws the blocks the
/// worker has not reached, so both cores draw. Where both cores are busy with a
/// step much longer than its noise, the background thread only takes their time, and
/// drawing across the pool at the end of the step is faster. Measured on two cores,
/// drawn ahead (with the step's help) against across the pool: the embedding net
/// (160,370 parameters) 77k against 63k examples/s at batch 20, 144k against 111k at
/// 40, 202k against 145k at 60; the feed-forward net (5,352) 1.59M against 0.99M at
/// 20, 2.51M against 1.39M at 40; the MNIST CNN 32.9k against 35.5k at batch 20; the
/// LSTM net and the CIFAR-10 net the same at 20.
const PREFETCH_MIN_BATCH: f64 = 48.0;
/// A normal draw takes about as long as this many FLOPs of a step (2.7 ns against
/// some 80 GFLOP/s on a core).
const DRAW_FLOPS: f64 = 200.0;
/// Noise counts as a large part of a step when it would take at least this share of
/// the step's compute (about three forward passes per example): at batch 20 the
/// feed-forward net is about 1.7 and the embedding net over 100; the MNIST CNN and
/// the LSTM net, faster without drawing ahead or no slower, about 0.1.
const PREFETCH_MIN_NOISE_SHARE: f64 = 0.5;

/// The noise source training uses for `len` of `spec`'s gradient coordinates (all of
/// them, or those outside its embedding tables when [`DeferredTableNoise`] draws
/// theirs), after `steps` noisy steps, with batches of `expected_batch` examples: the
/// stream of [`GaussianNoise`] under the run's `key`, drawn ahead or drawn in parallel
/// as measured faster. Either way the draws, hence the trained weights, are the same.
pub fn for_training<F: Float>(
    spec: &ModelSpec,
    len: usize,
    key: &SecretKey,
    expected_batch: f64,
    steps: u64,
) -> Box<dyn NoiseSource<F> + Send> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let step_flops = 3.0 * spec.forward_flops_per_example as f64 * expected_batch;
    let noise_share = len as f64 * DRAW_FLOPS / step_flops.max(1.0);
    let source = GaussianNoise::keyed(key, steps);
    let worth_it = expected_batch >= PREFETCH_MIN_BATCH || noise_share >= PREFETCH_MIN_NOISE_SHARE;
    if cores > 1 && len >= PREFETCH_MIN_LEN && worth_it {
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
        GaussianNoise::insecure_reproducible(7).add_noise(&mut a, 2.0);
        let mean = a.iter().sum::<f64>() / n as f64;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.02, "std {}", var.sqrt());

        let mut b = vec![0.0f64; n];
        GaussianNoise::insecure_reproducible(7).add_noise(&mut b, 2.0);
        assert_eq!(a, b);
        let mut c = vec![0.0f64; n];
        GaussianNoise::insecure_reproducible(8).add_noise(&mut c, 2.0);
        assert_ne!(a, c);
    }

    #[test]
    fn blocks_drawn_apart_add_up_to_the_whole_call() {
        let len = 5 * BLOCK + 100;
        let mut whole = vec![0.5f32; len];
        let mut noise = GaussianNoise::insecure_reproducible_at(11, 2);
        noise.add_noise(&mut whole, 3.0);
        // Three parts, drawn by three sources at the same call, summed.
        let mut parts = vec![0.5f32; len];
        for blocks in [0..2, 2..3, 3..GaussianNoise::blocks(len)] {
            let mut part = vec![0.0f32; len];
            let mut source = GaussianNoise::insecure_reproducible_at(11, 2);
            source.add_noise_blocks(&mut part, 3.0, blocks.clone());
            let outside = |j: usize| !blocks.contains(&(j / BLOCK));
            assert!((0..len).filter(|&j| outside(j)).all(|j| part[j] == 0.0), "blocks {blocks:?} only");
            parts.iter_mut().zip(&part).for_each(|(p, v)| *p += v);
            // Each source moves on to the next call, as a whole call does.
            assert_eq!(source.calls, noise.calls);
        }
        assert_eq!(parts, whole);
    }

    #[test]
    fn draws_do_not_depend_on_the_thread_count_and_blocks_differ() {
        let len = 3 * BLOCK + 17;
        let draw = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut noise = GaussianNoise::insecure_reproducible_at(3, 5);
            let mut out = vec![0.0f32; len];
            pool.install(|| noise.add_noise(&mut out, 1.0));
            out
        };
        let one = draw(1);
        assert_eq!(one, draw(3));
        assert_ne!(one[..BLOCK], one[BLOCK..2 * BLOCK]);

        // A call shorter than a block draws its first block's values.
        let mut short = vec![0.0f32; 100];
        GaussianNoise::insecure_reproducible_at(3, 5).add_noise(&mut short, 1.0);
        assert_eq!(short, one[..100]);
    }
}
