//! The collective seam over MPI (rsmpi, bound to the system's Open MPI or MPICH), with a
//! watchdog that ends the job when another process stops answering.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::Collective;
use crate::error::{Error, Result};

/// The processes of an MPI job (`MPI_COMM_WORLD`). MPI is initialized when this is
/// made and finalized when it is dropped; only the thread that made it calls MPI.
///
/// MPI itself waits forever for a process that died without a word or hangs. A
/// watchdog thread bounds that: a collective that has not completed after `timeout`
/// ends this process with an error naming the collective, and the launcher then
/// ends the rest of the job.
pub struct Mpi {
    world: SimpleCommunicator,
    watchdog: Watchdog,
    /// Send buffers for the all-reduces (rsmpi reduces from one buffer into another),
    /// grown on first use, so that steps allocate nothing.
    send_f32: RefCell<Vec<f32>>,
    send_f64: RefCell<Vec<f64>>,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

impl Mpi {
    /// Joins the job this process was launched in; `timeout` bounds how long any
    /// collective may wait for the other processes.
    pub fn init(timeout: Duration) -> Result<Self> {
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| Error::Config("MPI was initialized already in this process".into()))?;
        let world = universe.world();
        let watchdog = Watchdog::start(world.rank() as usize, timeout);
        Ok(Mpi {
            world,
            watchdog,
            send_f32: RefCell::new(Vec::new()),
            send_f64: RefCell::new(Vec::new()),
            _universe: universe,
        })
    }

    /// The all-reduce of `values`, through the send buffer `send`.
    fn sum<T: Equivalence + Copy>(&self, send: &RefCell<Vec<T>>, values: &mut [T]) -> Result<()> {
        let _waiting = self.watchdog.enter(Waiting::Sum);
        let mut send = send.borrow_mut();
        send.clear();
        send.extend_from_slice(values);
        self.world.all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    /// Ends every process of the job with `code` (`MPI_Abort`): for an error on one
    /// rank, which the others, waiting in a collective, would otherwise never learn.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum(&self.send_f32, values)
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum(&self.send_f64, values)
    }

    fn broadcast(&self, bytes: &mut [u8]) -> Result<()> {
        let _waiting = self.watchdog.enter(Waiting::Broadcast);
        self.world.process_at_rank(0).broadcast_into(bytes);
        Ok(())
    }

    fn agree(&self, value: u64) -> Result<bool> {
        let _waiting = self.watchdog.enter(Waiting::Agree);
        let (mut low, mut high) = (0u64, 0u64);
        self.world.all_reduce_into(&value, &mut low, SystemOperation::min());
        self.world.all_reduce_into(&value, &mut high, SystemOperation::max());
        Ok(low == high)
    }
}

/// What a rank is waiting for, for the watchdog's message.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Waiting {
    Sum = 1,
    Broadcast = 2,
    Agree = 3,
}

/// Ends the process when one collective has waited longer than the timeout.
struct Watchdog {
    /// Since when the current collective has waited (milliseconds after `epoch`, plus
    /// one so that 0 means none), and what it is.
    since: Arc<AtomicU64>,
    what: Arc<AtomicU64>,
    epoch: Instant,
}

/// Clears the watchdog's clock when the collective returns.
struct Entered<'a>(&'a Watchdog);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.since.store(0, Ordering::Release);
    }
}

impl Watchdog {
    fn start(rank: usize, timeout: Duration) -> Self {
        let (since, what, epoch) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Instant::now());
        let (since_w, what_w) = (since.clone(), what.clone());
        let tick = (timeout / 20).clamp(Duration::from_millis(10), Duration::from_secs(1));
        std::thread::Builder::new()
            .name("dpsgd-mpi-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let started = since_w.load(Ordering::Acquire);
                    if started == 0 {
                        continue;
                    }
                    let waited = epoch.elapsed().saturating_sub(Duration::from_millis(started - 1));
                    if waited > timeout {
                        let what = match what_w.load(Ordering::Acquire) {
                            1 => "the step's all-reduce",
                            2 => "a broadcast",
                            _ => "the check that every process holds the same parameters",
                        };
                        eprintln!(
                            "error: rank {rank}: no answer from the other processes for {:.0} s in {what}: one of them \
                             died or hangs; ending the job (a run with checkpoints resumes from its last, on any \
                             number of processes)",
                            waited.as_secs_f64()
                        );
                        std::process::exit(3);
                    }
                }
            })
            .expect("a thread for the MPI watchdog");
        Watchdog { since, what, epoch }
    }

    fn enter(&self, what: Waiting) -> Entered<'_> {
        self.what.store(what as u64, Ordering::Release);
        self.since.store(self.epoch.elapsed().as_millis() as u64 + 1, Ordering::Release);
        Entered(self)
    }
}
