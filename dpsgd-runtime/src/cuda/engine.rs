//! The CUDA engine: device buffers, cuBLAS GEMMs and the kernels of `kernels.cu`.
//!
//! Row-major `[rows, cols]` buffers are column-major `[cols, rows]` to cuBLAS, so each
//! product below is written transposed: `Y = X W` is `Y^T = W^T X^T`.

use std::cell::RefCell;
use std::sync::Arc;

use cudarc::driver::{CudaEvent, CudaFunction, CudaModule, CudaSlice, DevicePtr, LaunchConfig, PinnedHostSlice};
use cudarc::driver::{PushKernelArg, result as driver};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use ndarray::ArrayView2;
use rand::Rng;

use super::device::CudaDevice;
use super::float::CudaFloat;
use crate::Float;
use crate::data::{Dataset, Targets};
use crate::engine::{Engine, copy_row};
use crate::error::{Error, Result};
use crate::layers::EveryLayerOps;
use crate::rng::{SecretKey, Stream};
use crate::spec::{Activation, Attention, Buf, Loss, ModelSpec, Pool2d, SequenceMean};

/// The Gaussian noise of private steps on the GPU: Philox4x32-10 keyed by 64 bits
/// drawn from the noise stream of the run's key, its counter the index of the draw.
/// The same key gives the same noise on every GPU; it differs from the CPU's stream.
/// (Philox's key is 64 bits: the secret key's other bits do not reach the device.)
pub struct DeviceNoise {
    key: u64,
    calls: u64,
}

impl DeviceNoise {
    /// The noise of `key` as it is after `calls` steps (for resumed runs).
    pub fn keyed(key: &SecretKey, calls: u64) -> Self {
        DeviceNoise { key: key.stream(Stream::Noise).next_u64(), calls }
    }

    /// Noise from a public seed: NOT private, anyone can regenerate it.
    pub fn insecure_reproducible(seed: u64) -> Self {
        DeviceNoise::keyed(&SecretKey::insecure_from_seed(seed), 0)
    }
}

/// A device allocation and its address (event tracking is off: one stream orders all).
pub(crate) struct DeviceVec<T> {
    slice: CudaSlice<T>,
    pub(crate) ptr: u64,
}

impl<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits> DeviceVec<T> {
    fn zeros(device: &CudaDevice, len: usize) -> Result<Self> {
        let slice = device.stream.alloc_zeros::<T>(len.max(1)).map_err(|e| out_of_memory(len, &e))?;
        let ptr = slice.device_ptr(&device.stream).0;
        Ok(DeviceVec { slice, ptr })
    }

    fn len(&self) -> usize {
        self.slice.len()
    }

    /// The address of element `i`.
    pub(crate) fn at(&self, i: usize) -> u64 {
        self.ptr + (i * std::mem::size_of::<T>()) as u64
    }
}

fn out_of_memory(len: usize, e: &dyn std::fmt::Debug) -> Error {
    Error::Device(format!("allocating {len} values failed ({e:?}); a smaller batch size needs less GPU memory"))
}

/// Pinned host memory a batch (or, for a resident dataset, its row numbers) is
/// gathered into before its copy to the GPU, and the event that says when that copy
/// has finished with it.
struct Staging<F> {
    features: PinnedHostSlice<F>,
    labels: PinnedHostSlice<u32>,
    rows: PinnedHostSlice<u32>,
    copied: CudaEvent,
}

/// A dataset copied to the GPU once, from which batches are gathered by row.
struct Resident<F> {
    /// [`Dataset::id`] of the copy.
    id: u64,
    features: DeviceVec<F>,
    labels: DeviceVec<u32>,
}

/// Datasets up to this share of the GPU's free memory are kept there.
const RESIDENT_SHARE: f64 = 0.5;

macro_rules! kernels {
    ($($name:ident),* $(,)?) => {
        /// The compiled kernels of `kernels.cu`.
        pub(crate) struct Kernels {
            _module: Arc<CudaModule>,
            $(pub(crate) $name: CudaFunction,)*
        }

        impl Kernels {
            fn compile<F: CudaFloat>(device: &CudaDevice) -> Result<Self> {
                let source = format!("typedef {} real;\n{}", F::C_TYPE, include_str!("kernels.cu"));
                let options = CompileOptions { name: Some("dpsgd_kernels.cu".into()), ..Default::default() };
                let ptx = compile_ptx_with_opts(source, options)
                    .map_err(|e| Error::Device(format!("NVRTC could not compile the kernels: {e:?}")))?;
                let module = device.ctx.load_module(ptx)
                    .map_err(|e| Error::Device(format!("loading the kernels failed: {e:?}")))?;
                let load = |name: &str| module.load_function(name)
                    .map_err(|e| Error::Device(format!("kernel {name} missing: {e:?}")));
                Ok(Kernels { $($name: load(stringify!($name))?,)* _module: module.clone() })
            }
        }
    };
}

kernels!(
    activation_forward,
    activation_backward,
    add,
    copy,
    fill,
    scale,
    broadcast_rows,
    scale_rows,
    dense_add_sq_norms,
    dense_per_example_grads,
    loss,
    clip_factors,
    add_gaussian_noise,
    noisy_sgd,
    gather_rows,
    sgd,
    adam,
    axpy,
    sum,
);

/// Threads per block of the element-wise kernels; they loop, so a grid of at most
/// `MAX_BLOCKS` covers any size.
pub(crate) const THREADS: u32 = 256;
pub(crate) const MAX_BLOCKS: usize = 4096;

/// Queues kernel `$kernel` over `$n` threads with the given arguments (values that
/// live until the launch), unless there is nothing to do or the engine has failed.
macro_rules! launch {
    ($engine:expr, $kernel:ident, $n:expr, $($arg:expr),* $(,)?) => {{
        let engine = &$engine;
        let n: usize = $n;
        if n > 0 && !engine.failed() {
            let blocks = n.div_ceil($crate::cuda::engine::THREADS as usize).min($crate::cuda::engine::MAX_BLOCKS) as u32;
            let config = cudarc::driver::LaunchConfig {
                grid_dim: (blocks, 1, 1),
                block_dim: ($crate::cuda::engine::THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut builder = engine.device.stream.launch_builder(&engine.kernels.$kernel);
            $(let arg = $arg; cudarc::driver::PushKernelArg::arg(&mut builder, &arg);)*
            // SAFETY: the arguments match the kernel's parameters in `kernels.cu`, and
            // every pointer addresses a live buffer of the size the kernel reads.
            let launched = unsafe { builder.launch(config) };
            engine.record(concat!("kernel ", stringify!($kernel)), launched);
        }
    }};
}
pub(crate) use launch;

/// Runs a model's steps on one NVIDIA GPU.
pub struct CudaEngine<F: CudaFloat> {
    pub(crate) spec: ModelSpec,
    pub(crate) device: CudaDevice,
    pub(crate) kernels: Kernels,
    pub(crate) batch: usize,
    /// The largest batch the buffers hold.
    capacity: usize,
    features: DeviceVec<F>,
    labels: DeviceVec<u32>,
    /// Row numbers of the batch in the resident dataset.
    rows: DeviceVec<u32>,
    arena: DeviceVec<F>,
    /// Deltas scaled by per-example weights, `[batch, widest layer output]`.
    pub(crate) scaled: DeviceVec<F>,
    /// `capacity` ones: bias gradients are `D^T 1`.
    pub(crate) ones: DeviceVec<F>,
    pub(crate) params: DeviceVec<F>,
    pub(crate) grads: DeviceVec<F>,
    /// SGD's velocity, or Adam's first moments, then Adam's second moments.
    moments: DeviceVec<F>,
    /// Gradients of the physical batches of one logical batch.
    accumulated: DeviceVec<F>,
    /// `[batch, num_params]`, only when per-example gradients were asked for.
    pub(crate) per_example: Option<DeviceVec<F>>,
    /// One value: where `sum` reduces to.
    total: DeviceVec<F>,
    /// Two, used in turn, so that gathering one batch overlaps the copy of the last.
    staging: [Staging<F>; 2],
    /// The training set, once it has been seen and where it fits.
    resident: Option<Resident<F>>,
    next_staging: usize,
    /// The first failure; later work is skipped. Read by [`Engine::status`].
    pub(crate) error: RefCell<Option<String>>,
}

impl<F: CudaFloat> CudaEngine<F> {
    /// An engine for `spec` on `device`, starting from `params`, with buffers for
    /// batches of up to `capacity` examples (a larger batch grows them).
    pub fn new(device: CudaDevice, spec: ModelSpec, params: &[F], capacity: usize) -> Result<Self> {
        if params.len() != spec.num_params {
            return Err(Error::Shape(format!("{} parameters for a model of {}", params.len(), spec.num_params)));
        }
        <Self as Engine<F>>::supports(&spec)?;
        let kernels = Kernels::compile::<F>(&device)?;
        let p = spec.num_params;
        let capacity = capacity.max(1);
        let mut engine = CudaEngine {
            features: DeviceVec::zeros(&device, capacity * spec.input_width)?,
            labels: DeviceVec::zeros(&device, capacity)?,
            rows: DeviceVec::zeros(&device, capacity)?,
            arena: DeviceVec::zeros(&device, capacity * spec.arena_width)?,
            scaled: DeviceVec::zeros(&device, capacity * spec.max_layer_outputs)?,
            ones: DeviceVec::zeros(&device, capacity)?,
            params: DeviceVec::zeros(&device, p)?,
            grads: DeviceVec::zeros(&device, p)?,
            moments: DeviceVec::zeros(&device, 2 * p)?,
            accumulated: DeviceVec::zeros(&device, p)?,
            per_example: None,
            total: DeviceVec::zeros(&device, 1)?,
            staging: [staging(&device, &spec, capacity)?, staging(&device, &spec, capacity)?],
            next_staging: 0,
            resident: None,
            spec,
            kernels,
            batch: 0,
            capacity,
            error: RefCell::new(None),
            device,
        };
        launch!(engine, fill, capacity, engine.ones.ptr, capacity as u64, F::ONE);
        engine.write_params(params);
        engine.status()?;
        Ok(engine)
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        self.device.name()
    }

    pub(crate) fn failed(&self) -> bool {
        self.error.borrow().is_some()
    }

    pub(crate) fn unsupported(&self, what: &str) {
        let message = format!("{what} do not run on the GPU yet; train this model with --device cpu");
        self.error.borrow_mut().get_or_insert(message);
    }

    /// Keeps the first failure.
    pub(crate) fn record<T, E: std::fmt::Debug>(&self, what: &str, result: std::result::Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.borrow_mut().get_or_insert_with(|| format!("{what} failed: {e:?}"));
                None
            }
        }
    }

    /// Makes `batch` the current batch size, growing the buffers when it is larger
    /// than any before.
    fn set_batch(&mut self, batch: usize) {
        if batch > self.capacity && !self.failed() {
            let grown = self.grow(batch);
            if let Err(e) = grown {
                self.error.borrow_mut().get_or_insert(e.to_string());
            }
        }
        self.batch = batch.min(self.capacity);
    }

    fn grow(&mut self, capacity: usize) -> Result<()> {
        // Pending copies may still read the old staging buffers.
        self.device.stream.synchronize().map_err(|e| Error::Device(format!("{e:?}")))?;
        let (device, spec) = (&self.device, &self.spec);
        self.features = DeviceVec::zeros(device, capacity * spec.input_width)?;
        self.labels = DeviceVec::zeros(device, capacity)?;
        self.rows = DeviceVec::zeros(device, capacity)?;
        self.arena = DeviceVec::zeros(device, capacity * spec.arena_width)?;
        self.scaled = DeviceVec::zeros(device, capacity * spec.max_layer_outputs)?;
        self.ones = DeviceVec::zeros(device, capacity)?;
        self.staging = [staging(device, spec, capacity)?, staging(device, spec, capacity)?];
        self.capacity = capacity;
        launch!(self, fill, capacity, self.ones.ptr, capacity as u64, F::ONE);
        Ok(())
    }

    /// The address of the current batch's rows of `buf`.
    pub(crate) fn buf(&self, buf: Buf) -> u64 {
        match buf {
            Buf::Input { .. } => self.features.ptr,
            Buf::Arena { offset, width } => {
                assert!(self.batch * (offset + width) <= self.arena.len(), "buffer outside the arena");
                self.arena.at(self.batch * offset)
            }
        }
    }

    /// `C = alpha op(A) op(B) + beta C`, column-major, on the engine's stream.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm(
        &self,
        transpose: (bool, bool),
        m: usize,
        n: usize,
        k: usize,
        a: (u64, usize),
        b: (u64, usize),
        beta: F,
        c: (u64, usize),
    ) {
        if self.failed() || m == 0 || n == 0 {
            return;
        }
        let handle = *self.device.blas.handle();
        // SAFETY: the callers pass matrices of these shapes inside live buffers.
        let done = unsafe { F::gemm(handle, transpose, m, n, k, F::ONE, a, b, beta, c) };
        self.record("cuBLAS GEMM", done);
    }

    pub(crate) fn zero(&self, ptr: u64, len: usize) {
        if len > 0 && !self.failed() {
            // SAFETY: `ptr` addresses `len` values of a live buffer.
            let done = unsafe {
                driver::memset_d8_async(ptr, 0, len * std::mem::size_of::<F>(), self.device.stream.cu_stream())
            };
            self.record("memset", done);
        }
    }

    /// Copies `out.len()` values at `ptr` to the host, waiting for the queued work.
    fn download<T>(&self, ptr: u64, out: &mut [T]) {
        if out.is_empty() || self.failed() {
            return;
        }
        // SAFETY: `ptr` addresses at least `out.len()` values of type `T`.
        let done = unsafe { driver::memcpy_dtoh_async(out, ptr, self.device.stream.cu_stream()) };
        if self.record("copy to the host", done).is_some() {
            self.synchronize();
        }
    }

    /// Gathers `rows` of the host batch into the next staging buffer and queues its
    /// copy to the GPU.
    fn upload_rows(&mut self, features: ArrayView2<'_, F>, labels: &[u32], rows: &[usize]) -> Result<()> {
        let width = self.spec.input_width;
        let b = rows.len();
        let stage = &mut self.staging[self.next_staging];
        self.next_staging ^= 1;
        let fail = |e: &dyn std::fmt::Debug| Error::Device(format!("staging a batch failed: {e:?}"));
        // The copy that last read this buffer must have finished.
        stage.copied.synchronize().map_err(|e| fail(&e))?;
        let host_features = stage.features.as_mut_slice().map_err(|e| fail(&e))?;
        for (dst, &r) in host_features.chunks_exact_mut(width).zip(rows) {
            copy_row(features.row(r), dst);
        }
        let host_labels = stage.labels.as_mut_slice().map_err(|e| fail(&e))?;
        for (dst, &r) in host_labels.iter_mut().zip(rows) {
            *dst = labels[r];
        }
        if b == 0 {
            return Ok(());
        }
        let cu_stream = self.device.stream.cu_stream();
        // SAFETY: both destinations hold `capacity >= b` rows; the pinned sources stay
        // untouched until `copied` has passed.
        unsafe {
            driver::memcpy_htod_async(self.features.ptr, &host_features[..b * width], cu_stream)
                .map_err(|e| fail(&e))?;
            driver::memcpy_htod_async(self.labels.ptr, &host_labels[..b], cu_stream).map_err(|e| fail(&e))?;
        }
        stage.copied.record(&self.device.stream).map_err(|e| fail(&e))
    }
}

impl<F: CudaFloat> CudaEngine<F> {
    /// Copies `data` to the GPU unless it is there already or too large (then batches
    /// are copied one by one). Returns whether it is resident.
    fn make_resident(&mut self, data: &Dataset<F>) -> Result<bool> {
        if self.resident.as_ref().is_some_and(|r| r.id == data.id()) {
            return Ok(true);
        }
        self.resident = None;
        let bytes = data.len() * (data.width() * std::mem::size_of::<F>() + 4);
        let (free, _) = self.device.ctx.mem_get_info().map_err(|e| Error::Device(format!("{e:?}")))?;
        if data.len() > u32::MAX as usize || bytes as f64 > RESIDENT_SHARE * free as f64 {
            return Ok(false);
        }
        let features = DeviceVec::zeros(&self.device, data.len() * data.width())?;
        let labels = DeviceVec::zeros(&self.device, data.len())?;
        let host = data.features();
        let host = host.as_slice().expect("datasets are stored in standard layout");
        let cu_stream = self.device.stream.cu_stream();
        let fail = |e: &dyn std::fmt::Debug| Error::Device(format!("copying the dataset failed: {e:?}"));
        // SAFETY: the destinations were just allocated with the sources' lengths.
        unsafe {
            driver::memcpy_htod_async(features.ptr, host, cu_stream).map_err(|e| fail(&e))?;
            driver::memcpy_htod_async(labels.ptr, class_labels(data.targets()), cu_stream).map_err(|e| fail(&e))?;
        }
        self.device.stream.synchronize().map_err(|e| fail(&e))?;
        self.resident = Some(Resident { id: data.id(), features, labels });
        Ok(true)
    }

    /// Copies the row numbers of the batch to the GPU and gathers the batch there.
    fn gather_resident_rows(&mut self, rows: &[usize]) -> Result<()> {
        let b = rows.len();
        let stage = &mut self.staging[self.next_staging];
        self.next_staging ^= 1;
        let fail = |e: &dyn std::fmt::Debug| Error::Device(format!("staging a batch failed: {e:?}"));
        stage.copied.synchronize().map_err(|e| fail(&e))?;
        let host_rows = stage.rows.as_mut_slice().map_err(|e| fail(&e))?;
        for (dst, &r) in host_rows.iter_mut().zip(rows) {
            *dst = r as u32;
        }
        if b == 0 {
            return Ok(());
        }
        let rows_on_device = self.rows.ptr;
        // SAFETY: `rows` holds `capacity >= b` values.
        unsafe {
            driver::memcpy_htod_async(rows_on_device, &host_rows[..b], self.device.stream.cu_stream())
                .map_err(|e| fail(&e))?;
        }
        stage.copied.record(&self.device.stream).map_err(|e| fail(&e))?;
        let resident = self.resident.as_ref().expect("a resident dataset");
        let width = self.spec.input_width;
        let (data, data_labels) = (resident.features.ptr, resident.labels.ptr);
        let (x, labels) = (self.features.ptr, self.labels.ptr);
        launch!(self, gather_rows, b * width, data, data_labels, rows_on_device, x, labels, as_u64(b), as_u64(width));
        Ok(())
    }
}

fn staging<F: CudaFloat>(device: &CudaDevice, spec: &ModelSpec, capacity: usize) -> Result<Staging<F>> {
    let fail = |e: &dyn std::fmt::Debug| Error::Device(format!("allocating pinned host memory failed: {e:?}"));
    // SAFETY: the buffers are written before they are read.
    let (features, labels, rows) = unsafe {
        (
            device.ctx.alloc_pinned::<F>(capacity * spec.input_width).map_err(|e| fail(&e))?,
            device.ctx.alloc_pinned::<u32>(capacity).map_err(|e| fail(&e))?,
            device.ctx.alloc_pinned::<u32>(capacity).map_err(|e| fail(&e))?,
        )
    };
    let copied = device.ctx.new_event(None).map_err(|e| fail(&e))?;
    Ok(Staging { features, labels, rows, copied })
}

pub(crate) fn as_u64(v: usize) -> u64 {
    v as u64
}

/// The class labels the GPU's losses take (`supports` refuses the losses of value
/// targets, and data is checked against the loss before it is loaded).
fn class_labels<'a, F: Float>(targets: Targets<'a, F>) -> &'a [u32] {
    targets.classes().unwrap_or_else(|| unreachable!("value targets on the GPU, which `supports` refuses"))
}

impl<F: CudaFloat> Engine<F> for CudaEngine<F> {
    type Noise = DeviceNoise;

    /// Dense layers, relu, sigmoid and tanh only, so far: a model with a convolution,
    /// an embedding, an LSTM, a pooling or another activation is refused, naming it.
    fn supports(spec: &ModelSpec) -> Result<()> {
        for layer in spec.layers {
            if let Err(why) = Self::supports_layer(&layer.layer) {
                return Err(Error::Config(format!(
                    "{}'s layer `{}` ({}): {why}; train this model with --device cpu",
                    spec.name, layer.name, layer.kind
                )));
            }
        }
        let gpu_activations = [Activation::Relu, Activation::Sigmoid, Activation::Tanh];
        if let Some(act) = spec.activations.iter().find(|a| !gpu_activations.contains(a)) {
            return Err(Error::Config(format!(
                "{}'s activation {act:?} does not run on the GPU yet; train this model with --device cpu",
                spec.name
            )));
        }
        if !spec.attentions.is_empty() {
            return Err(Error::Config(format!(
                "{}'s attention does not run on the GPU yet; train this model with --device cpu",
                spec.name
            )));
        }
        if !spec.pools.is_empty() {
            return Err(Error::Config(format!(
                "{}'s pooling does not run on the GPU yet; train this model with --device cpu",
                spec.name
            )));
        }
        if spec.loss.takes_values() {
            return Err(Error::Config(format!(
                "{}'s loss {} does not run on the GPU yet; train this model with --device cpu",
                spec.name,
                spec.loss.name()
            )));
        }
        Ok(())
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn load_rows(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>, rows: &[usize]) {
        assert_eq!(features.ncols(), self.spec.input_width);
        let labels = class_labels(targets);
        self.set_batch(rows.len());
        if !self.failed() {
            let uploaded = self.upload_rows(features, labels, rows);
            self.record("loading a batch", uploaded);
        }
    }

    fn load_dataset_rows(&mut self, data: &Dataset<F>, rows: &[usize]) {
        assert_eq!(data.width(), self.spec.input_width);
        self.set_batch(rows.len());
        if self.failed() {
            return;
        }
        let loaded = match self.make_resident(data) {
            Ok(true) => self.gather_resident_rows(rows),
            Ok(false) => self.upload_rows(data.features(), class_labels(data.targets()), rows),
            Err(e) => Err(e),
        };
        self.record("loading a batch", loaded);
    }

    fn load_batch(&mut self, features: ArrayView2<'_, F>, targets: Targets<'_, F>) {
        assert_eq!(features.nrows(), targets.len());
        let rows: Vec<usize> = (0..targets.len()).collect();
        self.load_rows(features, targets, &rows);
    }

    fn write_params(&mut self, params: &[F]) {
        assert_eq!(params.len(), self.spec.num_params);
        if !self.failed() {
            // SAFETY: the parameter buffer holds `num_params` values.
            let done = unsafe { driver::memcpy_htod_async(self.params.ptr, params, self.device.stream.cu_stream()) };
            self.record("copying parameters", done);
            self.synchronize();
        }
    }

    fn read_optimizer_state(&self, out: &mut [F]) {
        self.download(self.moments.ptr, &mut out[..2 * self.spec.num_params]);
    }

    fn write_optimizer_state(&mut self, state: &[F]) {
        assert_eq!(state.len(), 2 * self.spec.num_params);
        if !self.failed() {
            // SAFETY: the moments buffer holds `2 num_params` values.
            let done = unsafe { driver::memcpy_htod_async(self.moments.ptr, state, self.device.stream.cu_stream()) };
            self.record("copying the optimizer state", done);
            self.synchronize();
        }
    }

    fn read_params(&mut self, out: &mut [F]) {
        self.download(self.params.ptr, &mut out[..self.spec.num_params]);
    }

    fn read_grads(&self, out: &mut [F]) {
        self.download(self.grads.ptr, &mut out[..self.spec.num_params]);
    }

    fn write_grads(&mut self, _grads: &[F]) {
        // The only caller is the secure noise's step, which has not run on a GPU yet.
        let message = "secure noise does not run on the GPU yet; train with --device cpu".to_string();
        self.error.borrow_mut().get_or_insert(message);
    }

    fn read(&self, buf: Buf, out: &mut [F]) {
        self.download(self.buf(buf), &mut out[..self.batch * buf.width()]);
    }

    fn sum(&self, buf: Buf) -> F {
        let mut total = [F::ZERO];
        if self.batch > 0 && !self.failed() {
            let config = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1024, 1, 1), shared_mem_bytes: 0 };
            let (values, n, out) = (self.buf(buf), as_u64(self.batch * buf.width()), self.total.ptr);
            let mut builder = self.device.stream.launch_builder(&self.kernels.sum);
            builder.arg(&values).arg(&n).arg(&out);
            // SAFETY: `values` holds `n` values, `out` one.
            let launched = unsafe { builder.launch(config) };
            self.record("kernel sum", launched);
            self.download(self.total.ptr, &mut total);
        }
        total[0]
    }

    fn read_per_example_grads(&self, out: &mut [F]) {
        let n = self.batch * self.spec.num_params;
        if let Some(per_example) = &self.per_example {
            self.download(per_example.ptr, &mut out[..n]);
        }
    }

    fn mean_forward(&mut self, _: SequenceMean, _: Buf, _: Buf) {
        self.unsupported("sequence means");
    }

    fn mean_backward(&mut self, _: SequenceMean, _: Buf, _: Buf, _: bool) {
        self.unsupported("sequence means");
    }

    fn pool2d_forward(&mut self, _: Pool2d, _: Buf, _: Buf) {
        self.unsupported("pooling");
    }

    fn pool2d_backward(&mut self, _: Pool2d, _: Buf, _: Buf, _: Buf, _: bool) {
        self.unsupported("pooling");
    }

    fn attention_forward(&mut self, _: Attention, _: Buf, _: Buf, _: Buf, _: Buf, _: Buf) {
        self.unsupported("attention");
    }

    fn attention_backward(&mut self, _: Attention, _: [Buf; 3], _: Buf, _: Buf, _: [Option<(Buf, bool)>; 3]) {
        self.unsupported("attention");
    }

    fn activation_forward(&mut self, act: Activation, x: Buf, y: Buf) {
        let n = self.batch * x.width();
        launch!(self, activation_forward, n, act as u32, self.buf(x), self.buf(y), as_u64(n));
    }

    // GELU, whose derivative needs the input `x`, is refused by `supports`.
    fn activation_backward(&mut self, act: Activation, _x: Buf, y: Buf, dy: Buf, dx: Buf, accumulate: bool) {
        let n = self.batch * y.width();
        let (y, dy, dx) = (self.buf(y), self.buf(dy), self.buf(dx));
        launch!(self, activation_backward, n, act as u32, y, dy, dx, as_u64(n), u32::from(accumulate));
    }

    fn add(&mut self, a: Buf, b: Buf, y: Buf) {
        let n = self.batch * y.width();
        launch!(self, add, n, self.buf(a), self.buf(b), self.buf(y), as_u64(n));
    }

    fn copy(&mut self, src: Buf, dst: Buf, accumulate: bool) {
        let n = self.batch * dst.width();
        launch!(self, copy, n, self.buf(src), self.buf(dst), as_u64(n), u32::from(accumulate));
    }

    fn fill(&mut self, buf: Buf, value: F) {
        let n = self.batch * buf.width();
        launch!(self, fill, n, self.buf(buf), as_u64(n), value);
    }

    fn loss(&mut self, kind: Loss, logits: Buf, losses: Buf, dlogits: Buf) {
        let (b, k) = (self.batch, logits.width());
        let kind = match kind {
            Loss::BinaryLogistic => 0u32,
            Loss::SoftmaxCrossEntropy => 1,
            Loss::MeanSquaredError | Loss::MultilabelBinaryLogistic => unreachable!("refused by `supports`"),
        };
        let (z, l, dz) = (self.buf(logits), self.buf(losses), self.buf(dlogits));
        launch!(self, loss, b, kind, z, self.labels.ptr, l, dz, as_u64(b), as_u64(k));
    }

    fn begin_per_example_grads(&mut self) {
        let n = self.batch * self.spec.num_params;
        if self.per_example.as_ref().is_none_or(|pe| pe.len() < n) {
            self.per_example = None;
            let allocated = DeviceVec::zeros(&self.device, n);
            self.per_example = self.record("allocating per-example gradients", allocated);
        }
        if let Some(pe) = &self.per_example {
            self.zero(pe.ptr, n);
        }
    }

    fn clip_factors(&mut self, sq_norms: Buf, factors: Buf, max_norm: F) {
        let b = self.batch;
        let threshold = max_norm * F::from_f64(1.0 - F::CLIP_MARGIN);
        launch!(self, clip_factors, b, self.buf(sq_norms), self.buf(factors), as_u64(b), threshold);
    }

    /// Draws every coordinate's noise at every step.
    fn noise_source(&mut self, key: &SecretKey, _expected_batch: f64, steps: u64, _: bool) -> Box<DeviceNoise> {
        Box::new(DeviceNoise::keyed(key, steps))
    }

    fn add_noise(&mut self, noise: &mut DeviceNoise, std: F) {
        let p = self.spec.num_params;
        launch!(self, add_gaussian_noise, p.div_ceil(4), self.grads.ptr, as_u64(p), std, noise.key, noise.calls);
        noise.calls += 1;
    }

    fn noisy_update(&mut self, noise: &mut DeviceNoise, std: F, scale: F, lr: F, momentum: F) {
        let p = self.spec.num_params;
        let (params, grads, velocity) = (self.params.ptr, self.grads.ptr, self.moments.ptr);
        let (key, call) = (noise.key, noise.calls);
        launch!(
            self,
            noisy_sgd,
            p.div_ceil(4),
            params,
            grads,
            velocity,
            as_u64(p),
            std,
            key,
            call,
            scale,
            lr,
            momentum
        );
        noise.calls += 1;
    }

    fn scale_grads(&mut self, factor: F) {
        let p = self.spec.num_params;
        launch!(self, scale, p, self.grads.ptr, as_u64(p), factor);
    }

    fn sgd_update(&mut self, lr: F, momentum: F) {
        let p = self.spec.num_params;
        launch!(self, sgd, p, self.params.ptr, self.grads.ptr, self.moments.ptr, as_u64(p), lr, momentum);
    }

    fn adam_update(&mut self, lr: F, beta1: F, beta2: F, eps: F, t: u64) {
        let p = self.spec.num_params;
        let c1 = F::from_f64(1.0 / (1.0 - beta1.to_f64().powi(t as i32)));
        let c2 = F::from_f64(1.0 / (1.0 - beta2.to_f64().powi(t as i32)));
        let (params, grads, m, v) = (self.params.ptr, self.grads.ptr, self.moments.ptr, self.moments.at(p));
        launch!(self, adam, p, params, grads, m, v, as_u64(p), lr, beta1, beta2, eps, c1, c2);
    }

    fn add_weight_decay(&mut self, decay: F) {
        let p = self.spec.num_params;
        launch!(self, axpy, p, self.grads.ptr, self.params.ptr, as_u64(p), decay);
    }

    fn accumulate_grads(&mut self, first: bool) {
        let p = self.spec.num_params;
        launch!(self, copy, p, self.grads.ptr, self.accumulated.ptr, as_u64(p), u32::from(!first));
    }

    fn take_accumulated_grads(&mut self) {
        let p = self.spec.num_params;
        launch!(self, copy, p, self.accumulated.ptr, self.grads.ptr, as_u64(p), 0u32);
    }

    fn synchronize(&self) {
        if !self.failed() {
            self.record("the GPU", self.device.stream.synchronize());
        }
    }

    fn status(&self) -> Result<()> {
        match &*self.error.borrow() {
            None => Ok(()),
            Some(e) => Err(Error::Device(e.clone())),
        }
    }
}

/// [`LayerOps`](crate::LayerOps) for a layer kind the GPU does not run yet: `supports`
/// refuses it, so no engine is made for a model with one; should a call come anyway,
/// it records the error.
macro_rules! not_on_the_gpu {
    ($kind:ident, $what:literal) => {
        impl<F: $crate::cuda::CudaFloat> $crate::LayerOps<$crate::contracts::$kind, F>
            for $crate::cuda::engine::CudaEngine<F>
        {
            fn supports(_: &$crate::contracts::$kind) -> ::std::result::Result<(), String> {
                Err(format!("{} do not run on the GPU yet", $what))
            }

            fn layer_forward(&mut self, _: $crate::contracts::$kind, _: $crate::Site) {
                self.unsupported($what);
            }

            fn layer_backward(
                &mut self,
                _: $crate::contracts::$kind,
                _: $crate::Site,
                _: Option<$crate::Buf>,
                _: bool,
            ) {
                self.unsupported($what);
            }

            fn layer_add_sq_norms(
                &mut self,
                _: $crate::contracts::$kind,
                _: $crate::Site,
                _: $crate::Buf,
                _: $crate::NormStrategy,
            ) {
                self.unsupported($what);
            }

            fn layer_param_grad(&mut self, _: $crate::contracts::$kind, _: $crate::Site, _: Option<$crate::Buf>) {
                self.unsupported($what);
            }

            fn layer_per_example_grads(&mut self, _: $crate::contracts::$kind, _: $crate::Site) {
                self.unsupported($what);
            }
        }
    };
}
pub(crate) use not_on_the_gpu;
