//! `cargo bench --bench noise`: the cost of noise per coordinate, the default Gaussian
//! against the secure (discrete Gaussian) noise at the depths it takes, on a vector
//! the size of the embedding net's gradient; and the timing check of the secure
//! sampler: the same number of draws from words that give zeros (the table's first
//! entry), the far tail (its last) and random values must take the same time.

use std::time::Duration;

use dpsgd::bench::criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dpsgd::runtime::rng::SecretKey;
use dpsgd::runtime::secure::SecureNoise;
use dpsgd::runtime::secure::sampler::draw_from;
use dpsgd::runtime::{GaussianNoise, NoiseSource};

/// The embedding net's parameters.
const COORDINATES: usize = 160_370;

fn noise_per_coordinate(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    group.throughput(Throughput::Elements(COORDINATES as u64));
    let mut gradient = vec![0f32; COORDINATES];
    let mut gaussian = GaussianNoise::insecure_reproducible(1);
    group.bench_function("gaussian", |b| b.iter(|| gaussian.add_noise(&mut gradient, 1.0)));
    let mut sums = vec![0i64; COORDINATES];
    for levels in [2, 3, 4] {
        let mut secure = SecureNoise::keyed(&SecretKey::insecure_from_seed(1), levels, 0);
        group.bench_with_input(BenchmarkId::new("secure", levels), &levels, |b, _| b.iter(|| secure.add_to(&mut sums)));
    }
    group.finish();
}

fn secure_timing_by_value(c: &mut Criterion) {
    const DRAWS: usize = 4096;
    const LEVELS: usize = 3;
    let words = |fill: &dyn Fn(usize) -> u64| (0..DRAWS * (2 * LEVELS + 1)).map(fill).collect::<Vec<u64>>();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let random = words(&|_| 0);
    let random: Vec<u64> = random
        .iter()
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .collect();
    let cases = [("zeros", words(&|_| 0)), ("far_tail", words(&|_| u64::MAX)), ("random", random)];
    let mut group = c.benchmark_group("secure_noise_timing");
    group.throughput(Throughput::Elements(DRAWS as u64));
    for (name, words) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| words.chunks_exact(2 * LEVELS + 1).map(|w| std::hint::black_box(draw_from(w))).sum::<i64>())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = noise_per_coordinate, secure_timing_by_value
}
criterion_main!(benches);
