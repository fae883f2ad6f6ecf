//! Per-example losses and their gradients with respect to the logits, in one pass.

use ndarray::ArrayView2;

use super::simd::multiversion;
use crate::Float;
use crate::data::Targets;
use crate::spec::Loss;

/// Writes each example's loss to `losses[i]` and `d loss_i / d logits_i` to the row `i`
/// of `dlogits`. Targets are checked against the loss (their kind, the label range,
/// the values' width) before a step runs.
pub fn forward_backward<F: Float>(
    loss: Loss,
    logits: &[F],
    targets: Targets<'_, F>,
    losses: &mut [F],
    dlogits: &mut [F],
    width: usize,
) {
    match (loss, targets) {
        (Loss::BinaryLogistic, Targets::Classes(labels)) => binary_logistic(logits, labels, losses, dlogits),
        (Loss::SoftmaxCrossEntropy, Targets::Classes(labels)) => {
            softmax_cross_entropy(logits, labels, losses, dlogits, width)
        }
        (Loss::MeanSquaredError, Targets::Values(values)) => mean_squared_error(logits, values, losses, dlogits),
        (Loss::MultilabelBinaryLogistic, Targets::Values(values)) => {
            multilabel_binary_logistic(logits, values, losses, dlogits)
        }
        (loss, _) => unreachable!("{} given targets of the other kind; they are checked first", loss.name()),
    }
}

/// `g`, or zero where it is subnormal. A logit far on the right side of its target
/// has a gradient like `e^(-90)`, below the normal floats: it changes no parameter,
/// but every product that reads it takes the processor's slow path, a hundred times
/// the cost, through the whole backward pass (a model that had fit its batches ran its
/// steps 3x slower). Flushing here is the one place it is needed and is exact to
/// `1e-38` in `f32`.
#[inline(always)]
fn flush_subnormal<F: Float>(g: F) -> F {
    if g.abs() < F::MIN_NORMAL { F::ZERO } else { g }
}

multiversion! {
/// `log(1 + e^z) - y z` and its derivative `sigmoid(z) - y`, with no library call in
/// f32 so that the loop vectorizes (`log1pf` took a fifth of a logistic regression
/// step).
fn binary_logistic<F: Float>(logits: &[F], labels: &[u32], losses: &mut [F], dlogits: &mut [F]) {
    for (((z, d), l), &y) in logits.iter().zip(dlogits.iter_mut()).zip(losses.iter_mut()).zip(labels) {
        let (z, y) = (*z, if y == 1 { F::ONE } else { F::ZERO });
        *l = z.vector_softplus() - z * y;
        *d = flush_subnormal(z.vector_sigmoid() - y);
    }
}
}

/// `log(sum_k e^z_k) - z_y` and its gradient `softmax(z) - onehot(y)`. (The library's
/// `exp` measured 4% faster here than the vectorizable one, for the feed-forward
/// net's rows of 2.)
fn softmax_cross_entropy<F: Float>(logits: &[F], labels: &[u32], losses: &mut [F], dlogits: &mut [F], width: usize) {
    let rows = logits.chunks_exact(width).zip(dlogits.chunks_exact_mut(width));
    for (((z, d), l), &y) in rows.zip(losses.iter_mut()).zip(labels) {
        let m = z.iter().fold(z[0], |a, &b| a.max(b));
        let mut sum = F::ZERO;
        for (di, zi) in d.iter_mut().zip(z) {
            *di = (*zi - m).exp();
            sum += *di;
        }
        let inv = F::ONE / sum;
        for di in d.iter_mut() {
            *di = flush_subnormal(*di * inv);
        }
        let y = y as usize;
        d[y] -= F::ONE;
        *l = m + sum.ln() - z[y];
    }
}

/// `(1/K) sum_k (z_k - y_k)^2` and its gradient `(2/K) (z - y)`.
fn mean_squared_error<F: Float>(logits: &[F], targets: ArrayView2<'_, F>, losses: &mut [F], dlogits: &mut [F]) {
    let width = targets.ncols();
    let inv = F::ONE / F::from_f64(width as f64);
    let rows = logits.chunks_exact(width).zip(dlogits.chunks_exact_mut(width));
    for (((z, d), l), y) in rows.zip(losses.iter_mut()).zip(targets.rows()) {
        let mut sum = F::ZERO;
        for ((di, &zi), &yi) in d.iter_mut().zip(z).zip(y) {
            let e = zi - yi;
            sum += e * e;
            *di = (e + e) * inv;
        }
        *l = sum * inv;
    }
}

/// `sum_k log(1 + e^z_k) - y_k z_k` and its gradient `sigmoid(z) - y`: the binary
/// logistic loss of each output against its own 0/1 label.
fn multilabel_binary_logistic<F: Float>(logits: &[F], targets: ArrayView2<'_, F>, losses: &mut [F], dlogits: &mut [F]) {
    let width = targets.ncols();
    let rows = logits.chunks_exact(width).zip(dlogits.chunks_exact_mut(width));
    for (((z, d), l), y) in rows.zip(losses.iter_mut()).zip(targets.rows()) {
        let mut sum = F::ZERO;
        for ((di, &zi), &yi) in d.iter_mut().zip(z).zip(y) {
            sum += zi.vector_softplus() - zi * yi;
            *di = flush_subnormal(zi.vector_sigmoid() - yi);
        }
        *l = sum;
    }
}

/// What the outputs predict: the class of each example (`out` has a row of one), or
/// for the multi-label loss each output's 0/1 label (`out` has rows of `width`).
/// Nothing for the mean squared error, whose outputs are the prediction.
pub fn predictions<F: Float>(loss: Loss, logits: &[F], width: usize, out: &mut [u32]) {
    match loss {
        // One logit, or one per label: each says its label is 1 when positive.
        Loss::BinaryLogistic | Loss::MultilabelBinaryLogistic => {
            for (z, p) in logits.iter().zip(out.iter_mut()) {
                *p = u32::from(*z > F::ZERO);
            }
        }
        Loss::SoftmaxCrossEntropy => {
            for (z, p) in logits.chunks_exact(width).zip(out.iter_mut()) {
                let mut best = 0;
                for (k, v) in z.iter().enumerate() {
                    if *v > z[best] {
                        best = k;
                    }
                }
                *p = best as u32;
            }
        }
        Loss::MeanSquaredError => {}
    }
}

/// Predictions that match their targets, and how many were made: examples for class
/// labels, (example, output) pairs for multi-label targets. `predicted` is what
/// [`predictions`] wrote.
pub fn count_correct<F: Float>(predicted: &[u32], targets: Targets<'_, F>) -> (usize, usize) {
    match targets {
        Targets::Classes(labels) => (predicted.iter().zip(labels).filter(|(p, y)| p == y).count(), labels.len()),
        Targets::Values(values) => {
            let right = predicted.iter().zip(values.iter()).filter(|(p, y)| F::from_f64(**p as f64) == **y).count();
            (right, values.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gradient below the normal floats is zero (it would slow every product that
    /// reads it); one just above them is kept.
    #[test]
    fn subnormal_gradients_are_zero_and_normal_ones_kept() {
        let (mut losses, mut d) = ([0.0f32; 2], [0.0f32; 4]);
        let labels = [0, 0];
        // e^-100 = 3.7e-44 is subnormal in f32; e^-80 = 1.8e-35 is not.
        softmax_cross_entropy(&[0.0f32, -100.0, 0.0, -80.0], &labels, &mut losses, &mut d, 2);
        assert_eq!(d[1], 0.0);
        assert!(d[3] > 1e-36 && d[3] < 1e-34, "{}", d[3]);
        let mut d = [0.0f32; 2];
        binary_logistic(&[-100.0f32, -80.0], &labels, &mut losses, &mut d);
        assert_eq!(d[0], 0.0);
        assert!(d[1] > 1e-36 && d[1] < 1e-34, "{}", d[1]);
    }

    #[test]
    fn losses_stay_finite_for_extreme_logits() {
        let logits = [1e4f32, -1e4, 0.0, 1e4, -1e4, 0.0];
        let mut losses = [0.0; 2];
        let mut d = [0.0; 6];
        forward_backward(Loss::SoftmaxCrossEntropy, &logits, Targets::Classes(&[1, 0]), &mut losses, &mut d, 3);
        assert!(losses.iter().all(|l| l.is_finite()) && d.iter().all(|v| v.is_finite()));
        assert!((losses[0] - 2e4).abs() < 1.0);

        let logits = [1e4f32, -1e4];
        let mut losses = [0.0; 2];
        let mut d = [0.0; 2];
        forward_backward(Loss::BinaryLogistic, &logits, Targets::Classes(&[0, 0]), &mut losses, &mut d, 1);
        assert!((losses[0] - 1e4).abs() < 1.0 && losses[1].abs() < 1e-6);
        assert!((d[0] - 1.0).abs() < 1e-6 && d[1].abs() < 1e-6);

        let logits = [1e4f32, -1e4, 0.0];
        let labels = ndarray::array![[0.0f32, 0.0, 1.0]];
        let mut losses = [0.0; 1];
        let mut d = [0.0; 3];
        forward_backward(
            Loss::MultilabelBinaryLogistic,
            &logits,
            Targets::Values(labels.view()),
            &mut losses,
            &mut d,
            3,
        );
        assert!((losses[0] - (1e4 + std::f32::consts::LN_2)).abs() < 1.0, "{losses:?}");
        assert!((d[0] - 1.0).abs() < 1e-6 && d[1].abs() < 1e-6 && (d[2] + 0.5).abs() < 1e-6, "{d:?}");
    }

    /// Against the formulas written out by hand for one example.
    #[test]
    fn value_losses_match_their_formulas() {
        let z = [0.5f64, -1.0, 2.0];
        let y = ndarray::array![[1.5f64, -1.0, 0.0]];
        let (mut l, mut d) = ([0.0], [0.0; 3]);
        forward_backward(Loss::MeanSquaredError, &z, Targets::Values(y.view()), &mut l, &mut d, 3);
        assert!((l[0] - (1.0 + 0.0 + 4.0) / 3.0).abs() < 1e-12);
        assert_eq!(d, [-2.0 / 3.0, 0.0, 4.0 / 3.0]);

        let y = ndarray::array![[1.0f64, 0.0, 1.0]];
        forward_backward(Loss::MultilabelBinaryLogistic, &z, Targets::Values(y.view()), &mut l, &mut d, 3);
        let softplus = |v: f64| (1.0 + v.exp()).ln();
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        let want = softplus(0.5) - 0.5 + softplus(-1.0) + softplus(2.0) - 2.0;
        assert!((l[0] - want).abs() < 1e-12, "{l:?} against {want}");
        for (k, (dk, yk)) in d.iter().zip([1.0, 0.0, 1.0]).enumerate() {
            assert!((dk - (sigmoid(z[k]) - yk)).abs() < 1e-12);
        }

        let mut predicted = [0u32; 3];
        predictions(Loss::MultilabelBinaryLogistic, &z, 3, &mut predicted);
        assert_eq!(predicted, [1, 0, 1]);
        assert_eq!(count_correct(&predicted, Targets::Values(ndarray::array![[1.0, 1.0, 1.0]].view())), (2, 3));
    }
}
