//! A numerical accountant: the privacy loss distribution (PLD) of DP-SGD, composed
//! exactly by FFT, with bounds on its error.
//!
//! Each step's privacy loss is discretized on a grid (see [`step`]); the distribution of
//! the sum over all steps is the convolution of the steps', computed as a product of
//! Fourier transforms, one transform each way for the whole run. `delta(epsilon)` is
//! then `E[(1 - e^(epsilon - L))_+]` over the composed loss `L` (Meiser and Mohammadi
//! 2018; Koskela, Jälkö, Honkela 2020; Gopi, Lee, Wutschitz 2021).
//!
//! The answer comes with an interval that holds the exact epsilon (up to floating-point
//! rounding). Three approximations are bounded:
//! - rounding each step's loss to the grid moves the sum by `T * bias +- t`, except with
//!   probability `eta_round`, by Hoeffding's inequality (the rounding errors are
//!   independent and lie in an interval of width `h`);
//! - the mass outside each step's range (at most `tail` per step) is dropped;
//! - the circular convolution folds the composed mass outside its window back in; the
//!   window is chosen by a Chernoff bound so that mass is at most `eta_window`.
//!
//! Together they shift `epsilon` by at most `t` and `delta` by at most `eta`, which the
//! bounds carry. Both neighbour relations (removing and adding an example) are
//! accounted, and epsilon is the larger.

pub mod step;

use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use crate::error::{Result, ensure_config};
use step::{Direction, DiscreteLoss, discretize};

/// The epsilon of a run, and an interval that holds its exact value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpsilonBounds {
    /// No smaller than the exact epsilon: the figure to report.
    pub upper: f64,
    /// The discretized loss's epsilon, corrected for the mean rounding.
    pub estimate: f64,
    /// No larger than the exact epsilon.
    pub lower: f64,
}

/// The share of delta the approximations may use up, all together.
const ERROR_SHARE: f64 = 1e-3;
/// Grid points of the composed loss the grid spacing aims at (a power of two).
const TARGET_POINTS: usize = 1 << 20;
/// The largest transform allowed.
const MAX_POINTS: usize = 1 << 24;

/// The epsilon at `delta` of the phases `(q, sigma, steps)`, composed.
pub fn epsilon(history: &[(f64, f64, u64)], delta: f64) -> Result<EpsilonBounds> {
    super::check_delta(delta, None)?;
    for &(q, sigma, _) in history {
        super::check_step(q, sigma)?;
    }
    let phases: Vec<_> = history.iter().copied().filter(|p| p.2 > 0).collect();
    if phases.is_empty() {
        return Ok(EpsilonBounds { upper: 0.0, estimate: 0.0, lower: 0.0 });
    }
    let remove = Composition::new(&phases, Direction::Remove, delta)?.bounds(delta)?;
    let add = Composition::new(&phases, Direction::Add, delta)?.bounds(delta)?;
    Ok(EpsilonBounds {
        upper: remove.upper.max(add.upper),
        estimate: remove.estimate.max(add.estimate),
        lower: remove.lower.max(add.lower),
    })
}

/// The composed loss of one direction: its mass at grid values `(k_first + j) * h`.
struct Composition {
    h: f64,
    k_first: i64,
    mass: Vec<f64>,
    /// `exp(-(k_first + j) * h)`, for `delta(epsilon)`.
    exp_minus_value: Vec<f64>,
    /// The mean rounding error of the whole run, `sum_steps E[Y - L]`.
    bias: f64,
    /// Half-width of the interval that holds the rest of the rounding error.
    spread: f64,
    /// The delta the approximations may add or hide.
    eta: f64,
}

impl Composition {
    fn new(phases: &[(f64, f64, u64)], direction: Direction, delta: f64) -> Result<Composition> {
        let steps: f64 = phases.iter().map(|p| p.2 as f64).sum();
        let (eta_round, eta_window) = (delta * ERROR_SHARE / 4.0, delta * ERROR_SHARE / 4.0);
        // The steps' dropped tails count twice: once in the coupling of the rounded and
        // the exact loss, once as mass missing from the rounded loss.
        let tail = delta * ERROR_SHARE / 4.0 / (2.0 * steps);

        // A coarse pass finds how wide the composed loss is; the grid then spaces
        // TARGET_POINTS over that width.
        let coarse_h =
            phases.iter().map(|&(q, sigma, _)| step::loss_width(q, sigma, tail) / 4096.0).fold(0.0, f64::max);
        let coarse: Vec<_> =
            phases.iter().map(|&(q, sigma, _)| discretize(q, sigma, direction, coarse_h, tail)).collect();
        let coarse_window = Window::search(phases, &coarse, coarse_h, eta_window);
        let h = (coarse_window.hi - coarse_window.lo) / (0.9 * TARGET_POINTS as f64);

        // The bound holds for any lambda: the fine grid's window uses the coarse one's.
        let fine: Vec<_> = phases.iter().map(|&(q, sigma, _)| discretize(q, sigma, direction, h, tail)).collect();
        let Window { lo, hi, .. } =
            Window::at(phases, &fine, h, eta_window, [coarse_window.lambda_lo, coarse_window.lambda_hi]);
        let k_first = (lo / h).floor() as i64;
        let points = (((hi / h).ceil() as i64 - k_first + 1) as usize).next_power_of_two();
        ensure_config!(
            points <= MAX_POINTS,
            "the privacy loss distribution needs {points} grid points, more than the {MAX_POINTS} this accountant allows; use the RDP accountant"
        );

        let mass = convolve(phases, &fine, points, k_first);
        let exp_minus_value = (0..points).map(|j| (-((k_first + j as i64) as f64) * h).exp()).collect();
        let bias = phases.iter().zip(&fine).map(|(p, d)| p.2 as f64 * d.rounding_bias).sum();
        let spread = h * (steps * (2.0 / eta_round).ln() / 2.0).sqrt();
        let fft_rounding = f64::EPSILON * points as f64 * (points as f64).log2();
        let eta = 2.0 * steps * tail + eta_round + eta_window + fft_rounding;
        ensure_config!(
            eta < delta / 2.0,
            "delta = {delta:e} is too small for the PLD accountant's numerical accuracy; use the RDP accountant"
        );
        Ok(Composition { h, k_first, mass, exp_minus_value, bias, spread, eta })
    }

    /// `delta(epsilon)` of the discretized composed loss.
    fn delta(&self, epsilon: f64) -> f64 {
        // Only losses above epsilon count; the grid is sorted.
        let start = ((epsilon / self.h).floor() as i64 + 1 - self.k_first).clamp(0, self.mass.len() as i64) as usize;
        let scale = epsilon.exp();
        self.mass[start..].iter().zip(&self.exp_minus_value[start..]).map(|(m, e)| m * (1.0 - scale * e)).sum()
    }

    /// The smallest epsilon >= 0 with `delta(epsilon) <= target`, by bisection.
    fn epsilon(&self, target: f64) -> f64 {
        if self.delta(0.0) <= target {
            return 0.0;
        }
        let (mut lo, mut hi) = (0.0, (self.k_first + self.mass.len() as i64) as f64 * self.h);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if self.delta(mid) <= target {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi - lo < 1e-12 * hi.max(1.0) {
                break;
            }
        }
        hi
    }

    fn bounds(&self, delta: f64) -> Result<EpsilonBounds> {
        let upper = self.epsilon(delta - self.eta) + self.spread - self.bias;
        let estimate = self.epsilon(delta) - self.bias;
        let lower = self.epsilon(delta + self.eta) - self.spread - self.bias;
        // A loss too wide for floating point (sigma far below 1) leaves NaN, which
        // `max(0.0)` below would turn into a claim of no privacy loss at all.
        ensure_config!(
            [upper, estimate, lower].iter().all(|e| e.is_finite()),
            "the privacy loss of this noise is too large for the PLD accountant's floating point; use the RDP accountant"
        );
        Ok(EpsilonBounds { upper: upper.max(0.0), estimate: estimate.max(0.0), lower: lower.max(0.0) })
    }
}

/// A range `[lo, hi]` of the composed loss outside which at most `eta` of its mass lies,
/// by the Chernoff bound `P(S >= s) <= exp(K(lambda) - lambda s)` (and its mirror for
/// `lambda < 0`), `K` the sum over steps of the discretized losses' log moment
/// generating functions.
struct Window {
    lo: f64,
    hi: f64,
    /// The (negative) lambda that gave `lo`, and the one that gave `hi`.
    lambda_lo: f64,
    lambda_hi: f64,
}

impl Window {
    /// The tightest window over a grid of lambdas.
    fn search(phases: &[(f64, f64, u64)], losses: &[DiscreteLoss], h: f64, eta: f64) -> Window {
        (-24..=16)
            .map(|j| 2f64.powf(j as f64 / 2.0))
            .map(|lambda| Window::at(phases, losses, h, eta, [-lambda, lambda]))
            .reduce(|a, b| {
                let (lo, lambda_lo) = if a.lo >= b.lo { (a.lo, a.lambda_lo) } else { (b.lo, b.lambda_lo) };
                let (hi, lambda_hi) = if a.hi <= b.hi { (a.hi, a.lambda_hi) } else { (b.hi, b.lambda_hi) };
                Window { lo, hi, lambda_lo, lambda_hi }
            })
            .expect("a nonempty grid")
    }

    /// The window the bound gives at `[lambda_lo < 0, lambda_hi > 0]`.
    fn at(
        phases: &[(f64, f64, u64)],
        losses: &[DiscreteLoss],
        h: f64,
        eta: f64,
        [lambda_lo, lambda_hi]: [f64; 2],
    ) -> Window {
        let cumulant = |lambda: f64| -> f64 {
            phases
                .iter()
                .zip(losses)
                .map(|(p, loss)| {
                    let exponents = loss
                        .pmf
                        .iter()
                        .zip(loss.first..)
                        .filter(|(m, _)| **m > 0.0)
                        .map(|(m, k)| m.ln() + lambda * k as f64 * h);
                    p.2 as f64 * log_sum_exp(exponents)
                })
                .sum()
        };
        let budget = (2.0 / eta).ln();
        Window {
            lo: (cumulant(lambda_lo) + budget) / lambda_lo,
            hi: (cumulant(lambda_hi) + budget) / lambda_hi,
            lambda_lo,
            lambda_hi,
        }
    }
}

fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// The composed mass at grid indices `k_first .. k_first + points`: every phase's loss
/// wrapped onto a circle of `points`, transformed, raised to its number of steps,
/// multiplied, and transformed back.
fn convolve(phases: &[(f64, f64, u64)], losses: &[DiscreteLoss], points: usize, k_first: i64) -> Vec<f64> {
    let mut planner = FftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(points);
    let n = points as i64;
    let mut spectrum = vec![Complex64::new(1.0, 0.0); points];
    let mut buffer = vec![Complex64::new(0.0, 0.0); points];
    for (phase, loss) in phases.iter().zip(losses) {
        buffer.fill(Complex64::new(0.0, 0.0));
        for (i, &m) in loss.pmf.iter().enumerate() {
            buffer[(loss.first + i as i64).rem_euclid(n) as usize].re += m;
        }
        forward.process(&mut buffer);
        let steps = phase.2 as f64;
        for (s, z) in spectrum.iter_mut().zip(&buffer) {
            let (r, theta) = z.to_polar();
            *s *= Complex64::from_polar(r.powf(steps), theta * steps);
        }
    }
    planner.plan_fft_inverse(points).process(&mut spectrum);
    // Index j of the circle holds the grid points k = j (mod points); the window starts
    // at k_first.
    (0..points).map(|j| spectrum[(k_first + j as i64).rem_euclid(n) as usize].re / points as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Less noise never means less privacy loss; noise far too small for the grid is an
    /// error, not the "epsilon 0" that NaN turned into.
    #[test]
    fn epsilon_grows_as_the_noise_shrinks_until_it_cannot_be_represented() {
        let mut last = 0.0;
        for sigma in [2.0, 1.0, 0.5, 0.2, 0.1, 0.05] {
            let e = epsilon(&[(0.0064, sigma, 156)], 1e-5).unwrap_or_else(|err| panic!("sigma {sigma}: {err}"));
            assert!(e.upper.is_finite() && e.upper > last, "sigma {sigma}: epsilon {} after {last}", e.upper);
            last = e.upper;
        }
        for sigma in [0.02, 1e-6] {
            let err = epsilon(&[(0.0064, sigma, 156)], 1e-5).unwrap_err().to_string();
            assert!(err.contains("too large for the PLD accountant's floating point; use the RDP accountant"), "{err}");
        }
    }

    /// The exact epsilon of the Gaussian mechanism composed `steps` times (Balle and
    /// Wang 2018): `delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)`.
    fn gaussian_epsilon(sigma: f64, steps: u64, delta: f64) -> f64 {
        let mu = (steps as f64).sqrt() / sigma;
        let phi = |x: f64| step::normal_tail(-x);
        let d = |eps: f64| phi(-eps / mu + mu / 2.0) - eps.exp() * phi(-eps / mu - mu / 2.0);
        let (mut lo, mut hi) = (0.0, 100.0);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if d(mid) <= delta { hi = mid } else { lo = mid }
        }
        hi
    }

    #[test]
    fn full_batches_bracket_the_gaussian_mechanism() {
        for &(sigma, steps) in &[(5.0, 10u64), (1.0, 1), (2.0, 300)] {
            let exact = gaussian_epsilon(sigma, steps, 1e-5);
            let b = epsilon(&[(1.0, sigma, steps)], 1e-5).unwrap();
            assert!(b.lower <= exact && exact <= b.upper, "sigma {sigma}, {steps} steps: {exact} outside {b:?}");
            assert!(b.upper - b.lower < 0.01 * exact, "loose: {b:?}");
            assert!((b.estimate - exact).abs() < 1e-3 * exact, "{b:?} vs {exact}");
        }
    }

    /// Google's `dp_accounting` PLD accountant (grid 1e-5) on the same settings, and
    /// the RDP accountant here, which must be looser.
    #[test]
    fn agrees_with_a_reference_and_is_tighter_than_rdp() {
        let mnist_steps = 60 * 60000 / 256;
        for &(q, sigma, steps, reference) in &[
            (256.0 / 60000.0, 1.1, mnist_steps, 2.381598),
            (0.01, 1.0, 1000, 1.828237),
            (0.1, 2.0, 500, 5.555468),
            (1.0, 5.0, 10, 2.594383),
        ] {
            let b = epsilon(&[(q, sigma, steps)], 1e-5).unwrap();
            assert!(b.lower <= reference && reference <= b.upper, "q {q} sigma {sigma}: {reference} outside {b:?}");
            assert!((b.estimate / reference - 1.0).abs() < 1e-4, "q {q} sigma {sigma}: {b:?} vs {reference}");
            assert!(b.upper - b.lower < 3e-3 * reference, "loose: {b:?}");
            let rdp = super::super::epsilon(q, sigma, steps, 1e-5).unwrap();
            assert!(b.upper < rdp, "PLD {b:?} vs RDP {rdp}");
        }
    }

    #[test]
    fn phases_compose_like_one_run() {
        let one = epsilon(&[(0.01, 1.0, 1000)], 1e-5).unwrap();
        let split = epsilon(&[(0.01, 1.0, 400), (0.01, 1.0, 600)], 1e-5).unwrap();
        assert!((one.estimate - split.estimate).abs() < 1e-3 * one.estimate, "{one:?} vs {split:?}");
        let mixed = epsilon(&[(0.01, 1.0, 1000), (0.02, 2.0, 500)], 1e-5).unwrap();
        assert!(mixed.lower > one.upper, "more steps cost more: {mixed:?} vs {one:?}");
    }

    #[test]
    fn nothing_spent_is_zero_and_bad_settings_are_refused() {
        assert_eq!(epsilon(&[], 1e-5).unwrap().upper, 0.0);
        assert!(epsilon(&[(0.0, 1.0, 10)], 1e-5).is_err());
        assert!(epsilon(&[(0.1, -1.0, 10)], 1e-5).is_err());
        assert!(epsilon(&[(0.1, 1.0, 10)], 0.0).is_err());
    }
}
