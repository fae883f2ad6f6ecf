//! An f32 matrix product on the AMX tiles of Intel Xeons (Sapphire Rapids and later):
//! the operands rounded to bfloat16 (to nearest, ties to even) as they are packed, the
//! products summed in f32. Taken only where the caller allows rounded operands
//! ([`Products::Bf16`](super::Products)).
//!
//! The loops are the blocked kernel's (`blocked.rs`, BLIS's): a `KC x NC` block of `B`
//! packed into 32-column panels, an `MC x KC` block of `A` into 32-row strips, and a
//! microkernel that multiplies one strip by one panel into a `32 x 32` block of `C`
//! held in four accumulator tiles. The packed layouts are the tiles' own: a strip holds,
//! for each 32-deep step of the inner dimension, its 32 rows of 32 bfloat16s (two
//! `A` tiles of 16 rows); a panel holds, for each step, its 16 pairs of rows with each
//! column's two values side by side (two `B` tiles of 16 columns, the pairs
//! `TDPBF16PS` multiplies). The inner dimension is padded with zeros to a whole step.
//!
//! On a CPU with AVX-512 BF16 but no tiles, the same loops and packed blocks run with
//! the microkernel of `bf16_dot.rs` instead.
//!
//! Linux gives a process the tiles' 8 KiB of register state only when asked
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`available`] does once.
//!
//! On one core of the Xeon, on WRN-16-4's convolution shapes (for example
//! `1024 x 576 x 64`), this ran at 260-450 GFLOP/s where the AVX-512 kernels ran at
//! 100-150. The tiles are idle for about half of it: packing reads the f32 operands
//! from memory (a convolution's patches are megabytes) and rounds them.

use std::arch::asm;
use std::arch::x86_64::*;
use std::cell::RefCell;

use super::avx512::Operands;
use crate::kernels::vector::transpose16;

/// Rows of `C` per microkernel call: two tiles of 16.
pub const MR: usize = 32;
/// Columns of `C` per microkernel call: two tiles of 16.
const NR: usize = 32;
/// The inner dimension one tile product covers: 32 bfloat16s, 64 bytes per tile row.
pub(super) const STEP: usize = 32;
/// bfloat16s one packed step of a strip or a panel holds: two tiles of 16 x 32.
pub(super) const STEP_LEN: usize = 2 * 16 * STEP;
/// Inner-dimension block: a packed panel of `B` is `KC x NR` bfloat16s (16 KiB), which
/// stays in the L1 cache beside the strip of `A` streaming past it. 512 and 128 were
/// no faster on the WRN-16-4's shapes.
const KC: usize = 256;
/// Rows of `A` per packed block (`MC x KC`, 64 KiB).
const MC: usize = 128;
/// Columns of `B` per packed block (`KC x NC`, 256 KiB).
const NC: usize = 512;

/// Whether the CPU has AMX with bfloat16 and the operating system lets this process use
/// it (asked once), with the AVX-512 the packing runs on.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| crate::kernels::simd::has_avx512() && cpu_has_amx_bf16() && tiles_permitted())
}

fn cpu_has_amx_bf16() -> bool {
    // CPUID leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
    let leaf = __cpuid_count(7, 0);
    leaf.edx & (1 << 22) != 0 && leaf.edx & (1 << 24) != 0
}

/// Asks Linux for the tile data state (`ARCH_REQ_XCOMP_PERM`, `XFEATURE_XTILEDATA`);
/// without it the first tile instruction kills the process.
#[cfg(target_os = "linux")]
fn tiles_permitted() -> bool {
    const SYS_ARCH_PRCTL: usize = 158;
    const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
    const XFEATURE_XTILEDATA: usize = 18;
    let result: isize;
    // SAFETY: the arch_prctl system call with two integer arguments; it only changes
    // which register state the kernel saves for this process.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL as isize => result,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result == 0
}

#[cfg(not(target_os = "linux"))]
fn tiles_permitted() -> bool {
    false
}

/// Whether a product fills the tiles (or the block of the AVX-512 BF16 microkernel): a
/// whole `32 x 32` block of `C` or more, at least one step deep. Packing both operands
/// costs about what the AVX-512 kernels would spend on a product of `32 x 32 x 32`;
/// the tiles multiply it in a tenth of that.
pub fn suits(m: usize, n: usize, k: usize) -> bool {
    m >= MR && n >= NR && k >= STEP
}

thread_local! {
    /// The packed block of `B`, then the packed block of `A`, in bfloat16s.
    static PACKED: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
}

/// The tile configuration: palette 1, all eight tiles 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new() -> Self {
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        for tile in 0..8 {
            bytes[16 + 2 * tile] = 64;
            bytes[48 + tile] = 16;
        }
        TileConfig(bytes)
    }
}

/// `C = A B` (or `C += A B`) with the operands `o` describes, `A` and `B` rounded to
/// bfloat16: on the tiles where [`available`], else by AVX-512 BF16
/// ([`bf16_dot`](super::bf16_dot)).
///
/// # Safety
/// [`available`] or [`bf16_dot::available`](super::bf16_dot::available) must be true;
/// the pointers must be valid for the addressed extents.
pub unsafe fn matmul(o: Operands) {
    PACKED.with(|packed| {
        let mut packed = packed.borrow_mut();
        if packed.is_empty() {
            packed.resize(KC * NC + MC * KC, 0);
        }
        let (b_block, a_block) = packed.split_at_mut(KC * NC);
        if !available() {
            // SAFETY: AVX-512 BF16 is available (the caller checked); the blocks hold
            // what each packing writes.
            return unsafe { blocks_rounded_by_cpu(&o, b_block, a_block, super::bf16_dot::microkernel) };
        }
        let config = TileConfig::new();
        // SAFETY: the tiles are available (the caller checked); the configuration is
        // 64 bytes; the blocks hold what each packing writes.
        unsafe {
            asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
            blocks(&o, b_block, a_block, microkernel);
            asm!("tilerelease", options(nostack, nomem));
        }
    });
}

/// A microkernel of packed blocks: `C += strip x panel` (or `=`) for one block of `C`.
type Microkernel = unsafe fn(*const u16, *const u16, usize, CBlock, bool);

/// BLIS's loops over packed blocks of `A` and `B`, rounded to bfloat16 as they are
/// packed, bit by bit in integer lanes (what the tiles' Xeons were measured with).
#[target_feature(enable = "avx512f")]
unsafe fn blocks(o: &Operands, b_block: &mut [u16], a_block: &mut [u16], microkernel: Microkernel) {
    // SAFETY: as the caller promised.
    unsafe { blocks_with::<false>(o, b_block, a_block, microkernel) }
}

/// [`blocks`], rounded by the CPU's own conversion (`VCVTNE2PS2BF16`, AVX-512 BF16):
/// the same values (to nearest, ties to even) in one instruction for 32, where the
/// integer rounding took a dozen; packing is a fifth of a bf16 WRN-16-4 step.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn blocks_rounded_by_cpu(o: &Operands, b_block: &mut [u16], a_block: &mut [u16], microkernel: Microkernel) {
    // SAFETY: as the caller promised.
    unsafe { blocks_with::<true>(o, b_block, a_block, microkernel) }
}

#[inline(always)]
unsafe fn blocks_with<const CPU_ROUNDS: bool>(
    o: &Operands,
    b_block: &mut [u16],
    a_block: &mut [u16],
    microkernel: Microkernel,
) {
    for jc in (0..o.n).step_by(NC) {
        let nc = NC.min(o.n - jc);
        for pc in (0..o.k).step_by(KC) {
            let kc = KC.min(o.k - pc);
            let steps = kc.div_ceil(STEP);
            let overwrite = pc == 0 && !o.accumulate;
            // SAFETY (all calls): the block's rows and columns lie inside the operands,
            // and the packed blocks are `KC * NC` and `MC * KC` values long.
            unsafe {
                pack_b::<CPU_ROUNDS>(o, pc, kc, jc, nc, b_block.as_mut_ptr());
                for ic in (0..o.m).step_by(MC) {
                    let mc = MC.min(o.m - ic);
                    pack_a::<CPU_ROUNDS>(o, ic, mc, pc, kc, a_block.as_mut_ptr());
                    for jr in (0..nc).step_by(NR) {
                        let panel = b_block.as_ptr().add(jr / NR * steps * STEP_LEN);
                        for ir in (0..mc).step_by(MR) {
                            let strip = a_block.as_ptr().add(ir / MR * steps * STEP_LEN);
                            let block = CBlock {
                                c: o.c.add((ic + ir) * o.ldc + jc + jr),
                                ldc: o.ldc,
                                rows: MR.min(mc - ir),
                                columns: NR.min(nc - jr),
                            };
                            microkernel(strip, panel, steps, block, overwrite);
                        }
                    }
                }
            }
        }
    }
}

/// bfloat16 bits of each lane of `x`, rounded to nearest (ties to even), in the high
/// half of each 32-bit lane (the low half is left over).
#[inline]
#[target_feature(enable = "avx512f")]
fn rounded_high_halves(x: __m512) -> __m512i {
    let bits = _mm512_castps_si512(x);
    let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)))
}

/// The 16 lanes of `x` as 16 bfloat16s.
#[inline]
#[target_feature(enable = "avx512f")]
fn to_bf16(x: __m512) -> __m256i {
    _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(rounded_high_halves(x)))
}

/// Lanes `lo` (low halves) and `hi` (high halves) of the same column in two rows: one
/// 32-bit pair per column, as a `B` tile holds them.
#[inline(always)]
unsafe fn pairs<const CPU_ROUNDS: bool>(lo: __m512, hi: __m512) -> __m512 {
    // SAFETY: the callers are compiled for AVX-512F, and for AVX-512 BF16 and BW when
    // `CPU_ROUNDS`; both types are 512 bits of plain data; the index is 32 u16.
    unsafe {
        if CPU_ROUNDS {
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            return _mm512_castsi512_ps(_mm512_permutexvar_epi16(_mm512_loadu_si512(INTERLEAVE.as_ptr().cast()), both));
        }
        let lo = _mm512_srli_epi32::<16>(rounded_high_halves(lo));
        let hi = _mm512_and_si512(rounded_high_halves(hi), _mm512_set1_epi32(0xFFFF_0000u32 as i32));
        _mm512_castsi512_ps(_mm512_or_si512(lo, hi))
    }
}

/// Where each 16-bit lane of [`pairs`] comes from in `lo`'s 16 bfloat16s followed by
/// `hi`'s: `lo[i]` to lane `2i`, `hi[i]` to lane `2i + 1`.
static INTERLEAVE: [u16; 32] = {
    let mut index = [0u16; 32];
    let mut i = 0;
    while i < 16 {
        index[2 * i] = i as u16;
        index[2 * i + 1] = 16 + i as u16;
        i += 1;
    }
    index
};

/// 32 values, `low`'s 16 then `high`'s, as 32 bfloat16s in order.
#[inline(always)]
unsafe fn bf16s<const CPU_ROUNDS: bool>(low: __m512, high: __m512) -> __m512i {
    // SAFETY: the callers are compiled for AVX-512 BF16 when `CPU_ROUNDS`, for AVX-512F
    // always; both types are 512 bits of plain data.
    unsafe {
        match CPU_ROUNDS {
            true => std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(high, low)),
            false => _mm512_inserti64x4::<1>(_mm512_castsi256_si512(to_bf16(low)), to_bf16(high)),
        }
    }
}

/// A mask of the first `n` (at most 16) lanes.
#[inline(always)]
pub(super) fn lanes(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// Packs `B[pc..pc + kc, jc..jc + nc]` as consecutive panels of [`NR`] columns, each
/// `steps` packed steps long, zero past the last row and column.
#[inline(always)]
unsafe fn pack_b<const CPU_ROUNDS: bool>(o: &Operands, pc: usize, kc: usize, jc: usize, nc: usize, out: *mut u16) {
    let steps = kc.div_ceil(STEP);
    for jr in (0..nc).step_by(NR) {
        let width = NR.min(nc - jr);
        let masks = [lanes(width), lanes(width.saturating_sub(16))];
        // SAFETY: the rows below pc + kc and the masked columns are inside B (a masked-off
        // lane's address is never read); the panel is inside `out`.
        unsafe {
            let panel = out.add(jr / NR * steps * STEP_LEN);
            let row = |p: usize, half: usize| {
                if p < kc {
                    _mm512_maskz_loadu_ps(masks[half], o.b.wrapping_add((pc + p) * o.ldb + jc + jr + 16 * half))
                } else {
                    _mm512_setzero_ps()
                }
            };
            for pair in 0..steps * STEP / 2 {
                let (step, q) = (pair / 16, pair % 16);
                for half in 0..2 {
                    let tile_row = panel.add(step * STEP_LEN + half * STEP_LEN / 2 + q * STEP).cast::<f32>();
                    _mm512_storeu_ps(tile_row, pairs::<CPU_ROUNDS>(row(2 * pair, half), row(2 * pair + 1, half)));
                }
            }
        }
    }
}

/// Packs `A[ic..ic + mc, pc..pc + kc]` as consecutive strips of [`MR`] rows, each
/// `steps` packed steps long, zero past the last row and column.
#[inline(always)]
unsafe fn pack_a<const CPU_ROUNDS: bool>(o: &Operands, ic: usize, mc: usize, pc: usize, kc: usize, out: *mut u16) {
    let steps = kc.div_ceil(STEP);
    for ir in (0..mc).step_by(MR) {
        let rows = MR.min(mc - ir);
        for step in 0..steps {
            let depth = STEP.min(kc - step * STEP);
            // SAFETY: the strip's step is inside `out`; the packers read inside A.
            unsafe {
                let to = out.add((ir / MR * steps + step) * STEP_LEN);
                let from = (ic + ir, pc + step * STEP);
                if o.a_cs == 1 {
                    pack_rows::<CPU_ROUNDS>(o, from, rows, depth, to);
                } else if o.a_rs == 1 {
                    pack_columns::<CPU_ROUNDS>(o, from, rows, depth, to);
                } else {
                    pack_any(o, from, rows, depth, to);
                }
            }
        }
    }
}

/// One packed step of a strip from an `A` with contiguous rows: each row's `depth`
/// values converted in place.
#[inline(always)]
unsafe fn pack_rows<const CPU_ROUNDS: bool>(
    o: &Operands,
    (i, p): (usize, usize),
    rows: usize,
    depth: usize,
    to: *mut u16,
) {
    let masks = [lanes(depth), lanes(depth.saturating_sub(16))];
    for r in 0..MR {
        // SAFETY: row i + r (when r < rows) and the masked columns are inside A; the
        // packed row is inside `to`.
        unsafe {
            let row = o.a.wrapping_add((i + r) * o.a_rs + p);
            let (low, high) = match r < rows {
                true => (_mm512_maskz_loadu_ps(masks[0], row), _mm512_maskz_loadu_ps(masks[1], row.wrapping_add(16))),
                false => (_mm512_setzero_ps(), _mm512_setzero_ps()),
            };
            _mm512_storeu_si512(to.add(r * STEP).cast(), bf16s::<CPU_ROUNDS>(low, high));
        }
    }
}

/// One packed step of a strip from an `A` with contiguous columns (a transposed
/// matrix): for each 16 rows, the pairs of columns side by side, as 32-bit lanes of
/// a 16 x 16 matrix (pair by row), transposed into rows.
#[inline(always)]
unsafe fn pack_columns<const CPU_ROUNDS: bool>(
    o: &Operands,
    (i, p): (usize, usize),
    rows: usize,
    depth: usize,
    to: *mut u16,
) {
    for half in 0..2 {
        let mask = lanes(rows.saturating_sub(16 * half));
        // SAFETY: the masked rows of columns below p + depth are inside A.
        let column = |c: usize| unsafe {
            match c < depth {
                true => _mm512_maskz_loadu_ps(mask, o.a.wrapping_add((i + 16 * half) * o.a_rs + (p + c) * o.a_cs)),
                false => _mm512_setzero_ps(),
            }
        };
        // SAFETY (both): the callers are compiled for AVX-512F, and BF16 and BW when
        // `CPU_ROUNDS`.
        let by_pair: [__m512; 16] =
            std::array::from_fn(|q| unsafe { pairs::<CPU_ROUNDS>(column(2 * q), column(2 * q + 1)) });
        for (r, row) in unsafe { transpose16::registers(by_pair) }.into_iter().enumerate() {
            // SAFETY: row 16 * half + r of the packed step is inside `to`.
            unsafe { _mm512_storeu_ps(to.add((16 * half + r) * STEP).cast(), row) };
        }
    }
}

/// One packed step of a strip from an `A` with any strides, value by value.
unsafe fn pack_any(o: &Operands, (i, p): (usize, usize), rows: usize, depth: usize, to: *mut u16) {
    for r in 0..MR {
        for c in 0..STEP {
            let value = match r < rows && c < depth {
                // SAFETY: row i + r and column p + c are inside A.
                true => unsafe { *o.a.add((i + r) * o.a_rs + (p + c) * o.a_cs) },
                false => 0.0,
            };
            // SAFETY: the packed step holds MR x STEP values.
            unsafe { *to.add(r * STEP + c) = bf16(value) };
        }
    }
}

/// `x` rounded to bfloat16 (to nearest, ties to even), as [`rounded_high_halves`].
fn bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// The block of `C` one microkernel call computes: `rows x columns` of at most 32 x 32.
pub(super) struct CBlock {
    pub c: *mut f32,
    pub ldc: usize,
    pub rows: usize,
    pub columns: usize,
}

/// `C += strip x panel` (or `=` when `overwrite`) for one `32 x 32` block, `steps`
/// packed steps deep. A whole block is loaded and stored by the tiles in place; a
/// block at the edge of `C` goes through a 32 x 32 buffer.
#[target_feature(enable = "avx512f")]
unsafe fn microkernel(strip: *const u16, panel: *const u16, steps: usize, block: CBlock, overwrite: bool) {
    let whole = block.rows == MR && block.columns == NR;
    // Left uninitialized: only the block's own rows and columns are read back, and
    // those are written first (copied in, or zeroed by the tiles).
    let mut edge = std::mem::MaybeUninit::<EdgeBuffer>::uninit();
    let (c, ldc) = match whole {
        true => (block.c, block.ldc),
        false => (edge.as_mut_ptr().cast::<f32>(), NR),
    };
    // SAFETY: the block's rows and columns lie inside C; the strip and the panel hold
    // `steps` packed steps; the tiles are configured (by `matmul`) as 16 x 64 bytes.
    unsafe {
        if !whole && !overwrite {
            for r in 0..block.rows {
                std::ptr::copy_nonoverlapping(block.c.add(r * block.ldc), c.add(r * ldc), block.columns);
            }
        }
        asm!(
            "test {zero:e}, {zero:e}",
            "jz 2f",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "jmp 3f",
            "2:",
            "tileloadd tmm0, [{c} + {ldc}*1]",
            "tileloadd tmm1, [{c} + {ldc}*1 + 64]",
            "tileloadd tmm2, [{c16} + {ldc}*1]",
            "tileloadd tmm3, [{c16} + {ldc}*1 + 64]",
            "3:",
            // Each load as late as its first product allows, so that it overlaps the
            // products before it (the tiles are not renamed: a load waits for the
            // products that read the tile before).
            "tileloadd tmm4, [{a} + {row}*1]",
            "tileloadd tmm6, [{b} + {row}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b} + {row}*1 + 1024]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a} + {row}*1 + 1024]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a}, 2048",
            "add {b}, 2048",
            "dec {steps}",
            "jnz 3b",
            "tilestored [{c} + {ldc}*1], tmm0",
            "tilestored [{c} + {ldc}*1 + 64], tmm1",
            "tilestored [{c16} + {ldc}*1], tmm2",
            "tilestored [{c16} + {ldc}*1 + 64], tmm3",
            zero = in(reg) overwrite as u32,
            c = in(reg) c,
            c16 = in(reg) c.add(16 * ldc),
            ldc = in(reg) ldc * 4,
            row = in(reg) 64usize,
            a = inout(reg) strip => _,
            b = inout(reg) panel => _,
            steps = inout(reg) steps => _,
            options(nostack),
        );
        if !whole {
            for r in 0..block.rows {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), block.c.add(r * block.ldc), block.columns);
            }
        }
    }
}

#[repr(C, align(64))]
struct EdgeBuffer([f32; MR * NR]);

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU's conversion packs the same bits as the integer rounding, ties to even
    /// included, for `A` read by rows and by columns and for `B` (finite, normal
    /// values: the conversion takes subnormal inputs as zero, as `VDPBF16PS` does).
    #[test]
    fn both_roundings_pack_the_same_bits() {
        if !super::super::bf16_dot::available() {
            return;
        }
        let (m, n, k) = (40, 45, 70);
        // Every fourth value an exact tie between two bfloat16s, with even and odd last bits.
        let value = |i: usize| match i % 4 {
            0 => f32::from_bits(0x3F80_8000 + ((i as u32 / 4) % 2) * 0x1_0000),
            _ => ((i as f32 * 0.618_034).fract() - 0.5) * (1 + i % 7) as f32,
        };
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 1)).collect();
        for (a_rs, a_cs) in [(k, 1), (1, m)] {
            let o = Operands {
                m,
                n,
                k,
                a: a.as_ptr(),
                a_rs,
                a_cs,
                b: b.as_ptr(),
                ldb: n,
                c: std::ptr::null_mut(),
                ldc: n,
                accumulate: false,
            };
            let packed = |cpu_rounds: bool| {
                let mut out = vec![0u16; KC * NC + MC * KC];
                let (b_block, a_block) = out.split_at_mut(KC * NC);
                // SAFETY: the CPU has AVX-512 F, BW and BF16; the blocks hold what
                // each packing writes; the extents are inside the operands.
                unsafe {
                    match cpu_rounds {
                        true => {
                            pack_b::<true>(&o, 0, k, 0, n, b_block.as_mut_ptr());
                            pack_a::<true>(&o, 0, m, 0, k, a_block.as_mut_ptr());
                        }
                        false => {
                            pack_b::<false>(&o, 0, k, 0, n, b_block.as_mut_ptr());
                            pack_a::<false>(&o, 0, m, 0, k, a_block.as_mut_ptr());
                        }
                    }
                }
                out
            };
            assert_eq!(packed(true), packed(false), "A strides {a_rs}, {a_cs}");
        }
    }
}
