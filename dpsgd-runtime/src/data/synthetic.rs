//! Synthetic data of any shape: features uniform in [-1, 1] (or, for models of token
//! ids, uniform ids), labels from a random linear teacher (the class with the largest
//! score; for tokens, a bag-of-words score), so that a model can learn them. For trying
//! a model, or a machine, without its dataset.

use ndarray::Array2;
use rand::RngExt;

use crate::Float;
use crate::data::Dataset;
use crate::error::{Result, ensure_config};
use crate::rng::{Stream, stream};

/// `examples` examples of `width` features and `classes` classes from the teacher of
/// `seed`; the same seed gives the same teacher, so two calls with different
/// `offset`s give a training and a test set of one problem.
pub fn teacher<F: Float>(
    width: usize,
    classes: usize,
    token_vocab: Option<usize>,
    examples: usize,
    seed: u64,
    offset: u64,
) -> Result<Dataset<F>> {
    ensure_config!(width > 0 && classes >= 2, "synthetic data needs features and at least two classes");
    ensure_config!(token_vocab != Some(0), "a vocabulary needs at least one id");
    // A weight per class and feature, or per class and token id.
    let inputs = token_vocab.unwrap_or(width);
    let mut teacher_rng = stream(seed, Stream::Data);
    let weights: Vec<f64> = (0..classes * inputs).map(|_| teacher_rng.random_range(-1.0..1.0)).collect();
    let mut rng = stream(seed.wrapping_add(offset.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)), Stream::Data);
    let features = match token_vocab {
        Some(vocab) => Array2::from_shape_fn((examples, width), |_| rng.random_range(0..vocab) as f64),
        None => Array2::from_shape_fn((examples, width), |_| rng.random_range(-1.0..1.0)),
    };
    let labels = features
        .rows()
        .into_iter()
        .map(|x| {
            let w = |c: usize| &weights[c * inputs..][..inputs];
            let score = |c: usize| match token_vocab {
                Some(_) => x.iter().map(|id| w(c)[*id as usize]).sum::<f64>(),
                None => w(c).iter().zip(x.iter()).map(|(w, v)| w * v).sum::<f64>(),
            };
            (0..classes).max_by(|&a, &b| score(a).total_cmp(&score(b))).expect("two classes") as u32
        })
        .collect();
    Dataset::new(features.mapv(F::from_f64), labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_teacher_is_shared_and_its_classes_all_occur() {
        let train = teacher::<f32>(5, 3, None, 300, 7, 0).unwrap();
        let again = teacher::<f32>(5, 3, None, 300, 7, 0).unwrap();
        let test = teacher::<f32>(5, 3, None, 100, 7, 1).unwrap();
        assert_eq!(train.labels(), again.labels());
        assert_ne!(train.features(), test.features());
        assert!((0..3).all(|c| train.labels().contains(&c)));
        assert!(teacher::<f32>(0, 3, None, 10, 1, 0).is_err() && teacher::<f32>(4, 1, None, 10, 1, 0).is_err());
        let tokens = teacher::<f32>(8, 2, Some(20), 200, 1, 0).unwrap();
        assert!(tokens.features().iter().all(|v| v.fract() == 0.0 && (0.0..20.0).contains(v)));
        assert!((0..2).all(|c| tokens.labels().contains(&c)));
    }
}
