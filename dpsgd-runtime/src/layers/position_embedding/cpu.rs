//! [`LayerOps`] for position embeddings on the CPU engine: `y = x + P` per example, so
//! each example's gradient of the table is its output gradient.

use rayon::prelude::*;

use crate::contracts::PositionEmbedding;
use crate::engine::cpu::{CpuEngine, Views};
use crate::kernels::vector;
use crate::spec::{Buf, NormStrategy};
use crate::{Float, LayerOps, Site};

fn table_len(layer: &PositionEmbedding) -> usize {
    layer.positions * layer.dim
}

impl<F: Float> LayerOps<PositionEmbedding, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: PositionEmbedding, Site { x, y, .. }: Site) {
        let len = table_len(&layer);
        let Views { reads: [x], writes: [y], params, .. } = self.views([x], [y]);
        let table = &params[layer.offset..][..len];
        y.par_chunks_mut(len).zip(x.par_chunks(len)).for_each(|(y, x)| {
            y.iter_mut().zip(x).zip(table).for_each(|((y, &x), &p)| *y = x + p);
        });
    }

    fn layer_backward(&mut self, _: PositionEmbedding, Site { dy, .. }: Site, dx: Option<Buf>, accumulate: bool) {
        let Some(dx) = dx else { return };
        let Views { reads: [dy], writes: [dx], .. } = self.views([dy], [dx]);
        vector::copy_or_add(dy, dx, accumulate);
    }

    /// The norm of the output gradient: there is no other way.
    fn layer_add_sq_norms(&mut self, layer: PositionEmbedding, Site { dy, .. }: Site, out: Buf, _: NormStrategy) {
        let len = table_len(&layer);
        let Views { reads: [dy], writes: [out], .. } = self.views([dy], [out]);
        out.par_iter_mut().zip(dy.par_chunks(len)).for_each(|(out, dy)| *out += vector::sq_norm(dy));
    }

    fn layer_param_grad(&mut self, layer: PositionEmbedding, Site { dy, .. }: Site, weights: Option<Buf>) {
        let (b, len) = (self.batch, table_len(&layer));
        // Unweighted calls read the delta in place of weights: harmless.
        let Views { reads: [dy, c], grads, .. } = self.views([dy, weights.unwrap_or(dy)], []);
        let grad = &mut grads[layer.offset..][..len];
        match weights {
            Some(_) => vector::weighted_row_sum(dy, &c[..b], grad),
            None => vector::row_sum(dy, b, grad),
        }
    }

    fn layer_per_example_grads(&mut self, layer: PositionEmbedding, Site { dy, .. }: Site) {
        let (b, p, len) = (self.batch, self.spec.num_params, table_len(&layer));
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [dy], .. } = self.views([dy], []);
        per_example[..b * p].par_chunks_mut(p).zip(dy.par_chunks(len)).for_each(|(row, dy)| {
            row[layer.offset..][..len].copy_from_slice(dy);
        });
        self.per_example = per_example;
    }
}
