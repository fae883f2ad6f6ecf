//! Embedding lookups of token ids (stored as floats in the input) and the mean over a
//! sequence's positions. An example's embedding gradient touches only the rows of
//! the tokens it holds: the kernels scatter into those rows and never form a
//! per-example copy of the table.

use rayon::prelude::*;

use crate::Float;
use crate::spec::{Embedding, SequenceMean};

fn token<F: Float>(id: F) -> usize {
    id.to_f64() as usize
}

/// `y[b, t, :] = E[tokens[b, t], :]`.
pub fn forward<F: Float>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    let (d, t) = (layer.dim, layer.positions);
    let table = &params[layer.offset..][..layer.vocab * d];
    tokens.par_chunks(t).zip(y.par_chunks_mut(t * d)).for_each(|(ids, y)| {
        for (id, row) in ids.iter().zip(y.chunks_exact_mut(d)) {
            row.copy_from_slice(&table[token(*id) * d..][..d]);
        }
    });
}

/// The table's gradient summed over the batch (each example weighted by `weights`
/// when given), written to `grad` (`[vocab, dim]`): zeroed, then scattered into.
pub fn param_grad<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], weights: Option<&[F]>, grad: &mut [F]) {
    let (d, t) = (layer.dim, layer.positions);
    grad.fill(F::ZERO);
    for (b, (ids, dy)) in tokens.chunks_exact(t).zip(dy.chunks_exact(t * d)).enumerate() {
        let c = weights.map_or(F::ONE, |w| w[b]);
        for (id, g) in ids.iter().zip(dy.chunks_exact(d)) {
            let row = &mut grad[token(*id) * d..][..d];
            row.iter_mut().zip(g).for_each(|(r, v)| *r += c * *v);
        }
    }
}

/// Each example's table gradient in its row of `per_example` (`[batch, params]`),
/// which must be zero in the table's range.
pub fn per_example_grads<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], per_example: &mut [F], params: usize) {
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
/// token is the sum of `dy_t` over the positions holding it, so the norm is
/// `sum_{t,t'} [token_t = token_t'] dy_t . dy_t'` (the ghost identity of a lookup),
/// computed by grouping equal tokens: no row of the table is formed.
pub fn add_sq_norms<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], out: &mut [F], scratch: &mut [F]) {
    let (d, t) = (layer.dim, layer.positions);
    tokens.par_chunks(t).zip(dy.par_chunks(t * d)).zip(out.par_iter_mut()).zip(scratch.par_chunks_mut(t + d)).for_each(
        |(((ids, dy), out), scratch)| {
            let (order, sum) = scratch.split_at_mut(t);
            // Positions sorted by token, as floats (exact for t < 2^24).
            for (i, o) in order.iter_mut().enumerate() {
                *o = F::from_f64(i as f64);
            }
            order.sort_by(|a, b| ids[token(*a)].partial_cmp(&ids[token(*b)]).expect("finite ids"));
            let mut total = F::ZERO;
            let mut start = 0;
            while start < t {
                let id = ids[token(order[start])];
                sum.fill(F::ZERO);
                let mut end = start;
                while end < t && ids[token(order[end])] == id {
                    let g = &dy[token(order[end]) * d..][..d];
                    sum.iter_mut().zip(g).for_each(|(s, v)| *s += *v);
                    end += 1;
                }
                total += sum.iter().map(|v| *v * *v).sum::<F>();
                start = end;
            }
            *out += total;
        },
    );
}

/// Scratch [`add_sq_norms`] needs per example.
pub fn sq_norm_scratch(layer: &Embedding) -> usize {
    layer.positions + layer.dim
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
