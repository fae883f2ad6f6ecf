//! Training: the private and non-private steps, the epoch loop, evaluation.

mod eval;
mod fit;
mod step;

pub use eval::{Evaluation, evaluate};
pub use fit::{EpochReport, TrainConfig, TrainReport, Trainer, batch_capacity, train, train_with};
pub use step::{Privacy, Sgd, nonprivate_step, private_step};
