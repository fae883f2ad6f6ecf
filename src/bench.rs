//! The throughput measurement behind `cargo bench` and `dpsgd bench`: steps of a model
//! at a fixed batch size on synthetic data of its dataset's shape, private or not.
//!
//! The data are what training on `--dataset synthetic` sees: features (or Zipf-drawn
//! token ids) labelled by a random linear teacher, with a tenth of the labels wrong as
//! in real data. Labels drawn at random instead left the model only noise to memorize:
//! its logits grew, their gradients fell into subnormal floats, and the steps slowed
//! as they went (the feed-forward net at batch 20, non-private: 0.44-2.6M examples/s
//! within one benchmark). The losses now flush such gradients to zero as well
//! (`kernels::loss`), so a model that fits its data keeps its speed.
//! The report gives the loss of the last step timed and refuses a non-finite one.
//!
//! [`bench_model`] is `cargo bench` for any model, a user's included: a `benches/`
//! file of a few lines (criterion is re-exported, so it needs no dependency of its own):
//!
//! ```no_run
//! use dpsgd::bench::criterion::{Criterion, criterion_group, criterion_main};
//! use dpsgd::prelude::*;
//!
//! #[private_model(loss = softmax_cross_entropy)]
//! mod my_net {
//!     pub struct MyNet {
//!         fc1: Linear<20, 64>,
//!         fc2: Linear<64, 4>,
//!     }
//!
//!     impl MyNet {
//!         pub fn forward(&self, x: Input<20>) -> Logits<4> {
//!             self.fc2(tanh(self.fc1(x)))
//!         }
//!     }
//! }
//!
//! fn benches(c: &mut Criterion) {
//!     // Batches of 20, 64 and 256 from 10,000 random examples; 2,000 per iteration.
//!     dpsgd::bench::bench_model::<my_net::MyNet<f32>>(c, "my_net", &[20, 64, 256], 10_000, 2_000);
//! }
//! criterion_group!(my_benches, benches);
//! criterion_main!(my_benches);
//! ```
//!
//! (with `[[bench]] name = "my_net" harness = false` in `Cargo.toml`).

use std::time::Instant;

use dpsgd_runtime::data::TargetData;
use dpsgd_runtime::data::synthetic::teacher;
use dpsgd_runtime::engine::{CpuEngine, Engine};
use dpsgd_runtime::gemm::Products;
use dpsgd_runtime::rng::{SecretKey, Stream, stream};
use dpsgd_runtime::secure::SecureNoiseConfig;
use dpsgd_runtime::train::{Optimizer, Privacy, SecureStep, batch_gradient, noisy_update};
use dpsgd_runtime::{Dataset, Error, Loss, PrivateModel, Result};
use rand::RngExt;

use crate::Device;
pub use criterion;
use criterion::{BenchmarkId, Criterion, Throughput};

/// Training examples of Adult, the dataset of the models benchmarked here: one epoch
/// is this many examples.
pub const ADULT_TRAIN_EXAMPLES: usize = 30162;

/// The paper's clipping norm C of the steps timed.
pub const MAX_GRAD_NORM: f64 = 1.0;
/// The paper's noise multiplier sigma of the steps timed.
pub const NOISE_MULTIPLIER: f64 = 1.1;
/// The paper's learning rate of the steps timed.
pub const LEARNING_RATE: f64 = 0.15;

/// What kind of step to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// An ordinary step: the batch's mean gradient, no clipping, no noise.
    NonPrivate,
    /// With the default (floating-point) noise.
    Private,
    /// With floating-point-safe noise (`train --secure-noise`).
    PrivateSecureNoise,
}

/// Steps of one model on one batch size, cycling over consecutive batches of a fixed
/// random dataset, as the peer benchmarks do.
pub struct StepRunner<M: PrivateModel<f32>, E: Engine<f32> = CpuEngine<f32>> {
    engine: E,
    data: Dataset<f32>,
    /// Only when timing private steps with the default noise.
    noise: Option<Box<E::Noise>>,
    /// Only when timing private steps with secure noise.
    secure: Option<SecureStep<f32>>,
    batch_size: usize,
    next_row: usize,
    rows: Vec<usize>,
    _model: std::marker::PhantomData<M>,
}

/// A tenth of the benchmark's class labels (and 0/1 labels) are wrong, as in real data
/// (a tenth to a sixth of Adult's are beyond any model): without them the teacher's
/// labels are separable, a non-private model fits them, and its logits grow without
/// bound, unlike training's.
const WRONG_LABELS: f64 = 0.1;

/// `examples` synthetic examples of the model's input shape, labelled by the random
/// linear teacher of `--dataset synthetic` (seed 0), a tenth of the labels wrong.
fn bench_dataset<M: PrivateModel<f32>>(batch_size: usize, examples: usize) -> Result<Dataset<f32>> {
    if batch_size == 0 || batch_size > examples {
        return Err(Error::Config(format!("the batch size must lie in 1..={examples}, got {batch_size}")));
    }
    let clean = teacher::<f32>(&M::SPEC, examples, 0, 0)?;
    let mut rng = stream(0, Stream::Data);
    let targets = match clean.targets().to_owned() {
        TargetData::Classes(mut labels) => {
            let classes = M::SPEC.num_classes() as u32;
            for label in &mut labels {
                if rng.random_bool(WRONG_LABELS) {
                    *label = (*label + rng.random_range(1..classes)) % classes;
                }
            }
            TargetData::Classes(labels)
        }
        TargetData::Values(mut values) if M::SPEC.loss == Loss::MultilabelBinaryLogistic => {
            values.mapv_inplace(|y| if rng.random_bool(WRONG_LABELS) { 1.0 - y } else { y });
            TargetData::Values(values)
        }
        regression => regression,
    };
    Dataset::new(clean.features().to_owned(), targets)
}

impl<M: PrivateModel<f32>> StepRunner<M> {
    /// Steps on the CPU.
    pub fn new(batch_size: usize, kind: StepKind, examples: usize) -> Result<Self> {
        let data = bench_dataset::<M>(batch_size, examples)?;
        let physical = match kind {
            StepKind::PrivateSecureNoise => Some(SecureStep::<f32>::physical_batch(&M::SPEC, None)),
            _ => CpuEngine::<f32>::default_physical_batch(&M::SPEC),
        };
        let capacity = physical.map_or(batch_size, |p| p.min(batch_size));
        let engine = CpuEngine::new(M::SPEC, M::init(0).params(), capacity);
        StepRunner::on_engine(engine, kind, data, batch_size)
    }

    /// Bytes the engine holds: the step's working memory, which grows with the batch.
    pub fn engine_bytes(&self) -> usize {
        self.engine.allocated_bytes()
    }
}

#[cfg(feature = "cuda")]
impl<M: PrivateModel<f32>> StepRunner<M, dpsgd_runtime::cuda::CudaEngine<f32>> {
    /// Steps on the first GPU.
    pub fn on_gpu(batch_size: usize, kind: StepKind, examples: usize) -> Result<Self> {
        use dpsgd_runtime::cuda::{CudaDevice, CudaEngine};
        let data = bench_dataset::<M>(batch_size, examples)?;
        let engine = CudaEngine::new(CudaDevice::open(0)?, M::SPEC, M::init(0).params(), batch_size)?;
        StepRunner::on_engine(engine, kind, data, batch_size)
    }
}

impl<M: PrivateModel<f32>, E: Engine<f32>> StepRunner<M, E> {
    /// Private steps draw their noise as training does, under a secret key.
    fn on_engine(mut engine: E, kind: StepKind, data: Dataset<f32>, batch_size: usize) -> Result<Self> {
        let key = (kind != StepKind::NonPrivate).then(SecretKey::from_os).transpose()?;
        let (mut noise, mut secure) = (None, None);
        match (kind, key) {
            (StepKind::Private, Some(key)) => {
                noise = Some(engine.noise_source(&key, batch_size as f64, 0, bench_optimizer().is_plain_sgd()))
            }
            (StepKind::PrivateSecureNoise, Some(key)) => {
                let privacy = bench_privacy().with_secure_noise(SecureNoiseConfig::default());
                secure = Some(SecureStep::new(&M::SPEC, &privacy, &key, 0)?);
            }
            _ => {}
        }
        Ok(StepRunner {
            engine,
            data,
            noise,
            secure,
            batch_size,
            next_row: 0,
            rows: Vec::with_capacity(batch_size),
            _model: std::marker::PhantomData,
        })
    }

    /// Queues one training step on the next batch (the loss is not read back, so an
    /// asynchronous engine may still be running it: see [`finish`](Self::finish)).
    pub fn step(&mut self) {
        let n = self.data.len();
        if self.next_row + self.batch_size > n {
            self.next_row = 0;
        }
        self.rows.clear();
        self.rows.extend(self.next_row..self.next_row + self.batch_size);
        self.next_row += self.batch_size;
        let sgd = bench_optimizer();
        if let Some(secure) = &mut self.secure {
            secure.step::<M, E>(&mut self.engine, &self.data, &self.rows, None, self.batch_size as f64, &sgd, 0);
            return;
        }
        let privacy = bench_privacy();
        let private = self.noise.is_some().then_some(&privacy);
        // The engine's default physical batches, as in training.
        let physical = E::default_physical_batch(&M::SPEC);
        batch_gradient::<f32, M, E>(&mut self.engine, &self.data, &self.rows, physical, private);
        match &mut self.noise {
            Some(noise) => noisy_update(&mut self.engine, &mut **noise, &privacy, self.batch_size as f64, &sgd, 0),
            None => {
                self.engine.scale_grads(1.0 / self.batch_size as f32);
                sgd.apply(&mut self.engine, 0);
            }
        }
    }

    /// The mean loss of the last step's examples (of its last physical batch, where it
    /// had several): a read from the engine, which waits for the queued steps.
    pub fn last_loss(&self) -> f64 {
        let rows = self.engine.batch_size().max(1);
        f64::from(self.engine.sum(M::SPEC.losses)) / rows as f64
    }

    /// Waits for the queued steps; errors if the device failed.
    pub fn finish(&self) -> Result<()> {
        self.engine.synchronize();
        self.engine.status()
    }

    /// Steps in one epoch of `examples` examples (the last partial batch counts whole).
    pub fn steps_per_epoch(&self, examples: usize) -> usize {
        examples.div_ceil(self.batch_size)
    }
}

/// Registers `M`'s private and non-private training steps at each of `batch_sizes`
/// with criterion, as the groups `{name}/private` and `{name}/non_private`, their
/// throughput in examples per second. One iteration is `examples` examples' worth of
/// steps (consecutive batches of a random dataset of `dataset` examples of the model's
/// shape); private steps draw their noise under a secret key, as training does. Each
/// configuration also prints the memory its engine holds.
///
/// # Panics
///
/// When a batch size is 0 or larger than `dataset`.
pub fn bench_model<M: PrivateModel<f32>>(
    c: &mut Criterion,
    name: &str,
    batch_sizes: &[usize],
    dataset: usize,
    examples: usize,
) {
    for (mode, kind) in [("private", StepKind::Private), ("non_private", StepKind::NonPrivate)] {
        let mut group = c.benchmark_group(format!("{name}/{mode}"));
        for &batch_size in batch_sizes {
            let mut runner = StepRunner::<M>::new(batch_size, kind, dataset)
                .unwrap_or_else(|e| panic!("benchmarking {name} at batch {batch_size}: {e}"));
            let steps = runner.steps_per_epoch(examples);
            group.throughput(Throughput::Elements((steps * batch_size) as u64));
            group.bench_with_input(BenchmarkId::from_parameter(batch_size), &steps, |b, &steps| {
                b.iter(|| {
                    for _ in 0..steps {
                        runner.step();
                    }
                })
            });
            let mib = runner.engine_bytes() as f64 / (1 << 20) as f64;
            eprintln!("{name}/{mode}/{batch_size}: the engine holds {mib:.1} MiB");
        }
        group.finish();
    }
}

/// Plain SGD at the benchmark's learning rate.
fn bench_optimizer() -> Optimizer {
    Optimizer::sgd(LEARNING_RATE, 0.0).expect("valid settings")
}

/// The paper's private settings.
fn bench_privacy() -> Privacy {
    Privacy::new(NOISE_MULTIPLIER, MAX_GRAD_NORM).expect("valid settings")
}

/// Minimum, median and maximum of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle value (the mean of the two middle values of an even sample).
    pub median: f64,
    /// The least value.
    pub min: f64,
    /// The greatest value.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`; NaN for an empty sample.
    pub fn of(values: &[f64]) -> Summary {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Summary { median, min: v.first().copied().unwrap_or(f64::NAN), max: v.last().copied().unwrap_or(f64::NAN) }
    }
}

/// What `dpsgd bench` measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// How the CPU engine's products treated their operands (`Bf16` only where the
    /// CPU has AMX or AVX-512 BF16).
    pub products: Products,
    /// The model's name (`ModelSpec::name`).
    pub model: String,
    /// `cpu`, or the GPU's name.
    pub device: String,
    /// Trainable parameters of the model.
    pub params: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// The kind of step timed.
    pub kind: StepKind,
    /// CPU threads of the pool the steps ran on.
    pub threads: usize,
    /// Timed repeats.
    pub repeats: usize,
    /// Steps in each timed repeat.
    pub steps_per_repeat: usize,
    /// Examples per second over the repeats.
    pub examples_per_second: Summary,
    /// Seconds for one epoch of `epoch_examples`, from the median throughput.
    pub epoch_seconds: f64,
    /// Examples in the epoch `epoch_seconds` is for (the model's training set).
    pub epoch_examples: usize,
    /// The process's peak resident memory, where the OS reports it.
    pub peak_memory_bytes: Option<u64>,
    /// The mean loss of the last step timed (finite: a measurement whose loss is not
    /// is refused).
    pub final_loss: f64,
}

impl BenchReport {
    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        let s = &self.examples_per_second;
        let memory = self.peak_memory_bytes.map_or("null".to_string(), |b| b.to_string());
        format!(
            concat!(
                "{{\"model\":\"{}\",\"device\":\"{}\",\"params\":{},\"batch_size\":{},\"private\":{},\"secure_noise\":{},\"threads\":{},",
                "\"repeats\":{},\"steps_per_repeat\":{},\"examples_per_second\":{{\"median\":{:.1},\"min\":{:.1},\"max\":{:.1}}},",
                "\"epoch_seconds\":{:.6},\"epoch_examples\":{},\"peak_memory_bytes\":{},\"final_loss\":{:.6},\"products\":\"{}\"}}"
            ),
            self.model,
            self.device,
            self.params,
            self.batch_size,
            self.kind != StepKind::NonPrivate,
            self.kind == StepKind::PrivateSecureNoise,
            self.threads,
            self.repeats,
            self.steps_per_repeat,
            s.median,
            s.min,
            s.max,
            self.epoch_seconds,
            self.epoch_examples,
            memory,
            self.final_loss,
            self.products.name()
        )
    }
}

/// How long to measure: warm-up for `warmup_seconds`, then `repeats` timed runs of at
/// least `min_seconds` each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Timed repeats; their median, minimum and maximum are reported.
    pub repeats: usize,
    /// Seconds each timed repeat lasts at least (whole steps).
    pub min_seconds: f64,
    /// Seconds of untimed steps first (caches, allocations, the CPU's clock).
    pub warmup_seconds: f64,
}

/// Random examples the benchmarks cycle over: the dataset's size, up to this many.
const MAX_BENCH_EXAMPLES: usize = 10_000;

/// Examples per second of `M`'s training steps at `batch_size` on `device`; an epoch is
/// `epoch_examples` (the model's training set). `products` is the CPU engine's
/// ([`CpuEngine::set_products`]).
pub fn measure<M: PrivateModel<f32>>(
    device: Device,
    batch_size: usize,
    kind: StepKind,
    timing: Timing,
    epoch_examples: usize,
    products: Products,
) -> Result<BenchReport> {
    if timing.repeats == 0 || timing.min_seconds.is_nan() || timing.min_seconds <= 0.0 {
        return Err(Error::Config("give at least one repeat of a positive duration".into()));
    }
    match device {
        Device::Cpu => {
            let mut runner = StepRunner::<M>::new(batch_size, kind, bench_examples(batch_size, epoch_examples))?;
            runner.engine.set_products(products);
            let ran = ("cpu".into(), products.effective());
            measure_runner(runner, ran, batch_size, kind, timing, epoch_examples)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            let runner = StepRunner::<M, _>::on_gpu(batch_size, kind, bench_examples(batch_size, epoch_examples))?;
            let name = runner.engine.device_name().to_string();
            measure_runner(runner, (name, Products::F32), batch_size, kind, timing, epoch_examples)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => Err(Device::cuda_not_built()),
    }
}

fn bench_examples(batch_size: usize, epoch_examples: usize) -> usize {
    epoch_examples.min(MAX_BENCH_EXAMPLES.max(batch_size))
}

/// Times `runner`'s steps; `(device, products)` says what they ran on.
fn measure_runner<M: PrivateModel<f32>, E: Engine<f32>>(
    mut runner: StepRunner<M, E>,
    (device, products): (String, Products),
    batch_size: usize,
    kind: StepKind,
    timing: Timing,
    epoch_examples: usize,
) -> Result<BenchReport> {
    // Warm up, and learn how many steps fill `min_seconds`.
    let start = Instant::now();
    let mut steps = 0usize;
    while steps < 3 || start.elapsed().as_secs_f64() < timing.warmup_seconds {
        runner.step();
        steps += 1;
        if steps.is_multiple_of(64) {
            runner.finish()?;
        }
    }
    runner.finish()?;
    let per_step = start.elapsed().as_secs_f64() / steps as f64;
    let steps_per_repeat = ((timing.min_seconds / per_step).ceil() as usize).max(1);
    let mut throughputs = Vec::with_capacity(timing.repeats);
    for _ in 0..timing.repeats {
        let start = Instant::now();
        for _ in 0..steps_per_repeat {
            runner.step();
        }
        runner.finish()?;
        throughputs.push((steps_per_repeat * batch_size) as f64 / start.elapsed().as_secs_f64());
    }
    let final_loss = runner.last_loss();
    if !final_loss.is_finite() {
        return Err(Error::Diverged(format!(
            "the steps timed ended at a loss of {final_loss}: a benchmark of diverged steps measures nothing"
        )));
    }
    let examples_per_second = Summary::of(&throughputs);
    Ok(BenchReport {
        model: M::SPEC.name.to_string(),
        device,
        params: M::SPEC.num_params,
        batch_size,
        kind,
        threads: rayon::current_num_threads(),
        repeats: timing.repeats,
        steps_per_repeat,
        examples_per_second,
        epoch_seconds: epoch_examples as f64 / examples_per_second.median,
        epoch_examples,
        peak_memory_bytes: peak_memory_bytes(),
        final_loss,
        products,
    })
}

/// Peak resident set size of this process (Linux `VmHWM`).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
