//! Learned position embeddings: the CPU engine's [`LayerOps`](crate::LayerOps)
//! (`cpu.rs`, tested through the model battery: each example's gradient is its output
//! gradient), the CUDA engine's (`cuda.rs`), and the view of the table. The contract
//! is [`PositionEmbedding`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;

use ndarray::ArrayView2;

use crate::contracts::PositionEmbedding;
use crate::spec::ParamView;

/// The table `[positions, dim]`.
impl ParamView for PositionEmbedding {
    type View<'a, F: 'a> = ArrayView2<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> ArrayView2<'a, F> {
        let len = self.positions * self.dim;
        ArrayView2::from_shape((self.positions, self.dim), &params[self.offset..][..len]).expect("table")
    }
}
