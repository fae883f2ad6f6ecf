//! The normalization kernels on a batch's `[batch, len]` rows, one example per task.
//! An example's values run in `len / spatial` runs of `spatial` values of one channel
//! each (a group's channels, or one feature), so a run reads its channel's parameters
//! once. Sums run through [`vector`]'s kernels, whose independent partial sums let
//! them vectorize (a plain running sum is one long chain of dependent additions).

use rayon::prelude::*;

use crate::Float;
use crate::contracts::{EPSILON, NormBlocks};
use crate::kernels::vector;

/// `y = weight * xhat + bias` per channel, where `xhat` is each block normalized; the
/// state rows get `xhat` and each block's `1 / sqrt(variance + EPSILON)`.
pub fn forward<F: Float>(n: &NormBlocks, weight: &[F], bias: &[F], x: &[F], y: &mut [F], state: &mut [F]) {
    let (len, count, epsilon) = (n.len(), F::from_f64(n.block_len as f64), F::from_f64(EPSILON));
    x.par_chunks(len).zip(y.par_chunks_mut(len)).zip(state.par_chunks_mut(n.state_width())).for_each(
        |((x, y), state)| {
            let (xhat, rstd) = state.split_at_mut(len);
            for ((x, xhat), rstd) in x.chunks(n.block_len).zip(xhat.chunks_mut(n.block_len)).zip(rstd) {
                let mean = vector::sum(x) / count;
                xhat.iter_mut().zip(x).for_each(|(h, &v)| *h = v - mean);
                let r = F::ONE / (vector::sq_norm(xhat) / count + epsilon).sqrt();
                xhat.iter_mut().for_each(|h| *h *= r);
                *rstd = r;
            }
            for (run, (y, xhat)) in y.chunks_mut(n.spatial).zip(xhat.chunks(n.spatial)).enumerate() {
                let c = run % n.channels;
                y.iter_mut().zip(xhat).for_each(|(y, &h)| *y = weight[c] * h + bias[c]);
            }
        },
    );
}

/// `dx = rstd (g - mean(g) - xhat mean(g xhat))` per block, where `g = dy weight` per
/// channel; `dx +=` when `accumulate`.
pub fn backward<F: Float>(n: &NormBlocks, weight: &[F], dy: &[F], state: &[F], dx: &mut [F], accumulate: bool) {
    let (len, count) = (n.len(), F::from_f64(n.block_len as f64));
    let runs_per_block = n.block_len / n.spatial;
    dy.par_chunks(len).zip(state.par_chunks(n.state_width())).zip(dx.par_chunks_mut(len)).for_each(
        |((dy, state), dx)| {
            let (xhat, rstd) = state.split_at(len);
            let blocks = dy.chunks(n.block_len).zip(xhat.chunks(n.block_len)).zip(dx.chunks_mut(n.block_len));
            for (k, ((dy, xhat), dx)) in blocks.enumerate() {
                let runs = || dy.chunks(n.spatial).zip(xhat.chunks(n.spatial)).enumerate();
                let channel = |run: usize| (k * runs_per_block + run) % n.channels;
                let (mut sum_g, mut sum_gx) = (F::ZERO, F::ZERO);
                for (run, (dy, xhat)) in runs() {
                    let (w, (d, dh)) = (weight[channel(run)], run_sums(dy, xhat));
                    sum_g += w * d;
                    sum_gx += w * dh;
                }
                let (mean_g, mean_gx) = (sum_g / count, sum_gx / count);
                for ((run, (dy, xhat)), dx) in runs().zip(dx.chunks_mut(n.spatial)) {
                    let w = weight[channel(run)];
                    for ((&d, &h), dx) in dy.iter().zip(xhat).zip(dx) {
                        let v = rstd[k] * (d * w - mean_g - h * mean_gx);
                        *dx = if accumulate { *dx + v } else { v };
                    }
                }
            }
        },
    );
}

/// `(sum d, sum d h)` over a run of one channel's values: by the vector kernels for
/// runs long enough to fill their partial sums (a GroupNorm's pixels), directly for
/// short ones (a LayerNorm's runs are single features).
#[inline]
fn run_sums<F: Float>(dy: &[F], xhat: &[F]) -> (F, F) {
    if dy.len() >= 16 {
        return (vector::sum(dy), vector::dot(dy, xhat));
    }
    dy.iter().zip(xhat).fold((F::ZERO, F::ZERO), |(d, dh), (&v, &h)| (d + v, dh + v * h))
}

/// Each example's gradient, `[channels]` of weights then `[channels]` of biases
/// (`sum dy xhat` and `sum dy` over the channel's values), written at `offset` of its
/// row of `out` (rows of `stride` values).
pub fn example_grads<F: Float>(n: &NormBlocks, dy: &[F], state: &[F], out: &mut [F], stride: usize, offset: usize) {
    let len = n.len();
    out.par_chunks_mut(stride).zip(dy.par_chunks(len)).zip(state.par_chunks(n.state_width())).for_each(
        |((out, dy), state)| {
            let (weight, bias) = out[offset..][..2 * n.channels].split_at_mut(n.channels);
            weight.fill(F::ZERO);
            bias.fill(F::ZERO);
            for (run, (dy, xhat)) in dy.chunks(n.spatial).zip(state[..len].chunks(n.spatial)).enumerate() {
                let (c, (d, dh)) = (run % n.channels, run_sums(dy, xhat));
                weight[c] += dh;
                bias[c] += d;
            }
        },
    );
}

/// As [`backward`] with every scale one, in place and for one example: the gradient
/// `g` with respect to the normalized values becomes the gradient with respect to the
/// values they came from. A weight-standardized convolution maps its weight gradients
/// back through the standardization with it.
pub fn backward_in_place<F: Float>(n: &NormBlocks, state: &[F], g: &mut [F]) {
    let count = F::from_f64(n.block_len as f64);
    let (xhat, rstd) = state.split_at(n.len());
    for ((g, xhat), &rstd) in g.chunks_mut(n.block_len).zip(xhat.chunks(n.block_len)).zip(rstd) {
        let (mean_g, mean_gx) = (vector::sum(g) / count, vector::dot(g, xhat) / count);
        g.iter_mut().zip(xhat).for_each(|(d, &h)| *d = rstd * (*d - mean_g - h * mean_gx));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n).map(|i| (((i as u64 + 3) * (seed * 7919 + 104729)) % 1000) as f64 / 400.0 - 1.2).collect()
    }

    /// A group normalization (3 groups of 2 channels of 2x2 pixels) and a layer
    /// normalization of 4 positions of 3 features, for 3 examples.
    const SHAPES: [NormBlocks; 2] = [
        NormBlocks { blocks: 3, block_len: 8, spatial: 4, channels: 6 },
        NormBlocks { blocks: 4, block_len: 3, spatial: 1, channels: 3 },
    ];
    const BATCH: usize = 3;

    /// The normalization written out from its definition, one example.
    fn naive(n: &NormBlocks, weight: &[f64], bias: &[f64], x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; n.len()];
        for k in 0..n.blocks {
            let block = &x[k * n.block_len..][..n.block_len];
            let mean = block.iter().sum::<f64>() / n.block_len as f64;
            let variance = block.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n.block_len as f64;
            for j in 0..n.block_len {
                let e = k * n.block_len + j;
                let c = (e / n.spatial) % n.channels;
                y[e] = weight[c] * (x[e] - mean) / (variance + EPSILON).sqrt() + bias[c];
            }
        }
        y
    }

    #[test]
    fn in_place_is_backward_with_unit_scales() {
        let n = NormBlocks { blocks: 3, block_len: 5, spatial: 5, channels: 1 };
        let (x, g) = (values(n.len(), 8), values(n.len(), 9));
        let (mut y, mut state) = (vec![0.0; n.len()], vec![0.0; n.state_width()]);
        forward(&n, &[1.0], &[0.0], &x, &mut y, &mut state);
        let mut want = vec![0.0; n.len()];
        backward(&n, &[1.0], &g, &state, &mut want, false);
        let mut got = g.clone();
        backward_in_place(&n, &state, &mut got);
        got.iter().zip(&want).for_each(|(a, b)| assert!((a - b).abs() < 1e-14, "{a} vs {b}"));
    }

    #[test]
    fn the_forward_pass_is_the_definition() {
        for n in SHAPES {
            let (weight, bias, x) = (values(n.channels, 1), values(n.channels, 2), values(BATCH * n.len(), 3));
            let (mut y, mut state) = (vec![0.0; BATCH * n.len()], vec![0.0; BATCH * n.state_width()]);
            forward(&n, &weight, &bias, &x, &mut y, &mut state);
            for (i, y) in y.chunks(n.len()).enumerate() {
                let expected = naive(&n, &weight, &bias, &x[i * n.len()..][..n.len()]);
                y.iter().zip(&expected).for_each(|(a, b)| assert!((a - b).abs() < 1e-12, "{n:?}: {a} vs {b}"));
            }
        }
    }

    /// The input gradient and the parameter gradients against central differences of
    /// `<r, y>` for a fixed `r` (the output gradient), through the naive forward pass.
    #[test]
    fn gradients_match_finite_differences() {
        for n in SHAPES {
            let (weight, bias, x) = (values(n.channels, 4), values(n.channels, 5), values(BATCH * n.len(), 6));
            let r = values(BATCH * n.len(), 7);
            let (mut y, mut state) = (vec![0.0; BATCH * n.len()], vec![0.0; BATCH * n.state_width()]);
            forward(&n, &weight, &bias, &x, &mut y, &mut state);
            let mut dx = vec![1.0; BATCH * n.len()];
            backward(&n, &weight, &r, &state, &mut dx, true);
            let stride = 2 * n.channels + 1;
            let mut grads = vec![0.0; BATCH * stride];
            example_grads(&n, &r, &state, &mut grads, stride, 1);
            let objective = |w: &[f64], b: &[f64], x: &[f64], i: usize| -> f64 {
                let y = naive(&n, w, b, &x[i * n.len()..][..n.len()]);
                y.iter().zip(&r[i * n.len()..]).map(|(y, r)| y * r).sum()
            };
            let h = 1e-6;
            let central = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
            for i in 0..BATCH {
                for e in 0..n.len() {
                    let moved = |d: f64| {
                        let mut x = x.clone();
                        x[i * n.len() + e] += d;
                        objective(&weight, &bias, &x, i)
                    };
                    let (got, want) = (dx[i * n.len() + e] - 1.0, central(&moved));
                    assert!((got - want).abs() < 1e-6, "{n:?} dx[{i}, {e}]: {got} vs {want}");
                }
                for c in 0..n.channels {
                    let moved_weight = |d: f64| {
                        let mut w = weight.clone();
                        w[c] += d;
                        objective(&w, &bias, &x, i)
                    };
                    let moved_bias = |d: f64| {
                        let mut b = bias.clone();
                        b[c] += d;
                        objective(&weight, &b, &x, i)
                    };
                    let row = &grads[i * stride + 1..][..2 * n.channels];
                    assert!((row[c] - central(&moved_weight)).abs() < 1e-6, "{n:?} weight {c}");
                    assert!((row[n.channels + c] - central(&moved_bias)).abs() < 1e-6, "{n:?} bias {c}");
                }
            }
        }
    }
}
