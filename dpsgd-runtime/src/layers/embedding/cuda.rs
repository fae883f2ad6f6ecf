//! [`EmbeddingOps`] on the CUDA engine.

use super::EmbeddingOps;
use crate::cuda::CudaFloat;
use crate::cuda::engine::CudaEngine;
use crate::spec::{Buf, Embedding};

// Not on the GPU yet: `Engine::supports` refuses a model with this layer when the
// engine is made; should one of these be called anyway, it records the error.
impl<F: CudaFloat> EmbeddingOps<F> for CudaEngine<F> {
    fn embedding_forward(&mut self, _: Embedding, _: Buf, _: Buf) {
        self.unsupported("embeddings");
    }

    fn embedding_add_sq_norms(&mut self, _: Embedding, _: Buf, _: Buf, _: Buf) {
        self.unsupported("embeddings");
    }

    fn embedding_param_grad(&mut self, _: Embedding, _: Buf, _: Buf, _: Option<Buf>) {
        self.unsupported("embeddings");
    }

    fn embedding_per_example_grads(&mut self, _: Embedding, _: Buf, _: Buf) {
        self.unsupported("embeddings");
    }
}
