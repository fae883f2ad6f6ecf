//! The crate's binary is `dpsgd::cli` for `Price`: trained privately on the shipped
//! CSV files from the command line, exported, and used for predictions that encode
//! their CSV with the schema the export carries.

use std::path::Path;
use std::process::Command;

mod common;
use common::Scratch;

fn run(args: &[&str]) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_my-model")).current_dir(data).args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

/// The mean loss `predict` prints.
fn mean_loss(predict_output: &str) -> f64 {
    let line = predict_output.lines().find(|l| l.starts_with("mean loss ")).expect("a mean loss");
    line["mean loss ".len()..].parse().unwrap()
}

#[test]
fn trains_privately_on_the_shipped_csv_and_predicts() {
    let scratch = Scratch::new("command-line");
    let (init, checkpoint, exported, predictions) =
        (scratch.join("init.st"), scratch.join("run.st"), scratch.join("price.st"), scratch.join("predictions.st"));
    let [init, checkpoint, exported, predictions] =
        [&init, &checkpoint, &exported, &predictions].map(|p| p.to_str().unwrap().to_string());
    run(&["init", "--out", &init]);
    let before = mean_loss(&run(&[
        "predict",
        "--params",
        &init,
        "--data",
        "houses-test.csv",
        "--schema",
        "houses.schema.json",
        "--out",
        &predictions,
    ]));
    let train = run(&[
        "train",
        "--train-data",
        "houses-train.csv",
        "--test-data",
        "houses-test.csv",
        "--schema",
        "houses.schema.json",
        "--target-epsilon",
        "2",
        "--epochs",
        "5",
        "--lr",
        "0.5",
        "--momentum",
        "0.9",
        "--checkpoint",
        &checkpoint,
        "--quiet",
    ]);
    assert!(train.contains("privacy spent: epsilon = 2.000 at delta = 1e-5"), "{train}");
    assert!(train.contains("each encoded from the public schema alone"), "{train}");
    run(&["export", "--checkpoint", &checkpoint, "--out", &exported]);
    // No --schema: the exported parameters carry the one training used.
    let after =
        mean_loss(&run(&["predict", "--params", &exported, "--data", "houses-test.csv", "--out", &predictions]));
    assert!(after < 0.25 * before, "test loss {before} before training, {after} after");
}
