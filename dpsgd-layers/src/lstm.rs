//! A one-layer LSTM.

use crate::contract::{contract_struct, sizes};
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// A one-layer LSTM, written `Lstm<IN, HIDDEN>`, run over `positions` steps of a `[positions, inputs]` sequence,
    /// giving the `[positions, hidden]` sequence of its hidden states (PyTorch's `nn.LSTM`
    /// with `batch_first`, zero initial state). Gates in PyTorch's order i, f, g, o:
    ///
    /// ```text
    /// z = x_t W_ih + h_(t-1) W_hh + b_ih + b_hh      (4 hidden values)
    /// c_t = sigmoid(z_f) c_(t-1) + sigmoid(z_i) tanh(z_g),  h_t = sigmoid(z_o) tanh(c_t)
    /// ```
    ///
    /// Parameters at `offset`: `W_ih` `[inputs, 4 hidden]` and `W_hh` `[hidden, 4 hidden]`
    /// (PyTorch's `weight_ih_l0` and `weight_hh_l0` transposed), then `b_ih` and `b_hh`.
    /// Each application keeps a state buffer of [`state_width`](Self::state_width) values
    /// per example: the activated gates and cells of the forward pass, and the gates'
    /// gradients of the backward pass.
    pub struct Lstm {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Input features per step.
        pub inputs: usize,
        /// Hidden units: the width of the hidden state, the cell and each gate.
        pub hidden: usize,
        /// Steps of the sequence (0 until applied).
        pub positions: usize,
    }
}

impl Lstm {
    /// Gate values per step: `4 hidden`.
    pub const fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// Offset of `W_hh` in the parameter vector, after `W_ih`.
    pub const fn w_hh_offset(&self) -> usize {
        self.offset + self.inputs * self.gates()
    }

    /// Offset of `b_ih` in the parameter vector, after `W_hh`.
    pub const fn b_ih_offset(&self) -> usize {
        self.w_hh_offset() + self.hidden * self.gates()
    }

    /// Offset of `b_hh` in the parameter vector, after `b_ih`.
    pub const fn b_hh_offset(&self) -> usize {
        self.b_ih_offset() + self.gates()
    }
}

impl Contract for Lstm {
    const TYPE_NAME: &'static str = "Lstm";
    const USAGE: &'static str = "Lstm<IN, HIDDEN>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let [inputs, hidden] = sizes(args).ok_or("write an LSTM as `Lstm<IN, HIDDEN>`")?;
        Ok(Lstm { offset: 0, inputs, hidden, positions: 0 })
    }

    fn type_name(&self) -> String {
        format!("Lstm<{}, {}>", self.inputs, self.hidden)
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        match *input {
            Shape::Sequence { positions, width } if width == self.inputs => {
                Ok((Lstm { offset, positions, ..*self }, Shape::Sequence { positions, width: self.hidden }))
            }
            _ => Err(format!(
                " and runs over a sequence of {} features per position, but gets {}",
                self.inputs,
                input.describe()
            )),
        }
    }

    /// Two bias vectors, as PyTorch has.
    fn num_params(&self) -> usize {
        (self.inputs + self.hidden + 2) * self.gates()
    }

    /// Per example: gates `[positions, 4 hidden]`, cells `[positions, hidden]`, gate
    /// gradients `[positions, 4 hidden]`.
    fn state_width(&self) -> usize {
        self.positions * (2 * self.gates() + self.hidden)
    }

    /// PyTorch's names; every tensor initialized uniform in +-1/sqrt(hidden) as
    /// PyTorch does.
    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        let (g, h) = (self.gates(), self.hidden);
        let tensor = |suffix: &str, offset, shape: Vec<usize>, transposed| TensorLayout {
            name: format!("{name}.{suffix}_l0"),
            offset,
            shape,
            fan_in: h,
            transposed,
            init: Init::Uniform,
        };
        vec![
            tensor("weight_ih", self.offset, vec![self.inputs, g], true),
            tensor("weight_hh", self.w_hh_offset(), vec![h, g], true),
            tensor("bias_ih", self.b_ih_offset(), vec![g], false),
            tensor("bias_hh", self.b_hh_offset(), vec![g], false),
        ]
    }

    /// Two weights applied at every step: `W_ih` to the inputs, `W_hh` to the
    /// previous hidden states. Ghost: three `T x T` Gram matrices (inputs, hidden
    /// states, gate gradients) and two element-wise products; materialized: the two
    /// weight gradients, `(IN + H) x 4H`, formed over the `T` steps.
    fn norm_cost(&self) -> NormCost {
        let (t, n, h, g) = (self.positions, self.inputs, self.hidden, self.gates());
        NormCost {
            input_shape: vec![t, n],
            output_shape: vec![t, h],
            positions: t,
            ghost_flops: 2 * t * t * (n + h + g) + 4 * t * t + 2 * t * (n + h) * g,
            materialized_flops: 2 * t * (n + h) * g + 4 * (n + h) * g,
            ghost_bytes: 4 * 3 * t * t,
            materialized_bytes: 4 * (n + h) * g,
            patch_bytes: 0,
        }
    }

    fn forward_flops(&self) -> usize {
        2 * self.positions * (self.inputs + self.hidden) * self.gates()
    }
}
