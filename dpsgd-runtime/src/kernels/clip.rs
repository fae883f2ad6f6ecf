//! Per-example clipping factors from squared gradient norms.

use crate::Float;
use crate::planted::{Bug, planted};

/// `factors[i] = min(1, C' / ||g_i||)` with `C' = C (1 - F::CLIP_MARGIN)`, so that the
/// exact norm of every clipped gradient stays at or below `C` although `||g_i||` was
/// computed with rounding. A zero gradient keeps factor 1. A norm that is not finite
/// (an overflow, or `inf * 0` in a ghost norm) gives factor 0: the example adds
/// nothing, which keeps the sum's sensitivity within `C`; with factor 1 its gradient
/// would enter the sum unclipped.
pub fn clip_factors<F: Float>(sq_norms: &[F], factors: &mut [F], max_norm: F) {
    let threshold = max_norm * F::from_f64(1.0 - F::CLIP_MARGIN);
    if planted(Bug::NoClipping) {
        factors.fill(F::ONE);
        return;
    }
    for (f, sq) in factors.iter_mut().zip(sq_norms) {
        let norm = sq.sqrt();
        *f = match norm <= threshold {
            true => F::ONE,
            false if norm.is_finite() => threshold / norm,
            false => F::ZERO,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_shrink_only_large_gradients() {
        let mut f = [0.0f64; 4];
        clip_factors(&[0.0, 0.25, 4.0, 100.0], &mut f, 1.0);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[1], 1.0);
        assert!((f[2] - 0.5).abs() < 1e-11 && f[2] < 0.5);
        assert!((f[3] - 0.1).abs() < 1e-11 && f[3] < 0.1);
    }

    #[test]
    fn examples_whose_norm_is_not_finite_get_factor_zero() {
        let mut f = [1.0f32; 4];
        clip_factors(&[f32::NAN, f32::INFINITY, f32::MAX, 0.5], &mut f, 1.0);
        assert_eq!(f[..2], [0.0, 0.0], "NaN and infinite norms");
        assert!(f[2] > 0.0 && f[2] < 1e-18, "a huge finite norm clips: {}", f[2]);
        assert_eq!(f[3], 1.0);
    }
}
