//! One module per parametrized layer kind: the CPU engine's implementation of the
//! kind's [`LayerOps`] beside its kernels and their tests, the CUDA engine's, and the
//! view of its parameters. A kind's contract (layout, PyTorch names, shapes, the norm
//! cost model) is in `dpsgd-layers`, which also holds the one list of kinds.

pub mod conv2d;
pub mod dense;
pub mod embedding;
pub mod lstm;
pub mod normalization;
pub mod position_embedding;

use crate::Float;
use crate::contracts::{Layer, NormStrategy};
use crate::spec::Buf;

/// The buffers of one application of a layer, as the plan placed them: its input and
/// output, its output's gradient (written by the backward pass before the layer's own
/// step, read from then on) and what it keeps between its passes, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    /// The layer's input.
    pub x: Buf,
    /// The layer's output.
    pub y: Buf,
    /// The gradient of the loss with respect to `y`.
    pub dy: Buf,
    /// What the layer keeps per example from its forward pass for its backward pass
    /// (an LSTM's gates and cells, a normalization's normalized values), or `None`.
    pub state: Option<Buf>,
}

/// What an engine does for layers of kind `L` (a contract of `dpsgd-layers`): the five
/// calls the generated code makes per layer application. [`Engine`](crate::Engine)
/// requires them for every kind.
pub trait LayerOps<L, F: Float> {
    /// Why this engine cannot run `layer`, if it cannot: engines refuse a model when
    /// they are made, naming the layer.
    fn supports(_layer: &L) -> Result<(), String>
    where
        Self: Sized,
    {
        Ok(())
    }

    /// `y` from `x` (and the layer's state for its backward pass).
    fn layer_forward(&mut self, layer: L, at: Site);

    /// From `dy`: the input gradient into `dx` when the input has one (`+=` when
    /// `accumulate`), and whatever the parameter gradients need kept.
    fn layer_backward(&mut self, layer: L, at: Site, dx: Option<Buf>, accumulate: bool);

    /// Adds each example's squared gradient norm for this layer to `out`, by
    /// `strategy` (the plan's, unless the engine forces one for tests).
    fn layer_add_sq_norms(&mut self, layer: L, at: Site, out: Buf, strategy: NormStrategy);

    /// The layer's gradient summed over the batch, each example weighted by `weights`
    /// when given, written to the gradient buffer.
    fn layer_param_grad(&mut self, layer: L, at: Site, weights: Option<Buf>);

    /// Each example's gradient for this layer, written to its row of the per-example
    /// gradient matrix.
    fn layer_per_example_grads(&mut self, layer: L, at: Site);
}

macro_rules! every_layer_ops {
    ($first:ident $(, $kind:ident)*) => {
        /// [`LayerOps`] for every layer kind of `dpsgd-layers`.
        pub trait EveryLayerOps<F: Float>:
            LayerOps<crate::contracts::$first, F> $(+ LayerOps<crate::contracts::$kind, F>)*
        {
            /// Why this engine cannot run `layer`, if it cannot.
            fn supports_layer(layer: &Layer) -> Result<(), String>
            where
                Self: Sized,
            {
                match layer {
                    Layer::$first(l) => <Self as LayerOps<crate::contracts::$first, F>>::supports(l),
                    $(Layer::$kind(l) => <Self as LayerOps<crate::contracts::$kind, F>>::supports(l),)*
                }
            }
        }

        impl<F: Float, E> EveryLayerOps<F> for E where
            E: LayerOps<crate::contracts::$first, F> $(+ LayerOps<crate::contracts::$kind, F>)*
        {
        }
    };
}

dpsgd_layers::for_each_layer_kind!(every_layer_ops);
