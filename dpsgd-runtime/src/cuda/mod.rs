//! The CUDA engine: the same generated model code on NVIDIA GPUs (feature `cuda`).
//!
//! Everything CUDA is loaded when a device is opened (cudarc's dynamic loading), so
//! this compiles on any machine and fails with an [`Error::Device`](crate::Error)
//! saying what is missing where there is no driver, toolkit or GPU.
//!
//! - GEMMs go to cuBLAS; the other kernels (`kernels.cu`) are compiled by NVRTC when
//!   an engine is made, for the engine's float type.
//! - A whole step stays on the GPU: forward, backward, ghost norms, clip factors,
//!   clipped sums, noise (Philox, seeded) and the update. The host only copies the
//!   sampled batch in, through pinned buffers, and reads the loss when asked.

mod device;
pub(crate) mod engine;
mod float;

pub use device::{CudaDevice, cuda_available};
pub use engine::{CudaEngine, DeviceNoise};
pub use float::CudaFloat;
