//! One optimizer step, private or not, on a batch already loaded into an engine.

use super::optimizer::{Optimizer, OptimizerKind};
use crate::Float;
use crate::data::Dataset;
use crate::engine::Engine;
use crate::error::{Result, ensure_config};
use crate::model::PrivateModel;
use crate::planted::{Bug, planted};
use crate::secure::SecureNoiseConfig;

/// The private step's settings: clip every example's gradient to `max_grad_norm` and
/// add `N(0, (noise_multiplier * max_grad_norm)^2)` to every coordinate of the sum, or,
/// with `secure_noise`, its floating-point-safe counterpart ([`crate::secure`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Privacy {
    /// Noise multiplier sigma: the noise's standard deviation is sigma times the
    /// clipping norm `C`. Positive and finite.
    pub noise_multiplier: f64,
    /// Clipping norm `C`: every example's gradient is scaled to an L2 norm of at
    /// most `C` before the sum. Positive and finite.
    pub max_grad_norm: f64,
    /// Integer sums and discrete Gaussian noise instead of floating-point noise.
    pub secure_noise: Option<SecureNoiseConfig>,
}

impl Privacy {
    /// Gaussian noise of multiplier `noise_multiplier` (sigma) on gradients clipped
    /// to `max_grad_norm` (`C`); errors unless both are positive and finite.
    pub fn new(noise_multiplier: f64, max_grad_norm: f64) -> Result<Self> {
        let privacy = Privacy { noise_multiplier, max_grad_norm, secure_noise: None };
        privacy.check()?;
        Ok(privacy)
    }

    /// Errors unless sigma and `C` are positive and finite: what [`Privacy::new`]
    /// checks, for settings whose public fields were set by hand.
    pub fn check(&self) -> Result<()> {
        let max_grad_norm = self.max_grad_norm;
        crate::privacy::check_noise_multiplier(self.noise_multiplier)?;
        ensure_config!(
            max_grad_norm > 0.0 && max_grad_norm.is_finite(),
            "the clipping norm C must be positive and finite, got {max_grad_norm}"
        );
        Ok(())
    }

    /// These settings with floating-point-safe noise.
    pub fn with_secure_noise(self, secure: SecureNoiseConfig) -> Self {
        Privacy { secure_noise: Some(secure), ..self }
    }
}

/// The private gradient of the loaded batch (which may be empty): forward, one
/// backward pass, ghost norms, clip factors, and the clipped sum as weighted GEMMs, in
/// the engine's gradient buffer. No per-example gradient of a dense layer is formed.
pub fn clipped_gradient<F: Float, M: PrivateModel<F>, E: Engine<F>>(engine: &mut E, privacy: &Privacy) {
    let spec = M::SPEC;
    M::run_forward(engine);
    M::run_backward(engine);
    M::run_sq_norms(engine);
    engine.clip_factors(spec.sq_norms, spec.clip_factors, F::from_f64(privacy.max_grad_norm));
    M::run_param_grads(engine, Some(spec.clip_factors));
}

/// The rest of a private step on a clipped sum in the gradient buffer: noise once,
/// division by `expected_batch_size` (the public `q N`, never the realized batch
/// size), weight decay, the update of step `step` (from 0).
pub fn noisy_update<F: Float, E: Engine<F>>(
    engine: &mut E,
    noise: &mut E::Noise,
    privacy: &Privacy,
    expected_batch_size: f64,
    optimizer: &Optimizer,
    step: u64,
) {
    let planted_scale = match (planted(Bug::HalfNoise), planted(Bug::NoNoise)) {
        (_, true) => 0.0,
        (true, _) => 0.5,
        _ => 1.0,
    };
    let std = F::from_f64(privacy.noise_multiplier * privacy.max_grad_norm * planted_scale);
    let scale = F::from_f64(1.0 / expected_batch_size);
    match optimizer.kind {
        // The common case, in one pass where the engine fuses it.
        OptimizerKind::Sgd { momentum } if optimizer.weight_decay == 0.0 => {
            let lr = F::from_f64(optimizer.lr_at(step));
            engine.noisy_update(noise, std, scale, lr, F::from_f64(momentum));
        }
        _ => {
            engine.add_noise(noise, std);
            engine.scale_grads(scale);
            optimizer.apply(engine, step);
        }
    }
}

/// Rows of a batch in as few physical batches of at most `max` examples as there can
/// be, their sizes differing by one at most (no small last one); an empty batch is one
/// empty physical batch.
pub fn physical_batches(rows: &[usize], max: Option<usize>) -> impl Iterator<Item = &[usize]> {
    let count = rows.len().div_ceil(max.unwrap_or(usize::MAX).max(1)).max(1);
    let (size, larger) = (rows.len() / count, rows.len() % count);
    (0..count).map(move |i| &rows[i * size + i.min(larger)..][..size + usize::from(i < larger)])
}

/// The gradient of examples `rows` of `data` in the engine's gradient buffer: the
/// clipped sum when `privacy` is given, the plain sum otherwise, formed over
/// [`physical_batches`] of at most `max` examples and accumulated. Returns the summed
/// loss when there were several physical batches (each one's losses are read before
/// the next overwrites them); after one, the losses stay in the engine, so that an
/// asynchronous engine need not wait.
pub fn batch_gradient<F: Float, M: PrivateModel<F>, E: Engine<F>>(
    engine: &mut E,
    data: &Dataset<F>,
    rows: &[usize],
    max: Option<usize>,
    privacy: Option<&Privacy>,
) -> Option<F> {
    let several = physical_batches(rows, max).nth(1).is_some();
    let mut loss = F::ZERO;
    for (i, rows) in physical_batches(rows, max).enumerate() {
        engine.load_dataset_rows(data, rows);
        match privacy {
            Some(privacy) => clipped_gradient::<F, M, E>(engine, privacy),
            None => {
                M::run_forward(engine);
                M::run_backward(engine);
                M::run_param_grads(engine, None);
            }
        }
        if several {
            loss += engine.sum(M::SPEC.losses);
            engine.accumulate_grads(i == 0);
        }
    }
    if several {
        engine.take_accumulated_grads();
    }
    several.then_some(loss)
}

/// DP-SGD on the loaded batch: [`clipped_gradient`] then [`noisy_update`]. The
/// per-example losses stay in the engine (`engine.sum(M::SPEC.losses)` reads their
/// sum): an asynchronous engine need not wait for the step to finish.
pub fn private_step<F: Float, M: PrivateModel<F>, E: Engine<F>>(
    engine: &mut E,
    noise: &mut E::Noise,
    privacy: &Privacy,
    expected_batch_size: f64,
    optimizer: &Optimizer,
    step: u64,
) {
    clipped_gradient::<F, M, E>(engine, privacy);
    noisy_update(engine, noise, privacy, expected_batch_size, optimizer, step);
}

/// Ordinary minibatch training on the mean loss of the loaded batch (nothing on an
/// empty one). The per-example losses stay in the engine, as for [`private_step`].
pub fn nonprivate_step<F: Float, M: PrivateModel<F>, E: Engine<F>>(engine: &mut E, optimizer: &Optimizer, step: u64) {
    let batch = engine.batch_size();
    if batch == 0 {
        return;
    }
    M::run_forward(engine);
    M::run_backward(engine);
    M::run_param_grads(engine, None);
    engine.scale_grads(F::from_f64(1.0 / batch as f64));
    optimizer.apply(engine, step);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_batches_are_near_equal_and_cover_the_batch() {
        let rows: Vec<usize> = (0..10).collect();
        let sizes = |max| physical_batches(&rows, max).map(<[usize]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(None), [10]);
        assert_eq!(sizes(Some(10)), [10]);
        assert_eq!(sizes(Some(4)), [4, 3, 3]);
        assert_eq!(sizes(Some(3)), [3, 3, 2, 2]);
        assert_eq!(sizes(Some(1)), [1; 10]);
        assert_eq!(physical_batches(&rows, Some(4)).flatten().copied().collect::<Vec<_>>(), rows);
        // An empty batch is one empty physical batch: a noise-only private step.
        assert_eq!(physical_batches(&[], Some(4)).map(<[usize]>::len).collect::<Vec<_>>(), [0]);
    }
}
