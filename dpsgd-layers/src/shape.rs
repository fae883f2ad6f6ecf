//! The per-example shape of a value in a model's forward function.

/// What one example's value is: the shapes a layer's contract takes and gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A vector of features.
    Features(usize),
    /// An image, stored `[channels, height, width]` (row-major, each channel a
    /// `height x width` plane).
    Image {
        /// Channels (planes).
        channels: usize,
        /// Rows per channel.
        height: usize,
        /// Columns per row.
        width: usize,
    },
    /// A sequence, stored `[positions, width]`: one row of `width` features per position.
    Sequence {
        /// Positions (rows).
        positions: usize,
        /// Features per position.
        width: usize,
    },
    /// Token ids (the `Tokens<T>` input), which only an embedding takes.
    Tokens(usize),
}

impl Shape {
    /// Values per example.
    pub const fn len(&self) -> usize {
        match *self {
            Shape::Features(n) | Shape::Tokens(n) => n,
            Shape::Image { channels, height, width } => channels * height * width,
            Shape::Sequence { positions, width } => positions * width,
        }
    }

    /// Whether it holds no values (never, for a shape the macro accepted).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Features(n) | Shape::Tokens(n) => vec![n],
            Shape::Image { channels, height, width } => vec![channels, height, width],
            Shape::Sequence { positions, width } => vec![positions, width],
        }
    }

    /// The shape in words, for messages: "a 1x28x28 image (channels x height x width)".
    pub fn describe(&self) -> String {
        match *self {
            Shape::Features(n) => format!("{n} features"),
            Shape::Tokens(n) => format!("{n} token ids"),
            Shape::Image { channels, height, width } => {
                format!("a {channels}x{height}x{width} image (channels x height x width)")
            }
            Shape::Sequence { positions, width } => format!("a sequence of {positions} positions of {width} features"),
        }
    }
}
