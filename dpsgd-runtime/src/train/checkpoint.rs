//! Checkpoints: everything a training run needs to continue, in one safetensors file.
//!
//! The tensors are the parameters (by their names in the model's
//! [`ParamTensor`](crate::ParamTensor) list, in the engine's layout) and the
//! optimizer's state (`optimizer.moments`); the run's state (step, epoch, the
//! privacy history, the configuration) is JSON in the file's metadata under
//! `dpsgd.state`. Every random stream is addressed by step, so the step count is all
//! the sampler and the noise need to resume bit for bit.
//!
//! A private run's checkpoint also holds the secret key of its noise and sampler
//! (`dpsgd.secret_key`), without which it could not resume bit for bit: the file is
//! then as secret as the training data, since with the key anyone can regenerate the
//! noise and the batches. Share a model with `dpsgd export`, which writes the
//! parameters alone.
//!
//! Writing goes to a temporary file in the same folder, which is flushed to disk and
//! then renamed over the old checkpoint ([`SafeTensors::write`]): a crash leaves the
//! old or the new one whole.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Float;
use crate::error::{Error, Result};
use crate::rng::SecretKey;
use crate::safetensors::{Dtype, SafeTensors, Tensor};
use crate::spec::ModelSpec;

/// The version of the state written here (2: the secret key and the randomness mode).
pub const FORMAT: u32 = 2;
const STATE_KEY: &str = "dpsgd.state";
const SECRET_KEY: &str = "dpsgd.secret_key";
const MOMENTS: &str = "optimizer.moments";
/// The metadata key of the training data's public encoding (a CSV schema as JSON), in
/// checkpoints and in the parameter files `dpsgd export` writes.
pub const DATA_ENCODING_KEY: &str = "dpsgd.data_encoding";

/// The settings a run was started with; a resumed run must use the same. (The epsilon
/// budget is not among them: a run stopped by it may continue under a larger one.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// [`TrainConfig::epochs`](crate::train::TrainConfig::epochs).
    pub epochs: usize,
    /// The expected batch size `B` ([`TrainConfig::batch_size`](crate::train::TrainConfig::batch_size)).
    pub batch_size: usize,
    /// The optimizer, its rates, decay and schedule, as Rust prints them.
    pub optimizer: String,
    /// `Poisson` or `Shuffled`, as Rust prints [`Sampling`](crate::train::Sampling).
    pub sampling: String,
    /// [`TrainConfig::physical_batch`](crate::train::TrainConfig::physical_batch).
    pub physical_batch: Option<usize>,
    /// Sigma of a private run; `None` for the non-private baseline.
    pub noise_multiplier: Option<f64>,
    /// The clipping norm `C` of a private run; `None` for the non-private baseline.
    pub max_grad_norm: Option<f64>,
    /// The delta epsilon is reported at.
    pub delta: f64,
    /// [`TrainConfig::seed`](crate::train::TrainConfig::seed): the public seed.
    pub seed: u64,
    /// `Secret`, or `InsecureReproducible(seed)`.
    pub randomness: String,
    /// The secure noise's rounding allowance; absent for the default noise (and in
    /// checkpoints written before secure noise existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_noise: Option<f64>,
}

/// Where a run stands between two steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The version of this record, [`FORMAT`] when written by this build.
    pub format: u32,
    /// The model's name ([`ModelSpec::name`]): a checkpoint resumes only the same model.
    pub model: String,
    /// `f32` or `f64`.
    pub float: String,
    /// The model's parameter count, checked on reading.
    pub num_params: usize,
    /// The settings the run was started with.
    pub config: ConfigRecord,
    /// Steps taken since the start of the run.
    pub step: u64,
    /// Epochs completed.
    pub epoch: usize,
    /// Steps taken in the current epoch.
    pub epoch_steps: usize,
    /// The summed training loss of those steps' examples.
    pub epoch_loss_sum: f64,
    /// Examples those steps saw.
    pub epoch_examples: usize,
    /// Every private step as `(q, sigma, steps)` phases, for the accountant.
    pub privacy_history: Vec<(f64, f64, u64)>,
}

/// A run's state with its parameters and optimizer state.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<F> {
    /// The flat parameter vector, in the engine's layout ([`ModelSpec::params`]).
    pub params: Vec<F>,
    /// The optimizer's state, `[2, num_params]`: SGD's velocity (then zeros) or
    /// Adam's first and second moments.
    pub moments: Vec<F>,
    /// Where the run stands, and its settings.
    pub state: RunState,
    /// The key of a private run's noise and sampler.
    pub key: Option<SecretKey>,
    /// The training data's public encoding (a CSV schema, as JSON), if it had one.
    pub data_encoding: Option<String>,
}

/// Writes `checkpoint` of a model of `spec` to `path`, atomically.
pub fn write<F: Float>(path: &Path, spec: &ModelSpec, checkpoint: &Checkpoint<F>) -> Result<()> {
    let mut file = SafeTensors::default();
    for t in spec.params {
        file.insert(t.name, Tensor::from_floats(t.shape.to_vec(), &checkpoint.params[t.offset..t.offset + t.len()]));
    }
    file.insert(MOMENTS, Tensor::from_floats(vec![2, spec.num_params], &checkpoint.moments));
    file.metadata.insert(STATE_KEY.into(), serde_json::to_string(&checkpoint.state).expect("plain data"));
    if let Some(key) = &checkpoint.key {
        file.metadata.insert(SECRET_KEY.into(), key.to_hex());
    }
    if let Some(encoding) = &checkpoint.data_encoding {
        file.metadata.insert(DATA_ENCODING_KEY.into(), encoding.clone());
    }
    file.write(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("cannot be written ({e}); the checkpoint already there, if any, is untouched"),
    })
}

/// Reads a checkpoint of a model of `spec` from `path`. Anything that does not match
/// (a truncated or corrupted file, another model, another float type) is an error
/// naming what is wrong.
pub fn read<F: Float>(path: &Path, spec: &ModelSpec) -> Result<Checkpoint<F>> {
    let bad = |message: String| Error::Checkpoint { path: path.to_path_buf(), message };
    let file = SafeTensors::read(path).map_err(|e| match e {
        Error::Malformed { message, .. } => bad(message),
        other => other,
    })?;
    let state = file
        .metadata
        .get(STATE_KEY)
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
        let t = file.tensors.get(name).ok_or_else(|| bad(format!("tensor `{name}` is missing")))?;
        if t.dtype != Dtype::of::<F>() || t.shape != shape {
            return Err(bad(format!(
                "tensor `{name}` is {:?} {:?}, expected {:?} {shape:?}",
                t.dtype,
                t.shape,
                Dtype::of::<F>()
            )));
        }
        let values = t.to_floats::<F>().expect("a float tensor");
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
    let key = match (file.metadata.get(SECRET_KEY), state.config.noise_multiplier) {
        (Some(hex), Some(_)) => {
            Some(SecretKey::from_hex(hex).ok_or_else(|| bad(format!("`{SECRET_KEY}` is not 64 hexadecimal digits")))?)
        }
        (None, Some(_)) => return Err(bad(format!("a private run's checkpoint without its `{SECRET_KEY}`"))),
        (_, None) => None,
    };
    let data_encoding = file.metadata.get(DATA_ENCODING_KEY).cloned();
    Ok(Checkpoint { params, moments, state, key, data_encoding })
}
