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
//!
//! A caller that can take operands rounded to bfloat16 says so with [`Products::Bf16`]
//! ([`matmul_as`]); on a Xeon with AMX its large f32 products then run on the tiles
//! (`amx.rs`), several times the AVX-512 kernels' rate, and on a CPU with AVX-512 BF16
//! but no tiles (AMD from Zen 4 on) the same packed blocks go through `VDPBF16PS`
//! (`bf16_dot.rs`), twice an f32 FMA's multiply-adds.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod bf16_dot;
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

/// How an f32 product may treat its operands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Products {
    /// Exactly as given: every product in the operands' own precision.
    #[default]
    F32,
    /// Rounded to bfloat16 (8 significant bits, to nearest), each product and every
    /// sum in f32, where the CPU has AMX (Intel Xeons from Sapphire Rapids on) or
    /// AVX-512 BF16 (AMD from Zen 4 on); elsewhere, and for f64, as [`Products::F32`].
    /// Mixed-precision training: a product's relative error is about 2^-9 per term
    /// instead of 2^-24.
    Bf16,
}

impl Products {
    /// What this process's products run as: `Bf16` only where the tiles or AVX-512
    /// BF16 are there.
    pub fn effective(self) -> Products {
        #[cfg(target_arch = "x86_64")]
        if self == Products::Bf16 && (amx::available() || bf16_dot::available()) {
            return Products::Bf16;
        }
        Products::F32
    }

    /// What the products of a parameter gradient summed over a batch may be: these,
    /// unless the sum is `weighted` by clipping factors. A clipped sum's factors come
    /// from norms taken apart from it (the ghost identity, or gradients not kept), from
    /// exact products; summing rounded gradients with them would clip other values
    /// than those measured, and the sensitivity would no longer be C.
    pub fn for_sum(self, weighted: bool) -> Products {
        if weighted { Products::F32 } else { self }
    }

    /// `f32` or `bf16`, as the command line names them.
    pub fn name(self) -> &'static str {
        match self {
            Products::F32 => "f32",
            Products::Bf16 => "bf16",
        }
    }
}

impl std::str::FromStr for Products {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        match name {
            "f32" => Ok(Products::F32),
            "bf16" => Ok(Products::Bf16),
            other => Err(format!("products are f32 or bf16, not {other:?}")),
        }
    }
}

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
    matmul_as(Products::F32, m, n, k, a, a_rs, a_cs, b, ldb, c, accumulate);
}

/// [`matmul`], with operands rounded to bfloat16 when `products` allows it and the
/// product is large enough to pack them ([`Products::Bf16`]). Never for a per-example
/// norm taken apart from the gradients it clips, or for the clipped sum of such
/// gradients: the norm would be that of other values than those summed, and the
/// sensitivity no longer C. Those products stay exact, so that what is clipped is what
/// is measured.
#[allow(clippy::too_many_arguments)]
pub fn matmul_as<F: Float>(
    products: Products,
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
        let kernel = if on_bf16_blocks(products, m, n, k) {
            Kernel::Bf16
        } else if blocked::suits(m, n, k, a_cs) {
            Kernel::Blocked
        } else if k <= UNPACKED_MAX_K {
            Kernel::Unpacked
        } else {
            return packed(m, n, k, a, a_rs, a_cs, b, ldb, c, accumulate);
        };
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
        return ours(operands, kernel);
    }
    packed(m, n, k, a, a_rs, a_cs, b, ldb, c, accumulate);
}

/// Whether an f32 product of this shape runs on bfloat16 blocks (AMX tiles, or
/// AVX-512 BF16), its operands rounded.
fn on_bf16_blocks(products: Products, m: usize, n: usize, k: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if products.effective() == Products::Bf16 {
        return amx::suits(m, n, k);
    }
    let _ = (products, m, n, k);
    false
}

/// Our kernels, chosen on the whole product's shape.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq)]
enum Kernel {
    Unpacked,
    Blocked,
    /// Packed bfloat16 blocks, on AMX tiles or by AVX-512 BF16.
    Bf16,
}

/// One of our kernels, `C` split across the rayon pool when the product is large
/// enough: by rows, or, for a packing kernel whose `A` is the smaller operand (fewer
/// rows than columns, as a weight gradient summed over a batch's positions), by
/// columns, one part per thread. Each part packs again the operand it shares with the
/// others, so that is the smaller one.
#[cfg(target_arch = "x86_64")]
fn ours(o: avx512::Operands, kernel: Kernel) {
    struct Shared(avx512::Operands);
    // SAFETY: threads write disjoint parts of C and only read A and B.
    unsafe impl Send for Shared {}
    unsafe impl Sync for Shared {}
    impl Shared {
        // A method, so that closures capture the whole wrapper and not its field.
        fn operands(&self) -> &avx512::Operands {
            &self.0
        }
    }

    let run = move |o: avx512::Operands| {
        // SAFETY: AVX-512F was detected, and AMX or AVX-512 BF16 when they run; the
        // callers checked the extents.
        unsafe {
            match kernel {
                Kernel::Unpacked => avx512::matmul(o),
                Kernel::Blocked => blocked::matmul(o),
                Kernel::Bf16 => amx::matmul(o),
            }
        }
    };
    let threads = rayon::current_num_threads();
    if 2 * o.m * o.n * o.k < PARALLEL_FLOPS || threads == 1 {
        return run(o);
    }
    // Parts of `size` rows or columns: whole 32-column panels, one part per thread; or
    // whole blocks of the kernel's rows, not fewer than 32 or 48, each chunk of a
    // packing kernel packing `B` again.
    let by_columns = kernel != Kernel::Unpacked && o.m < o.n;
    let (extent, size) = if by_columns {
        (o.n, o.n.div_ceil(threads).next_multiple_of(32))
    } else {
        let block = if kernel == Kernel::Bf16 { amx::MR } else { avx512::MR * blocked::MR };
        (o.m, o.m.div_ceil(4 * threads).next_multiple_of(block))
    };
    let shared = Shared(o);
    (0..extent.div_ceil(size)).into_par_iter().for_each(|part| {
        let (o, start) = (shared.operands(), part * size);
        let len = size.min(extent - start);
        // SAFETY: the part's rows or columns lie inside the product.
        run(unsafe { if by_columns { o.columns(start, len) } else { o.rows(start, len) } })
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
        // Fewer rows than columns: split by columns, the last part narrower.
        pool.install(|| check::<f32>(64, 700, 300, true, 1e-4));
        pool.install(|| check::<f32>(96, 1100, 200, false, 1e-4));
    }

    /// `x` as bfloat16 rounds it (to nearest, ties to even), back in f64.
    fn rounded(x: f32) -> f64 {
        let bits = x.to_bits();
        let rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF_0000;
        f32::from_bits(rounded) as f64
    }

    /// `Products::Bf16` against the triple loop in f64 over the operands rounded to
    /// bfloat16, to within f32 summation (1e-5 of the sum of the terms' magnitudes); on
    /// a CPU without AMX or AVX-512 BF16, against the exact product it falls back to.
    /// The operands are not bfloat16 values, so exact products miss the rounded
    /// reference by far more (checked, so that the test knows which kernel it tested).
    fn check_bf16(m: usize, n: usize, k: usize, (a_rs, a_cs): (usize, usize)) {
        let value = |i: usize, scale: f32| ((i as f32 * 0.618_034).fract() - 0.5) * scale;
        let a: Vec<f32> = (0..(m - 1) * a_rs + (k - 1) * a_cs + 1).map(|i| value(i, 3.0)).collect();
        let ldb = n + 5;
        let b: Vec<f32> = (0..k * ldb).map(|i| value(i * 7 + 1, 2.0)).collect();
        let rounds = on_bf16_blocks(Products::Bf16, m, n, k);
        for accumulate in [false, true] {
            let mut c: Vec<f32> = (0..m * n).map(|i| value(i * 3, 1.0)).collect();
            let before = c.clone();
            matmul_as(Products::Bf16, m, n, k, &a, a_rs, a_cs, &b, ldb, &mut c, accumulate);
            let (mut worst_rounded, mut worst_exact) = (0.0f64, 0.0f64);
            for i in 0..m {
                for j in 0..n {
                    let (x, y) = (|p: usize| a[i * a_rs + p * a_cs], |p: usize| b[p * ldb + j]);
                    let base = if accumulate { before[i * n + j] as f64 } else { 0.0 };
                    let exact: f64 = base + (0..k).map(|p| x(p) as f64 * y(p) as f64).sum::<f64>();
                    let of_rounded: f64 = base + (0..k).map(|p| rounded(x(p)) * rounded(y(p))).sum::<f64>();
                    let magnitude: f64 = base.abs() + (0..k).map(|p| (x(p) as f64 * y(p) as f64).abs()).sum::<f64>();
                    let got = c[i * n + j] as f64;
                    worst_rounded = worst_rounded.max((got - of_rounded).abs() / magnitude);
                    worst_exact = worst_exact.max((got - exact).abs() / magnitude);
                }
            }
            let (close, far) = if rounds { (worst_rounded, worst_exact) } else { (worst_exact, worst_rounded) };
            assert!(close <= 1e-5, "{m}x{k}x{n} strides {a_rs},{a_cs} (rounded: {rounds}): {close:e} off");
            assert!(far >= 1e-4, "{m}x{k}x{n}: the other reference is as close ({far:e}): which kernel ran?");
        }
    }

    #[test]
    fn bf16_products_match_the_triple_loop_on_rounded_operands() {
        // Whole blocks and every edge: rows past a strip and past MC, columns past a
        // panel (and below 16 in the last one) and past NC, an inner dimension past a
        // step and past KC; A read by rows, by columns (transposed) and element by
        // element; and products split across threads by rows and by columns.
        for (m, n, k) in [(32, 32, 32), (33, 47, 40), (40, 33, 17), (200, 530, 600), (64, 40, 1030), (100, 64, 576)] {
            check_bf16(m, n, k, (k, 1));
            check_bf16(m, n, k, (1, m));
            check_bf16(m, n, k, (2, 2 * m + 1));
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| check_bf16(1024, 64, 160, (160, 1)));
        pool.install(|| check_bf16(1000, 72, 64, (1, 1000)));
        pool.install(|| check_bf16(64, 600, 300, (1, 64)));
    }

    /// `Products::Bf16` on `m x k` and `k x n` operands of `1 + 2^-10` and ones, which
    /// bfloat16 would round to ones: every element must come out `k (1 + 2^-10)`.
    fn bf16_products_of_unrounded_values<F: Float>(m: usize, n: usize, k: usize) -> Vec<F> {
        let a = vec![F::from_f64(1.0 + 1.0 / 1024.0); m * k];
        let b = vec![F::ONE; k * n];
        let mut c = vec![F::ZERO; m * n];
        matmul_as(Products::Bf16, m, n, k, &a, k, 1, &b, n, &mut c, false);
        c
    }

    #[test]
    fn bf16_products_of_f64_and_small_shapes_are_exact() {
        // f64, even of a shape that fills the tiles, and f32 products too small for
        // them, are never rounded.
        let want = |k: f64| k * (1.0 + 1.0 / 1024.0);
        assert!(bf16_products_of_unrounded_values::<f64>(40, 40, 40).iter().all(|&c| c == want(40.0)));
        assert!(bf16_products_of_unrounded_values::<f32>(2, 2, 3).iter().all(|&c| c == want(3.0) as f32));
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut c = vec![5.0f32; 6];
        matmul(2, 3, 0, &[], 0, 1, &[], 3, &mut c, false);
        assert_eq!(c, vec![0.0; 6]);
    }
}
