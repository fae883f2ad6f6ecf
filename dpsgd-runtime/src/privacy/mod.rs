//! Privacy accounting: what a run of DP-SGD steps costs in `(epsilon, delta)`.
//!
//! The accountant records every step's sampling rate and noise multiplier, so runs whose
//! settings change (schedules, resumed runs) compose exactly. Two accountants read that
//! history: RDP ([`rdp`]: cheap, an upper bound, used for the budget check before every
//! step) and the privacy loss distribution ([`pld`]: tighter, with an interval that holds
//! the exact epsilon, used for reports and calibration on request).

pub mod audit;
pub mod pld;
pub mod rdp;

use crate::error::{Result, ensure_config};
use crate::secure::SecureNoise;
use crate::secure::sampler::MAX_LEVELS;

/// Steps with one sampling rate and noise multiplier.
#[derive(Clone, Debug, PartialEq)]
struct Phase {
    q: f64,
    sigma: f64,
    steps: u64,
    /// One step's RDP at each order.
    rdp: Vec<f64>,
}

/// The RDP accountant of the Poisson-subsampled Gaussian mechanism, or of the
/// discrete Gaussian of secure-noise runs ([`RdpAccountant::discrete`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    phases: Vec<Phase>,
    /// For the discrete Gaussian: the statistical distance between one step's noise
    /// and the exact discrete Gaussian it stands for.
    discrete_distance_per_step: Option<f64>,
}

/// The share of delta set aside for the secure sampler's distance from the exact
/// discrete Gaussian; the RDP conversion gets the rest.
const SAMPLER_DELTA_SHARE: f64 = 1e-3;

/// A bound on one step's sampler distance for any model of up to a billion parameters
/// at the sampler's deepest level: what `dpsgd accountant` and `dpsgd calibrate` assume
/// for secure noise.
pub fn discrete_distance_per_step_bound() -> f64 {
    1e9 * SecureNoise::distance_per_draw(MAX_LEVELS)
}

impl Default for RdpAccountant {
    fn default() -> Self {
        RdpAccountant::new()
    }
}

/// Errors unless `q` and `sigma` describe a private step.
pub fn check_step(q: f64, sigma: f64) -> Result<()> {
    check_sampling_rate(q)?;
    check_noise_multiplier(sigma)
}

/// Errors unless the sampling rate `q` lies in (0, 1].
pub fn check_sampling_rate(q: f64) -> Result<()> {
    ensure_config!(q > 0.0 && q <= 1.0, "the sampling rate q must lie in (0, 1], got {q}");
    Ok(())
}

/// Errors unless the noise multiplier `sigma` is positive and finite.
pub fn check_noise_multiplier(sigma: f64) -> Result<()> {
    ensure_config!(
        sigma > 0.0 && sigma.is_finite(),
        "the noise multiplier sigma must be positive and finite, got {sigma} (use the non-private mode to train without noise)"
    );
    Ok(())
}

/// Errors unless `delta` lies in (0, 1) and, given the dataset size, below `1 / n`
/// (a larger delta allows releasing a whole example).
pub fn check_delta(delta: f64, n: Option<usize>) -> Result<()> {
    ensure_config!(delta > 0.0 && delta < 1.0, "delta must lie in (0, 1), got {delta}");
    if let Some(n) = n {
        ensure_config!(
            delta < 1.0 / n as f64,
            "delta = {delta} is not below 1/N = {:.3e} for N = {n} examples: such a guarantee allows publishing an example outright",
            1.0 / n as f64
        );
    }
    Ok(())
}

impl RdpAccountant {
    /// An accountant with no steps, over [`rdp::default_orders`].
    pub fn new() -> Self {
        RdpAccountant { orders: rdp::default_orders(), phases: Vec::new(), discrete_distance_per_step: None }
    }

    /// The accountant of secure-noise runs: discrete Gaussian noise on integer sums
    /// whose sensitivity is `sigma_L / sigma`. Its RDP at integer orders is at most the
    /// continuous subsampled Gaussian's (both directions; the README's privacy section
    /// has the proof), so this accountant takes integer orders only. One step's noise
    /// lies within statistical distance `distance_per_step` of the exact discrete
    /// Gaussian; after `T` steps that costs `(1 + e^epsilon) T distance_per_step` of
    /// delta (a hybrid argument), which [`epsilon`](Self::epsilon) sets aside.
    pub fn discrete(distance_per_step: f64) -> Self {
        let orders = rdp::default_orders().into_iter().filter(|a| a.fract() == 0.0).collect();
        RdpAccountant { orders, phases: Vec::new(), discrete_distance_per_step: Some(distance_per_step) }
    }

    /// Whether this accounts for secure (discrete) noise.
    pub fn is_discrete(&self) -> bool {
        self.discrete_distance_per_step.is_some()
    }

    /// Records `steps` steps of rate `q` and noise multiplier `sigma`.
    pub fn record(&mut self, q: f64, sigma: f64, steps: u64) -> Result<()> {
        check_step(q, sigma)?;
        match self.phases.last_mut() {
            Some(last) if last.q == q && last.sigma == sigma => last.steps += steps,
            _ => {
                let rdp = self.orders.iter().map(|&a| rdp::rdp_step(q, sigma, a)).collect();
                self.phases.push(Phase { q, sigma, steps, rdp });
            }
        }
        Ok(())
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.phases.iter().map(|p| p.steps).sum()
    }

    /// The history as `(q, sigma, steps)` phases, oldest first.
    pub fn history(&self) -> Vec<(f64, f64, u64)> {
        self.phases.iter().map(|p| (p.q, p.sigma, p.steps)).collect()
    }

    /// The composed RDP curve over [`orders`](Self::orders).
    pub fn rdp(&self) -> Vec<f64> {
        (0..self.orders.len()).map(|i| self.composed(i)).collect()
    }

    /// The RDP orders (alphas) the curve is evaluated at, ascending.
    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// The epsilon spent so far at `delta`, and the RDP order that gives it.
    pub fn epsilon(&self, delta: f64) -> Result<(f64, f64)> {
        check_delta(delta, None)?;
        if self.phases.is_empty() {
            return Ok((0.0, f64::NAN));
        }
        let curve = (0..self.orders.len()).map(|i| (self.orders[i], self.composed(i)));
        Ok(self.convert(curve, self.steps(), delta))
    }

    /// Epsilon at `delta` from an RDP curve of `steps` steps, with the discrete
    /// sampler's share of delta set aside (epsilon is infinite where that share does
    /// not cover its distance).
    fn convert(&self, curve: impl Iterator<Item = (f64, f64)>, steps: u64, delta: f64) -> (f64, f64) {
        let Some(distance) = self.discrete_distance_per_step else {
            return rdp::epsilon_from_curve(curve, delta);
        };
        let (epsilon, order) = rdp::epsilon_from_curve(curve, delta * (1.0 - SAMPLER_DELTA_SHARE));
        let sampler_delta = (1.0 + epsilon.exp()) * steps as f64 * distance;
        match sampler_delta <= SAMPLER_DELTA_SHARE * delta {
            true => (epsilon, order),
            false => (f64::INFINITY, order),
        }
    }

    /// The epsilon at `delta` once `steps` more steps of rate `q` and noise multiplier
    /// `sigma` are taken, without recording them: what a budget check asks before each
    /// step. Allocates nothing when the steps continue the last phase.
    pub fn epsilon_after(&self, q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
        check_step(q, sigma)?;
        check_delta(delta, None)?;
        let last = self.phases.last().filter(|p| p.q == q && p.sigma == sigma);
        let extra = |i: usize| match last {
            Some(phase) => phase.rdp[i],
            None => rdp::rdp_step(q, sigma, self.orders[i]),
        };
        let curve = (0..self.orders.len()).map(|i| (self.orders[i], self.composed(i) + steps as f64 * extra(i)));
        Ok(self.convert(curve, self.steps() + steps, delta).0)
    }

    /// The epsilon spent so far at `delta` by the numerical (PLD) accountant, with its
    /// error bounds. Takes about a second. The continuous Gaussian's only: an error for
    /// a secure-noise run.
    pub fn pld_epsilon(&self, delta: f64) -> Result<pld::EpsilonBounds> {
        ensure_config!(
            !self.is_discrete(),
            "the PLD accountant covers the continuous Gaussian only; secure-noise runs are accounted by RDP at integer orders"
        );
        pld::epsilon(&self.history(), delta)
    }

    /// The composed RDP at order `orders[i]`.
    fn composed(&self, i: usize) -> f64 {
        self.phases.iter().map(|p| p.steps as f64 * p.rdp[i]).sum()
    }
}

/// Which accountant turns a run's history into epsilon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Accountant {
    /// Rényi DP with the improved conversion: fast, a little loose.
    #[default]
    Rdp,
    /// The privacy loss distribution, composed numerically: tight; the upper end of its
    /// error interval is used.
    Pld,
    /// Rényi DP at integer orders of secure (discrete Gaussian) noise, with the
    /// sampler's distance for up to a billion parameters counted into delta.
    DiscreteRdp,
}

impl Accountant {
    /// The epsilon at `delta` of `steps` steps of rate `q` and noise multiplier `sigma`.
    pub fn epsilon(self, q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
        match self {
            Accountant::Rdp => epsilon(q, sigma, steps, delta),
            Accountant::Pld => Ok(pld::epsilon(&[(q, sigma, steps)], delta)?.upper),
            Accountant::DiscreteRdp => {
                let mut accountant = RdpAccountant::discrete(discrete_distance_per_step_bound());
                accountant.record(q, sigma, steps)?;
                Ok(accountant.epsilon(delta)?.0)
            }
        }
    }
}

/// The epsilon of `steps` steps of rate `q` and noise multiplier `sigma` at `delta`, by RDP.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
    let mut accountant = RdpAccountant::new();
    accountant.record(q, sigma, steps)?;
    Ok(accountant.epsilon(delta)?.0)
}

/// The largest noise multiplier [`calibrate`] searches: a target epsilon that needs
/// more is an error.
pub const MAX_NOISE_MULTIPLIER: f64 = 1024.0;
/// The smallest noise multiplier [`calibrate`] searches: where less noise than this
/// meets the target, it answers a multiplier from this to twice this, not the smallest.
pub const MIN_NOISE_MULTIPLIER: f64 = 0.01;

/// The smallest noise multiplier (to a relative 1e-4, rounded up) whose `steps` steps of
/// rate `q` stay within `target_epsilon` at `delta`, by RDP.
pub fn calibrate(target_epsilon: f64, delta: f64, q: f64, steps: u64) -> Result<f64> {
    calibrate_with(Accountant::Rdp, target_epsilon, delta, q, steps)
}

/// [`calibrate`] by the given accountant.
pub fn calibrate_with(accountant: Accountant, target_epsilon: f64, delta: f64, q: f64, steps: u64) -> Result<f64> {
    ensure_config!(
        target_epsilon > 0.0 && target_epsilon.is_finite(),
        "the target epsilon must be positive, got {target_epsilon}"
    );
    check_delta(delta, None)?;
    check_step(q, 1.0)?;
    ensure_config!(steps > 0, "calibrate for at least one step");
    let eps = |sigma: f64| accountant.epsilon(q, sigma, steps, delta);
    // epsilon falls as sigma grows. Bracket the answer by doubling or halving from 1
    // (small sigmas are slow to account and rarely the answer), then bisect on log
    // sigma, keeping `hi` within the target.
    let mut hi = 1.0;
    while eps(hi)? > target_epsilon {
        hi *= 2.0;
        ensure_config!(
            hi <= MAX_NOISE_MULTIPLIER,
            "epsilon {target_epsilon} at delta {delta} is out of reach for {steps} steps at q = {q}, even with sigma = {MAX_NOISE_MULTIPLIER}"
        );
    }
    // A sigma the accountant cannot account for (the PLD's grid overflows for sigma far
    // below 1) cannot be certified within the target: it counts as outside.
    let within = |sigma: f64| eps(sigma).is_ok_and(|e| e <= target_epsilon);
    let mut lo = hi / 2.0;
    while within(lo) {
        hi = lo;
        lo /= 2.0;
        if lo < MIN_NOISE_MULTIPLIER {
            return Ok(hi);
        }
    }
    while hi / lo > 1.0 + 1e-4 {
        let mid = (lo * hi).sqrt();
        if within(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large budget takes the calibration to small sigmas, where the PLD's grid
    /// overflows: the sigma found is one the PLD accountant certifies, never one it
    /// could not account for (which once read as epsilon 0).
    #[test]
    fn calibration_never_returns_a_sigma_the_accountant_cannot_certify() {
        let sigma = calibrate_with(Accountant::Pld, 500.0, 1e-5, 0.0064, 10).unwrap();
        let reached = pld::epsilon(&[(0.0064, sigma, 10)], 1e-5).unwrap().upper;
        assert!(reached <= 500.0 && reached > 50.0, "sigma {sigma} gives epsilon {reached}");
    }

    /// The MNIST tutorial setting of TF Privacy: sigma 1.1, batch 256 of 60000, 60
    /// epochs, delta 1e-5; published epsilon 3.01 (with the classic conversion).
    #[test]
    fn the_published_mnist_figure() {
        let q = 256.0 / 60000.0;
        let steps = (60.0 * 60000.0 / 256.0) as u64;
        let mut accountant = RdpAccountant::new();
        accountant.record(q, 1.1, steps).unwrap();
        let (classic, _) = rdp::epsilon_from_rdp_classic(accountant.orders(), &accountant.rdp(), 1e-5);
        assert!((classic / 3.01 - 1.0).abs() < 0.01, "classic conversion gives {classic}");
        let (improved, _) = accountant.epsilon(1e-5).unwrap();
        assert!(improved < classic, "{improved} vs {classic}");
    }

    #[test]
    fn epsilon_grows_with_steps_and_falls_with_sigma() {
        let q = 0.01;
        let e = |sigma, steps| epsilon(q, sigma, steps, 1e-5).unwrap();
        assert!(e(1.0, 100) < e(1.0, 1000));
        assert!(e(1.0, 1000) < e(1.0, 10000));
        assert!(e(2.0, 1000) < e(1.0, 1000));
        assert!(e(4.0, 1000) < e(2.0, 1000));
    }

    #[test]
    fn phases_compose_as_their_sum() {
        let mut split = RdpAccountant::new();
        split.record(0.01, 1.0, 300).unwrap();
        split.record(0.02, 1.5, 200).unwrap();
        split.record(0.01, 1.0, 700).unwrap();
        let mut whole = RdpAccountant::new();
        whole.record(0.01, 1.0, 1000).unwrap();
        whole.record(0.02, 1.5, 200).unwrap();
        let (a, b) = (split.epsilon(1e-5).unwrap().0, whole.epsilon(1e-5).unwrap().0);
        assert!((a - b).abs() < 1e-12 * b, "{a} vs {b}");
        assert_eq!(split.steps(), 1200);
        // Consecutive steps of one setting merge.
        let mut merged = RdpAccountant::new();
        merged.record(0.01, 1.0, 1).unwrap();
        merged.record(0.01, 1.0, 1).unwrap();
        assert_eq!(merged.history(), vec![(0.01, 1.0, 2)]);
    }

    #[test]
    fn epsilon_after_equals_recording_the_steps() {
        let mut a = RdpAccountant::new();
        a.record(0.01, 1.0, 500).unwrap();
        for (q, sigma) in [(0.01, 1.0), (0.02, 1.3)] {
            let mut b = a.clone();
            b.record(q, sigma, 7).unwrap();
            let (after, recorded) = (a.epsilon_after(q, sigma, 7, 1e-5).unwrap(), b.epsilon(1e-5).unwrap().0);
            assert!((after - recorded).abs() < 1e-12 * recorded, "{after} vs {recorded}");
        }
    }

    #[test]
    fn calibration_round_trips() {
        for &(target, q, steps) in &[(1.0, 0.004, 10_000u64), (3.0, 256.0 / 60000.0, 14062), (8.0, 0.1, 500)] {
            let sigma = calibrate(target, 1e-5, q, steps).unwrap();
            let reached = epsilon(q, sigma, steps, 1e-5).unwrap();
            assert!(reached <= target, "sigma {sigma} gives {reached} > {target}");
            let slightly_less = epsilon(q, sigma * (1.0 - 1e-3), steps, 1e-5).unwrap();
            assert!(slightly_less > target, "sigma {sigma} is not the smallest: {slightly_less}");
        }
    }

    #[test]
    fn pld_calibration_needs_less_noise() {
        let (q, steps) = (256.0 / 60000.0, 14062);
        let rdp = calibrate(3.0, 1e-5, q, steps).unwrap();
        let pld = calibrate_with(Accountant::Pld, 3.0, 1e-5, q, steps).unwrap();
        assert!(pld < rdp, "{pld} vs {rdp}");
        assert!(Accountant::Pld.epsilon(q, pld, steps, 1e-5).unwrap() <= 3.0);
        assert!(Accountant::Pld.epsilon(q, pld * (1.0 - 1e-3), steps, 1e-5).unwrap() > 3.0);
    }

    /// Rényi divergences of order `alpha` in both directions between `P`, the discrete
    /// Gaussian `N_Z(0, s^2)^2` on `Z^2`, and the mixture `(1 - q) P + q P(. - shift)`,
    /// by direct summation over a box: `(remove, add) = (D(M || P), D(P || M))`.
    fn subsampled_discrete_divergences(s_sq: f64, shift: (i64, i64), q: f64, alpha: f64) -> (f64, f64) {
        let reach = (30.0 * s_sq.sqrt()) as i64 + shift.0.abs().max(shift.1.abs());
        let rho = |x: i64, y: i64| (-((x * x + y * y) as f64) / (2.0 * s_sq)).exp();
        let mut total = 0.0;
        let (mut remove, mut add) = (0.0, 0.0);
        for x in -reach..=reach {
            for y in -reach..=reach {
                // M / P in closed form, so that no ratio of underflowed masses is taken.
                let p = rho(x, y);
                let exponent = (2 * (x * shift.0 + y * shift.1) - shift.0.pow(2) - shift.1.pow(2)) as f64;
                let ratio = (1.0 - q) + q * (exponent / (2.0 * s_sq)).exp();
                total += p;
                remove += p * ratio.powf(alpha);
                add += p * ratio.powf(1.0 - alpha);
            }
        }
        // P(. - shift) has P's normalization: an integer shift maps the lattice to itself.
        let log = |sum: f64| (sum / total).ln() / (alpha - 1.0);
        (log(remove), log(add))
    }

    #[test]
    fn the_discrete_accountant_bounds_the_subsampled_discrete_gaussian_in_both_directions() {
        // Sensitivity 5 reached by the integer vector (3, 4), noise sigma_L = 1.3 * 5:
        // the accountant's integer-order RDP (the continuous formula) must equal the
        // remove direction and bound the add direction, computed here independently.
        let (sigma, q): (f64, f64) = (1.3, 0.05);
        let accountant = RdpAccountant::discrete(0.0);
        assert!(accountant.orders().iter().all(|a| a.fract() == 0.0) && accountant.orders().contains(&2.0));
        for alpha in [2.0, 3.0, 8.0, 20.0] {
            let (remove, add) = subsampled_discrete_divergences((sigma * 5.0).powi(2), (3, 4), q, alpha);
            let ours = rdp::rdp_step(q, sigma, alpha);
            assert!((remove / ours - 1.0).abs() < 1e-9, "order {alpha}: remove {remove} vs {ours}");
            assert!(add <= ours * (1.0 + 1e-9), "order {alpha}: add {add} vs {ours}");
        }
        // A shift shorter than the sensitivity costs less.
        let (shorter, _) = subsampled_discrete_divergences((sigma * 5.0).powi(2), (2, 3), q, 8.0);
        assert!(shorter < rdp::rdp_step(q, sigma, 8.0));
    }

    #[test]
    fn the_discrete_accountant_sets_the_samplers_distance_aside_and_refuses_the_pld() {
        let (q, sigma, steps) = (0.01, 1.0, 1000);
        let mut continuous = RdpAccountant::new();
        let mut discrete = RdpAccountant::discrete(1e-30);
        continuous.record(q, sigma, steps).unwrap();
        discrete.record(q, sigma, steps).unwrap();
        // Integer orders only and a thousandth of delta less: a little more epsilon.
        let (c, d) = (continuous.epsilon(1e-5).unwrap().0, discrete.epsilon(1e-5).unwrap().0);
        assert!(d >= c && d < c * 1.05, "{d} vs {c}");
        assert_eq!(discrete.epsilon_after(q, sigma, 0, 1e-5).unwrap(), d);
        // A sampler distance too large for the share of delta set aside: no guarantee.
        let mut far = RdpAccountant::discrete(1e-9);
        far.record(q, sigma, steps).unwrap();
        assert_eq!(far.epsilon(1e-5).unwrap().0, f64::INFINITY);
        let err = discrete.pld_epsilon(1e-5).unwrap_err().to_string();
        assert!(err.contains("the PLD accountant covers the continuous Gaussian only"), "{err}");
        let via_enum = Accountant::DiscreteRdp.epsilon(q, sigma, steps, 1e-5).unwrap();
        assert!((via_enum - d).abs() < 1e-12, "{via_enum} vs {d}");
    }

    #[test]
    fn impossible_settings_are_refused() {
        let mut a = RdpAccountant::new();
        assert!(a.record(0.0, 1.0, 1).is_err());
        assert!(a.record(1.5, 1.0, 1).is_err());
        assert!(a.record(0.1, 0.0, 1).is_err());
        assert!(a.record(0.1, -1.0, 1).is_err());
        assert!(a.epsilon(0.0).is_err() && a.epsilon(1.0).is_err());
        assert!(check_delta(1e-4, Some(30_000)).is_err());
        assert!(check_delta(1e-5, Some(30_000)).is_ok());
        assert!(calibrate(0.01, 1e-5, 1.0, 1_000_000).is_err(), "out of reach");
        assert!(calibrate(-1.0, 1e-5, 0.1, 10).is_err());
    }
}
