//! A one-layer LSTM ([`Lstm`]) over every example of a batch.
//!
//! The recurrence runs on one group of examples per thread, through all the steps: at
//! each step the group's products (its inputs by `W_ih`, added to its previous hidden
//! states by `W_hh`), then the gates, element-wise. Back-propagation
//! through time runs the same way round, each step's product giving both the gradient
//! carried to the step before and the input's; it leaves the gates' gradients `D`
//! (`[positions, 4 hidden]` per example) in the state buffer, from which each weight's
//! gradient is a product over the steps: `G_ih = X^T D`, `G_hh = H_prev^T D`,
//! `g_b = D^T 1` (for both biases). Only those take the engine's `Products`: the
//! passes' products, a step at a time, are too small to pack.

use rayon::prelude::*;

use crate::Float;
use crate::contracts::Contract;
use crate::gemm::{Products, matmul, matmul_as};
use crate::kernels::simd::multiversion;
use crate::kernels::threads::{examples_per_thread, per_thread};
use crate::kernels::vector;
use crate::spec::{Lstm, NormStrategy};

/// The layer's four parameter tensors inside a parameter (or gradient) vector.
fn split_params<'a, F>(layer: &Lstm, params: &'a [F]) -> (&'a [F], &'a [F], &'a [F], &'a [F]) {
    let g = layer.gates();
    (
        &params[layer.offset..layer.w_hh_offset()],
        &params[layer.w_hh_offset()..layer.b_ih_offset()],
        &params[layer.b_ih_offset()..][..g],
        &params[layer.b_hh_offset()..][..g],
    )
}

/// One example's state: activated gates, cells, gate gradients.
fn split_state<'a, F>(layer: &Lstm, state: &'a mut [F]) -> (&'a mut [F], &'a mut [F], &'a mut [F]) {
    let (t, g, h) = (layer.positions, layer.gates(), layer.hidden);
    let (gates, rest) = state.split_at_mut(t * g);
    let (cells, gate_grads) = rest.split_at_mut(t * h);
    (gates, cells, gate_grads)
}

/// Offset of the gate gradients in an example's state.
fn gate_grads_offset(layer: &Lstm) -> usize {
    layer.positions * (layer.gates() + layer.hidden)
}

/// Scratch one thread needs to form one example's weight gradient (materialized) or the
/// Gram matrices of its ghost norm, or a weighted copy of its gate gradients.
fn scratch_per_thread(layer: &Lstm) -> usize {
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let materialized = (n + h) * g;
    let ghost = t * (n + h + g) + 3 * t * t;
    let accumulate = layer.num_params() + t * g;
    materialized.max(ghost).max(accumulate)
}

/// Scratch the kernels need at batch size `batch`.
pub fn scratch_len(layer: &Lstm, batch: usize) -> usize {
    let (n, h, g) = (layer.inputs, layer.hidden, layer.gates());
    let forward = g + h + batch * g;
    let backward = g * (h + n) + h + batch * (h + n) + batch * h + batch;
    let per_thread = rayon::current_num_threads() * scratch_per_thread(layer);
    forward.max(backward).max(per_thread)
}

/// `y` = the hidden states of every step; the gates and cells go to `state`.
///
/// Each step takes the products of a group of examples, `x_t W_ih + h_(t-1) W_hh`,
/// both operands read in place: a product over all steps' inputs first would write
/// every example's gates to memory and read them back. So the products stay exact
/// whatever the engine's `Products` says.
pub fn forward<F: Float>(layer: &Lstm, params: &[F], x: &[F], y: &mut [F], state: &mut [F], scratch: &mut [F]) {
    let (t_len, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let batch = y.len() / (t_len * h);
    let (w_ih, w_hh, b_ih, b_hh) = split_params(layer, params);
    let state = &mut state[..batch * layer.state_width()];
    let (bias, rest) = scratch.split_at_mut(g);
    bias.iter_mut().zip(b_ih.iter().zip(b_hh)).for_each(|(o, (a, b))| *o = *a + *b);
    let (zeros, rest) = rest.split_at_mut(h);
    zeros.fill(F::ZERO);
    let (bias, zeros) = (&*bias, &*zeros);
    let pre = &mut rest[..batch * g];
    // The recurrence runs on one group of examples per thread, each through all the
    // steps: one parallel region per pass rather than one per step.
    let group = examples_per_thread(batch);
    state
        .par_chunks_mut(group * layer.state_width())
        .zip(x.par_chunks(group * t_len * n))
        .zip(y.par_chunks_mut(group * t_len * h))
        .zip(pre.par_chunks_mut(group * g))
        .for_each(|(((state, x), y), pre)| {
            let examples = pre.len() / g;
            for t in 0..t_len {
                matmul(examples, g, n, &x[t * n..], t_len * n, 1, w_ih, g, pre, false);
                if t > 0 {
                    matmul(examples, g, h, &y[(t - 1) * h..], t_len * h, 1, w_hh, g, pre, true);
                }
                for ((state, y), pre) in
                    state.chunks_mut(layer.state_width()).zip(y.chunks_mut(t_len * h)).zip(pre.chunks(g))
                {
                    let (gates, cells, _) = split_state(layer, state);
                    let (before, cells) = cells.split_at_mut(t * h);
                    let c_prev = if t > 0 { &before[(t - 1) * h..] } else { zeros };
                    let step = CellInputs { pre, bias, c_prev };
                    cell_forward(step, &mut gates[t * g..][..g], &mut cells[..h], &mut y[t * h..][..h]);
                }
            }
        });
}

/// What one step of one example's forward pass reads: the gates' products, their
/// biases, the cell before.
struct CellInputs<'a, F> {
    pre: &'a [F],
    bias: &'a [F],
    c_prev: &'a [F],
}

multiversion! {
/// One step of one example: the gates (i, f, g, o) activated from `pre + bias` into
/// `gates`, the cell `c` and the hidden state `y`.
fn cell_forward<F: Float>(step: CellInputs<'_, F>, gates: &mut [F], c: &mut [F], y: &mut [F]) {
    let h = c.len();
    let (gi, rest) = gates.split_at_mut(h);
    let (gf, rest) = rest.split_at_mut(h);
    let (gg, go) = rest.split_at_mut(h);
    let (go, z, b, c_prev, y) = (&mut go[..h], &step.pre[..4 * h], &step.bias[..4 * h], &step.c_prev[..h], &mut y[..h]);
    for j in 0..h {
        let i = (z[j] + b[j]).vector_sigmoid();
        let f = (z[h + j] + b[h + j]).vector_sigmoid();
        let cand = (z[2 * h + j] + b[2 * h + j]).vector_tanh();
        let o = (z[3 * h + j] + b[3 * h + j]).vector_sigmoid();
        let cell = f * c_prev[j] + i * cand;
        c[j] = cell;
        y[j] = o * cell.vector_tanh();
        (gi[j], gf[j], gg[j], go[j]) = (i, f, cand, o);
    }
}
}

/// Back-propagation through time: the gates' gradients into `state`, and
/// `dx = D W_ih^T` (`+=` when `accumulate`) when the input needs its gradient.
///
/// `dx` is formed step by step inside the recurrence, in the same product as the
/// recurrent gradient (`[dh_(t-1) | dx_t] = D_t [W_hh^T | W_ih^T]`), while `D_t` is
/// in the cache: a product of its own over all steps afterwards would read every
/// example's gate gradients back from memory. So it stays exact whatever `products`
/// says, as the recurrent products do.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Float>(
    layer: &Lstm,
    params: &[F],
    dy: &[F],
    state: &mut [F],
    dx: Option<&mut [F]>,
    accumulate: bool,
    scratch: &mut [F],
) {
    let (t_len, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let batch = dy.len() / (t_len * h);
    let (w_ih, w_hh, _, _) = split_params(layer, params);
    // Row k of `w_t`: `W_hh[.., k]`, then `W_ih[.., k]` when `dx` is wanted.
    let with_dx = dx.is_some();
    let wide = if with_dx { h + n } else { h };
    let (w_t, rest) = scratch.split_at_mut(g * wide);
    let (zeros, rest) = rest.split_at_mut(h);
    zeros.fill(F::ZERO);
    transpose_into(w_hh, h, g, w_t, wide, 0);
    if with_dx {
        transpose_into(w_ih, n, g, w_t, wide, h);
    }
    let (zeros, w_t) = (&*zeros, &*w_t);
    // Row e of `carried`: `dh` carried to example e's step before, then its `dx_t`.
    let (carried, rest) = rest.split_at_mut(batch * wide);
    let (dc_next, rest) = rest.split_at_mut(batch * h);
    let state = &mut state[..batch * layer.state_width()];
    let width = layer.state_width();
    // As the forward pass: one group of examples per thread, through all the steps.
    let group = examples_per_thread(batch);
    // Each group's rows of `dx`, or a value of scratch no one reads.
    let (dx, dx_group) = match dx {
        Some(dx) => (&mut dx[..batch * t_len * n], group * t_len * n),
        None => (&mut rest[..batch.div_ceil(group)], 1),
    };
    state
        .par_chunks_mut(group * width)
        .zip(dy.par_chunks(group * t_len * h))
        .zip(carried.par_chunks_mut(group * wide))
        .zip(dc_next.par_chunks_mut(group * h))
        .zip(dx.par_chunks_mut(dx_group))
        .for_each(|((((state, dy), carried), dc_next), dx)| {
            let examples = dc_next.len() / h;
            carried.fill(F::ZERO);
            dc_next.fill(F::ZERO);
            for t in (0..t_len).rev() {
                for (((state, dy), carried), dc_next) in state
                    .chunks_mut(width)
                    .zip(dy.chunks(t_len * h))
                    .zip(carried.chunks(wide))
                    .zip(dc_next.chunks_mut(h))
                {
                    let (gates, cells, gate_grads) = split_state(layer, state);
                    let c_prev = if t > 0 { &cells[(t - 1) * h..][..h] } else { zeros };
                    let step =
                        CellStep { a: &gates[t * g..][..g], c: &cells[t * h..][..h], c_prev, dy: &dy[t * h..][..h] };
                    cell_backward(step, &carried[..h], dc_next, &mut gate_grads[t * g..][..g]);
                }
                let d_t = &state[gate_grads_offset(layer) + t * g..];
                if t > 0 {
                    // [dh_(t-1) | dx_t] = D_t [W_hh^T | W_ih^T] for the group.
                    matmul(examples, wide, g, d_t, width, 1, w_t, wide, carried, false);
                } else if with_dx {
                    // dx_0 = D_0 W_ih^T: nothing is carried to a step before.
                    matmul(examples, n, g, d_t, width, 1, &w_t[h..], wide, &mut carried[..examples * n], false);
                }
                if with_dx {
                    let (from, stride) = if t > 0 { (h, wide) } else { (0, n) };
                    for (e, dx) in dx.chunks_mut(t_len * n).enumerate() {
                        let (dx, row) = (&mut dx[t * n..][..n], &carried[e * stride + from..][..n]);
                        vector::copy_or_add(row, dx, accumulate);
                    }
                }
            }
        });
}

/// What one step of one example's backward pass reads: the activated gates, the cell
/// and the previous one, the output gradient.
struct CellStep<'a, F> {
    a: &'a [F],
    c: &'a [F],
    c_prev: &'a [F],
    dy: &'a [F],
}

multiversion! {
/// The gates' gradients `d` of one step of one example, from `dh = dy + dh_next`; the
/// cell's gradient carried to the step before replaces `dc_next`.
fn cell_backward<F: Float>(step: CellStep<'_, F>, dh_next: &[F], dc_next: &mut [F], d: &mut [F]) {
    let h = step.c.len();
    let (a, c_prev, dy, dh_next, dc_next) = (&step.a[..4 * h], &step.c_prev[..h], &step.dy[..h], &dh_next[..h], &mut dc_next[..h]);
    let (di, rest) = d.split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dg, d_o) = rest.split_at_mut(h);
    let d_o = &mut d_o[..h];
    for j in 0..h {
        let (i, f, cand, o) = (a[j], a[h + j], a[2 * h + j], a[3 * h + j]);
        let tanh_c = step.c[j].vector_tanh();
        let dh = dy[j] + dh_next[j];
        let dc = dc_next[j] + dh * o * (F::ONE - tanh_c * tanh_c);
        di[j] = dc * cand * i * (F::ONE - i);
        df[j] = dc * c_prev[j] * f * (F::ONE - f);
        dg[j] = dc * i * (F::ONE - cand * cand);
        d_o[j] = dh * tanh_c * o * (F::ONE - o);
        dc_next[j] = dc * f;
    }
}
}

/// `out[c, r] = a[r, c]` for `a` `[rows, cols]`.
fn transpose<F: Float>(a: &[F], rows: usize, cols: usize, out: &mut [F]) {
    transpose_into(a, rows, cols, out, rows, 0);
}

/// `out[c * stride + from + r] = a[r, c]` for `a` `[rows, cols]`: `a`'s transpose
/// into columns `from..from + rows` of `out`, whose rows are `stride` long.
fn transpose_into<F: Float>(a: &[F], rows: usize, cols: usize, out: &mut [F], stride: usize, from: usize) {
    for r in 0..rows {
        for c in 0..cols {
            out[c * stride + from + r] = a[r * cols + c];
        }
    }
}

/// One example's inputs, hidden states and gate gradients.
struct Example<'a, F> {
    x: &'a [F],
    y: &'a [F],
    d: &'a [F],
}

fn example<'a, F>(layer: &Lstm, x: &'a [F], y: &'a [F], state: &'a [F], e: usize) -> Example<'a, F> {
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let state = &state[e * layer.state_width() + gate_grads_offset(layer)..];
    Example { x: &x[e * t * n..][..t * n], y: &y[e * t * h..][..t * h], d: &state[..t * g] }
}

/// `G_ih = X^T D` into `g_ih` (`[inputs, 4 hidden]`), `G_hh = H_prev^T D` into `g_hh`
/// (the state before step 0 is zero), `+=` when `accumulate`. `X^T` and `H_prev^T` are
/// read through their strides.
fn weight_grads<F: Float>(
    layer: &Lstm,
    ex: &Example<'_, F>,
    d: &[F],
    [g_ih, g_hh]: [&mut [F]; 2],
    accumulate: bool,
    products: Products,
) {
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    matmul_as(products, n, g, t, ex.x, 1, n, d, g, g_ih, accumulate);
    if t > 1 {
        matmul_as(products, h, g, t - 1, ex.y, 1, h, &d[g..], g, g_hh, accumulate);
    } else if !accumulate {
        g_hh.fill(F::ZERO);
    }
}

/// `sum_t D_t`, the gradient of each bias, into `out` (`+=` when `accumulate`).
fn bias_grad<F: Float>(layer: &Lstm, d: &[F], out: &mut [F], accumulate: bool) {
    if !accumulate {
        out.fill(F::ZERO);
    }
    for row in d.chunks_exact(layer.gates()) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += *v);
    }
}

/// Adds each example's squared gradient norm for the layer's four tensors to `out`:
/// the weights' from the materialized gradients, or by the ghost identity
/// `||A^T D||^2 = sum_(t,s) (A A^T)_(t,s) (D D^T)_(t,s)`, as `strategy` says.
///
/// With `store` (`[batch, weight_grad_len]`), materialized gradients stay there for
/// [`param_grad_from_stored`], which then sums them without forming them again: only
/// those take `products`, whose norms are those of the gradients summed; the other
/// ways stay exact, as the clipped sum [`param_grad`] forms apart.
#[allow(clippy::too_many_arguments)]
pub fn add_sq_norms<F: Float>(
    layer: &Lstm,
    x: &[F],
    y: &[F],
    state: &[F],
    out: &mut [F],
    strategy: NormStrategy,
    scratch: &mut [F],
    store: Option<&mut [F]>,
    products: Products,
) {
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let batch = out.len();
    let bias_sq = |d: &[F]| vector::sq_norm_of_row_sum(&d[..t * g], g);
    if let (NormStrategy::Materialized, Some(store)) = (strategy, store) {
        let len = weight_grad_len(layer);
        store[..batch * len].par_chunks_mut(len).zip(out.par_iter_mut()).enumerate().for_each(|(e, (grad, out))| {
            let ex = example(layer, x, y, state, e);
            let (g_ih, g_hh) = grad.split_at_mut(n * g);
            weight_grads(layer, &ex, ex.d, [g_ih, g_hh], false, products);
            let bias = bias_sq(ex.d);
            *out += vector::sq_norm(grad) + bias + bias;
        });
        return;
    }
    per_thread(batch, scratch, scratch_per_thread(layer), out, 1, |range, scratch, out| {
        for (e, out) in range.zip(out.iter_mut()) {
            let ex = example(layer, x, y, state, e);
            let bias = bias_sq(ex.d);
            let weights = match strategy {
                NormStrategy::Materialized => {
                    let (g_ih, rest) = scratch.split_at_mut(n * g);
                    let g_hh = &mut rest[..h * g];
                    weight_grads(layer, &ex, ex.d, [&mut *g_ih, &mut *g_hh], false, Products::F32);
                    vector::sq_norm(g_ih) + vector::sq_norm(g_hh)
                }
                NormStrategy::Ghost => ghost_sq_norm(layer, &ex, scratch),
            };
            // Both biases get the same gradient.
            *out += weights + bias + bias;
        }
    });
}

/// `||X^T D||^2 + ||H_prev^T D||^2` from `T x T` Gram matrices.
fn ghost_sq_norm<F: Float>(layer: &Lstm, ex: &Example<'_, F>, scratch: &mut [F]) -> F {
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let (x_t, rest) = scratch.split_at_mut(n * t);
    let (y_t, rest) = rest.split_at_mut(h * t);
    let (d_t, rest) = rest.split_at_mut(g * t);
    let (k_x, rest) = rest.split_at_mut(t * t);
    let (k_h, rest) = rest.split_at_mut(t * t);
    let k_d = &mut rest[..t * t];
    transpose(ex.x, t, n, x_t);
    transpose(ex.y, t, h, y_t);
    transpose(ex.d, t, g, d_t);
    matmul(t, t, n, ex.x, n, 1, x_t, t, k_x, false);
    matmul(t, t, h, ex.y, h, 1, y_t, t, k_h, false);
    matmul(t, t, g, ex.d, g, 1, d_t, t, k_d, false);
    let input: F = vector::dot(k_x, k_d);
    // H_prev's row s is h_(s-1): pair K_h[s-1, r-1] with K_d[s, r] for s, r >= 1.
    let mut recurrent = F::ZERO;
    for s in 1..t {
        recurrent += vector::dot(&k_h[(s - 1) * t..][..t - 1], &k_d[s * t + 1..][..t - 1]);
    }
    input + recurrent
}

/// The layer's gradient summed over the batch, each example weighted by `weights` when
/// given, written (not added) to `grad` (the model's gradient vector). Each thread
/// sums its examples into its own accumulator. A weighted (clipped) sum stays exact
/// ([`Products::for_sum`]).
#[allow(clippy::too_many_arguments)]
pub fn param_grad<F: Float>(
    layer: &Lstm,
    x: &[F],
    y: &[F],
    state: &[F],
    weights: Option<&[F]>,
    batch: usize,
    grad: &mut [F],
    scratch: &mut [F],
    products: Products,
) {
    let products = products.for_sum(weights.is_some());
    let (t, n, h, g) = (layer.positions, layer.inputs, layer.hidden, layer.gates());
    let p = layer.num_params();
    let grad = &mut grad[layer.offset..][..p];
    grad.fill(F::ZERO);
    let per = scratch_per_thread(layer);
    let used = per_thread(batch, scratch, per, &mut [F::ZERO; 0], 0, |range, scratch, _| {
        let (acc, rest) = scratch.split_at_mut(p);
        let weighted = &mut rest[..t * g];
        for (k, e) in range.enumerate() {
            let ex = example(layer, x, y, state, e);
            let d = match weights {
                Some(w) => {
                    weighted.iter_mut().zip(ex.d).for_each(|(o, v)| *o = *v * w[e]);
                    &weighted[..]
                }
                None => ex.d,
            };
            let (g_ih, rest) = acc.split_at_mut(n * g);
            let (g_hh, rest) = rest.split_at_mut(h * g);
            weight_grads(layer, &ex, d, [g_ih, g_hh], k > 0, products);
            bias_grad(layer, d, &mut rest[..g], k > 0);
        }
    });
    for acc in scratch[..used * per].chunks(per) {
        grad.iter_mut().zip(&acc[..p]).for_each(|(o, v)| *o += *v);
    }
    // The second bias's gradient equals the first's.
    let (b_ih, b_hh) = grad[(n + h) * g..].split_at_mut(g);
    b_hh.copy_from_slice(b_ih);
}

/// Values of one example's two weight gradients: `(inputs + hidden) x 4 hidden`.
pub fn weight_grad_len(layer: &Lstm) -> usize {
    (layer.inputs + layer.hidden) * layer.gates()
}

/// [`param_grad`] with weights, from the per-example weight gradients
/// [`add_sq_norms`] stored: `sum_i w_i G_i`, and the biases from the gate gradients.
pub fn param_grad_from_stored<F: Float>(layer: &Lstm, state: &[F], store: &[F], weights: &[F], grad: &mut [F]) {
    let (t, g) = (layer.positions, layer.gates());
    let len = weight_grad_len(layer);
    let (gw, gb) = grad[layer.offset..][..layer.num_params()].split_at_mut(len);
    vector::weighted_row_sum(&store[..weights.len() * len], weights, gw);
    let (b_ih, b_hh) = gb.split_at_mut(g);
    b_ih.fill(F::ZERO);
    for (e, &w) in weights.iter().enumerate() {
        let d = &state[e * layer.state_width() + gate_grads_offset(layer)..][..t * g];
        for row in d.chunks_exact(g) {
            b_ih.iter_mut().zip(row).for_each(|(o, v)| *o += w * *v);
        }
    }
    b_hh.copy_from_slice(b_ih);
}

/// Each example's gradient in its row of `per_example` (`[batch, row_len]`).
pub fn per_example_grads<F: Float>(
    layer: &Lstm,
    x: &[F],
    y: &[F],
    state: &[F],
    per_example: &mut [F],
    row_len: usize,
    products: Products,
) {
    let (n, h, g) = (layer.inputs, layer.hidden, layer.gates());
    per_example.par_chunks_mut(row_len).enumerate().for_each(|(e, row)| {
        let ex = example(layer, x, y, state, e);
        let row = &mut row[layer.offset..][..layer.num_params()];
        let (g_ih, rest) = row.split_at_mut(n * g);
        let (g_hh, rest) = rest.split_at_mut(h * g);
        let (b_ih, b_hh) = rest.split_at_mut(g);
        weight_grads(layer, &ex, ex.d, [g_ih, g_hh], false, products);
        bias_grad(layer, ex.d, b_ih, false);
        b_hh.copy_from_slice(b_ih);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `Products::Bf16`, what privacy rests on stays exact: a weighted (clipped)
    /// sum and the norms taken apart from the gradients they clip (ghost, or
    /// materialized and not kept) equal the f32 products' bit for bit, while the kept
    /// gradients' norms and the unweighted sum round (where the CPU has AMX or AVX-512
    /// BF16; this layer's weight-gradient products are large enough).
    #[test]
    fn bf16_products_never_reach_separate_norms_or_clipped_sums() {
        let layer = Lstm { offset: 0, inputs: 32, hidden: 32, positions: 40 };
        let (batch, t, h) = (3, layer.positions, layer.hidden);
        let value = |i: usize, scale: f32| ((i as f32 * 0.618_034).fract() - 0.5) * scale;
        let params: Vec<f32> = (0..layer.num_params()).map(|i| value(i, 0.4)).collect();
        let x: Vec<f32> = (0..batch * t * layer.inputs).map(|i| value(i * 3 + 1, 2.0)).collect();
        let dy: Vec<f32> = (0..batch * t * h).map(|i| value(i * 7 + 2, 1.0)).collect();
        let mut scratch = vec![0.0f32; scratch_len(&layer, batch)];
        let (mut y, mut state) = (vec![0.0f32; batch * t * h], vec![0.0f32; batch * layer.state_width()]);
        forward(&layer, &params, &x, &mut y, &mut state, &mut scratch);
        backward(&layer, &params, &dy, &mut state, None, false, &mut scratch);
        let weights = [0.5f32, 2.0, -1.0];
        let mut grads = |products: Products| {
            let mut sums = [vec![0.0f32; layer.num_params()], vec![0.0f32; layer.num_params()]];
            for (sum, w) in sums.iter_mut().zip([Some(&weights[..]), None]) {
                param_grad(&layer, &x, &y, &state, w, batch, sum, &mut scratch, products);
            }
            let mut norms = [vec![0.0f32; batch], vec![0.0f32; batch], vec![0.0f32; batch]];
            let strategies = [NormStrategy::Ghost, NormStrategy::Materialized, NormStrategy::Materialized];
            let mut store = vec![0.0f32; batch * weight_grad_len(&layer)];
            for (k, (norms, strategy)) in norms.iter_mut().zip(strategies).enumerate() {
                let kept = (k == 2).then_some(&mut store[..]);
                add_sq_norms(&layer, &x, &y, &state, norms, strategy, &mut scratch, kept, products);
            }
            (sums, norms)
        };
        let (exact_sums, exact_norms) = grads(Products::F32);
        let (sums, norms) = grads(Products::Bf16);
        assert_eq!(sums[0], exact_sums[0], "the clipped (weighted) sum rounded");
        assert_eq!(norms[0], exact_norms[0], "ghost norms rounded");
        assert_eq!(norms[1], exact_norms[1], "norms of gradients not kept rounded");
        let rounds = Products::Bf16.effective() == Products::Bf16;
        assert_eq!(sums[1] != exact_sums[1], rounds, "the unweighted sum");
        assert_eq!(norms[2] != exact_norms[2], rounds, "the kept gradients' norms");
    }
}
