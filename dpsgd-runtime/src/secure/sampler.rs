//! Discrete Gaussian noise over the integers, drawn from the run's secret stream with
//! integer arithmetic only and in a running time that does not depend on the draws.
//!
//! **Base draws.** `X ~ N_Z(0, 64^2)` by its cumulative distribution table
//! (`table.rs`, 128-bit entries): a uniform 128-bit `u` gives `|x|` = the number of
//! entries at most `u`, found by a binary search of fixed length (ten steps, each a
//! compare and a conditional add: no branch on the data), and a random bit gives the
//! sign. Its distance from `N_Z(0, 64^2)` is below `4.1e-37` (the generator computes
//! it exactly).
//!
//! **Large sigma by convolution** (the idea of Micciancio and Walter, "Gaussian
//! Sampling over the Integers: Efficient, Generic, Constant-Time", CRYPTO 2017):
//! `Y_1 = X_1`, `Y_l = X_l + 32 Y_(l-1)` with independent base draws, so
//! `sigma_l^2 = 64^2 + 32^2 sigma_(l-1)^2`. If `Y_(l-1)` were exactly
//! `N_Z(0, sigma_(l-1)^2)`, completing the square gives
//!
//! ```text
//! P(Y_l = y) = N_Z(0, sigma_l^2)(y) * theta(c y) / normalization,
//! theta(a) = sum_{z in Z} exp(-(z - a)^2 / (2 s^2)),  1/s^2 = 32^2/64^2 + 1/sigma_(l-1)^2,
//! ```
//!
//! and by Poisson summation `theta(a) / (s sqrt(2 pi))` lies within `1 +- e'` for every
//! `a`, `e' = 2 sum_{m>=1} exp(-2 pi^2 s^2 m^2)` (about `1e-34` here, `s` just below 2).
//! So `P(Y_l = y)` is within a factor `(1 + e')/(1 - e')` of `N_Z(0, sigma_l^2)(y)` at
//! every `y`, a statistical distance of at most `e' / (1 - e')`. Distances add along
//! the chain ([`SecureNoise::distance_per_draw`]), and the accountant counts them into
//! delta.
//!
//! **Timing.** Every coordinate takes the same number of stream words (`2 L + 1`),
//! search steps and arithmetic, whatever it draws; the only draw-dependent addresses are
//! the table's 16 KiB, read from the first-level cache. The noise never depends on the
//! gradient it is added to, and adding it is one integer addition.

use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use super::table::{BASE_DISTANCE, CUMULATIVE};
use crate::noise::chacha::ChaCha12;
use crate::rng::{STEP_WORDS, SecretKey, Stream};

/// The base sampler's variance, `64^2`.
pub const BASE_VARIANCE: u128 = 64 * 64;
/// The factor of each convolution level.
pub const LEVEL_FACTOR: i64 = 32;
/// The most levels: `sigma_5` is about 6.7e7, the largest noise the grid needs.
pub const MAX_LEVELS: u32 = 5;

/// The variance of `L`-level noise, exactly: `64^2 (1 + 32^2 + ... + 32^(2(L-1)))`.
pub fn variance(levels: u32) -> u128 {
    (0..levels).map(|l| BASE_VARIANCE * (LEVEL_FACTOR as u128).pow(2 * l)).sum()
}

/// Coordinates drawn from one stretch of the stream.
const BLOCK: usize = 4096;
/// 32-bit stream positions reserved for a block: `BLOCK * (2 * MAX_LEVELS + 1)` 64-bit
/// words take under half of them.
const BLOCK_WORDS: u128 = 1 << 18;

/// `N_Z(0, sigma_L^2)` noise for the integer sums of a private run, `L` levels deep, from
/// the run's secret key. Step `t` draws from its own part of the stream, and each block
/// of coordinates from its own stretch of that part: the draws do not depend on the
/// thread count, and a resumed run continues them exactly.
pub struct SecureNoise {
    rng: ChaCha12Rng,
    levels: u32,
    calls: u64,
}

impl SecureNoise {
    /// The noise of `key`'s run as it is after `calls` steps.
    pub fn keyed(key: &SecretKey, levels: u32, calls: u64) -> Self {
        assert!((1..=MAX_LEVELS).contains(&levels), "{levels} levels of secure noise");
        SecureNoise { rng: key.stream(Stream::SecureNoise), levels, calls }
    }

    /// Levels of the convolution.
    pub fn levels(&self) -> u32 {
        self.levels
    }

    /// An upper bound on the statistical distance between one coordinate's noise and
    /// `N_Z(0, sigma_L^2)`: the base sampler's distance at each level, and the
    /// convolution's at each level after the first.
    pub fn distance_per_draw(levels: u32) -> f64 {
        let mut total = BASE_DISTANCE;
        for l in 2..=levels {
            let s_sq =
                1.0 / ((LEVEL_FACTOR * LEVEL_FACTOR) as f64 / BASE_VARIANCE as f64 + 1.0 / variance(l - 1) as f64);
            // e' = 2 sum_m exp(-2 pi^2 s^2 m^2) <= 2 r / (1 - r), r = exp(-2 pi^2 s^2).
            let r = (-2.0 * std::f64::consts::PI.powi(2) * s_sq).exp();
            let e = 2.0 * r / (1.0 - r);
            total += BASE_DISTANCE + e / (1.0 - e);
        }
        total
    }

    /// Adds the next step's noise to every coordinate of `sums`, in parallel.
    pub fn add_to(&mut self, sums: &mut [i64]) {
        let call = self.calls;
        self.calls += 1;
        assert!((sums.len().div_ceil(BLOCK) as u128) * BLOCK_WORDS <= STEP_WORDS, "too many coordinates");
        let levels = self.levels;
        let rng = &self.rng;
        sums.par_chunks_mut(BLOCK).enumerate().for_each(|(k, block)| {
            let mut stream = ChaCha12::at(rng, call as u128 * STEP_WORDS + k as u128 * BLOCK_WORDS);
            let per_draw = 2 * levels as usize + 1;
            let mut words = [0u64; LANES * (2 * MAX_LEVELS as usize + 1)];
            let mut groups = block.chunks_exact_mut(LANES);
            for group in &mut groups {
                let words = &mut words[..LANES * per_draw];
                words.iter_mut().for_each(|w| *w = stream.next_u64());
                for (sum, noise) in group.iter_mut().zip(draw_lanes(words)) {
                    *sum += noise;
                }
            }
            for sum in groups.into_remainder() {
                let words = &mut words[..per_draw];
                words.iter_mut().for_each(|w| *w = stream.next_u64());
                *sum += draw_from(words);
            }
        });
    }
}

/// Draws computed side by side: their table searches are independent chains of
/// loads, which the processor overlaps.
const LANES: usize = 4;

/// [`draw_from`] for `LANES` coordinates whose words follow each other in `words`.
#[inline(always)]
fn draw_lanes(words: &[u64]) -> [i64; LANES] {
    let per_draw = words.len() / LANES;
    let mut y = [0i64; LANES];
    for l in 0..per_draw / 2 {
        let u: [u128; LANES] = std::array::from_fn(|i| {
            let pair = &words[i * per_draw + 1 + 2 * l..];
            (u128::from(pair[0]) << 64) | u128::from(pair[1])
        });
        let magnitudes = base_magnitudes(u);
        for i in 0..LANES {
            let sign = (words[i * per_draw] >> l) & 1;
            y[i] = LEVEL_FACTOR * y[i] + signed(magnitudes[i], sign);
        }
    }
    y
}

/// The noise [`SecureNoise`] makes of `2 L + 1` random words, `L` = `(words.len() - 1) / 2`:
/// the first word's low bits are the levels' signs, each pair after it one level's
/// 128-bit uniform. Public so that benchmarks can time chosen words (the timing check).
#[inline(always)]
pub fn draw_from(words: &[u64]) -> i64 {
    let signs = words[0];
    let mut y = 0i64;
    for (l, pair) in words[1..].chunks_exact(2).enumerate() {
        let u = (u128::from(pair[0]) << 64) | u128::from(pair[1]);
        y = LEVEL_FACTOR * y + signed(base_magnitude(u), (signs >> l) & 1);
    }
    y
}

/// `|x|` for the uniform `u`: the number of table entries at most `u` (the last entry
/// stands for itself and everything beyond it), by ten halvings without a branch.
#[inline(always)]
pub(super) fn base_magnitude(u: u128) -> i64 {
    base_magnitudes([u])[0]
}

/// [`base_magnitude`] of several uniforms, their searches in lockstep.
#[inline(always)]
fn base_magnitudes<const N: usize>(u: [u128; N]) -> [i64; N] {
    let mut position = [0usize; N];
    let mut half = CUMULATIVE.len() / 2;
    while half > 0 {
        for i in 0..N {
            // A conditional add, not a branch: both outcomes cost the same.
            // The mask only tells the compiler the index is in bounds (it always is).
            let entry = CUMULATIVE[(position[i] + half - 1) & (CUMULATIVE.len() - 1)];
            position[i] += half * usize::from(entry <= u[i]);
        }
        half /= 2;
    }
    position.map(|p| p as i64)
}

/// `magnitude` with the sign of `bit` (1: negative), without a branch.
#[inline(always)]
fn signed(magnitude: i64, bit: u64) -> i64 {
    let negate = -(bit as i64); // 0 or -1 (all ones)
    (magnitude ^ negate) - negate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P(X = x)` for `X ~ N_Z(0, variance)`, by direct summation in f64 (independent of
    /// the table and its generator).
    fn pmf(variance: f64, x: i64) -> f64 {
        let rho = |t: f64| (-t * t / (2.0 * variance)).exp();
        let reach = (40.0 * variance.sqrt()) as i64 + 10;
        let total: f64 = (-reach..=reach).map(|t| rho(t as f64)).sum();
        rho(x as f64) / total
    }

    #[test]
    fn the_table_is_the_cumulative_distribution_of_the_base_gaussian() {
        // Entry j against an f64 summation of the mass of |X| <= j: agreement to 1e-13
        // absolute catches a table for another sigma, a shifted or truncated one.
        let mut cumulative = 0.0;
        for (j, &entry) in CUMULATIVE.iter().enumerate() {
            cumulative += if j == 0 { pmf(4096.0, 0) } else { 2.0 * pmf(4096.0, j as i64) };
            let from_table = entry as f64 / 2f64.powi(128);
            assert!((from_table - cumulative.min(1.0)).abs() < 1e-13, "entry {j}: {from_table} vs {cumulative}");
        }
        assert!(CUMULATIVE.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_search_counts_the_entries_at_most_u() {
        for u in
            [0u128, 1, CUMULATIVE[0] - 1, CUMULATIVE[0], CUMULATIVE[5], CUMULATIVE[5] + 1, CUMULATIVE[400], u128::MAX]
        {
            let naive = CUMULATIVE.iter().filter(|&&t| t <= u).count().min(CUMULATIVE.len() - 1);
            assert_eq!(base_magnitude(u), naive as i64, "u = {u:#x}");
        }
        assert_eq!(signed(7, 1), -7);
        assert_eq!(signed(7, 0), 7);
        assert_eq!(signed(0, 1), 0);
    }

    #[test]
    fn convolved_levels_are_the_discrete_gaussian_to_f64_precision() {
        // The exact distribution of X + 32 Y for X ~ N_Z(0, 64^2), Y ~ N_Z(0, 64^2), by
        // convolving the two mass functions, against N_Z(0, variance(2)) pointwise:
        // the independent check of the Poisson-summation argument above.
        let base: Vec<f64> = (-1200..=1200).map(|x| pmf(4096.0, x)).collect();
        let sigma2 = variance(2) as f64;
        for y in [0i64, 1, 17, 500, 2049, 4000, 8000] {
            let p: f64 = (-1200i64..=1200)
                .filter_map(|inner| {
                    let outer = y - 32 * inner;
                    (outer.abs() <= 1200).then(|| base[(outer + 1200) as usize] * base[(inner + 1200) as usize])
                })
                .sum();
            let exact = pmf(sigma2, y);
            assert!((p / exact - 1.0).abs() < 1e-12, "y = {y}: {p} vs {exact}");
        }
        assert!(SecureNoise::distance_per_draw(5) < 1e-33);
    }

    /// Chi-square of `draws` against the mass function of `variance`, bins pooled in
    /// the tails to expected counts of at least 20, and the degrees of freedom.
    fn chi_square(draws: &[i64], variance: f64) -> (f64, usize) {
        let n = draws.len() as f64;
        let reach = (6.0 * variance.sqrt()) as i64;
        let mut counts = std::collections::BTreeMap::new();
        for &d in draws {
            *counts.entry(d.clamp(-reach, reach)).or_insert(0usize) += 1;
        }
        let (mut chi, mut bins) = (0.0, 0);
        let (mut observed, mut expected) = (0.0, 0.0);
        for x in -reach..=reach {
            observed += *counts.get(&x).unwrap_or(&0) as f64;
            expected += n * match x {
                x if x == -reach || x == reach => (reach..reach + 20 * reach).map(|t| pmf(variance, t)).sum::<f64>(),
                x => pmf(variance, x),
            };
            if expected >= 20.0 || x == reach {
                chi += (observed - expected).powi(2) / expected;
                bins += 1;
                (observed, expected) = (0.0, 0.0);
            }
        }
        (chi, bins - 1)
    }

    fn draws(levels: u32, n: usize, seed: u64) -> Vec<i64> {
        let mut noise = SecureNoise::keyed(&SecretKey::insecure_from_seed(seed), levels, 0);
        let mut out = vec![0i64; n];
        noise.add_to(&mut out);
        out
    }

    #[test]
    fn base_draws_fit_the_discrete_gaussian() {
        // 400,000 draws of N_Z(0, 64^2): chi-square within 5 standard deviations of its
        // degrees of freedom (a sampler for sigma 63 or 65, or with a biased sign,
        // lands far outside).
        let draws = draws(1, 400_000, 3);
        let (chi, dof) = chi_square(&draws, 4096.0);
        let limit = dof as f64 + 5.0 * (2.0 * dof as f64).sqrt();
        assert!(chi < limit, "chi-square {chi} with {dof} degrees of freedom");
        let (wrong, _) = chi_square(&draws, 65.0 * 65.0);
        assert!(wrong > limit, "a sigma of 65 fits as well: {wrong}");
    }

    #[test]
    fn deep_draws_have_the_variance_and_tails_of_their_level() {
        for levels in [2u32, 3, 4] {
            let n = 300_000;
            let draws = draws(levels, n, 11 + levels as u64);
            let sigma = (variance(levels) as f64).sqrt();
            let mean = draws.iter().map(|&d| d as f64).sum::<f64>() / n as f64;
            let var = draws.iter().map(|&d| (d as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(mean.abs() < 5.0 * sigma / (n as f64).sqrt(), "level {levels}: mean {mean}");
            // The variance estimate's standard error is sigma^2 sqrt(2/n).
            assert!((var / (sigma * sigma) - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(), "level {levels}: var {var}");
            // Tails: P(|Y| > 3 sigma) = 0.0027 for the (discrete) Gaussian at this scale.
            let beyond = draws.iter().filter(|&&d| (d as f64).abs() > 3.0 * sigma).count() as f64 / n as f64;
            let expected = 0.0026998;
            assert!((beyond - expected).abs() < 5.0 * (expected / n as f64).sqrt(), "level {levels}: {beyond}");
        }
    }

    #[test]
    fn draws_side_by_side_equal_draws_one_by_one() {
        let mut state = 7u64;
        for levels in 1..=MAX_LEVELS as usize {
            let words: Vec<u64> = (0..LANES * (2 * levels + 1))
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    state
                })
                .collect();
            let one_by_one: Vec<i64> = words.chunks_exact(2 * levels + 1).map(draw_from).collect();
            assert_eq!(draw_lanes(&words).to_vec(), one_by_one, "{levels} levels");
        }
    }

    #[test]
    fn steps_draw_fresh_noise_and_resume_where_they_left_off() {
        let key = SecretKey::insecure_from_seed(5);
        let mut run = SecureNoise::keyed(&key, 3, 0);
        let (mut first, mut second) = (vec![0i64; 9000], vec![0i64; 9000]);
        run.add_to(&mut first);
        run.add_to(&mut second);
        assert_ne!(first, second);
        let mut resumed = SecureNoise::keyed(&key, 3, 1);
        let mut again = vec![0i64; 9000];
        resumed.add_to(&mut again);
        assert_eq!(again, second);
    }
}
