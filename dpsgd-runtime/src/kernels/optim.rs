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
