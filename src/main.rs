//! The `dpsgd` command line: `dpsgd train ...` (the default), `bench`, `accountant`, `calibrate`,
//! `audit`, `init`, `export`, `predict`, `grads`, `plan`.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dpsgd", version, about = "Differentially private SGD, as fast as ordinary training")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a dataset, privately unless --no-privacy (the default command).
    Train(Box<commands::train::TrainArgs>),
    /// Measure training throughput on random data of a model's shape.
    Bench(commands::bench::BenchArgs),
    /// The (epsilon, delta) of DP-SGD steps with given sampling rate and noise.
    Accountant(commands::privacy::AccountantArgs),
    /// The smallest noise multiplier that keeps DP-SGD steps within an epsilon.
    Calibrate(commands::privacy::CalibrateArgs),
    /// A privacy audit: one private run with canaries, a proven lower bound on epsilon
    /// beside the claimed one.
    Audit(commands::audit::AuditArgs),
    /// Write a model's initial parameters (safetensors, PyTorch names and layouts).
    Init(commands::interop::InitArgs),
    /// A checkpoint's parameters alone (safetensors, PyTorch names and layouts),
    /// without its secret key: the file to share.
    Export(commands::interop::ExportArgs),
    /// A trained model's logits and predicted classes for a file of examples.
    Predict(commands::interop::PredictArgs),
    /// Per-example losses, norms, gradients and the clipped sum of a batch, for
    /// checking against other frameworks.
    Grads(commands::interop::GradsArgs),
    /// How the private step computes each layer's per-example norms, and the costs.
    Plan(commands::plan::PlanArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Nothing has used the pool yet, so this cannot fail; if it did, steps would
    // only be slower.
    let _ = dpsgd::runtime::train_on_this_thread();
    let result = match cli.command {
        Some(Command::Train(args)) => commands::train::run(&args),
        Some(Command::Bench(args)) => commands::bench::run(&args),
        Some(Command::Accountant(args)) => commands::privacy::accountant(&args),
        Some(Command::Calibrate(args)) => commands::privacy::calibrate(&args),
        Some(Command::Audit(args)) => commands::audit::run(&args),
        Some(Command::Init(args)) => commands::interop::init(&args),
        Some(Command::Export(args)) => commands::interop::export(&args),
        Some(Command::Predict(args)) => commands::interop::predict(&args),
        Some(Command::Grads(args)) => commands::interop::grads(&args),
        Some(Command::Plan(args)) => commands::plan::run(&args),
        None => commands::train::run(&commands::train::TrainArgs::parse_from(["dpsgd"])),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
