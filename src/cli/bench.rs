//! `dpsgd bench`: examples per second of training steps, for comparing hardware and
//! implementations. The same measurement backs `cargo bench`.

use crate::Device;
use crate::bench::{BenchReport, StepKind, Timing, measure};
use crate::runtime::gemm::Products;
use crate::runtime::{Error, PrivateModel, Result};
use clap::Parser;

use super::choice::{ModelChoice, ModelTask};

/// `bench`'s arguments.
#[derive(Parser, Debug)]
pub struct BenchArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
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
    /// f32, or bf16: the large products of dense layers, convolutions and LSTMs round
    /// their operands to bfloat16 on CPUs with AMX or AVX-512 BF16 (as `train --products
    /// bf16`).
    #[arg(long, default_value = "f32")]
    pub products: Products,
}

/// `peak`'s arguments.
#[derive(Parser, Debug)]
pub struct PeakArgs {
    /// Runs measured; the best is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Seconds each run lasts at least.
    #[arg(long, default_value_t = 0.2)]
    pub min_seconds: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Measures and prints the machine's f32 multiply-add peak on the training threads.
pub fn peak(args: &PeakArgs) -> Result<()> {
    if !(args.min_seconds > 0.0 && args.min_seconds <= 60.0) || args.repeats == 0 {
        return Err(Error::Config(format!(
            "peak needs --repeats of at least 1 and --min-seconds in (0, 60] (got {} and {})",
            args.repeats, args.min_seconds
        )));
    }
    let p = crate::runtime::peak::f32_peak(args.min_seconds, args.repeats);
    if args.json {
        println!(r#"{{"f32_peak_gflops":{:.1},"threads":{},"lanes":{}}}"#, p.gflops, p.threads, p.lanes);
    } else {
        println!(
            "f32 multiply-add peak: {:.0} GFLOP/s on {} threads ({:.0} per thread, {}-lane FMAs)",
            p.gflops,
            p.threads,
            p.gflops / p.threads as f64,
            p.lanes
        );
    }
    Ok(())
}

/// Times the chosen model's steps and prints the figures (text or JSON).
pub fn run<C: ModelChoice>(args: &BenchArgs<C>) -> Result<()> {
    let timing = Timing { repeats: args.repeats, min_seconds: args.min_seconds, warmup_seconds: args.warmup_seconds };
    let kind = match (args.no_privacy, args.secure_noise) {
        (true, _) => StepKind::NonPrivate,
        (false, true) => StepKind::PrivateSecureNoise,
        (false, false) => StepKind::Private,
    };
    struct Measure<'a, C: ModelChoice>(&'a BenchArgs<C>, StepKind, Timing);
    impl<C: ModelChoice> ModelTask for Measure<'_, C> {
        type Output = BenchReport;
        fn run<M: PrivateModel<f32>>(self) -> Result<BenchReport> {
            let Measure(args, kind, timing) = self;
            measure::<M>(args.device, args.batch_size, kind, timing, args.model.train_examples(), args.products)
        }
    }
    let report = args.model.with(Measure(args, kind, timing))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print_text(&args.model.name(), &report);
    }
    Ok(())
}

fn print_text(model: &str, r: &BenchReport) {
    let mode = match r.kind {
        StepKind::NonPrivate => "non-private",
        StepKind::Private => "private",
        StepKind::PrivateSecureNoise => "private with secure noise",
    };
    let s = &r.examples_per_second;
    println!(
        "{model} ({} parameters), {mode}, batch {}, on {} ({} CPU threads, {} products)",
        r.params,
        r.batch_size,
        r.device,
        r.threads,
        r.products.name()
    );
    println!(
        "  examples/s: median {:.0}  min {:.0}  max {:.0}  ({} repeats of {} steps)",
        s.median, s.min, s.max, r.repeats, r.steps_per_repeat
    );
    println!("  time per epoch of {} examples: {:.4} s", r.epoch_examples, r.epoch_seconds);
    println!("  loss of the last step: {:.3e} (synthetic data of the model's shape, learnable)", r.final_loss);
    match r.peak_memory_bytes {
        Some(b) => println!("  peak memory: {:.1} MiB", b as f64 / (1 << 20) as f64),
        None => println!("  peak memory: not reported on this system"),
    }
}
