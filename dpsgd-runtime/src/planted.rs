//! Bugs planted in the private step on purpose, so that the privacy audit's tests can
//! show that it catches them. Only a build with the `planted-bugs` feature can plant
//! one (`plant`); in every other build `planted` is the constant `false` and the
//! checks vanish.

/// A bug that breaks the privacy guarantee while the reported epsilon stays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The noise drawn at half its standard deviation.
    HalfNoise,
    /// No noise at all.
    NoNoise,
    /// The sum divided by the realized batch size instead of the expected one.
    RealizedBatchDivisor,
    /// Every clip factor 1: gradients enter the sum unclipped.
    NoClipping,
    /// Shuffled fixed-size batches, accounted as Poisson samples.
    ShuffledAsPoisson,
}

#[cfg(feature = "planted-bugs")]
mod switch {
    use std::cell::Cell;

    use super::Bug;

    thread_local! {
        /// Per thread, so that the tests of one binary do not plant bugs in each
        /// other's runs (a step's checks run on the thread that takes the step).
        static PLANTED: Cell<Option<Bug>> = const { Cell::new(None) };
    }

    /// Plants `bug` in the steps this thread takes until the guard is dropped.
    pub fn plant(bug: Bug) -> Planted {
        PLANTED.with(|p| p.set(Some(bug)));
        Planted(())
    }

    /// Removes the planted bug when dropped.
    pub struct Planted(());

    impl Drop for Planted {
        fn drop(&mut self) {
            PLANTED.with(|p| p.set(None));
        }
    }

    pub(crate) fn planted(bug: Bug) -> bool {
        PLANTED.with(|p| p.get() == Some(bug))
    }
}

#[cfg(feature = "planted-bugs")]
pub(crate) use switch::planted;
#[cfg(feature = "planted-bugs")]
pub use switch::{Planted, plant};

/// Whether `bug` is planted: never, without the `planted-bugs` feature.
#[cfg(not(feature = "planted-bugs"))]
#[inline(always)]
pub(crate) const fn planted(_: Bug) -> bool {
    false
}
