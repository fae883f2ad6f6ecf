//! A 2-D convolution: the operations the generated code asks every engine for
//! ([`Conv2dOps`]), the CPU engine's implementation (`cpu.rs`, on the kernels of
//! `kernels.rs`) and the CUDA engine's (`cuda.rs`). The layer's contract (layout,
//! PyTorch names, cost model) is [`Conv2d`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;

use crate::Float;
use crate::spec::{Buf, Conv2d, NormStrategy};

/// What an engine does for [`Conv2d`] layers; part of [`Engine`](crate::Engine).
pub trait Conv2dOps<F: Float> {
    /// `y = conv(x) + b`.
    fn conv2d_forward(&mut self, layer: Conv2d, x: Buf, y: Buf);

    /// `dx = conv^T(dy)`, or `dx +=` when `accumulate`.
    fn conv2d_backward_input(&mut self, layer: Conv2d, dy: Buf, dx: Buf, accumulate: bool);

    /// Adds each example's squared gradient norm for this layer to `out`, by `strategy`.
    fn conv2d_add_sq_norms(&mut self, layer: Conv2d, x: Buf, dy: Buf, out: Buf, strategy: NormStrategy);

    /// As [`dense_param_grad`](crate::layers::DenseOps::dense_param_grad), for a convolution.
    fn conv2d_param_grad(&mut self, layer: Conv2d, x: Buf, dy: Buf, weights: Option<Buf>);

    /// As [`dense_per_example_grads`](crate::layers::DenseOps::dense_per_example_grads), for a convolution.
    fn conv2d_per_example_grads(&mut self, layer: Conv2d, x: Buf, dy: Buf);
}
