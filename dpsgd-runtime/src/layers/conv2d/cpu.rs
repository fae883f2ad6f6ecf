//! [`LayerOps`] for convolutions on the CPU engine. A weight-standardized
//! convolution runs the same kernels on its standardized weights (made by its forward
//! pass, kept for the step) and maps its weight gradients back through the
//! standardization ([`standardize`]).

use super::{kernels, standardize};
use crate::engine::cpu::{CpuEngine, Stored, Views, grow, take_stored};
use crate::spec::{Buf, Conv2d, NormStrategy};
use crate::{Float, LayerOps, Site};

impl<F: Float> LayerOps<Conv2d, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: Conv2d, Site { x, y, .. }: Site) {
        let products = self.products;
        let cols = self.conv_cols(&layer, x);
        let mut scratch = self.conv_scratch(&layer, false);
        let standardized = self.standardized_weights(&layer);
        let Views { writes: [y], params, .. } = self.views([], [y]);
        match &standardized {
            Some(s) => {
                let params = standardize::params(&layer, &s.values);
                kernels::forward(&standardize::at_zero(&layer), params, &cols.values, y, &mut scratch, products);
            }
            None => kernels::forward(&layer, params, &cols.values, y, &mut scratch, products),
        }
        self.layer_scratch = scratch;
        self.conv_cols.push(cols);
        self.conv_standardized.extend(standardized);
    }

    fn layer_backward(&mut self, layer: Conv2d, Site { dy, .. }: Site, dx: Option<Buf>, accumulate: bool) {
        let products = self.products;
        let Some(dx) = dx else { return };
        let mut scratch = self.conv_scratch(&layer, false);
        let standardized = self.standardized_weights(&layer);
        let Views { reads: [dy], writes: [dx], params, .. } = self.views([dy], [dx]);
        match &standardized {
            Some(s) => {
                let params = standardize::params(&layer, &s.values);
                let layer = standardize::at_zero(&layer);
                kernels::backward_input(&layer, params, dy, dx, accumulate, &mut scratch, products);
            }
            None => kernels::backward_input(&layer, params, dy, dx, accumulate, &mut scratch, products),
        }
        self.layer_scratch = scratch;
        self.conv_standardized.extend(standardized);
    }

    fn layer_add_sq_norms(&mut self, layer: Conv2d, Site { x, dy, .. }: Site, out: Buf, strategy: NormStrategy) {
        let products = self.products;
        let strategy = match layer.standardized {
            true => NormStrategy::Materialized,
            false => self.forced_strategy.unwrap_or(strategy),
        };
        let cols = self.conv_cols(&layer, x);
        let mut scratch = self.conv_scratch(&layer, strategy == NormStrategy::Ghost);
        let mut stored = take_stored(&mut self.stored_grads, layer.offset);
        if strategy == NormStrategy::Materialized {
            grow(&mut stored.values, self.capacity() * kernels::example_grad_len(&layer));
            stored.version = self.version;
        }
        if let Some(standardized) = self.standardized_weights(&layer) {
            // The gradients of the weights, not of the standardized weights, are clipped.
            let Views { reads: [dy], writes: [out], .. } = self.views([dy], [out]);
            let to_weights = |grad: &mut [F]| standardize::to_weight_grad(&layer, &standardized.values, grad);
            kernels::materialize(&layer, &cols.values, dy, &mut stored.values, Some(out), to_weights, products);
            self.conv_standardized.push(standardized);
        } else {
            let Views { reads: [dy], writes: [out], .. } = self.views([dy], [out]);
            let store = Some(&mut stored.values[..]);
            kernels::add_sq_norms(&layer, &cols.values, dy, out, strategy, &mut scratch, store, products);
        }
        self.layer_scratch = scratch;
        self.conv_cols.push(cols);
        self.stored_grads.push(stored);
    }

    fn layer_param_grad(&mut self, layer: Conv2d, Site { x, dy, .. }: Site, weights: Option<Buf>) {
        let products = self.products;
        let stored = take_stored(&mut self.stored_grads, layer.offset);
        if let Some(weights) = weights.filter(|_| stored.version == self.version) {
            // The norms of this batch materialized the gradients: only the sum is left.
            let Views { reads: [c], grads, .. } = self.views([weights], []);
            kernels::param_grad_from_stored(&layer, &stored.values, c, &mut grads[layer.offset..]);
            self.stored_grads.push(stored);
            return;
        }
        self.stored_grads.push(stored);
        let cols = self.conv_cols(&layer, x);
        let mut scratch = self.conv_scratch(&layer, false);
        // Unweighted calls read the delta twice in place of weights: harmless.
        let standardized = self.standardized_weights(&layer);
        let Views { reads: [dy, c], grads, .. } = self.views([dy, weights.unwrap_or(dy)], []);
        let (gw, rest) = grads[layer.offset..].split_at_mut(layer.weight_len());
        let gb = &mut rest[..layer.out_channels];
        kernels::param_grad(&layer, &cols.values, dy, weights.map(|_| c), gw, gb, &mut scratch, products);
        if let Some(standardized) = standardized {
            // The map back through the standardization is linear: once, on the sum.
            standardize::to_weight_grads(&layer, &standardized.values, gw, layer.weight_len(), 0);
            self.conv_standardized.push(standardized);
        }
        self.layer_scratch = scratch;
        self.conv_cols.push(cols);
    }

    fn layer_per_example_grads(&mut self, layer: Conv2d, Site { x, dy, .. }: Site) {
        let products = self.products;
        let (b, p) = (self.batch, self.spec.num_params);
        let cols = self.conv_cols(&layer, x);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [dy], .. } = self.views([dy], []);
        kernels::per_example_grads(&layer, &cols.values, dy, &mut per_example[..b * p], p, products);
        if let Some(standardized) = self.standardized_weights(&layer) {
            standardize::to_weight_grads(&layer, &standardized.values, &mut per_example[..b * p], p, layer.offset);
            self.conv_standardized.push(standardized);
        }
        self.per_example = per_example;
        self.conv_cols.push(cols);
    }
}

impl<F: Float> CpuEngine<F> {
    /// A standardized convolution's standardized weights for the current parameters
    /// (`None` for a plain convolution): made when stale, kept for the rest of the
    /// step. Put them back in `conv_standardized`.
    fn standardized_weights(&mut self, layer: &Conv2d) -> Option<Stored<F>> {
        if !layer.standardized {
            return None;
        }
        let mut stored = take_stored(&mut self.conv_standardized, layer.offset);
        if stored.version != self.version {
            grow(&mut stored.values, standardize::len(layer));
            standardize::standardize(layer, &self.params, &mut stored.values);
            stored.version = self.version;
        }
        Some(stored)
    }

    /// The patches of `layer`'s input `x` for the current batch: those its forward pass
    /// stored, or made now when they are stale. Put them back in `conv_cols`.
    pub(crate) fn conv_cols(&mut self, layer: &Conv2d, x: Buf) -> Stored<F> {
        let mut stored = take_stored(&mut self.conv_cols, layer.offset);
        if stored.version != self.version {
            grow(&mut stored.values, self.capacity() * kernels::cols_len(layer));
            // The padded images are made in the scratch, which no caller holds yet.
            let mut padded = self.take_layer_scratch(self.capacity() * kernels::padded_len(layer));
            let (cols, padded_images) =
                (self.batch * kernels::cols_len(layer), self.batch * kernels::padded_len(layer));
            kernels::im2col_batch(layer, self.view(x), &mut stored.values[..cols], &mut padded[..padded_images]);
            self.layer_scratch = padded;
            stored.version = self.version;
        }
        stored
    }

    /// The convolution scratch, large enough for `layer` at the current batch size
    /// (with room for Gram matrices when `grams`), taken out of the engine while a
    /// kernel uses it.
    pub(crate) fn conv_scratch(&mut self, layer: &Conv2d, grams: bool) -> Vec<F> {
        self.take_layer_scratch(
            self.capacity() * kernels::scratch_per_example(layer, grams) + kernels::scratch_per_call(layer),
        )
    }
}
