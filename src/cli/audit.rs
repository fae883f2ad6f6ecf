//! `dpsgd audit`: a privacy audit in one private training run with canaries.

use crate::audit::{AuditSettings, audit};
use crate::runtime::rng::Randomness;
use crate::runtime::{Error, Result};
use clap::Parser;
use serde_json::json;

/// `audit`'s arguments.
#[derive(Parser, Debug)]
pub struct AuditArgs {
    /// Canaries, each in the training set with probability 1/2 (at most 4096).
    #[arg(long, default_value_t = 4096)]
    pub canaries: usize,
    /// Epochs of the private run.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Expected batch size B: q = B / N for the N canaries included.
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Noise multiplier sigma of the private run.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub noise_multiplier: f64,
    /// Clipping norm C of the private run.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub max_grad_norm: f64,
    /// The delta of the claimed and the proven epsilon.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub delta: f64,
    /// Guesses: the highest half of the scores guessed included, the lowest excluded.
    #[arg(long, default_value_t = 200)]
    pub guesses: usize,
    /// The bound holds with confidence 1 - significance.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub significance: f64,
    /// Key the run's noise, batches and canaries from this public seed (repeatable).
    #[arg(long, value_name = "SEED")]
    pub insecure_reproducible_noise: Option<u64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs the audit and prints the claimed epsilon beside the proven lower bound.
pub fn run(args: &AuditArgs) -> Result<()> {
    let settings = AuditSettings {
        canaries: args.canaries,
        epochs: args.epochs,
        batch_size: args.batch_size,
        noise_multiplier: args.noise_multiplier,
        max_grad_norm: args.max_grad_norm,
        delta: args.delta,
        guesses: args.guesses,
        significance: args.significance,
        randomness: args.insecure_reproducible_noise.map_or(Randomness::Secret, Randomness::InsecureReproducible),
    };
    let r = audit(&settings)?;
    let refuted = r.lower_bound > r.claimed_epsilon;
    if args.json {
        let line = json!({
            "canaries": r.canaries, "included": r.included, "sampling_rate": r.sampling_rate, "steps": r.steps,
            "noise_multiplier": args.noise_multiplier, "max_grad_norm": args.max_grad_norm, "delta": args.delta,
            "guesses": r.guesses, "correct": r.correct, "significance": args.significance,
            "claimed_epsilon": r.claimed_epsilon, "lower_bound": r.lower_bound, "refuted": refuted,
            "seconds": r.seconds,
        });
        println!("{line}");
    } else {
        println!(
            "audit: {} canaries ({} included), q = {:.6}, {} steps, sigma = {}, C = {}, delta = {:e}",
            r.canaries, r.included, r.sampling_rate, r.steps, args.noise_multiplier, args.max_grad_norm, args.delta
        );
        println!(
            "guesses: {} (the {} highest scores \"included\", the {} lowest \"excluded\"), {} right",
            r.guesses,
            r.guesses / 2,
            r.guesses - r.guesses / 2,
            r.correct
        );
        println!(
            "claimed epsilon {:.3} (RDP accountant); lower bound {:.3} at {}% confidence ({:.2} s)",
            r.claimed_epsilon,
            r.lower_bound,
            100.0 * (1.0 - args.significance),
            r.seconds
        );
        if !refuted {
            println!("the claim stands: this run gives no evidence against it");
        }
    }
    match refuted {
        true => Err(Error::AuditRefuted(format!(
            "the audit refutes the claimed epsilon {:.3}: the private step does not do what the accountant assumes",
            r.claimed_epsilon
        ))),
        false => Ok(()),
    }
}
