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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub mean_loss: f64,
    pub accuracy: f64,
}

/// Mean loss and accuracy of `model` over `data`.
pub fn evaluate<F: Float, M: PrivateModel<F>>(model: &M, data: &Dataset<F>) -> Result<Evaluation> {
    data.check_fits(&M::SPEC)?;
    let spec = M::SPEC;
    let rows = data.len();
    let mut engine = CpuEngine::new(spec, model.params(), CHUNK.min(rows));
    let mut logits = vec![F::ZERO; CHUNK * spec.outputs];
    let mut dlogits = vec![F::ZERO; CHUNK * spec.outputs];
    let mut losses = [F::ZERO; CHUNK];
    let mut predicted = vec![0u32; CHUNK];
    let (mut loss_sum, mut correct) = (0.0, 0usize);
    for start in (0..rows).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows);
        let n = end - start;
        let labels = &data.labels()[start..end];
        engine.load_batch(data.features().slice(ndarray::s![start..end, ..]), labels);
        M::run_forward(&mut engine);
        let z = &mut logits[..n * spec.outputs];
        engine.read(spec.logits, z);
        loss::forward_backward(spec.loss, z, labels, &mut losses[..n], &mut dlogits[..n * spec.outputs], spec.outputs);
        loss::predictions(spec.loss, z, spec.outputs, &mut predicted[..n]);
        loss_sum += losses[..n].iter().map(|l| l.to_f64()).sum::<f64>();
        correct += predicted[..n].iter().zip(labels).filter(|(p, y)| p == y).count();
    }
    let n = rows.max(1) as f64;
    Ok(Evaluation { mean_loss: loss_sum / n, accuracy: correct as f64 / n })
}
