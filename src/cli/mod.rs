//! The command line: `train` (the default), `bench`, `peak`, `accountant`, `calibrate`, `audit`,
//! `init`, `export`, `predict`, `grads` and `plan`, for the built-in models (the `dpsgd`
//! binary) or for a model of your own, in a binary of a few lines:
//!
//! ```no_run
//! # use dpsgd::prelude::*;
//! # #[private_model(loss = mean_squared_error)]
//! # mod price {
//! #     pub struct Price { pub fc: Linear<8, 1> }
//! #     impl Price { pub fn forward(&self, x: Input<8>) -> Logits<1> { self.fc(x) } }
//! # }
//! # use price::Price;
//! fn main() -> std::process::ExitCode {
//!     dpsgd::cli::main::<Price>()
//! }
//! ```
//!
//! Every subcommand, flag, checkpoint, privacy report and metric is the same for both;
//! a user's binary has no `--model` and no shipped dataset: it trains on
//! `--train-data`/`--test-data` (CSV with a schema, `.npz` or safetensors) or on
//! `--dataset synthetic`.

pub mod audit;
pub mod bench;
mod choice;
mod files;
pub mod interop;
pub mod plan;
pub mod privacy;
mod progress;
pub mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dpsgd_runtime::{PrivateModel, Result};

pub use choice::{BuiltinModel, ModelChoice, ModelTask, Single};

/// The command line of a binary whose models `C` chooses.
#[derive(Parser, Debug)]
#[command(version, about = "Differentially private SGD, as fast as ordinary training")]
pub struct Cli<C: ModelChoice> {
    /// The subcommand; none means `train` with its defaults.
    #[command(subcommand)]
    pub command: Option<Command<C>>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command<C: ModelChoice> {
    /// Train a model on a dataset, privately unless --no-privacy (the default command).
    Train(Box<train::TrainArgs<C>>),
    /// Measure training throughput on random data of a model's shape.
    Bench(bench::BenchArgs<C>),
    /// Measure this machine's f32 multiply-add peak (GFLOP/s) on the threads training
    /// uses, the figure a kernel's efficiency is read against.
    Peak(bench::PeakArgs),
    /// The (epsilon, delta) of DP-SGD steps with given sampling rate and noise.
    Accountant(privacy::AccountantArgs),
    /// The smallest noise multiplier that keeps DP-SGD steps within an epsilon.
    Calibrate(privacy::CalibrateArgs),
    /// A privacy audit: one private run with canaries, a proven lower bound on epsilon
    /// beside the claimed one.
    Audit(audit::AuditArgs),
    /// Write a model's initial parameters (safetensors, PyTorch names and layouts).
    Init(interop::InitArgs<C>),
    /// A checkpoint's parameters alone (safetensors, PyTorch names and layouts),
    /// without its secret key: the file to share.
    Export(interop::ExportArgs<C>),
    /// A trained model's logits and predicted classes for a file of examples.
    Predict(interop::PredictArgs<C>),
    /// Per-example losses, norms, gradients and the clipped sum of a batch, for
    /// checking against other frameworks.
    Grads(interop::GradsArgs<C>),
    /// How the private step computes each layer's per-example norms, and the costs.
    Plan(plan::PlanArgs<C>),
}

/// The whole command line for the one model `M` (`f32`): parses the process's
/// arguments, runs the command, prints an error and returns a failing exit code if it
/// fails. A user's `main` is this call.
pub fn main<M: PrivateModel<f32> + 'static>() -> ExitCode {
    main_with::<Single<M>>()
}

/// The whole command line for the models `C` chooses among (the `dpsgd` binary:
/// [`BuiltinModel`]).
pub fn main_with<C: ModelChoice>() -> ExitCode {
    let cli = Cli::<C>::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command (`None`: `train` with its defaults).
pub fn run<C: ModelChoice>(command: Option<Command<C>>) -> Result<()> {
    // Nothing has used the pool yet, so this cannot fail; if it did, steps would
    // only be slower.
    let _ = dpsgd_runtime::train_on_this_thread();
    // The multi-process tests plant bugs in the processes they start by name.
    #[cfg(feature = "planted-bugs")]
    dpsgd_runtime::planted::plant_from_env();
    match command {
        Some(Command::Train(args)) => train::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::Peak(args)) => bench::peak(&args),
        Some(Command::Accountant(args)) => privacy::accountant(&args),
        Some(Command::Calibrate(args)) => privacy::calibrate(&args),
        Some(Command::Audit(args)) => audit::run(&args),
        Some(Command::Init(args)) => interop::init(&args),
        Some(Command::Export(args)) => interop::export(&args),
        Some(Command::Predict(args)) => interop::predict(&args),
        Some(Command::Grads(args)) => interop::grads(&args),
        Some(Command::Plan(args)) => plan::run(&args),
        None => train::run(&train::TrainArgs::<C>::parse_from(["train"])),
    }
}
