//! A dense layer: the CPU engine's [`LayerOps`](crate::LayerOps) (`cpu.rs`, on the
//! kernels of `kernels.rs`, tested there), the CUDA engine's (`cuda.rs`), and the view
//! of its parameters. The layer's contract (layout, PyTorch names, shapes, cost model)
//! is [`Dense`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;
mod sequence;

use ndarray::{ArrayView1, ArrayView2};

use crate::spec::{Dense, ParamView};

/// A dense layer's parameters, viewed in place.
#[derive(Clone, Debug)]
pub struct DenseView<'a, F> {
    /// `[inputs, outputs]`.
    pub weight: ArrayView2<'a, F>,
    /// `[outputs]`.
    pub bias: ArrayView1<'a, F>,
}

impl ParamView for Dense {
    type View<'a, F: 'a> = DenseView<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> DenseView<'a, F> {
        let weight = &params[self.offset..self.bias_offset()];
        let bias = &params[self.bias_offset()..self.bias_offset() + self.outputs];
        DenseView {
            weight: ArrayView2::from_shape((self.inputs, self.outputs), weight).expect("weight length"),
            bias: ArrayView1::from(bias),
        }
    }
}
