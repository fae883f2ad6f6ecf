//! `cargo bench -p my-model`: private and non-private steps of `Price` at three batch
//! sizes, in examples per second.

use dpsgd::bench::criterion::{Criterion, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    dpsgd::bench::bench_model::<my_model::Price<f32>>(c, "price", &[64, 256, 1024], 20_000, 20_000);
}

criterion_group!(price, benches);
criterion_main!(price);
