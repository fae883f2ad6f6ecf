//! An embedding lookup fused with the mean over its positions (an [`Embedding`] with
//! `mean`): each example's output is the mean of its tokens' rows, `y = (1/T) sum_t
//! E[id_t]`, so the gradient of a row is `dy / T` once for each position holding its
//! token. Neither pass forms the `[positions, dim]` sequence of rows: the forward
//! pass sums rows straight into the output, the backward pass scatters `dy / T`
//! straight into the table (the scatter of `embedding.rs`, shared with the lookup of
//! every row), and the squared norm of the table's gradient is `|dy|^2 / T^2 *
//! sum_r n_r^2` for the counts `n_r` of the distinct tokens.

use rayon::prelude::*;

use super::token::token;
use crate::Float;
use crate::kernels::simd::{multiversion, width_or, with_constant_width};
use crate::kernels::threads::per_thread;
use crate::kernels::vector;
use crate::spec::Embedding;

/// `y[b, :] = (1/T) sum_t E[tokens[b, t], :]`.
pub fn forward<F: Float>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    with_constant_width!(layer.dim, [8, 16, 32, 64, 100, 128], forward_rows(layer, params, tokens, y));
}

fn forward_rows<F: Float, const D: usize>(layer: &Embedding, params: &[F], tokens: &[F], y: &mut [F]) {
    let (d, t) = (width_or::<D>(layer.dim), layer.positions);
    let table = &params[layer.offset..][..layer.vocab * d];
    tokens.par_chunks(t).zip(y.par_chunks_mut(d)).for_each(|(ids, y)| mean_of_rows::<F, D>(table, ids, y));
}

multiversion! {
/// `y = (1/T) sum_t E[ids_t]`, summed in registers at a constant width `D`.
fn mean_of_rows<F: Float, const D: usize>(table: &[F], ids: &[F], y: &mut [F]) {
    let d = y.len();
    let inv = F::ONE / F::from_f64(ids.len() as f64);
    if D > 0 {
        let mut sum = [F::ZERO; D];
        for id in ids {
            sum.iter_mut().zip(&table[token(*id) * D..][..D]).for_each(|(s, v)| *s += *v);
        }
        y.iter_mut().zip(sum).for_each(|(y, s)| *y = s * inv);
    } else {
        y.fill(F::ZERO);
        for id in ids {
            y.iter_mut().zip(&table[token(*id) * d..][..d]).for_each(|(s, v)| *s += *v);
        }
        y.iter_mut().for_each(|v| *v *= inv);
    }
}
}

/// Adds each example's squared table-gradient norm to `out`: `|dy|^2 / T^2` times the
/// sum of the squared counts of its distinct tokens, counted in a vocabulary-sized
/// map in each thread's scratch. Linear in the positions.
pub fn add_sq_norms<F: Float>(layer: &Embedding, tokens: &[F], dy: &[F], out: &mut [F], scratch: &mut [F]) {
    let (d, t) = (layer.dim, layer.positions);
    let inv = F::ONE / F::from_f64(t as f64);
    per_thread(out.len(), scratch, layer.vocab, out, 1, |range, counts, out| {
        counts.fill(F::ZERO);
        for (e, out) in range.zip(out.iter_mut()) {
            let scale = sum_sq_counts(&tokens[e * t..][..t], counts) * inv * inv;
            *out += vector::sq_norm(&dy[e * d..][..d]) * scale;
        }
    });
}

multiversion! {
/// The sum of the squared counts of the distinct tokens among `ids`, counted in
/// `counts` (zero before and after; floats like the ids, exact below 2^24).
fn sum_sq_counts<F: Float>(ids: &[F], counts: &mut [F]) -> F {
    for id in ids {
        counts[token(*id)] += F::ONE;
    }
    let mut sum = F::ZERO;
    for id in ids {
        let count = &mut counts[token(*id)];
        sum += *count * *count;
        *count = F::ZERO;
    }
    sum
}
}

/// Scratch [`add_sq_norms`] needs: a token count map per thread.
pub fn sq_norm_scratch(layer: &Embedding) -> usize {
    rayon::current_num_threads() * layer.vocab
}
