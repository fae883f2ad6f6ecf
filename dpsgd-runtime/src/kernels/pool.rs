//! Max and average pooling over `window x window` squares at a stride, no padding,
//! of images stored `[channels, height, width]` per example.
//!
//! Each output row is built by window offsets: for each offset `(wy, wx)`, one pass
//! over the row's outputs reads the input row `oy * stride + wy` from column `wx` at
//! the stride. The passes are plain loops over contiguous (or strided) rows, which
//! vectorize; no index is computed per output and window element.

use rayon::prelude::*;

use crate::Float;
use crate::spec::{Pool2d, PoolKind};

/// `a` or `b`, whichever is larger (`a` on ties), as one vector max instruction.
#[inline(always)]
fn larger<F: Float>(a: F, b: F) -> F {
    if b > a { b } else { a }
}

/// Input row `iy` of one channel's plane, from column `wx` on, read at the stride.
fn strided<'a, F: Float>(pool: &Pool2d, plane: &'a [F], iy: usize, wx: usize) -> impl Iterator<Item = &'a F> + 'a {
    plane[iy * pool.in_w + wx..].iter().step_by(pool.stride)
}

/// Max or average of each window, for every example.
pub fn pool_forward<F: Float>(pool: &Pool2d, x: &[F], y: &mut [F]) {
    let inv = F::ONE / F::from_f64((pool.window * pool.window) as f64);
    let (plane_in, plane_out) = (pool.in_h * pool.in_w, pool.out_h * pool.out_w);
    x.par_chunks(pool.in_len()).zip(y.par_chunks_mut(pool.out_len())).for_each(|(x, y)| {
        for (plane, out) in x.chunks_exact(plane_in).zip(y.chunks_exact_mut(plane_out)) {
            for (oy, row) in out.chunks_exact_mut(pool.out_w).enumerate() {
                let top = oy * pool.stride;
                for (o, v) in row.iter_mut().zip(strided(pool, plane, top, 0)) {
                    *o = *v;
                }
                for wy in 0..pool.window {
                    for wx in 0..pool.window {
                        if (wy, wx) == (0, 0) {
                            continue;
                        }
                        let src = strided(pool, plane, top + wy, wx);
                        match pool.kind {
                            PoolKind::Max => row.iter_mut().zip(src).for_each(|(o, v)| *o = larger(*o, *v)),
                            PoolKind::Avg => row.iter_mut().zip(src).for_each(|(o, v)| *o += *v),
                        }
                    }
                }
                if pool.kind == PoolKind::Avg {
                    row.iter_mut().for_each(|o| *o *= inv);
                }
            }
        }
    });
}

/// The pooling's gradient: to the first largest input of each window (in row-major
/// order) for max pooling, spread evenly for average pooling; `dx +=` when
/// `accumulate`.
pub fn pool_backward<F: Float>(pool: &Pool2d, x: &[F], dy: &[F], dx: &mut [F], accumulate: bool) {
    let inv = F::ONE / F::from_f64((pool.window * pool.window) as f64);
    let (plane_in, plane_out) = (pool.in_h * pool.in_w, pool.out_h * pool.out_w);
    let (w, s, in_w) = (pool.window, pool.stride, pool.in_w);
    x.par_chunks(pool.in_len()).zip(dy.par_chunks(pool.out_len())).zip(dx.par_chunks_mut(pool.in_len())).for_each(
        |((x, dy), dx)| {
            if !accumulate {
                dx.fill(F::ZERO);
            }
            let planes = x.chunks_exact(plane_in).zip(dy.chunks_exact(plane_out)).zip(dx.chunks_exact_mut(plane_in));
            for ((plane, grads), dplane) in planes {
                for (oy, grads) in grads.chunks_exact(pool.out_w).enumerate() {
                    let window_rows = &plane[oy * s * in_w..][..(w - 1) * in_w + in_w];
                    for (ox, g) in grads.iter().enumerate() {
                        let first = oy * s * in_w + ox * s;
                        match pool.kind {
                            PoolKind::Max => {
                                let mut best = (window_rows[ox * s], first);
                                for wy in 0..w {
                                    let row = &window_rows[wy * in_w + ox * s..][..w];
                                    for (wx, v) in row.iter().enumerate() {
                                        if *v > best.0 {
                                            best = (*v, first + wy * in_w + wx);
                                        }
                                    }
                                }
                                dplane[best.1] += *g;
                            }
                            PoolKind::Avg => {
                                for wy in 0..w {
                                    let row = &mut dplane[first + wy * in_w..][..w];
                                    row.iter_mut().for_each(|d| *d += *g * inv);
                                }
                            }
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

    #[test]
    fn pooling_forward_and_backward() {
        let pool =
            Pool2d { kind: PoolKind::Max, channels: 1, in_h: 3, in_w: 3, window: 2, stride: 1, out_h: 2, out_w: 2 };
        let x = [1.0, 5.0, 2.0, 4.0, 3.0, 9.0, 0.0, 8.0, 6.0];
        let mut y = [0.0; 4];
        pool_forward(&pool, &x, &mut y);
        assert_eq!(y, [5.0, 9.0, 8.0, 9.0]);
        let mut dx = [0.0; 9];
        pool_backward(&pool, &x, &[1.0, 2.0, 3.0, 4.0], &mut dx, false);
        assert_eq!(dx, [0.0, 1.0, 0.0, 0.0, 0.0, 6.0, 0.0, 3.0, 0.0]);
        let avg = Pool2d { kind: PoolKind::Avg, stride: 2, window: 2, in_h: 4, in_w: 4, out_h: 2, out_w: 2, ..pool };
        let x: Vec<f64> = (0..16).map(|v| v as f64).collect();
        let mut y = [0.0; 4];
        pool_forward(&avg, &x, &mut y);
        assert_eq!(y, [2.5, 4.5, 10.5, 12.5]);
        let mut dx = vec![1.0; 16];
        pool_backward(&avg, &x, &[4.0, 0.0, 0.0, 0.0], &mut dx, true);
        assert_eq!(&dx[..6], &[2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    }

    /// Pooling written out per output and window element.
    fn naive(pool: &Pool2d, x: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut y, mut dx) = (vec![0.0; dy.len()], vec![0.0; x.len()]);
        let examples = x.len() / pool.in_len();
        for b in 0..examples {
            for c in 0..pool.channels {
                for oy in 0..pool.out_h {
                    for ox in 0..pool.out_w {
                        let index = |wy, wx| b * pool.in_len() + pool.input_index(c, oy, ox, wy, wx);
                        let o = b * pool.out_len() + (c * pool.out_h + oy) * pool.out_w + ox;
                        let window = (0..pool.window).flat_map(|wy| (0..pool.window).map(move |wx| (wy, wx)));
                        match pool.kind {
                            PoolKind::Max => {
                                let best = window.fold(index(0, 0), |best, (wy, wx)| {
                                    if x[index(wy, wx)] > x[best] { index(wy, wx) } else { best }
                                });
                                y[o] = x[best];
                                dx[best] += dy[o];
                            }
                            PoolKind::Avg => {
                                let n = (pool.window * pool.window) as f64;
                                for (wy, wx) in window {
                                    y[o] += x[index(wy, wx)] / n;
                                    dx[index(wy, wx)] += dy[o] / n;
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn pooling_equals_the_direct_loops_on_odd_shapes_with_ties() {
        for kind in [PoolKind::Max, PoolKind::Avg] {
            for (in_h, in_w, window, stride) in [(7, 5, 2, 1), (7, 5, 3, 2), (6, 9, 3, 3), (4, 4, 4, 1), (5, 3, 1, 2)] {
                let (out_h, out_w) = ((in_h - window) / stride + 1, (in_w - window) / stride + 1);
                let pool = Pool2d { kind, channels: 3, in_h, in_w, window, stride, out_h, out_w };
                let batch = 2;
                // Few distinct values, so windows hold ties.
                let x: Vec<f64> = (0..batch * pool.in_len()).map(|i| ((i * 37 % 11) % 4) as f64).collect();
                let dy: Vec<f64> = (0..batch * pool.out_len()).map(|i| (i % 7) as f64 - 3.0).collect();
                let (want_y, want_dx) = naive(&pool, &x, &dy);
                let mut y = vec![0.0; dy.len()];
                pool_forward(&pool, &x, &mut y);
                let mut dx = vec![0.5; x.len()];
                pool_backward(&pool, &x, &dy, &mut dx, true);
                let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12);
                assert!(close(&y, &want_y), "{pool:?}");
                assert!(close(&dx.iter().map(|v| v - 0.5).collect::<Vec<_>>(), &want_dx), "{pool:?}");
            }
        }
    }
}
