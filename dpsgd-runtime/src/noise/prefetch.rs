//! Noise drawn ahead on a second core, handed over without locks or allocation.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{GaussianNoise, NoiseSource};
use crate::Float;

/// Draws the next steps' noise on a background thread while the current step runs:
/// noise for a model of P parameters costs P normal draws per step, as much as the
/// rest of a small model's step. Always draws vectors of `len`, in stream order.
pub struct PrefetchedNoise<F: Float> {
    len: usize,
    shared: Arc<Handoff<F>>,
    /// The slot the next step takes its noise from.
    next: usize,
    worker: Option<JoinHandle<()>>,
}

/// Two slots pass between the step and the worker, alternately: while the step adds
/// one, the worker fills the other. A side spins a little before it sleeps, because a
/// step is tens of microseconds and waking a sleeping thread costs several; the
/// handoff allocates nothing.
struct Handoff<F> {
    slots: [UnsafeCell<Vec<F>>; 2],
    full: [AtomicBool; 2],
    closed: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: a slot's vector is touched only by the side that owns it: the worker while
// `full` is false, the step while it is true; ownership moves with release/acquire.
unsafe impl<F: Send> Sync for Handoff<F> {}

/// How long the worker spins for an empty slot before it sleeps: about one step of a
/// mid-sized model, so that in the steady state the step never has to wake it.
const WORKER_SPIN: Duration = Duration::from_micros(100);
/// How long the step spins for its noise: briefly, because when the noise is late the
/// worker is the bottleneck, and a spinning step would compete with it for the core
/// where virtual CPUs share one.
const STEP_SPIN: Duration = Duration::from_micros(5);

impl<F> Handoff<F> {
    /// Waits until slot `i` is full (`want`) or empty (`!want`), spinning for up to
    /// `spin` before sleeping; false once closed.
    fn wait_for(&self, i: usize, want: bool, spin: Duration) -> bool {
        let ready = || self.full[i].load(Ordering::Acquire) == want;
        let start = Instant::now();
        while !ready() {
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            if start.elapsed() < spin {
                // Read the clock once per batch of pauses: it costs more than a pause.
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                continue;
            }
            let guard = self.lock.lock().expect("noise lock");
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let guard =
                self.wake.wait_while(guard, |_| !ready() && !self.closed.load(Ordering::Acquire)).expect("noise lock");
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(guard);
        }
        true
    }

    /// Marks slot `i` full or empty and wakes the other side if it sleeps.
    fn set(&self, i: usize, full: bool) {
        self.full[i].store(full, Ordering::Release);
        self.wake_sleepers();
    }

    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().expect("noise lock");
            self.wake.notify_all();
        }
    }
}

impl<F: Float> PrefetchedNoise<F> {
    pub fn new(mut source: GaussianNoise, len: usize) -> Self {
        let shared = Arc::new(Handoff {
            slots: [UnsafeCell::new(vec![F::ZERO; len]), UnsafeCell::new(vec![F::ZERO; len])],
            full: [AtomicBool::new(false), AtomicBool::new(false)],
            closed: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let handoff = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("dpsgd-noise".into())
            .spawn(move || {
                for i in (0..2).cycle() {
                    if !handoff.wait_for(i, false, WORKER_SPIN) {
                        return;
                    }
                    // SAFETY: the slot is empty, so the worker owns it.
                    let slot = unsafe { &mut *handoff.slots[i].get() };
                    source.draw(slot);
                    handoff.set(i, true);
                }
            })
            .expect("spawning the noise thread");
        PrefetchedNoise { len, shared, next: 0, worker: Some(worker) }
    }
}

impl<F: Float> NoiseSource<F> for PrefetchedNoise<F> {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        assert_eq!(dst.len(), self.len, "prefetched noise has a fixed length");
        let i = self.next;
        assert!(self.shared.wait_for(i, true, STEP_SPIN), "the noise thread stopped");
        // SAFETY: the slot is full, so the step owns it until it is marked empty.
        let slot = unsafe { &*self.shared.slots[i].get() };
        crate::kernels::vector::add_scaled(std, slot, dst);
        self.shared.set(i, false);
        self.next = 1 - i;
    }
}

impl<F: Float> Drop for PrefetchedNoise<F> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        {
            let _guard = self.shared.lock.lock();
            self.shared.wake.notify_all();
        }
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
    fn dropping_prefetched_noise_stops_its_thread_whatever_it_is_doing() {
        drop(PrefetchedNoise::<f32>::new(GaussianNoise::seeded(1), 4000));
        let mut noise = PrefetchedNoise::<f32>::new(GaussianNoise::seeded(1), 4000);
        noise.add_noise(&mut vec![0.0; 4000], 1.0);
        // Long enough for the worker to stop spinning and sleep.
        std::thread::sleep(Duration::from_millis(5));
        drop(noise);
    }
}
