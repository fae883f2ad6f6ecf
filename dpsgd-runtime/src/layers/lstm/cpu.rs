//! [`LayerOps`] for LSTMs on the CPU engine.

use super::kernels;
use crate::engine::cpu::{CpuEngine, Views, grow, take_stored};
use crate::spec::{Buf, Lstm, NormStrategy};
use crate::{Float, LayerOps, Site};

/// The state buffer the plan gives every LSTM.
fn state_of(at: Site) -> Buf {
    at.state.expect("an LSTM keeps state between its passes")
}

impl<F: Float> LayerOps<Lstm, F> for CpuEngine<F> {
    fn layer_forward(&mut self, layer: Lstm, at: Site) {
        let (x, y, state) = (at.x, at.y, state_of(at));
        let mut scratch = self.lstm_scratch(&layer);
        let Views { reads: [x], writes: [y, state], params, .. } = self.views([x], [y, state]);
        kernels::forward(&layer, params, x, y, state, &mut scratch);
        self.layer_scratch = scratch;
    }

    /// Also when the input has no gradient: the gates' gradients are what the
    /// parameter gradients are formed from.
    fn layer_backward(&mut self, layer: Lstm, at: Site, dx: Option<Buf>, accumulate: bool) {
        let (dy, state) = (at.dy, state_of(at));
        let mut scratch = self.lstm_scratch(&layer);
        match dx {
            Some(dx) => {
                let Views { reads: [dy], writes: [state, dx], params, .. } = self.views([dy], [state, dx]);
                kernels::backward(&layer, params, dy, state, Some(dx), accumulate, &mut scratch);
            }
            None => {
                let Views { reads: [dy], writes: [state], params, .. } = self.views([dy], [state]);
                kernels::backward(&layer, params, dy, state, None, accumulate, &mut scratch);
            }
        }
        self.layer_scratch = scratch;
    }

    fn layer_add_sq_norms(&mut self, layer: Lstm, at: Site, out: Buf, strategy: NormStrategy) {
        let products = self.products;
        let (x, y, state) = (at.x, at.y, state_of(at));
        let strategy = self.forced_strategy.unwrap_or(strategy);
        let mut scratch = self.lstm_scratch(&layer);
        let mut stored = take_stored(&mut self.lstm_grads, layer.offset);
        if strategy == NormStrategy::Materialized {
            grow(&mut stored.values, self.capacity() * kernels::weight_grad_len(&layer));
            stored.version = self.version;
        }
        let Views { reads: [x, y, state], writes: [out], .. } = self.views([x, y, state], [out]);
        let store = Some(&mut stored.values[..]);
        kernels::add_sq_norms(&layer, x, y, state, out, strategy, &mut scratch, store, products);
        self.layer_scratch = scratch;
        self.lstm_grads.push(stored);
    }

    fn layer_param_grad(&mut self, layer: Lstm, at: Site, weights: Option<Buf>) {
        let products = self.products;
        let (x, y, state) = (at.x, at.y, state_of(at));
        let (b, version) = (self.batch, self.version);
        let stored = take_stored(&mut self.lstm_grads, layer.offset);
        let mut scratch = self.lstm_scratch(&layer);
        // Unweighted calls read the input twice in place of weights: harmless.
        let Views { reads: [x, y, state, c], grads, .. } = self.views([x, y, state, weights.unwrap_or(x)], []);
        match weights {
            // The norms of this batch materialized the gradients: only the sum is left.
            Some(_) if stored.version == version => {
                kernels::param_grad_from_stored(&layer, state, &stored.values, c, grads)
            }
            _ => kernels::param_grad(&layer, x, y, state, weights.map(|_| c), b, grads, &mut scratch, products),
        }
        self.layer_scratch = scratch;
        self.lstm_grads.push(stored);
    }

    fn layer_per_example_grads(&mut self, layer: Lstm, at: Site) {
        let products = self.products;
        let (x, y, state) = (at.x, at.y, state_of(at));
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [x, y, state], .. } = self.views([x, y, state], []);
        kernels::per_example_grads(&layer, x, y, state, &mut per_example[..b * p], p, products);
        self.per_example = per_example;
    }
}

impl<F: Float> CpuEngine<F> {
    /// The LSTM kernels' scratch, grown to the engine's capacity.
    pub(crate) fn lstm_scratch(&mut self, layer: &Lstm) -> Vec<F> {
        self.take_layer_scratch(kernels::scratch_len(layer, self.capacity()))
    }
}
