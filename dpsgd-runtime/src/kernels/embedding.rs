//! Embedding lookups of token ids (stored as floats in the input) and the mean over a
//! sequence's positions. An example's embedding gradient touches only the rows of
//! the tokens it holds: the kernels scatter into those rows and never form a
//! per-example copy of the table. A lookup fused with the mean over its positions
//! has its own kernels (`embedding_mean.rs`), which each function here hands it to.

use rayon::prelude::*;

use super::embedding_mean;
use super::simd::{width_or, with_constant_width};
use super::threads::per_thread;
use super::vector;
use crate::Float;
use crate::spec::{Embedding, SequenceMean};

pub(super) fn token<F: Float>(id: F) -> usize {
    id.to_f64() as usize
}

/// `y[b, t, :] = E[tokens[b, t], :]`.
pub fn forward<F: Float>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    if layer.mean {
        return embedding_mean::forward(layer, params, tokens, y);
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

/// The table's gradient summed over the batch (each example weighted by `weights`
/// when given), written to `grad` (`[vocab, dim]`): zeroed, then scattered into. On
/// one thread: split by rows of the table, each thread would test every position's
/// token, and those unpredictable branches measured slower than the scatter itself.
pub fn param_grad<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], weights: Option<&[F]>, grad: &mut [F]) {
    if layer.mean {
        return embedding_mean::param_grad(layer, tokens, dy, weights, grad);
    }
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], param_grad_rows(layer, tokens, dy, weights, grad));
}

fn param_grad_rows<F: Float, const D: usize>(
    layer: &Embedding,
    tokens: &[F],
    dy: &[F],
    weights: Option<&[F]>,
    grad: &mut [F],
) {
    let (d, t) = (width_or::<D>(layer.dim), layer.positions);
    grad.fill(F::ZERO);
    for (b, (ids, dy)) in tokens.chunks_exact(t).zip(dy.chunks_exact(t * d)).enumerate() {
        let c = weights.map_or(F::ONE, |w| w[b]);
        for (id, g) in ids.iter().zip(dy.chunks_exact(d)) {
            let row = &mut grad[token(*id) * d..][..d];
            row.iter_mut().zip(&g[..d]).for_each(|(r, v)| *r += c * *v);
        }
    }
}

/// Each example's table gradient in its row of `per_example` (`[batch, params]`),
/// which must be zero in the table's range.
pub fn per_example_grads<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], per_example: &mut [F], params: usize) {
    if layer.mean {
        return embedding_mean::per_example_grads(layer, tokens, dy, per_example, params);
    }
    let (d, t) = (layer.dim, layer.positions);
    tokens.par_chunks(t).zip(dy.par_chunks(t * d)).zip(per_example.par_chunks_mut(params)).for_each(
        |((ids, dy), row)| {
            let table = &mut row[layer.offset..][..layer.vocab * d];
            for (id, g) in ids.iter().zip(dy.chunks_exact(d)) {
                table[token(*id) * d..][..d].iter_mut().zip(g).for_each(|(r, v)| *r += *v);
            }
        },
    );
}

/// Adds each example's squared table-gradient norm to `out`: the gradient's row for a
/// token is the sum of `dy_t` over the positions holding it (the ghost identity of a
/// lookup), so each thread sums an example's positions into one compact row per
/// distinct token, found through a vocabulary-sized map in its scratch. Linear in the
/// positions; no row of the table is formed.
pub fn add_sq_norms<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], out: &mut [F], scratch: &mut [F]) {
    if layer.mean {
        return embedding_mean::add_sq_norms(layer, tokens, dy, out, scratch);
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
        return embedding_mean::sq_norm_scratch(layer);
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
