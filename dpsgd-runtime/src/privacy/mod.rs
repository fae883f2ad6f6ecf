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

/// Steps with one sampling rate and noise multiplier.
#[derive(Clone, Debug, PartialEq)]
struct Phase {
    q: f64,
    sigma: f64,
    steps: u64,
    /// One step's RDP at each order.
    rdp: Vec<f64>,
}

/// The RDP accountant of the Poisson-subsampled Gaussian mechanism.
#[derive(Clone, Debug, PartialEq)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    phases: Vec<Phase>,
}

impl Default for RdpAccountant {
    fn default() -> Self {
        RdpAccountant::new()
    }
}

/// Errors unless `q` and `sigma` describe a private step.
pub fn check_step(q: f64, sigma: f64) -> Result<()> {
    ensure_config!(q > 0.0 && q <= 1.0, "the sampling rate q must lie in (0, 1], got {q}");
    ensure_config!(
        sigma > 0.0 && sigma.is_finite(),
        "the noise multiplier sigma must be positive and finite, got {sigma}"
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
        RdpAccountant { orders: rdp::default_orders(), phases: Vec::new() }
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

    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// The epsilon spent so far at `delta`, and the RDP order that gives it.
    pub fn epsilon(&self, delta: f64) -> Result<(f64, f64)> {
        check_delta(delta, None)?;
        if self.phases.is_empty() {
            return Ok((0.0, f64::NAN));
        }
        Ok(rdp::epsilon_from_curve((0..self.orders.len()).map(|i| (self.orders[i], self.composed(i))), delta))
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
        Ok(rdp::epsilon_from_curve(curve, delta).0)
    }

    /// The epsilon spent so far at `delta` by the numerical (PLD) accountant, with its
    /// error bounds. Takes about a second.
    pub fn pld_epsilon(&self, delta: f64) -> Result<pld::EpsilonBounds> {
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
}

impl Accountant {
    /// The epsilon at `delta` of `steps` steps of rate `q` and noise multiplier `sigma`.
    pub fn epsilon(self, q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
        match self {
            Accountant::Rdp => epsilon(q, sigma, steps, delta),
            Accountant::Pld => Ok(pld::epsilon(&[(q, sigma, steps)], delta)?.upper),
        }
    }
}

/// The epsilon of `steps` steps of rate `q` and noise multiplier `sigma` at `delta`, by RDP.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
    let mut accountant = RdpAccountant::new();
    accountant.record(q, sigma, steps)?;
    Ok(accountant.epsilon(delta)?.0)
}

/// The range of noise multipliers [`calibrate`] searches.
pub const MAX_NOISE_MULTIPLIER: f64 = 1024.0;
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
    let mut lo = hi / 2.0;
    while eps(lo)? <= target_epsilon {
        hi = lo;
        lo /= 2.0;
        if lo < MIN_NOISE_MULTIPLIER {
            return Ok(hi);
        }
    }
    while hi / lo > 1.0 + 1e-4 {
        let mid = (lo * hi).sqrt();
        if eps(mid)? <= target_epsilon {
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
