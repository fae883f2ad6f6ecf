//! Element-wise nonlinearities and their derivatives, written in terms of the output
//! (softplus's too: `1 - e^(-y)`) so that the backward pass needs no copy of the input,
//! except the GELUs', which are not functions of the output and take the input.

use super::simd::multiversion;
use crate::Float;
use crate::spec::Activation;

/// `1 / (1 + e^(-x))`, through the standard library's `exp` (not the vectorizing
/// [`Float::vector_sigmoid`]).
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

/// `sqrt(2 / pi)` and the cubic coefficient of GELU's tanh approximation.
const GELU_TANH_SCALE: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_CUBIC: f64 = 0.044_715;

/// `u = sqrt(2/pi) (x + 0.044715 x^3)`, the argument of the approximation's tanh.
#[inline(always)]
fn gelu_tanh_inner(x: f64) -> f64 {
    GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x)
}

multiversion! {
/// `y = f(x)` element-wise, for slices of one length (any number of examples).
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
        Activation::LeakyRelu => {
            let slope = F::from_f64(Activation::LEAKY_SLOPE);
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = if *xi > F::ZERO { *xi } else { slope * *xi };
            }
        }
        Activation::Elu => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = if *xi > F::ZERO { *xi } else { xi.exp_m1() };
            }
        }
        Activation::Softplus => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = xi.vector_softplus();
            }
        }
        Activation::Gelu => {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = *xi * xi.vector_normal_cdf();
            }
        }
        Activation::GeluTanh => {
            for (yi, xi) in y.iter_mut().zip(x) {
                let x = xi.to_f64();
                *yi = F::from_f64(0.5 * x * (1.0 + gelu_tanh_inner(x).tanh()));
            }
        }
    }
}
}

multiversion! {
/// `dx = dy * f'(x)` with `f'` computed from the output `y = f(x)` (from the input `x`
/// for GELU); `dx +=` when `accumulate`. One loop per activation, so that each
/// vectorizes on its own.
pub fn backward<F: Float>(act: Activation, x: &[F], y: &[F], dy: &[F], dx: &mut [F], accumulate: bool) {
    match act {
        Activation::Relu => chain(x, y, dy, dx, accumulate, |_, y| if y > F::ZERO { F::ONE } else { F::ZERO }),
        Activation::Sigmoid => chain(x, y, dy, dx, accumulate, |_, y| y * (F::ONE - y)),
        Activation::Tanh => chain(x, y, dy, dx, accumulate, |_, y| F::ONE - y * y),
        // The output has the input's sign.
        Activation::LeakyRelu => {
            let slope = F::from_f64(Activation::LEAKY_SLOPE);
            chain(x, y, dy, dx, accumulate, |_, y| if y > F::ZERO { F::ONE } else { slope })
        }
        // Below zero, y = e^x - 1, so f'(x) = e^x = y + 1 (and 1 at x = 0 either way).
        Activation::Elu => chain(x, y, dy, dx, accumulate, |_, y| if y > F::ZERO { F::ONE } else { y + F::ONE }),
        // sigmoid(x) = 1 - e^(-y), as -expm1(-y) to keep its precision where y is tiny.
        Activation::Softplus => chain(x, y, dy, dx, accumulate, |_, y| -(-y).exp_m1()),
        // (x Phi(x))' = Phi(x) + x phi(x).
        Activation::Gelu => {
            let (inv_sqrt_2pi, minus_half) = (F::from_f64(1.0 / (2.0 * std::f64::consts::PI).sqrt()), F::from_f64(-0.5));
            chain(x, y, dy, dx, accumulate, |x, _| {
                x.vector_normal_cdf() + x * inv_sqrt_2pi * (minus_half * x * x).vector_exp()
            })
        }
        // (x (1 + tanh u) / 2)' = (1 + tanh u) / 2 + x (1 - tanh^2 u) u' / 2.
        Activation::GeluTanh => chain(x, y, dy, dx, accumulate, |x, _| {
            let x = x.to_f64();
            let t = gelu_tanh_inner(x).tanh();
            let du = GELU_TANH_SCALE * (1.0 + 3.0 * GELU_TANH_CUBIC * x * x);
            F::from_f64(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
        }),
    }
}
}

/// `dx = dy * derivative(x, y)` (`+=` when `accumulate`), inlined into each arm of
/// [`backward`] so that the loop is compiled, and vectorized, per activation.
#[inline(always)]
fn chain<F: Float>(x: &[F], y: &[F], dy: &[F], dx: &mut [F], accumulate: bool, derivative: impl Fn(F, F) -> F) {
    for (((dxi, dyi), yi), xi) in dx.iter_mut().zip(dy).zip(y).zip(x) {
        let g = *dyi * derivative(*xi, *yi);
        *dxi = if accumulate { *dxi + g } else { g };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each activation's value against its formula, and the derivative the backward
    /// pass takes from the output against a central difference of the formula.
    #[test]
    fn values_and_derivatives_of_the_formulas() {
        type Formula = fn(f64) -> f64;
        let formulas: [(Activation, Formula); 8] = [
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
            (Activation::Tanh, f64::tanh),
            (Activation::LeakyRelu, |x| if x > 0.0 { x } else { 0.01 * x }),
            (Activation::Elu, |x| if x > 0.0 { x } else { x.exp() - 1.0 }),
            (Activation::Softplus, |x| x.exp().ln_1p()),
            // Phi by its series-free definition through erf, and by erfc in the tails.
            (Activation::Gelu, |x| match x < -5.0 {
                true => 0.5 * x * libm::erfc(-x / 2f64.sqrt()),
                false => 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
            }),
            (Activation::GeluTanh, |x| {
                0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
            }),
        ];
        let xs = [-30.0, -3.0, -0.7, -1e-3, 1e-3, 0.4, 2.5, 30.0];
        for (act, f) in formulas {
            let mut y = vec![0.0; xs.len()];
            forward(act, &xs, &mut y);
            let mut dx = vec![0.0; xs.len()];
            backward(act, &xs, &y, &vec![1.0; xs.len()], &mut dx, false);
            for ((&x, &yi), &d) in xs.iter().zip(&y).zip(&dx) {
                assert!((yi - f(x)).abs() <= 1e-12 * f(x).abs().max(1e-300), "{act:?}({x}) = {yi}, not {}", f(x));
                let h = 1e-6 * x.abs().max(1e-3);
                let numeric = (f(x + h) - f(x - h)) / (2.0 * h);
                assert!((d - numeric).abs() <= 1e-6 * numeric.abs() + 1e-9, "{act:?}'({x}) = {d}, not {numeric}");
            }
        }
        // Softplus keeps its precision far below zero, where ln(1 + e^x) ~ e^x.
        let mut y = [0.0];
        forward(Activation::Softplus, &[-50.0], &mut y);
        assert!((y[0] / (-50.0f64).exp() - 1.0).abs() < 1e-12);
    }
}
