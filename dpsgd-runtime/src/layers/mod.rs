//! One module per parametrized layer kind: the operations the generated code asks an
//! engine for (a trait each engine implements), the CPU engine's implementation beside
//! its kernels, and the CUDA engine's. A kind's contract (layout, PyTorch names, the
//! norm cost model) is in `dpsgd-layers`; its tests sit with its kernels.

pub mod conv2d;
pub mod dense;
pub mod embedding;
pub mod lstm;

pub use conv2d::Conv2dOps;
pub use dense::DenseOps;
pub use embedding::EmbeddingOps;
pub use lstm::LstmOps;
