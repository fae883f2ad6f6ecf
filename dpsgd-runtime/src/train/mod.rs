//! Training: the private and non-private steps, the epoch loop, evaluation.

pub mod checkpoint;
mod eval;
mod fit;
mod step;

pub use eval::{Evaluation, evaluate};
pub use fit::{Control, EpochReport, TrainConfig, TrainReport, Trainer, batch_capacity, train, train_with};
pub use step::{Privacy, Sgd, nonprivate_step, private_step};
