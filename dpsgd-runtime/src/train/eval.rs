//! Loss and accuracy of a model on a dataset.

use crate::Float;
use crate::data::Dataset;
use crate::engine::{CpuEngine, Engine};
use crate::error::Result;
use crate::kernels::loss;
use crate::model::PrivateModel;

/// Rows per forward pass: large enough for the GEMM to run well, small enough to keep
/// the activations in cache-friendly sizes.
const CHUNK: usize = 2048;
/// At most this many bytes of activations per forward pass: a model with a large
/// arena per example (the TextTransformer keeps 2 MB of attention probabilities per
/// example) evaluates in fewer rows at a time rather than allocating gigabytes.
const CHUNK_BYTES: usize = 256 << 20;

/// How well a model does on a dataset ([`evaluate`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The model's loss averaged over the dataset's examples.
    pub mean_loss: f64,
    /// The fraction of predictions that are right: of examples' classes, or of the
    /// (example, output) labels of a multi-label model. `None` for regression.
    pub accuracy: Option<f64>,
}

/// Mean loss and accuracy of `model` over `data`.
pub fn evaluate<F: Float, M: PrivateModel<F>>(model: &M, data: &Dataset<F>) -> Result<Evaluation> {
    data.check_fits(&M::SPEC)?;
    let spec = M::SPEC;
    let rows = data.len();
    let per_example = (spec.arena_width * std::mem::size_of::<F>()).max(1);
    let chunk = CHUNK.min(CHUNK_BYTES / per_example).max(1);
    let mut engine = CpuEngine::new(spec, model.params(), chunk.min(rows));
    let mut logits = vec![F::ZERO; chunk * spec.outputs];
    let mut dlogits = vec![F::ZERO; chunk * spec.outputs];
    let mut losses = vec![F::ZERO; chunk];
    let mut predicted = vec![0u32; chunk * spec.outputs];
    let (mut loss_sum, mut correct, mut predictions) = (0.0, 0usize, 0usize);
    for start in (0..rows).step_by(chunk) {
        let end = (start + chunk).min(rows);
        let n = end - start;
        let targets = data.targets().slice(start..end);
        engine.load_batch(data.features().slice(ndarray::s![start..end, ..]), targets);
        M::run_forward(&mut engine);
        let z = &mut logits[..n * spec.outputs];
        engine.read(spec.logits, z);
        loss::forward_backward(spec.loss, z, targets, &mut losses[..n], &mut dlogits[..n * spec.outputs], spec.outputs);
        loss_sum += losses[..n].iter().map(|l| l.to_f64()).sum::<f64>();
        if spec.loss.classifies() {
            loss::predictions(spec.loss, z, spec.outputs, &mut predicted);
            let (right, made) = loss::count_correct(&predicted, targets);
            (correct, predictions) = (correct + right, predictions + made);
        }
    }
    let accuracy = spec.loss.classifies().then(|| correct as f64 / predictions.max(1) as f64);
    Ok(Evaluation { mean_loss: loss_sum / rows.max(1) as f64, accuracy })
}
