//! The seam between generated model code and the hardware it runs on.
//!
//! `#[private_model]` emits straight-line code that calls an [`Engine`]: one call per
//! layer for the forward pass, one per layer for the backward pass, then the norms and
//! parameter gradients. The engine owns every buffer of a training step (parameters,
//! gradients, optimizer state, the batch, and a scratch arena for activations and
//! deltas) and resolves the [`Buf`]s the generated code names to memory. The CPU engine
//! is always there; the CUDA engine (feature `cuda`) implements the same trait with
//! device buffers. What an engine does for each parametrized layer kind is
//! [`LayerOps`](crate::LayerOps) for that kind, implemented in the kind's module of
//! [`crate::layers`]; [`Engine`] requires it for every kind and adds everything else a
//! step needs.

pub(crate) mod cpu;

pub use cpu::CpuEngine;

use ndarray::{ArrayView1, ArrayView2};

use crate::Float;
use crate::data::{Dataset, Targets};
use crate::error::Result;
use crate::layers::EveryLayerOps;
use crate::rng::SecretKey;
use crate::spec::{Activation, Attention, Buf, Loss, ModelSpec, Pool2d, SequenceMean};

/// Runs the kernels of a training step for one model on one device.
///
/// Batch sizes change from step to step (Poisson sampling) and may be zero; buffers
/// grow when a batch is larger than any before, so steady-state steps do not allocate.
pub trait Engine<F: Float>: EveryLayerOps<F> {
    /// Where the Gaussian noise of private steps comes from: a host stream for the CPU,
    /// a counter-based generator on the device for CUDA.
    type Noise: ?Sized;

    /// The model this engine runs.
    fn spec(&self) -> &ModelSpec;

    /// Errors, naming the first layer or operation this engine cannot run, unless it
    /// runs all of `spec`: engines refuse a model when they are made, not at its first
    /// step. The CPU engine runs everything.
    fn supports(_spec: &ModelSpec) -> Result<()>
    where
        Self: Sized,
    {
        Ok(())
    }

    /// Examples per physical batch when the run sets none ([`TrainConfig::physical_batch`](crate::train::TrainConfig::physical_batch));
    /// `None` runs each batch whole.
    fn default_physical_batch(_spec: &ModelSpec) -> Option<usize>
    where
        Self: Sized,
    {
        None
    }

    /// Examples in the current batch.
    fn batch_size(&self) -> usize;

    // ---- data movement ------------------------------------------------------------

    /// Makes rows `rows` of `features`/`targets` the current batch. The caller has
    /// checked widths, finiteness and targets.
    fn load_rows(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>, rows: &[usize]);

    /// Makes rows `rows` of a dataset the current batch. An engine with its own memory
    /// may keep a copy of the whole dataset there and then move only the row indices.
    fn load_dataset_rows(&mut self, data: &Dataset<F>, rows: &[usize]) {
        self.load_rows(data.features(), data.targets(), rows);
    }

    /// Makes all of `features`/`targets` the current batch.
    fn load_batch(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>);

    /// Replaces the parameters with `params` (`num_params` values).
    fn write_params(&mut self, params: &[F]);
    /// The optimizer's state, `2 * num_params` values (SGD's velocity then zeros, or
    /// Adam's first then second moments), for checkpoints.
    fn read_optimizer_state(&self, out: &mut [F]);
    /// Replaces the optimizer's state (`2 * num_params` values, as
    /// [`read_optimizer_state`](Self::read_optimizer_state) gives it): a resumed run.
    fn write_optimizer_state(&mut self, state: &[F]);
    /// Copies the parameters (`num_params` values) out, with whatever noise the
    /// engine has deferred added first (`noise_source`).
    fn read_params(&mut self, out: &mut [F]);
    /// Copies the gradient buffer (`num_params` values) out.
    fn read_grads(&self, out: &mut [F]);
    /// Replaces the gradient buffer (`num_params` values): how a gradient formed
    /// outside the engine (the secure noise's integer sums) reaches the optimizer.
    fn write_grads(&mut self, grads: &[F]);
    /// Copies a per-example buffer (`batch_size() * width` values) out.
    fn read(&self, buf: Buf, out: &mut [F]);
    /// Sum over the batch of a width-1 per-example buffer (the losses).
    fn sum(&self, buf: Buf) -> F;
    /// Copies the per-example gradients (`batch_size() * num_params`) out.
    fn read_per_example_grads(&self, out: &mut [F]);
    /// The per-example gradients in host memory: where the engine keeps them there, in
    /// place; otherwise copied into `scratch`.
    fn per_example_grads_on_host<'a>(&'a self, scratch: &'a mut Vec<F>) -> &'a [F] {
        scratch.resize(self.batch_size() * self.spec().num_params, F::ZERO);
        self.read_per_example_grads(scratch);
        scratch
    }

    // ---- kernels called by generated code -----------------------------------------

    /// `y` = the mean of `x` over its positions.
    fn mean_forward(&mut self, mean: SequenceMean, x: Buf, y: Buf);
    /// `dx = dy / positions` at every position; `+=` when `accumulate`.
    fn mean_backward(&mut self, mean: SequenceMean, dy: Buf, dx: Buf, accumulate: bool);
    /// `y` = the max or average of every window of `x`.
    fn pool2d_forward(&mut self, pool: Pool2d, x: Buf, y: Buf);
    /// The pooling's input gradient, computed from its input `x`; `dx +=` when `accumulate`.
    fn pool2d_backward(&mut self, pool: Pool2d, x: Buf, dy: Buf, dx: Buf, accumulate: bool);

    /// `y` = the attention of queries `q`, keys `k` and values `v` (with a padding
    /// mask from the model's token ids when `attention.padding_mask`); the attention
    /// probabilities go to `state` for the backward pass.
    fn attention_forward(&mut self, attention: Attention, q: Buf, k: Buf, v: Buf, y: Buf, state: Buf);
    /// The gradients of the queries, keys and values `qkv` from `dy`, in one call: for
    /// each operand that needs one, the delta it goes to (no delta twice) and whether
    /// to add to it.
    fn attention_backward(
        &mut self,
        attention: Attention,
        qkv: [Buf; 3],
        state: Buf,
        dy: Buf,
        grads: [Option<(Buf, bool)>; 3],
    );

    /// `y = f(x)`, element-wise.
    fn activation_forward(&mut self, act: Activation, x: Buf, y: Buf);
    /// `dx = dy * f'(x)`, computed from the output `y` (or from the input `x`, for
    /// GELU); `dx +=` when `accumulate`.
    fn activation_backward(&mut self, act: Activation, x: Buf, y: Buf, dy: Buf, dx: Buf, accumulate: bool);

    /// `y = a + b`.
    fn add(&mut self, a: Buf, b: Buf, y: Buf);
    /// `dst = src`, or `dst += src` when `accumulate`.
    fn copy(&mut self, src: Buf, dst: Buf, accumulate: bool);
    /// Sets every value of `buf` (all examples) to `value`.
    fn fill(&mut self, buf: Buf, value: F);

    /// Per-example losses and their gradients with respect to the logits.
    fn loss(&mut self, loss: Loss, logits: Buf, losses: Buf, dlogits: Buf);

    // ---- the rest of a step -------------------------------------------------------

    /// Makes room for, and zeroes, the per-example gradient matrix.
    fn begin_per_example_grads(&mut self);
    /// `factors[i] = min(1, C / ||g_i||)` from squared norms.
    fn clip_factors(&mut self, sq_norms: Buf, factors: Buf, max_norm: F);
    /// The noise source of a run keyed by `key` that has taken `steps` noisy steps,
    /// with batches of `expected_batch` examples (expected). When the run updates by
    /// `plain_sgd` (no momentum, no weight decay: [`noisy_update`](Self::noisy_update)
    /// with momentum 0 and nothing else), the engine may draw the noise of
    /// embedding-table rows when they are next read instead of at every step
    /// ([`DeferredTableNoise`](crate::noise::DeferredTableNoise)); the source then
    /// serves the other coordinates only.
    fn noise_source(&mut self, key: &SecretKey, expected_batch: f64, steps: u64, plain_sgd: bool) -> Box<Self::Noise>;
    /// Adds `std * z` to every gradient coordinate, `z` from `noise`.
    fn add_noise(&mut self, noise: &mut Self::Noise, std: F);
    /// `grads *= factor`.
    fn scale_grads(&mut self, factor: F);
    /// SGD with momentum on the parameters, using the gradient buffer.
    fn sgd_update(&mut self, lr: F, momentum: F);
    /// Adam at step `t` (counted from 1) on the parameters, using the gradient buffer.
    fn adam_update(&mut self, lr: F, beta1: F, beta2: F, eps: F, t: u64);
    /// `grads += decay * params`.
    fn add_weight_decay(&mut self, decay: F);
    /// Adds the gradient buffer to the accumulator (`first`: replaces it), so that one
    /// private step can span several physical batches.
    fn accumulate_grads(&mut self, first: bool);
    /// Moves the accumulator into the gradient buffer.
    fn take_accumulated_grads(&mut self);

    /// The end of a private step: noise, the division by the expected batch size, the
    /// update. Engines may fuse the three. Where table noise is deferred, the gradient
    /// buffer's table rows stay without noise (the rows owe it).
    fn noisy_update(&mut self, noise: &mut Self::Noise, std: F, scale: F, lr: F, momentum: F) {
        self.add_noise(noise, std);
        self.scale_grads(scale);
        self.sgd_update(lr, momentum);
    }

    // ---- asynchronous engines -----------------------------------------------------

    /// Waits until the work queued so far has finished (nothing to wait for on the CPU).
    fn synchronize(&self) {}

    /// The first device failure since the engine was made (out of memory, a failed
    /// launch): kernel calls cannot return errors, so they record them here and the
    /// training loop checks after every step. Always `Ok` on the CPU.
    fn status(&self) -> Result<()> {
        Ok(())
    }
}

/// Copies a row of features, in one `memcpy` when it is contiguous.
pub(crate) fn copy_row<F: Float>(row: ArrayView1<'_, F>, dst: &mut [F]) {
    match row.as_slice() {
        Some(s) => dst.copy_from_slice(s),
        None => dst.iter_mut().zip(row.iter()).for_each(|(a, b)| *a = *b),
    }
}
