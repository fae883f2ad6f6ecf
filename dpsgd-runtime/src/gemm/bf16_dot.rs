//! The bfloat16 products of `amx.rs` on CPUs with AVX-512 BF16 but no AMX tiles (AMD
//! from Zen 4 on): the same packed blocks, multiplied by `VDPBF16PS`, which sums the
//! products of sixteen pairs of bfloat16s into sixteen f32 lanes, twice the
//! multiply-adds of an f32 FMA. The packed layouts are already that instruction's: a
//! panel of `B` holds each column's two values of a pair of rows side by side, and a
//! strip of `A` holds each row's values in order, so a row's pair is one 32-bit
//! broadcast.

use std::arch::x86_64::*;

use super::amx::{CBlock, STEP, STEP_LEN, lanes};

/// Rows of `C` one pass over the packed steps computes: sixteen accumulators (two
/// vectors of 16 columns per row), two vectors of `B` and a broadcast of `A` in
/// registers.
const ROWS: usize = 8;

/// Whether the CPU has AVX-512 BF16 (with the AVX-512 F and BW the packing runs on).
pub fn available() -> bool {
    crate::kernels::simd::has_avx512()
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// The bits of `x` read as 32 bfloat16s (no conversion).
#[inline(always)]
fn as_bf16s(x: __m512i) -> __m512bh {
    // SAFETY: both are 512 bits of plain data.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(x) }
}

/// `C += strip x panel` (or `=` when `overwrite`) for one block of at most 32 x 32,
/// `steps` packed steps deep, [`ROWS`] rows at a time. Rows of the strip past the
/// block's are zeros (the packing pads them) and are not computed past the last group.
///
/// # Safety
/// AVX-512F and AVX-512 BF16 must be available; the strip and the panel must hold
/// `steps` packed steps; the block's rows and columns must lie inside C.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn microkernel(strip: *const u16, panel: *const u16, steps: usize, block: CBlock, overwrite: bool) {
    let masks = [lanes(block.columns), lanes(block.columns.saturating_sub(16))];
    for first in (0..block.rows).step_by(ROWS) {
        let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
        for step in 0..steps {
            // SAFETY (the loads): inside the packed step of the strip and of the panel.
            unsafe {
                let a = strip.add(step * STEP_LEN + first * STEP);
                let b = panel.add(step * STEP_LEN);
                for pair in 0..STEP / 2 {
                    // Columns 0-15 and 16-31 of rows 2 pair and 2 pair + 1.
                    let b_low = as_bf16s(_mm512_loadu_si512(b.add(pair * STEP).cast()));
                    let b_high = as_bf16s(_mm512_loadu_si512(b.add(STEP_LEN / 2 + pair * STEP).cast()));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let a_pair =
                            as_bf16s(_mm512_set1_epi32(a.add(r * STEP + 2 * pair).cast::<i32>().read_unaligned()));
                        acc[0] = _mm512_dpbf16_ps(acc[0], a_pair, b_low);
                        acc[1] = _mm512_dpbf16_ps(acc[1], a_pair, b_high);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(block.rows - first) {
            for (half, (&sum, &mask)) in acc.iter().zip(&masks).enumerate() {
                // SAFETY: the masked columns of the block's row are inside C.
                unsafe {
                    let c = block.c.add((first + r) * block.ldc + 16 * half);
                    let value = match overwrite {
                        true => sum,
                        false => _mm512_add_ps(_mm512_maskz_loadu_ps(mask, c), sum),
                    };
                    _mm512_mask_storeu_ps(c, mask, value);
                }
            }
        }
    }
}
