//! 2-D convolution over images stored `[channels, height, width]` per
//! example (an NCHW batch), the layout PyTorch flattens.
//!
//! A convolution is a product per example. Its patches are kept position-major,
//! `cols` `[positions, patch]` (`patch = in_channels * k * k`, in PyTorch's weight
//! order), so that each window row is one contiguous run both ways: im2col copies
//! runs of `k` values out of the padded image, and col2im adds them back. With
//! that layout the three products read every operand in place:
//! `Y^T = cols W^T` (the weight `W` `[out, patch]`, PyTorch's `[out, in, k, k]`,
//! transposed once per call), `dcols = dY^T W`, and the weight gradient
//! `G = dY cols`, already in PyTorch's layout. Only the forward output is
//! transposed back to `[out, positions]`. Examples are independent and run in
//! parallel; each needs a scratch slice of [`scratch_per_example`] values. Where the
//! weights are large, the products that share them (or share the sum of the batch's
//! weight gradients) take several examples at once, their rows stacked
//! ([`examples_per_product`]), so that the shared operand is packed once per group.

use rayon::prelude::*;

use crate::Float;
use crate::gemm::{Products, matmul, matmul_as};
use crate::kernels::simd::{multiversion, width_or, with_constant_width};
use crate::kernels::threads::per_thread;
use crate::kernels::vector;
use crate::spec::{Conv2d, NormStrategy};

/// Scratch one example needs, for whichever kernel uses the most: its transposed
/// output (`forward`), its transposed delta, patches' gradient and padded image
/// gradient (`backward_input`; the transposed delta is also `param_grad`'s), a weight
/// gradient whose norm alone is kept (`add_sq_norms`), or, when `grams`, the two Gram
/// matrices of the ghost norm and the patches transposed. The patches themselves are
/// stored apart (`im2col_batch`). Beyond the examples', a call needs
/// [`scratch_per_call`].
pub fn scratch_per_example(layer: &Conv2d, grams: bool) -> usize {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let grams = if grams { 2 * t * t + patch * t } else { 0 };
    (patch * t + t * out + padded_len(layer)).max(patch * out).max(grams)
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

/// Calls `body(patch_offset, padded_offset)` for each window row: the `k` values of
/// patch row `(ci, ky, *)` at position `t` (at `t * patch + patch_offset` in `cols`)
/// and of the padded image from `padded_offset` on.
#[inline(always)]
fn for_window_rows(layer: &Conv2d, mut body: impl FnMut(usize, usize)) {
    let ((hp, wp), k, s) = (padded_dims(layer), layer.kernel, layer.stride);
    let patch = layer.patch();
    for oy in 0..layer.out_h {
        for ox in 0..layer.out_w {
            let t = oy * layer.out_w + ox;
            for ci in 0..layer.in_channels {
                for ky in 0..k {
                    body(t * patch + (ci * k + ky) * k, (ci * hp + oy * s + ky) * wp + ox * s);
                }
            }
        }
    }
}

/// Copies each window row of the padded image into `cols`.
#[inline(always)]
fn copy_window_rows<F: Float, const K: usize>(layer: &Conv2d, padded: &[F], cols: &mut [F]) {
    let k = width_or::<K>(layer.kernel);
    for_window_rows(layer, |c, at| cols[c..c + k].copy_from_slice(&padded[at..at + k]));
}

/// Adds each window row of `dcols` onto the padded image's gradient.
#[inline(always)]
fn add_window_rows<F: Float, const K: usize>(layer: &Conv2d, dcols: &[F], dpadded: &mut [F]) {
    let k = width_or::<K>(layer.kernel);
    for_window_rows(layer, |c, at| {
        dpadded[at..at + k].iter_mut().zip(&dcols[c..c + k]).for_each(|(d, g)| *d += *g);
    });
}

multiversion! {
/// The patches of one example, `cols[t, p]`, zero where the window hangs over the
/// padding: the padded image is made in `padded`, then each window row is copied
/// from it.
fn im2col<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F], padded: &mut [F]) {
    padded.fill(F::ZERO);
    for (input, at, len) in padded_runs(layer) {
        padded[at..at + len].copy_from_slice(&x[input..input + len]);
    }
    with_constant_width!(layer.kernel, [1, 2, 3, 4, 5, 7, 8], copy_window_rows(layer, padded, cols));
}
}

multiversion! {
/// Adds the patch gradients `dcols[t, p]` back onto the image gradient `dx`, through
/// the padded image's gradient `dpadded`.
fn col2im<F: Float>(layer: &Conv2d, dcols: &[F], dx: &mut [F], dpadded: &mut [F]) {
    dpadded.fill(F::ZERO);
    with_constant_width!(layer.kernel, [1, 2, 3, 4, 5, 7, 8], add_window_rows(layer, dcols, dpadded));
    for (input, at, len) in padded_runs(layer) {
        dx[input..input + len].iter_mut().zip(&dpadded[at..at + len]).for_each(|(d, g)| *d += *g);
    }
}
}

fn weight<'a, F>(layer: &Conv2d, params: &'a [F]) -> (&'a [F], &'a [F]) {
    let w = &params[layer.offset..][..layer.weight_len()];
    (w, &params[layer.bias_offset()..][..layer.out_channels])
}

/// Values of one example's patches, `[positions, patch]`.
pub fn cols_len(layer: &Conv2d) -> usize {
    layer.patch() * layer.positions()
}

/// Every example's patches into `cols` (`[batch, positions, patch]`): the forward
/// pass makes them, and the norms and parameter gradients of the same batch reuse
/// them. `scratch` holds [`padded_len`] values per example.
pub fn im2col_batch<F: Float>(layer: &Conv2d, x: &[F], cols: &mut [F], scratch: &mut [F]) {
    x.par_chunks(layer.in_len())
        .zip(cols.par_chunks_mut(cols_len(layer)))
        .zip(scratch.par_chunks_mut(padded_len(layer)))
        .for_each(|((x, cols), padded)| im2col(layer, x, cols, padded));
}

/// Scratch a call needs beyond [`scratch_per_example`] for each example: the
/// transposed weight of [`forward`], or a weight gradient accumulator for each thread
/// of [`param_grad`].
pub fn scratch_per_call(layer: &Conv2d) -> usize {
    rayon::current_num_threads() * accumulator_len(layer)
}

/// Scratch [`forward`] needs: the transposed weight, then each example's transposed
/// output.
fn forward_scratch_len(layer: &Conv2d, batch: usize) -> usize {
    layer.weight_len() + batch * layer.positions() * layer.out_channels
}

/// `y = conv(x) + b` for every example, from its patches `cols`: `Y^T = cols W^T`, one
/// product for each group of [`examples_per_product`], then transposed into `y`
/// (`[out, positions]` per example).
pub fn forward<F: Float>(layer: &Conv2d, params: &[F], cols: &[F], y: &mut [F], scratch: &mut [F], products: Products) {
    let (w, bias) = weight(layer, params);
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let batch = y.len() / (out * t);
    let (wt, per_example) = scratch[..forward_scratch_len(layer, batch)].split_at_mut(layer.weight_len());
    vector::transpose_scaled(w, out, F::ONE, wt);
    let (g, len) = (examples_per_product(layer), t * out);
    let cols = &cols[..batch * cols_len(layer)];
    let groups =
        cols.par_chunks(g * cols_len(layer)).zip(y.par_chunks_mut(g * len)).zip(per_example.par_chunks_mut(g * len));
    groups.for_each(|((cols, y), yt)| {
        matmul_as(products, cols.len() / patch, out, patch, cols, patch, 1, wt, out, yt, false);
        for (y, yt) in y.chunks_exact_mut(len).zip(yt.chunks_exact(len)) {
            vector::transpose_scaled(yt, t, F::ONE, y);
            for (row, b) in y.chunks_exact_mut(t).zip(bias) {
                vector::add_constant(*b, row);
            }
        }
    });
}

/// Examples whose rows one product of [`forward`], [`backward_input`] or
/// [`param_grad`] takes together. A layer with large weights takes enough that their
/// rows are at least eight times its output channels: the shared operand (the
/// weights, or the weight gradient being summed) is then packed, loaded and stored at
/// most an eighth as often as the examples' own operands are read (WRN-16-4's deepest
/// layers, 256 channels at 64 positions, take 32 examples at once). Smaller weights
/// cost little to pack again, and one example per product keeps its intermediate
/// values in the caches (the MNIST CNN ran 5-13% slower grouped).
fn examples_per_product(layer: &Conv2d) -> usize {
    if layer.weight_len() < GROUPED_WEIGHTS {
        return 1;
    }
    (8 * layer.out_channels).div_ceil(layer.positions())
}

/// Weights from which [`examples_per_product`] groups examples (64 KiB of f32).
const GROUPED_WEIGHTS: usize = 16384;

/// The deltas of a group of examples as one matrix `[examples * positions, out]`, each
/// example's `dY^T` scaled by its weight when given, as `(values, row stride, column
/// stride)`: read in place when the group is one example at weight one, transposed
/// into `dyt` otherwise.
fn stacked_deltas<'a, F: Float>(
    layer: &Conv2d,
    dy: &'a [F],
    weights: Option<&[F]>,
    dyt: &'a mut [F],
) -> (&'a [F], usize, usize) {
    let (t, out) = (layer.positions(), layer.out_channels);
    if dy.len() == t * out && weights.is_none_or(|w| w[0] == F::ONE) {
        return (dy, 1, t);
    }
    for (b, (dy, dyt)) in dy.chunks_exact(t * out).zip(dyt.chunks_exact_mut(t * out)).enumerate() {
        vector::transpose_scaled(dy, out, weights.map_or(F::ONE, |w| w[b]), dyt);
    }
    (dyt, out, 1)
}

/// `dx = conv^T(dy)` (`+=` when `accumulate`) for every example: `dcols = dY^T W`,
/// one product for each group of [`examples_per_product`], then each example's patch
/// gradients added back onto its image (col2im).
pub fn backward_input<F: Float>(
    layer: &Conv2d,
    params: &[F],
    dy: &[F],
    dx: &mut [F],
    accumulate: bool,
    scratch: &mut [F],
    products: Products,
) {
    let (w, _) = weight(layer, params);
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let (g, per) = (examples_per_product(layer), scratch_per_example(layer, false));
    let groups = dy.par_chunks(g * out * t).zip(dx.par_chunks_mut(g * layer.in_len()));
    groups.zip(scratch.par_chunks_mut(g * per)).for_each(|((dy, dx), scratch)| {
        let examples = dy.len() / (out * t);
        let (dcols, rest) = scratch.split_at_mut(examples * patch * t);
        let (dyt, dpadded) = rest.split_at_mut(examples * t * out);
        let (dyt, rs, cs) = stacked_deltas(layer, dy, None, dyt);
        matmul_as(products, examples * t, patch, out, dyt, rs, cs, w, patch, dcols, false);
        let each = dcols.chunks_exact(patch * t).zip(dx.chunks_exact_mut(layer.in_len()));
        for ((dcols, dx), dpadded) in each.zip(dpadded.chunks_exact_mut(padded_len(layer))) {
            if !accumulate {
                dx.fill(F::ZERO);
            }
            col2im(layer, dcols, dx, dpadded);
        }
    });
}

/// One example's weight gradient `G = dY cols` (`[out, patch]`, PyTorch's layout),
/// written to `gw`.
fn example_grad<F: Float>(layer: &Conv2d, cols: &[F], dy: &[F], gw: &mut [F], products: Products) {
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    matmul_as(products, out, patch, t, dy, t, 1, cols, patch, gw, false);
}

/// `g_b = dY 1` for one example, each channel's delta summed over the positions.
fn bias_grad<F: Float>(layer: &Conv2d, dy: &[F]) -> impl Iterator<Item = F> {
    dy.chunks_exact(layer.positions()).map(vector::sum)
}

/// The layer's gradient summed over the batch, each example weighted by `weights`
/// when given: written (not added) to `gw` (`[out, patch]`) and `gb`. The batch is
/// split among the rayon threads, each summing its part into its own accumulator,
/// [`examples_per_product`] at a time in one product, `sum_b c_b dY_b cols_b =
/// [c_b dY_b^T]^T [cols_b]`, whose inner dimension is the group's positions.
/// `scratch` holds the weighted, transposed deltas ([`scratch_per_example`] per
/// example) and then the accumulators ([`scratch_per_call`]). A weighted (clipped)
/// sum stays exact ([`Products::for_sum`]).
#[allow(clippy::too_many_arguments)]
pub fn param_grad<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    weights: Option<&[F]>,
    gw: &mut [F],
    gb: &mut [F],
    scratch: &mut [F],
    products: Products,
) {
    let products = products.for_sum(weights.is_some());
    let (patch, t, out) = (layer.patch(), layer.positions(), layer.out_channels);
    let batch = dy.len() / (out * t);
    let (dyt, accumulators) = scratch.split_at_mut(batch * t * out);
    let (group, len, acc_len) = (examples_per_product(layer), t * out, accumulator_len(layer));
    let used = per_thread(batch, accumulators, acc_len, dyt, len, |range, acc, dyt| {
        let (acc_w, acc_b) = acc.split_at_mut(layer.weight_len());
        acc_b.fill(F::ZERO);
        for b in range.clone() {
            let c = weights.map_or(F::ONE, |w| w[b]);
            acc_b.iter_mut().zip(bias_grad(layer, &dy[b * len..][..len])).for_each(|(g, s)| *g += c * s);
        }
        for (start, dyt) in range.clone().step_by(group).zip(dyt.chunks_mut(group * len)) {
            let examples = group.min(range.end - start);
            let (dy, cols) = (&dy[start * len..][..examples * len], &cols[start * cols_len(layer)..]);
            let (dyt, rs, cs) = stacked_deltas(layer, dy, weights.map(|w| &w[start..]), dyt);
            // The stacked deltas' transpose, `[out, examples * positions]`.
            matmul_as(products, out, patch, examples * t, dyt, cs, rs, cols, patch, acc_w, start > range.start);
        }
    });
    let accumulators = &accumulators[..used * acc_len];
    gw.fill(F::ZERO);
    gb.fill(F::ZERO);
    for acc in accumulators.chunks_exact(acc_len) {
        vector::copy_or_add(&acc[..layer.weight_len()], gw, true);
        vector::copy_or_add(&acc[layer.weight_len()..], gb, true);
    }
}

/// A thread's weight and bias gradient accumulator in [`param_grad`].
fn accumulator_len(layer: &Conv2d) -> usize {
    layer.weight_len() + layer.out_channels
}

/// Each example's gradient in its row of `per_example` (`[batch, params]`).
pub fn per_example_grads<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    per_example: &mut [F],
    params: usize,
    products: Products,
) {
    let (t, out) = (layer.positions(), layer.out_channels);
    cols.par_chunks(cols_len(layer)).zip(dy.par_chunks(out * t)).zip(per_example.par_chunks_mut(params)).for_each(
        |((cols, dy), row)| {
            let gw = &mut row[layer.offset..][..layer.weight_len()];
            example_grad(layer, cols, dy, gw, products);
            row[layer.bias_offset()..][..out].iter_mut().zip(bias_grad(layer, dy)).for_each(|(g, s)| *g = s);
        },
    );
}

/// Values of one example's stored gradient: the layer's parameters, weights
/// (`[out, patch]`) then bias.
pub fn example_grad_len(layer: &Conv2d) -> usize {
    layer.weight_len() + layer.out_channels
}

/// `sum_{t,t'} (a_t . a_t') (d_t . d_t')`: the squared norm of `sum_t d_t a_t^T`
/// from the Gram matrices of the patches (`cols`, rows `a_t`) and of the deltas
/// (`dy`, columns `d_t`). The product needs the patches transposed as well, made
/// in `scratch` after the two Grams.
fn ghost_sq_norm<F: Float>(layer: &Conv2d, cols: &[F], dy: &[F], scratch: &mut [F]) -> F {
    let (patch, t, oc) = (layer.patch(), layer.positions(), layer.out_channels);
    let (ka, rest) = scratch.split_at_mut(t * t);
    let (kd, rest) = rest.split_at_mut(t * t);
    let cols_t = &mut rest[..patch * t];
    vector::transpose_scaled(cols, t, F::ONE, cols_t);
    // K_a = cols cols^T and K_d = dY^T dY, both [T, T].
    matmul(t, t, patch, cols, patch, 1, cols_t, t, ka, false);
    matmul(t, t, oc, dy, 1, t, dy, t, kd, false);
    vector::dot(ka, kd)
}

/// Each example's gradient, [`example_grad_len`] values, in `store`, its weight part
/// passed through `map_weight_grad` (a weight-standardized convolution maps the
/// gradient of its standardized weights back to its weights there); with `norms`,
/// each example's squared norm added there too, all in the same pass, while the
/// example's gradient is in the cache. The norms are those of the stored gradients,
/// whatever `products` rounded on the way: what is clipped is what was measured.
pub fn materialize<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    store: &mut [F],
    norms: Option<&mut [F]>,
    map_weight_grad: impl Fn(&mut [F]) + Sync,
    products: Products,
) {
    let (t, oc, len) = (layer.positions(), layer.out_channels, example_grad_len(layer));
    let batch = dy.len() / (oc * t);
    let examples = cols.par_chunks(cols_len(layer)).zip(dy.par_chunks(oc * t));
    let examples = examples.zip(store[..batch * len].par_chunks_mut(len));
    let one = |cols: &[F], dy: &[F], grad: &mut [F]| {
        let (gw, gb) = grad.split_at_mut(layer.weight_len());
        example_grad(layer, cols, dy, gw, products);
        map_weight_grad(gw);
        gb.iter_mut().zip(bias_grad(layer, dy)).for_each(|(g, s)| *g = s);
    };
    match norms {
        Some(norms) => examples.zip(norms.par_iter_mut()).for_each(|(((cols, dy), grad), norm)| {
            one(cols, dy, grad);
            *norm += vector::sq_norm(grad);
        }),
        None => examples.for_each(|((cols, dy), grad)| one(cols, dy, grad)),
    }
}

/// Adds each example's squared gradient norm for this layer to `out`, either from the
/// materialized gradient or by the ghost identity
/// `||G||^2 = sum_{t,t'} (a_t . a_t') (d_t . d_t')` over the `T` positions, whichever
/// the plan chose. Materialized gradients are kept in `store` when given
/// ([`example_grad_len`] values per example), for [`param_grad_from_stored`]; only
/// those may take `products`' rounded operands, the other ways stay exact.
#[allow(clippy::too_many_arguments)]
pub fn add_sq_norms<F: Float>(
    layer: &Conv2d,
    cols: &[F],
    dy: &[F],
    out: &mut [F],
    strategy: NormStrategy,
    scratch: &mut [F],
    store: Option<&mut [F]>,
    products: Products,
) {
    let (patch, t, oc) = (layer.patch(), layer.positions(), layer.out_channels);
    let per = scratch_per_example(layer, strategy == NormStrategy::Ghost);
    let bias_sq_norm = |dy: &[F]| bias_grad(layer, dy).map(|s| s * s).sum::<F>();
    if let (NormStrategy::Materialized, Some(store)) = (strategy, store) {
        materialize(layer, cols, dy, store, Some(out), |_| {}, products);
        return;
    }
    let examples = cols.par_chunks(cols_len(layer)).zip(dy.par_chunks(oc * t)).zip(scratch.par_chunks_mut(per));
    examples.zip(out.par_iter_mut()).for_each(|(((cols, dy), scratch), out)| {
        let weight = match strategy {
            NormStrategy::Materialized => {
                let gw = &mut scratch[..oc * patch];
                // Exact: `param_grad` forms this gradient again for the clipped sum.
                example_grad(layer, cols, dy, gw, Products::F32);
                vector::sq_norm(gw)
            }
            NormStrategy::Ghost => ghost_sq_norm(layer, cols, dy, scratch),
        };
        *out += weight + bias_sq_norm(dy);
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
        // The kernels read the explicit padding; `same` only names the declaration.
        same: true,
        standardized: false,
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

    /// Position `(oy, ox)`, patch element `(ci, ky, kx)`, read straight from the image.
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
                            cols[(oy * l.out_w + ox) * l.patch() + p] =
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
        // than the stride, stride 1, a 1x1 kernel, a kernel width with no fixed-length
        // run (6), and many positions.
        let shapes = [
            (2, 7, 6, 3, 2, 1, 1, 4, 3),
            (1, 28, 28, 8, 2, 3, 3, 14, 14),
            (3, 13, 13, 4, 2, 0, 0, 5, 5),
            (2, 9, 8, 2, 3, 0, 0, 3, 3),
            (2, 5, 6, 3, 1, 1, 1, 5, 6),
            (1, 4, 5, 1, 1, 0, 0, 4, 5),
            (1, 20, 19, 3, 1, 1, 1, 20, 19),
            (2, 11, 10, 6, 2, 2, 2, 5, 5),
        ];
        for (in_channels, in_h, in_w, kernel, stride, pad_top, pad_left, out_h, out_w) in shapes {
            let l = Conv2d {
                offset: 0,
                in_channels,
                out_channels: 1,
                kernel,
                stride,
                same: true,
                standardized: false,
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
        assert_eq!(examples_per_product(&LAYER), 1);
        check_kernels(LAYER);
        // Weights large enough that products take examples two at a time: a group and
        // a remainder.
        let grouped =
            Conv2d { in_channels: 32, out_channels: 64, in_h: 16, in_w: 16, out_h: 16, out_w: 16, stride: 1, ..LAYER };
        assert_eq!(examples_per_product(&grouped), 2);
        check_kernels(grouped);
    }

    /// The kernels on a batch of 3 in buffers made for 5, as the engine's are for its
    /// largest batch, against the convolution written out and its adjoints.
    fn check_kernels(l: Conv2d) {
        let (batch, capacity, num_params) = (3, 5, l.bias_offset() + l.out_channels);
        let params = values(num_params, 1);
        let x = values(batch * l.in_len(), 2);
        let dy = values(batch * l.out_channels * l.positions(), 3);
        let mut scratch = vec![0.0; capacity * scratch_per_example(&l, true) + scratch_per_call(&l)];
        let mut cols = vec![0.0; capacity * cols_len(&l)];
        im2col_batch(&l, &x, &mut cols, &mut scratch);
        let mut y = vec![0.0; dy.len()];
        forward(&l, &params, &cols, &mut y, &mut scratch, Products::F32);
        for b in 0..batch {
            let want = naive_forward(&l, &params, &x[b * l.in_len()..][..l.in_len()]);
            let got = &y[b * want.len()..][..want.len()];
            assert!(want.iter().zip(got).all(|(a, b)| (a - b).abs() < 1e-12));
        }
        // The forward pass is linear in x and in the weights: the adjoint identities
        // <dy, conv(x)> = <conv^T(dy), x> and <dy, d conv / dW> = <G, W> check the
        // backward kernels against the forward one.
        let mut dx = vec![0.0; x.len()];
        backward_input(&l, &params, &dy, &mut dx, false, &mut scratch, Products::F32);
        let mut no_bias = params.clone();
        no_bias[l.bias_offset()..].fill(0.0);
        let mut y0 = vec![0.0; dy.len()];
        forward(&l, &no_bias, &cols, &mut y0, &mut scratch, Products::F32);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        assert!((dot(&dy, &y0) - dot(&dx, &x)).abs() < 1e-10);

        let (mut gw, mut gb) = (vec![0.0; l.weight_len()], vec![0.0; l.out_channels]);
        let weights = [0.5, 2.0, -1.0];
        param_grad(&l, &cols, &dy, Some(&weights), &mut gw, &mut gb, &mut scratch, Products::F32);
        let mut per_example = vec![0.0; batch * num_params];
        per_example_grads(&l, &cols, &dy, &mut per_example, num_params, Products::F32);
        let mut norms = [vec![0.0; batch], vec![0.0; batch]];
        add_sq_norms(&l, &cols, &dy, &mut norms[0], NormStrategy::Ghost, &mut scratch, None, Products::F32);
        let mut store = vec![0.0; batch * example_grad_len(&l)];
        add_sq_norms(
            &l,
            &cols,
            &dy,
            &mut norms[1],
            NormStrategy::Materialized,
            &mut scratch,
            Some(&mut store),
            Products::F32,
        );
        let mut from_store = vec![0.0; example_grad_len(&l)];
        param_grad_from_stored(&l, &store, &weights, &mut from_store);
        let mut unstored = vec![0.0; batch];
        add_sq_norms(&l, &cols, &dy, &mut unstored, NormStrategy::Materialized, &mut scratch, None, Products::F32);
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

    /// With `Products::Bf16`, what privacy rests on stays exact: a weighted (clipped)
    /// sum and the norms taken apart from the gradients they clip (ghost, or
    /// materialized and not kept) equal the f32 products' bit for bit, while the
    /// kept gradients, their norms, the forward pass and the unweighted sum round
    /// (where the CPU has AMX or AVX-512 BF16; this layer's products are large enough).
    #[test]
    fn bf16_products_never_reach_separate_norms_or_clipped_sums() {
        let l = Conv2d {
            offset: 0,
            in_channels: 8,
            out_channels: 32,
            kernel: 3,
            stride: 1,
            same: true,
            standardized: false,
            pad_top: 1,
            pad_left: 1,
            in_h: 10,
            in_w: 10,
            out_h: 10,
            out_w: 10,
        };
        let batch = 3;
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32 * 1.37).collect::<Vec<f32>>();
        let (params, x) = (to_f32(values(l.bias_offset() + 32, 4)), to_f32(values(batch * l.in_len(), 5)));
        let dy = to_f32(values(batch * 32 * l.positions(), 6));
        let mut scratch = vec![0.0f32; batch * scratch_per_example(&l, true) + scratch_per_call(&l)];
        let mut cols = vec![0.0f32; batch * cols_len(&l)];
        im2col_batch(&l, &x, &mut cols, &mut scratch);
        let weights = [0.5f32, 2.0, -1.0];
        let mut run = |products: Products| {
            let mut y = vec![0.0f32; dy.len()];
            forward(&l, &params, &cols, &mut y, &mut scratch, products);
            let mut sums = [vec![0.0f32; l.weight_len() + 32], vec![0.0f32; l.weight_len() + 32]];
            for (sum, w) in sums.iter_mut().zip([Some(&weights[..]), None]) {
                let (gw, gb) = sum.split_at_mut(l.weight_len());
                param_grad(&l, &cols, &dy, w, gw, gb, &mut scratch, products);
            }
            let mut norms = [vec![0.0f32; batch], vec![0.0f32; batch], vec![0.0f32; batch]];
            add_sq_norms(&l, &cols, &dy, &mut norms[0], NormStrategy::Ghost, &mut scratch, None, products);
            add_sq_norms(&l, &cols, &dy, &mut norms[1], NormStrategy::Materialized, &mut scratch, None, products);
            let mut store = vec![0.0f32; batch * example_grad_len(&l)];
            let kept = Some(&mut store[..]);
            add_sq_norms(&l, &cols, &dy, &mut norms[2], NormStrategy::Materialized, &mut scratch, kept, products);
            (y, sums, norms)
        };
        let (exact_y, exact_sums, exact_norms) = run(Products::F32);
        let (y, sums, norms) = run(Products::Bf16);
        assert_eq!(sums[0], exact_sums[0], "the clipped (weighted) sum rounded");
        assert_eq!(norms[0], exact_norms[0], "ghost norms rounded");
        assert_eq!(norms[1], exact_norms[1], "norms of gradients not kept rounded");
        let rounds = Products::Bf16.effective() == Products::Bf16;
        let differs = |a: &[f32], b: &[f32]| a != b;
        assert_eq!(differs(&y, &exact_y), rounds, "the forward pass");
        assert_eq!(differs(&sums[1], &exact_sums[1]), rounds, "the unweighted sum");
        assert_eq!(differs(&norms[2], &exact_norms[2]), rounds, "the kept gradients' norms");
    }
}
