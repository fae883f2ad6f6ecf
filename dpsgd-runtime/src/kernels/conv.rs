//! 2-D convolution over images stored `[channels, height, width]` per
//! example (an NCHW batch), the layout PyTorch flattens.
//!
//! A convolution is a product per example: with the patches of the input as the
//! columns of `cols` (`[patch, positions]`, `patch = in_channels * k * k`),
//! `Y = W cols + b` for the weight `W` `[out_channels, patch]` (PyTorch's
//! `[out, in, k, k]`). Examples are independent and run in parallel; each needs a
//! scratch slice of [`scratch_per_example`] values.

use rayon::prelude::*;

use super::threads::per_thread;
use super::vector;
use crate::Float;
use crate::gemm::matmul;
use crate::spec::{Conv2d, NormStrategy};

/// Scratch one example needs, for whichever kernel uses the most: its patches'
/// gradient (`backward_input`), a transposed delta and a per-example weight gradient
/// (`example_grad`), or the two Gram matrices of the ghost norm when `grams`. The
/// patches themselves are stored apart (`im2col_batch`).
pub fn scratch_per_example(layer: &Conv2d, grams: bool) -> usize {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let grams = if grams { 2 * t * t } else { 0 };
    (patch * t).max(t * out + patch * out).max(grams)
}

/// The outputs `o` in `0..out` whose input `o * stride + k - pad` lies in `0..size`: a
/// contiguous range, so the copies below need no test per pixel.
fn inside(out: usize, size: usize, stride: usize, k: usize, pad: usize) -> std::ops::Range<usize> {
    let lo = pad.saturating_sub(k).div_ceil(stride);
    let hi = if size + pad > k { ((size + pad - k - 1) / stride + 1).min(out) } else { 0 };
    lo.min(hi)..hi
}

/// The patches of one example, `cols[p, t]`, zero where the window hangs over the
/// padding.
fn im2col<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F]) {
    let (k, s, t, out_w) = (layer.kernel, layer.stride, layer.positions(), layer.out_w);
    for ci in 0..layer.in_channels {
        let image = &x[ci * layer.in_h * layer.in_w..][..layer.in_h * layer.in_w];
        for ky in 0..k {
            let rows = inside(layer.out_h, layer.in_h, s, ky, layer.pad_top);
            for kx in 0..k {
                let cols_in = inside(out_w, layer.in_w, s, kx, layer.pad_left);
                let patch_row = &mut cols[((ci * k + ky) * k + kx) * t..][..t];
                for (oy, out) in patch_row.chunks_exact_mut(out_w).enumerate() {
                    if !rows.contains(&oy) || cols_in.is_empty() {
                        out.fill(F::ZERO);
                        continue;
                    }
                    let src = &image[(oy * s + ky - layer.pad_top) * layer.in_w..][..layer.in_w];
                    let first = cols_in.start * s + kx - layer.pad_left;
                    out[..cols_in.start].fill(F::ZERO);
                    out[cols_in.end..].fill(F::ZERO);
                    for (o, v) in out[cols_in.clone()].iter_mut().zip(src[first..].iter().step_by(s)) {
                        *o = *v;
                    }
                }
            }
        }
    }
}

/// Adds the patch gradients `dcols[p, t]` back onto the image gradient `dx`.
fn col2im<F: Float>(layer: &Conv2d, dcols: &[F], dx: &mut [F]) {
    let (k, s, t, out_w) = (layer.kernel, layer.stride, layer.positions(), layer.out_w);
    for ci in 0..layer.in_channels {
        let image = &mut dx[ci * layer.in_h * layer.in_w..][..layer.in_h * layer.in_w];
        for ky in 0..k {
            let rows = inside(layer.out_h, layer.in_h, s, ky, layer.pad_top);
            for kx in 0..k {
                let cols_in = inside(out_w, layer.in_w, s, kx, layer.pad_left);
                if cols_in.is_empty() {
                    continue;
                }
                let patch_row = &dcols[((ci * k + ky) * k + kx) * t..][..t];
                for oy in rows.clone() {
                    let grad = &patch_row[oy * out_w..][..out_w];
                    let dst = &mut image[(oy * s + ky - layer.pad_top) * layer.in_w..][..layer.in_w];
                    let first = cols_in.start * s + kx - layer.pad_left;
                    for (d, g) in dst[first..].iter_mut().step_by(s).zip(&grad[cols_in.clone()]) {
                        *d += *g;
                    }
                }
            }
        }
    }
}

fn weight<'a, F>(layer: &Conv2d, params: &'a [F]) -> (&'a [F], &'a [F]) {
    let w = &params[layer.offset..][..layer.weight_len()];
    (w, &params[layer.bias_offset()..][..layer.out_channels])
}

/// Values of one example's patches, `[patch, positions]`.
pub fn cols_len(layer: &Conv2d) -> usize {
    layer.patch() * layer.positions()
}

/// Every example's patches into `cols` (`[batch, patch, positions]`): the forward pass
/// makes them, and the norms and parameter gradients of the same batch reuse them.
pub fn im2col_batch<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F]) {
    x.par_chunks(layer.in_len()).zip(cols.par_chunks_mut(cols_len(layer))).for_each(|(x, cols)| im2col(layer, x, cols));
}

/// `y = conv(x) + b` for every example, from its patches `cols`.
pub fn forward<F: Float>(layer: &Conv2d, params: &[F], cols: &[F], y: &mut [F]) {
    let (w, bias) = weight(layer, params);
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    cols.par_chunks(cols_len(layer)).zip(y.par_chunks_mut(out * t)).for_each(|(cols, y)| {
        matmul(out, t, patch, w, patch, 1, cols, t, y, false);
        for (row, b) in y.chunks_exact_mut(t).zip(bias) {
            row.iter_mut().for_each(|v| *v += *b);
        }
    });
}

/// `dx = conv^T(dy)` (`+=` when `accumulate`) for every example.
pub fn backward_input<F: Float>(
    layer: &Conv2d,
    params: &[F],
    dy: &[F],
    dx: &mut [F],
    accumulate: bool,
    scratch: &mut [F],
) {
    let (w, _) = weight(layer, params);
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let per = scratch_per_example(layer, false);
    dy.par_chunks(out * t).zip(dx.par_chunks_mut(layer.in_len())).zip(scratch.par_chunks_mut(per)).for_each(
        |((dy, dx), scratch)| {
            let dcols = &mut scratch[..patch * t];
            // dcols = W^T dY: W read transposed through its strides.
            matmul(patch, t, out, w, 1, patch, dy, t, dcols, false);
            if !accumulate {
                dx.fill(F::ZERO);
            }
            col2im(layer, dcols, dx);
        },
    );
}

/// One example's weight gradient, transposed (`[patch, out]`), into `gt`, and its bias
/// gradient into `gb`: `G^T = cols dY^T`, `g_b = dY 1`.
fn example_grad<F: Float>(layer: &Conv2d, cols: &[F], dy: &[F], scratch: &mut [F], weight: F) -> (usize, usize) {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let (dyt, rest) = scratch.split_at_mut(t * out);
    for co in 0..out {
        for ti in 0..t {
            dyt[ti * out + co] = weight * dy[co * t + ti];
        }
    }
    matmul(patch, out, t, cols, t, 1, dyt, out, &mut rest[..patch * out], false);
    (t * out, patch * out)
}

/// Scratch [`param_grad`] needs beyond the examples' own: a weight and bias gradient
/// accumulator for each thread. With `batch * scratch_per_example` in front, that is
/// room for every thread [`per_thread`] runs (at most the batch size).
pub fn param_grad_accumulators(layer: &Conv2d) -> usize {
    rayon::current_num_threads() * accumulator_len(layer)
}

fn accumulator_len(layer: &Conv2d) -> usize {
    layer.patch() * layer.out_channels + layer.out_channels
}

/// The layer's gradient summed over the batch, each example weighted by `weights`
/// when given: written (not added) to `gw` (`[out, patch]`) and `gb`. The batch is
/// split among the rayon threads, each summing its part into its own accumulator.
#[allow(clippy::too_many_arguments)]
pub fn param_grad<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    weights: Option<&[F]>,
    gw: &mut [F],
    gb: &mut [F],
    scratch: &mut [F],
) {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let batch = dy.len() / (out * t);
    let acc_len = accumulator_len(layer);
    let per = acc_len + scratch_per_example(layer, false);
    let used = per_thread(batch, scratch, per, &mut [F::ZERO; 0], 0, |range, scratch, _| {
        let (acc, scratch) = scratch.split_at_mut(acc_len);
        acc.fill(F::ZERO);
        let (gwt, gbt) = acc.split_at_mut(patch * out);
        for b in range {
            let (cols, dy) = (&cols[b * cols_len(layer)..][..cols_len(layer)], &dy[b * out * t..][..out * t]);
            let c = weights.map_or(F::ONE, |w| w[b]);
            let (offset, len) = example_grad(layer, cols, dy, scratch, c);
            gwt.iter_mut().zip(&scratch[offset..offset + len]).for_each(|(g, v)| *g += *v);
            for (g, row) in gbt.iter_mut().zip(dy.chunks_exact(t)) {
                *g += c * vector::sum(row);
            }
        }
    });
    let accumulators = &scratch[..used * per];
    for co in 0..out {
        for p in 0..patch {
            gw[co * patch + p] = accumulators.chunks_exact(per).map(|acc| acc[p * out + co]).sum();
        }
        gb[co] = accumulators.chunks_exact(per).map(|acc| acc[patch * out + co]).sum();
    }
}

/// Each example's gradient in its row of `per_example` (`[batch, params]`).
pub fn per_example_grads<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    per_example: &mut [F],
    params: usize,
    scratch: &mut [F],
) {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let per = scratch_per_example(layer, false);
    cols.par_chunks(cols_len(layer))
        .zip(dy.par_chunks(out * t))
        .zip(per_example.par_chunks_mut(params))
        .zip(scratch.par_chunks_mut(per))
        .for_each(|(((cols, dy), row), scratch)| {
            let (offset, len) = example_grad(layer, cols, dy, scratch, F::ONE);
            let gt = &scratch[offset..offset + len];
            let gw = &mut row[layer.offset..][..layer.weight_len()];
            for co in 0..out {
                for p in 0..patch {
                    gw[co * patch + p] = gt[p * out + co];
                }
            }
            for (g, d) in row[layer.bias_offset()..][..out].iter_mut().zip(dy.chunks_exact(t)) {
                *g = vector::sum(d);
            }
        });
}

/// Adds each example's squared gradient norm for this layer to `out`, either from the
/// materialized gradient or by the ghost identity
/// `||G||^2 = sum_{t,t'} (a_t . a_t') (d_t . d_t')` over the `T` positions, whichever
/// the plan chose.
pub fn add_sq_norms<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    out: &mut [F],
    strategy: NormStrategy,
    scratch: &mut [F],
) {
    let (patch, t, oc) = (layer.patch(), layer.positions(), layer.out_channels);
    let per = scratch_per_example(layer, strategy == NormStrategy::Ghost);
    cols.par_chunks(cols_len(layer))
        .zip(dy.par_chunks(oc * t))
        .zip(out.par_iter_mut())
        .zip(scratch.par_chunks_mut(per))
        .for_each(|(((cols, dy), out), scratch)| {
            let bias: F = dy.chunks_exact(t).map(|row| vector::sum(row)).map(|s| s * s).sum();
            let weight: F = match strategy {
                NormStrategy::Materialized => {
                    let (offset, len) = example_grad(layer, cols, dy, scratch, F::ONE);
                    vector::sq_norm(&scratch[offset..offset + len])
                }
                NormStrategy::Ghost => {
                    let (ka, kd) = scratch.split_at_mut(t * t);
                    // K_a = cols^T cols and K_d = dY^T dY, both [T, T].
                    matmul(t, t, patch, cols, 1, t, cols, t, ka, false);
                    matmul(t, t, oc, dy, 1, t, dy, t, &mut kd[..t * t], false);
                    vector::dot(ka, &kd[..t * t])
                }
            };
            *out += weight + bias;
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd shapes: 2 input channels, 7x6 images, kernel 3, stride 2, padding 1 (top/left).
    const LAYER: Conv2d = Conv2d {
        offset: 3,
        in_channels: 2,
        out_channels: 4,
        kernel: 3,
        stride: 2,
        pad_top: 1,
        pad_left: 1,
        in_h: 7,
        in_w: 6,
        out_h: 4,
        out_w: 3,
    };

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n).map(|i| (((i as u64 + 1) * (seed * 7919 + 104729)) % 1000) as f64 / 500.0 - 1.0).collect()
    }

    /// The convolution written out directly.
    fn naive_forward(l: &Conv2d, params: &[f64], x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; l.out_channels * l.positions()];
        for co in 0..l.out_channels {
            for oy in 0..l.out_h {
                for ox in 0..l.out_w {
                    let mut acc = params[l.bias_offset() + co];
                    for ci in 0..l.in_channels {
                        for ky in 0..l.kernel {
                            for kx in 0..l.kernel {
                                let (iy, ix) = ((oy * l.stride + ky) as isize - 1, (ox * l.stride + kx) as isize - 1);
                                if iy >= 0 && ix >= 0 && (iy as usize) < l.in_h && (ix as usize) < l.in_w {
                                    let w =
                                        params[l.offset + ((co * l.in_channels + ci) * l.kernel + ky) * l.kernel + kx];
                                    acc += w * x[(ci * l.in_h + iy as usize) * l.in_w + ix as usize];
                                }
                            }
                        }
                    }
                    y[(co * l.out_h + oy) * l.out_w + ox] = acc;
                }
            }
        }
        y
    }

    #[test]
    fn kernels_match_the_direct_convolution_and_its_derivatives() {
        let l = LAYER;
        let (batch, num_params) = (3, l.bias_offset() + l.out_channels);
        let params = values(num_params, 1);
        let x = values(batch * l.in_len(), 2);
        let dy = values(batch * l.out_channels * l.positions(), 3);
        let mut scratch = vec![0.0; batch * scratch_per_example(&l, true) + param_grad_accumulators(&l)];
        let mut cols = vec![0.0; batch * cols_len(&l)];
        im2col_batch(&l, &x, &mut cols);
        let mut y = vec![0.0; dy.len()];
        forward(&l, &params, &cols, &mut y);
        for b in 0..batch {
            let want = naive_forward(&l, &params, &x[b * l.in_len()..][..l.in_len()]);
            let got = &y[b * want.len()..][..want.len()];
            assert!(want.iter().zip(got).all(|(a, b)| (a - b).abs() < 1e-12));
        }
        // The forward pass is linear in x and in the weights: the adjoint identities
        // <dy, conv(x)> = <conv^T(dy), x> and <dy, d conv / dW> = <G, W> check the
        // backward kernels against the forward one.
        let mut dx = vec![0.0; x.len()];
        backward_input(&l, &params, &dy, &mut dx, false, &mut scratch);
        let mut no_bias = params.clone();
        no_bias[l.bias_offset()..].fill(0.0);
        let mut y0 = vec![0.0; dy.len()];
        forward(&l, &no_bias, &cols, &mut y0);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        assert!((dot(&dy, &y0) - dot(&dx, &x)).abs() < 1e-10);

        let (mut gw, mut gb) = (vec![0.0; l.weight_len()], vec![0.0; l.out_channels]);
        let weights = [0.5, 2.0, -1.0];
        param_grad(&l, &cols, &dy, Some(&weights), &mut gw, &mut gb, &mut scratch);
        let mut per_example = vec![0.0; batch * num_params];
        per_example_grads(&l, &cols, &dy, &mut per_example, num_params, &mut scratch);
        let mut norms = [vec![0.0; batch], vec![0.0; batch]];
        add_sq_norms(&l, &cols, &dy, &mut norms[0], NormStrategy::Ghost, &mut scratch);
        add_sq_norms(&l, &cols, &dy, &mut norms[1], NormStrategy::Materialized, &mut scratch);
        let mut weighted = vec![0.0; num_params];
        for b in 0..batch {
            let row = &per_example[b * num_params..][..num_params];
            let w_part = &row[l.offset..l.bias_offset()];
            // <dy_b, conv_W(x_b)> with the bias off equals <G_b, W>.
            let yb = &y0[b * dy.len() / batch..][..dy.len() / batch];
            let dyb = &dy[b * dy.len() / batch..][..dy.len() / batch];
            assert!((dot(dyb, yb) - dot(w_part, &params[l.offset..l.bias_offset()])).abs() < 1e-10);
            let norm2 = row.iter().map(|v| v * v).sum::<f64>();
            assert!((norms[0][b] - norm2).abs() < 1e-10 * norm2 && (norms[1][b] - norm2).abs() < 1e-10 * norm2);
            weighted.iter_mut().zip(row).for_each(|(s, v)| *s += weights[b] * v);
        }
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-10);
        assert!(close(&gw, &weighted[l.offset..l.bias_offset()]) && close(&gb, &weighted[l.bias_offset()..]));
    }
}
