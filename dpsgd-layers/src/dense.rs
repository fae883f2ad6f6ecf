//! A dense (fully connected) layer.

use crate::contract::{contract_struct, sizes};
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// `y = x W + b`, written `Linear<IN, OUT>`. Its parameters sit at `offset` in the
    /// model's flat parameter vector: `W` row-major `[inputs, outputs]` (PyTorch's
    /// `weight` transposed), then `b`.
    pub struct Dense {
        pub offset: usize,
        pub inputs: usize,
        pub outputs: usize,
    }
}

impl Dense {
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
        Ok(Dense { offset: 0, inputs, outputs })
    }

    fn type_name(&self) -> String {
        format!("Linear<{}, {}>", self.inputs, self.outputs)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        let got = input.describe();
        match *input {
            Shape::Features(n) if n == self.inputs => Ok((Dense { offset, ..*self }, Shape::Features(self.outputs))),
            Shape::Features(_) => Err(format!(" but gets {got}")),
            Shape::Tokens(_) => Err(format!(" but gets {got}; look them up in an `Embedding` first")),
            Shape::Sequence { .. } => Err(format!(" but gets {got}; take `mean(x)` first")),
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

    /// One position: the ghost norm is two dot products.
    fn norm_cost(&self) -> NormCost {
        NormCost::of_product(vec![self.inputs], vec![self.outputs], 1, self.inputs, self.outputs)
    }

    fn forward_flops(&self) -> usize {
        2 * self.inputs * self.outputs
    }

    fn scaled_outputs(&self) -> usize {
        self.outputs
    }
}
