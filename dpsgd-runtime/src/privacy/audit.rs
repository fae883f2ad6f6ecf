//! Lower bounds on epsilon from the guesses of a one-run privacy audit (Steinke, Nasr,
//! Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023).
//!
//! `m` canaries are each included in the training set independently with probability
//! 1/2; after training, an auditor guesses "included" or "excluded" for `k` of them.
//! If training is (epsilon, delta)-DP, the number `W` of correct guesses satisfies
//! (the paper's Theorem 3.1, with delta)
//!
//! ```text
//! P[W >= v] <= beta + alpha * 2 m delta,
//! beta  = P[Binomial(k, p) >= v],   p = e^eps / (1 + e^eps),
//! alpha = max over i in 1..=v of (P[Binomial(k, p) >= v - i] - beta) / i.
//! ```
//!
//! So `v` correct guesses refute every epsilon whose bound is at most the significance
//! level: the largest such epsilon is a lower bound on the true epsilon at that
//! confidence. The bound grows with epsilon, so a bisection finds it.

use crate::error::{Result, ensure_config};

/// The largest epsilon that `correct` right guesses out of `guesses`, among `canaries`
/// canaries, refute at level `significance` (for example 0.05: 95% confidence) for
/// (epsilon, `delta`)-DP; 0 when they refute none.
pub fn epsilon_lower_bound(
    canaries: usize,
    guesses: usize,
    correct: usize,
    delta: f64,
    significance: f64,
) -> Result<f64> {
    ensure_config!(guesses <= canaries, "{guesses} guesses about {canaries} canaries");
    ensure_config!(correct <= guesses, "{correct} correct guesses of {guesses}");
    ensure_config!((0.0..1.0).contains(&delta), "delta must lie in [0, 1), got {delta}");
    ensure_config!(
        significance > 0.0 && significance < 1.0,
        "the significance level must lie in (0, 1), got {significance}"
    );
    let refuted = |eps: f64| p_value(canaries, guesses, correct, eps, delta) <= significance;
    if correct == 0 || !refuted(0.0) {
        return Ok(0.0);
    }
    // The p-value tends to P[W >= v] = 1 (or 2 m delta) as epsilon grows: find an
    // epsilon it refutes no longer, then bisect.
    let mut hi = 1.0;
    while refuted(hi) {
        hi *= 2.0;
        if hi > 1e3 {
            return Ok(f64::INFINITY);
        }
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if refuted(mid) { lo = mid } else { hi = mid }
    }
    Ok(lo)
}

/// The bound on `P[W >= correct]` under (eps, delta)-DP.
pub fn p_value(canaries: usize, guesses: usize, correct: usize, eps: f64, delta: f64) -> f64 {
    let p = 1.0 / (1.0 + (-eps).exp());
    let pmf = binomial_pmf(guesses, p);
    let beta: f64 = pmf[correct..].iter().sum();
    if delta == 0.0 {
        return beta.min(1.0);
    }
    // P[Bin >= v - i] - beta is the mass of v - i ..= v - 1, summed directly.
    let mut between = 0.0;
    let mut alpha: f64 = 0.0;
    for i in 1..=correct {
        between += pmf[correct - i];
        alpha = alpha.max(between / i as f64);
    }
    (beta + alpha * 2.0 * canaries as f64 * delta).min(1.0)
}

/// `P[Binomial(k, p) = j]` for `j` in `0..=k`, from logarithms (no overflow for large `k`).
fn binomial_pmf(k: usize, p: f64) -> Vec<f64> {
    let (ln_p, ln_q) = (p.ln(), (-p).ln_1p());
    let mut ln_choose = 0.0;
    (0..=k)
        .map(|j| {
            if j > 0 {
                ln_choose += ((k - j + 1) as f64).ln() - (j as f64).ln();
            }
            let ln = ln_choose + j as f64 * ln_p + (k - j) as f64 * ln_q;
            // 0 * ln(0) is 0 at p = 0 or 1.
            if ln.is_nan() { 0.0 } else { ln.exp() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_guesses_right_without_delta_is_the_closed_form() {
        // p^k = significance: eps = logit(significance^(1/k)).
        for (k, sig) in [(10, 0.05), (100, 0.05), (1000, 0.01)] {
            let s: f64 = f64::powf(sig, 1.0 / k as f64);
            let want = (s / (1.0 - s)).ln();
            let got = epsilon_lower_bound(5 * k, k, k, 0.0, sig).unwrap();
            assert!((got - want).abs() < 1e-9, "k {k}: {got} against {want}");
        }
    }

    /// Reference values from an independent implementation of the theorem in Python
    /// with scipy's binomial distribution (`scripts/audit_bound_reference.py`).
    #[test]
    fn bounds_match_an_independent_computation() {
        for (m, k, v, delta, want) in [
            (1000, 100, 90, 0.0, 1.6308232),
            (1000, 100, 90, 1e-5, 1.6261435),
            (10000, 1000, 800, 1e-5, 1.2507918),
            (200, 50, 50, 1e-3, 2.0972113),
            (1000, 100, 60, 1e-5, 0.0495487),
        ] {
            let got = epsilon_lower_bound(m, k, v, delta, 0.05).unwrap();
            assert!((got - want).abs() < 2e-6, "m {m} k {k} v {v} delta {delta}: {got} against {want}");
        }
    }

    #[test]
    fn the_bound_falls_with_delta_and_rises_with_correct_guesses() {
        let bound = |v, delta| epsilon_lower_bound(1000, 200, v, delta, 0.05).unwrap();
        assert!(bound(180, 0.0) > bound(180, 1e-5) && bound(180, 1e-5) > bound(180, 1e-4));
        assert!(bound(190, 1e-5) > bound(180, 1e-5));
        assert_eq!(bound(100, 1e-5), 0.0, "half right is no evidence");
    }

    #[test]
    fn impossible_counts_are_errors() {
        let message = |r: Result<f64>| r.unwrap_err().to_string();
        assert!(message(epsilon_lower_bound(10, 20, 5, 0.0, 0.05)).contains("20 guesses about 10 canaries"));
        assert!(message(epsilon_lower_bound(10, 5, 6, 0.0, 0.05)).contains("6 correct guesses of 5"));
        assert!(message(epsilon_lower_bound(10, 5, 5, 0.0, 1.0)).contains("significance level"));
    }
}
