//! The CUDA engine against the CPU engine, a finite-difference check on the GPU, the
//! device noise, and training end to end. Where no GPU can be used, each test prints
//! why it was skipped and passes; opening a device must then be an error, not a panic.
#![cfg(feature = "cuda")]

mod common;

use dpsgd::prelude::*;
use dpsgd::runtime::GaussianNoise;
use dpsgd::runtime::cuda::{CudaDevice, CudaEngine, CudaFloat, DeviceNoise, cuda_available};
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::ndarray::ArrayView2;
use dpsgd::runtime::train::{Trainer, batch_capacity, clipped_gradient, noisy_update, private_step, train_with};

/// The first GPU, or `None` with the reason printed.
fn gpu() -> Option<CudaDevice> {
    match cuda_available().and_then(|()| CudaDevice::open(0)) {
        Ok(device) => Some(device),
        Err(e) => {
            eprintln!("skipped, no usable GPU: {e}");
            None
        }
    }
}

#[test]
fn opening_a_gpu_where_there_is_none_is_an_error() {
    if let Err(reason) = cuda_available() {
        let opened = CudaDevice::open(0);
        assert!(matches!(opened, Err(Error::Device(_))), "{reason}");
        eprintln!("no GPU here, as expected: {reason}");
    }
}

/// Dense layers after a pooling of the input image: no parametrized layer the GPU
/// lacks, but an operation it lacks.
#[private_model(loss = softmax_cross_entropy)]
pub mod pooled_dense {
    pub struct PooledDense {
        fc: Linear<4, 2>,
    }

    impl PooledDense {
        pub fn forward(&self, x: Image<1, 4, 4>) -> Logits<2> {
            self.fc(flatten(max_pool2d(x, 2, 2)))
        }
    }
}

/// The engine refuses a model with a layer or an operation it cannot run when it is
/// made, naming it, instead of failing at the first step (a check made before the
/// device is touched, so it runs without a GPU).
#[test]
fn models_the_gpu_cannot_run_are_refused_by_name() {
    use dpsgd::models::{EmbeddingNet, Ffnn, LstmNet, MnistCnn};
    let refusal = |spec: &dpsgd::runtime::ModelSpec| match <CudaEngine<f32> as Engine<f32>>::supports(spec) {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    };
    assert_eq!(refusal(&Ffnn::<f32>::SPEC), "");
    let cases = [
        (
            refusal(&MnistCnn::<f32>::SPEC),
            "MnistCnn's layer `conv1` (Conv2d<1, 16, 8, 2, Same>): convolutions do not run on the GPU yet",
        ),
        (
            refusal(&EmbeddingNet::<f32>::SPEC),
            "EmbeddingNet's layer `embedding` (Embedding<10004, 16>, mean): embeddings do not run",
        ),
        (refusal(&LstmNet::<f32>::SPEC), "LstmNet's layer `embedding` (Embedding<10004, 100>): embeddings do not run"),
        (refusal(&pooled_dense::PooledDense::<f32>::SPEC), "PooledDense's pooling does not run on the GPU yet"),
        (
            refusal(&common::MoreActivations::<f32>::SPEC),
            "MoreActivations's activation LeakyRelu does not run on the GPU yet",
        ),
    ];
    for (message, expected) in cases {
        assert!(message.contains(expected) && message.contains("--device cpu"), "{message}");
    }
}

/// Everything one batch gives: logits, losses, ghost squared norms, the clipped sum,
/// the plain gradient sum and the per-example gradients.
#[derive(Debug)]
struct Outputs<F> {
    logits: Vec<F>,
    losses: Vec<F>,
    sq_norms: Vec<F>,
    clipped_sum: Vec<F>,
    grad_sum: Vec<F>,
    per_example: Vec<F>,
}

fn outputs<F: Float, M: PrivateModel<F>, E: Engine<F>>(engine: &mut E, x: ArrayView2<'_, F>, y: &[u32]) -> Outputs<F> {
    let spec = M::SPEC;
    let b = y.len();
    engine.load_batch(x, y.into());
    M::run_forward(engine);
    M::run_backward(engine);
    M::run_sq_norms(engine);
    let read = |engine: &E, buf, width| {
        let mut out = vec![F::ZERO; b * width];
        engine.read(buf, &mut out);
        out
    };
    let (logits, losses, sq_norms) =
        (read(engine, spec.logits, spec.outputs), read(engine, spec.losses, 1), read(engine, spec.sq_norms, 1));
    engine.clip_factors(spec.sq_norms, spec.clip_factors, F::from_f64(0.5));
    M::run_param_grads(engine, Some(spec.clip_factors));
    let mut clipped_sum = vec![F::ZERO; spec.num_params];
    engine.read_grads(&mut clipped_sum);
    M::run_param_grads(engine, None);
    let mut grad_sum = vec![F::ZERO; spec.num_params];
    engine.read_grads(&mut grad_sum);
    engine.begin_per_example_grads();
    M::run_per_example_grads(engine);
    let mut per_example = vec![F::ZERO; b * spec.num_params];
    engine.read_per_example_grads(&mut per_example);
    Outputs { logits, losses, sq_norms, clipped_sum, grad_sum, per_example }
}

fn assert_close<F: Float>(what: &str, gpu: &[F], cpu: &[F], tolerance: f64) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let scale = cpu.iter().map(|v| v.to_f64().abs()).fold(1.0, f64::max);
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let error = (g.to_f64() - c.to_f64()).abs() / scale;
        assert!(error <= tolerance, "{what}[{i}]: GPU {g} vs CPU {c} (relative error {error:e})");
    }
}

/// The CPU and GPU engines on the same batches of model `M`: batch sizes 0, 1, 7 and
/// one larger than the engines' starting capacity (they grow).
fn compare<F: CudaFloat, M: PrivateModel<F>>(device: CudaDevice, tolerance: f64) -> CudaDevice {
    let model = common::model::<F, M>(3, 4.0);
    let mut cpu = CpuEngine::new(M::SPEC, model.params(), 8);
    let mut gpu = CudaEngine::new(device, M::SPEC, model.params(), 8).expect("a GPU engine");
    for (rows, seed) in [(1, 1), (7, 2), (0, 3), (300, 4), (5, 5)] {
        let (x, y) = common::batch::<F, M>(rows, seed);
        let want = outputs::<F, M, _>(&mut cpu, x.view(), &y);
        let got = outputs::<F, M, _>(&mut gpu, x.view(), &y);
        gpu.status().expect("no device failure");
        let name = format!("{} at batch {rows}", M::SPEC.name);
        assert_close(&format!("{name}: logits"), &got.logits, &want.logits, tolerance);
        assert_close(&format!("{name}: losses"), &got.losses, &want.losses, tolerance);
        assert_close(&format!("{name}: ghost norms"), &got.sq_norms, &want.sq_norms, tolerance);
        assert_close(&format!("{name}: clipped sum"), &got.clipped_sum, &want.clipped_sum, tolerance);
        assert_close(&format!("{name}: gradient sum"), &got.grad_sum, &want.grad_sum, tolerance);
        assert_close(&format!("{name}: per-example gradients"), &got.per_example, &want.per_example, tolerance);
    }
    // Give the device back for the next model.
    CudaDevice::open(0).expect("the GPU again")
}

#[test]
fn every_model_computes_the_same_on_the_gpu_as_on_the_cpu() {
    let Some(mut device) = gpu() else { return };
    device = compare::<f64, common::EveryOp<f64>>(device, 1e-12);
    device = compare::<f64, common::Binary<f64>>(device, 1e-12);
    device = compare::<f64, common::Deep<f64>>(device, 1e-12);
    device = compare::<f64, dpsgd::models::LogisticRegression<f64>>(device, 1e-12);
    device = compare::<f64, dpsgd::models::Ffnn<f64>>(device, 1e-12);
    device = compare::<f32, common::EveryOp<f32>>(device, 1e-5);
    device = compare::<f32, dpsgd::models::LogisticRegression<f32>>(device, 1e-5);
    compare::<f32, dpsgd::models::Ffnn<f32>>(device, 1e-5);
}

/// Central differences of the summed loss, computed on the GPU, against the GPU's
/// backward pass, in f64.
#[test]
fn gpu_gradients_match_finite_differences() {
    let Some(device) = gpu() else { return };
    type M = common::EveryOp<f64>;
    let model = common::model::<f64, M>(5, 1.0);
    let (x, y) = common::batch::<f64, M>(6, 9);
    let mut engine = CudaEngine::new(device, M::SPEC, model.params(), 6).expect("a GPU engine");
    engine.load_batch(x.view(), (&y).into());
    M::run_forward(&mut engine);
    M::run_backward(&mut engine);
    M::run_param_grads(&mut engine, None);
    let mut grads = vec![0.0; M::NUM_PARAMS];
    engine.read_grads(&mut grads);
    let mut loss_at = |params: &[f64]| {
        engine.write_params(params);
        M::run_forward(&mut engine);
        M::run_backward(&mut engine);
        engine.sum(M::SPEC.losses)
    };
    let h = 1e-6;
    for i in 0..M::NUM_PARAMS {
        let mut p = model.params().to_vec();
        p[i] += h;
        let up = loss_at(&p);
        p[i] -= 2.0 * h;
        let down = loss_at(&p);
        let numeric = (up - down) / (2.0 * h);
        let error = (numeric - grads[i]).abs() / grads[i].abs().max(1.0);
        assert!(error < 1e-7, "parameter {i}: backward {} vs finite difference {numeric}", grads[i]);
    }
    engine.status().expect("no device failure");
}

/// With negligible noise, private steps (SGD with momentum; Adam with weight decay;
/// a logical batch in physical pieces) move the weights as on the CPU.
#[test]
fn private_steps_match_the_cpu_up_to_the_noise() {
    if gpu().is_none() {
        return;
    }
    type M = dpsgd::models::Ffnn<f64>;
    let model = common::model::<f64, M>(1, 3.0);
    let privacy = Privacy::new(1e-300, 0.7).unwrap();
    let adam = Optimizer::adam(0.01).unwrap().with_weight_decay(0.01).unwrap();
    for (optimizer, pieces) in [(Optimizer::sgd(0.3, 0.9).unwrap(), 1), (adam, 1), (adam, 3)] {
        let device = CudaDevice::open(0).expect("the GPU");
        let mut cpu = CpuEngine::new(M::SPEC, model.params(), 64);
        let mut gpu = CudaEngine::new(device, M::SPEC, model.params(), 64).expect("a GPU engine");
        let mut cpu_noise = GaussianNoise::insecure_reproducible(0);
        let mut gpu_noise = DeviceNoise::insecure_reproducible(0);
        for (step, rows) in [40, 0, 64, 17].into_iter().enumerate() {
            let (x, y) = common::batch::<f64, M>(rows, step as u64);
            let chunk = rows.div_ceil(pieces).max(1);
            for (i, start) in (0..rows.max(1)).step_by(chunk).enumerate() {
                let end = (start + chunk).min(rows);
                let (xs, ys) = (x.slice(dpsgd::runtime::ndarray::s![start..end, ..]), &y[start..end]);
                cpu.load_batch(xs, ys.into());
                gpu.load_batch(xs, ys.into());
                clipped_gradient::<f64, M, _>(&mut cpu, &privacy);
                clipped_gradient::<f64, M, _>(&mut gpu, &privacy);
                if pieces > 1 {
                    cpu.accumulate_grads(i == 0);
                    gpu.accumulate_grads(i == 0);
                }
            }
            if pieces > 1 {
                cpu.take_accumulated_grads();
                gpu.take_accumulated_grads();
            }
            noisy_update(&mut cpu, &mut cpu_noise, &privacy, 50.0, &optimizer, step as u64);
            noisy_update(&mut gpu, &mut gpu_noise, &privacy, 50.0, &optimizer, step as u64);
            let (mut want, mut got) = (vec![0.0; M::NUM_PARAMS], vec![0.0; M::NUM_PARAMS]);
            cpu.read_params(&mut want);
            gpu.read_params(&mut got);
            assert_close(&format!("{optimizer:?} in {pieces} pieces: weights after step {step}"), &got, &want, 1e-12);
        }
        let (mut want, mut got) = (vec![0.0; 2 * M::NUM_PARAMS], vec![0.0; 2 * M::NUM_PARAMS]);
        cpu.read_optimizer_state(&mut want);
        gpu.read_optimizer_state(&mut got);
        assert_close("optimizer state", &got, &want, 1e-12);
        gpu.status().expect("no device failure");
    }
}

/// An empty batch is a noise-only step: the update is `-lr sigma C / B z` with `z`
/// standard normal, the same for the same seed and fresh at every step.
#[test]
fn device_noise_has_the_intended_spread_and_repeats_with_the_seed() {
    let Some(device) = gpu() else { return };
    type M = dpsgd::models::Ffnn<f64>;
    let (lr, sigma, c, expected) = (0.5, 1.3, 2.0, 10.0);
    let privacy = Privacy::new(sigma, c).unwrap();
    let sgd = Optimizer::sgd(lr, 0.0).unwrap();
    let zeros = vec![0.0; M::NUM_PARAMS];
    let mut engine = CudaEngine::new(device, M::SPEC, &zeros, 1).expect("a GPU engine");
    let (x, y) = common::batch::<f64, M>(0, 0);
    let mut noise_of = |seed: u64, steps: usize| {
        engine.write_params(&zeros);
        let mut noise = DeviceNoise::insecure_reproducible(seed);
        let mut updates = Vec::new();
        let mut before = zeros.clone();
        for _ in 0..steps {
            engine.load_batch(x.view(), (&y).into());
            private_step::<f64, M, _>(&mut engine, &mut noise, &privacy, expected, &sgd, 0);
            let mut after = vec![0.0; M::NUM_PARAMS];
            engine.read_params(&mut after);
            updates.push(
                after.iter().zip(&before).map(|(a, b)| (b - a) / (lr * sigma * c / expected)).collect::<Vec<_>>(),
            );
            before = after;
        }
        updates
    };
    let first = noise_of(7, 2);
    for z in &first {
        let n = z.len() as f64;
        let mean = z.iter().sum::<f64>() / n;
        let std = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((std - 1.0).abs() < 0.04, "std {std}");
    }
    assert_ne!(first[0], first[1], "every step draws fresh noise");
    assert_eq!(noise_of(7, 2), first, "the same seed gives the same noise");
    assert_ne!(noise_of(8, 1)[0], first[0], "another seed gives other noise");
}

/// Private training of the FFNN on Adult on the GPU learns as on the CPU.
#[test]
fn private_training_on_the_gpu_reaches_80_percent_on_adult() {
    let Some(device) = gpu() else { return };
    type M = dpsgd::models::Ffnn<f32>;
    let data =
        dpsgd::runtime::data::adult::load::<f32>(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/adult"))
            .expect("the shipped Adult data");
    let config = TrainConfig::new(3, 256, Optimizer::sgd(0.5, 0.0).unwrap(), Some(Privacy::new(1.1, 1.0).unwrap()), 0);
    let mut model = M::init(0);
    let capacity = batch_capacity::<f32, M, CudaEngine<f32>>(data.train.len(), &config);
    let engine = CudaEngine::new(device, M::SPEC, model.params(), capacity).expect("a GPU engine");
    let trainer = Trainer::on_engine(engine, &data.train, &config).unwrap();
    let control = dpsgd::runtime::train::Control::default();
    let report = train_with(trainer, &mut model, Some(&data.test), &control, |_| {}).unwrap();
    let accuracy = report.epochs.last().and_then(|e| e.test).unwrap().accuracy.unwrap();
    assert!(accuracy >= 0.80, "test accuracy {accuracy}");
}

/// Batches gathered on the GPU from a resident copy of the dataset equal batches
/// copied row by row, also after switching to another dataset.
#[test]
fn batches_of_a_resident_dataset_equal_copied_batches() {
    let Some(device) = gpu() else { return };
    type M = common::EveryOp<f64>;
    let model = M::init(0);
    let mut cpu = CpuEngine::new(M::SPEC, model.params(), 4);
    let mut gpu = CudaEngine::new(device, M::SPEC, model.params(), 4).expect("a GPU engine");
    for seed in [1, 2] {
        let (x, y) = common::batch::<f64, M>(500, seed);
        let data = Dataset::new(x, y).unwrap();
        for rows in [vec![499, 0, 17, 17, 3], vec![], (0..200).rev().collect()] {
            cpu.load_dataset_rows(&data, &rows);
            gpu.load_dataset_rows(&data, &rows);
            for engine in [&mut cpu as &mut dyn LossOnly, &mut gpu] {
                engine.forward_losses();
            }
            let input = dpsgd::runtime::Buf::Input { width: M::SPEC.input_width };
            let (mut want, mut got) = (vec![0.0; rows.len() * 5], vec![0.0; rows.len() * 5]);
            cpu.read(input, &mut want);
            gpu.read(input, &mut got);
            assert_eq!(got, want, "features of rows {rows:?}");
            let (mut want, mut got) = (vec![0.0; rows.len()], vec![0.0; rows.len()]);
            cpu.read(M::SPEC.losses, &mut want);
            gpu.read(M::SPEC.losses, &mut got);
            assert_close("losses (labels gathered too)", &got, &want, 1e-12);
        }
    }
    gpu.status().expect("no device failure");
}

/// Runs the forward pass of `EveryOp<f64>` on whichever engine.
trait LossOnly {
    fn forward_losses(&mut self);
}

impl<E: Engine<f64>> LossOnly for E {
    fn forward_losses(&mut self) {
        common::EveryOp::<f64>::run_forward(self);
        common::EveryOp::<f64>::run_backward(self);
    }
}

/// The fused end of a private step (noise, scaling, update in one kernel) equals its
/// three separate kernels, with momentum.
#[test]
fn the_fused_noisy_update_equals_its_three_steps() {
    if gpu().is_none() {
        return;
    }
    type M = dpsgd::models::Ffnn<f64>;
    let model = M::init(4);
    let (x, y) = common::batch::<f64, M>(33, 4);
    // A fresh engine (zero velocity) for each.
    let run = |fused: bool| {
        let device = CudaDevice::open(0).expect("the GPU");
        let mut engine = CudaEngine::new(device, M::SPEC, model.params(), 33).expect("a GPU engine");
        let mut noise = DeviceNoise::insecure_reproducible(11);
        for _ in 0..2 {
            engine.load_batch(x.view(), (&y).into());
            M::run_forward(&mut engine);
            M::run_backward(&mut engine);
            M::run_param_grads(&mut engine, None);
            if fused {
                engine.noisy_update(&mut noise, 0.7, 0.1, 0.3, 0.9);
            } else {
                engine.add_noise(&mut noise, 0.7);
                engine.scale_grads(0.1);
                engine.sgd_update(0.3, 0.9);
            }
        }
        let mut params = vec![0.0; M::NUM_PARAMS];
        engine.read_params(&mut params);
        params
    };
    let (fused, separate) = (run(true), run(false));
    assert_close("weights", &fused, &separate, 1e-15);
}
