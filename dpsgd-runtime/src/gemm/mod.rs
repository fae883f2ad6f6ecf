//! The one matrix product everything dense goes through, so the kernel can be swapped
//! and measured in one place.
//!
//! f32 on CPUs with AVX-512 uses our own kernels, which allocate nothing per product,
//! so training steps stay allocation-free: the unpacked kernel (`avx512.rs`) for the
//! small products of dense layers and recurrent steps, where packing would cost more
//! than it saves, and the cache-blocked one (`blocked.rs`) for large products such as
//! a convolution's, whose operands do not stay in the caches unpacked. f64 and other
//! CPUs go to the `gemm` crate, which packs its operands into buffers it allocates per
//! call.

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod blocked;

use std::any::TypeId;

use rayon::prelude::*;

use crate::Float;

/// Below this many flops a product runs on the calling thread: entering the rayon pool
/// costs about as much as a whole Adult-sized layer.
const PARALLEL_FLOPS: usize = 8 << 20;
/// The unpacked kernel streams a 32-column panel of `B` once per six rows of `C`; past
/// this inner dimension the panel leaves the L2 cache, and a product with too few rows
/// for the blocked kernel goes to the `gemm` crate.
const UNPACKED_MAX_K: usize = 4096;

/// `C = A B`, or `C += A B` when `accumulate`, with `A` `m x k`, `B` `k x n`, `C` `m x n`.
///
/// `A(i, p)` is `a[i * a_rs + p * a_cs]`, so a transposed operand is a matter of
/// strides; `B` is row-major with row stride `ldb`; `C` is row-major and dense.
#[allow(clippy::too_many_arguments)]
pub fn matmul<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[F],
    a_rs: usize,
    a_cs: usize,
    b: &[F],
    ldb: usize,
    c: &mut [F],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n, "matmul: C too short");
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(F::ZERO);
        }
        return;
    }
    assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs, "matmul: A too short");
    assert!(b.len() >= (k - 1) * ldb + n && ldb >= n, "matmul: B too short");

    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<F>() == TypeId::of::<f32>() && crate::kernels::simd::has_avx512() {
        let blocked = blocked::suits(m, n, k, a_cs);
        if !blocked && k > UNPACKED_MAX_K {
            return packed(m, n, k, a, a_rs, a_cs, b, ldb, c, accumulate);
        }
        let operands = avx512::Operands {
            m,
            n,
            k,
            a: a.as_ptr().cast(),
            a_rs,
            a_cs,
            b: b.as_ptr().cast(),
            ldb,
            c: c.as_mut_ptr().cast(),
            ldc: n,
            accumulate,
        };
        return ours(operands, blocked);
    }
    packed(m, n, k, a, a_rs, a_cs, b, ldb, c, accumulate);
}

/// Our AVX-512 kernels, the blocked one when `blocked` (chosen on the whole product's
/// shape), the rows of `C` split across the rayon pool when the product is large enough.
#[cfg(target_arch = "x86_64")]
fn ours(o: avx512::Operands, blocked: bool) {
    struct Shared(avx512::Operands);
    // SAFETY: threads write disjoint row ranges of C and only read A and B.
    unsafe impl Send for Shared {}
    unsafe impl Sync for Shared {}
    impl Shared {
        // A method, so that closures capture the whole wrapper and not its field.
        fn operands(&self) -> &avx512::Operands {
            &self.0
        }
    }

    let kernel = |o: avx512::Operands| {
        // SAFETY: AVX-512F was detected; `matmul` checked the extents.
        unsafe { if blocked { blocked::matmul(o) } else { avx512::matmul(o) } }
    };
    let threads = rayon::current_num_threads();
    if 2 * o.m * o.n * o.k < PARALLEL_FLOPS || threads == 1 {
        return kernel(o);
    }
    // Whole blocks of either kernel's rows per chunk, and not fewer than 48: each chunk
    // of a blocked product packs `B` again.
    let rows = o.m.div_ceil(4 * threads).next_multiple_of(avx512::MR * blocked::MR);
    let shared = Shared(o);
    (0..o.m.div_ceil(rows)).into_par_iter().for_each(|chunk| {
        let o = shared.operands();
        let start = chunk * rows;
        // This chunk's rows of A and C are inside the matrices.
        kernel(avx512::Operands {
            m: rows.min(o.m - start),
            // SAFETY: as above.
            a: unsafe { o.a.add(start * o.a_rs) },
            // SAFETY: as above.
            c: unsafe { o.c.add(start * o.ldc) },
            ..*o
        })
    });
}

/// The `gemm` crate, for everything the unpacked kernel does not cover.
#[allow(clippy::too_many_arguments)]
fn packed<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: &[F],
    a_rs: usize,
    a_cs: usize,
    b: &[F],
    ldb: usize,
    c: &mut [F],
    accumulate: bool,
) {
    let parallelism = if 2 * m * n * k >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `matmul` checked the extents the strides address; `c` does not alias `a`
    // or `b` (it is borrowed mutably).
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
            1,
            ldb as isize,
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

    /// Every path (unpacked in f32, packed in f64, serial and parallel, both tails)
    /// against the plain triple loop.
    fn check<F: Float>(m: usize, n: usize, k: usize, transposed_a: bool, tolerance: f64) {
        let a: Vec<F> = (0..m * k).map(|i| F::from_f64(((i * 7) % 13) as f64 * 0.25 - 1.5)).collect();
        let b: Vec<F> = (0..k * (n + 3)).map(|i| F::from_f64(((i * 5) % 11) as f64 * 0.5 - 2.0)).collect();
        let (a_rs, a_cs) = if transposed_a { (1, m) } else { (k, 1) };
        let ldb = n + 3;
        for accumulate in [false, true] {
            let mut c = vec![F::ONE; m * n];
            matmul(m, n, k, &a, a_rs, a_cs, &b, ldb, &mut c, accumulate);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 =
                        (0..k).map(|p| a[i * a_rs + p * a_cs].to_f64() * b[p * ldb + j].to_f64()).sum::<f64>()
                            + if accumulate { 1.0 } else { 0.0 };
                    let got = c[i * n + j].to_f64();
                    assert!(
                        (got - want).abs() <= tolerance * (1.0 + want.abs()),
                        "{m}x{k}x{n} ({i}, {j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn products_match_the_triple_loop() {
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (13, 50, 104), (6, 32, 9), (20, 33, 17), (50, 104, 120)] {
            for transposed in [false, true] {
                check::<f32>(m, n, k, transposed, 1e-5);
                check::<f64>(m, n, k, transposed, 1e-12);
            }
        }
    }

    #[test]
    fn narrow_column_panels_match_the_triple_loop() {
        // Every row remainder of the one-vector blocks, alone and after wide panels.
        for m in 1..=25 {
            for n in [16, 10, 48] {
                check::<f32>(m, n, 7, m % 2 == 0, 1e-5);
            }
        }
    }

    #[test]
    fn blocked_products_match_the_triple_loop() {
        // Every edge of the blocking: rows past a multiple of MR and of MC, columns past
        // a panel and past NC, an inner dimension over several KC blocks with a
        // remainder, with A read in place and packed (transposed).
        for (m, n, k) in [(64, 128, 128), (77, 1100, 300), (200, 130, 600), (131, 33, 513)] {
            for transposed in [false, true] {
                #[cfg(target_arch = "x86_64")]
                assert!(
                    blocked::suits(m, n, k, if transposed { m } else { 1 }),
                    "{m}x{k}x{n} takes the blocked kernel"
                );
                check::<f32>(m, n, k, transposed, 1e-4);
            }
        }
    }

    #[test]
    fn large_products_split_across_threads() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| check::<f32>(700, 40, 300, false, 1e-4));
        pool.install(|| check::<f32>(5000, 3, 5000, true, 1e-4));
        pool.install(|| check::<f32>(300, 200, 300, true, 1e-4));
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut c = vec![5.0f32; 6];
        matmul(2, 3, 0, &[], 0, 1, &[], 3, &mut c, false);
        assert_eq!(c, vec![0.0; 6]);
    }
}
