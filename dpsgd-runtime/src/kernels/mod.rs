//! CPU kernels, one module per kind of layer. They work on plain row-major slices;
//! the [`CpuEngine`](crate::CpuEngine) resolves the generated code's buffers to them.

pub mod activation;
pub mod clip;
pub mod conv;
pub mod dense;
pub mod embedding;
pub mod embedding_mean;
pub mod loss;
pub mod lstm;
pub mod optim;
pub mod pool;
pub mod simd;
pub mod threads;
mod token;
pub mod vector;
