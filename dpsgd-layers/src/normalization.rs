//! What the normalization layers ([`GroupNorm`](crate::GroupNorm),
//! [`LayerNorm`](crate::LayerNorm)) share: their arithmetic, their parameters and
//! their cost model. The engines run both as [`Normalization`]s.

use crate::{Contract, Init, NormCost, TensorLayout};

/// The variance's offset, PyTorch's default.
pub const EPSILON: f64 = 1e-5;

/// A normalization's arithmetic on one example's `blocks * block_len` values, stored
/// contiguously: each block of `block_len` values is normalized to mean 0 and
/// variance 1 (the biased variance plus [`EPSILON`]), then value `e` of the example
/// is scaled and shifted by the parameters of its channel, `(e / spatial) % channels`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormBlocks {
    /// Blocks normalized separately: a group norm's groups, a layer norm's positions.
    pub blocks: usize,
    /// Values per block.
    pub block_len: usize,
    /// Consecutive values that share a channel: an image's `height * width`, 1 for
    /// a layer norm.
    pub spatial: usize,
    /// Channels, each with one scale and one shift.
    pub channels: usize,
}

impl NormBlocks {
    /// Values per example.
    pub const fn len(&self) -> usize {
        self.blocks * self.block_len
    }

    /// Whether an example has no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel of value `e`.
    pub const fn channel(&self, e: usize) -> usize {
        (e / self.spatial) % self.channels
    }

    /// Per example, kept from the forward pass: the normalized values, then each
    /// block's `1 / sqrt(variance + EPSILON)`.
    pub const fn state_width(&self) -> usize {
        self.len() + self.blocks
    }
}

/// A layer that normalizes blocks of its input and scales and shifts the result per
/// channel: parameters `[channels]` of scales then `[channels]` of shifts at
/// `offset()`.
pub trait Normalization: Contract {
    /// The layout of one example's values as the arithmetic sees it.
    fn blocks(&self) -> NormBlocks;

    /// Index of the first scale in the model's flat parameter vector.
    fn offset(&self) -> usize;
}

/// `name.weight` (ones) and `name.bias` (zeros), `[channels]` each, as PyTorch has.
pub(crate) fn affine_tensors(name: &str, offset: usize, channels: usize) -> Vec<TensorLayout> {
    let tensor = |suffix: &str, offset, init| TensorLayout {
        name: format!("{name}.{suffix}"),
        offset,
        shape: vec![channels],
        fan_in: 1,
        transposed: false,
        init,
    };
    vec![tensor("weight", offset, Init::Ones), tensor("bias", offset + channels, Init::Zeros)]
}

/// The per-example gradient is `2 channels` values formed in one pass over the
/// example (`4 len` FLOPs): there is no cheaper norm, so no ghost way.
pub(crate) fn affine_norm_cost(shape: Vec<usize>, blocks: &NormBlocks) -> NormCost {
    NormCost::materialized_only(shape, 4 * blocks.len() + 4 * blocks.channels, 4 * 2 * blocks.channels)
}
