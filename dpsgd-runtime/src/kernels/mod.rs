//! CPU kernels of what is not a parametrized layer (those sit with their layer kind
//! in [`crate::layers`]), and the vector and SIMD helpers every kernel uses. They work on plain row-major slices;
//! the [`CpuEngine`](crate::CpuEngine) resolves the generated code's buffers to them.

pub mod activation;
pub mod attention;
pub mod clip;
pub mod loss;
pub mod optim;
pub mod pool;
pub mod simd;
pub mod threads;
pub mod vector;
