//! The contract of every layer kind `#[private_model]` knows, stated once: where its
//! parameters sit in the model's flat parameter vector and what PyTorch calls them, its
//! per-example input and output shapes, and what each way to its per-example gradient
//! norm costs. The macro (`dpsgd-macros`) plans models with it at compile time; the
//! engines (`dpsgd-runtime`) run the same structs as the constants the generated code
//! passes them. One module per kind.

mod conv2d;
mod cost;
mod dense;
mod embedding;
mod lstm;

pub use conv2d::{Conv2d, conv_output};
pub use cost::{NormCost, NormStrategy};
pub use dense::Dense;
pub use embedding::Embedding;
pub use lstm::Lstm;

/// One named parameter tensor of a layer, where it sits in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorLayout {
    /// PyTorch's name: the layer's name, a dot, the tensor's (`fc1.weight`).
    pub name: String,
    pub offset: usize,
    /// The shape as stored here.
    pub shape: Vec<usize>,
    /// Inputs per output unit: initial values are uniform in `±1/sqrt(fan_in)`.
    pub fan_in: usize,
    /// Whether the tensor is stored as the transpose of PyTorch's layout.
    pub transposed: bool,
}

/// Any layer, for code that handles them alike: the macro's planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Dense(Dense),
    Conv2d(Conv2d),
    Embedding(Embedding),
    Lstm(Lstm),
}

impl Layer {
    /// Parameters of the layer.
    pub fn num_params(&self) -> usize {
        match self {
            Layer::Dense(l) => l.num_params(),
            Layer::Conv2d(l) => l.num_params(),
            Layer::Embedding(l) => l.num_params(),
            Layer::Lstm(l) => l.num_params(),
        }
    }

    /// The layer's tensors, named after the layer `name`, in parameter-vector order.
    pub fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        match self {
            Layer::Dense(l) => l.tensors(name),
            Layer::Conv2d(l) => l.tensors(name),
            Layer::Embedding(l) => l.tensors(name),
            Layer::Lstm(l) => l.tensors(name),
        }
    }

    /// What each way to the per-example gradient norm costs per example.
    pub fn norm_cost(&self) -> NormCost {
        match self {
            Layer::Dense(l) => l.norm_cost(),
            Layer::Conv2d(l) => l.norm_cost(),
            Layer::Embedding(l) => l.norm_cost(),
            Layer::Lstm(l) => l.norm_cost(),
        }
    }

    /// FLOPs of one example's forward pass through the layer.
    pub fn forward_flops(&self) -> usize {
        match self {
            Layer::Dense(l) => l.forward_flops(),
            Layer::Conv2d(l) => l.forward_flops(),
            Layer::Embedding(l) => l.forward_flops(),
            Layer::Lstm(l) => l.forward_flops(),
        }
    }

    /// Per-example state kept between the passes (an LSTM's gates and cells), floats.
    pub fn state_width(&self) -> usize {
        match self {
            Layer::Lstm(l) => l.state_width(),
            _ => 0,
        }
    }

    /// Outputs per position of a layer whose deltas the engine scales in its
    /// `[batch, outputs]` scratch (dense layers only), else 0.
    pub fn scaled_outputs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.outputs,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind's tensors tile its parameters exactly, in order.
    #[test]
    fn tensors_tile_the_parameters() {
        let layers = [
            Layer::Dense(Dense { offset: 3, inputs: 5, outputs: 2 }),
            Layer::Conv2d(Conv2d {
                offset: 7,
                in_channels: 2,
                out_channels: 4,
                kernel: 3,
                stride: 1,
                pad_top: 1,
                pad_left: 1,
                in_h: 6,
                in_w: 5,
                out_h: 6,
                out_w: 5,
            }),
            Layer::Embedding(Embedding { offset: 0, vocab: 11, dim: 3, positions: 4, mean: true }),
            Layer::Lstm(Lstm { offset: 2, inputs: 3, hidden: 5, positions: 7 }),
        ];
        for layer in layers {
            let tensors = layer.tensors("l");
            let mut next = tensors[0].offset;
            for t in &tensors {
                assert_eq!(t.offset, next, "{layer:?}: {t:?}");
                next += t.shape.iter().product::<usize>();
            }
            assert_eq!(next - tensors[0].offset, layer.num_params(), "{layer:?}");
        }
    }
}
