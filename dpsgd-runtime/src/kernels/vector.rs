//! Small vector primitives shared by the kernels, written so the compiler vectorizes them.

use rayon::prelude::*;

use super::simd::multiversion;
use crate::Float;

const LANES: usize = 8;

/// `sum_i a_i b_i`, with independent partial sums so the loop vectorizes.
#[inline]
pub fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [F::ZERO; LANES];
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    for (ca, cb) in a_chunks.iter().zip(b_chunks) {
        for j in 0..LANES {
            acc[j] += ca[j] * cb[j];
        }
    }
    let mut tail = F::ZERO;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += *x * *y;
    }
    reduce(acc) + tail
}

/// `sum_i a_i`, with independent partial sums so the loop vectorizes.
#[inline]
pub fn sum<F: Float>(a: &[F]) -> F {
    let mut acc = [F::ZERO; LANES];
    let (chunks, tail) = a.as_chunks::<LANES>();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += c[j];
        }
    }
    reduce(acc) + tail.iter().copied().sum::<F>()
}

/// `sum_i a_i^2`.
#[inline]
pub fn sq_norm<F: Float>(a: &[F]) -> F {
    dot(a, a)
}

/// `y += alpha * x`.
#[inline]
pub fn axpy<F: Float>(alpha: F, x: &[F], y: &mut [F]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * *xi;
    }
}

/// `dst = src` or `dst += src`.
#[inline]
pub fn copy_or_add<F: Float>(src: &[F], dst: &mut [F], accumulate: bool) {
    if accumulate {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

multiversion! {
    /// `x += c`.
    pub fn add_constant<F: Float>(c: F, x: &mut [F]) {
        for v in x {
            *v += c;
        }
    }
}

multiversion! {
    /// `x *= s`.
    pub fn scale<F: Float>(x: &mut [F], s: F) {
        for v in x {
            *v *= s;
        }
    }
}

multiversion! {
    /// `dst[i, :] = src[i, :] * factors[i]` for rows of `width`.
    pub fn scale_rows<F: Float>(src: &[F], factors: &[F], dst: &mut [F], width: usize) {
        for ((d, s), f) in dst.chunks_exact_mut(width).zip(src.chunks_exact(width)).zip(factors) {
            for (dv, sv) in d.iter_mut().zip(s) {
                *dv = *sv * *f;
            }
        }
    }
}

multiversion! {
    /// `y += alpha * x`, for long vectors (the noise added to a gradient).
    pub fn add_scaled<F: Float>(alpha: F, x: &[F], y: &mut [F]) {
        axpy(alpha, x, y);
    }
}

multiversion! {
    /// `dst = s * src^T` for `src` `[rows, cols]` and `dst` `[cols, rows]`, in 8 x 8
    /// tiles held in registers: a strided read or write per value, row by row, runs
    /// at a value every 2-3 cycles even in L1; tiles move whole rows.
    pub fn transpose_scaled<F: Float>(src: &[F], rows: usize, s: F, dst: &mut [F]) {
        const T: usize = 8;
        let cols = src.len() / rows;
        let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
        let (full_rows, full_cols) = (rows - rows % T, cols - cols % T);
        for i0 in (0..full_rows).step_by(T) {
            for j0 in (0..full_cols).step_by(T) {
                let mut tile = [[F::ZERO; T]; T];
                for (i, row) in tile.iter_mut().enumerate() {
                    row.copy_from_slice(&src[(i0 + i) * cols + j0..][..T]);
                }
                for j in 0..T {
                    let out = &mut dst[(j0 + j) * rows + i0..][..T];
                    for (i, v) in out.iter_mut().enumerate() {
                        *v = s * tile[i][j];
                    }
                }
            }
        }
        // The ragged edges, value by value: the last columns of every row, then the
        // last rows' first columns.
        for i in 0..rows {
            for j in full_cols..cols {
                dst[j * rows + i] = s * src[i * cols + j];
            }
        }
        for i in full_rows..rows {
            for j in 0..full_cols {
                dst[j * rows + i] = s * src[i * cols + j];
            }
        }
    }
}

#[inline(always)]
fn reduce<F: Float>(acc: [F; LANES]) -> F {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `out = sum_e weights[e] rows[e]` over the rows of `rows` (`[weights.len(),
/// out.len()]`): a clipped sum of stored per-example gradients. Columns in parallel,
/// examples in order within each, so the result does not depend on the thread count.
pub fn weighted_row_sum<F: Float>(rows: &[F], weights: &[F], out: &mut [F]) {
    const COLUMNS: usize = 4096;
    let len = out.len();
    out.par_chunks_mut(COLUMNS).enumerate().for_each(|(c, out)| {
        out.fill(F::ZERO);
        for (e, &w) in weights.iter().enumerate() {
            axpy(w, &rows[e * len + c * COLUMNS..][..out.len()], out);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_for_every_tail_length() {
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|i| i as f64 - 3.5).collect();
            let b: Vec<f64> = (0..n).map(|i| 0.25 * i as f64 + 1.0).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - want).abs() < 1e-9, "n = {n}");
        }
    }

    #[test]
    fn transpose_scaled_swaps_rows_and_columns() {
        for (rows, cols) in [(3, 5), (8, 8), (16, 25), (19, 17), (1, 9), (9, 1)] {
            let src: Vec<f64> = (0..rows * cols).map(|i| i as f64).collect();
            let mut dst = vec![0.0; rows * cols];
            transpose_scaled(&src, rows, 2.0, &mut dst);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(dst[j * rows + i], 2.0 * src[i * cols + j], "{rows} x {cols}");
                }
            }
        }
    }
}
