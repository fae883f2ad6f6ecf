//! Crash tests: `dpsgd train` killed with SIGKILL between checkpoints or in the middle
//! of a checkpoint write leaves a whole checkpoint that has lost at most the epoch in
//! progress and whose privacy ledger counts every step it holds; resumed, the run ends
//! bit for bit where a run never stopped ends. The `slow-checkpoints` feature makes
//! each write pause halfway, so that the kills can land there.

#![cfg(feature = "slow-checkpoints")]

mod scratch;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dpsgd::models::LogisticRegression;
use dpsgd::runtime::PrivateModel;
use dpsgd::runtime::train::checkpoint;
use scratch::Scratch;

/// How long each write pauses halfway in the runs that are killed.
/// Long enough that most of a paused run is spent in its writes, so that most kills
/// land in one.
const PAUSE_MS: u64 = 400;

/// Logistic regression on Adult: a checkpoint after each of 8 epochs of 59 steps, with
/// reproducible noise so that runs can be compared.
fn train(path: &Path, resume: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dpsgd"));
    command.args(["train", "--model", "logreg", "--epochs", "8", "--batch-size", "512"]);
    command.args(["--insecure-reproducible-noise", "5", "--checkpoint"]).arg(path);
    if resume {
        command.arg("--resume");
    }
    command
}

/// Temporary files process `pid` left beside `path`: a write it did not finish.
fn unfinished_writes(path: &Path, pid: u32) -> usize {
    let prefix = format!("{}.tmp{pid}-", path.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count()
}

#[test]
fn a_killed_run_resumes_to_the_end_of_a_run_never_stopped() {
    let scratch = Scratch::new("crash-a_killed_run_resumes_to_the_end_of_a_run_never_stopped");
    let whole = scratch.join("whole.st");
    assert!(train(&whole, false).stdout(Stdio::null()).status().unwrap().success());
    let expected = std::fs::read(&whole).unwrap();
    // A run whose writes pause ends the same; its length sets the kill times.
    let paused = scratch.join("paused.st");
    let start = Instant::now();
    let status =
        train(&paused, false).env("DPSGD_CHECKPOINT_PAUSE_MS", PAUSE_MS.to_string()).stdout(Stdio::null()).status();
    let run_ms = start.elapsed().as_millis() as u64;
    assert!(status.unwrap().success() && std::fs::read(&paused).unwrap() == expected);

    let (mut kills, mut in_writes) = (0, 0);
    for (attempt, percent) in [12, 20, 28, 36, 44, 52, 60, 68, 76, 84].into_iter().enumerate() {
        let after_ms = run_ms * percent / 100;
        let path = scratch.join(format!("killed-{attempt}.st"));
        let child = train(&path, false)
            .env("DPSGD_CHECKPOINT_PAUSE_MS", PAUSE_MS.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        let pid = child.id();
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            continue; // it finished first
        }
        kills += 1;
        in_writes += usize::from(unfinished_writes(&path, pid) > 0);
        // An epoch's line is printed after its checkpoint is written.
        let printed = String::from_utf8_lossy(&output.stdout);
        let epochs_printed = printed.lines().filter(|l| l.starts_with("epoch")).count();
        match path.exists() {
            true => {
                let saved = checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC)
                    .unwrap_or_else(|e| panic!("killed after {after_ms} ms: the checkpoint is not whole: {e}"));
                let state = &saved.state;
                assert!(state.epoch >= epochs_printed, "killed after {after_ms} ms: epochs lost: {state:?}");
                let ledger: u64 = state.privacy_history.iter().map(|p| p.2).sum();
                assert_eq!(ledger, state.step, "killed after {after_ms} ms: the ledger misses steps");
            }
            false => assert_eq!(epochs_printed, 0, "killed after {after_ms} ms: epochs printed, no checkpoint"),
        }
        let resumed = train(&path, path.exists()).stdout(Stdio::null()).output().unwrap();
        assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "killed after {after_ms} ms: the resumed run ended elsewhere"
        );
    }
    eprintln!("{kills} runs killed, {in_writes} of them in a checkpoint write");
    assert!(kills >= 8, "only {kills} of 10 runs were killed before they ended");
    assert!(in_writes >= 3, "only {in_writes} of {kills} kills landed in a checkpoint write");
}
