//! Weight standardization of a convolution ([`Conv2d::standardized`]): each output
//! channel's weights, a row of `[out, patch]`, normalized as a normalization layer
//! normalizes a block, by the normalization kernels with unit scales.

use rayon::prelude::*;

use crate::Float;
use crate::contracts::{Conv2d, NormBlocks};
use crate::layers::normalization::kernels as normalization;

fn blocks(layer: &Conv2d) -> NormBlocks {
    NormBlocks { blocks: layer.out_channels, block_len: layer.patch(), spatial: layer.patch(), channels: 1 }
}

/// Values [`standardize`] writes: the layer's parameters with standardized weights
/// (for the kernels, as a layer at offset 0), then the normalization's state.
pub fn len(layer: &Conv2d) -> usize {
    layer.weight_len() + layer.out_channels + blocks(layer).state_width()
}

/// The layer's parameters with its weights standardized, for kernels run on
/// [`at_zero`]`(layer)`, and the state [`to_weight_grads`] needs, both in `out`.
pub fn standardize<F: Float>(layer: &Conv2d, params: &[F], out: &mut [F]) {
    let (standardized, state) = out[..len(layer)].split_at_mut(layer.weight_len() + layer.out_channels);
    let (weight, bias) = standardized.split_at_mut(layer.weight_len());
    let n = blocks(layer);
    normalization::forward(&n, &[F::ONE], &[F::ZERO], &params[layer.offset..][..layer.weight_len()], weight, state);
    bias.copy_from_slice(&params[layer.bias_offset()..][..layer.out_channels]);
}

/// The layer as the kernels see it when they read [`standardize`]'s output.
pub fn at_zero(layer: &Conv2d) -> Conv2d {
    Conv2d { offset: 0, ..*layer }
}

/// The parameters [`standardize`] wrote.
pub fn params<'a, F>(layer: &Conv2d, standardized: &'a [F]) -> &'a [F] {
    &standardized[..layer.weight_len() + layer.out_channels]
}

/// Maps weight gradients with respect to the standardized weights (at `offset` in
/// each row of `stride` values of `grads`) to gradients with respect to the weights.
pub fn to_weight_grads<F: Float>(layer: &Conv2d, standardized: &[F], grads: &mut [F], stride: usize, offset: usize) {
    grads.par_chunks_mut(stride).for_each(|row| to_weight_grad(layer, standardized, &mut row[offset..]));
}

/// [`to_weight_grads`] for one gradient, whose first [`Conv2d::weight_len`] values are
/// those of the standardized weights.
pub fn to_weight_grad<F: Float>(layer: &Conv2d, standardized: &[F], grad: &mut [F]) {
    let state = &standardized[layer.weight_len() + layer.out_channels..len(layer)];
    normalization::backward_in_place(&blocks(layer), state, &mut grad[..layer.weight_len()]);
}
