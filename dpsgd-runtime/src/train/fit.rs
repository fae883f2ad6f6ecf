//! The epoch loop: sample, step, evaluate, report.

use crate::gemm::Products;
use std::marker::PhantomData;
use std::time::Instant;

use super::checkpoint::{self, Checkpoint, ConfigRecord, RunState};
use super::eval::{Evaluation, evaluate};
use super::optimizer::Optimizer;
use super::replica::{Group, Replica};
use super::secure_step::SecureStep;
use super::step::{Privacy, batch_gradient, noisy_update};
use crate::Float;
use crate::data::Dataset;
use crate::engine::{CpuEngine, Engine};
use crate::error::{Error, Result, ensure_config};
use crate::model::PrivateModel;
use crate::planted::{Bug, planted};
use crate::privacy::{self, RdpAccountant};
use crate::rng::{Randomness, SecretKey};
use crate::sampling::{PoissonSampler, ShuffledBatches};

/// How to train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Epochs to train: passes over the training set, each of
    /// [`steps_per_epoch`](Self::steps_per_epoch) steps.
    pub epochs: usize,
    /// The expected batch size `B`: private training samples each example with rate
    /// `q = B / N` (Poisson); the baseline uses shuffled batches of exactly `B`.
    pub batch_size: usize,
    /// The update rule, its learning rate and schedule.
    pub optimizer: Optimizer,
    /// `None` trains without privacy (the baseline).
    pub privacy: Option<Privacy>,
    /// The delta at which private training reports its epsilon; must lie below `1/N`.
    pub delta: f64,
    /// Seeds what may be public: the non-private baseline's shuffles. (Parameter
    /// initialization is the caller's; the CLI seeds it with this too.)
    pub seed: u64,
    /// Where private training's noise and batch sampling come from: a secret key from
    /// the operating system unless asked otherwise, by name.
    pub randomness: Randomness,
    /// How private training draws its batches; the accounting assumes Poisson.
    pub sampling: Sampling,
    /// Process each logical batch in physical batches of at most this many examples
    /// (for batches that do not fit in memory): still one private step, one noise
    /// draw and one accounting event per logical batch. `None` leaves it to the
    /// engine ([`Engine::default_physical_batch`]): on the CPU, physical batches that
    /// keep a step's working set in the cache, for models where enough examples fit.
    pub physical_batch: Option<usize>,
    /// Stop, with a checkpoint, before a step that would take epsilon (at `delta`)
    /// past this budget.
    pub max_epsilon: Option<f64>,
    /// Whether the CPU engine's large products may round their operands to bfloat16
    /// ([`CpuEngine::set_products`]). Not part of what a resumed run must match: it
    /// changes the arithmetic, not what the privacy accounting assumes.
    pub products: Products,
}

/// The settings a checkpoint records, and a resumed run must match.
impl From<&TrainConfig> for ConfigRecord {
    fn from(c: &TrainConfig) -> Self {
        ConfigRecord {
            epochs: c.epochs,
            batch_size: c.batch_size,
            optimizer: format!("{:?}", c.optimizer),
            sampling: format!("{:?}", c.sampling),
            physical_batch: c.physical_batch,
            noise_multiplier: c.privacy.map(|p| p.noise_multiplier),
            max_grad_norm: c.privacy.map(|p| p.max_grad_norm),
            delta: c.delta,
            seed: c.seed,
            randomness: format!("{:?}", c.randomness),
            secure_noise: c.privacy.and_then(|p| p.secure_noise).map(|s| s.max_noise_increase),
        }
    }
}

/// How batches are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sampling {
    /// Every example joins each batch independently with rate `q`: what the privacy
    /// accounting assumes. The default.
    #[default]
    Poisson,
    /// Shuffled batches of exactly the batch size. For private training only on
    /// explicit request: the reported epsilon then assumes Poisson sampling, which
    /// these batches do not provide.
    Shuffled,
}

impl TrainConfig {
    /// A private or non-private run with the defaults for everything else: secret
    /// randomness, Poisson sampling, delta 1e-5, no physical batching, no budget.
    pub fn new(epochs: usize, batch_size: usize, optimizer: Optimizer, privacy: Option<Privacy>, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            optimizer,
            privacy,
            delta: 1e-5,
            seed,
            randomness: Randomness::Secret,
            sampling: Sampling::Poisson,
            physical_batch: None,
            max_epsilon: None,
            products: Products::F32,
        }
    }

    /// Whether batches are Poisson samples (private training, unless shuffled
    /// batches were asked for).
    pub fn poisson(&self) -> bool {
        self.privacy.is_some() && self.sampling == Sampling::Poisson
    }
}

impl TrainConfig {
    /// The Poisson sampling rate `q = B / N` of private training on `n` examples.
    pub fn sampling_rate(&self, n: usize) -> f64 {
        self.batch_size as f64 / n as f64
    }

    /// Steps in one epoch on `n` examples: one expected pass (`1/q` steps) when
    /// private, one pass of shuffled batches otherwise.
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        match self.poisson() {
            true => (1.0 / self.sampling_rate(n)).round().max(1.0) as usize,
            false => n.div_ceil(self.batch_size.max(1)),
        }
    }
}

/// What one epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Steps taken in the epoch (in a resumed run, those before the checkpoint
    /// included).
    pub steps: usize,
    /// Examples the steps saw (Poisson batches vary).
    pub examples: usize,
    /// Mean training loss over those examples, before each step's update.
    pub train_loss: f64,
    /// The privacy spent since the start of training, at the configured delta.
    pub epsilon: Option<f64>,
    /// The model evaluated on the test set after the epoch, when there is one.
    pub test: Option<Evaluation>,
    /// Seconds spent in training steps (evaluation excluded).
    pub seconds: f64,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// One report per epoch completed, in order.
    pub epochs: Vec<EpochReport>,
    /// Steps taken by this call (not counting those before a checkpoint it resumed).
    pub steps: usize,
    /// `q`, when training was private.
    pub sampling_rate: Option<f64>,
    /// Every private step, for the privacy report.
    pub accountant: Option<RdpAccountant>,
    /// Whether the run was stopped before its last epoch (a checkpoint holds its state).
    pub stopped: bool,
    /// Whether it stopped because the next step would have exceeded the epsilon budget.
    pub budget_exhausted: bool,
}

enum Batches {
    Poisson(PoissonSampler),
    Shuffled(ShuffledBatches),
}

impl Batches {
    fn next(&mut self, batch: &mut Vec<usize>) {
        match self {
            Batches::Poisson(s) => s.next_batch(batch),
            Batches::Shuffled(s) => s.next_batch(batch),
        }
    }
}

/// The state of a training run between steps: engine, training set, sampler, noise.
/// After the first step, steps allocate nothing on the CPU.
///
/// The trainer makes its own sampler and noise source, from a key it draws from the
/// operating system (or, on request by name, derives from a public seed), or from the
/// checkpoint it resumes: no caller can hand it noise already used, and it trains on
/// the one training set its sampler and accountant were made for. A trainer made with
/// [`Trainer::replica`] is one process of a data-parallel run: rank 0's key, its shard
/// of each batch, its part of the noise, one all-reduce per step.
pub struct Trainer<'d, F: Float, M: PrivateModel<F>, E: Engine<F> = CpuEngine<F>> {
    engine: E,
    /// The training set, or in a data-parallel run this process's shard of it.
    train_set: &'d Dataset<F>,
    /// Examples in the whole training set (`N`, which `q = B / N` is of).
    examples: usize,
    /// In a data-parallel run: the other processes, and this one's share of a step.
    group: Option<Group<'d, F>>,
    batches: Batches,
    /// The key of the noise and the sampler: only for private training.
    key: Option<SecretKey>,
    /// Only for private training with the default noise.
    noise: Option<Box<E::Noise>>,
    /// Only for private training with secure noise.
    secure: Option<SecureStep<F>>,
    /// Only for private training.
    accountant: Option<RdpAccountant>,
    indices: Vec<usize>,
    config: TrainConfig,
    steps_per_epoch: usize,
    /// Where the run stands: steps taken, epochs completed, the current epoch's totals.
    steps: u64,
    epoch: usize,
    epoch_steps: usize,
    epoch_loss_sum: f64,
    epoch_examples: usize,
    _model: PhantomData<M>,
}

impl<'d, F: Float, M: PrivateModel<F>> Trainer<'d, F, M, CpuEngine<F>> {
    /// Checks `config` against the training set and sets up a run on the CPU from `model`.
    pub fn new(model: &M, train_set: &'d Dataset<F>, config: &TrainConfig) -> Result<Self> {
        Trainer::on_engine(cpu_engine(model, train_set.len(), config), train_set, config)
    }
}

/// The CPU engine for a run of `model` on `examples` training examples as `config`
/// sets it up: room for its batches ([`batch_capacity`]) and its products.
pub fn cpu_engine<F: Float, M: PrivateModel<F>>(model: &M, examples: usize, config: &TrainConfig) -> CpuEngine<F> {
    let capacity = batch_capacity::<F, M, CpuEngine<F>>(examples, config);
    let mut engine = CpuEngine::new(M::SPEC, model.params(), capacity);
    engine.set_products(config.products);
    engine
}

/// Room for the sampled batches of a run: Poisson batches up to eight standard
/// deviations above the mean, so that steps do not allocate; exactly `B` for shuffled
/// batches.
fn logical_capacity(n: usize, config: &TrainConfig) -> usize {
    let b = config.batch_size;
    match config.poisson() {
        true => (b + 8 * (b as f64).sqrt().ceil() as usize + 16).min(n),
        false => b,
    }
}

/// The most examples engine `E` holds at once in a run of model `M`: the run's physical
/// batch size, or the engine's default one.
pub fn physical_batch<F: Float, M: PrivateModel<F>, E: Engine<F>>(config: &TrainConfig) -> Option<usize> {
    config.physical_batch.or_else(|| E::default_physical_batch(&M::SPEC))
}

/// The batch capacity to make engine `E` with for a run of model `M`: room for the
/// largest batch it will hold ([`physical_batch`] at most), so that steps do not
/// allocate.
pub fn batch_capacity<F: Float, M: PrivateModel<F>, E: Engine<F>>(n: usize, config: &TrainConfig) -> usize {
    let logical = logical_capacity(n, config);
    physical_batch::<F, M, E>(config).map_or(logical, |p| p.min(logical))
}

impl<'d, F: Float, M: PrivateModel<F>, E: Engine<F>> Trainer<'d, F, M, E> {
    /// Checks `config` against the training set and sets up a new run on `engine`,
    /// which holds the starting parameters. A private run draws its key here.
    pub fn on_engine(engine: E, train_set: &'d Dataset<F>, config: &TrainConfig) -> Result<Self> {
        let key = config.privacy.map(|_| config.randomness.new_key()).transpose()?;
        Trainer::with_key(engine, train_set, config, key, 0, None)
    }

    /// This process's part of a new data-parallel run ([`Replica`]): `shard_set` holds
    /// the examples of `replica.shard`, `engine` the starting parameters, the same in
    /// every process. Rank 0 draws the key and sends it to the others. Each step
    /// trains on the same Poisson batch of the whole training set as a one-process
    /// run with the same key would, adds the same noise once, and gives the same
    /// parameters up to the order of floating-point sums.
    pub fn replica(engine: E, shard_set: &'d Dataset<F>, config: &TrainConfig, replica: Replica<'d>) -> Result<Self> {
        let key = config.privacy.map(|_| replica.shared_key(config.randomness)).transpose()?;
        Trainer::with_key(engine, shard_set, config, key, 0, Some(replica))
    }

    /// A run on `engine` that has taken `steps` steps under `key` (private runs only),
    /// in one process or as `replica`.
    fn with_key(
        mut engine: E,
        train_set: &'d Dataset<F>,
        config: &TrainConfig,
        key: Option<SecretKey>,
        steps: u64,
        replica: Option<Replica<'d>>,
    ) -> Result<Self> {
        let n = replica.map_or(train_set.len(), |r| r.shard.total);
        if let Some(replica) = replica {
            let rows = replica.shard.rows();
            ensure_config!(
                train_set.len() == rows.len(),
                "rank {}'s shard holds {} examples, not the {} of rows {rows:?} of the training set",
                replica.shard.rank,
                train_set.len(),
                rows.len()
            );
            ensure_config!(
                config.privacy.is_none_or(|p| p.secure_noise.is_none()),
                "secure noise trains in one process only; leave out --secure-noise or run one process"
            );
        }
        let b = config.batch_size;
        ensure_config!(config.epochs > 0, "train for at least one epoch");
        ensure_config!(n > 0, "the training set is empty");
        ensure_config!(b > 0 && b <= n, "the batch size must lie in 1..={n} (the training set size), got {b}");
        train_set.check_fits(&M::SPEC)?;
        if let Some(privacy) = &config.privacy {
            // The fields are public: a configuration built by hand is checked here too.
            privacy.check()?;
            privacy::check_sampling_rate(config.sampling_rate(n))?;
            privacy::check_delta(config.delta, Some(n))?;
        }
        ensure_config!(config.physical_batch != Some(0), "the physical batch size must be at least 1");
        if let Some(max) = config.max_epsilon {
            ensure_config!(max > 0.0, "the epsilon budget must be positive, got {max}");
        }
        let key = match (&config.privacy, key) {
            (Some(_), Some(key)) => Some(key),
            (None, _) => None,
            (Some(_), None) => return Err(Error::Config("private training needs its secret key".into())),
        };
        // The baseline's shuffles may be public; private batches must not be.
        let public = SecretKey::insecure_from_seed(config.seed);
        let batches = match config.poisson() && !planted(Bug::ShuffledAsPoisson) {
            true => Batches::Poisson(PoissonSampler::new(n, config.sampling_rate(n), key.as_ref().unwrap_or(&public))?),
            false => Batches::Shuffled(ShuffledBatches::new(n, b, key.as_ref().unwrap_or(&public))?),
        };
        let secure_privacy = config.privacy.filter(|p| p.secure_noise.is_some());
        let secure = match (&secure_privacy, &key) {
            (Some(privacy), Some(key)) => {
                ensure_config!(
                    logical_capacity(n, config) <= crate::secure::grid::MAX_BATCH,
                    "secure noise sums batches of at most {} examples; lower the batch size",
                    crate::secure::grid::MAX_BATCH
                );
                Some(SecureStep::new(&M::SPEC, privacy, key, steps)?)
            }
            _ => None,
        };
        // A process of several draws its part of the noise itself (`Group`).
        let noise = match (&secure, &replica) {
            (None, None) => {
                let plain_sgd = config.optimizer.is_plain_sgd();
                key.as_ref().map(|key| engine.noise_source(key, b as f64, steps, plain_sgd))
            }
            _ => None,
        };
        let accountant = config.privacy.map(|_| match &secure {
            Some(secure) => RdpAccountant::discrete(secure.distance_per_step()),
            None => RdpAccountant::new(),
        });
        let group = replica
            .map(|replica| Group::new(replica, M::SPEC.num_params, logical_capacity(n, config), key.as_ref(), steps));
        let mut trainer = Trainer {
            engine,
            train_set,
            examples: n,
            group,
            batches,
            key,
            noise,
            secure,
            accountant,
            indices: Vec::with_capacity(logical_capacity(n, config)),
            config: *config,
            steps_per_epoch: config.steps_per_epoch(n),
            steps: 0,
            epoch: 0,
            epoch_steps: 0,
            epoch_loss_sum: 0.0,
            epoch_examples: 0,
            _model: PhantomData,
        };
        match &mut trainer.batches {
            Batches::Poisson(s) => s.seek(steps),
            Batches::Shuffled(s) => s.seek(steps),
        }
        trainer.steps = steps;
        Ok(trainer)
    }

    /// Continues the run saved in `checkpoint` on `engine`, to which its parameters and
    /// optimizer state are written, with the checkpoint's key. `config` must be the
    /// run's, and so must the training set (its size is checked through the privacy
    /// history, which must be that of the checkpoint's steps at the run's q and sigma).
    pub fn resume(
        engine: E,
        train_set: &'d Dataset<F>,
        config: &TrainConfig,
        checkpoint: &Checkpoint<F>,
    ) -> Result<Self> {
        Trainer::resume_in(engine, train_set, config, checkpoint, None)
    }

    /// [`resume`](Self::resume) as this process's part of a data-parallel run
    /// ([`replica`](Self::replica)), from the checkpoint every process has read (any
    /// process count may resume any run: the batches and the noise do not depend on
    /// it). Errors unless every process read the same checkpoint.
    pub fn resume_replica(
        engine: E,
        shard_set: &'d Dataset<F>,
        config: &TrainConfig,
        checkpoint: &Checkpoint<F>,
        replica: Replica<'d>,
    ) -> Result<Self> {
        let trainer = Trainer::resume_in(engine, shard_set, config, checkpoint, Some(replica))?;
        let key =
            checkpoint.key.as_ref().map_or(0, |k| u64::from_le_bytes(k.bytes()[..8].try_into().expect("8 bytes")));
        let read = crate::collective::fingerprint(&checkpoint.params) ^ key;
        ensure_config!(
            replica.collective.agree(read)?,
            "the processes read different checkpoints (give every one the same file)"
        );
        Ok(trainer)
    }

    fn resume_in(
        mut engine: E,
        train_set: &'d Dataset<F>,
        config: &TrainConfig,
        checkpoint: &Checkpoint<F>,
        replica: Option<Replica<'d>>,
    ) -> Result<Self> {
        let n = replica.map_or(train_set.len(), |r| r.shard.total);
        let state = &checkpoint.state;
        let record = ConfigRecord::from(config);
        ensure_config!(
            record == state.config,
            "the checkpoint was written with other settings: {:?}, not {:?}",
            state.config,
            record
        );
        if let Some(privacy) = &config.privacy {
            let expected = (config.sampling_rate(n), privacy.noise_multiplier, state.step);
            let history = &state.privacy_history;
            ensure_config!(
                state.step == 0 && history.is_empty() || history[..] == [expected],
                "the checkpoint's privacy history {history:?} is not that of its {} steps at q = {}, sigma = {} \
                 (a checkpoint of another training set, or a damaged one)",
                state.step,
                expected.0,
                expected.1
            );
        }
        engine.write_params(&checkpoint.params);
        engine.write_optimizer_state(&checkpoint.moments);
        let key = checkpoint.key.clone();
        let mut trainer = Trainer::with_key(engine, train_set, config, key, state.step, replica)?;
        ensure_config!(
            state.epoch < config.epochs || state.epoch_steps == 0,
            "the checkpoint's epoch {} is past the run's {} epochs",
            state.epoch,
            config.epochs
        );
        if let Some(accountant) = &mut trainer.accountant {
            for &(q, sigma, steps) in &state.privacy_history {
                accountant.record(q, sigma, steps)?;
            }
        }
        if let Some(budget) = config.max_epsilon {
            ensure_config!(
                trainer.next_step_within(budget, config.delta)?,
                "the epsilon budget {budget} is already spent: the checkpoint's {} steps leave no room for another \
                 (raise the budget to continue)",
                state.step
            );
        }
        trainer.epoch = state.epoch;
        trainer.epoch_steps = state.epoch_steps;
        trainer.epoch_loss_sum = state.epoch_loss_sum;
        trainer.epoch_examples = state.epoch_examples;
        Ok(trainer)
    }

    /// Writes the run's state, parameters and optimizer state to `path`, atomically,
    /// with the data's public encoding if it has one ([`Control::data_encoding`]). In
    /// a data-parallel run only rank 0 writes (the others hold the same).
    pub fn save(&mut self, path: &std::path::Path, data_encoding: Option<&str>) -> Result<()> {
        if self.group.as_ref().is_some_and(|g| !g.replica.leads()) {
            return Ok(());
        }
        let p = M::SPEC.num_params;
        let (mut params, mut moments) = (vec![F::ZERO; p], vec![F::ZERO; 2 * p]);
        self.engine.read_params(&mut params);
        self.engine.read_optimizer_state(&mut moments);
        self.engine.status()?;
        let state = RunState {
            format: checkpoint::FORMAT,
            model: M::SPEC.name.into(),
            float: F::NAME.into(),
            num_params: p,
            config: ConfigRecord::from(&self.config),
            step: self.steps,
            epoch: self.epoch,
            epoch_steps: self.epoch_steps,
            epoch_loss_sum: self.epoch_loss_sum,
            epoch_examples: self.epoch_examples,
            privacy_history: self.accountant.as_ref().map_or(Vec::new(), |a| a.history()),
        };
        checkpoint::write(
            path,
            &M::SPEC,
            &Checkpoint {
                params,
                moments,
                state,
                key: self.key.clone(),
                data_encoding: data_encoding.map(String::from),
            },
        )
    }

    /// Steps in one epoch: `1/q` when private, one pass of shuffled batches otherwise.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Samples a batch of the training set and takes one step. Returns the batch's
    /// summed loss and its size (both computed from private data without noise: not
    /// covered by the privacy guarantee); errors when the loss stops being finite or
    /// the device fails.
    pub fn step(&mut self) -> Result<(f64, usize)> {
        self.batches.next(&mut self.indices);
        let (config, train_set) = (&self.config, self.train_set);
        let (rows, privacy) = (&self.indices, config.privacy.as_ref());
        let (engine, steps) = (&mut self.engine, self.steps);
        let loss = match (&mut self.group, &mut self.secure, privacy, &mut self.noise) {
            // One process of several: its share, then the same update everywhere.
            (Some(group), _, _, _) => group.step::<M, E>(engine, train_set, rows, config, steps)?,
            // Secure noise: the gradient, its noise and the update in one.
            (None, Some(secure), _, _) => {
                let expected = config.batch_size as f64;
                secure.step::<M, E>(engine, train_set, rows, config.physical_batch, expected, &config.optimizer, steps)
            }
            (None, None, privacy, noise) => {
                let physical = physical_batch::<F, M, E>(config);
                let loss = batch_gradient::<F, M, E>(engine, train_set, rows, physical, privacy)
                    .unwrap_or_else(|| engine.sum(M::SPEC.losses));
                match (privacy, noise) {
                    (Some(privacy), Some(noise)) => {
                        let expected = match planted(Bug::RealizedBatchDivisor) {
                            true => rows.len().max(1) as f64,
                            false => config.batch_size as f64,
                        };
                        noisy_update(engine, &mut **noise, privacy, expected, &config.optimizer, steps);
                    }
                    _ if !rows.is_empty() => {
                        engine.scale_grads(F::from_f64(1.0 / rows.len() as f64));
                        config.optimizer.apply(engine, steps);
                    }
                    _ => {}
                }
                loss
            }
        };
        if let (Some(privacy), Some(accountant)) = (&config.privacy, &mut self.accountant) {
            accountant.record(config.sampling_rate(self.examples), privacy.noise_multiplier, 1)?;
        }
        self.engine.status()?;
        self.steps += 1;
        if !loss.is_finite() {
            return Err(Error::Diverged(format!(
                "the loss became {loss} at step {} (try a smaller learning rate)",
                self.steps
            )));
        }
        self.epoch_steps += 1;
        self.epoch_loss_sum += loss.to_f64();
        self.epoch_examples += self.indices.len();
        Ok((loss.to_f64(), self.indices.len()))
    }

    /// Whether one more step keeps epsilon (at `delta`) within `budget`.
    pub fn next_step_within(&self, budget: f64, delta: f64) -> Result<bool> {
        let n = self.examples;
        match (&self.accountant, &self.config.privacy) {
            (Some(accountant), Some(privacy)) => {
                let next =
                    accountant.epsilon_after(self.config.sampling_rate(n), privacy.noise_multiplier, 1, delta)?;
                Ok(next <= budget)
            }
            _ => Ok(true),
        }
    }

    /// The privacy spent so far: every private step taken (`None` when not private).
    pub fn accountant(&self) -> Option<&RdpAccountant> {
        self.accountant.as_ref()
    }

    /// Copies the current parameters into `model`.
    pub fn read_params(&mut self, model: &mut M) {
        self.engine.read_params(model.params_mut());
    }

    /// Whether to stop before the next step, when this process is `asked` to: in a
    /// data-parallel run, every process stops before the same step (one step after
    /// the first is asked), so that none waits for the others forever.
    fn stop(&mut self, asked: bool) -> bool {
        match &mut self.group {
            Some(group) => group.stop(asked),
            None => asked,
        }
    }

    /// In a data-parallel run, errors unless every process holds the parameters of
    /// `model` (read after the last step).
    fn check_in_step(&self, model: &M) -> Result<()> {
        match &self.group {
            Some(group) => group.check_in_step(model.params(), self.steps),
            None => Ok(()),
        }
    }
}

/// What a training run does besides training: where to write checkpoints (after every
/// epoch, and when stopped), and when to stop early (asked before every step, with
/// the number of steps taken; a stopped run ends with a checkpoint and can resume).
#[derive(Default)]
pub struct Control<'a> {
    /// The checkpoint file to write; `None` writes none.
    pub checkpoint: Option<&'a std::path::Path>,
    /// Asked before every step with the steps taken so far; `true` stops the run
    /// (a Ctrl-C handler, a step limit).
    pub stop: Option<&'a dyn Fn(u64) -> bool>,
    /// Called after every step (for progress displays and metrics).
    pub on_step: Option<&'a dyn Fn(&StepReport)>,
    /// The public encoding of the training data (a CSV schema, as JSON), kept in every
    /// checkpoint so that later predictions encode their data as training did.
    pub data_encoding: Option<&'a str>,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Steps taken since the start of the run, this one included.
    pub step: u64,
    /// The epoch it belongs to, counted from 1.
    pub epoch: usize,
    /// Its place in the epoch, counted from 1.
    pub epoch_step: usize,
    /// Steps in every epoch of the run.
    pub steps_per_epoch: usize,
    /// Examples in the (logical) batch: for Poisson sampling, a random number.
    pub batch_size: usize,
    /// The batch's mean loss before the update (0 for an empty batch). Computed from
    /// private data without noise: not covered by the privacy guarantee.
    pub loss: f64,
    /// Privacy spent so far at the configured delta.
    pub epsilon: Option<f64>,
}

/// Trains `model` in place on `train_set`, evaluating on `test_set` after every epoch,
/// and calls `on_epoch` with each epoch's report.
pub fn train<F: Float, M: PrivateModel<F>>(
    model: &mut M,
    train_set: &Dataset<F>,
    test_set: Option<&Dataset<F>>,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    if let Some(test) = test_set {
        test.check_fits(&M::SPEC)?;
    }
    let trainer = Trainer::new(model, train_set, config)?;
    train_with(trainer, model, test_set, &Control::default(), on_epoch)
}

/// [`train`] with a trainer already set up (fresh or resumed), on any engine, under
/// `control`: on the trainer's training set, with its settings. `model` receives the
/// parameters after every epoch.
pub fn train_with<F: Float, M: PrivateModel<F>, E: Engine<F>>(
    mut trainer: Trainer<'_, F, M, E>,
    model: &mut M,
    test_set: Option<&Dataset<F>>,
    control: &Control<'_>,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    if let Some(test) = test_set {
        test.check_fits(&M::SPEC)?;
    }
    let config = *trainer.config();
    let rate = config.sampling_rate(trainer.examples);
    let mut report = TrainReport {
        epochs: Vec::new(),
        steps: 0,
        sampling_rate: config.privacy.map(|_| rate),
        accountant: None,
        stopped: false,
        budget_exhausted: false,
    };
    while trainer.epoch < config.epochs {
        let start = Instant::now();
        while trainer.epoch_steps < trainer.steps_per_epoch() {
            let over_budget = match config.max_epsilon {
                Some(budget) => !trainer.next_step_within(budget, config.delta)?,
                None => false,
            };
            report.budget_exhausted = over_budget;
            let asked = control.stop.is_some_and(|stop| stop(trainer.steps));
            if trainer.stop(asked) || over_budget {
                if let Some(path) = control.checkpoint {
                    trainer.save(path, control.data_encoding)?;
                }
                trainer.read_params(model);
                report.accountant = trainer.accountant().cloned();
                report.stopped = true;
                return Ok(report);
            }
            let (loss, batch_size) = trainer.step()?;
            report.steps += 1;
            if let Some(on_step) = control.on_step {
                on_step(&StepReport {
                    step: trainer.steps,
                    epoch: trainer.epoch + 1,
                    epoch_step: trainer.epoch_steps,
                    steps_per_epoch: trainer.steps_per_epoch(),
                    batch_size,
                    loss: loss / batch_size.max(1) as f64,
                    epsilon: trainer.accountant().map(|a| a.epsilon(config.delta)).transpose()?.map(|(e, _)| e),
                });
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        trainer.read_params(model);
        trainer.check_in_step(model)?;
        let epoch = trainer.epoch + 1;
        if let Some(i) = model.params().iter().position(|p| !p.is_finite()) {
            return Err(Error::Diverged(format!("parameter {i} became NaN or infinite in epoch {epoch}")));
        }
        let test = test_set.map(|t| evaluate(model, t)).transpose()?;
        let epoch_report = EpochReport {
            epoch,
            steps: trainer.epoch_steps,
            examples: trainer.epoch_examples,
            train_loss: trainer.epoch_loss_sum / trainer.epoch_examples.max(1) as f64,
            epsilon: trainer.accountant().map(|a| a.epsilon(config.delta)).transpose()?.map(|(eps, _)| eps),
            test,
            seconds,
        };
        trainer.epoch = epoch;
        trainer.epoch_steps = 0;
        trainer.epoch_loss_sum = 0.0;
        trainer.epoch_examples = 0;
        if let Some(path) = control.checkpoint {
            trainer.save(path, control.data_encoding)?;
        }
        on_epoch(&epoch_report);
        report.epochs.push(epoch_report);
    }
    report.accountant = trainer.accountant().cloned();
    Ok(report)
}
