//! `dpsgd train`: private (or, with --no-privacy, ordinary) training on shipped data.

use std::path::PathBuf;

use clap::Parser;
use dpsgd::Device;
use dpsgd::models::{ModelName, with_model};
use dpsgd::runtime::Dataset;
use dpsgd::runtime::data::adult;
use dpsgd::runtime::privacy;
use dpsgd::runtime::train::{EpochReport, Privacy, Sgd, TrainConfig, TrainReport, train};
use dpsgd::runtime::{Error, PrivateModel, Result};

#[derive(Parser, Debug)]
#[command(name = "train")]
pub struct TrainArgs {
    /// Model: logreg or ffnn.
    #[arg(long, default_value = "ffnn")]
    pub model: ModelName,
    /// Dataset: adult.
    #[arg(long, default_value = "adult")]
    pub dataset: String,
    /// Folder holding the datasets (adult/adult.data.gz, ...).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data"))]
    pub data_dir: PathBuf,
    /// Passes over the training set (private: 1/q steps each).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Expected batch size B; private training samples each example with q = B / N.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Noise multiplier sigma: the noise's standard deviation is sigma * C.
    #[arg(long, default_value_t = 1.1, conflicts_with = "no_privacy", allow_negative_numbers = true)]
    pub noise_multiplier: f64,
    /// Choose sigma instead: the smallest that keeps the whole run within this epsilon.
    #[arg(long, conflicts_with_all = ["no_privacy", "noise_multiplier"], allow_negative_numbers = true)]
    pub target_epsilon: Option<f64>,
    /// The delta of the (epsilon, delta) guarantee; must lie below 1/N.
    #[arg(long, default_value_t = 1e-5, conflicts_with = "no_privacy", allow_negative_numbers = true)]
    pub delta: f64,
    /// Clipping norm C of every example's gradient.
    #[arg(long, default_value_t = 1.0, conflicts_with = "no_privacy", allow_negative_numbers = true)]
    pub max_grad_norm: f64,
    /// Learning rate.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub lr: f64,
    /// SGD momentum (0 for plain SGD).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub momentum: f64,
    /// Seed of parameter initialization, sampling and noise: the same seed gives the
    /// same trained model, bit for bit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train without privacy (shuffled fixed-size batches, no clipping, no noise).
    #[arg(long)]
    pub no_privacy: bool,
    /// cpu, or cuda (a build with the `cuda` feature and an NVIDIA GPU).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if args.dataset != args.model.dataset() {
        return Err(Error::Config(format!(
            "{} trains on {}; dataset `{}` is not available for it",
            args.model,
            args.model.dataset(),
            args.dataset
        )));
    }
    with_model!(args.model, M => run_model::<M>(args))
}

fn run_model<M: PrivateModel<f32>>(args: &TrainArgs) -> Result<()> {
    let data = adult::load::<f32>(&args.data_dir.join("adult"))?;
    let n = data.train.len();
    let mut config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        sgd: Sgd::new(args.lr, args.momentum)?,
        privacy: None,
        delta: args.delta,
        seed: args.seed,
    };
    if !args.no_privacy {
        privacy::check_delta(args.delta, Some(n))?;
        let sigma = match args.target_epsilon {
            None => args.noise_multiplier,
            Some(target) => {
                let steps = (args.epochs * config.steps_per_epoch(n)) as u64;
                privacy::calibrate(target, args.delta, config.sampling_rate(n), steps)?
            }
        };
        config.privacy = Some(Privacy::new(sigma, args.max_grad_norm)?);
    }
    let mode = if config.privacy.is_some() { "private" } else { "non-private" };
    println!(
        "{mode} training of {} ({} parameters) on {}: {} training / {} test examples",
        args.model,
        M::SPEC.num_params,
        args.dataset,
        data.train.len(),
        data.test.len()
    );
    match config.privacy {
        Some(p) => {
            let q = config.sampling_rate(n);
            let steps = args.epochs * config.steps_per_epoch(n);
            let calibrated = if args.target_epsilon.is_some() { " (calibrated)" } else { "" };
            println!(
                "privacy: Poisson sampling rate q = {q:.6} (expected batch {}), noise multiplier sigma = {:.4}{calibrated}, clipping norm C = {}, {steps} steps, delta = {:e}",
                args.batch_size, p.noise_multiplier, p.max_grad_norm, args.delta
            );
        }
        None => println!("no privacy: shuffled batches of {}, no clipping, no noise", args.batch_size),
    }

    let mut model = M::init(args.seed);
    let print_epoch = |e: &EpochReport| {
        let test = e.test.map_or(String::new(), |t| {
            format!("  test loss {:.4}  test accuracy {:.2}%", t.mean_loss, 100.0 * t.accuracy)
        });
        let epsilon = e.epsilon.map_or(String::new(), |eps| format!("  epsilon {eps:.3}"));
        println!(
            "epoch {:>3}/{}  train loss {:.4}{test}{epsilon}  {:.3} s",
            e.epoch, args.epochs, e.train_loss, e.seconds
        );
    };
    let report = match args.device {
        Device::Cpu => train(&mut model, &data.train, Some(&data.test), &config, print_epoch)?,
        Device::Cuda => train_on_gpu(&mut model, &data.train, &data.test, &config, print_epoch)?,
    };
    let seconds: f64 = report.epochs.iter().map(|e| e.seconds).sum();
    let accuracy = report.epochs.last().and_then(|e| e.test).map_or(f64::NAN, |t| t.accuracy);
    println!(
        "done: {} steps in {seconds:.2} s ({:.0} examples/s), test accuracy {:.2}%",
        report.steps,
        report.epochs.iter().map(|e| e.examples).sum::<usize>() as f64 / seconds,
        100.0 * accuracy
    );
    if let (Some(accountant), Some(p)) = (&report.accountant, &config.privacy) {
        let (epsilon, order) = accountant.epsilon(args.delta)?;
        println!(
            "privacy spent: epsilon = {epsilon:.3} at delta = {:e} (RDP accountant, best order {order}; Poisson sampling, q = {:.6}, sigma = {:.4}, {} steps)",
            args.delta,
            config.sampling_rate(n),
            p.noise_multiplier,
            accountant.steps()
        );
    }
    Ok(())
}

#[cfg(feature = "cuda")]
fn train_on_gpu<M: PrivateModel<f32>>(
    model: &mut M,
    train_set: &Dataset<f32>,
    test_set: &Dataset<f32>,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    use dpsgd::runtime::cuda::{CudaDevice, CudaEngine, DeviceNoise};
    use dpsgd::runtime::train::{Trainer, batch_capacity, train_with};
    let device = CudaDevice::open(0)?;
    println!("device: {}", device.name());
    let capacity = batch_capacity(train_set.len(), config);
    let engine = CudaEngine::new(device, M::SPEC, model.params(), capacity)?;
    let noise = config.privacy.map(|_| Box::new(DeviceNoise::seeded(config.seed)));
    let trainer = Trainer::on_engine(engine, noise, train_set, config)?;
    train_with(trainer, model, train_set, Some(test_set), config, on_epoch)
}

#[cfg(not(feature = "cuda"))]
fn train_on_gpu<M: PrivateModel<f32>>(
    _: &mut M,
    _: &Dataset<f32>,
    _: &Dataset<f32>,
    _: &TrainConfig,
    _: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    Err(Device::cuda_not_built())
}
