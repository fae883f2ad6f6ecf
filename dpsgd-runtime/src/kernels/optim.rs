//! Optimizer updates on flat parameter vectors.

use super::simd::multiversion;

multiversion! {
/// SGD with (heavy-ball) momentum: `v = momentum v + g; p -= lr v`. With momentum 0
/// the velocity is not touched: `p -= lr g`.
pub fn sgd<F: Float>(params: &mut [F], grads: &[F], velocity: &mut [F], lr: F, momentum: F) {
    if momentum == F::ZERO {
        for (p, g) in params.iter_mut().zip(grads) {
            *p -= lr * *g;
        }
        return;
    }
    for ((p, g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
        *v = momentum * *v + *g;
        *p -= lr * *v;
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
}
