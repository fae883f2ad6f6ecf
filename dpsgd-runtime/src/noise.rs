//! Gaussian noise for the private step.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rand_chacha::ChaCha12Rng;

use crate::Float;
use crate::rng::{Stream, stream};

/// A source of i.i.d. standard normal draws, added scaled to a gradient.
pub trait NoiseSource<F: Float> {
    /// Adds `std * z_j` to every `dst[j]`, where the `z_j` are the next `dst.len()`
    /// draws of the stream.
    fn add_noise(&mut self, dst: &mut [F], std: F);
}

/// Standard normal draws (`rand_distr`'s ziggurat) from a seeded ChaCha12 stream: the
/// same seed gives the same noise, bit for bit.
pub struct GaussianNoise {
    rng: ChaCha12Rng,
}

impl GaussianNoise {
    pub fn seeded(seed: u64) -> Self {
        GaussianNoise {
            rng: stream(seed, Stream::Noise),
        }
    }
}

impl<F: Float> NoiseSource<F> for GaussianNoise {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        for v in dst {
            *v += std * F::standard_normal(&mut self.rng);
        }
    }
}

/// Below this many coordinates, drawing the noise inline is cheaper than handing
/// buffers to another thread.
const PREFETCH_MIN_LEN: usize = 2048;

/// The noise source training uses: the seeded stream of [`GaussianNoise`], drawn ahead
/// on a second core when the gradient is large enough for that to pay. Either way the
/// draws, hence the trained weights, are the same.
pub fn for_training<F: Float>(seed: u64, len: usize) -> Box<dyn NoiseSource<F> + Send> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if len >= PREFETCH_MIN_LEN && cores > 1 {
        Box::new(PrefetchedNoise::new(GaussianNoise::seeded(seed), len))
    } else {
        Box::new(GaussianNoise::seeded(seed))
    }
}

/// Draws the next steps' noise on a background thread while the current step runs:
/// noise for a model of P parameters costs P normal draws per step, as much as the
/// rest of a small model's step. Always draws vectors of `len`, in stream order.
pub struct PrefetchedNoise<F: Float> {
    len: usize,
    shared: Arc<Handoff<F>>,
    worker: Option<JoinHandle<()>>,
}

/// Two vectors circulate between the step and the worker: one being added while the
/// other is drawn. The queues never outgrow their initial capacity and the lock and
/// condition variables do not allocate, so handing a vector over allocates nothing.
struct Handoff<F> {
    queues: Mutex<Queues<F>>,
    filled: Condvar,
    emptied: Condvar,
}

struct Queues<F> {
    empty: VecDeque<Vec<F>>,
    filled: VecDeque<Vec<F>>,
    closed: bool,
}

const BUFFERS: usize = 2;

impl<F: Float> PrefetchedNoise<F> {
    pub fn new(mut source: GaussianNoise, len: usize) -> Self {
        let mut empty = VecDeque::with_capacity(BUFFERS);
        for _ in 0..BUFFERS {
            empty.push_back(vec![F::ZERO; len]);
        }
        let queues = Queues {
            empty,
            filled: VecDeque::with_capacity(BUFFERS),
            closed: false,
        };
        let shared = Arc::new(Handoff {
            queues: Mutex::new(queues),
            filled: Condvar::new(),
            emptied: Condvar::new(),
        });
        let handoff = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("dpsgd-noise".into())
            .spawn(move || {
                loop {
                    let mut buffer = {
                        let mut q = handoff.queues.lock().expect("noise queues");
                        loop {
                            if q.closed {
                                return;
                            }
                            if let Some(b) = q.empty.pop_front() {
                                break b;
                            }
                            q = handoff.emptied.wait(q).expect("noise queues");
                        }
                    };
                    for z in buffer.iter_mut() {
                        *z = F::standard_normal(&mut source.rng);
                    }
                    handoff
                        .queues
                        .lock()
                        .expect("noise queues")
                        .filled
                        .push_back(buffer);
                    handoff.filled.notify_one();
                }
            })
            .expect("spawning the noise thread");
        PrefetchedNoise {
            len,
            shared,
            worker: Some(worker),
        }
    }
}

impl<F: Float> NoiseSource<F> for PrefetchedNoise<F> {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        assert_eq!(dst.len(), self.len, "prefetched noise has a fixed length");
        let handoff = &self.shared;
        let buffer = {
            let mut q = handoff.queues.lock().expect("noise queues");
            loop {
                if let Some(b) = q.filled.pop_front() {
                    break b;
                }
                q = handoff.filled.wait(q).expect("noise queues");
            }
        };
        crate::kernels::vector::add_scaled(std, &buffer, dst);
        handoff
            .queues
            .lock()
            .expect("noise queues")
            .empty
            .push_back(buffer);
        handoff.emptied.notify_one();
    }
}

impl<F: Float> Drop for PrefetchedNoise<F> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queues.lock() {
            q.closed = true;
        }
        self.shared.emptied.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetched_noise_is_the_same_stream() {
        let len = 3000;
        let mut inline = GaussianNoise::seeded(5);
        let mut prefetched = PrefetchedNoise::<f32>::new(GaussianNoise::seeded(5), len);
        for _ in 0..5 {
            let mut a = vec![0.5f32; len];
            let mut b = vec![0.5f32; len];
            inline.add_noise(&mut a, 1.3);
            prefetched.add_noise(&mut b, 1.3);
            assert_eq!(a, b);
        }
    }

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
