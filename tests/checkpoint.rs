//! Checkpoints: a run stopped and resumed ends exactly where an uninterrupted run
//! ends; a damaged checkpoint is an error, never a panic.

mod common;
mod scratch;

use std::path::Path;

use dpsgd::models::Ffnn;
use dpsgd::prelude::*;
use dpsgd::runtime::engine::CpuEngine;
use dpsgd::runtime::rng::Randomness;
use dpsgd::runtime::secure::SecureNoiseConfig;
use dpsgd::runtime::train::checkpoint;
use dpsgd::runtime::train::{Control, TrainReport, Trainer, batch_capacity, train_with};
use scratch::Scratch;

type M = Ffnn<f32>;

fn dataset(rows: usize, seed: u64) -> Dataset<f32> {
    let (x, y) = common::batch::<f32, M>(rows, seed);
    Dataset::new(x, y).unwrap()
}

fn config(private: bool) -> TrainConfig {
    TrainConfig::new(3, 40, Optimizer::sgd(0.2, 0.9).unwrap(), private.then(|| Privacy::new(1.0, 1.0).unwrap()), 7)
}

/// Trains from the start, or resumes from `resume`, stopping before step `stop_at`.
fn run(data: &Dataset<f32>, config: &TrainConfig, path: &Path, resume: bool, stop_at: Option<u64>) -> (M, TrainReport) {
    let mut model = M::init(config.seed);
    let engine = CpuEngine::new(M::SPEC, model.params(), batch_capacity::<f32, M, CpuEngine<f32>>(data.len(), config));
    let saved = resume.then(|| checkpoint::read::<f32>(path, &M::SPEC).unwrap());
    let trainer = match &saved {
        Some(c) => {
            model.params_mut().copy_from_slice(&c.params);
            Trainer::resume(engine, data, config, c).unwrap()
        }
        None => Trainer::on_engine(engine, data, config).unwrap(),
    };
    let stop = |step: u64| Some(step) == stop_at;
    let control = Control { checkpoint: Some(path), stop: Some(&stop), on_step: None, data_encoding: None };
    let report = train_with(trainer, &mut model, None, &control, |_| {}).unwrap();
    (model, report)
}

/// Private settings with secure noise.
fn secure_config() -> TrainConfig {
    let mut config = config(true);
    config.privacy = config.privacy.map(|p| p.with_secure_noise(SecureNoiseConfig::default()));
    config
}

/// Under secret randomness: a run saved before its first step (so that it holds its
/// key) and continued to the end equals the same run stopped and resumed anywhere,
/// with either noise.
#[test]
fn a_stopped_and_resumed_run_equals_an_uninterrupted_one_bit_for_bit() {
    let scratch = Scratch::new("checkpoint-a_stopped_and_resumed_run_equals_an_uninterrupted_one_bit_for_bit");
    let data = dataset(400, 1);
    for (kind, config) in [("private", config(true)), ("secure", secure_config()), ("non-private", config(false))] {
        assert_eq!(config.randomness, Randomness::Secret);
        let origin = scratch.join(format!("origin-{kind}"));
        run(&data, &config, &origin, false, Some(0));
        let whole_path = scratch.join(format!("whole-{kind}"));
        std::fs::copy(&origin, &whole_path).unwrap();
        let (whole, whole_report) = run(&data, &config, &whole_path, true, None);
        for stop_at in [1, 10, 17, 29] {
            let path = scratch.join(format!("parts-{kind}-{stop_at}"));
            std::fs::copy(&origin, &path).unwrap();
            let (_, first) = run(&data, &config, &path, true, Some(stop_at));
            assert!(first.stopped && first.steps as u64 == stop_at);
            let (resumed, _) = run(&data, &config, &path, true, None);
            assert_eq!(resumed.params(), whole.params(), "{kind}, stopped at step {stop_at}");
            if let Some(accountant) = &whole_report.accountant {
                let state = checkpoint::read::<f32>(&path, &M::SPEC).unwrap().state;
                assert_eq!(state.privacy_history, accountant.history(), "{kind}");
                assert_eq!(accountant.is_discrete(), kind == "secure");
            }
        }
    }
}

/// Two private runs from the same initial parameters draw other noise and other
/// batches under secret randomness, and the same under insecure reproducible noise.
#[test]
fn secret_runs_differ_and_insecure_reproducible_ones_repeat() {
    let scratch = Scratch::new("checkpoint-secret_runs_differ_and_insecure_reproducible_ones_repeat");
    let data = dataset(400, 4);
    let train = |config: &TrainConfig, name: &str| run(&data, config, &scratch.join(name), false, None).0;
    let secret = config(true);
    assert_ne!(train(&secret, "secret-a").params(), train(&secret, "secret-b").params());
    let mut reproducible = config(true);
    reproducible.randomness = Randomness::InsecureReproducible(7);
    assert_eq!(train(&reproducible, "insecure-a").params(), train(&reproducible, "insecure-b").params());
    reproducible.randomness = Randomness::InsecureReproducible(8);
    assert_ne!(train(&reproducible, "insecure-c").params(), train(&config(true), "secret-c").params());
    // Secure noise alike: secret runs differ, reproducible ones repeat.
    let secure = secure_config();
    assert_ne!(train(&secure, "secure-a").params(), train(&secure, "secure-b").params());
    let mut reproducible = secure_config();
    reproducible.randomness = Randomness::InsecureReproducible(7);
    assert_eq!(train(&reproducible, "secure-c").params(), train(&reproducible, "secure-d").params());
}

#[test]
fn checkpoints_are_written_whole_and_read_back_exactly() {
    let scratch = Scratch::new("checkpoint-checkpoints_are_written_whole_and_read_back_exactly");
    let data = dataset(200, 2);
    let config = config(true);
    let path = scratch.join("exact");
    let (model, _) = run(&data, &config, &path, false, None);
    let saved = checkpoint::read::<f32>(&path, &M::SPEC).unwrap();
    assert_eq!(saved.params, model.params());
    assert_eq!(saved.state.epoch, 3);
    assert_eq!(saved.state.step, 15);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn damaged_or_foreign_checkpoints_are_errors() {
    let scratch = Scratch::new("checkpoint-damaged_or_foreign_checkpoints_are_errors");
    let data = dataset(200, 3);
    let path = scratch.join("damaged");
    run(&data, &config(true), &path, false, None);
    let bytes = std::fs::read(&path).unwrap();
    let damaged = scratch.join("damaged-copy");
    let expect_error = |bytes: &[u8], what: &str| {
        std::fs::write(&damaged, bytes).unwrap();
        match checkpoint::read::<f32>(&damaged, &M::SPEC) {
            Err(Error::Checkpoint { message, .. }) => eprintln!("{what}: {message}"),
            other => panic!("{what}: {other:?}"),
        }
    };
    for len in [0, 5, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        expect_error(&bytes[..len], &format!("truncated to {len} bytes"));
    }
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x5a;
    expect_error(&flipped, "a header byte flipped");
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_error(&huge, "an impossible header length");
    let mut nan = bytes.clone();
    let end = nan.len();
    nan[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    expect_error(&nan, "a NaN in the data");
    // Another model, another float type.
    assert!(matches!(
        checkpoint::read::<f32>(&path, &dpsgd::models::LogisticRegression::<f32>::SPEC),
        Err(Error::Checkpoint { .. })
    ));
    assert!(matches!(checkpoint::read::<f64>(&path, &Ffnn::<f64>::SPEC), Err(Error::Checkpoint { .. })));
    // Resuming with other settings is refused.
    let saved = checkpoint::read::<f32>(&path, &M::SPEC).unwrap();
    let resume_error = |data: &Dataset<f32>, config: &TrainConfig, saved: &checkpoint::Checkpoint<f32>| {
        let engine = CpuEngine::new(M::SPEC, &saved.params, 64);
        match Trainer::<f32, M>::resume(engine, data, config, saved) {
            Err(Error::Config(message)) => message,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("resumed"),
        }
    };
    let mut other = config(true);
    other.optimizer.lr = 0.3;
    assert!(resume_error(&data, &other, &saved).contains("written with other settings"));
    // ... and so is a training set of another size, and a privacy history that is not
    // that of the checkpoint's steps.
    let message = resume_error(&dataset(300, 3), &config(true), &saved);
    assert!(message.contains("privacy history") && message.contains("another training set"), "{message}");
    let mut tampered = saved.clone();
    tampered.state.privacy_history[0].2 -= 1;
    assert!(resume_error(&data, &config(true), &tampered).contains("privacy history"));
    tampered.state.privacy_history = vec![];
    assert!(resume_error(&data, &config(true), &tampered).contains("privacy history"));
    // A private run's checkpoint holds its key; one without is an error.
    let key = saved.key.as_ref().expect("the run's key").to_hex();
    let at = |pattern: &[u8]| bytes.windows(pattern.len()).position(|w| w == pattern);
    assert!(at(key.as_bytes()).is_some(), "the key is in the file");
    // The entry renamed in place (same length, so the header still parses).
    let entry = at(b"\"dpsgd.secret_key\"").expect("the key's entry");
    let mut keyless = bytes.clone();
    keyless[entry + 16] = b'z';
    std::fs::write(&damaged, &keyless).unwrap();
    let err = checkpoint::read::<f32>(&damaged, &M::SPEC).unwrap_err().to_string();
    assert!(err.contains("without its `dpsgd.secret_key`"), "{err}");
}
