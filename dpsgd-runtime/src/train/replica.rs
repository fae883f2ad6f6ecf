//! One process of a data-parallel run: its share of every step, and what keeps the
//! processes in step (one all-reduce per step, a parameter check per epoch, a shared
//! decision to stop).

use super::fit::{TrainConfig, physical_batch};
use super::step::batch_gradient;
use crate::Float;
use crate::collective::{self, Collective, Shard};
use crate::data::Dataset;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::PrivateModel;
use crate::noise::GaussianNoise;
use crate::planted::{Bug, planted};
use crate::rng::{Randomness, SecretKey};

/// One process of a data-parallel run: the group it steps with, and which examples of
/// the training set it holds ([`Shard::rows`] of the whole set, as a dataset of their
/// own). Every process of the group makes its trainer with its own replica, the same
/// settings and the same starting parameters.
#[derive(Clone, Copy)]
pub struct Replica<'c> {
    /// The processes.
    pub collective: &'c dyn Collective,
    /// This process's examples.
    pub shard: Shard,
}

impl<'c> Replica<'c> {
    /// This process's replica in `collective`, of a training set of `total` examples.
    pub fn new(collective: &'c dyn Collective, total: usize) -> Result<Self> {
        Ok(Replica { collective, shard: Shard::new(collective.rank(), collective.ranks(), total)? })
    }

    /// Whether this process writes checkpoints and reports (rank 0).
    pub fn leads(&self) -> bool {
        self.shard.rank == 0
    }

    /// The run's key: drawn by rank 0 as `randomness` says and sent to the others, so
    /// that all sample the same batches and draw from the same noise stream.
    pub(super) fn shared_key(&self, randomness: Randomness) -> Result<SecretKey> {
        let mut bytes = match self.leads() {
            true => *randomness.new_key()?.bytes(),
            false => [0; 32],
        };
        self.collective.broadcast(&mut bytes)?;
        Ok(SecretKey::from_bytes(bytes))
    }
}

/// A replica's state between steps.
pub(super) struct Group<'c, F> {
    pub replica: Replica<'c>,
    /// The batch's rows that this shard holds, as rows of the shard.
    local: Vec<usize>,
    /// The gradient sum, then the summed loss and the stop flag: one all-reduce.
    reduced: Vec<F>,
    /// The noise stream (private runs only): this rank draws its blocks of every call.
    noise: Option<GaussianNoise>,
    /// Whether this rank has been asked to stop: sent with the next step's sums.
    stop_asked: bool,
    /// Whether any rank had been asked to stop by the last step.
    stop_agreed: bool,
}

impl<'c, F: Float> Group<'c, F> {
    pub fn new(replica: Replica<'c>, num_params: usize, capacity: usize, key: Option<&SecretKey>, steps: u64) -> Self {
        Group {
            replica,
            local: Vec::with_capacity(capacity),
            reduced: vec![F::ZERO; num_params + 2],
            noise: key.map(|key| GaussianNoise::keyed(key, steps)),
            stop_asked: false,
            stop_agreed: false,
        }
    }

    /// This rank's share of a step on `batch` (rows of the whole training set), then
    /// the step's update, the same on every rank. Returns the batch's summed loss,
    /// over every rank's examples.
    ///
    /// Private: each rank sums its examples' clipped gradients and adds its blocks of
    /// the step's noise ([`Shard::blocks`]); the all-reduce sums both, so the noise
    /// enters once, drawn from the stream a one-process run draws, and the division
    /// is by the global expected batch size.
    pub fn step<M: PrivateModel<F>, E: Engine<F>>(
        &mut self,
        engine: &mut E,
        shard_set: &Dataset<F>,
        batch: &[usize],
        config: &TrainConfig,
        step: u64,
    ) -> Result<F> {
        let shard = self.replica.shard;
        self.local.clear();
        self.local.extend(batch.iter().filter_map(|&row| shard.local(row)));
        let privacy = config.privacy.as_ref();
        let physical = physical_batch::<F, M, E>(config);
        let loss = batch_gradient::<F, M, E>(engine, shard_set, &self.local, physical, privacy)
            .unwrap_or_else(|| engine.sum(M::SPEC.losses));
        let p = M::SPEC.num_params;
        engine.read_grads(&mut self.reduced[..p]);
        if let (Some(privacy), Some(noise)) = (privacy, &mut self.noise) {
            let mut std = privacy.noise_multiplier * privacy.max_grad_norm;
            let mut blocks = shard.blocks(GaussianNoise::blocks(p));
            if planted(Bug::NoiseOncePerRank) {
                blocks = 0..GaussianNoise::blocks(p);
            }
            if planted(Bug::NoiseDividedByRanks) {
                std /= shard.ranks as f64;
            }
            noise.add_noise_blocks(&mut self.reduced[..p], F::from_f64(std), blocks);
        }
        self.reduced[p] = loss;
        self.reduced[p + 1] = if self.stop_asked { F::ONE } else { F::ZERO };
        collective::sum(self.replica.collective, &mut self.reduced)?;
        self.stop_agreed = self.reduced[p + 1] > F::ZERO;
        engine.write_grads(&self.reduced[..p]);
        let divisor = match privacy {
            Some(_) => Some(config.batch_size as f64),
            None => (!batch.is_empty()).then_some(batch.len() as f64),
        };
        if let Some(divisor) = divisor {
            engine.scale_grads(F::from_f64(1.0 / divisor));
            config.optimizer.apply(engine, step);
        }
        Ok(self.reduced[p])
    }

    /// Whether the run stops before its next step: `asked` is this rank's wish, which
    /// the others learn with the next step's sums; the answer is whether any rank had
    /// asked by the last step, the same on every rank.
    pub fn stop(&mut self, asked: bool) -> bool {
        self.stop_asked |= asked;
        self.stop_agreed
    }

    /// Errors unless every rank holds the same parameters `params` (and is at the same
    /// step).
    pub fn check_in_step(&self, params: &[F], step: u64) -> Result<()> {
        let fingerprint = collective::fingerprint(params) ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match self.replica.collective.agree(fingerprint)? {
            true => Ok(()),
            false => Err(Error::Diverged(format!(
                "the {} processes no longer hold the same parameters at step {step} (rank {} differs from \
                 another): the run cannot go on",
                self.replica.shard.ranks, self.replica.shard.rank
            ))),
        }
    }
}
