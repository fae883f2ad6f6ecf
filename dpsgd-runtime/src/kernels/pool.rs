//! Max and average pooling over `window x window` squares at a stride, no padding,
//! of images stored `[channels, height, width]` per example.
//!
//! Each output row is built by window offsets: for each offset `(wy, wx)`, one pass
//! over the row's outputs reads the input row `oy * stride + wy` from column `wx` at
//! the stride. The passes are plain loops over contiguous (or strided) rows, which
//! vectorize; no index is computed per output and window element.
//!
//! At stride 1 the rows are short (an MNIST plane's are 13 outputs, and 4 after the
//! second convolution), so a pass per row is mostly loop overhead. There an example
//! is read "full width", as one tall image of `channels * in_h` rows: the window with
//! its corner at input index `i` sits at `i + offset` for each window offset, so one
//! offset's pass over a band of rows is a single contiguous loop. The bands also
//! hold windows that are not outputs: those whose corner is in one of the last
//! `window - 1` columns of a row, or rows of a plane, hanging over into the next.
//! They are dropped (forward) or given a zero gradient (backward).

use std::ops::Range;

use rayon::prelude::*;

use super::simd::multiversion;
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

/// The most full-width values one band holds (stack buffers, per example).
const BAND: usize = 1024;

/// How far a window's last element lies from its corner, full width.
fn window_reach(pool: &Pool2d) -> usize {
    (pool.window - 1) * (pool.in_w + 1)
}

/// Whether examples are read full width: at stride 1, with a row and the reach of a
/// window on either side of it within a band.
fn full_width(pool: &Pool2d) -> bool {
    pool.stride == 1 && pool.out_w + 2 * window_reach(pool) <= BAND
}

/// The rows of the tall image that hold window corners (`channels * in_h - window +
/// 1`), in bands of at most [`BAND`] full-width values with the reach of a window on
/// either side.
fn bands(pool: &Pool2d) -> impl Iterator<Item = Range<usize>> + use<> {
    // `(rows - 1) * in_w + out_w + 2 * reach <= BAND`.
    let rows = (BAND - pool.out_w - 2 * window_reach(pool)) / pool.in_w + 1;
    let corner_rows = pool.channels * pool.in_h + 1 - pool.window;
    (0..corner_rows).step_by(rows).map(move |top| top..(top + rows).min(corner_rows))
}

/// Full-width values of a band of rows: from its first corner to its last.
fn band_len(pool: &Pool2d, rows: &Range<usize>) -> usize {
    (rows.len() - 1) * pool.in_w + pool.out_w
}

/// The band's rows that are output rows: `(row in the band, output row index in the
/// example)`.
fn output_rows(pool: &Pool2d, rows: &Range<usize>) -> impl Iterator<Item = (usize, usize)> + use<> {
    let (top, in_h, out_h) = (rows.start, pool.in_h, pool.out_h);
    rows.clone().filter(move |r| r % in_h < out_h).map(move |r| (r - top, r / in_h * out_h + r % in_h))
}

/// The window offsets `(wy, wx)` in row-major order, as offsets into a plane.
fn offsets(pool: &Pool2d) -> impl Iterator<Item = usize> + use<> {
    let (window, in_w) = (pool.window, pool.in_w);
    (0..window).flat_map(move |wy| (0..window).map(move |wx| wy * in_w + wx))
}

multiversion! {
/// The max or the sum of the window at each full-width position from index `base`
/// of the example on, into `out`.
fn window_reduce<F: Float>(pool: &Pool2d, x: &[F], base: usize, out: &mut [F]) {
    let n = out.len();
    out.copy_from_slice(&x[base..][..n]);
    for offset in offsets(pool).skip(1) {
        let src = &x[base + offset..][..n];
        match pool.kind {
            PoolKind::Max => out.iter_mut().zip(src).for_each(|(o, v)| *o = larger(*o, *v)),
            PoolKind::Avg => out.iter_mut().zip(src).for_each(|(o, v)| *o += *v),
        }
    }
}
}

/// Max or average of each window, for every example.
pub fn pool_forward<F: Float>(pool: &Pool2d, x: &[F], y: &mut [F]) {
    let inv = F::ONE / F::from_f64((pool.window * pool.window) as f64);
    x.par_chunks(pool.in_len()).zip(y.par_chunks_mut(pool.out_len())).for_each(|(x, y)| {
        if full_width(pool) {
            let mut band = [F::ZERO; BAND];
            for rows in bands(pool) {
                let reduced = &mut band[..band_len(pool, &rows)];
                window_reduce(pool, x, rows.start * pool.in_w, reduced);
                for (r, o) in output_rows(pool, &rows) {
                    y[o * pool.out_w..][..pool.out_w].copy_from_slice(&reduced[r * pool.in_w..][..pool.out_w]);
                }
            }
        } else {
            let (plane_in, plane_out) = (pool.in_h * pool.in_w, pool.out_h * pool.out_w);
            for (plane, out) in x.chunks_exact(plane_in).zip(y.chunks_exact_mut(plane_out)) {
                for (oy, row) in out.chunks_exact_mut(pool.out_w).enumerate() {
                    let top = oy * pool.stride;
                    for (o, v) in row.iter_mut().zip(strided(pool, plane, top, 0)) {
                        *o = *v;
                    }
                    for (wy, wx) in (0..pool.window).flat_map(|wy| (0..pool.window).map(move |wx| (wy, wx))).skip(1) {
                        let src = strided(pool, plane, top + wy, wx);
                        match pool.kind {
                            PoolKind::Max => row.iter_mut().zip(src).for_each(|(o, v)| *o = larger(*o, *v)),
                            PoolKind::Avg => row.iter_mut().zip(src).for_each(|(o, v)| *o += *v),
                        }
                    }
                }
            }
        }
        if pool.kind == PoolKind::Avg {
            y.iter_mut().for_each(|o| *o *= inv);
        }
        if pool.relu {
            y.iter_mut().for_each(|o| *o = larger(*o, F::ZERO));
        }
    });
}

/// The pooling's gradient: to the first largest input of each window (in row-major
/// order) for max pooling, none where a fused relu cut the max to 0; spread evenly
/// for average pooling; `dx +=` when `accumulate`.
pub fn pool_backward<F: Float>(pool: &Pool2d, x: &[F], dy: &[F], dx: &mut [F], accumulate: bool) {
    let (plane_in, plane_out) = (pool.in_h * pool.in_w, pool.out_h * pool.out_w);
    x.par_chunks(pool.in_len()).zip(dy.par_chunks(pool.out_len())).zip(dx.par_chunks_mut(pool.in_len())).for_each(
        |((x, dy), dx)| {
            if !accumulate {
                dx.fill(F::ZERO);
            }
            if full_width(pool) {
                let mut work = [F::ZERO; 4 * BAND];
                backward_full_width(pool, x, dy, dx, &mut work);
                return;
            }
            let planes = x.chunks_exact(plane_in).zip(dy.chunks_exact(plane_out)).zip(dx.chunks_exact_mut(plane_in));
            for ((plane, grads), dplane) in planes {
                plane_backward_by_rows(pool, plane, grads, dplane);
            }
        },
    );
}

multiversion! {
/// One example's [`pool_backward`], band by band, input by input: the gradient of
/// an input is the sum, over the window offsets, of the gradient of the window at
/// that offset before it, where (for max pooling) that offset is the window's first
/// largest input. Every pass reads shifted but adds in place; adding each window's
/// gradient forward into the inputs instead would load values just stored at a
/// neighbouring address, which stalls. `work` holds `4 * BAND` values.
fn backward_full_width<F: Float>(pool: &Pool2d, x: &[F], dy: &[F], dx: &mut [F], work: &mut [F]) {
    let count = (pool.window * pool.window) as f64;
    let inv = F::ONE / F::from_f64(count);
    let reach = window_reach(pool);
    let (best, work) = work.split_at_mut(BAND);
    let (winners, work) = work.split_at_mut(BAND);
    let (spread, acc) = work.split_at_mut(BAND);
    for rows in bands(pool) {
        let (base, n) = (rows.start * pool.in_w, band_len(pool, &rows));
        // The windows' gradients full width: zero for windows that are not outputs
        // and for `reach` on either side, so that every shifted read below is inside.
        let spread = &mut spread[..n + 2 * reach];
        spread.fill(F::ZERO);
        for (r, o) in output_rows(pool, &rows) {
            spread[reach + r * pool.in_w..][..pool.out_w].copy_from_slice(&dy[o * pool.out_w..][..pool.out_w]);
        }
        if pool.kind == PoolKind::Avg {
            spread.iter_mut().for_each(|g| *g *= inv);
        }
        // Each window's winning offset (max pooling).
        let winners = &mut winners[..n + 2 * reach];
        if pool.kind == PoolKind::Max {
            let best = &mut best[..n];
            window_reduce(pool, x, base, best);
            // Offset `k` of `K` goes by the number `K - k`, so that a window's first
            // offset holding its max (in row-major order) is the largest number among
            // those holding it: a maximum, which stores whole vectors. (A select that
            // keeps the old number compiles to a masked store, and the next offset's
            // pass, loading from it, stalls.) No winner is 0; a window whose max a
            // fused relu cut to 0 passes no gradient: `K + 1`, which no offset has.
            winners.fill(F::ZERO);
            if pool.relu {
                let cut = F::from_f64(count + 1.0);
                for (w, m) in winners[reach..reach + n].iter_mut().zip(best.iter()) {
                    *w = if *m > F::ZERO { F::ZERO } else { cut };
                }
            }
            for (k, offset) in offsets(pool).enumerate() {
                let (id, src) = (F::from_f64(count - k as f64), &x[base + offset..][..n]);
                for ((w, v), m) in winners[reach..reach + n].iter_mut().zip(src).zip(best.iter()) {
                    *w = w.max(if *v == *m { id } else { F::ZERO });
                }
            }
        }
        // Inputs `base .. base + n + reach` receive gradient from this band.
        let acc = &mut acc[..n + reach];
        acc.fill(F::ZERO);
        for (k, offset) in offsets(pool).enumerate() {
            let (from, id) = (reach - offset, F::from_f64(count - k as f64));
            let (g, w) = (&spread[from..][..n + reach], &winners[from..][..n + reach]);
            match pool.kind {
                PoolKind::Max => acc.iter_mut().zip(g).zip(w).for_each(|((a, g), w)| {
                    *a += if *w == id { *g } else { F::ZERO };
                }),
                PoolKind::Avg => acc.iter_mut().zip(g).for_each(|(a, g)| *a += *g),
            }
        }
        dx[base..][..n + reach].iter_mut().zip(acc.iter()).for_each(|(d, a)| *d += *a);
    }
}
}

/// One plane's [`pool_backward`], output by output (any stride).
fn plane_backward_by_rows<F: Float>(pool: &Pool2d, plane: &[F], grads: &[F], dplane: &mut [F]) {
    let inv = F::ONE / F::from_f64((pool.window * pool.window) as f64);
    let (w, s, in_w) = (pool.window, pool.stride, pool.in_w);
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
                    if !pool.relu || best.0 > F::ZERO {
                        dplane[best.1] += *g;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_forward_and_backward() {
        let pool = Pool2d {
            kind: PoolKind::Max,
            channels: 1,
            in_h: 3,
            in_w: 3,
            window: 2,
            stride: 1,
            out_h: 2,
            out_w: 2,
            relu: false,
        };
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
                                // relu, then pooling, when fused.
                                let cut = pool.relu && x[best] <= 0.0;
                                y[o] = if cut { 0.0 } else { x[best] };
                                dx[best] += if cut { 0.0 } else { dy[o] };
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
    fn pooling_equals_the_direct_loops_on_odd_shapes_with_ties_and_fused_relus() {
        for (kind, relu) in [(PoolKind::Max, false), (PoolKind::Max, true), (PoolKind::Avg, false)] {
            let shapes =
                [(7, 5, 2, 1), (7, 5, 3, 2), (6, 9, 3, 3), (4, 4, 4, 1), (5, 3, 1, 2), (6, 9, 3, 1), (5, 4, 1, 1)];
            // Planes of several bands at stride 1 (1024 full-width values each).
            let shapes = shapes.into_iter().chain([(40, 37, 2, 1), (3, 1030, 2, 1), (2, 1030, 2, 2)]);
            for (in_h, in_w, window, stride) in shapes {
                let (out_h, out_w) = ((in_h - window) / stride + 1, (in_w - window) / stride + 1);
                let pool = Pool2d { kind, channels: 3, in_h, in_w, window, stride, out_h, out_w, relu };
                let batch = 2;
                // Few distinct values, so windows hold ties (and, below 0, windows the
                // relu cuts to 0).
                let x: Vec<f64> = (0..batch * pool.in_len()).map(|i| ((i * 37 % 11) % 4) as f64 - 1.5).collect();
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
