//! An embedding table: the CPU engine's [`LayerOps`](crate::LayerOps) (`cpu.rs`, on the
//! kernels of `kernels.rs`, tested there), the CUDA engine's (`cuda.rs`), and the view
//! of its parameters. The layer's contract (layout, PyTorch names, shapes, cost model)
//! is [`Embedding`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;
pub(crate) mod mean_kernels;
mod token;

use ndarray::ArrayView2;

use crate::spec::{Embedding, ParamView};

/// The table `[vocab, dim]`.
impl ParamView for Embedding {
    type View<'a, F: 'a> = ArrayView2<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> ArrayView2<'a, F> {
        ArrayView2::from_shape((self.vocab, self.dim), &params[self.offset..][..self.vocab * self.dim]).expect("table")
    }
}
