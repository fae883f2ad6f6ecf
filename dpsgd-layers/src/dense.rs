//! A dense (fully connected) layer.

use crate::{NormCost, TensorLayout};

/// `y = x W + b`. Its parameters sit at `offset` in the model's flat parameter vector:
/// `W` row-major `[inputs, outputs]` (PyTorch's `weight` transposed), then `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    pub offset: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl Dense {
    pub const fn weight_len(&self) -> usize {
        self.outputs * self.inputs
    }

    /// Offset of the bias in the parameter vector.
    pub const fn bias_offset(&self) -> usize {
        self.offset + self.weight_len()
    }

    pub const fn num_params(&self) -> usize {
        self.weight_len() + self.outputs
    }

    /// `name.weight` (`[inputs, outputs]`, transposed from PyTorch's) and `name.bias`.
    pub fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        vec![
            TensorLayout {
                name: format!("{name}.weight"),
                offset: self.offset,
                shape: vec![self.inputs, self.outputs],
                fan_in: self.inputs,
                transposed: true,
            },
            TensorLayout {
                name: format!("{name}.bias"),
                offset: self.bias_offset(),
                shape: vec![self.outputs],
                fan_in: self.inputs,
                transposed: false,
            },
        ]
    }

    /// One position: the ghost norm is two dot products.
    pub fn norm_cost(&self) -> NormCost {
        NormCost::of_product(vec![self.inputs], vec![self.outputs], 1, self.inputs, self.outputs)
    }

    pub const fn forward_flops(&self) -> usize {
        2 * self.inputs * self.outputs
    }
}
