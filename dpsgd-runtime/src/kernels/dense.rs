//! Dense layer `y = W x + b` on a batch: forward, input gradient, parameter gradient,
//! ghost norms and materialized per-example gradients.
//!
//! Shapes: `x` is `[batch, inputs]`, `y` and `dy` are `[batch, outputs]`, `W` is
//! `[outputs, inputs]` row-major, all slices row-major.

use super::vector::{axpy, dot, sq_norm};
use crate::Float;
use crate::gemm::{Op, matmul};

/// Up to this many outputs a layer is a handful of dot products per example, which a
/// plain loop does faster than a GEMM call (the logistic regression and output layers).
const FEW_OUTPUTS: usize = 4;

/// `y = x W^T + b`.
pub fn forward<F: Float>(x: &[F], w: &[F], b: &[F], y: &mut [F], batch: usize, inputs: usize, outputs: usize) {
    if outputs <= FEW_OUTPUTS {
        for (xi, yi) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)).take(batch) {
            for ((yo, wo), bo) in yi.iter_mut().zip(w.chunks_exact(inputs)).zip(b) {
                *yo = *bo + dot(xi, wo);
            }
        }
        return;
    }
    for yi in y.chunks_exact_mut(outputs).take(batch) {
        yi.copy_from_slice(b);
    }
    matmul(batch, outputs, inputs, x, Op::N, w, Op::T, y, true);
}

/// `dx = dy W` (or `dx += dy W` when `accumulate`).
#[allow(clippy::too_many_arguments)]
pub fn backward_input<F: Float>(
    dy: &[F],
    w: &[F],
    dx: &mut [F],
    batch: usize,
    inputs: usize,
    outputs: usize,
    accumulate: bool,
) {
    if outputs <= FEW_OUTPUTS {
        for (dyi, dxi) in dy.chunks_exact(outputs).zip(dx.chunks_exact_mut(inputs)).take(batch) {
            if !accumulate {
                dxi.fill(F::ZERO);
            }
            for (d, wo) in dyi.iter().zip(w.chunks_exact(inputs)) {
                axpy(*d, wo, dxi);
            }
        }
        return;
    }
    matmul(batch, inputs, outputs, dy, Op::N, w, Op::N, dx, accumulate);
}

/// Summed parameter gradient over the batch: `gw = dy^T x`, `gb = sum_i dy_i`.
/// Per-example weights (clipping factors) are applied by scaling `dy` beforehand,
/// which makes the clipped sum one GEMM.
pub fn param_grad<F: Float>(
    x: &[F],
    dy: &[F],
    gw: &mut [F],
    gb: &mut [F],
    batch: usize,
    inputs: usize,
    outputs: usize,
) {
    matmul(outputs, inputs, batch, dy, Op::T, x, Op::N, gw, false);
    gb.fill(F::ZERO);
    for dyi in dy.chunks_exact(outputs).take(batch) {
        for (g, d) in gb.iter_mut().zip(dyi) {
            *g += *d;
        }
    }
}

/// Ghost norms: adds `||g_i||^2 = (||x_i||^2 + 1) ||dy_i||^2` (weight and bias) to `out[i]`
/// without forming `g_i = dy_i x_i^T`.
pub fn add_sq_norms<F: Float>(x: &[F], dy: &[F], out: &mut [F], batch: usize, inputs: usize, outputs: usize) {
    for ((xi, dyi), o) in x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)).zip(out.iter_mut()).take(batch) {
        *o += (sq_norm(xi) + F::ONE) * sq_norm(dyi);
    }
}

/// Writes each example's gradient `dy_i x_i^T` and `dy_i` into its row of the
/// per-example gradient matrix (`[batch, row_len]`), at the layer's parameter offsets.
#[allow(clippy::too_many_arguments)]
pub fn per_example_grads<F: Float>(
    x: &[F],
    dy: &[F],
    out: &mut [F],
    row_len: usize,
    weight_offset: usize,
    bias_offset: usize,
    batch: usize,
    inputs: usize,
    outputs: usize,
) {
    for ((xi, dyi), row) in x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)).zip(out.chunks_exact_mut(row_len)).take(batch) {
        let gw = &mut row[weight_offset..weight_offset + inputs * outputs];
        for (gwo, d) in gw.chunks_exact_mut(inputs).zip(dyi) {
            for (g, xv) in gwo.iter_mut().zip(xi) {
                *g = *d * *xv;
            }
        }
        row[bias_offset..bias_offset + outputs].copy_from_slice(dyi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + seed) * 0.7).sin()).collect()
    }

    fn naive_forward(x: &[f64], w: &[f64], b: &[f64], batch: usize, inputs: usize, outputs: usize) -> Vec<f64> {
        let mut y = vec![0.0; batch * outputs];
        for i in 0..batch {
            for o in 0..outputs {
                y[i * outputs + o] = b[o] + (0..inputs).map(|k| w[o * inputs + k] * x[i * inputs + k]).sum::<f64>();
            }
        }
        y
    }

    #[test]
    fn forward_and_backward_agree_with_loops_for_few_and_many_outputs() {
        for outputs in [1, 2, 4, 5, 50] {
            let (batch, inputs) = (7, 13);
            let x = data(batch * inputs, 0.0);
            let w = data(outputs * inputs, 1.0);
            let b = data(outputs, 2.0);
            let mut y = vec![9.0; batch * outputs];
            forward(&x, &w, &b, &mut y, batch, inputs, outputs);
            let want = naive_forward(&x, &w, &b, batch, inputs, outputs);
            for (a, e) in y.iter().zip(&want) {
                assert!((a - e).abs() < 1e-12);
            }

            let dy = data(batch * outputs, 3.0);
            for accumulate in [false, true] {
                let mut dx = vec![1.0; batch * inputs];
                backward_input(&dy, &w, &mut dx, batch, inputs, outputs, accumulate);
                for i in 0..batch {
                    for k in 0..inputs {
                        let e: f64 = (0..outputs).map(|o| dy[i * outputs + o] * w[o * inputs + k]).sum::<f64>()
                            + if accumulate { 1.0 } else { 0.0 };
                        assert!((dx[i * inputs + k] - e).abs() < 1e-12);
                    }
                }
            }
        }
    }

    #[test]
    fn summed_grad_ghost_norms_and_per_example_grads_agree() {
        let (batch, inputs, outputs) = (5, 6, 3);
        let x = data(batch * inputs, 0.5);
        let dy = data(batch * outputs, 1.5);
        let row_len = outputs * (inputs + 1) + 4;
        let mut per = vec![0.0; batch * row_len];
        per_example_grads(&x, &dy, &mut per, row_len, 2, 2 + outputs * inputs, batch, inputs, outputs);
        let mut norms = vec![0.5; batch];
        add_sq_norms(&x, &dy, &mut norms, batch, inputs, outputs);
        let mut gw = vec![0.0; outputs * inputs];
        let mut gb = vec![0.0; outputs];
        param_grad(&x, &dy, &mut gw, &mut gb, batch, inputs, outputs);
        for i in 0..batch {
            let row = &per[i * row_len..(i + 1) * row_len];
            let sq: f64 = row.iter().map(|v| v * v).sum();
            assert!((norms[i] - 0.5 - sq).abs() < 1e-12);
        }
        for p in 0..outputs * inputs {
            let s: f64 = (0..batch).map(|i| per[i * row_len + 2 + p]).sum();
            assert!((gw[p] - s).abs() < 1e-12);
        }
        for o in 0..outputs {
            let s: f64 = (0..batch).map(|i| per[i * row_len + 2 + outputs * inputs + o]).sum();
            assert!((gb[o] - s).abs() < 1e-12);
        }
    }
}
