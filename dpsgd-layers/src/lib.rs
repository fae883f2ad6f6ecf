//! The contract of every layer kind `#[private_model]` knows, stated once: where its
//! parameters sit in the model's flat parameter vector and what PyTorch calls them, its
//! per-example input and output shapes, and what each way to its per-example gradient
//! norm costs. The macro (`dpsgd-macros`) plans models with it at compile time; the
//! engines (`dpsgd-runtime`) run the same structs as the constants the generated code
//! passes them. One module per kind.

#![warn(missing_docs)]

mod attention;
mod contract;
mod conv2d;
mod cost;
mod dense;
mod embedding;
mod group_norm;
mod layer_norm;
mod lstm;
mod normalization;
mod position_embedding;
mod shape;

pub use attention::{Attention, PADDING_ID};
pub use contract::{Contract, Literal, TypeArg};
pub use conv2d::{Conv2d, conv_output};
pub use cost::{NormCost, NormStrategy};
pub use dense::Dense;
pub use embedding::Embedding;
pub use group_norm::GroupNorm;
pub use layer_norm::LayerNorm;
pub use lstm::Lstm;
pub use normalization::{EPSILON, NormBlocks, Normalization};
pub use position_embedding::PositionEmbedding;
pub use shape::Shape;

/// Every layer kind, in one list: a kind is its module above and its name here. The
/// list is given to `callback`, a macro, as comma-separated contract types; this crate
/// builds [`Layer`] with it, and the runtime the operations an engine must have.
#[macro_export]
macro_rules! for_each_layer_kind {
    ($callback:ident) => {
        $callback! { Dense, Conv2d, Embedding, Lstm, GroupNorm, LayerNorm, PositionEmbedding }
    };
}

/// One named parameter tensor of a layer, where it sits in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorLayout {
    /// PyTorch's name: the layer's name, a dot, the tensor's (`fc1.weight`).
    pub name: String,
    /// Index of the tensor's first entry in the model's flat parameter vector.
    pub offset: usize,
    /// The shape as stored here (row-major).
    pub shape: Vec<usize>,
    /// Inputs per output unit: initial values are uniform in `±1/sqrt(fan_in)`.
    pub fan_in: usize,
    /// Whether the tensor is stored as the transpose of PyTorch's layout.
    pub transposed: bool,
    /// How its entries start.
    pub init: Init,
}

/// How a tensor's entries start, as PyTorch starts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Uniform in `±1/sqrt(fan_in)`.
    Uniform,
    /// 1: a normalization's scale.
    Ones,
    /// 0: a normalization's shift.
    Zeros,
}

macro_rules! define_layer {
    ($($kind:ident),*) => {
        /// Any layer, for code that handles every kind alike: each method is the
        /// kind's [`Contract`] method.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Layer {
            $(
                #[doc = concat!("A [`", stringify!($kind), "`] layer.")]
                $kind($kind),
            )*
        }

        $(impl From<$kind> for Layer {
            fn from(layer: $kind) -> Layer {
                Layer::$kind(layer)
            }
        })*

        impl Layer {
            /// The layer declared as `type_name<args>`, or the message for arguments
            /// that do not fit; `None` when no kind is called `type_name`.
            pub fn declare(type_name: &str, args: &[TypeArg]) -> Option<Result<Layer, String>> {
                $(if type_name == <$kind as Contract>::TYPE_NAME {
                    return Some(<$kind as Contract>::declare(args).map(Layer::$kind));
                })*
                None
            }

            /// Every kind's form (`Linear<IN, OUT>`), for messages.
            pub fn usages() -> Vec<&'static str> {
                vec![$(<$kind as Contract>::USAGE),*]
            }

            /// The name of the kind's contract struct (`Dense`).
            pub fn struct_name(&self) -> &'static str {
                match self { $(Layer::$kind(_) => <$kind as Literal>::STRUCT,)* }
            }

            /// The contract's fields as Rust literals ([`Literal::fields`]).
            pub fn fields(&self) -> Vec<(&'static str, String)> {
                match self { $(Layer::$kind(l) => l.fields(),)* }
            }

            /// The declaration as the user wrote it ([`Contract::type_name`]).
            pub fn type_name(&self) -> String {
                match self { $(Layer::$kind(l) => l.type_name(),)* }
            }

            /// The layer placed at `offset` and applied to one example's `input`, with its
            /// output's shape, or why it cannot take `input` ([`Contract::apply`]).
            pub fn apply(&self, offset: usize, input: &Shape) -> Result<(Layer, Shape), String> {
                match self { $(Layer::$kind(l) => l.apply(offset, input).map(|(l, s)| (Layer::$kind(l), s)),)* }
            }

            /// Parameters the layer holds ([`Contract::num_params`]).
            pub fn num_params(&self) -> usize {
                match self { $(Layer::$kind(l) => l.num_params(),)* }
            }

            /// The layer's tensors, named after `name`, in parameter-vector order
            /// ([`Contract::tensors`]).
            pub fn tensors(&self, name: &str) -> Vec<TensorLayout> {
                match self { $(Layer::$kind(l) => l.tensors(name),)* }
            }

            /// What each way to the per-example gradient norm costs per example
            /// ([`Contract::norm_cost`]).
            pub fn norm_cost(&self) -> NormCost {
                match self { $(Layer::$kind(l) => l.norm_cost(),)* }
            }

            /// FLOPs of one example's forward pass through the layer
            /// ([`Contract::forward_flops`]).
            pub fn forward_flops(&self) -> usize {
                match self { $(Layer::$kind(l) => l.forward_flops(),)* }
            }

            /// Floats of per-example state kept between the passes
            /// ([`Contract::state_width`]).
            pub fn state_width(&self) -> usize {
                match self { $(Layer::$kind(l) => l.state_width(),)* }
            }

            /// Outputs per example whose deltas the engine scales in its scratch, else 0
            /// ([`Contract::scaled_outputs`]).
            pub fn scaled_outputs(&self) -> usize {
                match self { $(Layer::$kind(l) => l.scaled_outputs(),)* }
            }

            /// The layer fused with a mean over its output's positions, where its kind
            /// can do that ([`Contract::with_mean`]).
            pub fn with_mean(&self) -> Option<Layer> {
                match self { $(Layer::$kind(l) => l.with_mean().map(Layer::$kind),)* }
            }

            /// The bound token ids the layer looks up must be below
            /// ([`Contract::token_vocab`]).
            pub fn token_vocab(&self) -> Option<usize> {
                match self { $(Layer::$kind(l) => l.token_vocab(),)* }
            }
        }
    };
}

for_each_layer_kind!(define_layer);

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(type_name: &str, args: &[TypeArg]) -> Layer {
        Layer::declare(type_name, args).expect("a kind").expect("a declaration")
    }

    fn size(n: usize) -> TypeArg {
        TypeArg::Size(n)
    }

    /// The macro places layers by their declarations' parameter counts, before it
    /// applies them: applying must not change the count.
    #[test]
    fn applying_keeps_the_declared_parameter_count() {
        let image = Shape::Image { channels: 3, height: 9, width: 7 };
        let cases = [
            (declared("Linear", &[size(6), size(4)]), Shape::Features(6)),
            (declared("Conv2d", &[size(3), size(5), size(3), size(2), TypeArg::Word("Same".into())]), image),
            (declared("Embedding", &[size(20), size(4)]), Shape::Tokens(8)),
            (declared("Lstm", &[size(4), size(3)]), Shape::Sequence { positions: 5, width: 4 }),
        ];
        for (layer, input) in cases {
            let (applied, output) = layer.apply(17, &input).expect("the layer takes its input");
            assert_eq!(applied.num_params(), layer.num_params(), "{layer:?}");
            assert_eq!(applied.tensors("l")[0].offset, 17, "{applied:?}");
            assert!(!output.is_empty());
        }
    }

    /// A layer written as a literal names every field of its struct, in order: the
    /// derived `Debug` spells the same struct independently.
    #[test]
    fn literals_name_every_field() {
        let layers = [
            declared("Linear", &[size(6), size(4)]),
            declared("Conv2d", &[size(3), size(5), size(3), size(2), TypeArg::Word("Valid".into())]),
            declared("Embedding", &[size(20), size(4)]).with_mean().expect("an embedding fuses a mean"),
            declared("Lstm", &[size(4), size(3)]),
        ];
        for layer in layers {
            let fields: Vec<String> = layer.fields().into_iter().map(|(f, v)| format!("{f}: {v}")).collect();
            let literal = format!("{}({} {{ {} }})", layer.struct_name(), layer.struct_name(), fields.join(", "));
            assert_eq!(literal, format!("{layer:?}"));
        }
    }

    #[test]
    fn declarations_that_do_not_fit_say_how_to_write_them() {
        let conv = |padding: &str| {
            Layer::declare("Conv2d", &[size(1), size(2), size(3), size(1), TypeArg::Word(padding.into())])
        };
        assert_eq!(conv("Full"), Some(Err("padding is `Same` or `Valid`".to_string())));
        assert_eq!(
            Layer::declare("Linear", &[size(3)]),
            Some(Err("write a dense layer as `Linear<IN, OUT>`".to_string()))
        );
        assert_eq!(Layer::declare("Attention", &[size(3)]), None);
        let err = declared("Lstm", &[size(4), size(3)]).apply(0, &Shape::Features(4)).unwrap_err();
        assert_eq!(err, " and runs over a sequence of 4 features per position, but gets 4 features");
    }

    /// Every kind's tensors tile its parameters exactly, in order.
    #[test]
    fn tensors_tile_the_parameters() {
        let layers = [
            Layer::Dense(Dense { offset: 3, inputs: 5, outputs: 2, positions: 1 }),
            Layer::Conv2d(Conv2d {
                offset: 7,
                in_channels: 2,
                out_channels: 4,
                kernel: 3,
                stride: 1,
                same: true,
                standardized: false,
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
