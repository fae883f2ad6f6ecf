//! The integer grid the clipped gradients are rounded to, with a sensitivity that holds
//! by exact integer arithmetic, whatever floating point did before.
//!
//! Example `i`'s clipped gradient `c_i g_i` (`||c_i g_i|| <= C`) is scaled by `scale`
//! and rounded coordinate by coordinate to `z_i` in `Z^d`. Rounding moves each
//! coordinate by at most 1/2, so `||z_i|| <= C scale + sqrt(d)/2`; `scale` is chosen so
//! that this is at most `Delta`. Then `||z_i||^2` is computed exactly (in `u128`) and
//! an example with `||z_i||^2 > floor(Delta^2)` (which only a floating-point surprise
//! could produce) contributes nothing. So adding or removing one example changes the
//! integer sum by a vector of norm at most `Delta`: that is the sensitivity the
//! accountant uses, with noise `N_Z(0, sigma_L^2)` and `sigma_L / Delta = sigma`.

use rayon::prelude::*;

use super::sampler::{MAX_LEVELS, variance};
use crate::Float;
use crate::error::{Result, ensure_config};
use crate::kernels::simd::multiversion;

/// How a private run places its clipped gradients on the integer grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Levels of the noise's convolution.
    pub levels: u32,
    /// `floor(Delta^2)` (conservatively): the largest squared norm an example's
    /// integer gradient may have.
    pub bound_sq: u128,
    /// Grid units per gradient unit.
    pub scale: f64,
    /// How much rounding raises the noise relative to the clipped signal: the
    /// effective noise multiplier is `sigma (1 + noise_increase)`.
    pub noise_increase: f64,
}

/// The largest sensitivity `Delta` of a grid: a sum of up to [`MAX_BATCH`] integer
/// gradients, each coordinate at most `Delta`, plus noise, stays far within `i64`,
/// and squared coordinates (capped at `Delta + 1`) sum exactly in `u64` lanes.
pub const MAX_SENSITIVITY: f64 = (1u64 << 28) as f64;
/// The largest batch a secure-noise step sums.
pub const MAX_BATCH: usize = 1 << 21;

/// The default `max_noise_increase`: rounding may raise the noise by 1% at most.
pub const DEFAULT_MAX_NOISE_INCREASE: f64 = 0.01;

impl Grid {
    /// The grid of a run with noise multiplier `sigma`, clipping norm `max_norm` and
    /// `dims` parameters: the fewest noise levels for which rounding raises the noise
    /// by at most `max_noise_increase`.
    pub fn new(sigma: f64, max_norm: f64, dims: usize, max_noise_increase: f64) -> Result<Grid> {
        ensure_config!(
            max_noise_increase > 0.0 && max_noise_increase <= 0.5,
            "the secure noise's rounding allowance must lie in (0, 0.5], got {max_noise_increase}"
        );
        ensure_config!(sigma > 0.0 && sigma.is_finite(), "the noise multiplier sigma must be positive, got {sigma}");
        ensure_config!(max_norm > 0.0 && max_norm.is_finite(), "the clipping norm C must be positive, got {max_norm}");
        let rounding = (dims as f64).sqrt() / 2.0;
        // Delta - rounding >= Delta / (1 + increase) keeps the increase within bounds.
        let needed = rounding * (1.0 + max_noise_increase) / max_noise_increase;
        let levels = (1..=MAX_LEVELS).find(|&l| (variance(l) as f64).sqrt() / sigma >= needed);
        let Some(levels) = levels else {
            let largest = (variance(MAX_LEVELS) as f64).sqrt();
            return Err(crate::Error::Config(format!(
                "secure noise cannot serve sigma = {sigma} for {dims} parameters: rounding to the integer grid would \
                 raise the noise by more than {:.1}% even at the sampler's largest scale ({largest:.3e}); allow more \
                 (--secure-noise-rounding), or use a smaller sigma",
                100.0 * max_noise_increase
            )));
        };
        ensure_config!(
            (variance(levels) as f64).sqrt() / sigma <= MAX_SENSITIVITY,
            "secure noise cannot serve sigma = {sigma}: the integer grid's sensitivity would exceed {MAX_SENSITIVITY:e}, \
             where integer sums of large batches could overflow; use a larger sigma"
        );
        // 1e-12 below sigma_L^2 / sigma^2, far more than f64's rounding: the bound never
        // exceeds the true Delta^2.
        let delta_sq = variance(levels) as f64 / (sigma * sigma) * (1.0 - 1e-12);
        let bound_sq = delta_sq.floor() as u128;
        let delta = (bound_sq as f64).sqrt() * (1.0 - 1e-12);
        let scale = (delta - rounding) / max_norm * (1.0 - 1e-9);
        let noise_increase = (variance(levels) as f64).sqrt() / (scale * max_norm) / sigma - 1.0;
        Ok(Grid { levels, bound_sq, scale, noise_increase })
    }

    /// Adds every kept example's integer gradient to `sums`: rows of `per_example`
    /// (`width` values each) are clipped to `max_norm` (a non-finite norm gives 0),
    /// scaled and rounded; an example whose integer gradient's squared norm exceeds
    /// `bound_sq` is left out. `keep` is scratch of at least a row per example.
    pub fn add_rounded<F: Float>(
        &self,
        per_example: &[F],
        width: usize,
        max_norm: f64,
        sums: &mut [i64],
        keep: &mut Vec<f64>,
    ) {
        assert_eq!(sums.len(), width);
        let rows = per_example.len() / width.max(1);
        keep.clear();
        keep.resize(rows, 0.0);
        // Pass 1, by example: each one's multiplier, 0 when left out.
        let cap = (self.bound_sq as f64).sqrt() as u32 + 1;
        keep.par_iter_mut().enumerate().for_each(|(i, multiplier)| {
            let row = &per_example[i * width..(i + 1) * width];
            let candidate = clip_factor(row, max_norm) * self.scale;
            let kept = candidate != 0.0 && capped_norm_sq(row, candidate, cap) <= self.bound_sq;
            *multiplier = if kept { candidate } else { 0.0 };
        });
        // Pass 2, by coordinate: the same roundings (the same f64 operations), summed.
        let keep = &keep[..];
        const CHUNK: usize = 2048;
        sums.par_chunks_mut(CHUNK).enumerate().for_each(|(k, chunk)| {
            let start = k * CHUNK;
            for (i, &multiplier) in keep.iter().enumerate() {
                if multiplier != 0.0 {
                    add_rounded_row(chunk, &per_example[i * width + start..][..chunk.len()], multiplier);
                }
            }
        });
    }
}

multiversion! {
    /// `sum_j min(|z_j|, cap)^2` for `z_j = rounded(row[j], multiplier)`, exactly. With
    /// `cap = floor(Delta) + 1`, it exceeds `floor(Delta^2)` exactly when the uncapped
    /// sum does. Each of eight `u64` lanes sums at most 256 squares below `2^56`, then
    /// the lanes go into a `u128`.
    fn capped_norm_sq<F: Float>(row: &[F], multiplier: f64, cap: u32) -> u128 {
        let square = |g: F| {
            let z = rounded(g, multiplier).unsigned_abs().min(u64::from(cap)) as u32 as u64;
            z * z
        };
        let mut total = 0u128;
        for block in row.chunks(8 * 256) {
            let mut lanes = [0u64; 8];
            let groups = block.chunks_exact(8);
            let rest: u64 = groups.remainder().iter().map(|&g| square(g)).sum();
            for group in groups {
                for l in 0..8 {
                    lanes[l] += square(group[l]);
                }
            }
            total += lanes.iter().map(|&l| u128::from(l)).sum::<u128>() + u128::from(rest);
        }
        total
    }
}

multiversion! {
    /// `||row||^2` in f64, in eight independent partial sums (so that it vectorizes).
    fn norm_sq<F: Float>(row: &[F]) -> f64 {
        let mut lanes = [0f64; 8];
        let groups = row.chunks_exact(8);
        let rest: f64 = groups.remainder().iter().map(|&g| g.to_f64() * g.to_f64()).sum();
        for group in groups {
            for l in 0..8 {
                lanes[l] += group[l].to_f64() * group[l].to_f64();
            }
        }
        lanes.iter().sum::<f64>() + rest
    }
}

multiversion! {
    /// `sums[j] += rounded(row[j], multiplier)`.
    fn add_rounded_row<F: Float>(sums: &mut [i64], row: &[F], multiplier: f64) {
        for (sum, &g) in sums.iter_mut().zip(row) {
            *sum += rounded(g, multiplier);
        }
    }
}

/// `min(1, C / ||g||)`, computed in f64; 0 when the norm is not finite.
fn clip_factor<F: Float>(row: &[F], max_norm: f64) -> f64 {
    let norm = norm_sq(row).sqrt();
    match norm {
        n if !n.is_finite() => 0.0,
        n if n > max_norm => max_norm / n,
        _ => 1.0,
    }
}

/// `g * multiplier` rounded to the nearest integer, ties to even, for `|g * multiplier|
/// < 2^51` (clipped values are at most `C scale <= MAX_SENSITIVITY = 2^40`; callers
/// skip rows with a non-finite norm).
///
/// `x + 1.5 * 2^52` lies in `[2^52, 2^53)`, where an f64's spacing is 1: the addition
/// rounds `x` to an integer exactly, in plain IEEE arithmetic, and that integer is the
/// difference of the two numbers' bit patterns. No float-to-integer conversion (which
/// Rust saturates, with compares that keep the loop from vectorizing) and no library
/// call (`f64::round` on CPUs without SSE4.1 enabled).
#[inline(always)]
fn rounded<F: Float>(g: F, multiplier: f64) -> i64 {
    const SHIFT: f64 = 1.5 * (1u64 << 52) as f64;
    let shifted = g.to_f64() * multiplier + SHIFT;
    shifted.to_bits() as i64 - SHIFT.to_bits() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_the_nearest_integer() {
        for (x, z) in [
            (0.49999999999999994, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-2.5, -2),
            (-2.6, -3),
            (1e12 + 0.7, 1_000_000_000_001),
        ] {
            assert_eq!(rounded(x, 1.0), z, "{x}");
        }
        assert_eq!(rounded(3.0f32, 0.5), 2);
    }

    #[test]
    fn the_grid_meets_its_allowance_with_the_fewest_levels() {
        // The embedding net: 160,370 parameters, rounding norm 200.2; sigma 1.1 needs
        // sigma_L >= 1.1 * 200.2 * 101 = 22,246: three levels (sigma_3 = 65,568).
        let grid = Grid::new(1.1, 1.0, 160_370, 0.01).unwrap();
        assert_eq!(grid.levels, 3);
        assert!(grid.noise_increase > 0.0 && grid.noise_increase <= 0.01, "{grid:?}");
        let delta = (variance(3) as f64).sqrt() / 1.1;
        assert!((grid.bound_sq as f64) <= delta * delta);
        assert!((grid.bound_sq as f64) > delta * delta - 1e-3 * delta * delta);
        // Logistic regression on Adult (105 weights): two levels.
        assert_eq!(Grid::new(1.1, 1.0, 105, 0.01).unwrap().levels, 2);
    }

    #[test]
    fn settings_the_grid_cannot_serve_are_refused_with_what_to_change() {
        let err = Grid::new(1e6, 1.0, 100_000_000, 0.001).unwrap_err().to_string();
        assert!(
            err.contains("secure noise cannot serve sigma = 1000000 for 100000000 parameters")
                && err.contains("--secure-noise-rounding"),
            "{err}"
        );
        let err = Grid::new(1.0, 1.0, 10, 0.0).unwrap_err().to_string();
        assert!(err.contains("rounding allowance must lie in (0, 0.5], got 0"), "{err}");
    }

    #[test]
    fn worst_case_vectors_stay_within_the_sensitivity() {
        // A gradient of norm C whose every coordinate, scaled, lies just above k + 1/2,
        // so that all of them round up by almost 1/2: the bound C scale + sqrt(d)/2 is
        // met as closely as rounding can.
        let (dims, max_norm) = (10_000usize, 1.0);
        let grid = Grid::new(1.0, max_norm, dims, 0.01).unwrap();
        let per_coordinate = max_norm / (dims as f64).sqrt() * grid.scale;
        let k = (per_coordinate - 0.5 - 1e-6).floor();
        let row = vec![(k + 0.5 + 1e-7) / grid.scale; dims];
        let mut sums = vec![0i64; dims];
        grid.add_rounded(&row, dims, max_norm, &mut sums, &mut Vec::new());
        assert!(sums.iter().all(|&z| z == k as i64 + 1), "every coordinate rounds up");
        let norm_sq: u128 = sums.iter().map(|&z| (z * z) as u128).sum();
        assert!(norm_sq <= grid.bound_sq, "{norm_sq} > {}", grid.bound_sq);
        // The worst any gradient of norm C can do, with room to spare of under 1e-6.
        let worst = max_norm * grid.scale + (dims as f64).sqrt() / 2.0;
        assert!(worst * worst <= grid.bound_sq as f64 && worst * worst > grid.bound_sq as f64 * (1.0 - 1e-6));
    }

    #[test]
    fn an_example_over_the_bound_or_with_a_non_finite_norm_adds_nothing() {
        let grid = Grid { levels: 1, bound_sq: 25, scale: 10.0, noise_increase: 0.0 };
        // Row 0: norm 0.5 -> z = (3, 4), |z|^2 = 25: kept. Row 1: (0.3, 0.41) -> (3, 4)
        // rounded from (3, 4.1): kept. Row 2: NaN. Row 3: clipped to C = 1 gives
        // (6, 8), |z|^2 = 100 > 25: left out (a C too large for the grid).
        let rows = [0.3f64, 0.4, 0.3, 0.41, f64::NAN, 0.1, 3.0, 4.0];
        let mut sums = vec![0i64; 2];
        grid.add_rounded(&rows, 2, 1.0, &mut sums, &mut Vec::new());
        assert_eq!(sums, [6, 8]);
        // Inf in an f32 row: its norm is inf, factor 0.
        let rows = [f32::INFINITY, 1.0, 0.3, 0.4];
        let mut sums = vec![0i64; 2];
        grid.add_rounded(&rows, 2, 1.0, &mut sums, &mut Vec::new());
        assert_eq!(sums, [3, 4]);
    }
}
