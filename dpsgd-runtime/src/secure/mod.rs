//! Floating-point-safe noise (`--secure-noise`): the clipped gradients summed on an
//! integer grid, discrete Gaussian noise added in integers, the result scaled back.
//!
//! Noise computed in floating point has a spacing that depends on the value it is added
//! to, and attacks exploit it (Mironov, CCS 2012; Jin et al., IEEE S&P 2022). Here
//! every value that carries the guarantee is an integer:
//!
//! 1. [`grid`]: each example's clipped gradient is scaled and rounded to `Z^d`, and its
//!    squared norm checked exactly against `Delta^2`, so the sum's sensitivity is
//!    `Delta` by integer arithmetic alone;
//! 2. [`sampler`]: `N_Z(0, sigma_L^2)` noise per coordinate with `sigma_L = sigma Delta`,
//!    from the run's secret stream, in integers and in a time that does not depend on
//!    the draws;
//! 3. the noisy integer sum, scaled back to gradient units and divided by the expected
//!    batch size: post-processing.
//!
//! The accounting ([`crate::privacy::RdpAccountant::discrete`]) is that of the
//! continuous subsampled Gaussian at integer RDP orders, which bounds this mechanism
//! (the README's privacy section has the proof), with the sampler's distance from the
//! exact discrete Gaussian counted into delta.

pub mod grid;
pub mod sampler;
mod table;

pub use grid::{DEFAULT_MAX_NOISE_INCREASE, Grid};
pub use sampler::SecureNoise;

/// The settings of floating-point-safe noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecureNoiseConfig {
    /// How much rounding to the integer grid may raise the noise, relative to the
    /// clipped signal (0.01: by 1% at most); more levels of noise make it smaller.
    pub max_noise_increase: f64,
}

impl Default for SecureNoiseConfig {
    fn default() -> Self {
        SecureNoiseConfig { max_noise_increase: DEFAULT_MAX_NOISE_INCREASE }
    }
}
