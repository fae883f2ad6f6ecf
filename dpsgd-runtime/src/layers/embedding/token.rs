//! Token ids travel in the batch as floats, like every other feature (checked to be
//! whole numbers below the vocabulary when the data is loaded); this is how they
//! become table rows, for the lookup and for the lookup fused with a mean alike.

use crate::Float;

/// The table row of token id `id`.
#[inline(always)]
pub(super) fn token<F: Float>(id: F) -> usize {
    id.to_f64() as usize
}
