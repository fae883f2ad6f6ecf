//! The one matrix product everything dense goes through, so the GEMM library can be
//! swapped and measured in one place.
//!
//! The `gemm` crate (AVX-512 kernels chosen at run time) was measured fastest on the
//! DP-SGD shapes of this project; it also reads transposed operands through strides,
//! which the weight gradients `D^T X` need without a copy.

use crate::Float;

/// Below this many flops a product runs on the calling thread: entering the rayon pool
/// costs about as much as a whole Adult-sized layer.
const PARALLEL_FLOPS: usize = 8 << 20;

/// How an operand is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The matrix as it is, row-major.
    N,
    /// The transpose of the stored row-major matrix.
    T,
}

/// `c (m x n) = a (m x k) * b (k x n)`, or `c += ...` when `accumulate`.
///
/// `a` is stored row-major as `m x k` (`Op::N`) or `k x m` (`Op::T`); likewise `b` as
/// `k x n` or `n x k`; `c` is row-major `m x n`.
#[allow(clippy::too_many_arguments)]
pub fn matmul<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[F],
    a_op: Op,
    b: &[F],
    b_op: Op,
    c: &mut [F],
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul operand too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(F::ZERO);
        }
        return;
    }
    // (row stride, column stride) of each operand.
    let (a_rs, a_cs) = match a_op {
        Op::N => (k, 1),
        Op::T => (1, m),
    };
    let (b_rs, b_cs) = match b_op {
        Op::N => (n, 1),
        Op::T => (1, k),
    };
    let parallelism = if 2 * m * n * k >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the lengths were checked above against the extents the strides address;
    // `c` does not alias `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            F::ONE,
            F::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: impl Fn(usize, usize) -> f64, b: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations_match_the_naive_product() {
        let (m, n, k) = (7, 5, 3);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 3.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| 1.0 - i as f64 * 0.25).collect();
        for a_op in [Op::N, Op::T] {
            for b_op in [Op::N, Op::T] {
                let at = |i: usize, p: usize| if a_op == Op::N { a[i * k + p] } else { a[p * m + i] };
                let bt = |p: usize, j: usize| if b_op == Op::N { b[p * n + j] } else { b[j * k + p] };
                let want = naive(m, n, k, at, bt);
                let mut c = vec![1.0; m * n];
                matmul(m, n, k, &a, a_op, &b, b_op, &mut c, false);
                assert_eq!(c, want, "{a_op:?} {b_op:?}");
                matmul(m, n, k, &a, a_op, &b, b_op, &mut c, true);
                let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
                assert_eq!(c, twice, "accumulate {a_op:?} {b_op:?}");
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut c = vec![5.0f32; 6];
        matmul(2, 3, 0, &[], Op::N, &[], Op::N, &mut c, false);
        assert_eq!(c, vec![0.0; 6]);
    }
}
