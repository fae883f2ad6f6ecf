//! Where the kernels' parallel loops run.
//!
//! The kernels split their work with rayon. Called from a thread outside rayon's pool,
//! each parallel loop is injected into the pool through a shared queue and the caller
//! sleeps until it is done: a few microseconds per loop, and the queue allocates every
//! few dozen injections. A step of a small model runs dozens of loops, so this
//! overhead is a large part of it (the feed-forward net on Adult takes 1.6x longer per
//! step at batch 20). From a thread inside the pool, the loops go on that thread's own
//! work queue instead.

use crate::{Error, Result};

/// Makes the calling thread one of the workers of rayon's global pool (built now, one
/// thread per core, this one included), so that training steps run from it pay no
/// injection. Call it once, first thing in `main`, from the thread that trains. It
/// fails when the global pool already exists: rayon builds it on first use.
pub fn train_on_this_thread() -> Result<()> {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().map_err(|e| {
        Error::Config(format!("cannot make this thread part of the thread pool: {e} (call this before any training)"))
    })
}
