//! The epoch loop: sample, step, evaluate, report.

use std::time::Instant;

use super::eval::{Evaluation, evaluate};
use super::step::{Privacy, Sgd, nonprivate_step, private_step};
use crate::data::Dataset;
use crate::engine::{CpuEngine, Engine};
use crate::error::{Error, Result, ensure_config};
use crate::model::PrivateModel;
use crate::noise::GaussianNoise;
use crate::sampling::{PoissonSampler, ShuffledBatches};
use crate::Float;

/// How to train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    /// The expected batch size `B`: private training samples each example with rate
    /// `q = B / N` (Poisson); the baseline uses shuffled batches of exactly `B`.
    pub batch_size: usize,
    pub sgd: Sgd,
    /// `None` trains without privacy (the baseline).
    pub privacy: Option<Privacy>,
    pub seed: u64,
}

/// What one epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub steps: usize,
    /// Examples the steps saw (Poisson batches vary).
    pub examples: usize,
    /// Mean training loss over those examples, before each step's update.
    pub train_loss: f64,
    pub test: Option<Evaluation>,
    /// Seconds spent in training steps (evaluation excluded).
    pub seconds: f64,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    pub epochs: Vec<EpochReport>,
    pub steps: usize,
    /// `q`, when training was private.
    pub sampling_rate: Option<f64>,
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

/// Trains `model` in place on `train_set`, evaluating on `test_set` after every epoch,
/// and calls `on_epoch` with each epoch's report.
pub fn train<F: Float, M: PrivateModel<F>>(
    model: &mut M,
    train_set: &Dataset<F>,
    test_set: Option<&Dataset<F>>,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<TrainReport> {
    let n = train_set.len();
    let b = config.batch_size;
    ensure_config!(config.epochs > 0, "train for at least one epoch");
    ensure_config!(n > 0, "the training set is empty");
    ensure_config!(b > 0 && b <= n, "the batch size must lie in 1..={n} (the training set size), got {b}");
    train_set.check_fits(&M::SPEC)?;
    if let Some(test) = test_set {
        test.check_fits(&M::SPEC)?;
    }

    let rate = b as f64 / n as f64;
    let (mut batches, steps_per_epoch, capacity) = match config.privacy {
        Some(_) => {
            // One epoch is one expected pass: 1/q steps. Room for batches up to eight
            // standard deviations above the mean, so steps do not allocate.
            let steps = (1.0 / rate).round().max(1.0) as usize;
            let capacity = (b + 8 * (b as f64).sqrt().ceil() as usize + 16).min(n);
            (Batches::Poisson(PoissonSampler::new(n, rate, config.seed)?), steps, capacity)
        }
        None => {
            let shuffled = ShuffledBatches::new(n, b, config.seed)?;
            let steps = shuffled.steps_per_epoch();
            (Batches::Shuffled(shuffled), steps, b)
        }
    };
    let mut engine = CpuEngine::new(M::SPEC, model.params(), capacity);
    let mut noise = GaussianNoise::seeded(config.seed);
    let mut indices = Vec::with_capacity(capacity);
    let mut report = TrainReport { epochs: Vec::new(), steps: 0, sampling_rate: config.privacy.map(|_| rate) };

    for epoch in 1..=config.epochs {
        let start = Instant::now();
        let (mut loss_sum, mut examples) = (0.0, 0);
        for _ in 0..steps_per_epoch {
            batches.next(&mut indices);
            engine.load_rows(train_set.features(), train_set.labels(), &indices);
            let loss = match &config.privacy {
                Some(privacy) => private_step::<F, M, _>(&mut engine, &mut noise, privacy, b as f64, &config.sgd),
                None => nonprivate_step::<F, M, _>(&mut engine, &config.sgd),
            };
            report.steps += 1;
            if !loss.is_finite() {
                return Err(Error::Diverged(format!(
                    "the loss became {loss} at step {} (try a smaller learning rate)",
                    report.steps
                )));
            }
            loss_sum += loss.to_f64();
            examples += indices.len();
        }
        let seconds = start.elapsed().as_secs_f64();
        engine.read_params(model.params_mut());
        if let Some(i) = model.params().iter().position(|p| !p.is_finite()) {
            return Err(Error::Diverged(format!("parameter {i} became NaN or infinite in epoch {epoch}")));
        }
        let test = test_set.map(|t| evaluate(model, t)).transpose()?;
        let epoch_report = EpochReport {
            epoch,
            steps: steps_per_epoch,
            examples,
            train_loss: loss_sum / examples.max(1) as f64,
            test,
            seconds,
        };
        on_epoch(&epoch_report);
        report.epochs.push(epoch_report);
    }
    Ok(report)
}
