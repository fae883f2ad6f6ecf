//! Everything that runs for dpsgd: the engines that execute the code `#[private_model]`
//! generates, their kernels, clipping, noise, optimizers, sampling, data and training.
//!
//! Users reach this crate through the `dpsgd` facade (`use dpsgd::prelude::*`).

#![warn(missing_docs)]

pub mod collective;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod data;
pub mod engine;
mod error;
mod float;
pub mod gemm;
pub mod interop;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod noise;
pub mod peak;
pub mod planted;
pub mod privacy;
pub mod rng;
pub mod safetensors;
pub mod sampling;
pub mod secure;
pub mod spec;
mod threads;
pub mod train;

/// The layer kinds' contracts (`dpsgd-layers`): what the generated code's layer
/// constants are.
pub use dpsgd_layers as contracts;

pub use data::Dataset;
pub use engine::{CpuEngine, Engine};
pub use error::{Error, Result};
pub use float::Float;
pub use layers::{LayerOps, Site};
pub use model::PrivateModel;
pub use noise::{GaussianNoise, NoiseSource};
pub use spec::{
    Activation, Attention, Buf, Conv2d, Dense, Embedding, Loss, Lstm, ModelSpec, NormStrategy, ParamTensor, Pool2d,
    PoolKind, SequenceMean,
};
pub use threads::train_on_this_thread;

/// Re-exported for generated code and for users of the model API.
pub use ndarray;
