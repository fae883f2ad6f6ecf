//! A 2-D convolution: the CPU engine's [`LayerOps`](crate::LayerOps) (`cpu.rs`, on the
//! kernels of `kernels.rs`, tested there), the CUDA engine's (`cuda.rs`), and the view
//! of its parameters. The layer's contract (layout, PyTorch names, shapes, cost model)
//! is [`Conv2d`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;
mod standardize;

use ndarray::{ArrayView1, ArrayView4};

use crate::spec::{Conv2d, ParamView};

/// A convolution's parameters, viewed in place.
#[derive(Clone, Debug)]
pub struct ConvView<'a, F> {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: ArrayView4<'a, F>,
    /// `[out_channels]`.
    pub bias: ArrayView1<'a, F>,
}

impl ParamView for Conv2d {
    type View<'a, F: 'a> = ConvView<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> ConvView<'a, F> {
        let weight = &params[self.offset..self.bias_offset()];
        let bias = &params[self.bias_offset()..self.bias_offset() + self.out_channels];
        let shape = (self.out_channels, self.in_channels, self.kernel, self.kernel);
        ConvView { weight: ArrayView4::from_shape(shape, weight).expect("weight length"), bias: ArrayView1::from(bias) }
    }
}
