//! Token ids travel in the batch as floats, like every other feature (checked to be
//! whole numbers below the vocabulary when the data is loaded); this is how they
//! become table rows, for the lookup and for the lookup fused with a mean alike.

use crate::Float;

/// The table row of token id `id`. Clamped into `u32`'s range first (a NaN to 0) and
/// converted without the saturating cast's tests and branches, which cost more than
/// the lookups they serve; a row past the table is still caught by the indexing.
#[inline(always)]
pub(super) fn token<F: Float>(id: F) -> usize {
    let id = id.to_f64().max(0.0).min(f64::from(u32::MAX));
    // SAFETY: `id` is finite and within `u32`'s range after the clamp.
    (unsafe { id.to_int_unchecked::<u32>() }) as usize
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn ids_become_rows_and_anything_else_a_row_in_u32s_range() {
        assert_eq!([0.0f32, 3.0, 10_003.0, 16_777_216.0].map(token), [0, 3, 10_003, 16_777_216]);
        assert_eq!(token(123_456_789.0f64), 123_456_789);
        // What loading rejects still converts without undefined behavior: NaN and
        // negatives to row 0, the too large to the last u32 (past any table).
        assert_eq!([f32::NAN, -5.0, -0.0, f32::NEG_INFINITY].map(token), [0; 4]);
        assert_eq!([1e20f32, f32::INFINITY].map(token), [u32::MAX as usize; 2]);
    }
}
