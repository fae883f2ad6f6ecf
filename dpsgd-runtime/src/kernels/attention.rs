//! Multi-head scaled dot-product attention of each example's `[positions, dim]`
//! queries, keys and values (Vaswani et al., 2017): per head `h` of `dim / heads`
//! columns, `y_h = softmax(q_h k_h^T / sqrt(dim / heads)) v_h`, the softmax over the
//! keys' positions. It has no parameters: the projections around it are linear layers.
//! The forward pass keeps each head's attention probabilities `[heads, positions,
//! positions]` per example for the backward pass.

use rayon::prelude::*;

use crate::Float;
use crate::contracts::PADDING_ID;
use crate::spec::{Attention, AttentionOperand};

/// One head's columns of position `t` of a `[positions, dim]` value.
fn head<'x, F>(a: &Attention, x: &'x [F], t: usize, h: usize) -> &'x [F] {
    let w = a.head_width();
    &x[t * a.dim + h * w..][..w]
}

fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// `y` and the probabilities, for every example. With `tokens` (the examples' token
/// ids, `[positions]` each), keys whose id is the padding id get probability 0, and a
/// query with no other key gets zeros. The backward pass needs no mask: it goes
/// through the probabilities, which are 0 there.
pub fn forward<F: Float>(a: &Attention, q: &[F], k: &[F], v: &[F], tokens: Option<&[F]>, y: &mut [F], probs: &mut [F]) {
    let (t_len, len, w) = (a.positions, a.positions * a.dim, a.head_width());
    let scale = F::ONE / F::from_f64(w as f64).sqrt();
    let (padding, minus_infinity) = (F::from_f64(f64::from(PADDING_ID)), F::from_f64(f64::NEG_INFINITY));
    let examples = q.par_chunks(len).zip(k.par_chunks(len)).zip(v.par_chunks(len));
    examples.zip(y.par_chunks_mut(len)).zip(probs.par_chunks_mut(a.state_width())).enumerate().for_each(
        |(i, ((((q, k), v), y), probs))| {
            let keeps = |s: usize| tokens.is_none_or(|ids| ids[i * t_len + s] != padding);
            for (h, probs) in probs.chunks_mut(t_len * t_len).enumerate() {
                for (t, row) in probs.chunks_mut(t_len).enumerate() {
                    let qt = head(a, q, t, h);
                    let mut max = minus_infinity;
                    for (s, p) in row.iter_mut().enumerate() {
                        *p = if keeps(s) { scale * dot(qt, head(a, k, s, h)) } else { minus_infinity };
                        max = if *p > max { *p } else { max };
                    }
                    let out = &mut y[t * a.dim + h * w..][..w];
                    out.fill(F::ZERO);
                    if max == minus_infinity {
                        row.fill(F::ZERO);
                        continue;
                    }
                    row.iter_mut().for_each(|p| *p = (*p - max).exp());
                    let total = row.iter().copied().sum::<F>();
                    row.iter_mut().for_each(|p| *p /= total);
                    for (s, &p) in row.iter().enumerate() {
                        out.iter_mut().zip(head(a, v, s, h)).for_each(|(o, &x)| *o += p * x);
                    }
                }
            }
        },
    );
}

/// The gradient of one operand from `dy` into `dx` (`+=` when `accumulate`), from the
/// probabilities the forward pass kept. With `P` a head's probabilities and `dS = P .
/// (dP - rowsum(dP . P))` for `dP = dy v^T`: `dv = P^T dy`, `dq = dS k / sqrt(w)`,
/// `dk = dS^T q / sqrt(w)`.
#[allow(clippy::too_many_arguments)]
pub fn backward<F: Float>(
    a: &Attention,
    operand: AttentionOperand,
    q: &[F],
    k: &[F],
    v: &[F],
    probs: &[F],
    dy: &[F],
    dx: &mut [F],
    accumulate: bool,
) {
    let (t_len, len, w) = (a.positions, a.positions * a.dim, a.head_width());
    let scale = F::ONE / F::from_f64(w as f64).sqrt();
    let examples = q.par_chunks(len).zip(k.par_chunks(len)).zip(v.par_chunks(len)).zip(dy.par_chunks(len));
    examples.zip(probs.par_chunks(a.state_width())).zip(dx.par_chunks_mut(len)).for_each(
        |(((((q, k), v), dy), probs), dx)| {
            if !accumulate {
                dx.fill(F::ZERO);
            }
            for (h, probs) in probs.chunks(t_len * t_len).enumerate() {
                for t in 0..t_len {
                    let p = &probs[t * t_len..][..t_len];
                    let dyt = head(a, dy, t, h);
                    if operand == AttentionOperand::Value {
                        for (s, &pts) in p.iter().enumerate() {
                            let dv = &mut dx[s * a.dim + h * w..][..w];
                            dv.iter_mut().zip(dyt).for_each(|(d, &g)| *d += pts * g);
                        }
                        continue;
                    }
                    // dS for row t: P_ts (dP_ts - sum_s' P_ts' dP_ts').
                    let dp = |s: usize| dot(dyt, head(a, v, s, h));
                    let mean = p.iter().enumerate().map(|(s, &pts)| pts * dp(s)).sum::<F>();
                    for (s, &pts) in p.iter().enumerate() {
                        let ds = scale * pts * (dp(s) - mean);
                        match operand {
                            AttentionOperand::Query => {
                                let dq = &mut dx[t * a.dim + h * w..][..w];
                                dq.iter_mut().zip(head(a, k, s, h)).for_each(|(d, &x)| *d += ds * x);
                            }
                            AttentionOperand::Key => {
                                let dk = &mut dx[s * a.dim + h * w..][..w];
                                dk.iter_mut().zip(head(a, q, t, h)).for_each(|(d, &x)| *d += ds * x);
                            }
                            AttentionOperand::Value => unreachable!("handled above"),
                        }
                    }
                }
            }
        },
    );
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
        forward(&att, &q, &k, &v, tokens, &mut y, &mut probs);
        for e in 0..BATCH {
            let at = |x: &[f64]| x[e * len..][..len].to_vec();
            let got: f64 = y[e * len..][..len].iter().zip(&r[e * len..]).map(|(a, b)| a * b).sum();
            assert!((got - objective(&at(&q), &at(&k), &at(&v), &at(&r), &keep(e))).abs() < 1e-12);
        }
        if tokens.is_some() {
            assert!(y[2 * len..][..len].iter().all(|&x| x == 0.0), "a query with only padded keys gives zeros");
        }
        let h = 1e-6;
        for operand in [AttentionOperand::Query, AttentionOperand::Key, AttentionOperand::Value] {
            let mut dx = vec![0.25; BATCH * len];
            backward(&att, operand, &q, &k, &v, &probs, &r, &mut dx, true);
            for e in 0..BATCH {
                for i in 0..len {
                    let moved = |d: f64| {
                        let mut x = [q.clone(), k.clone(), v.clone()];
                        let which = match operand {
                            AttentionOperand::Query => 0,
                            AttentionOperand::Key => 1,
                            AttentionOperand::Value => 2,
                        };
                        x[which][e * len + i] += d;
                        let at = |x: &[f64]| x[e * len..][..len].to_vec();
                        objective(&at(&x[0]), &at(&x[1]), &at(&x[2]), &at(&r), &keep(e))
                    };
                    let want = (moved(h) - moved(-h)) / (2.0 * h);
                    let got = dx[e * len + i] - 0.25;
                    assert!((got - want).abs() < 1e-7, "{operand:?} [{e}, {i}]: {got} vs {want}");
                }
            }
        }
    }
}
