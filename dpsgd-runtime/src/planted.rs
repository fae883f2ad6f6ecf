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
    /// In data-parallel training, every process adds the whole noise vector: the sum
    /// holds it once per process.
    NoiseOncePerRank,
    /// In data-parallel training, every process adds its blocks of the noise at sigma
    /// C divided by the number of processes: the sum holds too little.
    NoiseDividedByRanks,
}

impl Bug {
    /// The bug named `name` (its variant's name), for [`plant_from_env`].
    pub fn named(name: &str) -> Option<Bug> {
        use Bug::*;
        [HalfNoise, NoNoise, RealizedBatchDivisor, NoClipping, ShuffledAsPoisson, NoiseOncePerRank, NoiseDividedByRanks]
            .into_iter()
            .find(|b| format!("{b:?}") == name)
    }
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

    /// Bug planted in the whole process, by name, from `DPSGD_PLANTED_BUG`: for tests
    /// that plant a bug in processes they start (a data-parallel run's).
    static PROCESS: std::sync::OnceLock<Option<Bug>> = std::sync::OnceLock::new();

    /// Plants the bug `DPSGD_PLANTED_BUG` names in every step of this process, if set.
    /// Panics on a name that is not a bug's.
    pub fn plant_from_env() {
        PROCESS.get_or_init(|| {
            let name = std::env::var("DPSGD_PLANTED_BUG").ok()?;
            Some(Bug::named(&name).unwrap_or_else(|| panic!("DPSGD_PLANTED_BUG={name} names no bug")))
        });
    }

    pub(crate) fn planted(bug: Bug) -> bool {
        PLANTED.with(|p| p.get() == Some(bug)) || PROCESS.get().copied().flatten() == Some(bug)
    }
}

#[cfg(feature = "planted-bugs")]
pub(crate) use switch::planted;
#[cfg(feature = "planted-bugs")]
pub use switch::{Planted, plant, plant_from_env};

/// Whether `bug` is planted: never, without the `planted-bugs` feature.
#[cfg(not(feature = "planted-bugs"))]
#[inline(always)]
pub(crate) const fn planted(_: Bug) -> bool {
    false
}
