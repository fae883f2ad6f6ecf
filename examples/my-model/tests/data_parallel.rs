//! The crate's binary under `mpirun` (feature `mpi`): two processes train the model
//! on the shipped CSV to what one process trains, to within the order of f32 sums.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::Command;

mod common;
use common::Scratch;

use dpsgd::runtime::PrivateModel;
use dpsgd::runtime::train::checkpoint;
use my_model::Price;

fn train(processes: Option<usize>, checkpoint: &Path) {
    let binary = env!("CARGO_BIN_EXE_my-model");
    let mut command = match processes {
        None => Command::new(binary),
        Some(n) => dpsgd::testing::mpirun(n, binary),
    };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    command.current_dir(data).env("RAYON_NUM_THREADS", "1");
    command.args(["train", "--train-data", "houses-train.csv", "--test-data", "houses-test.csv"]);
    command.args(["--schema", "houses.schema.json", "--epochs", "3", "--insecure-reproducible-noise", "3"]);
    command.args(["--quiet", "--checkpoint"]).arg(checkpoint);
    let out = command.output().expect("mpirun (Debian: openmpi-bin)");
    assert!(out.status.success(), "{command:?}:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn two_processes_train_what_one_does() {
    let scratch = Scratch::new("data-parallel");
    let (one, two) = (scratch.join("one.st"), scratch.join("two.st"));
    train(None, &one);
    train(Some(2), &two);
    let read = |path: &Path| checkpoint::read::<f32>(path, &Price::<f32>::SPEC).unwrap();
    let (one, two) = (read(&one), read(&two));
    assert_eq!(one.state.step, two.state.step);
    assert_eq!(one.data_encoding, two.data_encoding, "the schema travels in both checkpoints");
    let difference = one.params.iter().zip(&two.params).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(difference <= 1e-5, "parameters {difference} apart");
}
