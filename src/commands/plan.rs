//! `dpsgd plan`: how the private step treats each layer of a model.

use clap::Parser;
use dpsgd::models::{ModelName, with_model};
use dpsgd::runtime::{PrivateModel, Result};

#[derive(Parser, Debug)]
pub struct PlanArgs {
    #[arg(long)]
    pub model: ModelName,
}

pub fn run(args: &PlanArgs) -> Result<()> {
    print!("{}", with_model!(args.model, M => M::describe_plan()));
    Ok(())
}
