//! A dense (fully connected) layer.

use crate::contract::{contract_struct, sizes};
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// `y = x W + b`, written `Linear<IN, OUT>`, of a vector, or at every position of
    /// a `[positions, inputs]` sequence (PyTorch's `nn.Linear` on a sequence). Its
    /// parameters sit at `offset` in the model's flat parameter vector: `W` row-major
    /// `[inputs, outputs]` (PyTorch's `weight` transposed), then `b`.
    pub struct Dense {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Input features (per position).
        pub inputs: usize,
        /// Output features (per position).
        pub outputs: usize,
        /// Positions the layer is applied at: 1 for a vector, 0 until applied.
        pub positions: usize,
    }
}

impl Dense {
    /// Entries of `W`: `inputs * outputs`.
    pub const fn weight_len(&self) -> usize {
        self.outputs * self.inputs
    }

    /// Offset of the bias in the parameter vector.
    pub const fn bias_offset(&self) -> usize {
        self.offset + self.weight_len()
    }
}

impl Contract for Dense {
    const TYPE_NAME: &'static str = "Linear";
    const USAGE: &'static str = "Linear<IN, OUT>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [inputs, outputs] = sizes(args).ok_or("write a dense layer as `Linear<IN, OUT>`")?;
        Ok(Dense { offset: 0, inputs, outputs, positions: 0 })
    }

    fn type_name(&self) -> String {
        format!("Linear<{}, {}>", self.inputs, self.outputs)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        let got = input.describe();
        match *input {
            Shape::Features(n) if n == self.inputs => {
                Ok((Dense { offset, positions: 1, ..*self }, Shape::Features(self.outputs)))
            }
            Shape::Sequence { positions, width } if width == self.inputs => {
                let output = Shape::Sequence { positions, width: self.outputs };
                Ok((Dense { offset, positions, ..*self }, output))
            }
            Shape::Features(_) => Err(format!(" but gets {got}")),
            Shape::Tokens(_) => Err(format!(" but gets {got}; look them up in an `Embedding` first")),
            Shape::Sequence { .. } => {
                Err(format!(" but gets {got}; it applies at every position of a sequence of {} features", self.inputs))
            }
            Shape::Image { .. } => Err(format!(" but gets {got}; flatten it first: `flatten(x)`")),
        }
    }

    fn num_params(&self) -> usize {
        self.weight_len() + self.outputs
    }

    /// `name.weight` (`[inputs, outputs]`, transposed from PyTorch's) and `name.bias`.
    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        vec![
            TensorLayout {
                name: format!("{name}.weight"),
                offset: self.offset,
                shape: vec![self.inputs, self.outputs],
                fan_in: self.inputs,
                transposed: true,
                init: Init::Uniform,
            },
            TensorLayout {
                name: format!("{name}.bias"),
                offset: self.bias_offset(),
                shape: vec![self.outputs],
                fan_in: self.inputs,
                transposed: false,
                init: Init::Uniform,
            },
        ]
    }

    /// At one position the ghost norm is two dot products; over a sequence it takes
    /// the Gram matrices of the positions ([`NormCost::of_product`]).
    fn norm_cost(&self) -> NormCost {
        let (i, o, t) = (self.inputs, self.outputs, self.positions);
        if t == 1 {
            return NormCost::of_product(vec![i], vec![o], 1, i, o);
        }
        // The positions' Gram products are formed on the fly, from the input itself.
        NormCost { ghost_bytes: 0, patch_bytes: 0, ..NormCost::of_product(vec![t, i], vec![t, o], t, i, o) }
    }

    fn forward_flops(&self) -> usize {
        2 * self.positions * self.inputs * self.outputs
    }

    fn scaled_outputs(&self) -> usize {
        self.positions * self.outputs
    }
}
