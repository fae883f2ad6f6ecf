//! `cargo bench`: the paper's models and the CIFAR-10 net, private and non-private, at
//! the paper's batch sizes and 256, on random data of their datasets' shapes. For the
//! Adult models one iteration is one epoch (30162 examples in fixed-size batches), so
//! criterion's time is the time per epoch; for the others it is a few batches (1200
//! examples for the MNIST CNN, 6000 for the embedding net, 512 for the CIFAR-10 net and
//! the LSTM). The throughput is examples per second either way. Each configuration
//! also prints the memory its engine holds (activations, scratch, parameters and
//! optimizer state), which grows linearly with the batch.
//!
//! `cargo bench -- ffnn/private` runs one group; `dpsgd bench` measures a single
//! configuration the same way, with a JSON report.

use std::time::Duration;

use dpsgd::bench::criterion::{Criterion, criterion_group, criterion_main};
use dpsgd::bench::{ADULT_TRAIN_EXAMPLES, bench_model};
use dpsgd::models::{Cifar10Net, EmbeddingNet, Ffnn, LogisticRegression, LstmNet, MnistCnn};

const BATCH_SIZES: &[usize] = &[20, 40, 60, 80, 100, 120, 256];

fn paper_models(c: &mut Criterion) {
    // Steps run from the pool, as in the `dpsgd` binary (nothing has used the pool
    // yet; were it built already, steps would only be slower).
    let _ = dpsgd::runtime::train_on_this_thread();
    bench_model::<LogisticRegression<f32>>(c, "logreg", BATCH_SIZES, ADULT_TRAIN_EXAMPLES, ADULT_TRAIN_EXAMPLES);
    bench_model::<Ffnn<f32>>(c, "ffnn", BATCH_SIZES, ADULT_TRAIN_EXAMPLES, ADULT_TRAIN_EXAMPLES);
    bench_model::<MnistCnn<f32>>(c, "mnist_cnn", BATCH_SIZES, 6000, 1200);
    bench_model::<EmbeddingNet<f32>>(c, "embed", BATCH_SIZES, 6000, 6000);
    bench_model::<Cifar10Net<f32>>(c, "cifar10", BATCH_SIZES, 1024, 512);
    bench_model::<LstmNet<f32>>(c, "lstm", BATCH_SIZES, 1024, 512);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = paper_models
}
criterion_main!(benches);
