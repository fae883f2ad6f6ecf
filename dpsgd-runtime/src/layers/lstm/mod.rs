//! A one-layer LSTM: the CPU engine's [`LayerOps`](crate::LayerOps) (`cpu.rs`, on the
//! kernels of `kernels.rs`, tested there), the CUDA engine's (`cuda.rs`), and the view
//! of its parameters. The layer's contract (layout, PyTorch names, shapes, cost model)
//! is [`Lstm`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;

use ndarray::{ArrayView1, ArrayView2};

use crate::spec::{Lstm, ParamView};

/// An LSTM's parameters, viewed in place (weights transposed from PyTorch's).
#[derive(Clone, Debug)]
pub struct LstmView<'a, F> {
    /// `[inputs, 4 hidden]`.
    pub weight_ih: ArrayView2<'a, F>,
    /// `[hidden, 4 hidden]`.
    pub weight_hh: ArrayView2<'a, F>,
    /// `[4 hidden]`: the bias added with the input's product.
    pub bias_ih: ArrayView1<'a, F>,
    /// `[4 hidden]`: the bias added with the previous hidden state's product (PyTorch
    /// has both; their sum is the gates' bias).
    pub bias_hh: ArrayView1<'a, F>,
}

impl ParamView for Lstm {
    type View<'a, F: 'a> = LstmView<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> LstmView<'a, F> {
        let g = self.gates();
        LstmView {
            weight_ih: ArrayView2::from_shape((self.inputs, g), &params[self.offset..self.w_hh_offset()])
                .expect("W_ih"),
            weight_hh: ArrayView2::from_shape((self.hidden, g), &params[self.w_hh_offset()..self.b_ih_offset()])
                .expect("W_hh"),
            bias_ih: ArrayView1::from(&params[self.b_ih_offset()..][..g]),
            bias_hh: ArrayView1::from(&params[self.b_hh_offset()..][..g]),
        }
    }
}
