//! [`LstmOps`] on the CPU engine.

use super::LstmOps;
use super::kernels;
use crate::Float;
use crate::engine::cpu::{CpuEngine, Views, grow, take_stored};
use crate::spec::{Buf, Lstm, NormStrategy};

impl<F: Float> LstmOps<F> for CpuEngine<F> {
    fn lstm_forward(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf) {
        let mut scratch = self.lstm_scratch(&layer);
        let Views { reads: [x], writes: [y, state], params, .. } = self.views([x], [y, state]);
        kernels::forward(&layer, params, x, y, state, &mut scratch);
        self.conv_scratch = scratch;
    }

    fn lstm_backward(&mut self, layer: Lstm, dy: Buf, state: Buf, dx: Buf, accumulate: bool) {
        let mut scratch = self.lstm_scratch(&layer);
        let Views { reads: [dy], writes: [state, dx], params, .. } = self.views([dy], [state, dx]);
        kernels::backward(&layer, params, dy, state, dx, accumulate, &mut scratch);
        self.conv_scratch = scratch;
    }

    fn lstm_add_sq_norms(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf, out: Buf, strategy: NormStrategy) {
        let strategy = self.forced_strategy.unwrap_or(strategy);
        let mut scratch = self.lstm_scratch(&layer);
        let mut stored = take_stored(&mut self.lstm_grads, layer.offset);
        if strategy == NormStrategy::Materialized {
            grow(&mut stored.values, self.capacity() * kernels::weight_grad_len(&layer));
            stored.version = self.version;
        }
        let Views { reads: [x, y, state], writes: [out], .. } = self.views([x, y, state], [out]);
        kernels::add_sq_norms(&layer, x, y, state, out, strategy, &mut scratch, Some(&mut stored.values));
        self.conv_scratch = scratch;
        self.lstm_grads.push(stored);
    }

    fn lstm_param_grad(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf, weights: Option<Buf>) {
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
            _ => kernels::param_grad(&layer, x, y, state, weights.map(|_| c), b, grads, &mut scratch),
        }
        self.conv_scratch = scratch;
        self.lstm_grads.push(stored);
    }

    fn lstm_per_example_grads(&mut self, layer: Lstm, x: Buf, y: Buf, state: Buf) {
        let (b, p) = (self.batch, self.spec.num_params);
        let mut per_example = std::mem::take(&mut self.per_example);
        let Views { reads: [x, y, state], .. } = self.views([x, y, state], []);
        kernels::per_example_grads(&layer, x, y, state, &mut per_example[..b * p], p);
        self.per_example = per_example;
    }
}

impl<F: Float> CpuEngine<F> {
    /// The LSTM kernels' scratch, grown to the engine's capacity.
    pub(crate) fn lstm_scratch(&mut self, layer: &Lstm) -> Vec<F> {
        let len = kernels::scratch_len(layer, self.capacity());
        grow(&mut self.conv_scratch, len);
        std::mem::take(&mut self.conv_scratch)
    }
}
