//! [`LayerOps`] for dense layers on the CPU engine. Over a sequence, the forward and
//! backward passes and the clipped sum are the same products with every position a
//! row; the norms and per-example gradients sum over each example's positions
//! (`sequence.rs`).

use super::{kernels, sequence};
use crate::engine::cpu::{CpuEngine, Views};
use crate::spec::{Buf, Dense, NormStrategy};
use crate::{Float, LayerOps, Site};

impl<F: Float> LayerOps<Dense, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: Dense, Site { x, y, .. }: Site) {
        let (b, products) = (self.batch * layer.positions, self.products);
        let Views { reads: [x], writes: [y], params, scratch, .. } = self.views([x], [y]);
        let w = &params[layer.offset..][..layer.weight_len()];
        let bias = &params[layer.bias_offset()..][..layer.outputs];
        kernels::forward(x, w, bias, y, b, layer.inputs, layer.outputs, scratch, products);
    }

    fn layer_backward(&mut self, layer: Dense, Site { dy, .. }: Site, dx: Option<Buf>, accumulate: bool) {
        let Some(dx) = dx else { return };
        let (b, products) = (self.batch * layer.positions, self.products);
        let Views { reads: [dy], writes: [dx], params, scratch, .. } = self.views([dy], [dx]);
        let w = &params[layer.offset..][..layer.weight_len()];
        kernels::backward_input(dy, w, dx, b, layer.inputs, layer.outputs, accumulate, scratch, products);
    }

    /// At one position always the ghost norm, two dot products per example; over a
    /// sequence, by `strategy`.
    fn layer_add_sq_norms(&mut self, layer: Dense, Site { x, dy, .. }: Site, out: Buf, strategy: NormStrategy) {
        let b = self.batch;
        if layer.positions == 1 {
            let Views { reads: [x, dy], writes: [out], .. } = self.views([x, dy], [out]);
            kernels::add_sq_norms(x, dy, out, b, layer.inputs, layer.outputs);
            return;
        }
        let ghost = self.forced_strategy.unwrap_or(strategy) == NormStrategy::Ghost;
        let len = if ghost { 0 } else { self.capacity() * (layer.weight_len() + layer.outputs) };
        let mut scratch = self.take_layer_scratch(len);
        let Views { reads: [x, dy], writes: [out], .. } = self.views([x, dy], [out]);
        sequence::add_sq_norms(&layer, x, dy, out, ghost, &mut scratch);
        self.layer_scratch = scratch;
    }

    fn layer_param_grad(&mut self, layer: Dense, Site { x, dy, .. }: Site, weights: Option<Buf>) {
        let (b, t) = (self.batch, layer.positions);
        let products = self.products.for_sum(weights.is_some());
        // Unweighted calls read the input twice in place of weights: harmless.
        let Views { reads: [x, dy, c], grads, scaled, scratch, .. } = self.views([x, dy, weights.unwrap_or(x)], []);
        let (gw, rest) = grads[layer.offset..].split_at_mut(layer.weight_len());
        let gb = &mut rest[..layer.outputs];
        let dy = match weights {
            None => dy,
            Some(_) => {
                // Scaling each example's rows of D by its clip factor makes the clipped
                // sum D^T diag(c) X one GEMM.
                let scaled = &mut scaled[..b * t * layer.outputs];
                crate::kernels::vector::scale_rows(dy, c, scaled, t * layer.outputs);
                &*scaled
            }
        };
        kernels::param_grad(x, dy, gw, gb, b * t, layer.inputs, layer.outputs, scratch, products);
    }

    fn layer_per_example_grads(&mut self, layer: Dense, Site { x, dy, .. }: Site) {
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [x, dy], .. } = self.views([x, dy], []);
        let (weight, bias) = (layer.offset, layer.bias_offset());
        match layer.positions {
            1 => kernels::per_example_grads(
                x,
                dy,
                &mut per_example[..b * p],
                p,
                weight,
                bias,
                b,
                layer.inputs,
                layer.outputs,
            ),
            _ => sequence::per_example_grads(&layer, x, dy, &mut per_example[..b * p], p),
        }
        self.per_example = per_example;
    }
}
