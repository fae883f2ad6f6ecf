//! [`LayerOps`] for embeddings on the CPU engine.

use super::kernels;
use super::token::token;
use crate::engine::cpu::{CpuEngine, Views};
use crate::spec::{Buf, Embedding, NormStrategy};
use crate::{Float, LayerOps, Site};

impl<F: Float> LayerOps<Embedding, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: Embedding, Site { x: tokens, y, .. }: Site) {
        self.settle_rows(&layer, tokens);
        let Views { reads: [tokens], writes: [y], params, .. } = self.views([tokens], [y]);
        kernels::forward(&layer, params, tokens, y);
    }

    /// Token ids have no gradient, and the table's needs nothing kept.
    fn layer_backward(&mut self, _: Embedding, _: Site, _: Option<Buf>, _: bool) {}

    /// Always the ghost norm, grouped by token: the materialized gradient is a table
    /// per example.
    fn layer_add_sq_norms(&mut self, layer: Embedding, Site { x: tokens, dy, .. }: Site, out: Buf, _: NormStrategy) {
        let mut scratch = self.take_layer_scratch(kernels::sq_norm_scratch(&layer));
        let Views { reads: [tokens, dy], writes: [out], .. } = self.views([tokens, dy], [out]);
        kernels::add_sq_norms(&layer, tokens, dy, out, &mut scratch);
        self.layer_scratch = scratch;
    }

    /// Zeroes the rows the table's last gradient can be nonzero in (or the table),
    /// then scatters the batch's.
    fn layer_param_grad(&mut self, layer: Embedding, Site { x: tokens, dy, .. }: Site, weights: Option<Buf>) {
        let mut grad_rows = self.grad_rows.take().expect("a model with a table has its rows noted");
        // Unweighted calls read the tokens twice in place of weights: harmless.
        let Views { reads: [tokens, dy, c], grads, .. } = self.views([tokens, dy, weights.unwrap_or(tokens)], []);
        grad_rows.clear_for(layer.offset, tokens.iter().map(|&id| token(id)), tokens.len(), grads);
        let grad = &mut grads[layer.offset..][..layer.vocab * layer.dim];
        kernels::param_grad(&layer, tokens, dy, weights.map(|_| c), grad);
        self.grad_rows = Some(grad_rows);
    }

    fn layer_per_example_grads(&mut self, layer: Embedding, Site { x: tokens, dy, .. }: Site) {
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [tokens, dy], .. } = self.views([tokens, dy], []);
        kernels::per_example_grads(&layer, tokens, dy, &mut per_example[..b * p], p);
        self.per_example = per_example;
    }
}

impl<F: Float> CpuEngine<F> {
    /// Adds to the rows `tokens` look up the noise they owe, if the run defers it.
    fn settle_rows(&mut self, layer: &Embedding, tokens: Buf) {
        let Some(mut deferred) = self.deferred.take() else { return };
        let mut params = std::mem::take(&mut self.params);
        let tokens = self.view(tokens);
        deferred.settle_rows(layer.offset, tokens.iter().map(|&id| token(id)), tokens.len(), &mut params);
        (self.params, self.deferred) = (params, Some(deferred));
    }
}
