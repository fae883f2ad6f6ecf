//! Learned position embeddings, as Transformers add them to their token embeddings.

use crate::contract::{contract_struct, sizes};
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// `PositionEmbedding<POSITIONS, DIM>`: a learned table `[positions, dim]` added to a
    /// `[positions, dim]` sequence, row `t` to position `t` (BERT's and GPT-2's position
    /// embeddings; PyTorch's `nn.Embedding(positions, dim)` looked up at `0..positions`
    /// and added). Its parameters sit at `offset`: the table, `name.weight`.
    pub struct PositionEmbedding {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Positions of the sequence: rows of the table.
        pub positions: usize,
        /// Features per position: the width of a row.
        pub dim: usize,
    }
}

impl Contract for PositionEmbedding {
    const TYPE_NAME: &'static str = "PositionEmbedding";
    const USAGE: &'static str = "PositionEmbedding<POSITIONS, DIM>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [positions, dim] = sizes(args).ok_or("write position embeddings as `PositionEmbedding<POSITIONS, DIM>`")?;
        Ok(PositionEmbedding { offset: 0, positions, dim })
    }

    fn type_name(&self) -> String {
        format!("PositionEmbedding<{}, {}>", self.positions, self.dim)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        match *input {
            Shape::Sequence { positions, width } if positions == self.positions && width == self.dim => {
                Ok((PositionEmbedding { offset, ..*self }, *input))
            }
            _ => Err(format!(
                " and adds to a sequence of {} positions of {} features, but gets {}",
                self.positions,
                self.dim,
                input.describe()
            )),
        }
    }

    fn num_params(&self) -> usize {
        self.positions * self.dim
    }

    /// `name.weight`, uniform in +-1 as the token embeddings' tables.
    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        vec![TensorLayout {
            name: format!("{name}.weight"),
            offset: self.offset,
            shape: vec![self.positions, self.dim],
            fan_in: 1,
            transposed: false,
            init: Init::Uniform,
        }]
    }

    /// Each example's gradient is its output gradient itself: the norm is one pass
    /// over it, and there is no ghost way.
    fn norm_cost(&self) -> NormCost {
        let len = self.positions * self.dim;
        NormCost::materialized_only(vec![self.positions, self.dim], 2 * len + 2 * len, 0)
    }

    fn forward_flops(&self) -> usize {
        self.positions * self.dim
    }
}
