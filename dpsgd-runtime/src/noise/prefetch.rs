//! Noise drawn ahead on a second core, handed over without locks or allocation.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BLOCK, GaussianNoise, NoiseSource};
use crate::Float;

/// Draws the next steps' noise on a background thread while the current step runs:
/// noise for a model of P parameters costs P normal draws per step, as much as the
/// rest of a small model's step. A step that finds its noise not yet drawn draws the
/// blocks left alongside the worker, so the two cores share whichever is the longer
/// part. Always draws vectors of `len`, in stream order.
pub struct PrefetchedNoise<F: Float> {
    len: usize,
    shared: Arc<Handoff<F>>,
    /// The slot the next step takes its noise from.
    next: usize,
    /// Values of slot `next` already read by [`take`](Self::take), while it holds it.
    taken: Option<usize>,
    worker: Option<JoinHandle<()>>,
}

/// Two slots pass between the step and the worker, alternately: while the step adds
/// one, the worker fills the other. A side spins a little before it sleeps, because a
/// step is tens of microseconds and waking a sleeping thread costs several; the
/// handoff allocates nothing.
struct Handoff<F> {
    /// The stream (the worker counts the calls).
    noise: GaussianNoise,
    slots: [Slot<F>; 2],
    closed: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// One step's noise: a call of the stream, drawn block by block (`BLOCK` values each,
/// as [`GaussianNoise`] draws them) by whoever claims the block first.
struct Slot<F> {
    /// Written through raw pointers from these cells, one claimed block per thread.
    values: Box<[UnsafeCell<F>]>,
    /// The call it holds, set before it opens.
    call: AtomicU64,
    /// Set when the worker opens it for drawing, cleared when the step has used it.
    open: AtomicBool,
    /// The next block to claim; none are left once it reaches the number of blocks.
    claimed: AtomicUsize,
    /// Blocks drawn.
    drawn: AtomicUsize,
}

// SAFETY: while a slot is closed only the worker touches it; while it is open each
// block of its values is written only by the thread that claimed it, and read by the
// step only after every block is drawn (`drawn`, release/acquire).
unsafe impl<F: Send> Sync for Handoff<F> {}

/// How long the worker spins for an empty slot before it sleeps: about one step of a
/// mid-sized model, so that in the steady state the step never has to wake it. It
/// spins only while its last wait was shorter than this: where steps are longer,
/// spinning would end asleep all the same, after taking that much of a core the
/// step's threads share.
const WORKER_SPIN: Duration = Duration::from_micros(100);
/// How long the step spins for its slot to open: briefly, because it opens as soon
/// as the worker has claimed the last block of the slot before.
const STEP_SPIN: Duration = Duration::from_micros(5);

impl<F: Float> Handoff<F> {
    /// Waits until `ready()`, spinning for up to `spin` before sleeping; false once
    /// closed.
    fn wait_for(&self, ready: impl Fn() -> bool, spin: Duration) -> bool {
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

    /// Opens slot `i` or closes it, and wakes the other side if it sleeps.
    fn set_open(&self, i: usize, open: bool) {
        self.slots[i].open.store(open, Ordering::Release);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().expect("noise lock");
            self.wake.notify_all();
        }
    }

    /// Claims and draws blocks of open slot `i` until none are left unclaimed.
    fn draw_claimed(&self, i: usize) {
        let slot = &self.slots[i];
        let call = slot.call.load(Ordering::Relaxed);
        // `UnsafeCell<F>` has the layout of `F`, and values in cells may be written
        // through pointers from a shared reference.
        let (values, len) = (UnsafeCell::raw_get(slot.values.as_ptr()), slot.values.len());
        loop {
            let k = slot.claimed.fetch_add(1, Ordering::Relaxed);
            if k * BLOCK >= len {
                return;
            }
            // SAFETY: block `k` is this thread's alone (it claimed it) and lies inside
            // the values; blocks do not overlap.
            let block = unsafe { std::slice::from_raw_parts_mut(values.add(k * BLOCK), BLOCK.min(len - k * BLOCK)) };
            self.noise.block(call, k, block, |v, z| *v = z);
            slot.drawn.fetch_add(1, Ordering::Release);
        }
    }
}

impl<F: Float> PrefetchedNoise<F> {
    /// Noise vectors of `len` values from `source`, continuing at its next call,
    /// drawn ahead by a new background thread (`dpsgd-noise`). Every
    /// [`add_noise`](NoiseSource::add_noise) must then be given `len` values.
    pub fn new(source: GaussianNoise, len: usize) -> Self {
        let slot = || Slot {
            values: (0..len).map(|_| UnsafeCell::new(F::ZERO)).collect(),
            call: AtomicU64::new(0),
            open: AtomicBool::new(false),
            claimed: AtomicUsize::new(0),
            drawn: AtomicUsize::new(0),
        };
        let mut call = source.calls;
        let shared = Arc::new(Handoff {
            noise: source,
            slots: [slot(), slot()],
            closed: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let handoff = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("dpsgd-noise".into())
            .spawn(move || {
                let mut spin = WORKER_SPIN;
                for i in (0..2).cycle() {
                    let slot = &handoff.slots[i];
                    let start = Instant::now();
                    if !handoff.wait_for(|| !slot.open.load(Ordering::Acquire), spin) {
                        return;
                    }
                    spin = if start.elapsed() < WORKER_SPIN { WORKER_SPIN } else { Duration::ZERO };
                    slot.call.store(call, Ordering::Relaxed);
                    slot.claimed.store(0, Ordering::Relaxed);
                    slot.drawn.store(0, Ordering::Relaxed);
                    call += 1;
                    handoff.set_open(i, true);
                    handoff.draw_claimed(i);
                }
            })
            .expect("spawning the noise thread");
        PrefetchedNoise { len, shared, next: 0, taken: None, worker: Some(worker) }
    }

    /// The next values of the stream, at most `max` and at least one: the rest of the
    /// vector the last call read from, or the start of the next one. The vectors are
    /// those [`add_noise`](NoiseSource::add_noise) adds, in order, read `max` at a time
    /// by whoever needs a varying number of draws. (A source is read one way only.)
    #[inline]
    pub fn take(&mut self, max: usize) -> &[F] {
        let taken = match self.taken {
            Some(taken) if taken < self.len => taken,
            held => {
                if held.is_some() {
                    self.release();
                }
                self.acquire();
                0
            }
        };
        let n = max.min(self.len - taken);
        self.taken = Some(taken + n);
        &self.values()[taken..taken + n]
    }

    /// Waits for the next slot's values, drawing the blocks the worker has not
    /// claimed.
    fn acquire(&self) {
        let (i, shared) = (self.next, &*self.shared);
        let slot = &shared.slots[i];
        assert!(shared.wait_for(|| slot.open.load(Ordering::Acquire), STEP_SPIN), "the noise thread stopped");
        shared.draw_claimed(i);
        // The worker is finishing the last block it claimed: at most one block.
        let blocks = self.len.div_ceil(BLOCK);
        while slot.drawn.load(Ordering::Acquire) < blocks {
            std::thread::yield_now();
        }
    }

    /// The values of the slot acquired.
    fn values(&self) -> &[F] {
        let slot = &self.shared.slots[self.next];
        // SAFETY: every block is drawn and nobody draws into an open slot's blocks
        // again; the step reads it until it closes the slot.
        unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(slot.values.as_ptr()), self.len) }
    }

    /// Hands the slot acquired back to the worker, to draw the vector after next.
    fn release(&mut self) {
        self.shared.set_open(self.next, false);
        self.next = 1 - self.next;
        self.taken = None;
    }
}

impl<F: Float> NoiseSource<F> for PrefetchedNoise<F> {
    fn add_noise(&mut self, dst: &mut [F], std: F) {
        assert_eq!(dst.len(), self.len, "prefetched noise has a fixed length");
        assert!(self.taken.is_none(), "prefetched noise read both whole and in parts");
        self.acquire();
        crate::kernels::vector::add_scaled(std, self.values(), dst);
        self.release();
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
        // Several blocks, asked for at once: the step draws some of them itself.
        let len = 3 * BLOCK + 100;
        let mut inline = GaussianNoise::insecure_reproducible(5);
        let mut prefetched = PrefetchedNoise::<f32>::new(GaussianNoise::insecure_reproducible(5), len);
        for _ in 0..5 {
            let mut a = vec![0.5f32; len];
            let mut b = vec![0.5f32; len];
            inline.add_noise(&mut a, 1.3);
            prefetched.add_noise(&mut b, 1.3);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn values_taken_in_parts_are_the_stream_in_order() {
        let len = BLOCK + 300;
        let mut whole = GaussianNoise::insecure_reproducible(6);
        let mut parts = PrefetchedNoise::<f64>::new(GaussianNoise::insecure_reproducible(6), len);
        let mut taken = Vec::new();
        // Parts that end inside a vector, at its end and across it.
        for max in [7, len - 7, 1000, 5000, len].iter().cycle().take(12) {
            let values = parts.take(*max);
            assert!(!values.is_empty() && values.len() <= *max);
            taken.extend_from_slice(values);
        }
        let mut want = Vec::new();
        while want.len() < taken.len() {
            let mut vector = vec![0.0; len];
            whole.add_noise(&mut vector, 1.0);
            want.extend(vector);
        }
        assert_eq!(taken, want[..taken.len()]);
    }

    #[test]
    fn dropping_prefetched_noise_stops_its_thread_whatever_it_is_doing() {
        drop(PrefetchedNoise::<f32>::new(GaussianNoise::insecure_reproducible(1), 4000));
        let mut noise = PrefetchedNoise::<f32>::new(GaussianNoise::insecure_reproducible(1), 4000);
        noise.add_noise(&mut vec![0.0; 4000], 1.0);
        // Long enough for the worker to stop spinning and sleep.
        std::thread::sleep(Duration::from_millis(5));
        // Dropping joins the worker: it returns only if the worker stopped.
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(noise);
            done.send(()).unwrap();
        });
        assert!(dropped.recv_timeout(Duration::from_secs(30)).is_ok(), "the noise thread did not stop");
    }
}
