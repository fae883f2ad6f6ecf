//! The private step with secure noise does what its argument says: the clipped sum,
//! rounded to the grid, plus discrete Gaussian noise drawn once from the run's stream,
//! scaled back and divided by the public expected batch size; an example whose norm is
//! not finite adds nothing; the command line reports the mode and its accounting.

mod common;

use std::process::Command;

use dpsgd::models::Ffnn;
use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::rng::SecretKey;
use dpsgd::runtime::secure::{Grid, SecureNoise, SecureNoiseConfig};
use dpsgd::runtime::train::SecureStep;

const SIGMA: f64 = 1.1;
const C: f64 = 0.5;
const LR: f64 = 0.1;

fn privacy() -> Privacy {
    Privacy::new(SIGMA, C).unwrap().with_secure_noise(SecureNoiseConfig::default())
}

/// One secure step of `model` on all of `x`, `y` with `expected` as the divisor and
/// the insecure key of `seed`; the parameters after it.
fn secure_step<F: dpsgd::runtime::Float>(
    model: &Ffnn<F>,
    x: ndarray::Array2<F>,
    y: Vec<u32>,
    expected: f64,
    seed: u64,
) -> Vec<F> {
    let rows: Vec<usize> = (0..y.len()).collect();
    let data = Dataset::new(x, y).unwrap();
    let mut engine = CpuEngine::new(Ffnn::<F>::SPEC, model.params(), rows.len().max(1));
    let key = SecretKey::insecure_from_seed(seed);
    let mut step = SecureStep::<F>::new(&Ffnn::<F>::SPEC, &privacy(), &key, 0).unwrap();
    let sgd = Optimizer::sgd(LR, 0.0).unwrap();
    step.step::<Ffnn<F>, _>(&mut engine, &data, &rows, None, expected, &sgd, 0);
    let mut after = vec![F::ZERO; Ffnn::<F>::NUM_PARAMS];
    engine.read_params(&mut after);
    after
}

/// The grid a step of the FFNN uses, computed independently of the step.
fn grid() -> Grid {
    Grid::new(SIGMA, C, Ffnn::<f64>::NUM_PARAMS, SecureNoiseConfig::default().max_noise_increase).unwrap()
}

/// The noise of the first step under the key of `seed`, in gradient units.
fn noise(seed: u64) -> Vec<f64> {
    let mut sums = vec![0i64; Ffnn::<f64>::NUM_PARAMS];
    SecureNoise::keyed(&SecretKey::insecure_from_seed(seed), grid().levels, 0).add_to(&mut sums);
    sums.iter().map(|&s| s as f64 / grid().scale).collect()
}

#[test]
fn the_secure_step_adds_the_discrete_noise_once_to_the_clipped_sum_over_the_expected_batch() {
    let model: Ffnn<f64> = common::model(32, 3.0);
    let (x, y) = common::batch::<f64, Ffnn<f64>>(7, 8);
    // The clipped sum by the ghost norms: a path the secure step does not take.
    let clipped = model.clipped_grad_sum(x.view(), &y, C).unwrap();
    let noise = noise(5);
    let after = secure_step(&model, x, y, 10.0, 5);
    // Rounding moves each example's coordinate by at most 1/2 grid step.
    let tolerance = LR * 7.0 * 0.5 / grid().scale / 10.0 + 1e-12;
    let update = |divisor: f64| -> Vec<f64> {
        model.params().iter().zip(clipped.iter().zip(&noise)).map(|(p, (g, z))| p - LR * (g + z) / divisor).collect()
    };
    for (a, w) in after.iter().zip(update(10.0)) {
        assert!((a - w).abs() <= tolerance, "{a} vs {w}");
    }
    // Not the realized batch size, and not without the noise.
    assert!(after.iter().zip(update(7.0)).any(|(a, w)| (a - w).abs() > 100.0 * tolerance));
    let noiseless: Vec<f64> = model.params().iter().zip(&clipped).map(|(p, g)| p - LR * g / 10.0).collect();
    assert!(after.iter().zip(&noiseless).any(|(a, w)| (a - w).abs() > 100.0 * tolerance));
}

#[test]
fn an_empty_batch_is_a_noise_only_step_at_the_advertised_scale() {
    let model: Ffnn<f64> = common::model(31, 1.0);
    let x = ndarray::Array2::<f64>::zeros((0, Ffnn::<f64>::SPEC.input_width));
    let after = secure_step(&model, x, Vec::new(), 40.0, 9);
    let noise = noise(9);
    for ((a, p), z) in after.iter().zip(model.params()).zip(&noise) {
        assert!((a - (p - LR * z / 40.0)).abs() < 1e-12);
    }
    // sigma_L / scale = sigma C (1 + the rounding's increase).
    let sd = (noise.iter().map(|z| z * z).sum::<f64>() / noise.len() as f64).sqrt();
    let advertised = SIGMA * C * (1.0 + grid().noise_increase);
    assert!((sd / advertised - 1.0).abs() < 0.05, "noise standard deviation {sd} vs {advertised}");
    assert!(grid().noise_increase <= 0.01);
}

/// One example, however extreme (a feature of 1e20), moves the secure step's update by
/// at most the grid's sensitivity: with the same key the noise cancels, and what is
/// left is that example's rounded clipped gradient, of norm at most `Delta`.
#[test]
fn one_example_moves_the_update_by_at_most_the_sensitivity() {
    type M = Ffnn<f64>;
    let model: M = common::model(3, 1.0);
    let (mut x, mut y) = common::batch::<f64, M>(3, 9);
    x[[0, 0]] = 1e20;
    y[0] = 1;
    let with = secure_step(&model, x.clone(), y.clone(), 3.0, 4);
    let without = secure_step(&model, x.slice(ndarray::s![1..3, ..]).to_owned(), y[1..].to_vec(), 3.0, 4);
    // In grid units: (with - without) * expected / (lr / scale) = -z_0.
    let z: Vec<f64> = with.iter().zip(&without).map(|(a, b)| (a - b) * 3.0 / LR * grid().scale).collect();
    let norm = common::norm(z.iter().copied());
    let delta = (grid().bound_sq as f64).sqrt();
    assert!(norm > 0.5 * delta && norm <= delta * (1.0 + 1e-9), "moved by {norm}, sensitivity {delta}");
    assert!(z.iter().all(|v| (v - v.round()).abs() < 1e-3), "integer grid steps");
}

fn dpsgd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(args).output().expect("running dpsgd");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_command_line_trains_with_secure_noise_and_accounts_for_it() {
    let (ok, out) = dpsgd(&["train", "--model", "logreg", "--epochs", "1", "--secure-noise", "--quiet"]);
    assert!(ok, "{out}");
    assert!(out.contains("secure noise: integer sums of sensitivity"), "{out}");
    assert!(out.contains("(2 levels); rounding raises the noise by"), "{out}");
    assert!(out.contains("RDP accountant at integer orders, secure noise"), "{out}");
    assert!(out.contains("the PLD accountant covers the continuous Gaussian only"), "{out}");
    let epsilon = |extra: &[&str]| {
        let mut args = vec!["accountant", "--sampling-rate", "0.01", "--noise-multiplier", "1.0", "--steps", "1000"];
        args.extend_from_slice(extra);
        let (ok, out) = dpsgd(&args);
        assert!(ok, "{out}");
        out.split("epsilon = ").nth(1).unwrap().split(' ').next().unwrap().parse::<f64>().unwrap()
    };
    let (continuous, secure) = (epsilon(&[]), epsilon(&["--secure-noise"]));
    assert!(secure >= continuous && secure < 1.05 * continuous, "{secure} vs {continuous}");
}
