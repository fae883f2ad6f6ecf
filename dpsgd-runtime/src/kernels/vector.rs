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

/// `max_i a_i` (minus infinity for no values), with independent partial maxima so the
/// loop vectorizes. NaNs are passed over, as by `f32::max`.
#[inline]
pub fn max<F: Float>(a: &[F]) -> F {
    let lowest = F::from_f64(f64::NEG_INFINITY);
    let mut acc = [lowest; LANES];
    let (chunks, tail) = a.as_chunks::<LANES>();
    for c in chunks {
        for j in 0..LANES {
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    acc.into_iter().chain(tail.iter().copied()).fold(lowest, |m, x| if x > m { x } else { m })
}

/// `sum_i a_i^2`.
#[inline]
pub fn sq_norm<F: Float>(a: &[F]) -> F {
    dot(a, a)
}

multiversion! {
/// `||sum_r row_r||^2` over the rows of `rows` (`[.., width]`): the squared norm of
/// their column sums (a bias's gradient summed over positions), a block of columns
/// at a time, so that the sums need no buffer and every load is a whole vector.
pub fn sq_norm_of_row_sum<F: Float>(rows: &[F], width: usize) -> F {
    const BLOCK: usize = 16;
    let mut total = F::ZERO;
    for from in (0..width).step_by(BLOCK) {
        let mut sums = [F::ZERO; BLOCK];
        for row in rows.chunks_exact(width) {
            match row[from..].first_chunk::<BLOCK>() {
                Some(block) => (0..BLOCK).for_each(|j| sums[j] += block[j]),
                None => sums.iter_mut().zip(&row[from..]).for_each(|(s, v)| *s += *v),
            }
        }
        total += sq_norm(&sums);
    }
    total
}
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
    /// `x *= s` in the ranges `ranges` of `x` only: the rows of a table, say, in one
    /// call rather than one each.
    pub fn scale_ranges<F: Float>(x: &mut [F], s: F, ranges: impl Iterator<Item = std::ops::Range<usize>>) {
        for range in ranges {
            for v in &mut x[range] {
                *v *= s;
            }
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

/// `dst = s * src^T` for `src` `[rows, cols]` and `dst` `[cols, rows]`. In f32 with
/// AVX-512, 16 x 16 tiles are transposed in registers (sixteen loads, 64 shuffles,
/// sixteen stores); otherwise in 8 x 8 tiles the compiler keeps in registers. Value by
/// value, a strided read or write per value ran at one value every 2-3 cycles even
/// in L1. The ragged edges go value by value.
pub fn transpose_scaled<F: Float>(src: &[F], rows: usize, s: F, dst: &mut [F]) {
    let cols = src.len() / rows;
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>() && super::simd::has_avx512() {
        let (full_rows, full_cols) = (rows - rows % 16, cols - cols % 16);
        let scale = s.to_f64() as f32;
        for i0 in (0..full_rows).step_by(16) {
            for j0 in (0..full_cols).step_by(16) {
                // SAFETY: AVX-512F was detected; F is f32; the tile's 16 rows of 16
                // values lie inside `src` (`[rows, cols]`) and `dst` (`[cols, rows]`).
                unsafe {
                    transpose16::tile(
                        src.as_ptr().cast::<f32>().add(i0 * cols + j0),
                        cols,
                        dst.as_mut_ptr().cast::<f32>().add(j0 * rows + i0),
                        rows,
                        scale,
                    );
                }
            }
        }
        transpose_edges(src, rows, cols, full_rows, full_cols, s, dst);
        return;
    }
    transpose_in_tiles(src, rows, s, dst);
}

/// The values outside the full tiles: the last columns of every row, then the last
/// rows' first columns.
fn transpose_edges<F: Float>(
    src: &[F],
    rows: usize,
    cols: usize,
    full_rows: usize,
    full_cols: usize,
    s: F,
    dst: &mut [F],
) {
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

multiversion! {
    /// [`transpose_scaled`] in 8 x 8 tiles held in registers.
    fn transpose_in_tiles<F: Float>(src: &[F], rows: usize, s: F, dst: &mut [F]) {
        const T: usize = 8;
        let cols = src.len() / rows;
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
        transpose_edges(src, rows, cols, full_rows, full_cols, s, dst);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod transpose16 {
    use std::arch::x86_64::*;

    /// `dst[j, i] = s * src[i, j]` for one 16 x 16 tile, rows of `src` at stride
    /// `src_stride`, of `dst` at `dst_stride`.
    ///
    /// # Safety
    /// AVX-512F must be available; both tiles must lie inside their slices.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize, s: f32) {
        // SAFETY: the caller's tiles are in bounds.
        unsafe {
            let rows = registers(std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * src_stride))));
            let scale = _mm512_set1_ps(s);
            for (k, row) in rows.into_iter().enumerate() {
                _mm512_storeu_ps(dst.add(k * dst_stride), _mm512_mul_ps(scale, row));
            }
        }
    }

    /// The 16 x 16 matrix of 32-bit lanes whose rows are `r`, transposed: pairs of
    /// rows interleaved, then pairs of pairs, then 128-bit lanes exchanged twice. Only
    /// moves lanes, so any 32-bit values (a pair of bfloat16s) pass through unchanged.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn registers(r: [__m512; 16]) -> [__m512; 16] {
        let a: [__m512; 16] = std::array::from_fn(|k| {
            let (x, y) = (r[k / 2 * 2], r[k / 2 * 2 + 1]);
            if k % 2 == 0 { _mm512_unpacklo_ps(x, y) } else { _mm512_unpackhi_ps(x, y) }
        });
        // Within each group of four rows: b[4g + m] from a[4g + m % 2] and
        // a[4g + 2 + m % 2], low or high pairs.
        let b: [__m512; 16] = std::array::from_fn(|k| {
            let (g, m) = (k / 4 * 4, k % 4);
            let (x, y) = (a[g + m / 2], a[g + 2 + m / 2]);
            if m % 2 == 0 { _mm512_shuffle_ps::<0x44>(x, y) } else { _mm512_shuffle_ps::<0xEE>(x, y) }
        });
        let c: [__m512; 16] = std::array::from_fn(|k| {
            let (h, m) = (k / 8 * 8, k % 8);
            let (x, y) = (b[h + m % 4], b[h + 4 + m % 4]);
            if m < 4 { _mm512_shuffle_f32x4::<0x88>(x, y) } else { _mm512_shuffle_f32x4::<0xDD>(x, y) }
        });
        std::array::from_fn(|k| {
            let (x, y) = (c[k % 8], c[8 + k % 8]);
            if k < 8 { _mm512_shuffle_f32x4::<0x88>(x, y) } else { _mm512_shuffle_f32x4::<0xDD>(x, y) }
        })
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
    row_sum_with(rows, weights.len(), Some(weights), out);
}

/// `out = sum_e rows[e]` over the first `count` rows of `rows` (`[.., out.len()]`),
/// as [`weighted_row_sum`] with every weight one.
pub fn row_sum<F: Float>(rows: &[F], count: usize, out: &mut [F]) {
    row_sum_with(rows, count, None, out);
}

fn row_sum_with<F: Float>(rows: &[F], count: usize, weights: Option<&[F]>, out: &mut [F]) {
    const COLUMNS: usize = 4096;
    let len = out.len();
    out.par_chunks_mut(COLUMNS).enumerate().for_each(|(c, out)| {
        out.fill(F::ZERO);
        for e in 0..count {
            let row = &rows[e * len + c * COLUMNS..][..out.len()];
            match weights {
                Some(w) => axpy(w[e], row, out),
                None => copy_or_add(row, out, true),
            }
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
    fn sq_norm_of_row_sum_matches_column_sums_in_f64() {
        // Widths below, at and past a block of 16 columns, with a short last block.
        for width in [1, 3, 15, 16, 17, 32, 33, 400] {
            for rows in [0, 1, 5, 256] {
                let value = |i: usize| ((i as f32 * 0.618_034).fract() - 0.5) * 3.0;
                let m: Vec<f32> = (0..rows * width).map(value).collect();
                let want: f64 =
                    (0..width).map(|k| (0..rows).map(|r| m[r * width + k] as f64).sum::<f64>()).map(|c| c * c).sum();
                let got = sq_norm_of_row_sum(&m, width) as f64;
                assert!((got - want).abs() <= 1e-5 * (1.0 + want), "{rows} x {width}: {got} against {want}");
            }
        }
    }

    /// `transpose_scaled` of a `rows x cols` matrix against the definition.
    fn check_transpose<F: Float>(rows: usize, cols: usize) {
        let src: Vec<F> = (0..rows * cols).map(|i| F::from_f64(i as f64)).collect();
        let mut dst = vec![F::ZERO; rows * cols];
        let two = F::from_f64(2.0);
        transpose_scaled(&src, rows, two, &mut dst);
        for i in 0..rows {
            for j in 0..cols {
                assert!(dst[j * rows + i] == two * src[i * cols + j], "{} {rows} x {cols}", F::NAME);
            }
        }
    }

    #[test]
    fn transpose_scaled_swaps_rows_and_columns() {
        for (rows, cols) in
            [(3, 5), (8, 8), (16, 25), (19, 17), (1, 9), (9, 1), (16, 16), (196, 16), (25, 32), (33, 50)]
        {
            check_transpose::<f64>(rows, cols);
            // In f32 the full 16 x 16 tiles take the register path where the CPU has it.
            check_transpose::<f32>(rows, cols);
        }
    }
}
