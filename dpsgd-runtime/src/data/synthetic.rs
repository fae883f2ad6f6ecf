//! Synthetic data of any shape: features uniform in [-1, 1] (or, for models of token
//! ids, ids drawn by Zipf's law, as words are), targets from a random linear teacher (the class with the largest
//! score, the scores themselves, or their signs; for tokens, a bag-of-words score), so
//! that a model can learn them. For trying a model, or a machine, without its dataset.

use ndarray::Array2;
use rand::RngExt;
use rand_distr::{Distribution, Zipf};

use crate::Float;
#[cfg(test)]
use crate::data::Targets;
use crate::data::{Dataset, TargetData};
use crate::error::{Result, ensure_config};
use crate::rng::{Stream, stream};
use crate::spec::{Loss, ModelSpec};

/// `examples` examples for the model of `spec` from the teacher of `seed`; the same
/// seed gives the same teacher, so two calls with different `offset`s give a training
/// and a test set of one problem. The teacher scores each class (or output) linearly:
/// a class label is the best-scoring class; a regression target is the score,
/// standardized to mean 0 and variance 1; a multi-label target is 1 where that is
/// positive.
pub fn teacher<F: Float>(spec: &ModelSpec, examples: usize, seed: u64, offset: u64) -> Result<Dataset<F>> {
    let (width, token_vocab) = (spec.input_width, spec.token_vocab);
    let outputs = if spec.loss.takes_values() { spec.outputs } else { spec.num_classes() };
    ensure_config!(width > 0, "synthetic data needs features");
    ensure_config!(spec.loss.takes_values() || outputs >= 2, "synthetic classes need at least two of them");
    ensure_config!(token_vocab != Some(0), "a vocabulary needs at least one id");
    // A weight per output and feature, or per output and token id.
    let inputs = token_vocab.unwrap_or(width);
    let mut teacher_rng = stream(seed, Stream::Data);
    let weights: Vec<f64> = (0..outputs * inputs).map(|_| teacher_rng.random_range(-1.0..1.0)).collect();
    let mut rng = stream(seed.wrapping_add(offset.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)), Stream::Data);
    let features = match token_vocab {
        // Word frequencies in text follow Zipf's law; the frequent ids carry most of
        // the teacher's score, as in real text, so that a model can learn it from a
        // few thousand examples. Id 0 (padding) is never drawn.
        Some(vocab) if vocab > 1 => {
            let zipf = Zipf::new((vocab - 1) as f64, 1.0).expect("at least one id");
            Array2::from_shape_fn((examples, width), |_| zipf.sample(&mut rng))
        }
        Some(_) => Array2::zeros((examples, width)),
        None => Array2::from_shape_fn((examples, width), |_| rng.random_range(-1.0..1.0)),
    };
    let scores = Array2::from_shape_fn((examples, outputs), |(i, c)| {
        let (x, w) = (features.row(i), &weights[c * inputs..][..inputs]);
        match token_vocab {
            Some(_) => x.iter().map(|id| w[*id as usize]).sum::<f64>(),
            None => w.iter().zip(x.iter()).map(|(w, v)| w * v).sum::<f64>(),
        }
    });
    // A value target is its score standardized over the features' distribution: a
    // feature uniform in [-1, 1] has mean 0 and variance 1/3; a token id picks the
    // weights of its row with Zipf's probabilities.
    let standardized = |scores: &Array2<f64>| {
        let mut out = scores.clone();
        for (c, mut column) in out.columns_mut().into_iter().enumerate() {
            let w = &weights[c * inputs..][..inputs];
            let (mean, variance) = match token_vocab {
                Some(_) => {
                    let p = id_probabilities(inputs);
                    let m = w.iter().zip(&p).map(|(x, p)| p * x).sum::<f64>();
                    let v = w.iter().zip(&p).map(|(x, p)| p * (x - m) * (x - m)).sum::<f64>();
                    (width as f64 * m, width as f64 * v)
                }
                None => (0.0, w.iter().map(|x| x * x).sum::<f64>() / 3.0),
            };
            column.mapv_inplace(|s| (s - mean) / variance.sqrt().max(f64::MIN_POSITIVE));
        }
        out
    };
    let targets: TargetData<F> = match spec.loss {
        Loss::MeanSquaredError => TargetData::Values(standardized(&scores).mapv(F::from_f64)),
        Loss::MultilabelBinaryLogistic => {
            TargetData::Values(standardized(&scores).mapv(|s| if s > 0.0 { F::ONE } else { F::ZERO }))
        }
        Loss::BinaryLogistic | Loss::SoftmaxCrossEntropy => TargetData::Classes(
            scores
                .rows()
                .into_iter()
                .map(|s| (0..outputs).max_by(|&a, &b| s[a].total_cmp(&s[b])).expect("two classes") as u32)
                .collect(),
        ),
    };
    Dataset::new(features.mapv(F::from_f64), targets)
}

/// The probability of each of `vocab` ids under the Zipf law the teacher draws them
/// with: `1 / id` (normalized) for ids `1..vocab`, none for the padding id 0 (all for
/// it when it is the only id).
fn id_probabilities(vocab: usize) -> Vec<f64> {
    if vocab == 1 {
        return vec![1.0];
    }
    let harmonic: f64 = (1..vocab).map(|r| 1.0 / r as f64).sum();
    (0..vocab).map(|r| if r == 0 { 0.0 } else { 1.0 / (r as f64 * harmonic) }).collect()
}

/// `rows` targets for the model of `spec`, drawn with `uniform` (values in [0, 1)):
/// classes, regression targets in [-2, 2], or 0/1 labels. For benchmarks and tests,
/// where the targets need only be legal.
pub fn random_targets<F: Float>(spec: &ModelSpec, rows: usize, mut uniform: impl FnMut() -> f64) -> TargetData<F> {
    match spec.loss {
        Loss::MeanSquaredError => {
            TargetData::Values(Array2::from_shape_fn((rows, spec.outputs), |_| F::from_f64(4.0 * uniform() - 2.0)))
        }
        Loss::MultilabelBinaryLogistic => TargetData::Values(Array2::from_shape_fn((rows, spec.outputs), |_| {
            if uniform() < 0.5 { F::ZERO } else { F::ONE }
        })),
        Loss::BinaryLogistic | Loss::SoftmaxCrossEntropy => {
            let classes = spec.num_classes();
            TargetData::Classes(
                (0..rows).map(|_| ((uniform() * classes as f64) as usize).min(classes - 1) as u32).collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_spec;

    fn with_shape(loss: Loss, outputs: usize, width: usize, vocab: Option<usize>) -> ModelSpec {
        ModelSpec { input_width: width, token_vocab: vocab, ..test_spec(loss, outputs) }
    }

    #[test]
    fn the_teacher_is_shared_and_its_classes_all_occur() {
        let spec = with_shape(Loss::SoftmaxCrossEntropy, 3, 5, None);
        let train = teacher::<f32>(&spec, 300, 7, 0).unwrap();
        let again = teacher::<f32>(&spec, 300, 7, 0).unwrap();
        let test = teacher::<f32>(&spec, 100, 7, 1).unwrap();
        assert_eq!(train.labels(), again.labels());
        assert_ne!(train.features(), test.features());
        assert!((0..3).all(|c| train.labels().unwrap().contains(&c)));
        let e = teacher::<f32>(&with_shape(Loss::SoftmaxCrossEntropy, 3, 0, None), 10, 1, 0).unwrap_err();
        assert!(e.to_string().contains("synthetic data needs features"), "{e}");
        let e = teacher::<f32>(&with_shape(Loss::SoftmaxCrossEntropy, 1, 4, None), 10, 1, 0).unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
        let tokens = teacher::<f32>(&with_shape(Loss::BinaryLogistic, 1, 8, Some(20)), 200, 1, 0).unwrap();
        assert!(tokens.features().iter().all(|v| v.fract() == 0.0 && (0.0..20.0).contains(v)));
        assert!((0..2).all(|c| tokens.labels().unwrap().contains(&c)));
    }

    /// Regression targets are the teacher's scores: about unit variance, a linear
    /// function of the features (least squares fits them exactly); multi-label
    /// targets are their signs.
    #[test]
    fn value_targets_are_the_teachers_scores_and_signs() {
        let spec = with_shape(Loss::MeanSquaredError, 2, 6, None);
        let data = teacher::<f64>(&spec, 2000, 3, 0).unwrap();
        let Targets::Values(y) = data.targets() else { panic!("values") };
        let variance = y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64;
        assert!((0.8..1.2).contains(&variance), "{variance}");
        // Solve x w = y[:, 0] on the first six examples, then check it on the rest.
        let x = data.features();
        let w = solve(x.slice(ndarray::s![..6, ..]).to_owned(), y.column(0).slice(ndarray::s![..6]).to_vec());
        for i in 6..50 {
            let predicted: f64 = x.row(i).iter().zip(&w).map(|(a, b)| a * b).sum();
            assert!((predicted - y[[i, 0]]).abs() < 1e-6, "{predicted} against {}", y[[i, 0]]);
        }

        let multilabel = teacher::<f64>(&with_shape(Loss::MultilabelBinaryLogistic, 2, 6, None), 2000, 3, 0).unwrap();
        let Targets::Values(labels) = multilabel.targets() else { panic!("values") };
        assert!(labels.iter().zip(y.iter()).all(|(l, s)| *l == f64::from(u8::from(*s > 0.0))));
    }

    /// Gaussian elimination with partial pivoting, for the small system above.
    fn solve(mut a: Array2<f64>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| a[[i, c]].abs().total_cmp(&a[[j, c]].abs())).unwrap();
            for k in 0..n {
                a.swap([c, k], [p, k]);
            }
            b.swap(c, p);
            for r in c + 1..n {
                let f = a[[r, c]] / a[[c, c]];
                for k in c..n {
                    a[[r, k]] -= f * a[[c, k]];
                }
                b[r] -= f * b[c];
            }
        }
        let mut w = vec![0.0; n];
        for r in (0..n).rev() {
            w[r] = (b[r] - (r + 1..n).map(|k| a[[r, k]] * w[k]).sum::<f64>()) / a[[r, r]];
        }
        w
    }

    #[test]
    fn random_targets_are_legal_for_their_loss() {
        let mut u = [0.1, 0.9, 0.5, 0.99].into_iter().cycle();
        let TargetData::Classes(c) =
            random_targets::<f32>(&test_spec(Loss::SoftmaxCrossEntropy, 3), 4, || u.next().unwrap())
        else {
            panic!("classes")
        };
        assert_eq!(c, [0, 2, 1, 2]);
        let t = random_targets::<f32>(&test_spec(Loss::MultilabelBinaryLogistic, 2), 2, || u.next().unwrap());
        assert_eq!(t, TargetData::Values(ndarray::array![[0.0, 1.0], [1.0, 1.0]]));
    }
}
