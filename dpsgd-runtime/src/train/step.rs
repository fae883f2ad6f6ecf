//! One optimizer step, private or not, on a batch already loaded into an engine.

use super::optimizer::{Optimizer, OptimizerKind};
use crate::Float;
use crate::engine::Engine;
use crate::error::{Result, ensure_config};
use crate::model::PrivateModel;

/// The private step's settings: clip every example's gradient to `max_grad_norm` and
/// add `N(0, (noise_multiplier * max_grad_norm)^2)` to every coordinate of the sum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Privacy {
    pub noise_multiplier: f64,
    pub max_grad_norm: f64,
}

impl Privacy {
    pub fn new(noise_multiplier: f64, max_grad_norm: f64) -> Result<Self> {
        ensure_config!(
            noise_multiplier > 0.0 && noise_multiplier.is_finite(),
            "the noise multiplier sigma must be positive and finite, got {noise_multiplier} (use the non-private mode to train without noise)"
        );
        ensure_config!(
            max_grad_norm > 0.0 && max_grad_norm.is_finite(),
            "the clipping norm C must be positive and finite, got {max_grad_norm}"
        );
        Ok(Privacy { noise_multiplier, max_grad_norm })
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
    let std = F::from_f64(privacy.noise_multiplier * privacy.max_grad_norm);
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
