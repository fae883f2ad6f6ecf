//! `dpsgd bench`: examples per second of training steps, for comparing hardware and
//! implementations. The same measurement backs `cargo bench`.

use clap::Parser;
use dpsgd::Device;
use dpsgd::bench::{BenchReport, StepKind, Timing, measure};
use dpsgd::models::{ModelName, with_model};
use dpsgd::runtime::Result;

#[derive(Parser, Debug)]
pub struct BenchArgs {
    /// Model: logreg, ffnn, mnist-cnn, mnist-cnn-tanh, cifar10, embed, lstm, wrn16-4 or transformer.
    #[arg(long)]
    pub model: ModelName,
    /// Examples per step.
    #[arg(long)]
    pub batch_size: usize,
    /// cpu, or cuda (a build with the `cuda` feature and an NVIDIA GPU).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Time ordinary SGD steps instead of private ones.
    #[arg(long)]
    pub no_privacy: bool,
    /// Time private steps with floating-point-safe noise (`train --secure-noise`).
    #[arg(long, conflicts_with = "no_privacy")]
    pub secure_noise: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Timed repeats; the median, minimum and maximum are reported.
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
    /// Seconds each repeat lasts at least.
    #[arg(long, default_value_t = 0.5)]
    pub min_seconds: f64,
    /// Seconds of untimed warm-up steps.
    #[arg(long, default_value_t = 0.5)]
    pub warmup_seconds: f64,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let timing = Timing { repeats: args.repeats, min_seconds: args.min_seconds, warmup_seconds: args.warmup_seconds };
    let kind = match (args.no_privacy, args.secure_noise) {
        (true, _) => StepKind::NonPrivate,
        (false, true) => StepKind::PrivateSecureNoise,
        (false, false) => StepKind::Private,
    };
    let report = with_model!(args.model, M => measure::<M>(args.device, args.batch_size, kind, timing, args.model.train_examples()))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print_text(args.model, &report);
    }
    Ok(())
}

fn print_text(model: ModelName, r: &BenchReport) {
    let mode = match r.kind {
        StepKind::NonPrivate => "non-private",
        StepKind::Private => "private",
        StepKind::PrivateSecureNoise => "private with secure noise",
    };
    let s = &r.examples_per_second;
    println!(
        "{model} ({} parameters), {mode}, batch {}, on {} ({} CPU threads)",
        r.params, r.batch_size, r.device, r.threads
    );
    println!(
        "  examples/s: median {:.0}  min {:.0}  max {:.0}  ({} repeats of {} steps)",
        s.median, s.min, s.max, r.repeats, r.steps_per_repeat
    );
    println!("  time per epoch of {} examples: {:.4} s", r.epoch_examples, r.epoch_seconds);
    match r.peak_memory_bytes {
        Some(b) => println!("  peak memory: {:.1} MiB", b as f64 / (1 << 20) as f64),
        None => println!("  peak memory: not reported on this system"),
    }
}
