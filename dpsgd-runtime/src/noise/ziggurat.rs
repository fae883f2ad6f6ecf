//! Standard normal draws by the ziggurat method of Marsaglia and Tsang (256 layers),
//! as `rand_distr` draws them, but from a buffer of random words at a time.
//!
//! Each draw takes one 64-bit word: its low 8 bits pick a layer `i`, its top 52 bits
//! a uniform `u` in `[-1, 1)`, and `x = u X[i]` is accepted at once when `|x| <
//! X[i+1]` (about 98.8% of draws). The rest take the wedge test or, in the base
//! layer, the tail algorithm, with more words from the stream; a draw they reject
//! starts over with a fresh word. So the draws have the exact distribution of the
//! method, tails included (beyond `R` = 3.654 by Marsaglia's tail algorithm, not
//! cut off). Words are taken in bulk, and the accept test is a multiply and a
//! compare in a tight loop: the per-draw cost of a generator call is gone.

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

/// Calls `apply(&mut out[j], z_j)` with standard normal draws `z_j` from `rng`.
///
/// Each group of up to `WORDS` draws takes one word each from the stream, read in
/// place; the few candidates rejected there are drawn again afterwards, in order,
/// from the words that follow the group.
pub fn fill<T>(rng: &mut ChaCha12, out: &mut [T], apply: impl Fn(&mut T, f64)) {
    let tables = tables();
    // (place in the group, layer, candidate) of each rejected candidate.
    let mut rejected = [(0u16, 0u8, 0.0f64); WORDS];
    for group in out.chunks_mut(WORDS) {
        let (mut taken, mut rejections) = (0, 0);
        while taken < group.len() {
            let words = rng.take(group.len() - taken);
            for (j, (o, &word)) in group[taken..].iter_mut().zip(words).enumerate() {
                let (i, x) = layer_and_x(tables, word);
                // A branch, not a select: it goes the same way 98.8% of the time, and a
                // vectorized version (gathers from the tables) measured slower.
                if x.abs() < tables.x[i + 1] {
                    apply(o, x);
                } else {
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
