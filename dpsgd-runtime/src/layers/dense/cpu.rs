//! [`LayerOps`] for dense layers on the CPU engine.

use super::kernels;
use crate::engine::cpu::{CpuEngine, Views};
use crate::spec::{Buf, Dense, NormStrategy};
use crate::{Float, LayerOps, Site};

impl<F: Float> LayerOps<Dense, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: Dense, Site { x, y, .. }: Site) {
        let b = self.batch;
        let Views { reads: [x], writes: [y], params, scratch, .. } = self.views([x], [y]);
        let w = &params[layer.offset..][..layer.weight_len()];
        let bias = &params[layer.bias_offset()..][..layer.outputs];
        kernels::forward(x, w, bias, y, b, layer.inputs, layer.outputs, scratch);
    }

    fn layer_backward(&mut self, layer: Dense, Site { dy, .. }: Site, dx: Option<Buf>, accumulate: bool) {
        let Some(dx) = dx else { return };
        let b = self.batch;
        let Views { reads: [dy], writes: [dx], params, scratch, .. } = self.views([dy], [dx]);
        let w = &params[layer.offset..][..layer.weight_len()];
        kernels::backward_input(dy, w, dx, b, layer.inputs, layer.outputs, accumulate, scratch);
    }

    /// Always the ghost norm: two dot products per example.
    fn layer_add_sq_norms(&mut self, layer: Dense, Site { x, dy, .. }: Site, out: Buf, _: NormStrategy) {
        let b = self.batch;
        let Views { reads: [x, dy], writes: [out], .. } = self.views([x, dy], [out]);
        kernels::add_sq_norms(x, dy, out, b, layer.inputs, layer.outputs);
    }

    fn layer_param_grad(&mut self, layer: Dense, Site { x, dy, .. }: Site, weights: Option<Buf>) {
        let b = self.batch;
        // Unweighted calls read the input twice in place of weights: harmless.
        let Views { reads: [x, dy, c], grads, scaled, scratch, .. } = self.views([x, dy, weights.unwrap_or(x)], []);
        let (gw, rest) = grads[layer.offset..].split_at_mut(layer.weight_len());
        let gb = &mut rest[..layer.outputs];
        let dy = match weights {
            None => dy,
            Some(_) => {
                // Scaling the rows of D by the clip factors makes the clipped sum D^T diag(c) X one GEMM.
                let scaled = &mut scaled[..b * layer.outputs];
                crate::kernels::vector::scale_rows(dy, c, scaled, layer.outputs);
                &*scaled
            }
        };
        kernels::param_grad(x, dy, gw, gb, b, layer.inputs, layer.outputs, scratch);
    }

    fn layer_per_example_grads(&mut self, layer: Dense, Site { x, dy, .. }: Site) {
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [x, dy], .. } = self.views([x, dy], []);
        let (weight, bias) = (layer.offset, layer.bias_offset());
        kernels::per_example_grads(x, dy, &mut per_example[..b * p], p, weight, bias, b, layer.inputs, layer.outputs);
        self.per_example = per_example;
    }
}
