//! The command line of `dpsgd`, for `Price`: `cargo run --release -p my-model -- train
//! --train-data ...` trains it privately on the shipped houses (see the README's
//! "Writing your own model"); every subcommand of `dpsgd` works the same.

fn main() -> std::process::ExitCode {
    dpsgd::cli::main::<my_model::Price>()
}
