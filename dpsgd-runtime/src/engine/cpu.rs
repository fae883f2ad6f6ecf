//! The CPU engine: buffers in host memory, kernels from [`crate::kernels`].

use std::ops::Range;

use ndarray::ArrayView2;

use super::{Engine, copy_row};
use crate::Float;
use crate::data::Targets;
use crate::gemm::Products;
use crate::kernels::attention::OperandGrad;
use crate::kernels::{activation, clip, loss, optim, pool, vector};
use crate::layers::dense::kernels::SCRATCH_SLACK;
use crate::layers::embedding::{GradRows, kernels as embedding};
use crate::noise::{self, DeferredTableNoise, NoiseSource};
use crate::rng::SecretKey;
use crate::spec::{Activation, Attention, Buf, Loss, ModelSpec, NormStrategy, Pool2d, SequenceMean};

/// Runs a model's steps on the CPU: the kernels split a batch across the rayon pool
/// (by example or by block of rows), and large products use the pool through the GEMM.
pub struct CpuEngine<F: Float> {
    pub(crate) spec: ModelSpec,
    pub(crate) batch: usize,
    features: Vec<F>,
    /// The batch's targets: class labels, or `[batch, outputs]` values, as the loss takes.
    labels: Vec<u32>,
    values: Vec<F>,
    arena: Vec<F>,
    pub(crate) params: Vec<F>,
    grads: Vec<F>,
    /// SGD's velocity, or Adam's first moments, then Adam's second moments.
    moments: Vec<F>,
    /// Gradients of the physical batches of one logical batch.
    accumulated: Vec<F>,
    /// Deltas scaled by per-example weights, `[batch, widest layer output]`.
    scaled: Vec<F>,
    /// Room for the largest parameter tensor (transposed weights).
    scratch: Vec<F>,
    /// `[batch, num_params]`, only when per-example gradients were asked for.
    pub(crate) per_example: Vec<F>,
    /// Scratch of the layer and attention kernels, grown on first use
    /// ([`take_layer_scratch`](Self::take_layer_scratch)).
    pub(crate) layer_scratch: Vec<F>,
    /// A norm strategy that overrides the model's plan for every layer that has both
    /// (convolutions and LSTMs), for tests and measurements.
    pub(crate) forced_strategy: Option<NormStrategy>,
    /// Whether the large products that allow it may round their operands
    /// ([`set_products`](Self::set_products)).
    pub(crate) products: Products,
    /// Per-example weight gradients an LSTM's norms materialized: the clipped sum of the
    /// same batch reuses them.
    pub(crate) lstm_grads: Vec<Stored<F>>,
    /// Each convolution's patches of the current batch, made by its forward pass and
    /// reused by its norms and parameter gradients.
    pub(crate) conv_cols: Vec<Stored<F>>,
    /// Per-example gradients a layer's norms materialized (convolutions, normalizations),
    /// for the clipped sum of the same batch, by the layer's parameter offset.
    pub(crate) stored_grads: Vec<Stored<F>>,
    /// Each weight-standardized convolution's standardized weights.
    pub(crate) conv_standardized: Vec<Stored<F>>,
    /// Changes whenever the batch or the parameters do, and so every layer's input:
    /// what is stored for an older version is stale. (Settling a table's deferred
    /// noise leaves it: nothing is stored for tables.)
    pub(crate) version: u64,
    /// The noise embedding-table rows owe, in a private run of plain SGD.
    pub(crate) deferred: Option<DeferredTableNoise<F>>,
    /// Room for a step's noise outside the tables, when theirs is deferred.
    eager_noise: Vec<F>,
    /// The rows of the embedding tables the gradient can be nonzero in, where the
    /// model has tables: the others are neither zeroed, scaled nor applied.
    pub(crate) grad_rows: Option<GradRows>,
}

/// Values stored for one layer (by its parameter offset) at one engine version.
pub(crate) struct Stored<F> {
    pub(crate) layer_offset: usize,
    pub(crate) version: u64,
    pub(crate) values: Vec<F>,
}

/// Takes the values stored for `layer_offset` out of `store` (an empty, stale entry
/// when there are none); put them back with `store.push`.
pub(crate) fn take_stored<F>(store: &mut Vec<Stored<F>>, layer_offset: usize) -> Stored<F> {
    match store.iter().position(|s| s.layer_offset == layer_offset) {
        Some(i) => store.swap_remove(i),
        None => Stored { layer_offset, version: u64::MAX, values: Vec::new() },
    }
}

/// The buffers a kernel call works on: shared views of what it reads, mutable views of
/// what it writes (pairwise disjoint), and the engine's other buffers.
pub(crate) struct Views<'a, F, const R: usize, const W: usize> {
    pub(crate) reads: [&'a [F]; R],
    pub(crate) writes: [&'a mut [F]; W],
    pub(crate) params: &'a [F],
    pub(crate) grads: &'a mut [F],
    pub(crate) scaled: &'a mut [F],
    pub(crate) scratch: &'a mut [F],
    pub(crate) targets: Targets<'a, F>,
}

impl<F: Float> CpuEngine<F> {
    /// An engine for `spec` starting from `params`, with buffers for batches of up to
    /// `capacity` examples (a larger batch grows them).
    pub fn new(spec: ModelSpec, params: &[F], capacity: usize) -> Self {
        assert_eq!(params.len(), spec.num_params, "parameter vector of the wrong length");
        let mut engine = CpuEngine {
            spec,
            batch: 0,
            features: Vec::new(),
            labels: Vec::new(),
            values: Vec::new(),
            arena: Vec::new(),
            params: params.to_vec(),
            grads: vec![F::ZERO; spec.num_params],
            moments: vec![F::ZERO; 2 * spec.num_params],
            // Reserved now: a Poisson batch may first need several physical batches
            // long after the first step, which must not allocate.
            accumulated: Vec::with_capacity(spec.num_params),
            scaled: Vec::new(),
            scratch: vec![F::ZERO; spec.params.iter().map(|p| p.len()).max().unwrap_or(0) + SCRATCH_SLACK],
            per_example: Vec::new(),
            layer_scratch: Vec::new(),
            forced_strategy: None,
            products: Products::F32,
            lstm_grads: Vec::new(),
            conv_cols: Vec::new(),
            stored_grads: Vec::new(),
            conv_standardized: Vec::new(),
            version: 0,
            deferred: None,
            eager_noise: Vec::new(),
            grad_rows: GradRows::for_model(&spec),
        };
        engine.set_batch(capacity);
        engine.batch = 0;
        engine
    }

    /// Something wrote the gradient whole: any row of any table can be nonzero.
    fn grads_written_whole(&mut self) {
        if let Some(rows) = &mut self.grad_rows {
            rows.written_whole();
        }
    }

    /// Computes per-example norms by `strategy` in every layer that implements both
    /// (convolutions and LSTMs), whatever the model's plan chose; `None` restores the plan.
    pub fn force_norm_strategy(&mut self, strategy: Option<NormStrategy>) {
        self.forced_strategy = strategy;
    }

    /// Lets the large products of dense layers, convolutions and LSTMs round their
    /// operands to bfloat16 on CPUs with AMX or AVX-512 BF16 ([`Products::Bf16`]): the
    /// forward pass and the input gradients (not an LSTM's, whose products a step at a
    /// time stay exact), the non-private batch gradient and the per-example gradients a plan
    /// materializes and keeps, whose norms are then taken from the gradients as they
    /// are summed.
    /// Per-example norms taken apart from the gradients they clip (the ghost identity,
    /// or gradients not kept) and the clipped sums that go with them stay exact.
    /// `Products::F32`, the default, rounds nothing.
    pub fn set_products(&mut self, products: Products) {
        self.products = products;
    }

    /// Bytes of every buffer the engine holds (parameters, optimizer state, the batch,
    /// activations, scratch): a step's working memory.
    pub fn allocated_bytes(&self) -> usize {
        let floats = [
            &self.features,
            &self.arena,
            &self.params,
            &self.grads,
            &self.moments,
            &self.accumulated,
            &self.scaled,
            &self.scratch,
            &self.per_example,
            &self.layer_scratch,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self
                .lstm_grads
                .iter()
                .chain(&self.conv_cols)
                .chain(&self.stored_grads)
                .map(|s| s.values.capacity())
                .sum::<usize>();
        (floats + self.values.capacity()) * std::mem::size_of::<F>() + self.labels.capacity() * 4
    }

    /// The largest batch the buffers are sized for: the capacity the engine was made
    /// with, or a larger batch seen since. Buffers grown on first use take this size,
    /// so a later, larger Poisson batch does not reallocate them.
    pub(crate) fn capacity(&self) -> usize {
        self.arena.len() / self.spec.arena_width.max(1)
    }

    fn set_batch(&mut self, batch: usize) {
        self.version += 1;
        let spec = &self.spec;
        grow(&mut self.features, batch * spec.input_width);
        if spec.loss.takes_values() {
            grow(&mut self.values, batch * spec.outputs);
        } else {
            grow(&mut self.labels, batch);
        }
        grow(&mut self.arena, batch * spec.arena_width);
        grow(&mut self.scaled, batch * spec.max_layer_outputs);
        self.batch = batch;
    }

    /// The current batch's rows of `buf`.
    pub(crate) fn view(&self, buf: Buf) -> &[F] {
        match buf {
            Buf::Input { width } => &self.features[..self.batch * width],
            Buf::Arena { offset, width } => &self.arena[self.arena_range(offset, width)],
        }
    }

    fn arena_range(&self, offset: usize, width: usize) -> Range<usize> {
        let range = self.batch * offset..self.batch * (offset + width);
        assert!(range.end <= self.arena.len(), "buffer outside the arena");
        range
    }

    /// Resolves the buffers of one kernel call. Every written buffer must be in the
    /// arena and overlap no other buffer of the call: checked here, so generated code
    /// cannot cause aliasing.
    pub(crate) fn views<const R: usize, const W: usize>(
        &mut self,
        reads: [Buf; R],
        writes: [Buf; W],
    ) -> Views<'_, F, R, W> {
        let write_ranges = writes.map(|buf| match buf {
            Buf::Arena { offset, width } => self.arena_range(offset, width),
            Buf::Input { .. } => panic!("generated code writes into the model input"),
        });
        let read_ranges = reads.map(|buf| match buf {
            Buf::Arena { offset, width } => Some(self.arena_range(offset, width)),
            Buf::Input { .. } => None,
        });
        let disjoint =
            |a: &Range<usize>, b: &Range<usize>| a.end <= b.start || b.end <= a.start || a.is_empty() || b.is_empty();
        for (i, w) in write_ranges.iter().enumerate() {
            assert!(write_ranges[..i].iter().all(|o| disjoint(o, w)), "generated code writes one buffer twice");
            assert!(read_ranges.iter().flatten().all(|r| disjoint(r, w)), "generated code reads a buffer it writes");
        }
        let b = self.batch;
        let base = self.arena.as_mut_ptr();
        let features = &self.features[..];
        let targets = batch_targets(&self.spec, &self.labels, &self.values, b);
        // SAFETY: every range is inside the arena (checked in `arena_range`); mutable
        // views are disjoint from each other and from the shared ones (checked above).
        let reads = std::array::from_fn(|i| match (&read_ranges[i], reads[i]) {
            (Some(r), _) => unsafe { std::slice::from_raw_parts(base.add(r.start), r.len()) },
            (None, buf) => &features[..b * buf.width()],
        });
        let writes = write_ranges.map(|r| unsafe { std::slice::from_raw_parts_mut(base.add(r.start), r.len()) });
        Views {
            reads,
            writes,
            params: &self.params,
            grads: &mut self.grads,
            scaled: &mut self.scaled,
            scratch: &mut self.scratch,
            targets,
        }
    }

    /// The layer scratch, grown to at least `len` values and taken out, so that a kernel
    /// can write it while reading the engine's buffers: put it back in `layer_scratch`.
    pub(crate) fn take_layer_scratch(&mut self, len: usize) -> Vec<F> {
        grow(&mut self.layer_scratch, len);
        std::mem::take(&mut self.layer_scratch)
    }

    /// Copies the targets of `rows` into the batch (sized by `set_batch`).
    fn copy_targets(&mut self, targets: Targets<'_, F>, rows: impl Iterator<Item = usize>) {
        match targets {
            Targets::Classes(labels) => {
                for (dst, r) in self.labels.iter_mut().zip(rows) {
                    *dst = labels[r];
                }
            }
            Targets::Values(values) => {
                for (dst, r) in self.values.chunks_exact_mut(values.ncols()).zip(rows) {
                    copy_row(values.row(r), dst);
                }
            }
        }
    }
}

/// The targets of a batch of `batch` examples: class labels, or a row of values per
/// example, as the loss of `spec` takes.
fn batch_targets<'a, F: Float>(spec: &ModelSpec, labels: &'a [u32], values: &'a [F], batch: usize) -> Targets<'a, F> {
    if spec.loss.takes_values() {
        let rows = &values[..batch * spec.outputs];
        Targets::Values(ArrayView2::from_shape((batch, spec.outputs), rows).expect("sized by set_batch"))
    } else {
        Targets::Classes(&labels[..batch])
    }
}

pub(crate) fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::default());
    }
}

/// The working set a physical batch keeps a step within: a share of the 32 MiB L3
/// cache of the CPUs we measure on. A step sweeps the batch layer by layer, so a layer
/// finds its inputs in the cache only when the whole batch's fit there. The MNIST
/// CNN (then about 200 kB per example, 175 kB now) ran 1.3x faster at batch 120 and
/// 1.5x at 256 in physical batches of about 60 than whole.
const CACHED_STEP_BYTES: usize = 12 << 20;

/// The fewest examples a default physical batch holds. Where fewer fit in
/// [`CACHED_STEP_BYTES`] (the LSTM, 1.6 MB per example; the CIFAR-10 net, 3 MB),
/// batches run whole: their steps are bound by arithmetic, and narrower products cost
/// more than the cache saves.
const MIN_PHYSICAL_BATCH: usize = 32;

impl<F: Float> Engine<F> for CpuEngine<F> {
    type Noise = dyn NoiseSource<F>;

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn default_physical_batch(spec: &ModelSpec) -> Option<usize> {
        let fit = CACHED_STEP_BYTES / spec.step_bytes_per_example.max(1);
        (fit >= MIN_PHYSICAL_BATCH).then_some(fit)
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn load_rows(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>, rows: &[usize]) {
        let width = self.spec.input_width;
        assert_eq!(features.ncols(), width);
        self.set_batch(rows.len());
        for (d, &r) in self.features.chunks_exact_mut(width).zip(rows) {
            copy_row(features.row(r), d);
        }
        self.copy_targets(targets, rows.iter().copied());
    }

    fn load_batch(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>) {
        let width = self.spec.input_width;
        assert_eq!(features.ncols(), width);
        assert_eq!(features.nrows(), targets.len());
        self.set_batch(targets.len());
        for (d, row) in self.features.chunks_exact_mut(width).zip(features.rows()) {
            copy_row(row, d);
        }
        self.copy_targets(targets, 0..targets.len());
    }

    fn write_params(&mut self, params: &[F]) {
        if let Some(deferred) = &mut self.deferred {
            deferred.forget();
        }
        self.version += 1;
        self.params.copy_from_slice(params);
    }

    fn read_optimizer_state(&self, out: &mut [F]) {
        out.copy_from_slice(&self.moments);
    }

    fn write_optimizer_state(&mut self, state: &[F]) {
        self.moments.copy_from_slice(state);
    }

    fn read_params(&mut self, out: &mut [F]) {
        if let Some(deferred) = &mut self.deferred {
            deferred.settle_all(&mut self.params);
        }
        out.copy_from_slice(&self.params);
    }

    fn read_grads(&self, out: &mut [F]) {
        out.copy_from_slice(&self.grads);
    }

    fn write_grads(&mut self, grads: &[F]) {
        self.grads_written_whole();
        self.grads.copy_from_slice(grads);
    }

    fn read(&self, buf: Buf, out: &mut [F]) {
        out.copy_from_slice(self.view(buf));
    }

    fn sum(&self, buf: Buf) -> F {
        self.view(buf).iter().copied().sum()
    }

    fn read_per_example_grads(&self, out: &mut [F]) {
        out.copy_from_slice(&self.per_example[..self.batch * self.spec.num_params]);
    }

    fn per_example_grads_on_host<'a>(&'a self, _scratch: &'a mut Vec<F>) -> &'a [F] {
        &self.per_example[..self.batch * self.spec.num_params]
    }

    fn mean_forward(&mut self, mean: SequenceMean, x: Buf, y: Buf) {
        let Views { reads: [x], writes: [y], .. } = self.views([x], [y]);
        embedding::mean_forward(&mean, x, y);
    }

    fn mean_backward(&mut self, mean: SequenceMean, dy: Buf, dx: Buf, accumulate: bool) {
        let Views { reads: [dy], writes: [dx], .. } = self.views([dy], [dx]);
        embedding::mean_backward(&mean, dy, dx, accumulate);
    }

    fn pool2d_forward(&mut self, pool: Pool2d, x: Buf, y: Buf) {
        let Views { reads: [x], writes: [y], .. } = self.views([x], [y]);
        pool::pool_forward(&pool, x, y);
    }

    fn pool2d_backward(&mut self, pool: Pool2d, x: Buf, dy: Buf, dx: Buf, accumulate: bool) {
        let Views { reads: [x, dy], writes: [dx], .. } = self.views([x, dy], [dx]);
        pool::pool_backward(&pool, x, dy, dx, accumulate);
    }

    fn attention_forward(&mut self, attention: Attention, q: Buf, k: Buf, v: Buf, y: Buf, state: Buf) {
        let mut scratch =
            self.take_layer_scratch(crate::kernels::attention::scratch_len(&attention, rayon::current_num_threads()));
        // A padding mask reads the model's input, its token ids.
        let tokens = Buf::Input { width: self.spec.input_width };
        let Views { reads: [q, k, v, tokens], writes: [y, state], .. } = self.views([q, k, v, tokens], [y, state]);
        let mask = attention.padding_mask.then_some(tokens);
        crate::kernels::attention::forward(&attention, q, k, v, mask, y, state, &mut scratch);
        self.layer_scratch = scratch;
    }

    fn attention_backward(
        &mut self,
        attention: Attention,
        qkv: [Buf; 3],
        state: Buf,
        dy: Buf,
        grads: [Option<(Buf, bool)>; 3],
    ) {
        let mut scratch =
            self.take_layer_scratch(crate::kernels::attention::scratch_len(&attention, rayon::current_num_threads()));
        // An operand that needs no gradient gets an empty buffer. Generated code never
        // names one delta twice in a call (`views` checks it).
        let targets = grads.map(|g| g.map_or(Buf::Arena { offset: 0, width: 0 }, |(dx, _)| dx));
        let [q, k, v] = qkv;
        let Views { reads: [q, k, v, state, dy], writes, .. } = self.views([q, k, v, state, dy], targets);
        let ([dq, dk, dv], [aq, ak, av]) = (writes, grads.map(|g| g.is_some_and(|(_, add)| add)));
        let grads = [(dq, aq), (dk, ak), (dv, av)].map(|(dx, accumulate)| OperandGrad { dx, accumulate });
        crate::kernels::attention::backward(&attention, q, k, v, state, dy, grads, &mut scratch);
        self.layer_scratch = scratch;
    }

    fn activation_forward(&mut self, act: Activation, x: Buf, y: Buf) {
        let Views { reads: [x], writes: [y], .. } = self.views([x], [y]);
        activation::forward(act, x, y);
    }

    fn activation_backward(&mut self, act: Activation, x: Buf, y: Buf, dy: Buf, dx: Buf, accumulate: bool) {
        let Views { reads: [x, y, dy], writes: [dx], .. } = self.views([x, y, dy], [dx]);
        activation::backward(act, x, y, dy, dx, accumulate);
    }

    fn add(&mut self, a: Buf, b: Buf, y: Buf) {
        let Views { reads: [a, b], writes: [y], .. } = self.views([a, b], [y]);
        for ((yi, ai), bi) in y.iter_mut().zip(a).zip(b) {
            *yi = *ai + *bi;
        }
    }

    fn copy(&mut self, src: Buf, dst: Buf, accumulate: bool) {
        let Views { reads: [src], writes: [dst], .. } = self.views([src], [dst]);
        vector::copy_or_add(src, dst, accumulate);
    }

    fn fill(&mut self, buf: Buf, value: F) {
        let Views { writes: [out], .. } = self.views([], [buf]);
        out.fill(value);
    }

    fn loss(&mut self, kind: Loss, logits: Buf, losses: Buf, dlogits: Buf) {
        let width = logits.width();
        let Views { reads: [z], writes: [l, d], targets, .. } = self.views([logits], [losses, dlogits]);
        loss::forward_backward(kind, z, targets, l, d, width);
    }

    fn begin_per_example_grads(&mut self) {
        let n = self.batch * self.spec.num_params;
        grow(&mut self.per_example, n);
        self.per_example[..n].fill(F::ZERO);
    }

    fn clip_factors(&mut self, sq_norms: Buf, factors: Buf, max_norm: F) {
        let Views { reads: [sq], writes: [out], .. } = self.views([sq_norms], [factors]);
        clip::clip_factors(sq, out, max_norm);
    }

    fn noise_source(&mut self, key: &SecretKey, expected_batch: f64, steps: u64, plain_sgd: bool) -> Box<Self::Noise> {
        self.deferred = plain_sgd.then(|| DeferredTableNoise::for_model(&self.spec, key, steps)).flatten();
        let eager = self.deferred.as_ref().map_or(self.spec.num_params, |d| d.outside_len());
        self.eager_noise = match self.deferred {
            Some(_) => vec![F::ZERO; eager],
            None => Vec::new(),
        };
        noise::for_training(&self.spec, eager, key, expected_batch, steps)
    }

    fn add_noise(&mut self, noise: &mut Self::Noise, std: F) {
        assert!(self.deferred.is_none(), "table noise is deferred, for runs of plain SGD only");
        self.grads_written_whole();
        noise.add_noise(&mut self.grads, std);
    }

    /// Where the tables' noise is deferred, the step draws the other coordinates'
    /// noise and leaves the tables' rows owing theirs: `(lr * scale * std)^2` per
    /// coordinate, the variance of the noise this update would have moved them by.
    fn noisy_update(&mut self, noise: &mut Self::Noise, std: F, scale: F, lr: F, momentum: F) {
        match &mut self.deferred {
            Some(deferred) => {
                assert!(momentum == F::ZERO, "table noise is deferred, for runs of plain SGD only");
                self.eager_noise.fill(F::ZERO);
                noise.add_noise(&mut self.eager_noise, std);
                let mut drawn = &self.eager_noise[..];
                for range in deferred.outside() {
                    let (part, rest) = drawn.split_at(range.len());
                    vector::add_scaled(F::ONE, part, &mut self.grads[range.clone()]);
                    drawn = rest;
                }
                deferred.owe((lr.to_f64() * scale.to_f64() * std.to_f64()).powi(2));
            }
            None => self.add_noise(noise, std),
        }
        self.scale_grads(scale);
        self.sgd_update(lr, momentum);
    }

    fn scale_grads(&mut self, factor: F) {
        match &self.grad_rows {
            Some(rows) => rows.scale(&mut self.grads, factor),
            None => vector::scale(&mut self.grads, factor),
        }
    }

    fn sgd_update(&mut self, lr: F, momentum: F) {
        self.version += 1;
        match &self.grad_rows {
            Some(rows) if momentum == F::ZERO => rows.sgd(&mut self.params, &self.grads, lr),
            _ => {
                let velocity = &mut self.moments[..self.spec.num_params];
                optim::sgd(&mut self.params, &self.grads, velocity, lr, momentum);
            }
        }
    }

    fn adam_update(&mut self, lr: F, beta1: F, beta2: F, eps: F, t: u64) {
        self.version += 1;
        let (m, v) = self.moments.split_at_mut(self.spec.num_params);
        optim::adam(&mut self.params, &self.grads, m, v, lr, beta1, beta2, eps, t);
    }

    fn add_weight_decay(&mut self, decay: F) {
        self.grads_written_whole();
        optim::weight_decay(&mut self.grads, &self.params, decay);
    }

    fn accumulate_grads(&mut self, first: bool) {
        if first {
            self.accumulated.clear();
            self.accumulated.extend_from_slice(&self.grads);
        } else {
            vector::copy_or_add(&self.grads, &mut self.accumulated, true);
        }
    }

    fn take_accumulated_grads(&mut self) {
        self.grads_written_whole();
        self.grads.copy_from_slice(&self.accumulated);
    }
}
