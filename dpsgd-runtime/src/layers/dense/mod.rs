//! A dense layer: the operations the generated code asks every engine for
//! ([`DenseOps`]), the CPU engine's implementation (`cpu.rs`, on the kernels of
//! `kernels.rs`) and the CUDA engine's (`cuda.rs`). The layer's contract (layout,
//! PyTorch names, cost model) is [`Dense`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;

use crate::Float;
use crate::spec::{Buf, Dense};

/// What an engine does for [`Dense`] layers; part of [`Engine`](crate::Engine).
pub trait DenseOps<F: Float> {
    fn dense_forward(&mut self, layer: Dense, x: Buf, y: Buf);

    /// `dx = dy W`, or `dx += dy W` when `accumulate`.
    fn dense_backward_input(&mut self, layer: Dense, dy: Buf, dx: Buf, accumulate: bool);

    /// Adds each example's squared gradient norm for this layer to `out` (ghost norms).
    fn dense_add_sq_norms(&mut self, layer: Dense, x: Buf, dy: Buf, out: Buf);

    /// The layer's gradient summed over the batch, each example weighted by `weights`
    /// when given, written to the gradient buffer.
    fn dense_param_grad(&mut self, layer: Dense, x: Buf, dy: Buf, weights: Option<Buf>);

    /// Each example's gradient for this layer, written to its row of the per-example
    /// gradient matrix.
    fn dense_per_example_grads(&mut self, layer: Dense, x: Buf, dy: Buf);
}
