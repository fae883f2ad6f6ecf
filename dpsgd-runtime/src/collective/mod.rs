//! The seam between data-parallel training and the library that moves data between
//! processes: an all-reduce of a flat buffer, a broadcast, an agreement check and a
//! barrier. MPI implements it for CPUs (feature `mpi`, [`Mpi`]); without that feature
//! nothing here talks to another process.
//!
//! How a private step uses it ([`crate::train::Trainer::replica`]): every process
//! samples the same Poisson batch of the whole training set from the run's shared
//! secret key and keeps the examples of its own [`Shard`]; it clips and sums their
//! gradients, adds its own blocks of the step's noise vector (the ranks' blocks are
//! disjoint and cover it, so the noise enters the sum exactly once), and one
//! all-reduce gives every process the same noisy sum, which each divides by the
//! global expected batch size and applies alike.

#[cfg(feature = "mpi")]
mod mpi;
mod shard;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
pub use shard::Shard;

use std::any::TypeId;

use crate::Float;
use crate::error::Result;

/// A group of processes that step together. Every call is collective: every rank
/// makes the same calls in the same order, with buffers of the same length.
pub trait Collective {
    /// This process's place in the group, from 0.
    fn rank(&self) -> usize;
    /// Processes in the group.
    fn ranks(&self) -> usize;
    /// Replaces `values` on every rank by their elementwise sum over the ranks.
    fn sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// [`sum_f32`](Self::sum_f32) in double precision.
    fn sum_f64(&self, values: &mut [f64]) -> Result<()>;
    /// Copies rank 0's `bytes` to every other rank's.
    fn broadcast(&self, bytes: &mut [u8]) -> Result<()>;
    /// Whether `value` is the same on every rank (every rank gets the same answer).
    fn agree(&self, value: u64) -> Result<bool>;
}

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`):
/// the variables Open MPI, MPICH's Hydra and PMIx set for the processes they start.
/// Known in every build, so that one without the `mpi` feature can refuse to train
/// as if alone.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

/// [`Collective::sum_f32`] or [`Collective::sum_f64`], as `F` is.
pub fn sum<F: Float>(collective: &dyn Collective, values: &mut [F]) -> Result<()> {
    let (data, len) = (values.as_mut_ptr(), values.len());
    if TypeId::of::<F>() == TypeId::of::<f32>() {
        // SAFETY: F is f32, so the slice is one of f32.
        collective.sum_f32(unsafe { std::slice::from_raw_parts_mut(data.cast::<f32>(), len) })
    } else if TypeId::of::<F>() == TypeId::of::<f64>() {
        // SAFETY: F is f64.
        collective.sum_f64(unsafe { std::slice::from_raw_parts_mut(data.cast::<f64>(), len) })
    } else {
        unreachable!("Float is implemented for f32 and f64 only")
    }
}

/// A 64-bit fingerprint of `values`, bit for bit (FNV-1a over their `f64` bits): what
/// ranks compare to check that their parameters are still identical.
pub fn fingerprint<F: Float>(values: &[F]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |hash, v| {
        v.to_f64().to_bits().to_le_bytes().iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_one_bit_apart() {
        let a = [1.0f32, -2.5, 3.25];
        let mut b = a;
        b[1] = f32::from_bits(b[1].to_bits() ^ 1);
        let copy = a;
        assert_eq!(fingerprint(&a), fingerprint(&copy));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // Order matters: swapped values are different parameters.
        assert_ne!(fingerprint(&[1.0f64, 2.0]), fingerprint(&[2.0f64, 1.0]));
    }
}
