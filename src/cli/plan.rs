//! `dpsgd plan`: how the private step treats each layer of a model.

use clap::Parser;

use super::choice::{ModelChoice, ModelTask};
use crate::runtime::{PrivateModel, Result};

/// `plan`'s arguments.
#[derive(Parser, Debug)]
pub struct PlanArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
}

/// Prints the chosen model's plan: each layer's norm strategy and its costs.
pub fn run<C: ModelChoice>(args: &PlanArgs<C>) -> Result<()> {
    struct Describe;
    impl ModelTask for Describe {
        type Output = String;
        fn run<M: PrivateModel<f32>>(self) -> Result<String> {
            Ok(M::describe_plan())
        }
    }
    print!("{}", args.model.with(Describe)?);
    Ok(())
}
