//! Dense layer `y = x W + b` on a batch: forward, input gradient, parameter gradient,
//! ghost norms and materialized per-example gradients.
//!
//! Shapes: `x` is `[batch, inputs]`; `y` and `dy` are `[batch, outputs]`; the weight
//! `W` is stored `[inputs, outputs]`, row-major, so that the forward product and the
//! weight gradient `x^T dy` both stream contiguous rows. `scratch` holds at least
//! `inputs * outputs + SCRATCH_SLACK` values.

use crate::Float;
use crate::gemm::{Products, matmul_as};
use crate::kernels::simd::multiversion;
use crate::kernels::vector::{axpy, dot, sq_norm};

/// Up to this many outputs a layer is a handful of dot products or vector updates per
/// example, which plain loops do faster than a matrix product (the logistic regression
/// and the output layers).
const FEW_OUTPUTS: usize = 4;

/// Values of scratch past `inputs * outputs`, so that the part used can start on a
/// cache line.
pub const SCRATCH_SLACK: usize = 16;

/// `len` values of `scratch` from its first 64-byte boundary. The few-output loops add
/// every example into the same rows: rows that straddle cache lines made each
/// example's loads wait on the last one's stores (the logistic regression's private
/// step ran 8-10% slower or faster from one build to the next, as the allocator
/// placed the scratch).
fn cache_aligned<F>(scratch: &mut [F], len: usize) -> &mut [F] {
    let start = scratch.as_ptr().align_offset(64).min(SCRATCH_SLACK);
    &mut scratch[start..start + len]
}

/// `dst[o * inputs + i] = w[i * outputs + o]`: the weight as `[outputs, inputs]`.
fn transpose<F: Float>(w: &[F], inputs: usize, outputs: usize, dst: &mut [F]) {
    for (i, row) in w.chunks_exact(outputs).take(inputs).enumerate() {
        for (o, v) in row.iter().enumerate() {
            dst[o * inputs + i] = *v;
        }
    }
}

multiversion! {
/// `y = x W + b`.
pub fn forward<F: Float>(
    x: &[F],
    w: &[F],
    b: &[F],
    y: &mut [F],
    batch: usize,
    inputs: usize,
    outputs: usize,
    scratch: &mut [F],
    products: Products,
) {
    if outputs <= FEW_OUTPUTS {
        let columns = cache_aligned(scratch, inputs * outputs);
        transpose(w, inputs, outputs, columns);
        for (xi, yi) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)).take(batch) {
            for ((yo, column), bo) in yi.iter_mut().zip(columns.chunks_exact(inputs)).zip(b) {
                *yo = *bo + dot(xi, column);
            }
        }
        return;
    }
    for yi in y.chunks_exact_mut(outputs).take(batch) {
        yi.copy_from_slice(b);
    }
    matmul_as(products, batch, outputs, inputs, x, inputs, 1, w, outputs, y, true);
}
}

multiversion! {
/// `dx = dy W^T` (or `dx += dy W^T` when `accumulate`).
pub fn backward_input<F: Float>(
    dy: &[F],
    w: &[F],
    dx: &mut [F],
    batch: usize,
    inputs: usize,
    outputs: usize,
    accumulate: bool,
    scratch: &mut [F],
    products: Products,
) {
    let wt = cache_aligned(scratch, inputs * outputs);
    transpose(w, inputs, outputs, wt);
    if outputs <= FEW_OUTPUTS {
        for (dyi, dxi) in dy.chunks_exact(outputs).zip(dx.chunks_exact_mut(inputs)).take(batch) {
            if !accumulate {
                dxi.fill(F::ZERO);
            }
            for (d, row) in dyi.iter().zip(wt.chunks_exact(inputs)) {
                axpy(*d, row, dxi);
            }
        }
        return;
    }
    matmul_as(products, batch, inputs, outputs, dy, outputs, 1, wt, inputs, dx, accumulate);
}
}

multiversion! {
/// Summed parameter gradient over the batch: `gw = x^T dy`, `gb = sum_i dy_i`.
/// Per-example weights (clipping factors) are applied by scaling `dy` beforehand,
/// which makes the clipped sum one product, exact ([`Products::for_sum`]).
#[allow(clippy::too_many_arguments)]
pub fn param_grad<F: Float>(
    x: &[F],
    dy: &[F],
    gw: &mut [F],
    gb: &mut [F],
    batch: usize,
    inputs: usize,
    outputs: usize,
    scratch: &mut [F],
    products: Products,
) {
    if outputs <= FEW_OUTPUTS {
        // Column `o` of the gradient is `sum_i dy[i, o] x_i`: vector updates over inputs.
        let columns = cache_aligned(scratch, inputs * outputs);
        columns.fill(F::ZERO);
        for (xi, dyi) in x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)).take(batch) {
            for (d, column) in dyi.iter().zip(columns.chunks_exact_mut(inputs)) {
                axpy(*d, xi, column);
            }
        }
        for (o, column) in columns.chunks_exact(inputs).enumerate() {
            for (i, v) in column.iter().enumerate() {
                gw[i * outputs + o] = *v;
            }
        }
    } else {
        matmul_as(products, inputs, outputs, batch, x, 1, inputs, dy, outputs, gw, false);
    }
    gb.fill(F::ZERO);
    for dyi in dy.chunks_exact(outputs).take(batch) {
        for (g, d) in gb.iter_mut().zip(dyi) {
            *g += *d;
        }
    }
}
}

multiversion! {
/// Ghost norms: adds `||g_i||^2 = (||x_i||^2 + 1) ||dy_i||^2` (weight and bias) to `out[i]`
/// without forming `g_i = x_i dy_i^T`.
pub fn add_sq_norms<F: Float>(x: &[F], dy: &[F], out: &mut [F], batch: usize, inputs: usize, outputs: usize) {
    for ((xi, dyi), o) in x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)).zip(out.iter_mut()).take(batch) {
        *o += (sq_norm(xi) + F::ONE) * sq_norm(dyi);
    }
}
}

multiversion! {
/// Writes each example's gradient `x_i dy_i^T` and `dy_i` into its row of the
/// per-example gradient matrix (`[batch, row_len]`), at the layer's parameter offsets.
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
    let rows = x.chunks_exact(inputs).zip(dy.chunks_exact(outputs)).zip(out.chunks_exact_mut(row_len));
    for ((xi, dyi), row) in rows.take(batch) {
        let gw = &mut row[weight_offset..weight_offset + inputs * outputs];
        for (gwi, xv) in gw.chunks_exact_mut(outputs).zip(xi) {
            for (g, d) in gwi.iter_mut().zip(dyi) {
                *g = *xv * *d;
            }
        }
        row[bias_offset..bias_offset + outputs].copy_from_slice(dyi);
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + seed) * 0.7).sin()).collect()
    }

    #[test]
    fn forward_and_backward_agree_with_loops_for_few_and_many_outputs() {
        for outputs in [1, 2, 4, 5, 50] {
            let (batch, inputs) = (7, 13);
            let x = data(batch * inputs, 0.0);
            let w = data(inputs * outputs, 1.0);
            let b = data(outputs, 2.0);
            let mut scratch = vec![0.0; inputs * outputs + SCRATCH_SLACK];
            let mut y = vec![9.0; batch * outputs];
            forward(&x, &w, &b, &mut y, batch, inputs, outputs, &mut scratch, Products::F32);
            for i in 0..batch {
                for o in 0..outputs {
                    let e = b[o] + (0..inputs).map(|k| x[i * inputs + k] * w[k * outputs + o]).sum::<f64>();
                    assert!((y[i * outputs + o] - e).abs() < 1e-12);
                }
            }

            let dy = data(batch * outputs, 3.0);
            for accumulate in [false, true] {
                let mut dx = vec![1.0; batch * inputs];
                backward_input(&dy, &w, &mut dx, batch, inputs, outputs, accumulate, &mut scratch, Products::F32);
                for i in 0..batch {
                    for k in 0..inputs {
                        let e: f64 = (0..outputs).map(|o| dy[i * outputs + o] * w[k * outputs + o]).sum::<f64>()
                            + if accumulate { 1.0 } else { 0.0 };
                        assert!((dx[i * inputs + k] - e).abs() < 1e-12);
                    }
                }
            }
        }
    }

    #[test]
    fn summed_grad_ghost_norms_and_per_example_grads_agree() {
        for outputs in [2, 6] {
            let (batch, inputs) = (5, 6);
            let x = data(batch * inputs, 0.5);
            let dy = data(batch * outputs, 1.5);
            let row_len = outputs * (inputs + 1) + 4;
            let mut per = vec![0.0; batch * row_len];
            per_example_grads(&x, &dy, &mut per, row_len, 2, 2 + outputs * inputs, batch, inputs, outputs);
            let mut norms = vec![0.5; batch];
            add_sq_norms(&x, &dy, &mut norms, batch, inputs, outputs);
            let mut gw = vec![0.0; outputs * inputs];
            let mut gb = vec![0.0; outputs];
            let mut scratch = vec![0.0; inputs * outputs + SCRATCH_SLACK];
            param_grad(&x, &dy, &mut gw, &mut gb, batch, inputs, outputs, &mut scratch, Products::F32);
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
}
