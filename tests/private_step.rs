//! The private step does what DP-SGD prescribes: clip, sum, noise once, divide by the
//! public expected batch size, update; an example whose norm is not finite adds
//! nothing; the seed decides the initialization, never the noise or the batches.

mod common;

use dpsgd::models::Ffnn;
use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::rng::Randomness;
use dpsgd::runtime::train::private_step;
use dpsgd::runtime::{GaussianNoise, NoiseSource};

const SIGMA: f64 = 1.1;
const C: f64 = 0.5;
const LR: f64 = 0.1;

/// Runs one private step of `model` on `x`, `y` with `expected` as the divisor.
fn step(model: &Ffnn<f64>, x: ndarray::ArrayView2<f64>, y: &[u32], expected: f64, seed: u64) -> Vec<f64> {
    let mut engine = CpuEngine::new(Ffnn::<f64>::SPEC, model.params(), y.len());
    engine.load_batch(x, y.into());
    let privacy = Privacy::new(SIGMA, C).unwrap();
    let sgd = Optimizer::sgd(LR, 0.0).unwrap();
    private_step::<f64, Ffnn<f64>, _>(
        &mut engine,
        &mut GaussianNoise::insecure_reproducible(seed),
        &privacy,
        expected,
        &sgd,
        0,
    );
    let mut after = vec![0.0; Ffnn::<f64>::NUM_PARAMS];
    engine.read_params(&mut after);
    after
}

/// `p - lr (clipped + sigma C z) / expected`, with `z` the noise stream of `seed`.
fn expected_update(model: &Ffnn<f64>, clipped: &[f64], expected: f64, seed: u64) -> Vec<f64> {
    let mut noisy = clipped.to_vec();
    GaussianNoise::insecure_reproducible(seed).add_noise(&mut noisy, SIGMA * C);
    model.params().iter().zip(&noisy).map(|(p, g)| p - LR * (g * (1.0 / expected))).collect()
}

#[test]
fn an_empty_batch_is_a_noise_only_step() {
    let model: Ffnn<f64> = common::model(31, 1.0);
    let x = ndarray::Array2::<f64>::zeros((0, 104));
    let after = step(&model, x.view(), &[], 40.0, 9);
    let want = expected_update(&model, &vec![0.0; Ffnn::<f64>::NUM_PARAMS], 40.0, 9);
    assert_eq!(after, want);
    // The noise really is there, at the advertised scale: lr * sigma * C / expected.
    let moved: Vec<f64> = after.iter().zip(model.params()).map(|(a, b)| (a - b) / (LR * SIGMA * C / 40.0)).collect();
    let sd = (moved.iter().map(|v| v * v).sum::<f64>() / moved.len() as f64).sqrt();
    assert!((sd - 1.0).abs() < 0.05, "noise standard deviation {sd} (in units of sigma C lr / B)");
}

#[test]
fn the_step_divides_the_noisy_clipped_sum_by_the_expected_batch_size() {
    let model: Ffnn<f64> = common::model(32, 3.0);
    let (x, y) = common::batch::<f64, Ffnn<f64>>(7, 8);
    let clipped = model.clipped_grad_sum(x.view(), &y, C).unwrap();
    // Seven examples drawn, ten expected: the divisor is 10, the public constant.
    let after = step(&model, x.view(), &y, 10.0, 5);
    let want = expected_update(&model, &clipped, 10.0, 5);
    for (a, w) in after.iter().zip(&want) {
        assert!((a - w).abs() < 1e-14, "{a} vs {w}");
    }
    let by_realized = expected_update(&model, &clipped, 7.0, 5);
    assert!(after.iter().zip(&by_realized).any(|(a, w)| (a - w).abs() > 1e-6));
}

fn train_ffnn(seed: u64, privacy: Option<Privacy>) -> (Ffnn<f32>, dpsgd::runtime::train::TrainReport) {
    train_ffnn_with(seed, privacy, Randomness::Secret)
}

fn train_ffnn_with(
    seed: u64,
    privacy: Option<Privacy>,
    randomness: Randomness,
) -> (Ffnn<f32>, dpsgd::runtime::train::TrainReport) {
    let (x, y) = common::batch::<f32, Ffnn<f32>>(600, 3);
    let data = Dataset::new(x, y).unwrap();
    let mut config = TrainConfig::new(3, 50, Optimizer::sgd(0.2, 0.5).unwrap(), privacy, seed);
    config.randomness = randomness;
    let mut model = Ffnn::<f32>::init(seed);
    let report = train(&mut model, &data, Some(&data), &config, |_| {}).unwrap();
    (model, report)
}

/// The seed decides the initial weights; private training's noise and batches come
/// from a secret key, so two runs with one seed end apart, unless the insecure
/// reproducible mode is asked for by name. The non-private baseline repeats.
#[test]
fn the_seed_decides_initialization_and_only_insecure_noise_repeats() {
    let bits = |m: &Ffnn<f32>| m.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&Ffnn::<f32>::init(42)), bits(&Ffnn::<f32>::init(42)));
    let privacy = Some(Privacy::new(SIGMA, C).unwrap());
    let (a, _) = train_ffnn(42, privacy);
    let (b, _) = train_ffnn(42, privacy);
    assert_ne!(bits(&a), bits(&b), "two secret runs trained alike");

    let insecure = Randomness::InsecureReproducible(5);
    let (a, _) = train_ffnn_with(42, privacy, insecure);
    let (b, _) = train_ffnn_with(42, privacy, insecure);
    let (c, _) = train_ffnn_with(42, privacy, Randomness::InsecureReproducible(6));
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));

    let (a, _) = train_ffnn(42, None);
    let (b, _) = train_ffnn(42, None);
    assert_eq!(bits(&a), bits(&b));
}

/// One crafted example whose squared input norm overflows f32 while its first layer
/// passes no gradient (every relu off) has the ghost norm `inf * 0 = NaN`; its output
/// bias still has a gradient of norm up to sqrt(2). It must add nothing to the
/// clipped sum: with factor 1 it entered unclipped, 14 times C = 0.1.
#[test]
fn an_example_whose_norm_is_not_finite_adds_nothing() {
    type M = Ffnn<f32>;
    let mut model = M::init(3);
    let fc1 = M::SPEC.params.iter().find(|t| t.name == "fc1.weight").unwrap();
    let hidden = fc1.shape[1];
    // Engine layout [in, out]: input 0's weights to every hidden unit, made negative.
    for w in &mut model.params_mut()[fc1.offset..fc1.offset + hidden] {
        *w = -w.abs() - 0.01;
    }
    let (mut x, mut y) = common::batch::<f32, M>(2, 9);
    x[[0, 0]] = 1e20;
    y[0] = 1;
    let c = 0.1;
    let norms = model.per_example_grad_norms(x.view(), &y).unwrap();
    assert!(norms[0].is_nan() && norms[1].is_finite(), "the crafted example: {norms:?}");
    let sum = model.clipped_grad_sum(x.view(), &y, c).unwrap();
    let alone = model.clipped_grad_sum(x.slice(ndarray::s![1..2, ..]), &y[1..], c).unwrap();
    // The GEMM kernels may order a row's sums differently at another batch size, so
    // the two agree to f32 rounding (coordinates are about 1e-3); the crafted example,
    // entered whole, would move the sum by about 1.4.
    let moved = sum.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved <= 1e-8, "the crafted example changed the clipped sum by up to {moved}");
    let norm = common::norm(sum.iter().map(|&v| v as f64));
    assert!(norm <= c as f64, "clipped sum of norm {norm} > C = {c}");
}

#[test]
fn private_training_samples_poisson_batches() {
    let (_, private) = train_ffnn(1, Some(Privacy::new(SIGMA, C).unwrap()));
    assert_eq!(private.sampling_rate, Some(50.0 / 600.0));
    // 12 steps per epoch of Poisson batches with mean 50: the epoch totals vary.
    let seen: Vec<usize> = private.epochs.iter().map(|e| e.examples).collect();
    assert!(private.epochs.iter().all(|e| e.steps == 12));
    assert!(seen.iter().any(|&n| n != 600), "examples per epoch {seen:?}");
    assert!(seen.iter().all(|&n| (450..=750).contains(&n)), "examples per epoch {seen:?}");

    let (_, baseline) = train_ffnn(1, None);
    assert_eq!(baseline.sampling_rate, None);
    assert!(baseline.epochs.iter().all(|e| e.examples == 600));
}

/// A convolutional model's clipped gradient of an empty batch is zero, also right
/// after a batch that left its accumulators full.
#[test]
fn an_empty_batch_has_a_zero_clipped_gradient_in_a_cnn() {
    use dpsgd::runtime::engine::{CpuEngine, Engine};
    type M = common::SmallCnn<f64>;
    let model = common::model::<f64, M>(1, 2.0);
    let privacy = Privacy::new(1.0, 0.5).unwrap();
    let mut engine = CpuEngine::new(M::SPEC, model.params(), 8);
    let mut grads = vec![0.0; M::NUM_PARAMS];
    for rows in [8, 0] {
        let (x, y) = common::batch::<f64, M>(rows, 3);
        engine.load_batch(x.view(), (&y).into());
        dpsgd::runtime::train::clipped_gradient::<f64, M, _>(&mut engine, &privacy);
        engine.read_grads(&mut grads);
        assert_eq!(grads.iter().all(|g| *g == 0.0), rows == 0, "batch of {rows}");
    }
}
