//! [`LstmOps`] on the CUDA engine.

use super::LstmOps;
use crate::cuda::CudaFloat;
use crate::cuda::engine::CudaEngine;
use crate::spec::{Buf, Lstm, NormStrategy};

// Not on the GPU yet: `Engine::supports` refuses a model with this layer when the
// engine is made; should one of these be called anyway, it records the error.
impl<F: CudaFloat> LstmOps<F> for CudaEngine<F> {
    fn lstm_forward(&mut self, _: Lstm, _: Buf, _: Buf, _: Buf) {
        self.unsupported("LSTMs");
    }

    fn lstm_backward(&mut self, _: Lstm, _: Buf, _: Buf, _: Buf, _: bool) {
        self.unsupported("LSTMs");
    }

    fn lstm_add_sq_norms(&mut self, _: Lstm, _: Buf, _: Buf, _: Buf, _: Buf, _: NormStrategy) {
        self.unsupported("LSTMs");
    }

    fn lstm_param_grad(&mut self, _: Lstm, _: Buf, _: Buf, _: Buf, _: Option<Buf>) {
        self.unsupported("LSTMs");
    }

    fn lstm_per_example_grads(&mut self, _: Lstm, _: Buf, _: Buf, _: Buf) {
        self.unsupported("LSTMs");
    }
}
