//! Group normalization (Wu and He, 2018), the normalization of private image models
//! (De et al., 2022): statistics per example, so per-example gradients stay
//! per-example, unlike batch normalization's.

use crate::contract::{contract_struct, sizes};
use crate::normalization::{NormBlocks, Normalization, affine_norm_cost, affine_tensors};
use crate::{Contract, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// `GroupNorm<GROUPS, CHANNELS>` of a `[channels, height, width]` image: the channels
    /// split into `groups` equal groups, each normalized over its channels and pixels,
    /// then every channel scaled and shifted (PyTorch's `nn.GroupNorm` with `affine`).
    /// Parameters at `offset`: `weight` `[channels]` (ones), then `bias` (zeros).
    pub struct GroupNorm {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Groups the channels are split into; divides `channels`.
        pub groups: usize,
        /// Channels of the image: one scale and one shift each.
        pub channels: usize,
        /// Image height, in pixels (0 until applied).
        pub height: usize,
        /// Image width, in pixels (0 until applied).
        pub width: usize,
    }
}

impl Normalization for GroupNorm {
    fn blocks(&self) -> NormBlocks {
        let spatial = self.height * self.width;
        NormBlocks {
            blocks: self.groups,
            block_len: self.channels / self.groups * spatial,
            spatial,
            channels: self.channels,
        }
    }

    fn offset(&self) -> usize {
        self.offset
    }
}

impl Contract for GroupNorm {
    const TYPE_NAME: &'static str = "GroupNorm";
    const USAGE: &'static str = "GroupNorm<GROUPS, CHANNELS>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [groups, channels] = sizes(args).ok_or("write a group normalization as `GroupNorm<GROUPS, CHANNELS>`")?;
        if channels % groups != 0 {
            return Err(format!(
                "GroupNorm<{groups}, {channels}> splits {channels} channels into {groups} equal groups: make CHANNELS a multiple of GROUPS"
            ));
        }
        Ok(GroupNorm { offset: 0, groups, channels, height: 0, width: 0 })
    }

    fn type_name(&self) -> String {
        format!("GroupNorm<{}, {}>", self.groups, self.channels)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        match *input {
            Shape::Image { channels, height, width } if channels == self.channels => {
                Ok((GroupNorm { offset, height, width, ..*self }, *input))
            }
            _ => Err(format!(" and normalizes an image of {} channels, but gets {}", self.channels, input.describe())),
        }
    }

    fn num_params(&self) -> usize {
        2 * self.channels
    }

    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        affine_tensors(name, self.offset, self.channels)
    }

    fn norm_cost(&self) -> NormCost {
        affine_norm_cost(vec![self.channels, self.height, self.width], &self.blocks())
    }

    /// Mean, variance, normalization, scale and shift: about eight per value.
    fn forward_flops(&self) -> usize {
        8 * self.blocks().len()
    }

    fn state_width(&self) -> usize {
        self.blocks().state_width()
    }
}
