//! An f32 matrix product for AVX-512 blocked for the caches, for products too large
//! for the unpacked kernel's operands to stay cached (a convolution's patches are
//! megabytes per example).
//!
//! The loops are those of BLIS (Van Zee and van de Geijn, 2015): a `KC x NC` block of
//! `B` is packed into 32-column panels that lie contiguous in memory, so that one
//! panel (32 KiB) stays in the L1 cache while every `MR`-row strip of an `MC x KC`
//! block of `A` (in the L2 cache) is multiplied by it. `A` is read in place when its
//! rows are contiguous, and packed into `MR`-row strips otherwise (a transposed `A`
//! read in place would touch one cache line per element, a page apart). The packing
//! buffers belong to the thread and are made once, at their full size, on the
//! thread's first blocked product, so training steps stay allocation-free.

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::avx512::Operands;

/// Rows of `C` per microkernel call.
pub const MR: usize = 8;
/// Columns of `C` per microkernel call: two 16-lane vectors.
const NR: usize = 32;
/// Inner-dimension block: one packed panel of `B` is `KC x NR` (32 KiB).
const KC: usize = 256;
/// Rows of `A` per block packed for the L2 cache (`MC x KC`, 128 KiB).
const MC: usize = 128;
/// Columns of `B` per packed block (`KC x NC`, 1 MiB).
const NC: usize = 1024;

/// Whether a product is large enough for packing to pay: `B` past the L1 cache, rows
/// enough to reuse each packed panel, and an inner dimension long enough to amortize
/// the loads and stores of `C`, unless `A` is transposed (`a_cs != 1`), which the
/// unpacked kernel reads a cache line per element. Measured against the unpacked
/// kernel on the layer shapes of the models, on one core of an AVX-512 Xeon.
pub fn suits(m: usize, n: usize, k: usize, a_cs: usize) -> bool {
    m >= 64 && n * k >= 16384 && (k >= 128 || a_cs != 1)
}

thread_local! {
    /// The packed block of `B`, then the packed block of `A`.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `C = A B` (or `C += A B`) with the operands `o` describes.
///
/// # Safety
/// AVX-512F must be available; the pointers must be valid for the addressed extents.
pub unsafe fn matmul(o: Operands) {
    PACKED.with(|packed| {
        let mut packed = packed.borrow_mut();
        if packed.is_empty() {
            packed.resize(KC * NC + MC * KC, 0.0);
        }
        let (b_block, a_block) = packed.split_at_mut(KC * NC);
        // SAFETY: as the caller promised; the blocks hold what each packing writes.
        unsafe { blocks(&o, b_block, a_block) }
    });
}

#[target_feature(enable = "avx512f")]
unsafe fn blocks(o: &Operands, b_block: &mut [f32], a_block: &mut [f32]) {
    // A transposed (or any A whose rows are not contiguous) is packed; see the module doc.
    let pack_a = o.a_cs != 1;
    for jc in (0..o.n).step_by(NC) {
        let nc = NC.min(o.n - jc);
        for pc in (0..o.k).step_by(KC) {
            let kc = KC.min(o.k - pc);
            let overwrite = pc == 0 && !o.accumulate;
            // SAFETY (all calls): the block's rows and columns lie inside the operands,
            // and the packed blocks are `KC * NC` and `MC * KC` values long.
            unsafe {
                pack_b(o, pc, kc, jc, nc, b_block.as_mut_ptr());
                for ic in (0..o.m).step_by(MC) {
                    let mc = MC.min(o.m - ic);
                    if pack_a {
                        pack_a_strips(o, ic, mc, pc, kc, a_block.as_mut_ptr());
                    }
                    for jr in (0..nc).step_by(NR) {
                        let width = NR.min(nc - jr);
                        let masks = (lanes(width.min(16)), lanes(width.saturating_sub(16)));
                        let panel = b_block.as_ptr().add(jr * kc);
                        for ir in (0..mc).step_by(MR) {
                            let rows = MR.min(mc - ir);
                            let c = o.c.add((ic + ir) * o.ldc + jc + jr);
                            if pack_a {
                                let strip = a_block.as_ptr().add(ir * kc);
                                microkernel::<true>(kc, strip, 0, panel, c, o.ldc, rows, masks, overwrite);
                            } else if rows < MR {
                                // The last rows of an A read in place: packed, so that
                                // the microkernel reads MR rows that are there.
                                pack_a_strips(o, ic + ir, rows, pc, kc, a_block.as_mut_ptr());
                                let strip = a_block.as_ptr();
                                microkernel::<true>(kc, strip, 0, panel, c, o.ldc, rows, masks, overwrite);
                            } else {
                                let strip = o.a.add((ic + ir) * o.a_rs + pc);
                                microkernel::<false>(kc, strip, o.a_rs, panel, c, o.ldc, rows, masks, overwrite);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Packs `B[pc..pc + kc, jc..jc + nc]` as consecutive `kc x NR` panels, each row of a
/// panel `NR` values, zero past the last column.
#[target_feature(enable = "avx512f")]
unsafe fn pack_b(o: &Operands, pc: usize, kc: usize, jc: usize, nc: usize, out: *mut f32) {
    for jr in (0..nc).step_by(NR) {
        let width = NR.min(nc - jr);
        let (mask0, mask1) = (lanes(width.min(16)), lanes(width.saturating_sub(16)));
        // SAFETY: rows pc..pc + kc and the masked columns are inside B; the panel is
        // inside `out`.
        unsafe {
            let panel = out.add(jr * kc);
            for p in 0..kc {
                let row = o.b.add((pc + p) * o.ldb + jc + jr);
                _mm512_storeu_ps(panel.add(p * NR), _mm512_maskz_loadu_ps(mask0, row));
                _mm512_storeu_ps(panel.add(p * NR + 16), _mm512_maskz_loadu_ps(mask1, row.add(16)));
            }
        }
    }
}

/// Packs `A[ic..ic + mc, pc..pc + kc]` as consecutive `MR`-row strips, each stored
/// column by column (`MR` values per column), zero past the last row.
unsafe fn pack_a_strips(o: &Operands, ic: usize, mc: usize, pc: usize, kc: usize, out: *mut f32) {
    for ir in (0..mc).step_by(MR) {
        let rows = MR.min(mc - ir);
        // SAFETY: the rows and columns read are inside A; the strip is inside `out`.
        unsafe {
            let strip = out.add(ir * kc);
            for p in 0..kc {
                let column = o.a.add((ic + ir) * o.a_rs + (pc + p) * o.a_cs);
                let to = strip.add(p * MR);
                if o.a_rs == 1 && rows == MR {
                    std::ptr::copy_nonoverlapping(column, to, MR);
                } else {
                    for r in 0..MR {
                        *to.add(r) = if r < rows { *column.add(r * o.a_rs) } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// A mask of the first `n` (at most 16) lanes.
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// The first `rows` rows of an `MR x NR` block of `C` (the columns the masks keep):
/// written, or added to when not `overwrite`, from `MR` rows of `A` and a packed panel
/// of `B`, `kc` deep. `A(r, p)` is at `a + p * MR + r` when `PACKED`, else at
/// `a + r * a_rs + p`.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn microkernel<const PACKED: bool>(
    kc: usize,
    a: *const f32,
    a_rs: usize,
    panel: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    (mask0, mask1): (__mmask16, __mmask16),
    overwrite: bool,
) {
    // SAFETY: A covers MR rows of kc columns; the panel is kc x NR; C covers
    // `rows` rows and the masked columns.
    unsafe {
        let mut acc0 = [_mm512_setzero_ps(); MR];
        let mut acc1 = [_mm512_setzero_ps(); MR];
        let row_starts: [*const f32; MR] = std::array::from_fn(|r| a.add(r * a_rs));
        for p in 0..kc {
            let b0 = _mm512_loadu_ps(panel.add(p * NR));
            let b1 = _mm512_loadu_ps(panel.add(p * NR + 16));
            for r in 0..MR {
                let a = _mm512_set1_ps(if PACKED { *a.add(p * MR + r) } else { *row_starts[r].add(p) });
                acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
                acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
            }
        }
        // Over all MR rows with a test, not over `0..rows`: constant indices keep the
        // accumulators in registers.
        for r in (0..MR).filter(|&r| r < rows) {
            let row = c.add(r * ldc);
            if !overwrite {
                acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(mask0, row));
                acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(mask1, row.add(16)));
            }
            _mm512_mask_storeu_ps(row, mask0, acc0[r]);
            _mm512_mask_storeu_ps(row.add(16), mask1, acc1[r]);
        }
    }
}
