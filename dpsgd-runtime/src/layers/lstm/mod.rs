//! A one-layer LSTM: the operations the generated code asks every engine for
//! ([`LstmOps`]), the CPU engine's implementation (`cpu.rs`, on the kernels of
//! `kernels.rs`) and the CUDA engine's (`cuda.rs`). The layer's contract (layout,
//! PyTorch names, cost model) is [`Lstm`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;

use crate::Float;
use crate::spec::{Buf, Lstm, NormStrategy};

/// What an engine does for [`Lstm`] layers; part of [`Engine`](crate::Engine).
pub trait LstmOps<F: Float> {
    /// `y` = the LSTM's hidden state at every step of `x`; its gates and cells go to
    /// `state` for the backward pass.
    fn lstm_forward(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf);

    /// Back-propagation through time from `dy`: the gates' gradients into `state`, and
    /// the input gradient into `dx` (`+=` when `accumulate`).
    fn lstm_backward(&mut self, layer: Lstm, dy: Buf, state: Buf, dx: Buf, accumulate: bool);

    /// Adds each example's squared gradient norm for this layer to `out`, by `strategy`.
    fn lstm_add_sq_norms(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf, out: Buf, strategy: NormStrategy);

    /// As [`dense_param_grad`](crate::layers::DenseOps::dense_param_grad), for an LSTM.
    fn lstm_param_grad(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf, weights: Option<Buf>);

    /// As [`dense_per_example_grads`](crate::layers::DenseOps::dense_per_example_grads), for an LSTM.
    fn lstm_per_example_grads(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf);
}
