//! An embedding table: the operations the generated code asks every engine for
//! ([`EmbeddingOps`]), the CPU engine's implementation (`cpu.rs`, on the kernels of
//! `kernels.rs`) and the CUDA engine's (`cuda.rs`). The layer's contract (layout,
//! PyTorch names, cost model) is [`Embedding`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;
pub(crate) mod mean_kernels;
mod token;

use crate::Float;
use crate::spec::{Buf, Embedding};

/// What an engine does for [`Embedding`] layers; part of [`Engine`](crate::Engine).
pub trait EmbeddingOps<F: Float> {
    /// `y = E[tokens]`, the rows of the table at each token id.
    fn embedding_forward(&mut self, layer: Embedding, tokens: Buf, y: Buf);

    /// Adds each example's squared table-gradient norm to `out`.
    fn embedding_add_sq_norms(&mut self, layer: Embedding, tokens: Buf, dy: Buf, out: Buf);

    /// As [`dense_param_grad`](crate::layers::DenseOps::dense_param_grad), for an embedding.
    fn embedding_param_grad(&mut self, layer: Embedding, tokens: Buf, dy: Buf, weights: Option<Buf>);

    /// As [`dense_per_example_grads`](crate::layers::DenseOps::dense_per_example_grads), for an embedding.
    fn embedding_per_example_grads(&mut self, layer: Embedding, tokens: Buf, dy: Buf);
}
