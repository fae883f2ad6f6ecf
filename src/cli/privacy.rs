//! `dpsgd accountant` and `dpsgd calibrate`: the privacy of a DP-SGD run from its
//! settings, and the noise a privacy budget needs.

use crate::runtime::Result;
use crate::runtime::privacy::{self, Accountant, RdpAccountant};
use clap::Parser;

/// `accountant`'s arguments.
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
    /// The delta of the (epsilon, delta) guarantee.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub delta: f64,
    /// Which accountant.
    #[command(flatten)]
    pub accountant: AccountantChoice,
}

/// Which accountant `accountant` and `calibrate` use.
#[derive(Parser, Debug)]
pub struct AccountantChoice {
    /// rdp: Rényi DP of the subsampled Gaussian (Mironov, Talwar, Zhang 2019), the
    /// improved conversion to (epsilon, delta). pld: its privacy loss distribution
    /// composed numerically, tighter, with an interval that holds the exact epsilon.
    #[arg(long = "accountant", default_value = "rdp", value_parser = ["rdp", "pld"])]
    pub name: String,
    /// Account for secure noise (`train --secure-noise`): the discrete Gaussian, by RDP
    /// at integer orders, with the sampler's distance for up to a billion parameters
    /// counted into delta.
    #[arg(long)]
    pub secure_noise: bool,
}

impl AccountantChoice {
    /// The accountant chosen; errors for a combination that has none (the PLD
    /// accountant of secure noise).
    pub fn get(&self) -> Result<Accountant> {
        match (self.name.as_str(), self.secure_noise) {
            ("pld", true) => Err(crate::runtime::Error::Config(
                "the PLD accountant covers the continuous Gaussian only; secure noise is accounted by RDP (drop --accountant pld)"
                    .into(),
            )),
            (_, true) => Ok(Accountant::DiscreteRdp),
            ("pld", false) => Ok(Accountant::Pld),
            _ => Ok(Accountant::Rdp),
        }
    }

    /// How the accountant is named in output.
    fn label(&self) -> &'static str {
        match (self.name.as_str(), self.secure_noise) {
            (_, true) => "RDP at integer orders, secure noise",
            ("pld", _) => "PLD",
            _ => "RDP",
        }
    }
}

/// Prints the epsilon of the steps `args` describe.
pub fn accountant(args: &AccountantArgs) -> Result<()> {
    let kind = args.accountant.get()?;
    let mut accountant = match kind {
        Accountant::DiscreteRdp => RdpAccountant::discrete(privacy::discrete_distance_per_step_bound()),
        _ => RdpAccountant::new(),
    };
    accountant.record(args.sampling_rate, args.noise_multiplier, args.steps)?;
    let how = match kind {
        Accountant::Rdp | Accountant::DiscreteRdp => {
            let (epsilon, order) = accountant.epsilon(args.delta)?;
            let label = args.accountant.label();
            format!("epsilon = {epsilon:.4} at delta = {:e} ({label}, best order {order})", args.delta)
        }
        Accountant::Pld => {
            let bounds = accountant.pld_epsilon(args.delta)?;
            format!(
                "epsilon = {:.4} at delta = {:e} (PLD; the exact value lies in [{:.4}, {:.4}])",
                bounds.upper, args.delta, bounds.lower, bounds.upper
            )
        }
    };
    println!(
        "{how} for {} steps of Poisson sampling q = {} with sigma = {}",
        args.steps, args.sampling_rate, args.noise_multiplier
    );
    Ok(())
}

/// `calibrate`'s arguments.
#[derive(Parser, Debug)]
pub struct CalibrateArgs {
    /// The epsilon the steps may spend.
    #[arg(long, allow_negative_numbers = true)]
    pub target_epsilon: f64,
    /// The delta of the (epsilon, delta) guarantee.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub delta: f64,
    /// Poisson sampling rate q (expected batch size / dataset size).
    #[arg(long, allow_negative_numbers = true)]
    pub sampling_rate: f64,
    /// Number of steps.
    #[arg(long)]
    pub steps: u64,
    /// Which accountant.
    #[command(flatten)]
    pub accountant: AccountantChoice,
}

/// Prints the smallest noise multiplier that keeps the steps within the target.
pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let accountant = args.accountant.get()?;
    let sigma = privacy::calibrate_with(accountant, args.target_epsilon, args.delta, args.sampling_rate, args.steps)?;
    let reached = accountant.epsilon(args.sampling_rate, sigma, args.steps, args.delta)?;
    println!(
        "sigma = {sigma:.4}: the smallest noise multiplier within epsilon = {} at delta = {:e} for {} steps at q = {} (it gives epsilon = {reached:.4} by {})",
        args.target_epsilon,
        args.delta,
        args.steps,
        args.sampling_rate,
        args.accountant.label()
    );
    Ok(())
}
