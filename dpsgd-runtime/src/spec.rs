//! What `#[private_model]` knows about a model at compile time, as constants the
//! generated code passes to an [`Engine`](crate::Engine): parameter layout, the
//! per-example shape of every intermediate value, and where each one lives in the
//! step's scratch arena.

use ndarray::{ArrayView1, ArrayView2, ArrayView4};

/// A `[batch, width]` matrix of per-example rows, as addressed by generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// The batch's features.
    Input { width: usize },
    /// A region of the engine's scratch arena. Regions are laid out per example
    /// (`offset` counts floats per example), so at batch size `b` this one is
    /// `arena[b * offset .. b * (offset + width)]`, row-major.
    Arena { offset: usize, width: usize },
}

impl Buf {
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

/// A dense (fully connected) layer: `y = x W + b`. Its parameters sit at `offset` in the
/// model's flat parameter vector: `W` row-major `[inputs, outputs]`, then `b`.
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
}

/// A dense layer's parameters, viewed in place.
#[derive(Clone, Debug)]
pub struct DenseView<'a, F> {
    /// `[inputs, outputs]`.
    pub weight: ArrayView2<'a, F>,
    /// `[outputs]`.
    pub bias: ArrayView1<'a, F>,
}

impl Dense {
    /// The layer's parameters inside the model's parameter vector.
    pub fn view<'a, F>(&self, params: &'a [F]) -> DenseView<'a, F> {
        let weight = &params[self.offset..self.bias_offset()];
        let bias = &params[self.bias_offset()..self.bias_offset() + self.outputs];
        DenseView {
            weight: ArrayView2::from_shape((self.inputs, self.outputs), weight).expect("weight length"),
            bias: ArrayView1::from(bias),
        }
    }
}

/// A 2-D convolution of images stored `[channels, height, width]` per example. Its
/// parameters sit at `offset`: the weight `[out_channels, in_channels, kernel, kernel]`
/// (PyTorch's layout), then the bias. Padding is explicit (top and left; bottom and
/// right are what the output size implies), so TensorFlow's SAME and VALID are both
/// expressible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub offset: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Conv2d {
    /// Values in one patch: `in_channels * kernel^2`.
    pub const fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Output positions: `out_h * out_w`.
    pub const fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    pub const fn in_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    pub const fn weight_len(&self) -> usize {
        self.out_channels * self.patch()
    }

    pub const fn bias_offset(&self) -> usize {
        self.offset + self.weight_len()
    }
}

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
    /// The table `[vocab, dim]` inside the model's parameter vector.
    pub fn view<'a, F>(&self, params: &'a [F]) -> ArrayView2<'a, F> {
        ArrayView2::from_shape((self.vocab, self.dim), &params[self.offset..][..self.vocab * self.dim]).expect("table")
    }
}

/// A one-layer LSTM run over `positions` steps of a `[positions, inputs]` sequence,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lstm {
    pub offset: usize,
    pub inputs: usize,
    pub hidden: usize,
    pub positions: usize,
}

impl Lstm {
    /// Gate values per step: `4 hidden`.
    pub const fn gates(&self) -> usize {
        4 * self.hidden
    }

    pub const fn w_hh_offset(&self) -> usize {
        self.offset + self.inputs * self.gates()
    }

    pub const fn b_ih_offset(&self) -> usize {
        self.w_hh_offset() + self.hidden * self.gates()
    }

    pub const fn b_hh_offset(&self) -> usize {
        self.b_ih_offset() + self.gates()
    }

    pub const fn num_params(&self) -> usize {
        (self.inputs + self.hidden + 2) * self.gates()
    }

    /// Per example: gates `[positions, 4 hidden]`, cells `[positions, hidden]`, gate
    /// gradients `[positions, 4 hidden]`.
    pub const fn state_width(&self) -> usize {
        self.positions * (2 * self.gates() + self.hidden)
    }
}

/// An LSTM's parameters, viewed in place (weights transposed from PyTorch's).
#[derive(Clone, Debug)]
pub struct LstmView<'a, F> {
    /// `[inputs, 4 hidden]`.
    pub weight_ih: ArrayView2<'a, F>,
    /// `[hidden, 4 hidden]`.
    pub weight_hh: ArrayView2<'a, F>,
    pub bias_ih: ArrayView1<'a, F>,
    pub bias_hh: ArrayView1<'a, F>,
}

impl Lstm {
    /// The layer's parameters inside the model's parameter vector.
    pub fn view<'a, F>(&self, params: &'a [F]) -> LstmView<'a, F> {
        let g = self.gates();
        LstmView {
            weight_ih: ArrayView2::from_shape((self.inputs, g), &params[self.offset..self.w_hh_offset()])
                .expect("W_ih"),
            weight_hh: ArrayView2::from_shape((self.hidden, g), &params[self.w_hh_offset()..self.b_ih_offset()])
                .expect("W_hh"),
            bias_ih: ArrayView1::from(&params[self.b_ih_offset()..][..g]),
            bias_hh: ArrayView1::from(&params[self.b_hh_offset()..][..g]),
        }
    }
}

/// The mean over the `positions` of a `[positions, width]` sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceMean {
    pub positions: usize,
    pub width: usize,
}

/// A convolution's parameters, viewed in place.
#[derive(Clone, Debug)]
pub struct ConvView<'a, F> {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: ArrayView4<'a, F>,
    /// `[out_channels]`.
    pub bias: ArrayView1<'a, F>,
}

impl Conv2d {
    /// The layer's parameters inside the model's parameter vector.
    pub fn view<'a, F>(&self, params: &'a [F]) -> ConvView<'a, F> {
        let weight = &params[self.offset..self.bias_offset()];
        let bias = &params[self.bias_offset()..self.bias_offset() + self.out_channels];
        let shape = (self.out_channels, self.in_channels, self.kernel, self.kernel);
        ConvView { weight: ArrayView4::from_shape(shape, weight).expect("weight length"), bias: ArrayView1::from(bias) }
    }
}

/// How a layer's per-example gradient norms are computed: from the Gram matrices of
/// its inputs and output gradients over the positions it is applied at (O(T^2) per
/// example), or from the materialized per-example gradient (O(T in out)). The macro
/// picks the cheaper from the shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormStrategy {
    Ghost,
    Materialized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// Pooling over `window x window` squares at `stride`, no padding, per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    pub kind: PoolKind,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub window: usize,
    pub stride: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// Max pooling whose values go through relu, fused from `max_pool2d(relu(x))`:
    /// `relu` of a window's max is the max of its `relu`s, so the pooling reads `x`,
    /// the relu runs on the pooled values only, and neither the relu's output nor
    /// its gradient is formed.
    pub relu: bool,
}

impl Pool2d {
    pub const fn in_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }

    pub const fn out_len(&self) -> usize {
        self.channels * self.out_h * self.out_w
    }

    /// The input index of window offset `(wy, wx)` of output `(c, oy, ox)`.
    #[inline(always)]
    pub const fn input_index(&self, c: usize, oy: usize, ox: usize, wy: usize, wx: usize) -> usize {
        (c * self.in_h + oy * self.stride + wy) * self.in_w + ox * self.stride + wx
    }
}

/// Element-wise nonlinearities. Each one's derivative is computed from its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Sigmoid,
    Tanh,
}

/// Per-example losses, computed from the logits and the example's class label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// One logit `z`, label `y` in {0, 1}: `log(1 + e^z) - y z`.
    BinaryLogistic,
    /// `K` logits, label in `0..K`: `logsumexp(z) - z_y`.
    SoftmaxCrossEntropy,
}

impl Loss {
    /// Number of classes a label may name, given the number of logits.
    pub const fn num_classes(self, logits: usize) -> usize {
        match self {
            Loss::BinaryLogistic => 2,
            Loss::SoftmaxCrossEntropy => logits,
        }
    }
}

/// One named parameter tensor inside the flat parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamTensor {
    /// `layer.weight` (`[inputs, outputs]`) or `layer.bias`: PyTorch's names.
    pub name: &'static str,
    pub offset: usize,
    pub shape: &'static [usize],
    /// Inputs per output unit: initial values are uniform in `±1/sqrt(fan_in)`.
    pub fan_in: usize,
    /// Whether the tensor is stored as the transpose of PyTorch's layout (a dense
    /// weight: `[inputs, outputs]` here, `[out_features, in_features]` in PyTorch).
    pub transposed: bool,
}

impl ParamTensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything about a model that is not code.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    pub name: &'static str,
    /// Features per example.
    pub input_width: usize,
    /// Logits per example.
    pub outputs: usize,
    pub loss: Loss,
    pub num_params: usize,
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
    pub logits: Buf,
    /// Per-example loss (width 1).
    pub losses: Buf,
    /// Per-example squared gradient norm (width 1).
    pub sq_norms: Buf,
    /// Per-example clipping factor `min(1, C / ||g_i||)` (width 1).
    pub clip_factors: Buf,
    /// How the private step treats each parametrized layer.
    pub layers: &'static [LayerPlan],
    /// For models of token ids: the vocabulary size (every id must lie below it).
    pub token_vocab: Option<usize>,
}

/// How the private step treats one parametrized layer, as the macro planned it from
/// the shapes: how its per-example gradient norms are computed, and what each way
/// would cost per example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    pub name: &'static str,
    /// The layer's type as written, e.g. `Conv2d<1, 16, 8, 2, Same>`.
    pub kind: &'static str,
    /// Per-example input and output shapes.
    pub input_shape: &'static [usize],
    pub output_shape: &'static [usize],
    /// Positions the layer is applied at (1 for a dense layer).
    pub positions: usize,
    pub strategy: NormStrategy,
    /// Floating-point operations per example each way costs: the norm and the
    /// clipped sum (which the ghost way forms again, and the materialized way sums
    /// from the gradients it kept).
    pub ghost_flops: usize,
    pub materialized_flops: usize,
    /// Bytes of scratch per example (f32) each needs.
    pub ghost_bytes: usize,
    pub materialized_bytes: usize,
}

impl ModelSpec {
    pub const fn num_classes(&self) -> usize {
        self.loss.num_classes(self.outputs)
    }
}
