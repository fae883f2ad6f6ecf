//! Embedding lookups of token ids (stored as floats in the input) and the mean over a
//! sequence's positions. An example's embedding gradient touches only the rows of
//! the tokens it holds: the kernels scatter into those rows and never form a
//! per-example copy of the table. A lookup fused with the mean over its positions
//! shares the scatter (each position's row gradient is then `dy / T`) and has its
//! own forward pass and norms (`embedding_mean.rs`), which the functions here hand
//! it to.

use rayon::prelude::*;

use super::mean_kernels;
use super::token::token;
use crate::Float;
use crate::kernels::simd::{multiversion, width_or, with_constant_width};
use crate::kernels::threads::per_thread;
use crate::kernels::vector;
use crate::spec::{Embedding, SequenceMean};

/// `y[b, t, :] = E[tokens[b, t], :]`.
pub fn forward<F: Float>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    if layer.mean {
        return mean_kernels::forward(layer, params, tokens, y);
    }
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], forward_rows(layer, params, tokens, y));
}

fn forward_rows<F: Float, const D: usize>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    let (d, t) = (width_or::<D>(layer.dim), layer.positions);
    let table = &params[layer.offset..][..layer.vocab * d];
    tokens.par_chunks(t).zip(y.par_chunks_mut(t * d)).for_each(|(ids, y)| {
        for (id, row) in ids.iter().zip(y.chunks_exact_mut(d)) {
            row[..d].copy_from_slice(&table[token(*id) * d..][..d]);
        }
    });
}

/// Where each position's row gradient lies in an example's `dy`: `(values of dy per
/// example, step from one position's values to the next, scale)`. A lookup of every
/// row gives each position its own `dy` row (`[positions, dim]`); fused with the mean,
/// every position has the same `dy / T` (`[dim]`, step 0).
fn row_gradients<F: Float>(layer: &Embedding) -> (usize, usize, F) {
    match layer.mean {
        true => (layer.dim, 0, F::ONE / F::from_f64(layer.positions as f64)),
        false => (layer.positions * layer.dim, layer.dim, F::ONE),
    }
}

/// The table's gradient summed over the batch (each example weighted by `weights`
/// when given), scattered into `grad` (`[vocab, dim]`), which must be zero in the
/// rows the batch looks up ([`GradRows::clear_for`](super::GradRows::clear_for)). On
/// one thread: split by rows of the table, each thread would test every position's
/// token, and those unpredictable branches measured slower than the scatter itself.
pub fn param_grad<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], weights: Option<&[F]>, grad: &mut [F]) {
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], param_grad_rows(layer, tokens, dy, weights, grad));
}

fn param_grad_rows<F: Float, const D: usize>(
    layer: &Embedding,
    tokens: &[F],
    dy: &[F],
    weights: Option<&[F]>,
    grad: &mut [F],
) {
    let (per_example, step, scale) = row_gradients::<F>(layer);
    for (b, (ids, dy)) in tokens.chunks_exact(layer.positions).zip(dy.chunks_exact(per_example)).enumerate() {
        let c = weights.map_or(F::ONE, |w| w[b]) * scale;
        add_to_rows::<F, D>(grad, layer.dim, ids, dy, step, c);
    }
}

/// Each example's table gradient in its row of `per_example` (`[batch, params]`),
/// which must be zero in the table's range.
pub fn per_example_grads<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], per_example: &mut [F], params: usize) {
    let (per, step, scale) = row_gradients::<F>(layer);
    let table_len = layer.vocab * layer.dim;
    tokens.par_chunks(layer.positions).zip(dy.par_chunks(per)).zip(per_example.par_chunks_mut(params)).for_each(
        |((ids, dy), row)| add_to_rows::<F, 0>(&mut row[layer.offset..][..table_len], layer.dim, ids, dy, step, scale),
    );
}

multiversion! {
/// `table[ids_t] += c g_t` for every position `t`, where `g_t` is the `dim` values of
/// `g` from `t * step` on (`dim` is the constant `D` when that is not 0).
fn add_to_rows<F: Float, const D: usize>(table: &mut [F], dim: usize, ids: &[F], g: &[F], step: usize, c: F) {
    let d = width_or::<D>(dim);
    let add = |table: &mut [F], id: &F, g: &[F]| {
        table[token(*id) * d..][..d].iter_mut().zip(&g[..d]).for_each(|(r, v)| *r += c * *v);
    };
    if step == 0 {
        // One gradient for every position, sliced once so that it stays in registers.
        let g = &g[..d];
        ids.iter().for_each(|id| add(table, id, g));
    } else {
        ids.iter().zip(g.chunks_exact(step)).for_each(|(id, g)| add(table, id, g));
    }
}
}

/// Adds each example's squared table-gradient norm to `out`: the gradient's row for a
/// token is the sum of `dy_t` over the positions holding it (the ghost identity of a
/// lookup), so each thread sums an example's positions into one compact row per
/// distinct token, found through a vocabulary-sized map in its scratch. Linear in the
/// positions; no row of the table is formed.
pub fn add_sq_norms<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], out: &mut [F], scratch: &mut [F]) {
    if layer.mean {
        return mean_kernels::add_sq_norms(layer, tokens, dy, out, scratch);
    }
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], add_sq_norms_rows(layer, tokens, dy, out, scratch));
}

fn add_sq_norms_rows<F: Float, const D: usize>(
    layer: &Embedding,
    tokens: &[F],
    dy: &[F],
    out: &mut [F],
    scratch: &mut [F],
) {
    let (d, t, vocab) = (width_or::<D>(layer.dim), layer.positions, layer.vocab);
    per_thread(out.len(), scratch, sq_norm_scratch_per_thread(layer), out, 1, |range, scratch, out| {
        // `row_of[id]`: the compact row of token `id` in the current example, or
        // `unseen`. Rows are held as floats like the ids themselves (exact below 2^24).
        let (row_of, sums) = scratch.split_at_mut(vocab);
        let unseen = F::from_f64(-1.0);
        row_of.fill(unseen);
        for (e, out) in range.zip(out.iter_mut()) {
            let ids = &tokens[e * t..][..t];
            let mut rows = 0;
            for (id, g) in ids.iter().zip(dy[e * t * d..][..t * d].chunks_exact(d)) {
                let row = &mut row_of[token(*id)];
                if *row == unseen {
                    *row = F::from_f64(rows as f64);
                    sums[rows * d..][..d].copy_from_slice(&g[..d]);
                    rows += 1;
                } else {
                    sums[token(*row) * d..][..d].iter_mut().zip(&g[..d]).for_each(|(s, v)| *s += *v);
                }
            }
            *out += vector::sq_norm(&sums[..rows * d]);
            for id in ids {
                row_of[token(*id)] = unseen;
            }
        }
    });
}

/// Scratch [`add_sq_norms`] needs per thread: the token map and a row per position.
fn sq_norm_scratch_per_thread(layer: &Embedding) -> usize {
    layer.vocab + layer.positions * layer.dim
}

/// Scratch [`add_sq_norms`] needs.
pub fn sq_norm_scratch(layer: &Embedding) -> usize {
    if layer.mean {
        return mean_kernels::sq_norm_scratch(layer);
    }
    rayon::current_num_threads() * sq_norm_scratch_per_thread(layer)
}

/// `y = mean_t x[t, :]`.
pub fn mean_forward<F: Float>(mean: &SequenceMean, x: &[F], y: &mut [F]) {
    let (t, d) = (mean.positions, mean.width);
    let inv = F::ONE / F::from_f64(t as f64);
    for (x, y) in x.chunks_exact(t * d).zip(y.chunks_exact_mut(d)) {
        y.fill(F::ZERO);
        for row in x.chunks_exact(d) {
            y.iter_mut().zip(row).for_each(|(a, v)| *a += *v);
        }
        y.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `dx[t, :] = dy / T` for every position; `+=` when `accumulate`.
pub fn mean_backward<F: Float>(mean: &SequenceMean, dy: &[F], dx: &mut [F], accumulate: bool) {
    let (t, d) = (mean.positions, mean.width);
    let inv = F::ONE / F::from_f64(t as f64);
    for (dy, dx) in dy.chunks_exact(d).zip(dx.chunks_exact_mut(t * d)) {
        for row in dx.chunks_exact_mut(d) {
            for (r, g) in row.iter_mut().zip(dy) {
                *r = if accumulate { *r + *g * inv } else { *g * inv };
            }
        }
    }
}
