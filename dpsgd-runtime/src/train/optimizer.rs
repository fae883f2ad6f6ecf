//! How the parameters move given a (private) gradient: SGD with momentum or Adam,
//! weight decay, and a learning-rate schedule.

use crate::Float;
use crate::engine::Engine;
use crate::error::{Result, ensure_config};

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// SGD with heavy-ball momentum (0 for plain SGD): `v = momentum v + g`, `p -= lr v`.
    Sgd {
        /// The velocity's decay per step, in `[0, 1)`.
        momentum: f64,
    },
    /// Adam. In private training its moments are those of the noised gradient
    /// (DP-Adam), so they cost no privacy.
    Adam {
        /// Decay of the first moment (the gradient's running mean) per step.
        beta1: f64,
        /// Decay of the second moment (the squared gradient's running mean) per step.
        beta2: f64,
        /// Added to the square root of the second moment before dividing by it.
        eps: f64,
    },
}

/// The learning rate over the run, as a function of the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate at every step.
    Constant,
    /// Multiplied by `factor` every `every` steps.
    Step {
        /// Steps between two reductions; positive.
        every: u64,
        /// What each reduction multiplies the rate by, in `(0, 1]`.
        factor: f64,
    },
    /// Half a cosine from the base rate down to 0 over `steps` steps.
    Cosine {
        /// Steps until the rate reaches 0 (and stays there); positive.
        steps: u64,
    },
}

/// How the parameters move: an update rule, its learning rate and schedule, and
/// weight decay. The constructors check the settings; the fields are public for
/// reading them back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimizer {
    /// The base learning rate.
    pub lr: f64,
    /// SGD with momentum or Adam, with their settings.
    pub kind: OptimizerKind,
    /// L2 weight decay, added to the gradient after the noise (`g += decay p`).
    pub weight_decay: f64,
    /// The learning rate as a function of the step.
    pub schedule: Schedule,
}

impl Optimizer {
    /// Plain SGD: no momentum and no weight decay, so that an update moves the
    /// parameters by the (noised) gradient alone, linearly (what deferred table noise
    /// needs: [`Engine::noise_source`](crate::engine::Engine::noise_source)).
    pub fn is_plain_sgd(&self) -> bool {
        matches!(self.kind, OptimizerKind::Sgd { momentum } if momentum == 0.0) && self.weight_decay == 0.0
    }

    /// SGD with momentum in [0, 1), constant rate, no weight decay.
    pub fn sgd(lr: f64, momentum: f64) -> Result<Self> {
        ensure_config!(lr > 0.0 && lr.is_finite(), "the learning rate must be positive and finite, got {lr}");
        ensure_config!((0.0..1.0).contains(&momentum), "momentum must lie in [0, 1), got {momentum}");
        Ok(Optimizer { lr, kind: OptimizerKind::Sgd { momentum }, weight_decay: 0.0, schedule: Schedule::Constant })
    }

    /// Adam with the usual betas (0.9, 0.999) and epsilon 1e-8.
    pub fn adam(lr: f64) -> Result<Self> {
        let mut optimizer = Optimizer::sgd(lr, 0.0)?;
        optimizer.kind = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
        Ok(optimizer)
    }

    /// These settings with L2 weight decay `decay`; errors unless it is finite and
    /// at least 0.
    pub fn with_weight_decay(mut self, decay: f64) -> Result<Self> {
        ensure_config!(decay >= 0.0 && decay.is_finite(), "weight decay must be >= 0 and finite, got {decay}");
        self.weight_decay = decay;
        Ok(self)
    }

    /// These settings with the learning-rate `schedule`; errors on a step schedule
    /// with a zero period or a factor outside `(0, 1]`, or a cosine of zero steps.
    pub fn with_schedule(mut self, schedule: Schedule) -> Result<Self> {
        match schedule {
            Schedule::Constant => {}
            Schedule::Step { every, factor } => {
                ensure_config!(every > 0, "a step schedule needs a positive period");
                ensure_config!(
                    factor > 0.0 && factor <= 1.0,
                    "a step schedule's factor must lie in (0, 1], got {factor}"
                );
            }
            Schedule::Cosine { steps } => ensure_config!(steps > 0, "a cosine schedule needs a positive length"),
        }
        self.schedule = schedule;
        Ok(self)
    }

    /// The learning rate of step `step` (counted from 0).
    pub fn lr_at(&self, step: u64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step { every, factor } => self.lr * factor.powi((step / every).min(i32::MAX as u64) as i32),
            Schedule::Cosine { steps } => {
                let t = step.min(steps) as f64 / steps as f64;
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// Weight decay and the update of step `step` (from 0) on the engine's gradient.
    pub fn apply<F: Float, E: Engine<F>>(&self, engine: &mut E, step: u64) {
        if self.weight_decay > 0.0 {
            engine.add_weight_decay(F::from_f64(self.weight_decay));
        }
        let lr = F::from_f64(self.lr_at(step));
        match self.kind {
            OptimizerKind::Sgd { momentum } => engine.sgd_update(lr, F::from_f64(momentum)),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                engine.adam_update(lr, F::from_f64(beta1), F::from_f64(beta2), F::from_f64(eps), step + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_give_the_intended_rates() {
        let base = Optimizer::sgd(0.4, 0.0).unwrap();
        assert_eq!(base.lr_at(1000), 0.4);
        let step = base.with_schedule(Schedule::Step { every: 10, factor: 0.5 }).unwrap();
        assert_eq!((step.lr_at(9), step.lr_at(10), step.lr_at(25)), (0.4, 0.2, 0.1));
        let cosine = base.with_schedule(Schedule::Cosine { steps: 100 }).unwrap();
        assert_eq!(cosine.lr_at(0), 0.4);
        assert!(
            (cosine.lr_at(50) - 0.2).abs() < 1e-12
                && cosine.lr_at(100).abs() < 1e-12
                && cosine.lr_at(200).abs() < 1e-12
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let sgd = Optimizer::sgd(0.1, 0.0).unwrap();
        for (result, message) in [
            (Optimizer::sgd(0.0, 0.0), "the learning rate must be positive and finite, got 0"),
            (Optimizer::sgd(0.1, 1.0), "momentum must lie in [0, 1), got 1"),
            (Optimizer::adam(-1.0), "got -1"),
            (sgd.with_weight_decay(-0.1), "weight decay must be >= 0 and finite, got -0.1"),
            (sgd.with_schedule(Schedule::Step { every: 0, factor: 0.5 }), "a step schedule needs a positive period"),
            (sgd.with_schedule(Schedule::Step { every: 5, factor: 1.5 }), "factor must lie in (0, 1], got 1.5"),
            (sgd.with_schedule(Schedule::Cosine { steps: 0 }), "a cosine schedule needs a positive length"),
        ] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
