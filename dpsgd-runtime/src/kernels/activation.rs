//! Element-wise nonlinearities and their derivatives, written in terms of the output
//! so the backward pass needs no copy of the input.

use super::simd::multiversion;
use crate::Float;
use crate::spec::Activation;

#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    // Stable for large |x|: never exponentiates a positive number.
    if x >= F::ZERO {
        F::ONE / (F::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::ONE + e)
    }
}

multiversion! {
pub fn forward<F: Float>(act: Activation, x: &[F], y: &mut [F]) {
    match act {
        Activation::Relu => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = if *xi > F::ZERO { *xi } else { F::ZERO };
            }
        }
        Activation::Sigmoid => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = sigmoid(*xi);
            }
        }
        Activation::Tanh => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = xi.tanh();
            }
        }
    }
}
}

multiversion! {
/// `dx = dy * f'(x)` with `f'` computed from the output `y = f(x)`; `dx +=` when `accumulate`.
pub fn backward<F: Float>(act: Activation, y: &[F], dy: &[F], dx: &mut [F], accumulate: bool) {
    let derivative = |yi: F| match act {
        Activation::Relu => {
            if yi > F::ZERO {
                F::ONE
            } else {
                F::ZERO
            }
        }
        Activation::Sigmoid => yi * (F::ONE - yi),
        Activation::Tanh => F::ONE - yi * yi,
    };
    for ((dxi, dyi), yi) in dx.iter_mut().zip(dy).zip(y) {
        let g = *dyi * derivative(*yi);
        if accumulate {
            *dxi += g;
        } else {
            *dxi = g;
        }
    }
}
}
