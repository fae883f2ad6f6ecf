//! The normalization layers, [`GroupNorm`] and [`LayerNorm`] (contracts in
//! `dpsgd-layers`, which states both as blocks of values normalized and then scaled
//! and shifted per channel): the CPU engine's [`LayerOps`](crate::LayerOps) for both
//! (`cpu.rs`, on the kernels of `kernels.rs`, tested there), the CUDA engine's
//! (`cuda.rs`), and the view of their parameters.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub(crate) mod kernels;

use ndarray::ArrayView1;

use crate::contracts::{GroupNorm, LayerNorm, Normalization};
use crate::spec::ParamView;

/// A normalization's parameters, viewed in place.
#[derive(Clone, Debug)]
pub struct NormView<'a, F> {
    /// `[channels]`: the scales.
    pub weight: ArrayView1<'a, F>,
    /// `[channels]`: the shifts.
    pub bias: ArrayView1<'a, F>,
}

fn view<'a, F>(layer: &impl Normalization, params: &'a [F]) -> NormView<'a, F> {
    let channels = layer.blocks().channels;
    let (weight, bias) = params[layer.offset()..][..2 * channels].split_at(channels);
    NormView { weight: ArrayView1::from(weight), bias: ArrayView1::from(bias) }
}

impl ParamView for GroupNorm {
    type View<'a, F: 'a> = NormView<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> NormView<'a, F> {
        view(self, params)
    }
}

impl ParamView for LayerNorm {
    type View<'a, F: 'a> = NormView<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> NormView<'a, F> {
        view(self, params)
    }
}
