//! `dpsgd accountant` and `dpsgd calibrate`: the privacy of a DP-SGD run from its
//! settings, and the noise a privacy budget needs.

use clap::Parser;
use dpsgd::runtime::Result;
use dpsgd::runtime::privacy::{self, RdpAccountant};

#[derive(Parser, Debug)]
pub struct AccountantArgs {
    /// Poisson sampling rate q (expected batch size / dataset size).
    #[arg(long, allow_negative_numbers = true)]
    pub sampling_rate: f64,
    /// Noise multiplier sigma.
    #[arg(long, allow_negative_numbers = true)]
    pub noise_multiplier: f64,
    /// Number of steps.
    #[arg(long)]
    pub steps: u64,
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub delta: f64,
    /// rdp: Rényi DP of the subsampled Gaussian (Mironov, Talwar, Zhang 2019), the
    /// improved conversion to (epsilon, delta).
    #[arg(long, default_value = "rdp", value_parser = ["rdp"])]
    pub accountant: String,
}

pub fn accountant(args: &AccountantArgs) -> Result<()> {
    let mut accountant = RdpAccountant::new();
    accountant.record(args.sampling_rate, args.noise_multiplier, args.steps)?;
    let (epsilon, order) = accountant.epsilon(args.delta)?;
    println!(
        "epsilon = {epsilon:.4} at delta = {:e} (RDP, best order {order}) for {} steps of Poisson sampling q = {} with sigma = {}",
        args.delta, args.steps, args.sampling_rate, args.noise_multiplier
    );
    Ok(())
}

#[derive(Parser, Debug)]
pub struct CalibrateArgs {
    #[arg(long, allow_negative_numbers = true)]
    pub target_epsilon: f64,
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub delta: f64,
    /// Poisson sampling rate q (expected batch size / dataset size).
    #[arg(long, allow_negative_numbers = true)]
    pub sampling_rate: f64,
    /// Number of steps.
    #[arg(long)]
    pub steps: u64,
}

pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let sigma = privacy::calibrate(args.target_epsilon, args.delta, args.sampling_rate, args.steps)?;
    let reached = privacy::epsilon(args.sampling_rate, sigma, args.steps, args.delta)?;
    println!(
        "sigma = {sigma:.4}: the smallest noise multiplier within epsilon = {} at delta = {:e} for {} steps at q = {} (it gives epsilon = {reached:.4})",
        args.target_epsilon, args.delta, args.steps, args.sampling_rate
    );
    Ok(())
}
