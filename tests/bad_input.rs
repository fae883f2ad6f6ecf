//! Bad input gets a clear error, never a panic or a silent NaN.

mod common;
mod scratch;

use dpsgd::models::{Ffnn, LogisticRegression};
use dpsgd::prelude::*;
use dpsgd::runtime::data::adult;
use ndarray::Array2;
use scratch::Scratch;

fn ffnn() -> Ffnn<f32> {
    Ffnn::init(0)
}

#[test]
fn a_nan_or_infinite_feature_is_an_error_naming_its_place() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = Array2::<f32>::zeros((3, 104));
        x[[2, 17]] = bad;
        let y = [0, 1, 0];
        for err in [
            ffnn().per_example_grads(x.view(), &y).unwrap_err(),
            ffnn().clipped_grad_sum(x.view(), &y, 1.0).unwrap_err(),
            ffnn().forward(x.view()).unwrap_err(),
            Dataset::new(x.clone(), y.to_vec()).unwrap_err(),
        ] {
            assert!(matches!(err, Error::NonFinite { row: 2, column: 17 }), "{err}");
            assert_eq!(err.to_string(), "feature 17 of row 2 is NaN or infinite");
        }
    }
}

#[test]
fn a_label_out_of_range_is_an_error() {
    let x = Array2::<f32>::zeros((3, 104));
    let err = ffnn().loss_and_grad(x.view(), &[0, 2, 1]).unwrap_err();
    assert!(matches!(err, Error::LabelOutOfRange { row: 1, label: 2, num_classes: 2 }), "{err}");
    let err = LogisticRegression::<f32>::init(0).per_example_grad_norms(x.view(), &[1, 1, 7]).unwrap_err();
    assert!(err.to_string().contains("label 7 in row 2 is out of range"), "{err}");

    let data = Dataset::new(x, vec![0, 1, 5]).unwrap();
    let config = TrainConfig::new(1, 2, Optimizer::sgd(0.1, 0.0).unwrap(), None, 0);
    let err = train(&mut ffnn(), &data, None, &config, |_| {}).unwrap_err();
    assert!(matches!(err, Error::LabelOutOfRange { row: 2, label: 5, .. }), "{err}");
}

#[test]
fn a_wrong_feature_count_is_an_error() {
    let x = Array2::<f32>::zeros((4, 103));
    let err = ffnn().per_example_grads(x.view(), &[0; 4]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch: Ffnn takes 104 features per example, the data has 103");
    let wrong_width = "Ffnn takes 104 features per example, the data has 103";
    assert!(ffnn().forward(x.view()).unwrap_err().to_string().contains(wrong_width));
    let data = Dataset::new(x, vec![0; 4]).unwrap();
    assert!(evaluate(&ffnn(), &data).unwrap_err().to_string().contains(wrong_width));

    let x = Array2::<f32>::zeros((4, 104));
    let err = ffnn().loss_and_grad(x.view(), &[0; 3]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch: 4 feature rows but 3 labels");
    let message = |r: Result<Ffnn<f32>, Error>| r.expect_err("an error").to_string();
    assert!(message(Ffnn::<f32>::from_params(vec![0.0; 10])).contains("10"));
    let nan = message(Ffnn::<f32>::from_params(vec![f32::NAN; Ffnn::<f32>::NUM_PARAMS]));
    assert_eq!(nan, "invalid setting: parameter 0 is NaN or infinite");
}

#[test]
fn impossible_settings_are_errors() {
    for (sigma, c) in
        [(0.0, 1.0), (-1.0, 1.0), (f64::NAN, 1.0), (f64::INFINITY, 1.0), (1.0, 0.0), (1.0, -2.0), (1.0, f64::NAN)]
    {
        let err = Privacy::new(sigma, c).unwrap_err().to_string();
        let what = if sigma > 0.0 && sigma.is_finite() { "clipping norm C" } else { "noise multiplier sigma" };
        assert!(err.contains(&format!("the {what} must be positive and finite")), "sigma {sigma}, C {c}: {err}");
    }
    for (lr, momentum) in [(0.0, 0.0), (-0.1, 0.0), (f64::NAN, 0.0), (0.1, 1.0), (0.1, -0.5)] {
        let err = Optimizer::sgd(lr, momentum).unwrap_err().to_string();
        let what = if lr > 0.0 { "momentum must lie in [0, 1)" } else { "learning rate must be positive" };
        assert!(err.contains(what), "lr {lr}, momentum {momentum}: {err}");
    }
    let err = ffnn().clipped_grad_sum(Array2::zeros((1, 104)).view(), &[0], 0.0).unwrap_err().to_string();
    assert!(err.contains("the clipping norm must be positive and finite, got 0"), "{err}");

    let (x, y) = common::batch::<f32, Ffnn<f32>>(10, 1);
    let data = Dataset::new(x, y).unwrap();
    let privacy = Some(Privacy::new(1.0, 1.0).unwrap());
    let sgd = Optimizer::sgd(0.1, 0.0).unwrap();
    // A batch larger than the dataset would mean q > 1; zero means q = 0; no epochs, nothing.
    for (batch_size, epochs) in [(11, 1), (0, 1), (5, 0)] {
        let config = TrainConfig::new(epochs, batch_size, sgd, privacy, 0);
        let err = train(&mut ffnn(), &data, None, &config, |_| {}).unwrap_err();
        let what = if epochs == 0 { "train for at least one epoch" } else { "the batch size must lie in 1..=10" };
        assert!(err.to_string().contains(what), "batch {batch_size}, epochs {epochs}: {err}");
    }
    // Privacy's fields are public: settings built by hand, past `Privacy::new`, are
    // checked when training starts.
    for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let by_hand = Privacy { max_grad_norm: c, ..Privacy::new(1.0, 1.0).unwrap() };
        let config = TrainConfig::new(1, 5, sgd, Some(by_hand), 0);
        let err = train(&mut ffnn(), &data, None, &config, |_| {}).unwrap_err().to_string();
        assert!(err.contains("the clipping norm C must be positive and finite"), "C {c}: {err}");
    }
    let key = dpsgd::runtime::rng::SecretKey::insecure_from_seed(0);
    let err = dpsgd::runtime::sampling::PoissonSampler::new(10, 1.5, &key).err().expect("an error").to_string();
    assert!(err.contains("the sampling rate q must lie in (0, 1], got 1.5"), "{err}");
}

#[test]
fn a_diverging_run_stops_with_an_error() {
    let (x, y) = common::batch::<f32, Ffnn<f32>>(64, 2);
    let x = x * 1e30f32;
    let data = Dataset::new(x, y).unwrap();
    let config = TrainConfig::new(2, 16, Optimizer::sgd(1e30, 0.0).unwrap(), None, 0);
    let err = train(&mut ffnn(), &data, None, &config, |_| {}).unwrap_err();
    assert!(err.to_string().starts_with("training diverged: "), "{err}");
    assert!(err.to_string().contains("try a smaller learning rate") || err.to_string().contains("NaN"), "{err}");
}

#[test]
fn malformed_or_missing_adult_files_are_errors_naming_the_file() {
    let dir = Scratch::new("adult");
    let good = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K\n";
    std::fs::write(dir.join("adult.data"), format!("{good}{good}39, State-gov, 77516\n")).unwrap();
    std::fs::write(dir.join("adult.test"), format!("|1x3 Cross validator\n{good}")).unwrap();
    let err = adult::load::<f32>(&dir).err().expect("a malformed row");
    assert!(err.to_string().ends_with("adult.data:3: expected 15 comma-separated fields, found 3"), "{err}");

    std::fs::write(dir.join("adult.data"), good.repeat(3)).unwrap();
    let loaded = adult::load::<f32>(&dir).unwrap();
    assert_eq!((loaded.train.len(), loaded.test.len(), loaded.train.width()), (3, 1, 104));

    std::fs::write(dir.join("adult.test.gz"), b"not gzip").unwrap();
    std::fs::remove_file(dir.join("adult.test")).unwrap();
    let err = adult::load::<f32>(&dir).err().expect("bad gzip");
    assert!(err.to_string().contains("adult.test.gz"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
    let err = adult::load::<f32>(&dir).err().expect("a missing file");
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("adult.data.gz: No such file"), "{err}");
}

/// The shipped MNIST loads: 60000 + 10000 examples, 784 pixels in [0, 1], all ten digits.
#[test]
fn the_shipped_mnist_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mnist = dpsgd::runtime::data::mnist::load::<f32>(&dir).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len(), mnist.train.width()), (60000, 10000, 784));
    let pixels = mnist.train.features();
    assert!(pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(pixels.iter().any(|&p| p == 1.0));
    let mut counts = [0usize; 10];
    for &l in mnist.test.labels().unwrap() {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // A missing folder is an error naming the file.
    let err = dpsgd::runtime::data::mnist::load::<f32>(&dir.join("nowhere")).err().unwrap().to_string();
    assert!(err.contains("train-images-idx3-ubyte.gz"), "{err}");
}

/// A model of token ids refuses ids outside its vocabulary, fractions and negatives,
/// with the place of the bad id.
#[test]
fn token_ids_must_lie_in_the_vocabulary() {
    type M = common::TinyText<f64>;
    let model = M::init(0);
    for bad in [7.0, 2.5, -1.0] {
        let mut x = dpsgd::runtime::ndarray::Array2::from_elem((2, 6), 3.0);
        x[[1, 4]] = bad;
        let err = model.per_example_grad_norms(x.view(), &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("row 1, position 4") && err.contains("0..7"), "{err}");
        let data = Dataset::new(x, vec![0, 1]).unwrap();
        let err = data.check_fits(&M::SPEC).unwrap_err().to_string();
        assert!(err.contains("row 1, position 4") && err.contains("0..7"), "{err}");
    }
}
