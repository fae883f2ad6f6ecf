//! What `#[private_model]` knows about a model at compile time, as constants the
//! generated code passes to an [`Engine`](crate::Engine): parameter layout, the
//! per-example shape of every intermediate value, and where each one lives in the
//! step's scratch arena.

/// The layer kinds' contracts: their layout, names and cost model, shared with the macro.
pub use dpsgd_layers::{Attention, Conv2d, Dense, Embedding, Init, Layer, Lstm, NormStrategy};

/// A layer's parameters viewed in place inside the model's parameter vector, as the
/// generated accessors (`model.fc1()`) give them.
pub trait ParamView {
    /// The view: `ndarray` views of the layer's tensors, shaped as stored (for a dense
    /// layer [`DenseView`](crate::layers::dense::DenseView), a weight `[inputs,
    /// outputs]` and a bias).
    type View<'a, F: 'a>;

    /// The layer's tensors inside `params`, the whole flat parameter vector of the
    /// model. Panics if `params` is too short to hold them.
    fn view<'a, F>(&self, params: &'a [F]) -> Self::View<'a, F>;
}

/// A `[batch, width]` matrix of per-example rows, as addressed by generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The batch's features: the `[batch, width]` input matrix the engine was given.
    Input {
        /// Features per example.
        width: usize,
    },
    /// A region of the engine's scratch arena. Regions are laid out per example
    /// (`offset` counts floats per example), so at batch size `b` this one is
    /// `arena[b * offset .. b * (offset + width)]`, row-major.
    Arena {
        /// Floats per example before this region in the arena.
        offset: usize,
        /// Floats per example in this region.
        width: usize,
    },
}

impl Buf {
    /// [`Buf::Arena`] at `offset`, `width` floats per example: the short form the
    /// generated code uses.
    pub const fn arena(offset: usize, width: usize) -> Self {
        Buf::Arena { offset, width }
    }

    /// Floats per example.
    pub const fn width(self) -> usize {
        match self {
            Buf::Input { width } | Buf::Arena { width, .. } => width,
        }
    }
}

/// The mean over the `positions` of a `[positions, width]` sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceMean {
    /// Positions averaged over (rows of the sequence).
    pub positions: usize,
    /// Features per position: the width of the mean.
    pub width: usize,
}

/// What a pooling window gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The window's largest value (`max_pool2d`); the gradient goes to the first
    /// input in row-major order that holds it.
    Max,
    /// The window's mean (`avg_pool2d`); the gradient is shared equally.
    Avg,
}

/// Pooling over `window x window` squares at `stride`, no padding, per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// Channels, pooled separately (the same in the input and the output).
    pub channels: usize,
    /// Input height, in pixels.
    pub in_h: usize,
    /// Input width, in pixels.
    pub in_w: usize,
    /// Side of the square window, in pixels.
    pub window: usize,
    /// Step between windows, in pixels, in both directions.
    pub stride: usize,
    /// Output height: `(in_h - window) / stride + 1`.
    pub out_h: usize,
    /// Output width: `(in_w - window) / stride + 1`.
    pub out_w: usize,
    /// Max pooling whose values go through relu, fused from `max_pool2d(relu(x))`:
    /// `relu` of a window's max is the max of its `relu`s, so the pooling reads `x`,
    /// the relu runs on the pooled values only, and neither the relu's output nor
    /// its gradient is formed.
    pub relu: bool,
}

impl Pool2d {
    /// Values of one example's input, `[channels, in_h, in_w]`.
    pub const fn in_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }

    /// Values of one example's output, `[channels, out_h, out_w]`.
    pub const fn out_len(&self) -> usize {
        self.channels * self.out_h * self.out_w
    }

    /// The input index of window offset `(wy, wx)` of output `(c, oy, ox)`.
    #[inline(always)]
    pub const fn input_index(&self, c: usize, oy: usize, ox: usize, wy: usize, wx: usize) -> usize {
        (c * self.in_h + oy * self.stride + wy) * self.in_w + ox * self.stride + wx
    }
}

/// Element-wise nonlinearities. Each one's derivative is computed from its output,
/// except GELU's, which is not a function of the output and is computed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// PyTorch's `leaky_relu` with its default slope: `x` for `x > 0`, `0.01 x` below.
    LeakyRelu,
    /// `x` for `x > 0`, `e^x - 1` below (alpha 1, PyTorch's default); `f' = y + 1` there.
    Elu,
    /// `ln(1 + e^x)`, whose derivative `sigmoid(x)` is `1 - e^(-y)`.
    Softplus,
    /// `x Phi(x)` with `Phi` the standard normal distribution function (PyTorch's
    /// `gelu`, `approximate="none"`). Its derivative needs the input.
    Gelu,
    /// The tanh approximation `x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2`
    /// (PyTorch's `gelu(approximate="tanh")`). Its derivative needs the input.
    GeluTanh,
}

impl Activation {
    /// The slope of [`LeakyRelu`](Self::LeakyRelu) below zero.
    pub const LEAKY_SLOPE: f64 = 0.01;
}

/// Per-example losses, computed from the logits and the example's target: a class
/// label, or a row of values ([`Loss::takes_values`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// One logit `z`, label `y` in {0, 1}: `log(1 + e^z) - y z`.
    BinaryLogistic,
    /// `K` logits, label in `0..K`: `logsumexp(z) - z_y`.
    SoftmaxCrossEntropy,
    /// `K` outputs, `K` real targets: `(1/K) sum_k (z_k - y_k)^2` (PyTorch's
    /// `MSELoss` over one example).
    MeanSquaredError,
    /// `K` logits, `K` labels in {0, 1}: `sum_k log(1 + e^z_k) - y_k z_k`, a binary
    /// logistic loss per output, summed.
    MultilabelBinaryLogistic,
}

impl Loss {
    /// Number of classes a label may name, given the number of logits (0 for the
    /// losses of value targets).
    pub const fn num_classes(self, logits: usize) -> usize {
        match self {
            Loss::BinaryLogistic => 2,
            Loss::SoftmaxCrossEntropy => logits,
            Loss::MeanSquaredError | Loss::MultilabelBinaryLogistic => 0,
        }
    }

    /// Whether each example's target is a row of values, one per output, rather
    /// than a class label.
    pub const fn takes_values(self) -> bool {
        matches!(self, Loss::MeanSquaredError | Loss::MultilabelBinaryLogistic)
    }

    /// Whether the outputs predict classes (or labels) whose accuracy can be counted.
    pub const fn classifies(self) -> bool {
        !matches!(self, Loss::MeanSquaredError)
    }

    /// The name a model's attribute gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Loss::BinaryLogistic => "binary_logistic",
            Loss::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Loss::MeanSquaredError => "mean_squared_error",
            Loss::MultilabelBinaryLogistic => "multilabel_binary_logistic",
        }
    }
}

/// One named parameter tensor inside the flat parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamTensor {
    /// `layer.weight` (`[inputs, outputs]`) or `layer.bias`: PyTorch's names.
    pub name: &'static str,
    /// Index of the tensor's first entry in the model's flat parameter vector.
    pub offset: usize,
    /// The shape as stored in the parameter vector, row-major.
    pub shape: &'static [usize],
    /// Inputs per output unit: initial values are uniform in `±1/sqrt(fan_in)`.
    pub fan_in: usize,
    /// Whether the tensor is stored as the transpose of PyTorch's layout (a dense
    /// weight: `[inputs, outputs]` here, `[out_features, in_features]` in PyTorch).
    pub transposed: bool,
    /// How its entries start.
    pub init: Init,
}

impl ParamTensor {
    /// Entries of the tensor: the product of its shape.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything about a model that is not code.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    /// The model struct's name (`Ffnn`).
    pub name: &'static str,
    /// Features per example.
    pub input_width: usize,
    /// Logits per example.
    pub outputs: usize,
    /// The loss named in the model's attribute.
    pub loss: Loss,
    /// Length of the flat parameter vector.
    pub num_params: usize,
    /// The named tensors that tile the parameter vector, in order.
    pub params: &'static [ParamTensor],
    /// Floats of scratch arena per example.
    pub arena_width: usize,
    /// Bytes one example holds during a private step in f32: its arena, the patches
    /// of each convolution and each layer's norm scratch. It sizes the CPU's
    /// physical batches.
    pub step_bytes_per_example: usize,
    /// FLOPs of one example's forward pass through the parametrized layers (a
    /// multiply-add counts two): a step's compute is about three times this.
    pub forward_flops_per_example: usize,
    /// The most outputs of any parametrized layer (sizes the engine's scratch for
    /// weighted gradient sums).
    pub max_layer_outputs: usize,
    /// The forward pass's output: per-example logits (width `outputs`).
    pub logits: Buf,
    /// Per-example loss (width 1).
    pub losses: Buf,
    /// Per-example squared gradient norm (width 1).
    pub sq_norms: Buf,
    /// Per-example clipping factor `min(1, C / ||g_i||)` (width 1).
    pub clip_factors: Buf,
    /// How the private step treats each parametrized layer.
    pub layers: &'static [LayerPlan],
    /// Every pooling the model applies (the operations without parameters an engine
    /// may lack besides its layers' sequence means, which only follow embeddings).
    pub pools: &'static [Pool2d],
    /// Every attention the model applies.
    pub attentions: &'static [Attention],
    /// Every activation the model applies, each once.
    pub activations: &'static [Activation],
    /// For models of token ids: the vocabulary size (every id must lie below it).
    pub token_vocab: Option<usize>,
}

/// How the private step treats one parametrized layer, as the macro planned it from
/// the shapes: how its per-example gradient norms are computed, and what each way
/// would cost per example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// The layer's field name in the model struct (`fc1`).
    pub name: &'static str,
    /// The layer's type as written, e.g. `Conv2d<1, 16, 8, 2, Same>`.
    pub kind: &'static str,
    /// Its contract, as the generated code passes it to the engine.
    pub layer: Layer,
    /// Per-example input shape, outermost dimension first.
    pub input_shape: &'static [usize],
    /// Per-example output shape, outermost dimension first.
    pub output_shape: &'static [usize],
    /// Positions the layer is applied at (1 for a dense layer).
    pub positions: usize,
    /// How the private step takes the layer's per-example gradient norms: the
    /// cheaper way in FLOPs.
    pub strategy: NormStrategy,
    /// Floating-point operations per example the ghost way costs: the norm and the
    /// clipped sum, which it forms again. `usize::MAX` for a layer with no ghost way.
    pub ghost_flops: usize,
    /// Floating-point operations per example the materialized way costs: the norm
    /// and the clipped sum, which it sums from the gradients it kept.
    pub materialized_flops: usize,
    /// Bytes of scratch per example (f32) the ghost way needs.
    pub ghost_bytes: usize,
    /// Bytes of scratch per example (f32) the materialized way needs.
    pub materialized_bytes: usize,
}

impl ModelSpec {
    /// Number of classes a label may name ([`Loss::num_classes`] of the outputs; 0
    /// for a loss of value targets).
    pub const fn num_classes(&self) -> usize {
        self.loss.num_classes(self.outputs)
    }
}

/// A model spec with no layers, for tests of what depends only on the loss.
#[cfg(test)]
pub(crate) fn test_spec(loss: Loss, outputs: usize) -> ModelSpec {
    let none = Buf::Arena { offset: 0, width: 1 };
    ModelSpec {
        name: "TestModel",
        input_width: 1,
        outputs,
        loss,
        num_params: 0,
        params: &[],
        arena_width: 1,
        step_bytes_per_example: 0,
        forward_flops_per_example: 0,
        max_layer_outputs: 0,
        logits: none,
        losses: none,
        sq_norms: none,
        clip_factors: none,
        layers: &[],
        pools: &[],
        attentions: &[],
        activations: &[],
        token_vocab: None,
    }
}
