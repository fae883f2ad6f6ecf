//! Optimizer updates on flat parameter vectors.

use super::simd::multiversion;
use crate::Float;

multiversion! {
/// SGD with (heavy-ball) momentum: `v = momentum v + g; p -= lr v`. With momentum 0
/// the velocity is not touched: `p -= lr g`.
pub fn sgd<F: Float>(params: &mut [F], grads: &[F], velocity: &mut [F], lr: F, momentum: F) {
    if momentum == F::ZERO {
        return descend(params, grads, lr);
    }
    for ((p, g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
        *v = momentum * *v + *g;
        *p -= lr * *v;
    }
}
}

multiversion! {
/// SGD without momentum, `p -= lr g`, in the ranges `ranges` of the parameters only:
/// where the gradient is zero it leaves the parameters as they are.
pub fn sgd_ranges<F: Float>(params: &mut [F], grads: &[F], lr: F, ranges: impl Iterator<Item = std::ops::Range<usize>>) {
    for range in ranges {
        descend(&mut params[range.clone()], &grads[range], lr);
    }
}
}

/// `p -= lr g`.
#[inline(always)]
fn descend<F: Float>(params: &mut [F], grads: &[F], lr: F) {
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * *g;
    }
}

multiversion! {
/// Adam (Kingma and Ba) at step `t` (from 1), with bias correction:
/// `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.
/// In private training `g` is the noised gradient, so the moments are too (DP-Adam).
pub fn adam<F: Float>(params: &mut [F], grads: &[F], m: &mut [F], v: &mut [F], lr: F, beta1: F, beta2: F, eps: F, t: u64) {
    let c1 = F::from_f64(1.0 / (1.0 - beta1.to_f64().powi(t as i32)));
    let c2 = F::from_f64(1.0 / (1.0 - beta2.to_f64().powi(t as i32)));
    for (((p, g), m), v) in params.iter_mut().zip(grads).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = beta1 * *m + (F::ONE - beta1) * *g;
        *v = beta2 * *v + (F::ONE - beta2) * *g * *g;
        *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
    }
}
}

multiversion! {
/// L2 weight decay on the gradient: `g += decay p`. Applied after the noise, it only
/// post-processes the private gradient.
pub fn weight_decay<F: Float>(grads: &mut [F], params: &[F], decay: F) {
    for (g, p) in grads.iter_mut().zip(params) {
        *g += decay * *p;
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_accumulates_velocity_and_zero_momentum_is_plain_sgd() {
        let (mut p, mut v) = (vec![1.0f64, 2.0], vec![0.0, 0.0]);
        sgd(&mut p, &[1.0, -2.0], &mut v, 0.1, 0.5);
        assert_eq!((p.clone(), v.clone()), (vec![0.9, 2.2], vec![1.0, -2.0]));
        sgd(&mut p, &[1.0, -2.0], &mut v, 0.1, 0.5);
        // v = 0.5 v + g = (1.5, -3.0); p -= 0.1 v
        assert!((p[0] - 0.75).abs() < 1e-15 && (p[1] - 2.5).abs() < 1e-15);

        let (mut p, mut v) = (vec![1.0f64], vec![7.0]);
        sgd(&mut p, &[2.0], &mut v, 0.25, 0.0);
        assert_eq!((p, v), (vec![0.5], vec![7.0]));
    }

    #[test]
    fn adam_takes_steps_of_about_lr_and_corrects_its_bias() {
        let (mut p, mut m, mut v) = (vec![1.0f64, 1.0], vec![0.0; 2], vec![0.0; 2]);
        adam(&mut p, &[0.5, -3.0], &mut m, &mut v, 0.1, 0.9, 0.999, 1e-8, 1);
        // The first step is lr * sign(g) whatever the gradient's size.
        assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] - 1.1).abs() < 1e-7, "{p:?}");
        assert!((m[0] - 0.05).abs() < 1e-15 && (v[1] - 0.009).abs() < 1e-15);
        let mut g = vec![1.0f64];
        weight_decay(&mut g, &[2.0], 0.25);
        assert_eq!(g, vec![1.5]);
    }
}
