//! Standard normal draws by the ziggurat method of Marsaglia and Tsang (256 layers),
//! as `rand_distr` draws them, but from a buffer of random words at a time.
//!
//! Each draw takes one 64-bit word: its low 8 bits pick a layer `i`, its top 52 bits
//! a uniform `u` in `[-1, 1)`, and `x = u X[i]` is accepted at once when `|x| <
//! X[i+1]` (about 98.8% of draws). The rest take the wedge test or, in the base
//! layer, the tail algorithm, with more words from the stream; a draw they reject
//! starts over with a fresh word. So the draws have the exact distribution of the
//! method, tails included (beyond `R` = 3.654 by Marsaglia's tail algorithm, not
//! cut off). Words are taken in bulk, and the test every word takes (a multiply and
//! a compare) runs eight words at a time where the CPU has AVX-512, its result
//! handed on without a branch: the rejected few are set right afterwards.

use std::sync::OnceLock;

use super::chacha::ChaCha12;

/// The base layer's right edge.
const R: f64 = 3.654_152_885_361_009;
/// Layers.
const LAYERS: usize = 256;

/// `X[i]`: the right edge of layer `i` (`X[0] = V / f(R)` makes the base layer's
/// rectangle, with the tail, of area `V`; `X[256] = 0`), and `F[i] = f(X[i])` for
/// `f(x) = exp(-x^2 / 2)`.
struct Tables {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

fn density(x: f64) -> f64 {
    (-0.5 * x * x).exp()
}

/// The area `V` of each layer: the base rectangle `R f(R)` plus the tail beyond `R`
/// (Simpson's rule; the integrand is below 1e-60 past `R + 13`).
fn layer_area() -> f64 {
    let (n, width) = (1 << 14, 13.0);
    let h = width / n as f64;
    let tail = (0..=n)
        .map(|k| {
            let weight = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            weight * density(R + k as f64 * h)
        })
        .sum::<f64>()
        * h
        / 3.0;
    R * density(R) + tail
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let v = layer_area();
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / density(R);
        x[1] = R;
        // Each layer above has area `V`: `x[i] (f(x[i+1]) - f(x[i])) = V`.
        for i in 1..LAYERS - 1 {
            x[i + 1] = (-2.0 * (v / x[i] + density(x[i])).ln()).sqrt();
        }
        x[LAYERS] = 0.0;
        Tables { x, f: x.map(density) }
    })
}

/// Draws whose first words are taken before any rejected one is redrawn.
const WORDS: usize = 256;

/// Calls `apply(&mut out[j], z_j)` with standard normal draws `z_j` from `rng`, and
/// before it `apply(&mut out[j], 0.0)` for the few `j` whose first candidate is
/// rejected: `apply` must leave a value as it is when given 0, as writing the draw
/// or adding a multiple of it do.
///
/// Each group of up to `WORDS` draws takes one word each from the stream, read in
/// place; the few candidates rejected there are drawn again afterwards, in order,
/// from the words that follow the group.
pub fn fill<T>(rng: &mut ChaCha12, out: &mut [T], apply: impl Fn(&mut T, f64)) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd::has_avx512() {
        /// The same, `apply` compiled into its loop for AVX-512.
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn wide<T>(rng: &mut ChaCha12, out: &mut [T], apply: impl Fn(&mut T, f64)) {
            fill_with::<true, T>(rng, out, apply)
        }
        // SAFETY: the CPU has every feature `wide` was compiled for.
        return unsafe { wide(rng, out, apply) };
    }
    fill_with::<false, T>(rng, out, apply)
}

/// [`fill`], its first tests made eight words at a time when `WIDE` (the CPU has
/// AVX-512: checked once, by `fill`).
#[inline(always)]
fn fill_with<const WIDE: bool, T>(rng: &mut ChaCha12, out: &mut [T], apply: impl Fn(&mut T, f64)) {
    let tables = tables();
    // (place in the group, layer, candidate) of each rejected candidate.
    let mut rejected = [(0u16, 0u8, 0.0f64); WORDS];
    let mut first = FirstTests { accepted: [0.0; TAKE], rejected: [0; TAKE / 64] };
    for group in out.chunks_mut(WORDS) {
        let (mut taken, mut rejections) = (0, 0);
        while taken < group.len() {
            let words = rng.take((group.len() - taken).min(TAKE));
            first.run::<WIDE>(tables, words);
            // No branch per draw: about one in 85 is rejected, and set right below.
            group[taken..].iter_mut().zip(&first.accepted[..words.len()]).for_each(|(o, &z)| apply(o, z));
            for (k, &bits) in first.rejected.iter().enumerate() {
                let mut bits = bits;
                while bits != 0 {
                    let j = k * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let (i, x) = layer_and_x(tables, words[j]);
                    rejected[rejections] = ((taken + j) as u16, i as u8, x);
                    rejections += 1;
                }
            }
            taken += words.len();
        }
        for &(j, i, x) in &rejected[..rejections] {
            apply(&mut group[usize::from(j)], wedge_or_tail(tables, rng, usize::from(i), x));
        }
    }
}

/// Words whose first tests are made at once: at most what the stream's buffer holds.
const TAKE: usize = 128;

/// The part of a draw every word takes: the candidate `x_j = u_j X[i_j]` of word `j`
/// where it lies inside the layer above its own (`accepted[j]`, else 0), and the
/// places of those that do not (bit `j % 64` of `rejected[j / 64]`).
struct FirstTests {
    accepted: [f64; TAKE],
    rejected: [u64; TAKE / 64],
}

impl FirstTests {
    /// The tests of `words`, eight at a time when `WIDE` (the CPU has AVX-512).
    #[inline(always)]
    fn run<const WIDE: bool>(&mut self, tables: &Tables, words: &[u64]) {
        self.rejected = [0; TAKE / 64];
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            let whole = words.len() / 8 * 8;
            // SAFETY: `WIDE` only where the CPU has AVX-512F.
            unsafe { avx512::first_tests(tables, &words[..whole], &mut self.accepted, &mut self.rejected) };
            self.each(tables, words, whole);
            return;
        }
        self.each(tables, words, 0);
    }

    /// The tests of `words[from..]`, one at a time: the same arithmetic.
    fn each(&mut self, tables: &Tables, words: &[u64], from: usize) {
        for (j, &word) in words.iter().enumerate().skip(from) {
            let (i, x) = layer_and_x(tables, word);
            let inside = x.abs() < tables.x[i + 1];
            self.accepted[j] = if inside { x } else { 0.0 };
            self.rejected[j / 64] |= u64::from(!inside) << (j % 64);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{TAKE, Tables};

    /// [`FirstTests::each`](super::FirstTests::each) eight words at a time:
    /// `words.len()` a multiple of 8, `rejected` cleared.
    #[target_feature(enable = "avx512f")]
    pub fn first_tests(tables: &Tables, words: &[u64], accepted: &mut [f64; TAKE], rejected: &mut [u64; TAKE / 64]) {
        let (exponent, three) = (_mm512_set1_epi64(0x4000_0000_0000_0000), _mm512_set1_pd(3.0));
        for (c, (words, accepted)) in words.chunks_exact(8).zip(accepted.chunks_exact_mut(8)).enumerate() {
            // The layers' edges by scalar loads: the vector gathers took longer than
            // the rest of the test on Zen 5, and were barely faster on the Xeon.
            let (mut edge, mut above) = ([0.0f64; 8], [0.0f64; 8]);
            for ((w, e), a) in words.iter().zip(&mut edge).zip(&mut above) {
                let i = (w & 0xff) as usize;
                (*e, *a) = (tables.x[i], tables.x[i + 1]);
            }
            // SAFETY: each load and store reads or writes one array of 8.
            unsafe {
                let w = _mm512_loadu_si512(words.as_ptr().cast());
                let u =
                    _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64::<12>(w), exponent)), three);
                let candidate = _mm512_mul_pd(u, _mm512_loadu_pd(edge.as_ptr()));
                let inside =
                    _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(candidate), _mm512_loadu_pd(above.as_ptr()));
                _mm512_storeu_pd(accepted.as_mut_ptr(), _mm512_maskz_mov_pd(inside, candidate));
                rejected[c / 8] |= u64::from(!inside) << (c % 8 * 8);
            }
        }
    }
}

/// The layer and the candidate `x = u X[i]` of one word.
#[inline(always)]
fn layer_and_x(tables: &Tables, word: u64) -> (usize, f64) {
    // The top 52 bits as the mantissa of a value in [2, 4), shifted to [-1, 1).
    let u = f64::from_bits(0x4000_0000_0000_0000 | (word >> 12)) - 3.0;
    let i = (word & 0xff) as usize;
    (i, u * tables.x[i])
}

/// The draw for a candidate `x` in layer `i` that lies outside the layer above:
/// the tail for the base layer, else `x` if a uniform point over it falls under the
/// density, else a fresh draw.
#[cold]
fn wedge_or_tail(tables: &Tables, rng: &mut ChaCha12, mut i: usize, mut x: f64) -> f64 {
    loop {
        if i == 0 {
            return tail(rng, x < 0.0);
        }
        if tables.f[i + 1] + (tables.f[i] - tables.f[i + 1]) * uniform01(rng) < density(x) {
            return x;
        }
        (i, x) = layer_and_x(tables, rng.next_u64());
        if x.abs() < tables.x[i + 1] {
            return x;
        }
    }
}

/// A draw beyond `R` (Marsaglia 1964): `R + e1 / R` for exponentials `e1`, `e2`,
/// accepted when `2 e2 >= e1^2 / R^2`.
fn tail(rng: &mut ChaCha12, negative: bool) -> f64 {
    loop {
        let beyond = -open01(rng).ln() / R;
        let e2 = -open01(rng).ln();
        if 2.0 * e2 >= beyond * beyond {
            return if negative { -(R + beyond) } else { R + beyond };
        }
    }
}

/// A uniform in `[0, 1)`, in steps of `2^-53`.
fn uniform01(rng: &mut ChaCha12) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform in `(0, 1)`: never 0, so its logarithm is finite.
fn open01(rng: &mut ChaCha12) -> f64 {
    f64::from_bits(0x3ff0_0000_0000_0000 | (rng.next_u64() >> 12)) - (1.0 - f64::EPSILON / 2.0)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    #[test]
    fn tables_have_layers_of_equal_area() {
        let (t, v) = (tables(), layer_area());
        // Marsaglia and Tsang's published figures for 256 layers.
        assert!((v - 4.928_673_233_99e-3).abs() < 1e-13, "{v}");
        assert!((t.x[0] - 3.910_757_959_525).abs() < 1e-11, "{}", t.x[0]);
        for i in 1..LAYERS {
            let area = t.x[i] * (t.f[i + 1] - t.f[i]);
            assert!((area - v).abs() < 1e-9 * v, "layer {i}: {area} against {v}");
        }
        assert!(t.x.windows(2).all(|w| w[0] > w[1]));
    }

    /// Sorted draws of each, and the largest gap between their empirical CDFs (the
    /// two-sample Kolmogorov-Smirnov statistic).
    fn ks_distance(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (mut i, mut j, mut d) = (0, 0, 0.0f64);
        while i < a.len() && j < b.len() {
            if a[i] <= b[j] {
                i += 1
            } else {
                j += 1
            }
            d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
        }
        d
    }

    #[test]
    fn draws_follow_the_same_distribution_as_rand_distr_tails_included() {
        let n = 400_000;
        let mut ours = vec![0.0; n];
        fill(&mut ChaCha12::at(&ChaCha12Rng::seed_from_u64(11), 0), &mut ours, |o, z| *o = z);
        let mut rng = ChaCha12Rng::seed_from_u64(12);
        let reference: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        // Critical value at the 0.1% level: 1.95 sqrt(2 / n).
        let d = ks_distance(ours.clone(), reference);
        assert!(d < 1.95 * (2.0 / n as f64).sqrt(), "KS distance {d}");
        // Beyond the base layer's edge R, by the tail algorithm: P(|z| > R) = 2.58e-4,
        // about 103 of these draws; P(|z| > 3) = 2.70e-3.
        let beyond = |c: f64| ours.iter().filter(|z| z.abs() > c).count() as f64 / n as f64;
        assert!((beyond(3.0) - 2.70e-3).abs() < 0.3e-3, "{}", beyond(3.0));
        assert!((beyond(R) * n as f64 - 103.3).abs() < 40.0, "{}", beyond(R) * n as f64);
        assert!(ours.iter().any(|z| *z > R) && ours.iter().any(|z| *z < -R));
        let mean = ours.iter().sum::<f64>() / n as f64;
        let var = ours.iter().map(|z| z * z).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.006 && (var - 1.0).abs() < 0.01, "{mean} {var}");
    }

    /// The ziggurat one draw at a time, a branch per draw, as `fill` first was: the
    /// same draws, hence the values `fill` must give.
    fn fill_one_at_a_time(rng: &mut ChaCha12, out: &mut [f64]) {
        let tables = tables();
        for group in out.chunks_mut(WORDS) {
            let mut rejected = Vec::new();
            for (j, o) in group.iter_mut().enumerate() {
                let (i, x) = layer_and_x(tables, rng.next_u64());
                match x.abs() < tables.x[i + 1] {
                    true => *o = x,
                    false => rejected.push((j, i, x)),
                }
            }
            for (j, i, x) in rejected {
                group[j] = wedge_or_tail(tables, rng, i, x);
            }
        }
    }

    #[test]
    fn draws_are_those_of_one_at_a_time_written_or_added() {
        let stream = ChaCha12Rng::seed_from_u64(3);
        // Groups cut short, words taken across the stream's buffers, odd tails.
        for len in [1, 7, 9, 127, 129, 255, 256, 1000, 4096 + 13] {
            let mut want = vec![0.0; len];
            fill_one_at_a_time(&mut ChaCha12::at(&stream, 6), &mut want);
            let mut written = vec![f64::NAN; len];
            fill(&mut ChaCha12::at(&stream, 6), &mut written, |o, z| *o = z);
            assert!(written.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "written, length {len}");
            // Rejected places are given 0 first: adding it must change nothing.
            let start: Vec<f64> = (0..len).map(|j| 1.0 + j as f64).collect();
            let mut added = start.clone();
            fill(&mut ChaCha12::at(&stream, 6), &mut added, |o, z| *o += 0.5 * z);
            let want: Vec<f64> = start.iter().zip(&want).map(|(s, z)| s + 0.5 * z).collect();
            assert_eq!(added, want, "added, length {len}");
        }
    }

    #[test]
    fn tail_draws_follow_the_conditional_normal() {
        // P(z > R + 0.5 | z > R) for the standard normal is 0.1265.
        let mut rng = ChaCha12::at(&ChaCha12Rng::seed_from_u64(5), 0);
        let n = 100_000;
        let draws: Vec<f64> = (0..n).map(|_| tail(&mut rng, false)).collect();
        assert!(draws.iter().all(|z| *z > R));
        let share = draws.iter().filter(|z| **z > R + 0.5).count() as f64 / n as f64;
        assert!((share - 0.1265).abs() < 0.005, "{share}");
    }
}
