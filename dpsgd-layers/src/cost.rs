//! The cost model behind a layer's norm strategy.

/// How a layer's per-example gradient norms are computed: from the Gram matrices of
/// its inputs and output gradients over the positions it is applied at (O(T^2) per
/// example), or from the materialized per-example gradient (O(T in out)). The plan
/// picks the cheaper from the shapes ([`NormCost::strategy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormStrategy {
    /// Without forming the per-example gradient: from the Gram matrices of the
    /// inputs and output gradients over the positions (for a dense layer at one
    /// position, the product of two squared norms).
    Ghost,
    /// From each example's gradient, formed in full and kept for the clipped sum.
    Materialized,
}

/// What each way to a layer's per-example norm costs per example, and its shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormCost {
    /// Per-example input shape, outermost dimension first.
    pub input_shape: Vec<usize>,
    /// Per-example output shape, outermost dimension first.
    pub output_shape: Vec<usize>,
    /// Positions the layer is applied at (1 for a dense layer).
    pub positions: usize,
    /// FLOPs per example of the ghost way: the norm, and the clipped sum, which it
    /// forms again from the inputs and output gradients. `usize::MAX` when the layer
    /// has no ghost way.
    pub ghost_flops: usize,
    /// FLOPs per example of the materialized way: forming the gradient and its norm,
    /// and the clipped sum, which it sums from the gradients it kept.
    pub materialized_flops: usize,
    /// Scratch bytes per example (f32) the ghost way needs, besides
    /// [`patch_bytes`](Self::patch_bytes).
    pub ghost_bytes: usize,
    /// Scratch bytes per example (f32) the materialized way needs (the kept
    /// gradient), besides [`patch_bytes`](Self::patch_bytes).
    pub materialized_bytes: usize,
    /// Bytes per example of a convolution's patches, which the step keeps whichever
    /// way it takes the norm.
    pub patch_bytes: usize,
}

impl NormCost {
    /// The cost of a product applied at `t` positions to patches of `p` values with
    /// `o` outputs: the ghost norm forms two `T x T` Gram matrices (`2 T^2 (P + O)`
    /// FLOPs; `2 T^2` floats, and the patches transposed, `T P`); the materialized
    /// gradient is a `P x O` product over `T` positions (`2 T P O` FLOPs, `P O`
    /// floats) and its squared norm. A dense layer is `T = 1`, where the ghost norm is
    /// two dot products.
    ///
    /// Both ways then pay for the clipped sum: the ghost way forms the gradient
    /// product again, weighted (`2 T P O`), the materialized way sums the gradients it
    /// kept (`2 P O`). Counting it makes the materialized way the cheaper one for a
    /// convolution at few positions, such as the MNIST CNN's second (25).
    pub fn of_product(input_shape: Vec<usize>, output_shape: Vec<usize>, t: usize, p: usize, o: usize) -> NormCost {
        let ghost_norm = if t == 1 { 2 * (p + o) } else { 2 * t * t * (p + o) + 2 * t * t };
        NormCost {
            input_shape,
            output_shape,
            positions: t,
            ghost_flops: ghost_norm + 2 * t * p * o,
            materialized_flops: 2 * t * p * o + 4 * p * o,
            ghost_bytes: if t == 1 { 0 } else { 4 * (2 * t * t + t * p) },
            materialized_bytes: 4 * p * o,
            patch_bytes: if t == 1 { 0 } else { 4 * t * p },
        }
    }

    /// A layer whose per-example gradient is as cheap as any norm of it: no ghost way
    /// (`ghost_flops` is `usize::MAX`).
    pub fn materialized_only(shape: Vec<usize>, flops: usize, bytes: usize) -> NormCost {
        NormCost {
            input_shape: shape.clone(),
            output_shape: shape,
            positions: 1,
            ghost_flops: usize::MAX,
            materialized_flops: flops,
            ghost_bytes: 0,
            materialized_bytes: bytes,
            patch_bytes: 0,
        }
    }

    /// Whether the layer has a ghost way at all.
    pub fn has_ghost(&self) -> bool {
        self.ghost_flops != usize::MAX
    }

    /// Ghost where it costs fewer FLOPs than the materialized gradient.
    pub fn strategy(&self) -> NormStrategy {
        match self.ghost_flops < self.materialized_flops {
            true => NormStrategy::Ghost,
            false => NormStrategy::Materialized,
        }
    }

    /// Scratch bytes per example of the chosen way, patches included.
    pub fn step_bytes(&self) -> usize {
        let norm = match self.strategy() {
            NormStrategy::Ghost => self.ghost_bytes,
            NormStrategy::Materialized => self.materialized_bytes,
        };
        norm + self.patch_bytes
    }
}
