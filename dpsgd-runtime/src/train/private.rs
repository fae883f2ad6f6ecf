//! The short way to set up private training, as Opacus's `make_private` and
//! `make_private_with_epsilon`: name the budget or the noise, get a [`TrainConfig`]
//! whose sampler, clipping, noise, optimizer and accountant agree.
//!
//! ```
//! # use dpsgd_runtime::train::{Optimizer, PrivateTraining};
//! let config = PrivateTraining::new(60, 256, Optimizer::sgd(0.15, 0.9)?)
//!     .target_epsilon(3.0)
//!     .delta(1e-5)
//!     .max_grad_norm(1.0)
//!     .config(60_000)?;
//! assert!(config.privacy.unwrap().noise_multiplier > 0.9);
//! # Ok::<(), dpsgd_runtime::Error>(())
//! ```

use super::fit::{Sampling, TrainConfig};
use super::optimizer::Optimizer;
use super::step::Privacy;
use crate::error::{Result, ensure_config};
use crate::privacy;
use crate::rng::Randomness;
use crate::secure::SecureNoiseConfig;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Noise {
    Multiplier(f64),
    TargetEpsilon(f64),
}

/// Private training settings, checked and completed by [`config`](Self::config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrivateTraining {
    epochs: usize,
    batch_size: usize,
    optimizer: Optimizer,
    noise: Option<Noise>,
    max_grad_norm: f64,
    delta: f64,
    seed: u64,
    physical_batch: Option<usize>,
    max_epsilon: Option<f64>,
    sampling: Sampling,
    randomness: Randomness,
    secure_noise: Option<SecureNoiseConfig>,
}

impl PrivateTraining {
    /// `epochs` of Poisson-sampled batches of expected size `batch_size`; clipping norm
    /// 1, delta 1e-5, seed 0 and secret randomness until set. The noise must be
    /// named: a multiplier or a target epsilon.
    pub fn new(epochs: usize, batch_size: usize, optimizer: Optimizer) -> Self {
        PrivateTraining {
            epochs,
            batch_size,
            optimizer,
            noise: None,
            max_grad_norm: 1.0,
            delta: 1e-5,
            seed: 0,
            physical_batch: None,
            max_epsilon: None,
            sampling: Sampling::Poisson,
            randomness: Randomness::Secret,
            secure_noise: None,
        }
    }

    /// Keys the noise and the batch sampling from the public `seed` instead of a
    /// secret key from the operating system: runs repeat bit for bit, and the
    /// privacy guarantee is void, since anyone who knows the seed can regenerate the
    /// noise. For tests and debugging only.
    pub fn insecure_reproducible_noise(mut self, seed: u64) -> Self {
        self.randomness = Randomness::InsecureReproducible(seed);
        self
    }

    /// Floating-point-safe noise ([`crate::secure`]): integer sums, discrete Gaussian
    /// noise, accounted by RDP at integer orders. Slower than the default noise.
    pub fn secure_noise(mut self, secure: SecureNoiseConfig) -> Self {
        self.secure_noise = Some(secure);
        self
    }

    /// See [`TrainConfig::sampling`]: shuffled batches only on explicit request.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Noise of multiplier `sigma`: standard deviation `sigma` times the clipping
    /// norm. The run's epsilon follows from it.
    pub fn noise_multiplier(mut self, sigma: f64) -> Self {
        self.noise = Some(Noise::Multiplier(sigma));
        self
    }

    /// The smallest noise that keeps the whole run within `epsilon` at the delta.
    pub fn target_epsilon(mut self, epsilon: f64) -> Self {
        self.noise = Some(Noise::TargetEpsilon(epsilon));
        self
    }

    /// The clipping norm `C` (default 1): each example's gradient is scaled to an L2
    /// norm of at most `c`.
    pub fn max_grad_norm(mut self, c: f64) -> Self {
        self.max_grad_norm = c;
        self
    }

    /// The delta (default 1e-5) at which epsilon is reported and a target epsilon
    /// met; [`config`](Self::config) errors unless it lies below `1/n`.
    pub fn delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }

    /// See [`TrainConfig::seed`]: never the noise's or the sampler's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// See [`TrainConfig::physical_batch`].
    pub fn physical_batch(mut self, size: usize) -> Self {
        self.physical_batch = Some(size);
        self
    }

    /// See [`TrainConfig::max_epsilon`].
    pub fn max_epsilon(mut self, epsilon: f64) -> Self {
        self.max_epsilon = Some(epsilon);
        self
    }

    /// The configuration for a training set of `n` examples, with the noise calibrated
    /// when a target epsilon was given. Impossible settings are errors saying why.
    pub fn config(&self, n: usize) -> Result<TrainConfig> {
        ensure_config!(n > 0, "the training set is empty");
        ensure_config!(
            self.batch_size > 0 && self.batch_size <= n,
            "the batch size must lie in 1..={n} (the training set size), got {}",
            self.batch_size
        );
        ensure_config!(self.epochs > 0, "train for at least one epoch");
        privacy::check_delta(self.delta, Some(n))?;
        let mut config = TrainConfig::new(
            self.epochs,
            self.batch_size,
            self.optimizer,
            Some(Privacy::new(1.0, self.max_grad_norm)?),
            self.seed,
        );
        config.delta = self.delta;
        config.physical_batch = self.physical_batch;
        config.max_epsilon = self.max_epsilon;
        config.sampling = self.sampling;
        config.randomness = self.randomness;
        let sigma = match self.noise {
            None => {
                return Err(crate::Error::Config("name the noise: a noise multiplier or a target epsilon".into()));
            }
            Some(Noise::Multiplier(sigma)) => sigma,
            Some(Noise::TargetEpsilon(epsilon)) => {
                let steps = (self.epochs * config.steps_per_epoch(n)) as u64;
                let accountant = match self.secure_noise {
                    Some(_) => privacy::Accountant::DiscreteRdp,
                    None => privacy::Accountant::Rdp,
                };
                privacy::calibrate_with(accountant, epsilon, self.delta, config.sampling_rate(n), steps)?
            }
        };
        let privacy = Privacy::new(sigma, self.max_grad_norm)?;
        config.privacy = Some(match self.secure_noise {
            Some(secure) => privacy.with_secure_noise(secure),
            None => privacy,
        });
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_epsilon_is_met_and_bad_settings_are_refused() {
        let sgd = Optimizer::sgd(0.1, 0.0).unwrap();
        let config = PrivateTraining::new(10, 100, sgd).target_epsilon(2.0).config(10_000).unwrap();
        let sigma = config.privacy.unwrap().noise_multiplier;
        let steps = (10 * config.steps_per_epoch(10_000)) as u64;
        let spent = privacy::epsilon(0.01, sigma, steps, 1e-5).unwrap();
        assert!(spent <= 2.0 && spent > 1.99, "{spent}");

        let base = PrivateTraining::new(10, 100, sgd);
        assert!(base.config(10_000).is_err(), "no noise named");
        assert!(base.noise_multiplier(0.0).config(10_000).is_err());
        assert!(base.noise_multiplier(1.0).delta(1e-3).config(10_000).is_err(), "delta >= 1/N");
        assert!(base.noise_multiplier(1.0).config(50).is_err(), "batch larger than the data");
        assert!(base.target_epsilon(1e-6).config(10_000).is_err(), "out of reach");
        assert!(base.noise_multiplier(1.0).max_grad_norm(-1.0).config(10_000).is_err());
    }
}
