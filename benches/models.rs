//! `cargo bench`: the paper's Adult models, private and non-private, at the paper's
//! batch sizes. One iteration is one epoch of Adult's training split (30162 examples
//! in fixed-size batches on random data of its shape), so criterion's time is the time
//! per epoch and its throughput the examples per second.
//!
//! `cargo bench -- ffnn/private` runs one group; `dpsgd bench` measures a single
//! configuration the same way, with a JSON report.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dpsgd::bench::{ADULT_TRAIN_EXAMPLES, StepRunner};
use dpsgd::models::{Ffnn, LogisticRegression};
use dpsgd::runtime::PrivateModel;

const BATCH_SIZES: [usize; 6] = [20, 40, 60, 80, 100, 120];

fn bench_model<M: PrivateModel<f32>>(c: &mut Criterion, name: &str) {
    for (mode, private) in [("private", true), ("non_private", false)] {
        let mut group = c.benchmark_group(format!("{name}/{mode}"));
        group.throughput(Throughput::Elements(ADULT_TRAIN_EXAMPLES as u64));
        for batch_size in BATCH_SIZES {
            let mut runner = StepRunner::<M>::new(batch_size, private, ADULT_TRAIN_EXAMPLES).expect("valid settings");
            let steps = runner.steps_per_epoch(ADULT_TRAIN_EXAMPLES);
            group.bench_with_input(BenchmarkId::from_parameter(batch_size), &steps, |b, &steps| {
                b.iter(|| {
                    for _ in 0..steps {
                        runner.step();
                    }
                })
            });
        }
        group.finish();
    }
}

fn adult_models(c: &mut Criterion) {
    bench_model::<LogisticRegression<f32>>(c, "logreg");
    bench_model::<Ffnn<f32>>(c, "ffnn");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = adult_models
}
criterion_main!(benches);
