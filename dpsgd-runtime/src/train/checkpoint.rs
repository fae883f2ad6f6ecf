//! Checkpoints: everything a training run needs to continue, in one safetensors file.
//!
//! The tensors are the parameters (by their names in the model's
//! [`ParamTensor`](crate::ParamTensor) list, in the engine's layout) and the
//! optimizer's state (`optimizer.moments`); the run's state (step, epoch, the
//! privacy history, the configuration) is JSON in the file's metadata under
//! `dpsgd.state`. Every random stream is addressed by step, so the step count is all
//! the sampler and the noise need to resume bit for bit.
//!
//! Writing goes to a temporary file in the same folder, which is flushed to disk and
//! then renamed over the old checkpoint: a crash leaves the old or the new one whole.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fit::TrainConfig;
use crate::Float;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;

/// The version of the state written here.
const FORMAT: u32 = 1;
const STATE_KEY: &str = "dpsgd.state";
const MOMENTS: &str = "optimizer.moments";

/// The settings a run was started with; a resumed run must use the same. (The epsilon
/// budget is not among them: a run stopped by it may continue under a larger one.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub epochs: usize,
    pub batch_size: usize,
    /// The optimizer, its rates, decay and schedule, as Rust prints them.
    pub optimizer: String,
    pub sampling: String,
    pub physical_batch: Option<usize>,
    pub noise_multiplier: Option<f64>,
    pub max_grad_norm: Option<f64>,
    pub delta: f64,
    pub seed: u64,
}

impl From<&TrainConfig> for ConfigRecord {
    fn from(c: &TrainConfig) -> Self {
        ConfigRecord {
            epochs: c.epochs,
            batch_size: c.batch_size,
            optimizer: format!("{:?}", c.optimizer),
            sampling: format!("{:?}", c.sampling),
            physical_batch: c.physical_batch,
            noise_multiplier: c.privacy.map(|p| p.noise_multiplier),
            max_grad_norm: c.privacy.map(|p| p.max_grad_norm),
            delta: c.delta,
            seed: c.seed,
        }
    }
}

/// Where a run stands between two steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub format: u32,
    pub model: String,
    /// `f32` or `f64`.
    pub float: String,
    pub num_params: usize,
    pub config: ConfigRecord,
    /// Steps taken since the start of the run.
    pub step: u64,
    /// Epochs completed.
    pub epoch: usize,
    /// Steps taken in the current epoch, and the loss and examples they saw.
    pub epoch_steps: usize,
    pub epoch_loss_sum: f64,
    pub epoch_examples: usize,
    /// Every private step as `(q, sigma, steps)` phases, for the accountant.
    pub privacy_history: Vec<(f64, f64, u64)>,
}

/// A run's state with its parameters and optimizer state.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<F> {
    pub params: Vec<F>,
    /// The optimizer's state, `[2, num_params]`: SGD's velocity (then zeros) or
    /// Adam's first and second moments.
    pub moments: Vec<F>,
    pub state: RunState,
}

#[derive(Serialize, Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

fn dtype<F: Float>() -> &'static str {
    if F::NAME == "f32" { "F32" } else { "F64" }
}

fn to_bytes<F: Float>(values: &[F], out: &mut Vec<u8>) {
    for v in values {
        if F::NAME == "f32" {
            out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_f64().to_le_bytes());
        }
    }
}

fn from_bytes<F: Float>(bytes: &[u8]) -> Vec<F> {
    if F::NAME == "f32" {
        bytes.chunks_exact(4).map(|b| F::from_f64(f32::from_le_bytes(b.try_into().unwrap()) as f64)).collect()
    } else {
        bytes.chunks_exact(8).map(|b| F::from_f64(f64::from_le_bytes(b.try_into().unwrap()))).collect()
    }
}

/// Writes `checkpoint` of a model of `spec` to `path`, atomically.
pub fn write<F: Float>(path: &Path, spec: &ModelSpec, checkpoint: &Checkpoint<F>) -> Result<()> {
    let size = std::mem::size_of::<F>();
    let mut header = serde_json::Map::new();
    let mut data = Vec::with_capacity(2 * spec.num_params * size);
    for tensor in spec.params {
        let begin = data.len();
        to_bytes(&checkpoint.params[tensor.offset..tensor.offset + tensor.len()], &mut data);
        let entry =
            TensorEntry { dtype: dtype::<F>().into(), shape: tensor.shape.to_vec(), data_offsets: [begin, data.len()] };
        header.insert(tensor.name.into(), serde_json::to_value(entry).expect("plain data"));
    }
    let begin = data.len();
    to_bytes(&checkpoint.moments, &mut data);
    let entry =
        TensorEntry { dtype: dtype::<F>().into(), shape: vec![2, spec.num_params], data_offsets: [begin, data.len()] };
    header.insert(MOMENTS.into(), serde_json::to_value(entry).expect("plain data"));
    let state = serde_json::to_string(&checkpoint.state).expect("plain data");
    header.insert("__metadata__".into(), serde_json::json!({ STATE_KEY: state }));
    let mut header = serde_json::to_vec(&header).expect("plain data");
    // The format asks for the data to start 8-byte aligned.
    header.resize(header.len().div_ceil(8) * 8, b' ');

    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let tmp = temporary_path(path);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.write_all(&data).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A name beside `path` that no other writer, in this process or another, uses.
fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Reads a checkpoint of a model of `spec` from `path`. Anything that does not match
/// (a truncated or corrupted file, another model, another float type) is an error
/// naming what is wrong.
pub fn read<F: Float>(path: &Path, spec: &ModelSpec) -> Result<Checkpoint<F>> {
    let bad = |message: String| Error::Checkpoint { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if bytes.len() < 8 {
        return Err(bad(format!("{} bytes is too short for a safetensors file", bytes.len())));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let data_start = 8u64.checked_add(header_len).filter(|&end| end <= bytes.len() as u64);
    let Some(data_start) = data_start else {
        return Err(bad(format!("the header claims {header_len} bytes but the file has {}: truncated?", bytes.len())));
    };
    let data = &bytes[data_start as usize..];
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..data_start as usize])
        .map_err(|e| bad(format!("the header is not valid JSON: {e}")))?;

    let state = header
        .get("__metadata__")
        .and_then(|m| m.get(STATE_KEY))
        .and_then(|s| s.as_str())
        .ok_or_else(|| bad(format!("no `{STATE_KEY}` in the metadata: not a dpsgd checkpoint")))?;
    let state: RunState = serde_json::from_str(state).map_err(|e| bad(format!("the run state does not parse: {e}")))?;
    if state.format != FORMAT {
        return Err(bad(format!("format version {} (this build reads {FORMAT})", state.format)));
    }
    if state.model != spec.name || state.num_params != spec.num_params || state.float != F::NAME {
        return Err(bad(format!(
            "it holds {} ({} parameters, {}), not {} ({} parameters, {})",
            state.model,
            state.num_params,
            state.float,
            spec.name,
            spec.num_params,
            F::NAME
        )));
    }

    let tensor = |name: &str, shape: &[usize]| -> Result<Vec<F>> {
        let entry = header.get(name).ok_or_else(|| bad(format!("tensor `{name}` is missing")))?;
        let entry: TensorEntry =
            serde_json::from_value(entry.clone()).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if entry.dtype != dtype::<F>() || entry.shape != shape {
            return Err(bad(format!(
                "tensor `{name}` is {} {:?}, expected {} {shape:?}",
                entry.dtype,
                entry.shape,
                dtype::<F>()
            )));
        }
        let [begin, end] = entry.data_offsets;
        let len = shape.iter().product::<usize>() * std::mem::size_of::<F>();
        if end < begin || end - begin != len || end > data.len() {
            return Err(bad(format!("tensor `{name}` has data offsets {begin}..{end} outside the file's data")));
        }
        let values = from_bytes::<F>(&data[begin..end]);
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor `{name}` holds NaN or infinite values")));
        }
        Ok(values)
    };
    let mut params = vec![F::ZERO; spec.num_params];
    for t in spec.params {
        params[t.offset..t.offset + t.len()].copy_from_slice(&tensor(t.name, t.shape)?);
    }
    let moments = tensor(MOMENTS, &[2, spec.num_params])?;
    Ok(Checkpoint { params, moments, state })
}
