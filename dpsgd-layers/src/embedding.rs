//! An embedding table looked up at token ids.

use crate::{NormCost, TensorLayout};

/// An embedding table `[vocab, dim]` (PyTorch's `nn.Embedding` weight, no bias) at
/// `offset`, looked up at `positions` token ids per example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedding {
    pub offset: usize,
    pub vocab: usize,
    pub dim: usize,
    pub positions: usize,
    /// Whether the lookup gives the mean of its rows over the positions (`[dim]` per
    /// example, as `mean(self.embedding(x))` or PyTorch's `nn.EmbeddingBag` with mode
    /// "mean") rather than the `[positions, dim]` sequence of rows. The macro fuses
    /// the two where the rows have no other use, so that they are never formed.
    pub mean: bool,
}

impl Embedding {
    pub const fn num_params(&self) -> usize {
        self.vocab * self.dim
    }

    /// `name.weight`; initial values uniform in +-1, about the scale of PyTorch's
    /// N(0, 1).
    pub fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        vec![TensorLayout {
            name: format!("{name}.weight"),
            offset: self.offset,
            shape: vec![self.vocab, self.dim],
            fan_in: 1,
            transposed: false,
        }]
    }

    /// A lookup's ghost norm groups equal tokens: `T D` work, no table-sized buffer
    /// (fused with the mean, every position's row gradient is `dy / T`: the norm is
    /// `|dy|^2` times the sum of the squared token counts, counted in a map per
    /// thread). Its materialized gradient is the whole `V x D` table per example.
    pub fn norm_cost(&self) -> NormCost {
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
    pub const fn forward_flops(&self) -> usize {
        self.positions * self.dim
    }
}
