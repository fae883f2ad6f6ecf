//! The `dpsgd` command line for the built-in models: `dpsgd train --model NAME ...` (the
//! default command), `bench`, `accountant`, `calibrate`, `audit`, `init`, `export`,
//! `predict`, `grads`, `plan`. See `dpsgd::cli`.

fn main() -> std::process::ExitCode {
    dpsgd::cli::main_with::<dpsgd::cli::BuiltinModel>()
}
