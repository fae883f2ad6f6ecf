//! An embedding table looked up at token ids.

use crate::contract::{contract_struct, sizes};
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// An embedding table `[vocab, dim]`, written `Embedding<VOCAB, DIM>` (PyTorch's `nn.Embedding` weight, no bias) at
    /// `offset`, looked up at `positions` token ids per example.
    pub struct Embedding {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Rows of the table: every token id must be below it.
        pub vocab: usize,
        /// Width of a row: features per token.
        pub dim: usize,
        /// Token ids looked up per example (0 until applied).
        pub positions: usize,
        /// Whether the lookup gives the mean of its rows over the positions (`[dim]` per
        /// example, as `mean(self.embedding(x))` or PyTorch's `nn.EmbeddingBag` with mode
        /// "mean") rather than the `[positions, dim]` sequence of rows. The macro fuses
        /// the two where the rows have no other use, so that they are never formed.
        pub mean: bool,
    }
}

impl Contract for Embedding {
    const TYPE_NAME: &'static str = "Embedding";
    const USAGE: &'static str = "Embedding<VOCAB, DIM>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [vocab, dim] = sizes(args).ok_or("write an embedding as `Embedding<VOCAB, DIM>`")?;
        Ok(Embedding { offset: 0, vocab, dim, positions: 0, mean: false })
    }

    /// With `, mean` when fused with the mean over its positions.
    fn type_name(&self) -> String {
        let mean = if self.mean { ", mean" } else { "" };
        format!("Embedding<{}, {}>{mean}", self.vocab, self.dim)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        let Shape::Tokens(positions) = *input else {
            return Err(format!(" and looks up token ids, but gets {}", input.describe()));
        };
        Ok((Embedding { offset, positions, ..*self }, Shape::Sequence { positions, width: self.dim }))
    }

    fn with_mean(&self) -> Option<Self> {
        Some(Embedding { mean: true, ..*self })
    }

    fn token_vocab(&self) -> Option<usize> {
        Some(self.vocab)
    }

    fn num_params(&self) -> usize {
        self.vocab * self.dim
    }

    /// `name.weight`; initial values uniform in +-1, about the scale of PyTorch's
    /// N(0, 1).
    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        vec![TensorLayout {
            name: format!("{name}.weight"),
            offset: self.offset,
            shape: vec![self.vocab, self.dim],
            fan_in: 1,
            transposed: false,
            init: Init::Uniform,
        }]
    }

    /// A lookup's ghost norm groups equal tokens: `T D` work, no table-sized buffer
    /// (fused with the mean, every position's row gradient is `dy / T`: the norm is
    /// `|dy|^2` times the sum of the squared token counts, counted in a map per
    /// thread). Its materialized gradient is the whole `V x D` table per example.
    fn norm_cost(&self) -> NormCost {
        let (t, v, d) = (self.positions, self.vocab, self.dim);
        let materialized_flops = 2 * t * d + 2 * v * d + 2 * v * d;
        match self.mean {
            true => NormCost {
                input_shape: vec![t],
                output_shape: vec![d],
                positions: t,
                ghost_flops: 2 * t + 2 * d + 2 * t * d,
                materialized_flops,
                ghost_bytes: 0,
                materialized_bytes: 4 * v * d,
                patch_bytes: 0,
            },
            false => NormCost {
                input_shape: vec![t],
                output_shape: vec![t, d],
                positions: t,
                ghost_flops: 2 * t * d + 2 * t * d,
                materialized_flops,
                ghost_bytes: 4 * (t + d),
                materialized_bytes: 4 * v * d,
                patch_bytes: 0,
            },
        }
    }

    /// A row move (or sum) per position.
    fn forward_flops(&self) -> usize {
        self.positions * self.dim
    }
}
