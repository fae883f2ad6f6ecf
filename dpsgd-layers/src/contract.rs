//! What every layer kind states about itself: [`Contract`].

use std::fmt::Debug;

use crate::{NormCost, Shape, TensorLayout};

/// One argument of a layer's type as the user wrote it: `Conv2d<1, 16, 8, 2, Same>`
/// has four sizes and a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeArg {
    /// An integer literal: a size, a count or a stride (`16`).
    Size(usize),
    /// A bare identifier: an option such as a convolution's padding (`Same`).
    Word(String),
}

/// A layer kind's contract. The macro declares a layer from the type the user wrote
/// ([`declare`](Self::declare)), applies it to the shape its argument has
/// ([`apply`](Self::apply)), and plans with its layout and cost model; the engines run
/// the applied value, passed to them as a constant of the generated code.
pub trait Contract: Copy + Debug + Literal {
    /// The type users write in the model struct (`Linear`).
    const TYPE_NAME: &'static str;
    /// The type's form, for messages: `Linear<IN, OUT>`.
    const USAGE: &'static str;

    /// The layer a declaration `TYPE_NAME<args>` gives, not yet placed or applied (its
    /// offset and shapes zero), or the message for arguments that do not fit.
    fn declare(args: &[TypeArg]) -> Result<Self, String>;

    /// The declaration as the user wrote it: `Linear<104, 50>`.
    fn type_name(&self) -> String;

    /// The layer placed at `offset` in the parameter vector and applied to one
    /// example's `input`, with the shape of its output; or why it cannot take `input`,
    /// as the end of a sentence that starts "layer `name` is {type_name}".
    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String>;

    /// Parameters the layer holds in the flat parameter vector: the sum of its
    /// [`tensors`](Self::tensors)' lengths. It is known from the declaration, before
    /// the layer is applied.
    fn num_params(&self) -> usize;

    /// The layer's tensors, named after the layer `name` as PyTorch names them, in
    /// parameter-vector order.
    fn tensors(&self, name: &str) -> Vec<TensorLayout>;

    /// What each way to the per-example gradient norm costs per example.
    fn norm_cost(&self) -> NormCost;

    /// FLOPs of one example's forward pass through the layer.
    fn forward_flops(&self) -> usize;

    /// Per-example state kept between the passes (an LSTM's gates and cells), floats.
    fn state_width(&self) -> usize {
        0
    }

    /// Outputs per position of a layer whose deltas the engine scales in its
    /// `[batch, outputs]` scratch, else 0.
    fn scaled_outputs(&self) -> usize {
        0
    }

    /// The layer fused with a `mean(...)` over the positions of its output, where the
    /// kind can give that mean without forming the sequence (an embedding); its output
    /// is then `Features(width)`.
    fn with_mean(&self) -> Option<Self> {
        None
    }

    /// Token ids the layer looks up must be below this.
    fn token_vocab(&self) -> Option<usize> {
        None
    }
}

/// A contract written as a Rust literal: its struct's name and fields, which is how
/// the macro passes a planned layer to the generated code. `contract_struct!` (in this crate)
/// derives it from the struct's definition.
pub trait Literal {
    /// The struct's name (`Dense`), as the generated code spells the literal.
    const STRUCT: &'static str;

    /// `(field, value)` pairs, each value a Rust literal.
    fn fields(&self) -> Vec<(&'static str, String)>;
}

/// Defines a contract's struct (plain `usize` and `bool` fields) with the derives every
/// contract has and its [`Literal`].
macro_rules! contract_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::Literal for $name {
            const STRUCT: &'static str = stringify!($name);

            fn fields(&self) -> Vec<(&'static str, String)> {
                vec![$((stringify!($field), self.$field.to_string())),*]
            }
        }
    };
}
pub(crate) use contract_struct;

/// The sizes of a declaration without words (`Linear<104, 50>`), or `None`.
pub(crate) fn sizes<const N: usize>(args: &[TypeArg]) -> Option<[usize; N]> {
    let sizes: Vec<usize> = args
        .iter()
        .map(|a| match a {
            TypeArg::Size(n) => Some(*n),
            TypeArg::Word(_) => None,
        })
        .collect::<Option<_>>()?;
    sizes.try_into().ok()
}
