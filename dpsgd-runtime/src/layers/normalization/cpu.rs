//! [`LayerOps`] for the normalizations on the CPU engine: the same five calls for
//! [`GroupNorm`] and [`LayerNorm`], each on its [`NormBlocks`].

use super::kernels;
use crate::contracts::{GroupNorm, LayerNorm, NormBlocks, Normalization};
use crate::engine::cpu::{CpuEngine, Stored, Views, grow, take_stored};
use crate::kernels::vector;
use crate::spec::{Buf, NormStrategy};
use crate::{Float, LayerOps, Site};

/// The state buffer the plan gives every normalization.
fn state_of(at: Site) -> Buf {
    at.state.expect("a normalization keeps its normalized input")
}

impl<F: Float> CpuEngine<F> {
    fn norm_forward(&mut self, n: NormBlocks, offset: usize, at: Site) {
        let Views { reads: [x], writes: [y, state], params, .. } = self.views([at.x], [at.y, state_of(at)]);
        let (weight, bias) = params[offset..][..2 * n.channels].split_at(n.channels);
        kernels::forward(&n, weight, bias, x, y, state);
    }

    fn norm_backward(&mut self, n: NormBlocks, offset: usize, at: Site, dx: Option<Buf>, accumulate: bool) {
        let Some(dx) = dx else { return };
        let Views { reads: [dy, state], writes: [dx], params, .. } = self.views([at.dy, state_of(at)], [dx]);
        kernels::backward(&n, &params[offset..][..n.channels], dy, state, dx, accumulate);
    }

    /// Each example's gradient, `[batch, 2 channels]`, kept for this batch's clipped
    /// sum (put it back in `stored_grads`).
    fn norm_example_grads(&mut self, n: NormBlocks, offset: usize, at: Site) -> Stored<F> {
        let width = 2 * n.channels;
        let mut stored = take_stored(&mut self.stored_grads, offset);
        grow(&mut stored.values, self.capacity() * width);
        stored.version = self.version;
        let b = self.batch;
        let Views { reads: [dy, state], .. } = self.views([at.dy, state_of(at)], []);
        kernels::example_grads(&n, dy, state, &mut stored.values[..b * width], width, 0);
        stored
    }

    fn norm_add_sq_norms(&mut self, n: NormBlocks, offset: usize, at: Site, out: Buf) {
        let rows = self.norm_example_grads(n, offset, at);
        let Views { writes: [out], .. } = self.views([], [out]);
        for (out, row) in out.iter_mut().zip(rows.values.chunks(2 * n.channels)) {
            *out += vector::sq_norm(row);
        }
        self.stored_grads.push(rows);
    }

    /// From the gradients the norms of this batch kept, or else formed now.
    fn norm_param_grad(&mut self, n: NormBlocks, offset: usize, at: Site, weights: Option<Buf>) {
        let stored = take_stored(&mut self.stored_grads, offset);
        let rows = match stored.version == self.version {
            true => stored,
            false => {
                self.stored_grads.push(stored);
                self.norm_example_grads(n, offset, at)
            }
        };
        let b = self.batch;
        // Unweighted calls read the delta in place of weights: harmless.
        let Views { reads: [c], grads, .. } = self.views([weights.unwrap_or(at.dy)], []);
        let grad = &mut grads[offset..][..2 * n.channels];
        match weights {
            Some(_) => vector::weighted_row_sum(&rows.values[..b * 2 * n.channels], &c[..b], grad),
            None => vector::row_sum(&rows.values, b, grad),
        }
        self.stored_grads.push(rows);
    }

    fn norm_per_example_grads(&mut self, n: NormBlocks, offset: usize, at: Site) {
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [dy, state], .. } = self.views([at.dy, state_of(at)], []);
        kernels::example_grads(&n, dy, state, &mut per_example[..b * p], p, offset);
        self.per_example = per_example;
    }
}

macro_rules! normalization_ops {
    ($kind:ident) => {
        impl<F: Float> LayerOps<$kind, F> for CpuEngine<F> {
            fn layer_forward(&mut self, layer: $kind, at: Site) {
                self.norm_forward(layer.blocks(), layer.offset, at);
            }

            fn layer_backward(&mut self, layer: $kind, at: Site, dx: Option<Buf>, accumulate: bool) {
                self.norm_backward(layer.blocks(), layer.offset, at, dx, accumulate);
            }

            /// Always materialized: the gradient is `2 channels` values.
            fn layer_add_sq_norms(&mut self, layer: $kind, at: Site, out: Buf, _: NormStrategy) {
                self.norm_add_sq_norms(layer.blocks(), layer.offset, at, out);
            }

            fn layer_param_grad(&mut self, layer: $kind, at: Site, weights: Option<Buf>) {
                self.norm_param_grad(layer.blocks(), layer.offset, at, weights);
            }

            fn layer_per_example_grads(&mut self, layer: $kind, at: Site) {
                self.norm_per_example_grads(layer.blocks(), layer.offset, at);
            }
        }
    };
}

normalization_ops!(GroupNorm);
normalization_ops!(LayerNorm);
