//! Training: the private and non-private steps, the epoch loop, evaluation.

pub mod checkpoint;
mod eval;
mod fit;
mod optimizer;
mod private;
mod replica;
mod secure_step;
mod step;

pub use eval::{Evaluation, evaluate};
pub use fit::{
    Control, EpochReport, Sampling, StepReport, TrainConfig, TrainReport, Trainer, batch_capacity, cpu_engine,
    physical_batch, train, train_with,
};
pub use optimizer::{Optimizer, OptimizerKind, Schedule};
pub use private::PrivateTraining;
pub use replica::Replica;
pub use secure_step::SecureStep;
pub use step::{
    Privacy, batch_gradient, clipped_gradient, noisy_update, nonprivate_step, physical_batches, private_step,
};
