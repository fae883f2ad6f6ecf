//! Data-parallel training over MPI, in real processes on this machine, talking over
//! loopback only: two and three processes train what one process trains; the noise
//! enters the sum once (a planted bug that splits it across the ranks is caught); an
//! error on the ranks ends the job with its message; a killed rank ends the job and
//! leaves its last checkpoint whole, which another number of processes resumes to the
//! end a run never stopped reaches; Ctrl-C caught by one process stops them all before
//! the same step; a hung rank ends the job within the timeout.
//!
//! Needs Open MPI's `mpirun` (Debian: openmpi-bin), as the `mpi` feature needs its
//! library.

#![cfg(feature = "mpi")]

mod scratch;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dpsgd::models::{Ffnn, LogisticRegression, MnistCnn};
use dpsgd::runtime::PrivateModel;
use dpsgd::runtime::spec::ModelSpec;
use dpsgd::runtime::train::checkpoint::{self, Checkpoint};
use scratch::Scratch;

/// How far the parameters of runs on different numbers of processes may lie apart.
/// They take the same batches and the same noise, and differ only in the order of the
/// gradient sums, a few f32 roundings (about 1e-7 relative) per step; the runs below
/// stay within 1e-6. The noise moves every parameter by lr sigma C / B (2e-3 to 1e-2
/// here) each step, so noise added twice, split, or left out lands far outside.
const TOLERANCE: f32 = 1e-5;

/// `dpsgd train` with `args` on `ranks` processes of one MPI job (`None`: alone,
/// without a launcher): oversubscribed where there are more processes than cores, one
/// thread each, every byte between them over shared memory or loopback TCP.
fn dpsgd(ranks: Option<usize>, args: &[&str]) -> Command {
    let binary = env!("CARGO_BIN_EXE_dpsgd");
    let mut command = match ranks {
        None => Command::new(binary),
        Some(n) => dpsgd::testing::mpirun(n, binary),
    };
    command.env("RAYON_NUM_THREADS", "1").args(["train", "--quiet"]).args(args);
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("mpirun (Debian: openmpi-bin) and the dpsgd binary");
    assert!(output.status.success(), "{command:?} failed:\n{}", text(&output.stderr));
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The largest difference between two checkpoints' parameters, after checking that
/// both hold the same run at the same step.
fn difference(a: &Checkpoint<f32>, b: &Checkpoint<f32>) -> f32 {
    assert_eq!(a.state.step, b.state.step, "the runs stopped at different steps");
    assert_eq!(a.state.privacy_history, b.state.privacy_history);
    a.params.iter().zip(&b.params).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The lines of the privacy report.
fn privacy_report(output: &Output) -> Vec<String> {
    let stdout = text(&output.stdout);
    let start = stdout.lines().position(|l| l.starts_with("privacy spent")).expect("a privacy report");
    stdout.lines().skip(start).take(2).map(String::from).collect()
}

/// Trains `args` alone and on 2 and 3 processes; each run's final checkpoint must
/// match the one-process run's within the tolerance, its privacy report exactly.
fn train_alike(spec: &ModelSpec, name: &str, args: &[&str]) {
    let scratch = Scratch::new("distributed-train_alike");
    let path = |ranks: usize| scratch.join(format!("{name}-{ranks}.ck"));
    let alone = run(dpsgd(None, args).arg("--checkpoint").arg(path(1)));
    let expected = checkpoint::read::<f32>(&path(1), spec).unwrap();
    for ranks in [2, 3] {
        let output = run(dpsgd(Some(ranks), args).arg("--checkpoint").arg(path(ranks)));
        let got = checkpoint::read::<f32>(&path(ranks), spec).unwrap();
        let difference = difference(&got, &expected);
        assert!(difference <= TOLERANCE, "{name} on {ranks} processes: parameters {difference} from one process'");
        assert_eq!(privacy_report(&output), privacy_report(&alone), "{name} on {ranks} processes");
    }
}

#[test]
fn two_and_three_processes_train_what_one_does() {
    let scratch = Scratch::new("distributed-two_and_three_processes_train_what_one_does");
    let noise = ["--insecure-reproducible-noise", "5"];
    // Adult (shipped data): 118 steps an epoch.
    let ffnn = [&["--model", "ffnn", "--epochs", "2"][..], &noise].concat();
    train_alike(&Ffnn::<f32>::SPEC, "ffnn", &ffnn);
    // Convolutions, in physical batches of at most 16.
    let cnn = ["--model", "mnist-cnn", "--dataset", "synthetic", "--synthetic-examples", "600", "--epochs", "1"];
    let cnn = [&cnn[..], &["--batch-size", "60", "--physical-batch-size", "16", "--lr", "0.1"], &noise].concat();
    train_alike(&MnistCnn::<f32>::SPEC, "cnn", &cnn);
    // Expected batches of 2 examples: most steps leave some processes no example of
    // their own, and some leave every process none (noise-only steps).
    let tiny = ["--model", "logreg", "--dataset", "synthetic", "--synthetic-examples", "300", "--epochs", "1"];
    train_alike(&LogisticRegression::<f32>::SPEC, "tiny", &[&tiny[..], &["--batch-size", "2"], &noise].concat());
    // Without privacy: shuffled batches, the mean gradient.
    let baseline = ["--model", "logreg", "--epochs", "1", "--no-privacy"];
    let path = |ranks: usize| scratch.join(format!("baseline-{ranks}.ck"));
    run(dpsgd(None, &baseline).arg("--checkpoint").arg(path(1)));
    run(dpsgd(Some(3), &baseline).arg("--checkpoint").arg(path(3)));
    let read = |ranks| checkpoint::read::<f32>(&path(ranks), &LogisticRegression::<f32>::SPEC).unwrap();
    assert!(difference(&read(3), &read(1)) <= TOLERANCE);
}

/// Planted bugs: every process adds the whole noise vector (the sum holds it once per
/// process), or its blocks at sigma C divided by the process count (the sum holds too
/// little). The comparison with one process must catch both.
#[cfg(feature = "planted-bugs")]
#[test]
fn noise_added_once_per_process_or_divided_among_them_is_caught() {
    let scratch = Scratch::new("distributed-noise_added_once_per_process_or_divided_among_them_is_caught");
    let args = ["--model", "ffnn", "--epochs", "1", "--insecure-reproducible-noise", "5", "--checkpoint"];
    let alone = scratch.join("planted-1.ck");
    run(dpsgd(None, &args).arg(&alone));
    let read = |path: &Path| checkpoint::read::<f32>(path, &Ffnn::<f32>::SPEC).unwrap();
    for bug in ["NoiseOncePerRank", "NoiseDividedByRanks"] {
        let planted = scratch.join(format!("{bug}.ck"));
        run(dpsgd(Some(2), &args).arg(&planted).env("DPSGD_PLANTED_BUG", bug));
        let difference = difference(&read(&planted), &read(&alone));
        assert!(difference > 100.0 * TOLERANCE, "{bug} went unnoticed: parameters {difference} apart");
    }
}

#[test]
fn an_error_on_the_processes_ends_the_job_with_its_message() {
    let started = Instant::now();
    let args = ["--model", "logreg", "--dataset", "synthetic", "--synthetic-examples", "2", "--batch-size", "1"];
    let output = dpsgd(Some(3), &args).output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("2 training examples cannot be shared among 3 processes: use at most 2"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Logistic regression on Adult: 8 epochs of 59 steps, a checkpoint after each; its
/// writes pause halfway (the `slow-checkpoints` feature), so that the run lasts and
/// kills can land in a write.
#[cfg(feature = "slow-checkpoints")]
fn long_run(ranks: Option<usize>, path: &Path, extra: &[&str]) -> Command {
    let args = ["--model", "logreg", "--epochs", "8", "--batch-size", "512", "--insecure-reproducible-noise", "5"];
    let mut command = dpsgd(ranks, &args);
    command.arg("--checkpoint").arg(path).args(extra).env("DPSGD_CHECKPOINT_PAUSE_MS", "300");
    command
}

/// The process of rank `rank` that `mpirun` started.
#[cfg(feature = "slow-checkpoints")]
fn rank_process(mpirun: &std::process::Child, rank: usize) -> Option<u32> {
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1));
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        parent == Some(&mpirun.id().to_string()) && environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes())
    })
}

/// Starts `command` and sends `signal` to its rank 1 once `path` holds a checkpoint
/// of at least one epoch; returns the job's output and how long it took to end after.
#[cfg(feature = "slow-checkpoints")]
fn signal_rank_one(mut command: Command, path: &Path, signal: &str) -> (Output, Duration) {
    let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no checkpoint after two minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let pid = rank_process(&child, 1).expect("rank 1 is running");
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
    let signalled = Instant::now();
    let output = child.wait_with_output().unwrap();
    // A stopped rank the launcher left behind.
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(std::process::Stdio::null()).status();
    (output, signalled.elapsed())
}

#[cfg(feature = "slow-checkpoints")]
#[test]
fn a_killed_rank_ends_the_job_and_another_process_count_resumes_it() {
    let scratch = Scratch::new("distributed-a_killed_rank_ends_the_job_and_another_process_count_resumes_it");
    let whole = scratch.join("whole.ck");
    run(&mut long_run(None, &whole, &[]));
    let expected = checkpoint::read::<f32>(&whole, &LogisticRegression::<f32>::SPEC).unwrap();

    let path = scratch.join("killed.ck");
    let (output, took) = signal_rank_one(long_run(Some(2), &path, &[]), &path, "-KILL");
    assert!(!output.status.success(), "the job went on without rank 1");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("process rank 1") && stderr.contains("signal 9"), "{stderr}");
    assert!(took < Duration::from_secs(30), "the job took {took:?} to end");

    let saved = checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC).expect("a whole checkpoint");
    assert!(saved.state.step > 0 && saved.state.step < expected.state.step, "{:?}", saved.state);
    run(&mut long_run(Some(3), &path, &["--resume"]));
    let resumed = checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC).unwrap();
    let difference = difference(&resumed, &expected);
    assert!(difference <= TOLERANCE, "resumed on 3 processes: parameters {difference} from a run never stopped");
}

/// Ctrl-C caught by one process (SIGINT to rank 1 alone): every process stops before
/// the same step, rank 0 writes the checkpoint, the job ends well, and resuming it
/// ends where a run never stopped ends.
#[cfg(feature = "slow-checkpoints")]
#[test]
fn a_stop_asked_of_one_process_stops_them_all_at_the_same_step() {
    let scratch = Scratch::new("distributed-a_stop_asked_of_one_process_stops_them_all_at_the_same_step");
    let whole = scratch.join("unstopped.ck");
    run(&mut long_run(None, &whole, &[]));
    let expected = checkpoint::read::<f32>(&whole, &LogisticRegression::<f32>::SPEC).unwrap();

    let path = scratch.join("stopped.ck");
    // A broken agreement leaves a process waiting: the timeout makes that a failure.
    let (output, _) = signal_rank_one(long_run(Some(2), &path, &["--collective-timeout", "20"]), &path, "-INT");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("the run is saved in") && stdout.contains("continue it with --resume"), "{stdout}");
    let saved = checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC).unwrap();
    assert!(saved.state.step < expected.state.step, "the run did not stop: {:?}", saved.state);
    run(&mut long_run(Some(2), &path, &["--resume"]));
    let resumed = checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC).unwrap();
    assert!(difference(&resumed, &expected) <= TOLERANCE);
}

#[cfg(feature = "slow-checkpoints")]
#[test]
fn a_hung_rank_ends_the_job_within_the_timeout() {
    let scratch = Scratch::new("distributed-a_hung_rank_ends_the_job_within_the_timeout");
    let path = scratch.join("hung.ck");
    let command = long_run(Some(2), &path, &["--collective-timeout", "3"]);
    let (output, took) = signal_rank_one(command, &path, "-STOP");
    assert!(!output.status.success(), "the job went on without rank 1");
    let stderr = text(&output.stderr);
    let message = "rank 0: no answer from the other processes for 3 s";
    assert!(stderr.contains(message) && stderr.contains("one of them died or hangs"), "{stderr}");
    // The timeout, a watchdog tick, a checkpoint write in progress and the launcher's
    // teardown.
    assert!(took < Duration::from_secs(20), "the job took {took:?} to end");
    checkpoint::read::<f32>(&path, &LogisticRegression::<f32>::SPEC).expect("a whole checkpoint");
}
