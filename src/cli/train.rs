//! `dpsgd train`: private (or, with --no-privacy, ordinary) training on shipped data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use super::choice::{ModelChoice, ModelTask};
use crate::Device;
use crate::runtime::Dataset;
use crate::runtime::data::csv::CsvSchema;
use crate::runtime::data::{adult, imdb, mnist, synthetic};

use super::files;
#[cfg(feature = "mpi")]
use crate::runtime::collective::Mpi;
use crate::runtime::collective::{self, Collective};
use crate::runtime::engine::Engine;
use crate::runtime::gemm::Products;
use crate::runtime::rng::Randomness;
use crate::runtime::secure::{self, DEFAULT_MAX_NOISE_INCREASE, SecureNoiseConfig};
use crate::runtime::train::Replica;
use crate::runtime::train::checkpoint::{self, Checkpoint};
use crate::runtime::train::{
    Control, EpochReport, Evaluation, Optimizer, PrivateTraining, Sampling, Schedule, SecureStep, StepReport,
    TrainConfig, TrainReport, Trainer, cpu_engine, train_with,
};
use crate::runtime::{Error, PrivateModel, Result};

use super::progress::Progress;

/// `train`'s arguments.
#[derive(Parser, Debug)]
#[command(name = "train")]
pub struct TrainArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
    /// Dataset: the model's (adult or mnist, the default), or synthetic (random
    /// features labelled by a random linear teacher; --synthetic-examples training
    /// examples, 2000 test).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Training examples of `--dataset synthetic`.
    #[arg(long, default_value_t = 10_000)]
    pub synthetic_examples: usize,
    /// Train on your own examples instead: a CSV file with a header (needs --schema),
    /// or a safetensors file or a numpy `.npz` (`numpy.savez(path, x=x, y=y)`) with
    /// `x` (float32 or float64 `[N, features...]` of the model's input shape; token ids
    /// may be integers) and `y` (integer labels `[N]`, or float targets
    /// `[N, outputs]`). Needs --test-data.
    #[arg(long, requires = "test_data", conflicts_with = "dataset")]
    pub train_data: Option<PathBuf>,
    /// The test examples that go with --train-data, in the same format.
    #[arg(long, requires = "train_data")]
    pub test_data: Option<PathBuf>,
    /// The public schema of CSV files (JSON): the target column, each feature's
    /// bounds or categories. Public knowledge, never statistics of the training file;
    /// saved in checkpoints, so that `predict` encodes data the same way. The format:
    /// the docs of `dpsgd::runtime::data::csv`.
    #[arg(long, requires = "train_data")]
    pub schema: Option<PathBuf>,
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
    /// sgd, or adam (DP-Adam in private training: moments of the noised gradient).
    #[arg(long, default_value = "sgd", value_parser = ["sgd", "adam"])]
    pub optimizer: String,
    /// L2 weight decay added to the (noised) gradient.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Learning-rate schedule: constant, step (x0.1 every --lr-step-epochs), cosine.
    #[arg(long, default_value = "constant", value_parser = ["constant", "step", "cosine"])]
    pub lr_schedule: String,
    /// Epochs between the step schedule's decays.
    #[arg(long, default_value_t = 10)]
    pub lr_step_epochs: usize,
    /// Process each batch in physical batches of at most this many examples: still one
    /// private step (one noise draw, one accounting event) per batch. Unset, the CPU
    /// picks physical batches that keep a step in the cache, for models where enough
    /// examples fit (the MNIST CNN: at most 72).
    #[arg(long)]
    pub physical_batch_size: Option<usize>,
    /// f32, or bf16: the large products of dense layers, convolutions and LSTMs round
    /// their operands to bfloat16 and sum in f32 on CPUs with AMX (Intel Xeons from
    /// Sapphire Rapids on) or AVX-512 BF16 (AMD from Zen 4 on), for speed; norms are
    /// those of the gradients clipped. Elsewhere, f32.
    #[arg(long, default_value = "f32")]
    pub products: Products,
    /// Private training with shuffled fixed-size batches instead of Poisson sampling.
    /// The reported epsilon then assumes Poisson sampling, which this does not give.
    #[arg(long, conflicts_with = "no_privacy")]
    pub shuffled_batches: bool,
    /// Print only the summary (no progress bar, no epoch lines).
    #[arg(long)]
    pub quiet: bool,
    /// Write metrics here as JSON lines: one per step (epsilon) and one per epoch (test
    /// loss and accuracy, epsilon, seconds), and with --uncovered-stats the training
    /// losses and batch sizes.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Also print and save what the privacy guarantee does not cover: the training
    /// loss and the realized batch sizes, computed from the training data without
    /// noise (labelled "not private"). Always shown without privacy.
    #[arg(long, conflicts_with = "no_privacy")]
    pub uncovered_stats: bool,
    /// Stop, with a checkpoint, before a step that would take epsilon past this.
    #[arg(long, conflicts_with = "no_privacy", allow_negative_numbers = true)]
    pub max_epsilon: Option<f64>,
    /// Seed of what may be public: parameter initialization, synthetic data, and the
    /// non-private baseline's shuffles. Private training's noise and batch sampling
    /// never come from it: they are keyed from the operating system's entropy, so two
    /// private runs with the same seed start alike and end differently.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Key the noise and the batch sampling from this public seed, so that runs repeat
    /// bit for bit. INSECURE: anyone who knows the seed can regenerate the noise and
    /// the batches, and the epsilon reported does not hold. For tests and debugging.
    #[arg(long, value_name = "SEED", conflicts_with = "no_privacy")]
    pub insecure_reproducible_noise: Option<u64>,
    /// Floating-point-safe noise: every example's clipped gradient rounded to an
    /// integer grid, discrete Gaussian noise drawn in integers from the secret stream,
    /// accounted by RDP at integer orders (the README's privacy section has the
    /// argument). Slower: every example's whole gradient is formed. CPU only.
    #[arg(long, conflicts_with = "no_privacy")]
    pub secure_noise: bool,
    /// With --secure-noise: how much rounding to the grid may raise the noise, relative
    /// (0.01: 1%); a smaller allowance takes a finer grid and more levels of noise.
    #[arg(long, default_value_t = DEFAULT_MAX_NOISE_INCREASE, requires = "secure_noise", allow_negative_numbers = true)]
    pub secure_noise_rounding: f64,
    /// Train without privacy (shuffled fixed-size batches, no clipping, no noise).
    #[arg(long)]
    pub no_privacy: bool,
    /// cpu, or cuda (a build with the `cuda` feature and an NVIDIA GPU).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Write the run's state here (one safetensors file) after every epoch and when
    /// stopped with Ctrl-C; writes are atomic. A private run's checkpoint holds the
    /// secret key of its noise and sampler, which makes the file as secret as the
    /// training data: share the model with `dpsgd export`, which writes the
    /// parameters alone.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run saved in --checkpoint (same settings): the result is the same,
    /// bit for bit, as if it had not stopped. A data-parallel run resumes with any
    /// number of processes.
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// Data-parallel training (`mpirun -n 4 dpsgd train ...`, a build with the `mpi`
    /// feature): end the job when the other processes have not answered for this many
    /// seconds (one died or hangs). It must exceed a step plus an evaluation of the
    /// test set, which rank 0 alone does while the others wait.
    #[arg(long, default_value_t = 600.0)]
    pub collective_timeout: f64,
}

/// Whether this process prints: the only one, or rank 0 of a data-parallel run.
static LEADS: AtomicBool = AtomicBool::new(true);

/// `println!` in the process that leads.
macro_rules! say {
    ($($arg:tt)*) => {
        if LEADS.load(Ordering::Relaxed) {
            println!($($arg)*)
        }
    };
}

/// Set by Ctrl-C: the run stops before its next step, writing its checkpoint.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Trains the chosen model as `args` say, printing progress and the privacy report.
pub fn run<C: ModelChoice>(args: &TrainArgs<C>) -> Result<()> {
    let shipped = args.model.dataset();
    if let Some(dataset) = args.dataset.as_deref().filter(|d| Some(*d) != shipped && *d != "synthetic") {
        return Err(Error::Config(match shipped {
            Some(shipped) => {
                format!("{} trains on {shipped}; dataset `{dataset}` is not available for it", args.model.name())
            }
            None => format!(
                "{} has no shipped dataset `{dataset}`: train on your files with --train-data and --test-data, \
                 or on --dataset synthetic",
                args.model.name()
            ),
        }));
    }
    if args.train_data.is_none() && args.dataset.is_none() && shipped.is_none() {
        return Err(Error::Config(format!(
            "{} has no shipped dataset: give --train-data and --test-data (CSV with --schema, .npz or safetensors), \
             or --dataset synthetic",
            args.model.name()
        )));
    }
    struct Train<'a, C: ModelChoice>(&'a TrainArgs<C>);
    impl<C: ModelChoice> ModelTask for Train<'_, C> {
        type Output = ();
        fn run<M: PrivateModel<f32>>(self) -> Result<()> {
            run_model::<M, C>(self.0)
        }
    }
    args.model.with(Train(args))
}

/// Trains in this process, or joins the data-parallel job that started it; an error in
/// one process of several ends them all.
fn run_model<M: PrivateModel<f32>, C: ModelChoice>(args: &TrainArgs<C>) -> Result<()> {
    #[cfg(feature = "mpi")]
    if collective::launched_by_mpi() {
        let timeout = args.collective_timeout;
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(Error::Config(format!(
                "--collective-timeout must be a positive number of seconds, got {timeout}"
            )));
        }
        let mpi = Mpi::init(std::time::Duration::from_secs_f64(timeout))?;
        return match train_model::<M, C>(args, Some(&mpi)) {
            Err(e) if mpi.ranks() > 1 => {
                eprintln!("error: rank {} of {}: {e}", mpi.rank(), mpi.ranks());
                mpi.abort(1)
            }
            result => result,
        };
    }
    if collective::launched_by_mpi() {
        return Err(Error::Config(
            "started by an MPI launcher, but this dpsgd was built without MPI: build it with `--features mpi` \
             (each process would otherwise train a model of its own)"
                .into(),
        ));
    }
    train_model::<M, C>(args, None)
}

/// Trains as `args` say: alone, or as one process of `group`.
fn train_model<M: PrivateModel<f32>, C: ModelChoice>(
    args: &TrainArgs<C>,
    group: Option<&dyn Collective>,
) -> Result<()> {
    let user_files = args.train_data.as_deref().zip(args.test_data.as_deref());
    let dataset = match user_files {
        Some((train, _)) => train.to_str().unwrap_or("your training file"),
        None => args.dataset.as_deref().or(args.model.dataset()).expect("checked by run"),
    };
    let (data, schema) = match (user_files, dataset) {
        (Some((train, test)), _) => {
            let schema = args.schema.as_deref().map(CsvSchema::load).transpose()?;
            let train = files::load(train, schema.as_ref(), &M::SPEC)?;
            (Splits { train, test: files::load(test, schema.as_ref(), &M::SPEC)? }, schema)
        }
        (None, "synthetic") => {
            let train = synthetic::teacher(&M::SPEC, args.synthetic_examples, args.seed, 0)?;
            (Splits { train, test: synthetic::teacher(&M::SPEC, 2_000, args.seed, 1)? }, None)
        }
        (None, _) => (load(dataset, &args.data_dir)?, None),
    };
    let n = data.train.len();
    let replica = group.map(|g| Replica::new(g, n)).transpose()?;
    LEADS.store(replica.is_none_or(|r| r.leads()), Ordering::Relaxed);
    if replica.is_some() && matches!(args.device, Device::Cuda) {
        return Err(Error::Config(
            "data-parallel training runs on the CPU engine; train on the GPU with one process".into(),
        ));
    }
    // A process of several keeps its shard of the training set alone.
    let data = match replica {
        Some(r) => Splits { train: data.train.rows(r.shard.rows()), test: data.test },
        None => data,
    };
    let optimizer = match args.optimizer.as_str() {
        "adam" => Optimizer::adam(args.lr)?,
        _ => Optimizer::sgd(args.lr, args.momentum)?,
    };
    let mut config = match args.no_privacy {
        true => TrainConfig::new(args.epochs, args.batch_size, optimizer, None, args.seed),
        false => {
            let mut setup = PrivateTraining::new(args.epochs, args.batch_size, optimizer)
                .max_grad_norm(args.max_grad_norm)
                .delta(args.delta)
                .seed(args.seed);
            setup = match args.target_epsilon {
                Some(epsilon) => setup.target_epsilon(epsilon),
                None => setup.noise_multiplier(args.noise_multiplier),
            };
            if let Some(size) = args.physical_batch_size {
                setup = setup.physical_batch(size);
            }
            if let Some(epsilon) = args.max_epsilon {
                setup = setup.max_epsilon(epsilon);
            }
            if args.shuffled_batches {
                setup = setup.sampling(Sampling::Shuffled);
            }
            if let Some(seed) = args.insecure_reproducible_noise {
                setup = setup.insecure_reproducible_noise(seed);
            }
            if args.secure_noise {
                if matches!(args.device, Device::Cuda) {
                    return Err(Error::Config(
                        "secure noise does not run on the GPU yet; train with --device cpu".into(),
                    ));
                }
                setup = setup.secure_noise(SecureNoiseConfig { max_noise_increase: args.secure_noise_rounding });
            }
            setup.config(n)?
        }
    };
    config.products = args.products;
    let steps_per_epoch = config.steps_per_epoch(n) as u64;
    let schedule = match args.lr_schedule.as_str() {
        "step" => Schedule::Step { every: args.lr_step_epochs.max(1) as u64 * steps_per_epoch, factor: 0.1 },
        "cosine" => Schedule::Cosine { steps: args.epochs as u64 * steps_per_epoch },
        _ => Schedule::Constant,
    };
    config.optimizer = config.optimizer.with_weight_decay(args.weight_decay)?.with_schedule(schedule)?;
    let mode = if config.privacy.is_some() { "private" } else { "non-private" };
    say!(
        "{mode} training of {} ({} parameters) on {}: {} training / {} test examples",
        args.model.name(),
        M::SPEC.num_params,
        dataset,
        n,
        data.test.len()
    );
    if let Some(r) = replica {
        say!(
            "data-parallel over {} processes (MPI): each holds {} or {} training examples and takes its share of \
             every batch",
            r.shard.ranks,
            n / r.shard.ranks,
            n.div_ceil(r.shard.ranks)
        );
    }
    match config.privacy {
        Some(p) => {
            let q = config.sampling_rate(n);
            let steps = args.epochs * config.steps_per_epoch(n);
            let calibrated = if args.target_epsilon.is_some() { " (calibrated)" } else { "" };
            say!(
                "privacy: Poisson sampling rate q = {q:.6} (expected batch {}), noise multiplier sigma = {:.4}{calibrated}, clipping norm C = {}, {steps} steps, delta = {:e}",
                args.batch_size,
                p.noise_multiplier,
                p.max_grad_norm,
                args.delta
            );
        }
        None => say!("no privacy: shuffled batches of {}, no clipping, no noise", args.batch_size),
    }
    if let Some(p) = config.privacy.filter(|p| p.secure_noise.is_some()) {
        let grid = SecureStep::<f32>::grid_for(&M::SPEC, &p)?;
        say!(
            "secure noise: integer sums of sensitivity {:.0} (clipped gradients x {:.4e}, rounded), discrete Gaussian noise \
             of sigma {:.0} ({} levels); rounding raises the noise by {:.2}%",
            (grid.bound_sq as f64).sqrt(),
            grid.scale,
            (secure::sampler::variance(grid.levels) as f64).sqrt(),
            grid.levels,
            100.0 * grid.noise_increase
        );
    }
    if config.privacy.is_some() && !config.poisson() {
        say!("WARNING: shuffled batches; the epsilon reported assumes Poisson sampling, which they do not provide");
    }
    if config.privacy.is_some() {
        match config.randomness {
            Randomness::Secret => say!("randomness: noise and sampling keyed from the operating system's entropy"),
            Randomness::InsecureReproducible(seed) => say!("{}", insecure_warning(seed)),
        }
    }

    let mut model = M::init(args.seed);
    let resume = match args.resume {
        true => {
            let path = args.checkpoint.as_deref().expect("clap requires --checkpoint");
            let checkpoint = checkpoint::read::<f32>(path, &M::SPEC)?;
            model.params_mut().copy_from_slice(&checkpoint.params);
            say!(
                "resuming from {} at step {} (epoch {}, {} steps into it)",
                path.display(),
                checkpoint.state.step,
                checkpoint.state.epoch + 1,
                checkpoint.state.epoch_steps
            );
            Some(checkpoint)
        }
        false => None,
    };
    if args.products.effective() == Products::Bf16 {
        say!("products: large products' operands rounded to bfloat16, sums and clipping in f32");
    } else if args.products == Products::Bf16 {
        say!("products: f32 (this CPU has neither AMX nor AVX-512 BF16 for --products bf16)");
    }
    if let Some(path) = &args.checkpoint {
        ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
            .map_err(|e| Error::Config(format!("cannot catch Ctrl-C: {e}")))?;
        say!("checkpoints go to {}: Ctrl-C stops the run after its step, with a checkpoint", path.display());
    }
    let stop = |_: u64| INTERRUPTED.load(Ordering::SeqCst);
    let total_steps = (args.epochs * config.steps_per_epoch(n)) as u64;
    let done = resume.as_ref().map_or(0, |c| c.state.step);
    let uncovered = args.uncovered_stats || config.privacy.is_none();
    let leads = LEADS.load(Ordering::Relaxed);
    let metrics = args.metrics.as_deref().filter(|_| leads);
    let progress = Progress::new(args.quiet || !leads, metrics, args.epochs, total_steps, done, uncovered)?;
    let on_step = |s: &StepReport| progress.on_step(s);
    let on_step: Option<&dyn Fn(&StepReport)> = progress.wants_steps().then_some(&on_step);
    let encoding = schema.as_ref().map(CsvSchema::to_json);
    let control = Control {
        checkpoint: args.checkpoint.as_deref(),
        stop: Some(&stop),
        on_step,
        data_encoding: encoding.as_deref(),
    };
    let print_epoch = |e: &EpochReport| progress.on_epoch(e);
    let report = match args.device {
        Device::Cpu => {
            let engine = cpu_engine(&model, n, &config);
            run_on(engine, &mut model, &data, &config, resume.as_ref(), &control, print_epoch, replica)?
        }
        Device::Cuda => train_on_gpu(&mut model, &data, &config, resume.as_ref(), &control, print_epoch)?,
    };
    progress.finish();
    if report.budget_exhausted {
        say!("the epsilon budget {} is spent: the next step would exceed it", args.max_epsilon.unwrap_or(f64::NAN));
    }
    if report.stopped {
        match &args.checkpoint {
            Some(path) => say!(
                "stopped after {} steps; the run is saved in {}: continue it with --resume",
                report.steps,
                path.display()
            ),
            None => say!("stopped after {} steps", report.steps),
        }
    }
    if let Some(last) = report.epochs.last() {
        let seconds: f64 = report.epochs.iter().map(|e| e.seconds).sum();
        // The realized batch sizes are not covered; the expected ones are public.
        let (examples, kind) = match uncovered {
            true => (report.epochs.iter().map(|e| e.examples).sum::<usize>() as f64, "examples/s"),
            false => (report.steps as f64 * args.batch_size as f64, "examples/s expected"),
        };
        let test = match last.test {
            Some(Evaluation { accuracy: Some(accuracy), .. }) => format!("test accuracy {:.2}%", 100.0 * accuracy),
            Some(Evaluation { mean_loss, accuracy: None }) => format!("test loss {mean_loss:.4}"),
            None => "no test set".into(),
        };
        say!(
            "done: {} steps in {seconds:.2} s ({:.0} {kind}), {test} after epoch {}",
            report.steps,
            examples / seconds,
            last.epoch
        );
    }
    if let (Some(accountant), Some(p)) = (&report.accountant, &config.privacy) {
        let (epsilon, order) = accountant.epsilon(args.delta)?;
        let which = match accountant.is_discrete() {
            true => "RDP accountant at integer orders, secure noise",
            false => "RDP accountant",
        };
        say!(
            "privacy spent: epsilon = {epsilon:.3} at delta = {:e} ({which}, best order {order}; {}, q = {:.6}, sigma = {:.4}, {} steps)",
            args.delta,
            if config.poisson() { "Poisson sampling" } else { "ASSUMING Poisson sampling, but batches were shuffled" },
            config.sampling_rate(n),
            p.noise_multiplier,
            accountant.steps()
        );
        if accountant.is_discrete() {
            say!(
                "               (the discrete Gaussian's bound; the PLD accountant covers the continuous Gaussian only)"
            );
        } else if accountant.steps() > 0 {
            // The tighter numerical accountant, for the record; the budget checks used RDP.
            match accountant.pld_epsilon(args.delta) {
                Ok(bounds) => say!(
                    "               epsilon = {:.3} by the PLD accountant (the exact value lies in [{:.3}, {:.3}])",
                    bounds.upper,
                    bounds.lower,
                    bounds.upper
                ),
                Err(e) => say!("               (no PLD epsilon: {e})"),
            }
        }
        say!("{}", coverage(dataset, &args.data_dir, schema.is_some(), uncovered));
        if let Randomness::InsecureReproducible(seed) = config.randomness {
            say!("{}", insecure_warning(seed));
        }
    }
    Ok(())
}

/// What a run with insecure reproducible noise must say beside its epsilon.
fn insecure_warning(seed: u64) -> String {
    format!(
        "WARNING: --insecure-reproducible-noise {seed}: the noise and the batches can be regenerated from the seed, \
         so the epsilon reported DOES NOT HOLD for this run"
    )
}

/// What the privacy guarantee of a run on `dataset` covers, and what it does not.
fn coverage(dataset: &str, data_dir: &std::path::Path, csv: bool, uncovered: bool) -> String {
    let preprocessing = match dataset {
        _ if csv => "the rows of the training file, each encoded from the public schema alone",
        "adult" => "the raw Adult records (each encoded from public constants alone)",
        "mnist" => "the raw MNIST images (pixels scaled by 1/255)",
        "imdb" if data_dir.join("imdb").join("imdb.npz").exists() => {
            "the reviews as imdb.npz gives them, but NOT its word ids, which its publisher ranked by frequency \
             over the whole corpus"
        }
        "imdb" => "the raw IMDB reviews (words hashed, no vocabulary counted)",
        "synthetic" => "the training examples",
        _ => "the examples of the training file as given (statistics used to prepare them are not)",
    };
    let outputs = match uncovered {
        true => "; the training losses and batch sizes shown are NOT covered",
        false => "",
    };
    format!(
        "the guarantee covers {preprocessing}, for the parameters, every checkpoint's parameters and the \
         epsilons shown (the test figures come from the test set, not the training set; the training set's size \
         is taken as public){outputs}"
    )
}

#[cfg(feature = "cuda")]
fn train_on_gpu<M: PrivateModel<f32>>(
    model: &mut M,
    data: &Splits,
    config: &TrainConfig,
    resume: Option<&Checkpoint<f32>>,
    control: &Control<'_>,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    use crate::runtime::cuda::{CudaDevice, CudaEngine};
    use crate::runtime::train::batch_capacity;
    let device = CudaDevice::open(0)?;
    say!("device: {}", device.name());
    let capacity = batch_capacity::<f32, M, CudaEngine<f32>>(data.train.len(), config);
    let engine = CudaEngine::new(device, M::SPEC, model.params(), capacity)?;
    run_on(engine, model, data, config, resume, control, on_epoch, None)
}

/// Trains on `engine`, from the start or from `resume`, alone or as `replica` (which
/// evaluates on the test set when it leads).
#[allow(clippy::too_many_arguments)]
fn run_on<'d, M: PrivateModel<f32>, E: Engine<f32>>(
    engine: E,
    model: &mut M,
    data: &'d Splits,
    config: &TrainConfig,
    resume: Option<&Checkpoint<f32>>,
    control: &Control<'_>,
    on_epoch: impl FnMut(&EpochReport),
    replica: Option<Replica<'d>>,
) -> Result<TrainReport> {
    let trainer = match (resume, replica) {
        (Some(c), None) => Trainer::resume(engine, &data.train, config, c)?,
        (None, None) => Trainer::on_engine(engine, &data.train, config)?,
        (Some(c), Some(r)) => Trainer::resume_replica(engine, &data.train, config, c, r)?,
        (None, Some(r)) => Trainer::replica(engine, &data.train, config, r)?,
    };
    let test = replica.is_none_or(|r| r.leads()).then_some(&data.test);
    train_with(trainer, model, test, control, on_epoch)
}

#[cfg(not(feature = "cuda"))]
fn train_on_gpu<M: PrivateModel<f32>>(
    _: &mut M,
    _: &Splits,
    _: &TrainConfig,
    _: Option<&Checkpoint<f32>>,
    _: &Control<'_>,
    _: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    Err(Device::cuda_not_built())
}

/// A dataset's training and test sets.
struct Splits {
    train: Dataset<f32>,
    test: Dataset<f32>,
}

fn load(dataset: &str, dir: &std::path::Path) -> Result<Splits> {
    Ok(match dataset {
        "mnist" => {
            let m = mnist::load::<f32>(&dir.join("mnist"))?;
            Splits { train: m.train, test: m.test }
        }
        "cifar10" => {
            return Err(Error::Config(
                "CIFAR-10 is not shipped with dpsgd; try `--dataset synthetic`, or benchmark with `dpsgd bench`".into(),
            ));
        }
        "imdb" => {
            let (npz, folder) = (dir.join("imdb").join("imdb.npz"), dir.join("imdb").join("aclImdb"));
            let imdb = if npz.exists() {
                imdb::load_npz::<f32>(&npz, 10_000, 256)?
            } else if folder.exists() {
                imdb::load_acl::<f32>(&folder, 10_000, 256)?
            } else {
                return Err(Error::Config(format!(
                    "IMDB is not shipped with dpsgd: put Keras' imdb.npz at {}, or the aclImdb folders \
                     (train/pos, train/neg, test/pos, test/neg) in {}, or try `--dataset synthetic`",
                    npz.display(),
                    folder.display()
                )));
            };
            Splits { train: imdb.train, test: imdb.test }
        }
        _ => {
            let a = adult::load::<f32>(&dir.join("adult"))?;
            Splits { train: a.train, test: a.test }
        }
    })
}
