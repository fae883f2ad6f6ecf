//! The f32 multiply-add peak of the machine at hand, measured rather than looked up:
//! machines of one name differ (the same two cores run 229 GFLOP/s on a Zen 4 and 423
//! on a Xeon with two AVX-512 FMA ports), and a kernel's efficiency is only a figure
//! against the peak of the machine that ran it.
//!
//! Every thread of the rayon pool runs the same loop at once: independent chains of
//! fused multiply-adds on the widest vectors the CPU has (AVX-512, else AVX2, else
//! whatever the compiler makes of plain `mul_add`), enough of them to cover the
//! latency of every FMA port. Flops are counted as two per lane per FMA.

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulators per thread: FMA latency (4 cycles) times two ports, three
/// times over, so that no port waits on a result.
const CHAINS: usize = 24;

/// What [`f32_peak`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    /// GFLOP/s of all threads together (their flops over the slowest thread's time).
    pub gflops: f64,
    /// The threads that ran at once.
    pub threads: usize,
    /// Vector width used, in f32 lanes (16 for AVX-512, 8 for AVX2, 1 otherwise).
    pub lanes: usize,
}

/// Measures the f32 FMA peak on every thread of the current rayon pool at once: the
/// best of `repeats` runs, each at least `min_seconds` long.
pub fn f32_peak(min_seconds: f64, repeats: usize) -> Peak {
    let lanes = lanes();
    // Each thread's seconds for `iterations` steps of CHAINS vector FMAs.
    let run = |iterations: usize| {
        rayon::broadcast(|_| {
            let start = Instant::now();
            black_box(fma_chains(black_box(1.0 - 1e-7), black_box(1e-7), iterations));
            start.elapsed().as_secs_f64()
        })
    };
    let mut iterations = 1 << 12;
    while run(iterations).into_iter().fold(0.0, f64::max) < min_seconds {
        iterations *= 2;
    }
    let mut best: f64 = 0.0;
    let mut threads = 0;
    for _ in 0..repeats.max(1) {
        let seconds = run(iterations);
        threads = seconds.len();
        let slowest = seconds.into_iter().fold(0.0, f64::max);
        let flops = (threads * iterations * CHAINS * lanes * 2) as f64;
        best = best.max(flops / slowest / 1e9);
    }
    Peak { gflops: best, threads, lanes }
}

fn lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::kernels::simd::has_avx512() {
            return 16;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return 8;
        }
    }
    1
}

/// Runs `iterations` of `acc = acc * a + b` on [`CHAINS`] vectors (of [`lanes`] lanes)
/// from `acc = 0` and returns their sum over every chain and lane, so that no step can
/// be left out.
fn fma_chains(a: f32, b: f32, iterations: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    match lanes() {
        // SAFETY: the features were detected.
        16 => return unsafe { x86::avx512(a, b, iterations) },
        // SAFETY: as above.
        8 => return unsafe { x86::avx2(a, b, iterations) },
        _ => {}
    }
    let mut acc = [0.0f32; CHAINS];
    for _ in 0..iterations {
        for v in &mut acc {
            *v = v.mul_add(a, b);
        }
    }
    acc.iter().map(|&v| f64::from(v)).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::CHAINS;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(a: f32, b: f32, iterations: usize) -> f64 {
        let (va, vb) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, va, vb);
            }
        }
        acc.iter().map(|&v| f64::from(_mm512_reduce_add_ps(v))).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(a: f32, b: f32, iterations: usize) -> f64 {
        let (va, vb) = (_mm256_set1_ps(a), _mm256_set1_ps(b));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, va, vb);
            }
        }
        // SAFETY: a vector of eight floats is eight floats.
        let lanes = acc.map(|v| unsafe { std::mem::transmute::<__m256, [f32; 8]>(v) });
        lanes.iter().flatten().map(|&x| f64::from(x)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop does every multiply-add it counts: its chains end where the recurrence
    /// `acc = acc a + b` from 0 ends after `n` steps, `b (1 - a^n) / (1 - a)`, on every
    /// lane (a loop that skipped steps, or chains the compiler folded away, would not).
    #[test]
    fn the_chains_compute_the_recurrence() {
        let (a, b, n) = (0.999f32, 0.5f32, 3000);
        let one = f64::from(b) * (1.0 - f64::from(a).powi(n as i32)) / (1.0 - f64::from(a));
        let got = fma_chains(a, b, n);
        let want = one * (CHAINS * lanes()) as f64;
        assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
    }

    #[test]
    fn the_peak_is_a_positive_rate_over_the_pool() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let peak = pool.install(|| f32_peak(0.001, 2));
        assert_eq!(peak.threads, 2);
        assert!(peak.gflops.is_finite() && peak.gflops > 0.0, "{peak:?}");
    }
}
