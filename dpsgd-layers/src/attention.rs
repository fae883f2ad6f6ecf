//! Multi-head attention, an operation without parameters: its shapes and the state
//! its backward pass needs, which the macro plans and the engines use alike.

/// Multi-head scaled dot-product attention, `attention(q, k, v, heads)`, of
/// `[positions, dim]` queries, keys and values (the runtime's `kernels::attention`):
/// the shapes the macro plans its state with and the engines run it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention {
    pub positions: usize,
    pub dim: usize,
    pub heads: usize,
}

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
