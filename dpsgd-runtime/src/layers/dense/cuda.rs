//! [`LayerOps`] for dense layers on the CUDA engine.

use crate::cuda::CudaFloat;
use crate::cuda::engine::{CudaEngine, as_u64, launch};
use crate::spec::{Buf, Dense, NormStrategy};
use crate::{LayerOps, Site};

impl<F: CudaFloat> LayerOps<Dense, F> for CudaEngine<F> {
    fn supports(layer: &Dense) -> Result<(), String> {
        match layer.positions {
            1 => Ok(()),
            _ => Err("linear layers over sequences do not run on the GPU yet".into()),
        }
    }

    fn layer_forward(&mut self, layer: Dense, Site { x, y, .. }: Site) {
        let (b, (i, o)) = (self.batch, (layer.inputs, layer.outputs));
        let (x, y) = (self.buf(x), self.buf(y));
        launch!(self, broadcast_rows, b * o, self.params.at(layer.bias_offset()), y, as_u64(b), as_u64(o));
        // Y^T = W^T X^T, on top of the broadcast bias.
        self.gemm((false, false), o, b, i, (self.params.at(layer.offset), o), (x, i), F::ONE, (y, o));
    }

    fn layer_backward(&mut self, layer: Dense, Site { dy, .. }: Site, dx: Option<Buf>, accumulate: bool) {
        let Some(dx) = dx else { return };
        let (b, (i, o)) = (self.batch, (layer.inputs, layer.outputs));
        let beta = if accumulate { F::ONE } else { F::ZERO };
        // dX^T = W dY^T.
        self.gemm(
            (true, false),
            i,
            b,
            o,
            (self.params.at(layer.offset), o),
            (self.buf(dy), o),
            beta,
            (self.buf(dx), i),
        );
    }

    fn layer_add_sq_norms(&mut self, layer: Dense, Site { x, dy, .. }: Site, out: Buf, _: NormStrategy) {
        let (b, i, o) = (self.batch, as_u64(layer.inputs), as_u64(layer.outputs));
        // One warp per example.
        launch!(self, dense_add_sq_norms, b * 32, self.buf(x), self.buf(dy), self.buf(out), as_u64(b), i, o);
    }

    fn layer_param_grad(&mut self, layer: Dense, Site { x, dy, .. }: Site, weights: Option<Buf>) {
        let (b, (i, o)) = (self.batch, (layer.inputs, layer.outputs));
        let (gw, gb) = (self.grads.at(layer.offset), self.grads.at(layer.bias_offset()));
        if b == 0 {
            self.zero(gw, layer.weight_len() + o);
            return;
        }
        let dy = match weights {
            None => self.buf(dy),
            Some(c) => {
                // Scaling the rows of D by the clip factors makes the clipped sum one GEMM.
                launch!(self, scale_rows, b * o, self.buf(dy), self.buf(c), self.scaled.ptr, as_u64(b), as_u64(o));
                self.scaled.ptr
            }
        };
        // G_W^T = dY^T X (G_W is [in, out] row-major), g_b = dY^T 1.
        self.gemm((false, true), o, i, b, (dy, o), (self.buf(x), i), F::ZERO, (gw, o));
        self.gemm((false, false), o, 1, b, (dy, o), (self.ones.ptr, b), F::ZERO, (gb, o));
    }

    fn layer_per_example_grads(&mut self, layer: Dense, Site { x, dy, .. }: Site) {
        let (b, (i, o), p) = (self.batch, (layer.inputs, layer.outputs), self.spec.num_params);
        let Some(per_example) = &self.per_example else { return };
        let (x, dy, pe) = (self.buf(x), self.buf(dy), per_example.ptr);
        let (w, bias) = (as_u64(layer.offset), as_u64(layer.bias_offset()));
        let n = b * (i + 1) * o;
        launch!(self, dense_per_example_grads, n, x, dy, pe, as_u64(p), w, bias, as_u64(b), as_u64(i), as_u64(o));
    }
}
