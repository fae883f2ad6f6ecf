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
/// gradient and padded image gradient (`backward_input`), a transposed delta and a
/// per-example weight gradient (`example_grad`), or the two Gram matrices of the
/// ghost norm when `grams`. The patches themselves are stored apart
/// (`im2col_batch`).
pub fn scratch_per_example(layer: &Conv2d, grams: bool) -> usize {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let grams = if grams { 2 * t * t } else { 0 };
    (patch * t + padded_len(layer)).max(t * out + patch * out).max(grams)
}

/// Height and width of an image as the windows see it: zeros added where they hang
/// over the edge (padding), rows and columns dropped where they never reach.
fn padded_dims(layer: &Conv2d) -> (usize, usize) {
    let (k, s) = (layer.kernel, layer.stride);
    ((layer.out_h - 1) * s + k, (layer.out_w - 1) * s + k)
}

/// Values of one example's padded image (`[in_channels, padded height, padded width]`).
pub fn padded_len(layer: &Conv2d) -> usize {
    let (hp, wp) = padded_dims(layer);
    layer.in_channels * hp * wp
}

/// The rows (or columns) of the padded image that hold input: `pad..pad + size`, cut
/// to the padded extent.
fn holding_input(pad: usize, size: usize, padded: usize) -> std::ops::Range<usize> {
    pad.min(padded)..(pad + size).min(padded)
}

/// Each input value's place in the padded image, as `(input index, padded index, run
/// length)` for each run of a row that lies inside both.
fn padded_runs(layer: &Conv2d) -> impl Iterator<Item = (usize, usize, usize)> + use<> {
    let (hp, wp) = padded_dims(layer);
    let l = *layer;
    let rows = holding_input(l.pad_top, l.in_h, hp);
    let cols = holding_input(l.pad_left, l.in_w, wp);
    (0..l.in_channels).flat_map(move |ci| {
        let cols = cols.clone();
        rows.clone().map(move |r| {
            let input = (ci * l.in_h + r - l.pad_top) * l.in_w + cols.start - l.pad_left;
            (input, (ci * hp + r) * wp + cols.start, cols.len())
        })
    })
}

/// Output positions handled together: their window corners are computed once and
/// serve every patch row.
const CORNERS: usize = 256;

/// The offsets of the top-left corners of windows `t0..t0 + corners.len()` in a
/// padded channel plane of width `wp`.
fn window_corners(layer: &Conv2d, wp: usize, t0: usize, corners: &mut [usize]) {
    for (j, corner) in corners.iter_mut().enumerate() {
        let (oy, ox) = ((t0 + j) / layer.out_w, (t0 + j) % layer.out_w);
        *corner = (oy * wp + ox) * layer.stride;
    }
}

/// Calls `body(p, plane_offset, t0, corners)` for patch row `p`, the offset of its
/// window element `(ci, ky, kx)` in the padded image, and each chunk of positions.
fn for_patch_rows(layer: &Conv2d, mut body: impl FnMut(usize, usize, usize, &[usize])) {
    let ((hp, wp), k, t) = (padded_dims(layer), layer.kernel, layer.positions());
    let mut corners = [0usize; CORNERS];
    for t0 in (0..t).step_by(CORNERS) {
        let corners = &mut corners[..CORNERS.min(t - t0)];
        window_corners(layer, wp, t0, corners);
        for ci in 0..layer.in_channels {
            for ky in 0..k {
                for kx in 0..k {
                    body((ci * k + ky) * k + kx, (ci * hp + ky) * wp + kx, t0, corners);
                }
            }
        }
    }
}

/// The patches of one example, `cols[p, t]`, zero where the window hangs over the
/// padding: the padded image is made in `padded`, then each patch row is a gather
/// from it at the window corners.
fn im2col<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F], padded: &mut [F]) {
    let t = layer.positions();
    padded.fill(F::ZERO);
    for (input, at, len) in padded_runs(layer) {
        padded[at..at + len].copy_from_slice(&x[input..input + len]);
    }
    for_patch_rows(layer, |p, offset, t0, corners| {
        let window = &padded[offset..];
        for (c, corner) in cols[p * t + t0..][..corners.len()].iter_mut().zip(corners) {
            *c = window[*corner];
        }
    });
}

/// Adds the patch gradients `dcols[p, t]` back onto the image gradient `dx`, through
/// the padded image's gradient `dpadded`.
fn col2im<F: Float>(layer: &Conv2d, dcols: &[F], dx: &mut [F], dpadded: &mut [F]) {
    let t = layer.positions();
    dpadded.fill(F::ZERO);
    for_patch_rows(layer, |p, offset, t0, corners| {
        let window = &mut dpadded[offset..];
        for (g, corner) in dcols[p * t + t0..][..corners.len()].iter().zip(corners) {
            window[*corner] += *g;
        }
    });
    for (input, at, len) in padded_runs(layer) {
        dx[input..input + len].iter_mut().zip(&dpadded[at..at + len]).for_each(|(d, g)| *d += *g);
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
/// `scratch` holds [`padded_len`] values per example.
pub fn im2col_batch<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F], scratch: &mut [F]) {
    x.par_chunks(layer.in_len())
        .zip(cols.par_chunks_mut(cols_len(layer)))
        .zip(scratch.par_chunks_mut(padded_len(layer)))
        .for_each(|((x, cols), padded)| im2col(layer, x, cols, padded));
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
            let (dcols, dpadded) = scratch.split_at_mut(patch * t);
            // dcols = W^T dY: W read transposed through its strides.
            matmul(patch, t, out, w, 1, patch, dy, t, dcols, false);
            if !accumulate {
                dx.fill(F::ZERO);
            }
            col2im(layer, dcols, dx, &mut dpadded[..padded_len(layer)]);
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

/// Values of one example's stored gradient: the layer's parameters, weights
/// (`[out, patch]`) then bias.
pub fn example_grad_len(layer: &Conv2d) -> usize {
    layer.weight_len() + layer.out_channels
}

/// Adds each example's squared gradient norm for this layer to `out`, either from the
/// materialized gradient or by the ghost identity
/// `||G||^2 = sum_{t,t'} (a_t . a_t') (d_t . d_t')` over the `T` positions, whichever
/// the plan chose. Materialized gradients are kept in `store` when given
/// ([`example_grad_len`] values per example), for [`param_grad_from_stored`].
#[allow(clippy::too_many_arguments)]
pub fn add_sq_norms<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    out: &mut [F],
    strategy: NormStrategy,
    scratch: &mut [F],
    store: Option<&mut [F]>,
) {
    let (patch, t, oc) = (layer.patch(), layer.positions(), layer.out_channels);
    let per = scratch_per_example(layer, strategy == NormStrategy::Ghost);
    let bias_grad = |dy: &[F], co: usize| vector::sum(&dy[co * t..][..t]);
    let examples = cols.par_chunks(cols_len(layer)).zip(dy.par_chunks(oc * t)).zip(scratch.par_chunks_mut(per));
    if let (NormStrategy::Materialized, Some(store)) = (strategy, store) {
        let len = example_grad_len(layer);
        let store = store[..out.len() * len].par_chunks_mut(len);
        examples.zip(out.par_iter_mut()).zip(store).for_each(|((((cols, dy), scratch), out), grad)| {
            let (offset, _) = example_grad(layer, cols, dy, scratch, F::ONE);
            let gt = &scratch[offset..];
            let (gw, gb) = grad.split_at_mut(layer.weight_len());
            for (co, row) in gw.chunks_exact_mut(patch).enumerate() {
                row.iter_mut().enumerate().for_each(|(p, g)| *g = gt[p * oc + co]);
            }
            gb.iter_mut().enumerate().for_each(|(co, g)| *g = bias_grad(dy, co));
            *out += vector::sq_norm(grad);
        });
        return;
    }
    examples.zip(out.par_iter_mut()).for_each(|(((cols, dy), scratch), out)| {
        let bias: F = (0..oc).map(|co| bias_grad(dy, co)).map(|s| s * s).sum();
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

/// The layer's gradient summed over the batch, each example weighted by `weights`,
/// from the gradients [`add_sq_norms`] stored (`grad` is the layer's parameters).
pub fn param_grad_from_stored<F: Float>(layer: &Conv2d, store: &[F], weights: &[F], grad: &mut [F]) {
    let len = example_grad_len(layer);
    vector::weighted_row_sum(&store[..weights.len() * len], weights, &mut grad[..len]);
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

    /// Patch row `(ci, ky, kx)`, position `(oy, ox)`, read straight from the image.
    fn naive_cols(l: &Conv2d, x: &[f64]) -> Vec<f64> {
        let mut cols = vec![0.0; cols_len(l)];
        for ci in 0..l.in_channels {
            for ky in 0..l.kernel {
                for kx in 0..l.kernel {
                    for oy in 0..l.out_h {
                        for ox in 0..l.out_w {
                            let iy = (oy * l.stride + ky) as isize - l.pad_top as isize;
                            let ix = (ox * l.stride + kx) as isize - l.pad_left as isize;
                            let inside = (0..l.in_h as isize).contains(&iy) && (0..l.in_w as isize).contains(&ix);
                            let p = (ci * l.kernel + ky) * l.kernel + kx;
                            cols[p * l.positions() + oy * l.out_w + ox] =
                                if inside { x[(ci * l.in_h + iy as usize) * l.in_w + ix as usize] } else { 0.0 };
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn patches_and_their_adjoint_on_edge_shapes() {
        // (channels, in_h, in_w, kernel, stride, pad_top, pad_left, out_h, out_w): SAME
        // with more padding at the bottom, VALID leaving rows unread, a kernel smaller
        // than the stride, stride 1, a 1x1 kernel, and more positions than one chunk
        // of window corners.
        let shapes = [
            (2, 7, 6, 3, 2, 1, 1, 4, 3),
            (1, 28, 28, 8, 2, 3, 3, 14, 14),
            (3, 13, 13, 4, 2, 0, 0, 5, 5),
            (2, 9, 8, 2, 3, 0, 0, 3, 3),
            (2, 5, 6, 3, 1, 1, 1, 5, 6),
            (1, 4, 5, 1, 1, 0, 0, 4, 5),
            (1, 20, 19, 3, 1, 1, 1, 20, 19),
        ];
        for (in_channels, in_h, in_w, kernel, stride, pad_top, pad_left, out_h, out_w) in shapes {
            let l = Conv2d {
                offset: 0,
                in_channels,
                out_channels: 1,
                kernel,
                stride,
                pad_top,
                pad_left,
                in_h,
                in_w,
                out_h,
                out_w,
            };
            let x = values(l.in_len(), 5);
            let (mut cols, mut padded) = (vec![0.0; cols_len(&l)], vec![0.0; padded_len(&l)]);
            im2col(&l, &x, &mut cols, &mut padded);
            assert_eq!(cols, naive_cols(&l, &x), "{l:?}");
            // <im2col(x), d> = <x, col2im(d)>, on top of what dx held.
            let d = values(cols_len(&l), 6);
            let mut dx = vec![1.0; l.in_len()];
            col2im(&l, &d, &mut dx, &mut padded);
            let lhs: f64 = cols.iter().zip(&d).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * (b - 1.0)).sum();
            assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{l:?}");
        }
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
        im2col_batch(&l, &x, &mut cols, &mut scratch);
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
        add_sq_norms(&l, &cols, &dy, &mut norms[0], NormStrategy::Ghost, &mut scratch, None);
        let mut store = vec![0.0; batch * example_grad_len(&l)];
        add_sq_norms(&l, &cols, &dy, &mut norms[1], NormStrategy::Materialized, &mut scratch, Some(&mut store));
        let mut from_store = vec![0.0; example_grad_len(&l)];
        param_grad_from_stored(&l, &store, &weights, &mut from_store);
        let mut unstored = vec![0.0; batch];
        add_sq_norms(&l, &cols, &dy, &mut unstored, NormStrategy::Materialized, &mut scratch, None);
        assert!(unstored.iter().zip(&norms[1]).all(|(a, b)| (a - b).abs() < 1e-10 * b));
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
        assert!(close(&from_store, &weighted[l.offset..]));
    }
}
