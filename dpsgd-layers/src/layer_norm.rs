//! Layer normalization (Ba et al., 2016), as Transformers use it: each position's
//! features normalized on their own.

use crate::contract::{contract_struct, sizes};
use crate::normalization::{NormBlocks, Normalization, affine_norm_cost, affine_tensors};
use crate::{Contract, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// `LayerNorm<DIM>` of a vector of `dim` features, or of every position of a
    /// `[positions, dim]` sequence: normalized over the features, then each feature
    /// scaled and shifted (PyTorch's `nn.LayerNorm(dim)`). Parameters at `offset`:
    /// `weight` `[dim]` (ones), then `bias` (zeros).
    pub struct LayerNorm {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Features normalized together: one scale and one shift each.
        pub dim: usize,
        /// Positions normalized separately: 1 for a vector, 0 until applied.
        pub positions: usize,
    }
}

impl Normalization for LayerNorm {
    fn blocks(&self) -> NormBlocks {
        NormBlocks { blocks: self.positions, block_len: self.dim, spatial: 1, channels: self.dim }
    }

    fn offset(&self) -> usize {
        self.offset
    }
}

impl Contract for LayerNorm {
    const TYPE_NAME: &'static str = "LayerNorm";
    const USAGE: &'static str = "LayerNorm<DIM>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [dim] = sizes(args).ok_or("write a layer normalization as `LayerNorm<DIM>`")?;
        Ok(LayerNorm { offset: 0, dim, positions: 0 })
    }

    fn type_name(&self) -> String {
        format!("LayerNorm<{}>", self.dim)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        match *input {
            Shape::Features(n) if n == self.dim => Ok((LayerNorm { offset, positions: 1, ..*self }, *input)),
            Shape::Sequence { positions, width } if width == self.dim => {
                Ok((LayerNorm { offset, positions, ..*self }, *input))
            }
            _ => Err(format!(
                " and normalizes {} features (or each position of a sequence of them), but gets {}",
                self.dim,
                input.describe()
            )),
        }
    }

    fn num_params(&self) -> usize {
        2 * self.dim
    }

    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        affine_tensors(name, self.offset, self.dim)
    }

    fn norm_cost(&self) -> NormCost {
        let shape = if self.positions == 1 { vec![self.dim] } else { vec![self.positions, self.dim] };
        affine_norm_cost(shape, &self.blocks())
    }

    /// Mean, variance, normalization, scale and shift: about eight per value.
    fn forward_flops(&self) -> usize {
        8 * self.blocks().len()
    }

    fn state_width(&self) -> usize {
        self.blocks().state_width()
    }
}
