//! An embedding lookup fused with the mean over its positions (an [`Embedding`] with
//! `mean`): each example's output is the mean of its tokens' rows, `y = (1/T) sum_t
//! E[id_t]`, so the gradient of a row is `dy / T` once for each position holding its
//! token. Neither pass forms the `[positions, dim]` sequence of rows: the forward
//! pass sums rows straight into the output, the backward pass scatters `dy / T`
//! straight into the table, and the squared norm of the table's gradient is
//! `|dy|^2 / T^2 * sum_r n_r^2` for the counts `n_r` of the distinct tokens.

use rayon::prelude::*;

use super::embedding::token;
use super::simd::{width_or, with_constant_width};
use super::threads::per_thread;
use super::vector;
use crate::Float;
use crate::spec::Embedding;

/// `y[b, :] = (1/T) sum_t E[tokens[b, t], :]`.
pub fn forward<F: Float>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], forward_rows(layer, params, tokens, y));
}

fn forward_rows<F: Float, const D: usize>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    let (d, t) = (width_or::<D>(layer.dim), layer.positions);
    let table = &params[layer.offset..][..layer.vocab * d];
    let inv = F::ONE / F::from_f64(t as f64);
    tokens.par_chunks(t).zip(y.par_chunks_mut(d)).for_each(|(ids, y)| {
        let y = &mut y[..d];
        y.fill(F::ZERO);
        for id in ids {
            y.iter_mut().zip(&table[token(*id) * d..][..d]).for_each(|(s, v)| *s += *v);
        }
        y.iter_mut().for_each(|v| *v *= inv);
    });
}

/// The table's gradient summed over the batch (each example weighted by `weights`
/// when given), written to `grad` (`[vocab, dim]`): zeroed, then scattered into, on
/// one thread (as the unfused lookup's, `embedding::param_grad`).
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
    let (d, t) = (width_or::<D>(layer.dim), layer.positions);
    let inv = F::ONE / F::from_f64(t as f64);
    grad.fill(F::ZERO);
    for (b, (ids, dy)) in tokens.chunks_exact(t).zip(dy.chunks_exact(d)).enumerate() {
        let c = weights.map_or(F::ONE, |w| w[b]) * inv;
        for id in ids {
            let row = &mut grad[token(*id) * d..][..d];
            row.iter_mut().zip(&dy[..d]).for_each(|(r, v)| *r += c * *v);
        }
    }
}

/// Each example's table gradient in its row of `per_example` (`[batch, params]`),
/// which must be zero in the table's range.
pub fn per_example_grads<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], per_example: &mut [F], params: usize) {
    let (d, t) = (layer.dim, layer.positions);
    let inv = F::ONE / F::from_f64(t as f64);
    tokens.par_chunks(t).zip(dy.par_chunks(d)).zip(per_example.par_chunks_mut(params)).for_each(|((ids, dy), row)| {
        let table = &mut row[layer.offset..][..layer.vocab * d];
        for id in ids {
            table[token(*id) * d..][..d].iter_mut().zip(dy).for_each(|(r, v)| *r += inv * *v);
        }
    });
}

/// Adds each example's squared table-gradient norm to `out`: `|dy|^2 / T^2` times the
/// sum of the squared counts of its distinct tokens, counted in a vocabulary-sized
/// map in each thread's scratch. Linear in the positions.
pub fn add_sq_norms<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], out: &mut [F], scratch: &mut [F]) {
    let (d, t) = (layer.dim, layer.positions);
    let inv = F::ONE / F::from_f64(t as f64);
    per_thread(out.len(), scratch, layer.vocab, out, 1, |range, counts, out| {
        // Counts are held as floats like the ids themselves (exact below 2^24).
        counts.fill(F::ZERO);
        for (e, out) in range.zip(out.iter_mut()) {
            let ids = &tokens[e * t..][..t];
            // A token's `n`-th occurrence adds `n^2 - (n-1)^2 = 2n - 1` to the sum.
            let mut sum_sq_counts = 0usize;
            for id in ids {
                let count = &mut counts[token(*id)];
                *count += F::ONE;
                sum_sq_counts += 2 * token(*count) - 1;
            }
            for id in ids {
                counts[token(*id)] = F::ZERO;
            }
            let scale = F::from_f64(sum_sq_counts as f64) * inv * inv;
            *out += vector::sq_norm(&dy[e * d..][..d]) * scale;
        }
    });
}

/// Scratch [`add_sq_norms`] needs: a token count map per thread.
pub fn sq_norm_scratch(layer: &Embedding) -> usize {
    rayon::current_num_threads() * layer.vocab
}
