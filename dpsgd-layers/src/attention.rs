//! Multi-head attention, an operation without parameters: its shapes and the state
//! its backward pass needs, which the macro plans and the engines use alike.

/// Multi-head scaled dot-product attention, `attention(q, k, v, heads)`, of
/// `[positions, dim]` queries, keys and values (the runtime's `kernels::attention`):
/// the shapes the macro plans its state with and the engines run it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention {
    /// Positions of the sequence: queries, keys and values each have this many rows.
    pub positions: usize,
    /// Features per position of the queries, keys and values (and of the output),
    /// all heads together: head `h` uses columns `h * head_width .. (h + 1) * head_width`.
    pub dim: usize,
    /// Number of heads; divides `dim`.
    pub heads: usize,
    /// `attention(q, k, v, heads, x)`: no query attends to a key whose token id in the
    /// model's input `x` is [`PADDING_ID`]; a query with only such keys gets zeros.
    pub padding_mask: bool,
}

/// The token id that pads a sequence (IMDB's and Keras's `pad_sequences`' 0), which
/// a padding mask hides from attention.
pub const PADDING_ID: u32 = 0;

impl Attention {
    /// Columns per head.
    pub const fn head_width(&self) -> usize {
        self.dim / self.heads
    }

    /// Per example, kept from the forward pass: each head's attention probabilities,
    /// `[heads, positions, positions]`.
    pub const fn state_width(&self) -> usize {
        self.heads * self.positions * self.positions
    }
}
