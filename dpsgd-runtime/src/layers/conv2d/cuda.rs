//! [`Conv2dOps`] on the CUDA engine.

use super::Conv2dOps;
use crate::cuda::CudaFloat;
use crate::cuda::engine::CudaEngine;
use crate::spec::{Buf, Conv2d, NormStrategy};

// Not on the GPU yet: `Engine::supports` refuses a model with this layer when the
// engine is made; should one of these be called anyway, it records the error.
impl<F: CudaFloat> Conv2dOps<F> for CudaEngine<F> {
    fn conv2d_forward(&mut self, _: Conv2d, _: Buf, _: Buf) {
        self.unsupported("convolutions");
    }

    fn conv2d_backward_input(&mut self, _: Conv2d, _: Buf, _: Buf, _: bool) {
        self.unsupported("convolutions");
    }

    fn conv2d_add_sq_norms(&mut self, _: Conv2d, _: Buf, _: Buf, _: Buf, _: NormStrategy) {
        self.unsupported("convolutions");
    }

    fn conv2d_param_grad(&mut self, _: Conv2d, _: Buf, _: Buf, _: Option<Buf>) {
        self.unsupported("convolutions");
    }

    fn conv2d_per_example_grads(&mut self, _: Conv2d, _: Buf, _: Buf) {
        self.unsupported("convolutions");
    }
}
