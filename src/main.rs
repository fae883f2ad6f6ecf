//! The `dpsgd` command line: `dpsgd train ...` (the default) and `dpsgd bench ...`.

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
    Train(commands::train::TrainArgs),
    /// Measure training throughput on random data of a model's shape.
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(args)) => commands::train::run(&args),
        Some(Command::Bench(args)) => commands::bench::run(&args),
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
