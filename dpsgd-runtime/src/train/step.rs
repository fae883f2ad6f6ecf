//! One optimizer step, private or not, on a batch already loaded into an engine.

use crate::Float;
use crate::engine::Engine;
use crate::error::{Result, ensure_config};
use crate::model::PrivateModel;

/// SGD with optional (heavy-ball) momentum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
}

impl Sgd {
    pub fn new(lr: f64, momentum: f64) -> Result<Self> {
        ensure_config!(lr > 0.0 && lr.is_finite(), "the learning rate must be positive and finite, got {lr}");
        ensure_config!((0.0..1.0).contains(&momentum), "momentum must lie in [0, 1), got {momentum}");
        Ok(Sgd { lr, momentum })
    }
}

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

/// DP-SGD on the loaded batch (which may be empty): forward, one backward pass, ghost
/// norms, clip factors, the clipped sum as weighted GEMMs, noise once, division by
/// `expected_batch_size` (the public `q N`, never the realized batch size), update.
/// The per-example losses stay in the engine (`engine.sum(M::SPEC.losses)` reads
/// their sum): an asynchronous engine need not wait for the step to finish.
pub fn private_step<F: Float, M: PrivateModel<F>, E: Engine<F>>(
    engine: &mut E,
    noise: &mut E::Noise,
    privacy: &Privacy,
    expected_batch_size: f64,
    sgd: &Sgd,
) {
    let spec = M::SPEC;
    M::run_forward(engine);
    M::run_backward(engine);
    M::run_sq_norms(engine);
    engine.clip_factors(spec.sq_norms, spec.clip_factors, F::from_f64(privacy.max_grad_norm));
    M::run_param_grads(engine, Some(spec.clip_factors));
    engine.noisy_update(
        noise,
        F::from_f64(privacy.noise_multiplier * privacy.max_grad_norm),
        F::from_f64(1.0 / expected_batch_size),
        F::from_f64(sgd.lr),
        F::from_f64(sgd.momentum),
    );
}

/// Ordinary minibatch SGD on the mean loss of the loaded batch (nothing on an empty
/// one). The per-example losses stay in the engine, as for [`private_step`].
pub fn nonprivate_step<F: Float, M: PrivateModel<F>, E: Engine<F>>(engine: &mut E, sgd: &Sgd) {
    let batch = engine.batch_size();
    if batch == 0 {
        return;
    }
    M::run_forward(engine);
    M::run_backward(engine);
    M::run_param_grads(engine, None);
    engine.scale_grads(F::from_f64(1.0 / batch as f64));
    engine.sgd_update(F::from_f64(sgd.lr), F::from_f64(sgd.momentum));
}
