//! The private step with floating-point-safe noise ([`crate::secure`]): every example's
//! gradient materialized, clipped and rounded to the integer grid, the integer sum
//! noised with the discrete Gaussian, then scaled back and applied.

use super::optimizer::Optimizer;
use super::step::{Privacy, physical_batches};
use crate::Float;
use crate::data::Dataset;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::PrivateModel;
use crate::rng::SecretKey;
use crate::secure::{Grid, SecureNoise};
use crate::spec::ModelSpec;

/// Per-example gradient values held at once, at most: physical batches are cut to fit,
/// since every example's whole gradient is formed and read twice. A few MiB stay in
/// the cache between the passes: the embedding net (160,370 parameters) at batch 256
/// took 5,000 examples/s with room for 2^25 values, 8,000 with 2^22 or 2^19, 9,700
/// with 2^20 (two-core AMD EPYC, 1 MiB of L2 per core).
const MAX_PER_EXAMPLE_VALUES: usize = 1 << 20;

/// A secure-noise run's grid, noise stream and buffers, kept between steps.
pub struct SecureStep<F> {
    grid: Grid,
    noise: SecureNoise,
    max_grad_norm: f64,
    sums: Vec<i64>,
    /// Room for the per-example gradients of engines that keep them off the host.
    per_example: Vec<F>,
    keep: Vec<f64>,
    grads: Vec<F>,
}

impl<F: Float> SecureStep<F> {
    /// The step of a run of `spec` with `privacy` (whose `secure_noise` is set) keyed by
    /// `key`, after `steps` steps. Errors when the grid cannot serve the settings.
    pub fn new(spec: &ModelSpec, privacy: &Privacy, key: &SecretKey, steps: u64) -> Result<Self> {
        let p = spec.num_params;
        let grid = Self::grid_for(spec, privacy)?;
        Ok(SecureStep {
            grid,
            noise: SecureNoise::keyed(key, grid.levels, steps),
            max_grad_norm: privacy.max_grad_norm,
            sums: vec![0; p],
            per_example: Vec::new(),
            keep: Vec::new(),
            grads: vec![F::ZERO; p],
        })
    }

    /// The grid a run of `spec` with `privacy` uses (its `secure_noise` settings, or the
    /// defaults).
    pub fn grid_for(spec: &ModelSpec, privacy: &Privacy) -> Result<Grid> {
        let secure = privacy.secure_noise.unwrap_or_default();
        Grid::new(privacy.noise_multiplier, privacy.max_grad_norm, spec.num_params, secure.max_noise_increase)
    }

    /// The statistical distance between one step's noise vector and the exact discrete
    /// Gaussian it stands for, which the accountant counts into delta.
    pub fn distance_per_step(&self) -> f64 {
        self.sums.len() as f64 * SecureNoise::distance_per_draw(self.grid.levels)
    }

    /// The largest physical batch for `spec`, given the run's (`requested`).
    pub fn physical_batch(spec: &ModelSpec, requested: Option<usize>) -> usize {
        let fit = (MAX_PER_EXAMPLE_VALUES / spec.num_params.max(1)).max(1);
        requested.map_or(fit, |r| r.min(fit))
    }

    /// One private step on examples `rows` of `data` (possibly none): the integer sum
    /// of their rounded clipped gradients, discrete Gaussian noise, division by
    /// `expected_batch_size` (public), the update of step `step`. Returns the batch's
    /// summed loss (not covered by the guarantee).
    #[allow(clippy::too_many_arguments)]
    pub fn step<M: PrivateModel<F>, E: Engine<F>>(
        &mut self,
        engine: &mut E,
        data: &Dataset<F>,
        rows: &[usize],
        requested_physical: Option<usize>,
        expected_batch_size: f64,
        optimizer: &Optimizer,
        step: u64,
    ) -> F {
        let p = M::SPEC.num_params;
        self.sums.iter_mut().for_each(|s| *s = 0);
        let mut loss = F::ZERO;
        for rows in physical_batches(rows, Some(Self::physical_batch(&M::SPEC, requested_physical))) {
            engine.load_dataset_rows(data, rows);
            if rows.is_empty() {
                continue;
            }
            M::run_forward(engine);
            M::run_backward(engine);
            engine.begin_per_example_grads();
            M::run_per_example_grads(engine);
            let per_example = engine.per_example_grads_on_host(&mut self.per_example);
            self.grid.add_rounded(per_example, p, self.max_grad_norm, &mut self.sums, &mut self.keep);
            loss += engine.sum(M::SPEC.losses);
        }
        self.noise.add_to(&mut self.sums);
        // Back to gradient units, over the public expected batch size.
        let unit = 1.0 / (self.grid.scale * expected_batch_size);
        for (g, &s) in self.grads.iter_mut().zip(&self.sums) {
            *g = F::from_f64(s as f64 * unit);
        }
        engine.write_grads(&self.grads);
        optimizer.apply(engine, step);
        loss
    }
}
