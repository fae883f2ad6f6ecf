//! Multi-head scaled dot-product attention of each example's `[positions, dim]`
//! queries, keys and values (Vaswani et al., 2017): per head `h` of `dim / heads`
//! columns, `y_h = softmax(q_h k_h^T / sqrt(dim / heads)) v_h`, the softmax over the
//! keys' positions. It has no parameters: the projections around it are linear layers.
//! The forward pass keeps each head's attention probabilities `[heads, positions,
//! positions]` per example for the backward pass.

use rayon::prelude::*;

use crate::Float;
use crate::contracts::PADDING_ID;
use crate::gemm::matmul;
use crate::kernels::simd::multiversion;
use crate::kernels::vector;
use crate::spec::Attention;

/// Scratch floats each rayon thread needs: an example's keys or values transposed,
/// `[dim, positions]` (so that each head's are the rows of a plain matrix), a head's
/// output or operand gradient `[positions, head width]`, the backward pass's
/// `[positions, positions]` probability gradients, and the forward pass's mask row.
pub fn scratch_per_thread(a: &Attention) -> usize {
    a.dim * a.positions + a.positions * a.head_width() + a.positions * a.positions + a.positions
}

/// Scratch floats the kernels take from the caller for a pool of `threads`.
pub fn scratch_len(a: &Attention, threads: usize) -> usize {
    threads * scratch_per_thread(a)
}

/// Examples per rayon thread: the batch in one contiguous range per thread, each with
/// its own slice of the scratch, so that the kernels allocate nothing.
fn examples_per_thread(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1))
}

/// Adds (or writes) a head's `[positions, head width]` block into its columns of a
/// `[positions, dim]` value.
fn into_head<F: Float>(a: &Attention, block: &[F], h: usize, out: &mut [F], accumulate: bool) {
    let w = a.head_width();
    for (row, block) in out.chunks_exact_mut(a.dim).zip(block.chunks_exact(w)) {
        vector::copy_or_add(block, &mut row[h * w..][..w], accumulate);
    }
}

/// `y` and the probabilities, for every example. With `tokens` (the examples' token
/// ids, `[positions]` each), keys whose id is the padding id get probability 0, and a
/// query with no other key gets zeros. The backward pass needs no mask: it goes
/// through the probabilities, which are 0 there.
///
/// Per example, the keys transposed and scaled by `1 / sqrt(w)` once; then per head
/// two products: the scores `q_h k_h^T / sqrt(w)` straight into the probabilities'
/// rows, and `P v_h`.
#[allow(clippy::too_many_arguments)]
pub fn forward<F: Float>(
    a: &Attention,
    q: &[F],
    k: &[F],
    v: &[F],
    tokens: Option<&[F]>,
    y: &mut [F],
    probs: &mut [F],
    scratch: &mut [F],
) {
    let (t_len, len, w) = (a.positions, a.positions * a.dim, a.head_width());
    let chunk = examples_per_thread(q.len() / len.max(1));
    if chunk == 0 {
        return;
    }
    let scale = F::ONE / F::from_f64(w as f64).sqrt();
    let (padding, minus_infinity) = (F::from_f64(f64::from(PADDING_ID)), F::from_f64(f64::NEG_INFINITY));
    let threads = y.par_chunks_mut(chunk * len).zip(probs.par_chunks_mut(chunk * a.state_width()));
    threads.zip(scratch.par_chunks_mut(scratch_per_thread(a))).enumerate().for_each(|(i, ((y, probs), scratch))| {
        let (keys, rest) = scratch.split_at_mut(a.dim * t_len);
        let (out, rest) = rest.split_at_mut(t_len * w);
        let mask = &mut rest[t_len * t_len..][..t_len];
        let examples = y.chunks_exact_mut(len).zip(probs.chunks_exact_mut(a.state_width()));
        for (e, (y, probs)) in examples.enumerate().map(|(j, rows)| (i * chunk + j, rows)) {
            let (q, k, v) = (&q[e * len..][..len], &k[e * len..][..len], &v[e * len..][..len]);
            // Added to the scores: minus infinity at padding, so that its weight is 0.
            for (s, m) in mask.iter_mut().enumerate() {
                let padded = tokens.is_some_and(|ids| ids[e * t_len + s] == padding);
                *m = if padded { minus_infinity } else { F::ZERO };
            }
            vector::transpose_scaled(k, t_len, scale, keys);
            for (h, p) in probs.chunks_exact_mut(t_len * t_len).enumerate() {
                matmul(t_len, t_len, w, &q[h * w..], a.dim, 1, &keys[h * w * t_len..], t_len, p, false);
                softmax_rows(p, mask);
                matmul(t_len, w, t_len, p, t_len, 1, &v[h * w..], a.dim, out, false);
                into_head(a, out, h, y, false);
            }
        }
    });
}

multiversion! {
/// Rows of scores (each as long as `mask`) to probabilities: `softmax(s + mask)`; all
/// zeros for a row whose every key is masked.
fn softmax_rows<F: Float>(scores: &mut [F], mask: &[F]) {
    for row in scores.chunks_exact_mut(mask.len()) {
        row.iter_mut().zip(mask).for_each(|(p, &m)| *p += m);
        let max = vector::max(row);
        // Every key masked (a NaN score is left to propagate: exp(NaN) is NaN).
        if max == F::from_f64(f64::NEG_INFINITY) {
            row.fill(F::ZERO);
            continue;
        }
        row.iter_mut().for_each(|p| *p = (*p - max).vector_exp());
        let inv = F::ONE / vector::sum(row);
        row.iter_mut().for_each(|p| *p *= inv);
    }
}
}

multiversion! {
/// Rows of `dP` to `dS = scale P . (dP - rowsum(P . dP))`, in place.
fn softmax_backward_rows<F: Float>(dp: &mut [F], probs: &[F], positions: usize, scale: F) {
    for (d, p) in dp.chunks_exact_mut(positions).zip(probs.chunks_exact(positions)) {
        let mean = vector::dot(d, p);
        d.iter_mut().zip(p).for_each(|(d, &p)| *d = scale * p * (*d - mean));
    }
}
}

/// Where the backward pass puts one operand's gradient: its rows (`[batch, positions,
/// dim]`; empty for an operand that needs no gradient) and whether to add to them.
pub struct OperandGrad<'a, F> {
    /// The gradient's rows.
    pub dx: &'a mut [F],
    /// `+=` rather than `=`.
    pub accumulate: bool,
}

/// One operand's gradient rows shared among the threads, each of which touches only
/// its own examples' rows.
#[derive(Clone, Copy)]
struct SharedRows<F> {
    ptr: *mut F,
    wanted: bool,
    accumulate: bool,
}

// SAFETY: threads use disjoint rows (see `rows`).
unsafe impl<F: Send> Send for SharedRows<F> {}
unsafe impl<F: Sync> Sync for SharedRows<F> {}

impl<F: Float> SharedRows<F> {
    /// The rows `start..start + len` when the gradient is wanted, zeroed first unless it
    /// accumulates.
    ///
    /// # Safety
    /// `start..start + len` lies inside the rows, and no other thread uses it meanwhile.
    unsafe fn rows<'a>(&self, start: usize, len: usize) -> Option<&'a mut [F]> {
        if !self.wanted {
            return None;
        }
        // SAFETY: as the caller promised.
        let rows = unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) };
        if !self.accumulate {
            rows.fill(F::ZERO);
        }
        Some(rows)
    }
}

/// The gradients of the queries, keys and values (those `grads` wants) from `dy`, from
/// the probabilities the forward pass kept, in one pass. With `P` a head's
/// probabilities and `dS = P . (dP - rowsum(dP . P))` for `dP = dy v^T`: `dv = P^T dy`,
/// `dq = dS k / sqrt(w)`, `dk = dS^T q / sqrt(w)`. Per example the values are
/// transposed once; per head `dP` and `dS` are made once for the queries and the keys
/// both, then one product for each operand wanted.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Float>(
    a: &Attention,
    q: &[F],
    k: &[F],
    v: &[F],
    probs: &[F],
    dy: &[F],
    grads: [OperandGrad<'_, F>; 3],
    scratch: &mut [F],
) {
    let (t_len, len, w, sw) = (a.positions, a.positions * a.dim, a.head_width(), a.state_width());
    let batch = q.len() / len.max(1);
    let chunk = examples_per_thread(batch);
    if chunk == 0 {
        return;
    }
    for g in &grads {
        assert!(g.dx.is_empty() || g.dx.len() >= batch * len, "attention backward: a gradient shorter than the batch");
    }
    let scale = F::ONE / F::from_f64(w as f64).sqrt();
    let shared =
        grads.map(|g| SharedRows { ptr: g.dx.as_mut_ptr(), wanted: !g.dx.is_empty(), accumulate: g.accumulate });
    let threads = scratch.par_chunks_mut(scratch_per_thread(a)).take(batch.div_ceil(chunk));
    threads.enumerate().for_each(|(i, scratch)| {
        let (values, rest) = scratch.split_at_mut(a.dim * t_len);
        let (out, rest) = rest.split_at_mut(t_len * w);
        let ds = &mut rest[..t_len * t_len];
        for e in i * chunk..((i + 1) * chunk).min(batch) {
            let (q, k, v, dy) =
                (&q[e * len..][..len], &k[e * len..][..len], &v[e * len..][..len], &dy[e * len..][..len]);
            // SAFETY: example `e` is inside the batch, whose rows the assertion above
            // checked, and belongs to this thread alone.
            let [mut dq, mut dk, mut dv] = shared.map(|rows| unsafe { rows.rows(e * len, len) });
            let through_scores = dq.is_some() || dk.is_some();
            if through_scores {
                vector::transpose_scaled(v, t_len, F::ONE, values);
            }
            for (h, p) in probs[e * sw..][..sw].chunks_exact(t_len * t_len).enumerate() {
                let dy_h = &dy[h * w..];
                if let Some(dv) = dv.as_deref_mut() {
                    // P^T: row strides of 1, column strides of a row.
                    matmul(t_len, w, t_len, p, 1, t_len, dy_h, a.dim, out, false);
                    into_head(a, out, h, dv, true);
                }
                if !through_scores {
                    continue;
                }
                matmul(t_len, t_len, w, dy_h, a.dim, 1, &values[h * w * t_len..], t_len, ds, false);
                softmax_backward_rows(ds, p, t_len, scale);
                if let Some(dq) = dq.as_deref_mut() {
                    matmul(t_len, w, t_len, ds, t_len, 1, &k[h * w..], a.dim, out, false);
                    into_head(a, out, h, dq, true);
                }
                if let Some(dk) = dk.as_deref_mut() {
                    matmul(t_len, w, t_len, ds, 1, t_len, &q[h * w..], a.dim, out, false);
                    into_head(a, out, h, dk, true);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATT: Attention = Attention { positions: 4, dim: 6, heads: 2, padding_mask: false };
    const BATCH: usize = 3;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n).map(|i| (((i as u64 + 5) * (seed * 7919 + 104729)) % 1000) as f64 / 500.0 - 1.0).collect()
    }

    /// `<r, y>` of one example, from the definition written out.
    /// `sum(y * r)` for one example, from the definition, over the keys `keep` allows
    /// (0 where it allows none).
    fn objective(q: &[f64], k: &[f64], v: &[f64], r: &[f64], keep: &[bool]) -> f64 {
        let (t_len, w) = (ATT.positions, ATT.head_width());
        let kept: Vec<usize> = (0..t_len).filter(|&s| keep[s]).collect();
        let mut total = 0.0;
        for h in 0..ATT.heads {
            for t in 0..t_len {
                let score = |s: usize| {
                    (0..w).map(|j| q[t * 6 + h * w + j] * k[s * 6 + h * w + j]).sum::<f64>() / (w as f64).sqrt()
                };
                let z: f64 = kept.iter().map(|&s| score(s).exp()).sum();
                for j in 0..w {
                    let y: f64 = kept.iter().map(|&s| score(s).exp() / z * v[s * 6 + h * w + j]).sum();
                    total += y * r[t * 6 + h * w + j];
                }
            }
        }
        total
    }

    #[test]
    fn the_forward_pass_and_every_operands_gradient_match_the_definition() {
        check_against_the_definition(None);
    }

    /// With a padding mask: the first example's last two keys are padding, the
    /// second's none, the third's all (its output is zeros and gets no gradient).
    #[test]
    fn padded_keys_get_no_attention_and_no_gradient() {
        let tokens = [5.0, 3.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0];
        check_against_the_definition(Some(&tokens));
    }

    fn check_against_the_definition(tokens: Option<&[f64]>) {
        let att = Attention { padding_mask: tokens.is_some(), ..ATT };
        let len = ATT.positions * ATT.dim;
        let keep = |e: usize| -> Vec<bool> {
            (0..ATT.positions).map(|s| tokens.is_none_or(|ids| ids[e * ATT.positions + s] != 0.0)).collect()
        };
        let (q, k, v, r) =
            (values(BATCH * len, 1), values(BATCH * len, 2), values(BATCH * len, 3), values(BATCH * len, 4));
        let (mut y, mut probs) = (vec![0.0; BATCH * len], vec![0.0; BATCH * ATT.state_width()]);
        let mut scratch = vec![f64::NAN; scratch_len(&att, rayon::current_num_threads())];
        forward(&att, &q, &k, &v, tokens, &mut y, &mut probs, &mut scratch);
        for e in 0..BATCH {
            let at = |x: &[f64]| x[e * len..][..len].to_vec();
            let got: f64 = y[e * len..][..len].iter().zip(&r[e * len..]).map(|(a, b)| a * b).sum();
            assert!((got - objective(&at(&q), &at(&k), &at(&v), &at(&r), &keep(e))).abs() < 1e-12);
        }
        if tokens.is_some() {
            assert!(y[2 * len..][..len].iter().all(|&x| x == 0.0), "a query with only padded keys gives zeros");
        }
        let h = 1e-6;
        // Every subset of the operands in one call, each gradient wanted added to what
        // its rows held or written over it.
        for wanted in 1..8usize {
            let accumulate = wanted % 2 == 1;
            let held = if accumulate { 0.25 } else { 0.0 };
            let mut dx = [0, 1, 2].map(|o| vec![0.25; if wanted & (1 << o) != 0 { BATCH * len } else { 0 }]);
            let [dq, dk, dv] = &mut dx;
            let grads = [dq, dk, dv].map(|dx| OperandGrad { dx: &mut dx[..], accumulate });
            backward(&att, &q, &k, &v, &probs, &r, grads, &mut scratch);
            for (which, dx) in dx.iter().enumerate().filter(|(o, _)| wanted & (1 << o) != 0) {
                for e in 0..BATCH {
                    for i in 0..len {
                        let moved = |d: f64| {
                            let mut x = [q.clone(), k.clone(), v.clone()];
                            x[which][e * len + i] += d;
                            let at = |x: &[f64]| x[e * len..][..len].to_vec();
                            objective(&at(&x[0]), &at(&x[1]), &at(&x[2]), &at(&r), &keep(e))
                        };
                        let want = (moved(h) - moved(-h)) / (2.0 * h);
                        let got = dx[e * len + i] - held;
                        assert!(
                            (got - want).abs() < 1e-7,
                            "operand {which} of {wanted:03b} [{e}, {i}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
