//! Checkpoints: a run stopped and resumed ends exactly where an uninterrupted run
//! ends; a damaged checkpoint is an error, never a panic.

mod common;

use std::path::{Path, PathBuf};

use dpsgd::models::Ffnn;
use dpsgd::prelude::*;
use dpsgd::runtime::engine::CpuEngine;
use dpsgd::runtime::noise::{self, NoiseSource};
use dpsgd::runtime::train::checkpoint;
use dpsgd::runtime::train::{Control, TrainReport, Trainer, batch_capacity, noise_source, train_with};

type M = Ffnn<f32>;

fn dataset(rows: usize, seed: u64) -> Dataset<f32> {
    let (x, y) = common::batch::<f32, M>(rows, seed);
    Dataset::new(x, y).unwrap()
}

fn config(private: bool) -> TrainConfig {
    TrainConfig::new(3, 40, Optimizer::sgd(0.2, 0.9).unwrap(), private.then(|| Privacy::new(1.0, 1.0).unwrap()), 7)
}

/// A file in a folder of its own (tests run in parallel and look at their folders).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dpsgd-checkpoint-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Trains from the start, or resumes from `resume`, stopping before step `stop_at`.
fn run(data: &Dataset<f32>, config: &TrainConfig, path: &Path, resume: bool, stop_at: Option<u64>) -> (M, TrainReport) {
    let mut model = M::init(config.seed);
    let engine = CpuEngine::new(M::SPEC, model.params(), batch_capacity::<f32, M, CpuEngine<f32>>(data.len(), config));
    let saved = resume.then(|| checkpoint::read::<f32>(path, &M::SPEC).unwrap());
    let steps = saved.as_ref().map_or(0, |c| c.state.step);
    let noise = noise_source::<f32, M>(config, steps);
    let trainer = match &saved {
        Some(c) => {
            model.params_mut().copy_from_slice(&c.params);
            Trainer::resume(engine, noise, data, config, c).unwrap()
        }
        None => Trainer::on_engine(engine, noise, data, config).unwrap(),
    };
    let stop = |step: u64| Some(step) == stop_at;
    let control = Control { checkpoint: Some(path), stop: Some(&stop), on_step: None };
    let report = train_with(trainer, &mut model, data, None, config, &control, |_| {}).unwrap();
    (model, report)
}

#[test]
fn a_stopped_and_resumed_run_equals_an_uninterrupted_one_bit_for_bit() {
    let data = dataset(400, 1);
    for private in [true, false] {
        let config = config(private);
        let (whole, whole_report) = run(&data, &config, &scratch(&format!("whole-{private}")), false, None);
        for stop_at in [1, 10, 17, 29] {
            let path = scratch(&format!("parts-{private}-{stop_at}"));
            let (_, first) = run(&data, &config, &path, false, Some(stop_at));
            assert!(first.stopped && first.steps as u64 == stop_at);
            let (resumed, _) = run(&data, &config, &path, true, None);
            assert_eq!(resumed.params(), whole.params(), "private {private}, stopped at step {stop_at}");
            if private {
                let epsilon = |path: &Path| {
                    let state = checkpoint::read::<f32>(path, &M::SPEC).unwrap().state;
                    let mut accountant = dpsgd::runtime::privacy::RdpAccountant::new();
                    for (q, sigma, steps) in state.privacy_history {
                        accountant.record(q, sigma, steps).unwrap();
                    }
                    accountant.epsilon(1e-5).unwrap().0
                };
                let whole_epsilon = whole_report.accountant.as_ref().unwrap().epsilon(1e-5).unwrap().0;
                assert_eq!(epsilon(&path), whole_epsilon);
            }
        }
    }
}

#[test]
fn checkpoints_are_written_whole_and_read_back_exactly() {
    let data = dataset(200, 2);
    let config = config(true);
    let path = scratch("exact");
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
    let data = dataset(200, 3);
    let path = scratch("damaged");
    run(&data, &config(true), &path, false, None);
    let bytes = std::fs::read(&path).unwrap();
    let damaged = scratch("damaged-copy");
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
    let mut other = config(true);
    other.optimizer.lr = 0.3;
    let engine = CpuEngine::new(M::SPEC, &saved.params, 64);
    let noise: Box<dyn NoiseSource<f32>> = noise::for_training(&M::SPEC, 7, 64.0, saved.state.step);
    assert!(matches!(Trainer::<f32, M>::resume(engine, Some(noise), &data, &other, &saved), Err(Error::Config(_))));
}
