//! Rényi differential privacy of the Poisson-subsampled Gaussian mechanism (Mironov,
//! Talwar, Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019).
//!
//! One DP-SGD step with sampling rate `q` and noise multiplier `sigma` has, at order
//! `alpha > 1`, RDP `log(A_alpha) / (alpha - 1)` with
//!
//! ```text
//! A_alpha = E_{z ~ N(0, sigma^2)} [ ((1 - q) + q exp((2z - 1) / (2 sigma^2)))^alpha ].
//! ```
//!
//! Integer orders use the exact binomial expansion (all terms positive). Fractional
//! orders integrate the expectation numerically: its integrand is positive and smooth,
//! so the trapezoid rule on a fine grid converges geometrically and there is no
//! alternating series to cancel or to bound by absolute values.

/// RDP orders: the fine grid of common practice (1.1 to 10.9 by 0.1, 11 to 63) and a
/// few large orders for small epsilons. The accountant takes the best of them.
pub fn default_orders() -> Vec<f64> {
    let fine = (1..100).map(|x| 1.0 + x as f64 / 10.0);
    let integers = (11..64).map(|a| a as f64);
    fine.chain(integers).chain([64.0, 80.0, 96.0, 128.0, 256.0, 512.0, 1024.0]).collect()
}

/// The RDP at order `alpha > 1` of one step with sampling rate `q` in (0, 1] and noise
/// multiplier `sigma > 0`.
pub fn rdp_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    assert!(q > 0.0 && q <= 1.0 && sigma > 0.0 && alpha > 1.0, "rdp_step({q}, {sigma}, {alpha})");
    if q == 1.0 {
        // The Gaussian mechanism itself.
        return alpha / (2.0 * sigma * sigma);
    }
    let grid_points = (alpha + 28.0 * sigma) / (sigma.min(1.0) / 16.0);
    if alpha.fract() == 0.0 || grid_points > MAX_GRID_POINTS {
        // RDP does not decrease with the order, so the next integer order bounds a
        // fractional one from above: safe where the quadrature grid would be too fine
        // (tiny sigma, where epsilon is astronomically large anyway).
        let order = alpha.ceil();
        return log_a_integer(q, sigma, order as u64) / (order - 1.0);
    }
    log_a_integral(q, sigma, alpha) / (alpha - 1.0)
}

/// The most points the quadrature of a fractional order uses.
const MAX_GRID_POINTS: f64 = 200_000.0;

/// `log A_alpha` for an integer order: `sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / (2 sigma^2))`.
fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let two_s2 = 2.0 * sigma * sigma;
    let mut log_binomial = 0.0;
    let mut total = f64::NEG_INFINITY;
    for k in 0..=alpha {
        if k > 0 {
            log_binomial += ((alpha - k + 1) as f64).ln() - (k as f64).ln();
        }
        let kf = k as f64;
        // k = 0, 1 contribute no exponent (and 0/0 where sigma^2 underflows).
        let exponent = if k < 2 { 0.0 } else { (kf * kf - kf) / two_s2 };
        let term = log_binomial + kf * log_q + (alpha - k) as f64 * log_1mq + exponent;
        total = log_add(total, term);
    }
    total
}

/// `log A_alpha` by the trapezoid rule over the integrand's whole mass: the expansion's
/// components are Gaussians of width `sigma` centred between 0 and `alpha`, so the
/// range `[-14 sigma, alpha + 14 sigma]` misses less than `e^-98` of it, and a step of
/// `min(sigma, 1) / 16` resolves it to far below double precision.
pub(crate) fn log_a_integral(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (log_q, log_1mq) = (q.ln(), (-q).ln_1p());
    let s2 = sigma * sigma;
    let log_norm = -0.5 * (2.0 * std::f64::consts::PI * s2).ln();
    let log_integrand = |z: f64| {
        let log_ratio = log_add(log_1mq, log_q + (2.0 * z - 1.0) / (2.0 * s2));
        log_norm - z * z / (2.0 * s2) + alpha * log_ratio
    };
    let (lo, hi) = (-14.0 * sigma, alpha + 14.0 * sigma);
    let h = sigma.min(1.0) / 16.0;
    let n = ((hi - lo) / h).ceil() as usize;
    let h = (hi - lo) / n as f64;
    // Log-sum-exp in two passes: the largest term first.
    let max = (0..=n).map(|i| log_integrand(lo + i as f64 * h)).fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = (0..=n)
        .map(|i| {
            let weight = if i == 0 || i == n { 0.5 } else { 1.0 };
            weight * (log_integrand(lo + i as f64 * h) - max).exp()
        })
        .sum();
    max + (sum * h).ln()
}

/// `log(e^a + e^b)`.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY || hi == f64::INFINITY { hi } else { hi + (lo - hi).exp().ln_1p() }
}

/// The `(epsilon, delta)` guarantee of an RDP curve: the best order under the
/// conversion of Balle et al. ("Hypothesis testing interpretations and Rényi
/// differential privacy", 2020, Theorem 21), the one Opacus and TF Privacy use today:
/// `eps = rdp(a) + log((a-1)/a) - (log(delta) + log(a)) / (a-1)`.
/// Returns `(epsilon, order)`.
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    epsilon_from_curve(orders.iter().copied().zip(rdp.iter().copied()), delta)
}

/// [`epsilon_from_rdp`] over `(order, rdp)` pairs, computed as they come (no buffer).
pub fn epsilon_from_curve(curve: impl Iterator<Item = (f64, f64)>, delta: f64) -> (f64, f64) {
    assert!(delta > 0.0 && delta < 1.0, "delta {delta} outside (0, 1)");
    let mut best = (f64::INFINITY, f64::NAN);
    for (a, r) in curve {
        let eps = r + ((a - 1.0) / a).ln() - (delta.ln() + a.ln()) / (a - 1.0);
        if eps < best.0 {
            best = (eps, a);
        }
    }
    (best.0.max(0.0), best.1)
}

/// The classic conversion (Mironov 2017, Proposition 3): `eps = rdp(a) + log(1/delta) / (a-1)`.
/// Looser than [`epsilon_from_rdp`]; kept to compare with figures published with it.
pub fn epsilon_from_rdp_classic(orders: &[f64], rdp: &[f64], delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for (&a, &r) in orders.iter().zip(rdp) {
        let eps = r - delta.ln() / (a - 1.0);
        if eps < best.0 {
            best = (eps, a);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integral_equals_the_binomial_sum_at_integer_orders() {
        for &q in &[1e-4, 0.004, 0.01, 0.1, 0.5, 0.9] {
            for &sigma in &[0.4, 0.7, 1.1, 2.0, 5.0, 20.0] {
                for alpha in [2u64, 3, 5, 8, 16, 32, 63] {
                    let exact = log_a_integer(q, sigma, alpha);
                    let integral = log_a_integral(q, sigma, alpha as f64);
                    let error = (integral - exact).abs() / exact.abs().max(1e-300);
                    assert!(
                        error < 1e-9 || (integral - exact).abs() < 1e-13,
                        "q {q} sigma {sigma} alpha {alpha}: {integral} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn tiny_sigmas_give_huge_epsilons() {
        for &sigma in &[1e-300, 1e-9, 1e-4] {
            for &a in &[1.5, 2.5, 63.0] {
                let r = rdp_step(0.01, sigma, a);
                assert!(r > 1e3 && !r.is_nan(), "sigma {sigma}, order {a}: {r}");
            }
        }
    }

    #[test]
    fn full_batches_give_the_gaussian_mechanism() {
        assert!((rdp_step(1.0, 2.0, 3.0) - 3.0 / 8.0).abs() < 1e-15);
        // And q -> 1 approaches it.
        let near = rdp_step(0.999999, 2.0, 3.0);
        assert!((near - 3.0 / 8.0).abs() < 1e-5, "{near}");
    }

    #[test]
    fn rdp_grows_with_the_order_q_and_falls_with_sigma() {
        let orders = default_orders();
        for &(q, sigma) in &[(0.004, 1.1), (0.05, 0.8), (0.3, 2.0)] {
            let curve: Vec<f64> = orders.iter().map(|&a| rdp_step(q, sigma, a)).collect();
            for w in curve.windows(2) {
                assert!(w[1] >= w[0] * (1.0 - 1e-12), "not monotone in the order: {w:?}");
            }
            for &a in &[1.5, 4.0, 10.5, 32.0] {
                assert!(rdp_step(q * 1.5, sigma, a) > rdp_step(q, sigma, a));
                assert!(rdp_step(q, sigma * 1.2, a) < rdp_step(q, sigma, a));
            }
        }
    }

    #[test]
    fn small_q_matches_the_second_order_expansion() {
        // A_alpha = 1 + C(alpha, 2) q^2 (e^(1/sigma^2) - 1) + O(q^3), so the RDP tends to
        // alpha q^2 (e^(1/sigma^2) - 1) / 2 as q -> 0.
        let (q, sigma, alpha) = (1e-4, 1.0, 2.5);
        let rdp = rdp_step(q, sigma, alpha);
        let approx = alpha * q * q * ((1.0 / (sigma * sigma)).exp() - 1.0) / 2.0;
        assert!((rdp / approx - 1.0).abs() < 1e-3, "{rdp} vs {approx}");
    }
}
