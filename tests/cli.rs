//! The `dpsgd` command line, end to end.

mod scratch;

use scratch::Scratch;
use std::process::Command;

fn dpsgd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(args).output().expect("running dpsgd");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The README's main job: the default command trains the private FFNN on Adult to at
/// least 80% test accuracy (sigma 1.1, C 1.0).
#[test]
fn the_default_run_trains_privately_to_80_percent() {
    let (ok, out, err) = dpsgd(&[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("private training of ffnn (5352 parameters) on adult: 30162 training / 15060 test examples"),
        "{out}"
    );
    assert!(out.contains("noise multiplier sigma = 1.1000, clipping norm C = 1"), "{out}");
    assert!(out.contains("privacy spent: epsilon = 1.561 at delta = 1e-5"), "{out}");
    let accuracy: f64 = out
        .lines()
        .find(|l| l.starts_with("done:"))
        .and_then(|l| l.split("test accuracy ").nth(1))
        .and_then(|a| a.split('%').next()?.parse().ok())
        .expect("a final accuracy");
    assert!(accuracy >= 80.0, "{out}");
}

#[test]
fn training_prints_epochs_and_privacy_settings() {
    let (ok, out, err) = dpsgd(&["train", "--model", "logreg", "--epochs", "2", "--batch-size", "512", "--seed", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("q = 0.016975"), "{out}");
    assert!(out.contains("118 steps"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("epoch")).count(), 2, "{out}");

    let (ok, out, err) = dpsgd(&["train", "--no-privacy", "--epochs", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains("no privacy"), "{out}");
}

#[test]
fn impossible_settings_fail_with_a_message() {
    for (args, message) in [
        (&["train", "--noise-multiplier", "0"][..], "noise multiplier sigma must be positive"),
        (&["train", "--max-grad-norm", "-1"][..], "clipping norm C must be positive"),
        (&["train", "--batch-size", "40000"][..], "batch size must lie in 1..=30162"),
        (&["train", "--lr", "0"][..], "learning rate must be positive"),
        (&["train", "--model", "resnet"][..], "unknown model `resnet`"),
        (&["train", "--dataset", "mnist"][..], "ffnn trains on adult"),
        (&["train", "--data-dir", "/nonexistent"][..], "/nonexistent/adult/adult.data.gz"),
        (&["bench", "--model", "ffnn", "--batch-size", "0"][..], "batch size must lie in"),
    ] {
        let (ok, _, err) = dpsgd(args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn bench_prints_one_json_object() {
    let (ok, out, err) = dpsgd(&[
        "bench",
        "--model",
        "ffnn",
        "--batch-size",
        "20",
        "--json",
        "--repeats",
        "3",
        "--min-seconds",
        "0.01",
        "--warmup-seconds",
        "0.01",
    ]);
    assert!(ok, "{err}");
    let line = out.trim();
    assert_eq!(out.lines().count(), 1, "{out}");
    for field in [
        "\"model\":\"Ffnn\"",
        "\"params\":5352",
        "\"batch_size\":20",
        "\"private\":true",
        "\"median\":",
        "\"epoch_seconds\":",
        "\"peak_memory_bytes\":",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(line.starts_with('{') && line.ends_with('}'));
}

#[test]
fn peak_prints_the_machines_rate() {
    let (ok, out, err) = dpsgd(&["peak", "--json", "--repeats", "1", "--min-seconds", "0.01"]);
    assert!(ok, "{err}");
    let line = out.trim();
    let rate: f64 = line
        .strip_prefix("{\"f32_peak_gflops\":")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line}"));
    assert!(rate > 0.0, "{line}");
    assert!(line.contains("\"threads\":") && line.contains("\"lanes\":"), "{line}");
}

/// Without a GPU (or without the `cuda` feature) `--device cuda` is a clear error.
#[test]
fn a_missing_gpu_is_an_error_not_a_panic() {
    let (ok, _, err) =
        dpsgd(&["bench", "--device", "cuda", "--model", "logreg", "--batch-size", "20", "--repeats", "1"]);
    if ok {
        eprintln!("a GPU answered here; nothing to check");
        return;
    }
    assert!(err.starts_with("error: ") && (err.contains("GPU") || err.contains("CUDA")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The accountant and the calibration from the command line; the TF Privacy MNIST
/// setting (sigma 1.1, q = 256/60000, 60 epochs) gives epsilon 2.60 at delta 1e-5 with
/// the improved RDP conversion (3.01 with the classic one, as published).
#[test]
fn accountant_and_calibration_commands() {
    let q = format!("{}", 256.0 / 60000.0);
    let (ok, out, err) = dpsgd(&[
        "accountant",
        "--sampling-rate",
        &q,
        "--noise-multiplier",
        "1.1",
        "--steps",
        "14062",
        "--delta",
        "1e-5",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("epsilon = 2.59") || out.starts_with("epsilon = 2.60"), "{out}");

    let (ok, out, err) = dpsgd(&["calibrate", "--target-epsilon", "3", "--sampling-rate", &q, "--steps", "14062"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("sigma = 1.01"), "{out}");

    // The PLD accountant: 2.3816 by Google's dp_accounting on the same setting.
    let (ok, out, err) = dpsgd(&[
        "accountant",
        "--sampling-rate",
        &q,
        "--noise-multiplier",
        "1.1",
        "--steps",
        "14062",
        "--accountant",
        "pld",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("epsilon = 2.38") && out.contains("lies in [2.37"), "{out}");

    let pld = ["--accountant", "pld"];
    for (bad, message) in [
        (
            vec!["accountant", "--sampling-rate", "0", "--noise-multiplier", "1", "--steps", "3"],
            "q must lie in (0, 1], got 0",
        ),
        (vec!["accountant", "--sampling-rate", "1.5", "--noise-multiplier", "1", "--steps", "3"], "got 1.5"),
        (
            vec!["accountant", "--sampling-rate", "0.1", "--noise-multiplier", "0", "--steps", "3"],
            "sigma must be positive",
        ),
        (
            vec!["accountant", "--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "3", "--delta", "1"],
            "delta must lie in (0, 1), got 1",
        ),
        (
            vec!["calibrate", "--target-epsilon", "0.001", "--sampling-rate", "1", "--steps", "1000000"],
            "is out of reach for 1000000 steps",
        ),
        (
            vec!["calibrate", "--target-epsilon", "-1", "--sampling-rate", "0.1", "--steps", "10"],
            "the target epsilon must be positive, got -1",
        ),
        (
            [&["accountant", "--sampling-rate", "0.1", "--noise-multiplier", "-1", "--steps", "3"][..], &pld].concat(),
            "got -1",
        ),
        (
            [
                &[
                    "accountant",
                    "--sampling-rate",
                    "0.1",
                    "--noise-multiplier",
                    "1",
                    "--steps",
                    "3",
                    "--delta",
                    "1e-300",
                ][..],
                &pld,
            ]
            .concat(),
            "too small for the PLD accountant's numerical accuracy; use the RDP accountant",
        ),
    ] {
        let (ok, _, err) = dpsgd(&bad);
        assert!(!ok && err.starts_with("error: invalid setting") && err.contains(message), "{bad:?}: {err}");
    }
}

/// `--target-epsilon` picks sigma before training and the run ends within it; a delta
/// at or above 1/N is refused before training starts.
#[test]
fn training_to_a_target_epsilon() {
    let (ok, out, err) = dpsgd(&["train", "--model", "logreg", "--epochs", "2", "--target-epsilon", "0.5"]);
    assert!(ok, "{err}");
    assert!(out.contains("(calibrated)"), "{out}");
    let spent: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("privacy spent: epsilon = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|e| e.parse().ok())
        .expect("a privacy report");
    assert!(spent <= 0.5 && spent > 0.45, "{out}");

    let (ok, _, err) = dpsgd(&["train", "--epochs", "1", "--delta", "1e-4"]);
    assert!(!ok && err.contains("not below 1/N"), "{err}");
}

/// Saves a private run before its first step (a budget no step fits stops it), so
/// that copies of the checkpoint continue one run under its one secret key.
fn checkpoint_before_the_first_step(args: &[&str], path: &std::path::Path) {
    let (ok, out, err) = dpsgd(&[args, &[path.to_str().unwrap(), "--max-epsilon", "1e-9"]].concat());
    assert!(ok && out.contains("stopped after 0 steps"), "{out}{err}");
}

/// Ctrl-C stops a run with a checkpoint; `--resume` finishes it with the same weights
/// (the final checkpoints are byte for byte the same) as a run never stopped, under
/// secret randomness (the checkpoint carries the run's key).
#[test]
fn ctrl_c_then_resume_equals_an_uninterrupted_run() {
    let dir = Scratch::new("cli-resume");
    let (whole, parts) = (dir.join("whole.safetensors"), dir.join("parts.safetensors"));
    let args = ["train", "--model", "logreg", "--epochs", "60", "--batch-size", "512", "--checkpoint"];
    checkpoint_before_the_first_step(&args, &whole);
    std::fs::copy(&whole, &parts).unwrap();
    let (ok, _, err) = dpsgd(&[&args[..], &[whole.to_str().unwrap(), "--resume"]].concat());
    assert!(ok, "{err}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_dpsgd"))
        .args(args)
        .arg(&parts)
        .arg("--resume")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running dpsgd");
    // Interrupt once the handler is in place (it says so), well before the 60 epochs end.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out += &line;
        out.push('\n');
        if line.contains("Ctrl-C stops the run") {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            break;
        }
    }
    out.extend(lines.map(|l| l.unwrap() + "\n"));
    assert!(child.wait().unwrap().success());
    assert!(out.contains("stopped after") && !out.contains("epoch  60/60"), "the interrupt was not observed: {out}");
    let (ok, resumed, err) = dpsgd(&[&args[..], &[parts.to_str().unwrap(), "--resume"]].concat());
    assert!(ok, "{err}");
    assert!(resumed.contains("resuming from"), "{resumed}");
    assert_eq!(std::fs::read(&parts).unwrap(), std::fs::read(&whole).unwrap());
}

/// `--metrics` writes a JSON line per step and per epoch; `--quiet` keeps only the
/// summary; the training options (Adam, schedules, physical batches, the budget)
/// run from the command line.
#[test]
fn metrics_quiet_and_training_options() {
    let scratch = Scratch::new("cli-metrics");
    let path = scratch.join("metrics.jsonl");
    let (ok, out, err) = dpsgd(&[
        "train",
        "--model",
        "logreg",
        "--epochs",
        "2",
        "--quiet",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--lr-schedule",
        "cosine",
        "--weight-decay",
        "1e-4",
        "--physical-batch-size",
        "100",
        "--metrics",
        path.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(!out.lines().any(|l| l.starts_with("epoch")), "{out}");
    assert!(out.contains("privacy spent"), "{out}");
    let metrics = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.contains("\"type\":\"step\"")).count(), 236);
    assert_eq!(lines.iter().filter(|l| l.contains("\"type\":\"epoch\"")).count(), 2);
    // Only what the guarantee covers, unless asked.
    for uncovered in ["not_private", "train_loss", "batch_size", "examples"] {
        assert!(!metrics.contains(uncovered), "{uncovered} in {metrics}");
    }
    assert!(lines.last().unwrap().contains("\"test_accuracy\":0.8"), "{}", lines.last().unwrap());

    let (ok, out, _) = dpsgd(&["train", "--model", "logreg", "--epochs", "1", "--shuffled-batches"]);
    assert!(ok && out.contains("WARNING: shuffled batches"), "{out}");
    let (ok, out, _) = dpsgd(&["train", "--model", "logreg", "--epochs", "50", "--max-epsilon", "1.0"]);
    assert!(ok && out.contains("the epsilon budget 1 is spent"), "{out}");
}

/// A run stopped by its epsilon budget continues under a larger one, ending as a run
/// that never stopped.
#[test]
fn a_run_stopped_by_its_budget_resumes_under_a_larger_one() {
    let dir = Scratch::new("cli-budget");
    let (whole, parts) = (dir.join("whole.st"), dir.join("parts.st"));
    let run = |extra: &[&str], path: &std::path::Path| {
        let args = ["train", "--model", "logreg", "--epochs", "4", "--quiet", "--checkpoint", path.to_str().unwrap()];
        let (ok, out, err) = dpsgd(&[&args[..], extra].concat());
        assert!(ok, "{err}");
        out
    };
    run(&["--max-epsilon", "1e-9"], &whole);
    std::fs::copy(&whole, &parts).unwrap();
    run(&["--resume"], &whole);
    assert!(run(&["--resume", "--max-epsilon", "0.9"], &parts).contains("budget 0.9 is spent"));
    run(&["--resume"], &parts);
    assert_eq!(std::fs::read(&parts).unwrap(), std::fs::read(&whole).unwrap());
}

/// The run's secret key is in its checkpoint and nowhere else: not in what it prints,
/// its metrics, or the parameters `dpsgd export` writes from the checkpoint.
#[test]
fn the_secret_key_stays_in_the_checkpoint() {
    use dpsgd::models::LogisticRegression;
    use dpsgd::runtime::PrivateModel;
    use dpsgd::runtime::train::checkpoint;
    let dir = Scratch::new("cli-key");
    let (ckpt, metrics, params) = (dir.join("run.st"), dir.join("metrics.jsonl"), dir.join("params.st"));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, train_out, train_err) = dpsgd(&[
        "train",
        "--model",
        "logreg",
        "--epochs",
        "2",
        "--uncovered-stats",
        "--checkpoint",
        &path(&ckpt),
        "--metrics",
        &path(&metrics),
    ]);
    assert!(ok, "{train_err}");
    assert!(train_out.contains("keyed from the operating system's entropy"), "{train_out}");
    assert!(train_out.contains("train loss") && train_out.contains("(not private)"), "{train_out}");
    let (ok, export_out, export_err) =
        dpsgd(&["export", "--model", "logreg", "--checkpoint", &path(&ckpt), "--out", &path(&params)]);
    assert!(ok, "{export_err}");

    let saved = checkpoint::read::<f32>(&ckpt, &LogisticRegression::<f32>::SPEC).unwrap();
    let key = saved.key.expect("a private run's checkpoint holds its key");
    let hex = key.to_hex();
    let bytes = key.bytes();
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&std::fs::read(&ckpt).unwrap(), hex.as_bytes()), "the checkpoint holds the key");
    let outputs = [
        ("train's output", [train_out.as_bytes(), train_err.as_bytes()].concat()),
        ("export's output", [export_out.as_bytes(), export_err.as_bytes()].concat()),
        ("the metrics", std::fs::read(&metrics).unwrap()),
        ("the exported parameters", std::fs::read(&params).unwrap()),
    ];
    for (what, output) in &outputs {
        for needle in [hex.as_bytes(), hex.to_uppercase().as_bytes(), &bytes[..8], &bytes[8..16], &bytes[24..]] {
            assert!(!contains(output, needle), "{what} hold the secret key");
        }
    }
    // The export is the checkpoint's parameters alone.
    let exported = dpsgd::runtime::safetensors::SafeTensors::read(&params).unwrap();
    let spec = LogisticRegression::<f32>::SPEC;
    let from_export = dpsgd::runtime::interop::from_torch::<f32>(&spec, &exported, &params).unwrap();
    assert_eq!(from_export, saved.params);
    assert!(exported.metadata.is_empty() && exported.tensors.len() == spec.params.len(), "{:?}", exported.metadata);
}

/// `--insecure-reproducible-noise` repeats a run bit for bit and says, beside the
/// epsilon, that the epsilon does not hold; default runs with one seed end apart.
#[test]
fn insecure_reproducible_noise_repeats_and_warns() {
    let dir = Scratch::new("cli-insecure");
    let run = |name: &str, extra: &[&str]| {
        let path = dir.join(name);
        let args =
            ["train", "--model", "logreg", "--epochs", "1", "--seed", "4", "--checkpoint", path.to_str().unwrap()];
        let (ok, out, err) = dpsgd(&[&args[..], extra].concat());
        assert!(ok, "{err}");
        (out, std::fs::read(&path).unwrap())
    };
    let (out, a) = run("a.st", &["--insecure-reproducible-noise", "3"]);
    assert!(out.contains("the epsilon reported DOES NOT HOLD"), "{out}");
    let privacy_report = out.split("privacy spent").nth(1).expect("a privacy report");
    assert!(privacy_report.contains("DOES NOT HOLD"), "{out}");
    assert_eq!(run("b.st", &["--insecure-reproducible-noise", "3"]).1, a);
    let (secret_out, c) = run("c.st", &[]);
    let (_, d) = run("d.st", &[]);
    assert!(!secret_out.contains("DOES NOT HOLD"), "{secret_out}");
    assert_ne!(c, d, "two default runs with one seed trained alike");
}

/// `dpsgd plan` shows each layer's norm strategy and the figures behind it.
#[test]
fn plan_shows_the_strategy_of_every_layer() {
    let (ok, out, err) = dpsgd(&["plan", "--model", "mnist-cnn"]);
    assert!(ok, "{err}");
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(line("conv1").contains("materialized") && line("conv1").contains("16x14x14"), "{out}");
    // At 25 positions the Grams cost less than the gradient, but the ghost way forms
    // the gradient anyway for the clipped sum.
    assert!(line("conv2").contains("materialized") && line("conv2").contains("   25 "), "{out}");
    assert!(line("fc1").contains("ghost"), "{out}");
    let (ok, out, err) = dpsgd(&["plan", "--model", "cifar10"]);
    assert!(ok, "{err}");
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(line("conv6").contains("materialized") && line("conv7").contains("ghost"), "{out}");

    // The LSTM's recurrent weights: 256 steps make the Gram matrices dearer than the
    // weight gradients themselves.
    let (ok, out, err) = dpsgd(&["plan", "--model", "lstm"]);
    assert!(ok, "{err}");
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(line("lstm ").contains("materialized") && line("lstm ").contains("119865344"), "{out}");
    assert!(line("embedding").contains("ghost"), "{out}");
}

/// `--dataset synthetic` trains any model on data of its shape that it can learn; a
/// dataset another model needs is refused.
#[test]
fn synthetic_data_for_any_model() {
    for model in ["ffnn", "logreg"] {
        let (ok, out, err) = dpsgd(&["train", "--model", model, "--dataset", "synthetic", "--epochs", "3", "--quiet"]);
        assert!(ok, "{err}");
        assert!(out.contains("on synthetic: 10000 training / 2000 test examples"), "{out}");
        let accuracy: f64 = out
            .lines()
            .find_map(|l| l.split("test accuracy ").nth(1))
            .and_then(|a| a.split('%').next()?.parse().ok())
            .expect("an accuracy");
        assert!(accuracy > 75.0, "{model}: {out}");
    }
    let (ok, _, err) = dpsgd(&["train", "--model", "ffnn", "--dataset", "mnist"]);
    assert!(!ok && err.contains("ffnn trains on adult"), "{err}");
}

/// Both IMDB models train from Keras' `imdb.npz` in the data folder (here a tiny file
/// numpy wrote); without the data the error says where to put it.
#[test]
fn imdb_models_train_from_a_keras_npz() {
    let dir = Scratch::new("cli-imdb");
    std::fs::create_dir_all(dir.join("imdb")).unwrap();
    let data = dir.to_str().unwrap();
    let (ok, _, err) = dpsgd(&["train", "--model", "lstm", "--dataset", "imdb", "--data-dir", data]);
    assert!(!ok && err.contains("imdb.npz") && err.contains("aclImdb"), "{err}");

    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/dpsgd-runtime/testdata/imdb_small_compressed.npz");
    std::fs::copy(fixture, dir.join("imdb").join("imdb.npz")).unwrap();
    for model in ["lstm", "embed"] {
        let (ok, out, err) = dpsgd(&[
            "train",
            "--model",
            model,
            "--dataset",
            "imdb",
            "--data-dir",
            data,
            "--batch-size",
            "2",
            "--epochs",
            "2",
            "--delta",
            "0.1",
            "--quiet",
        ]);
        assert!(ok, "{model}: {err}");
        assert!(out.contains("on imdb: 3 training / 2 test examples"), "{out}");
        assert!(out.contains("privacy spent: epsilon"), "{out}");
    }
}

/// `dpsgd audit` prints the proven lower bound beside the claimed epsilon, and says
/// what is wrong with impossible settings.
#[test]
fn audit_prints_its_bound_beside_the_claim() {
    let (ok, out, err) = dpsgd(&["audit", "--insecure-reproducible-noise", "1", "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!((report["canaries"].as_u64(), report["guesses"].as_u64()), (Some(4096), Some(200)));
    let (claimed, bound) = (report["claimed_epsilon"].as_f64().unwrap(), report["lower_bound"].as_f64().unwrap());
    assert!((claimed - 3.54).abs() < 0.01 && bound > 0.5 && bound < claimed, "{out}");
    assert_eq!(report["refuted"], false);

    let (ok, out, err) = dpsgd(&["audit", "--noise-multiplier", "4"]);
    assert!(ok && out.contains("the claim stands"), "{out}{err}");
    for (args, message) in [
        (&["audit", "--canaries", "5000"][..], "the audit takes 2..=4096 canaries, got 5000"),
        (&["audit", "--guesses", "1"][..], "make 2..=4096 guesses"),
        (&["audit", "--noise-multiplier", "0"][..], "noise multiplier sigma must be positive"),
        (&["audit", "--batch-size", "3000"][..], "fewer than the batch size 3000"),
    ] {
        let (ok, _, err) = dpsgd(args);
        assert!(!ok && err.contains(message), "{args:?}: {err}");
    }
}

/// Writes `x` (`[n, width]`, f32) and `y` to a safetensors file.
fn tensor_file(path: &std::path::Path, x: &[f32], width: usize, y: &[i64]) {
    use dpsgd::runtime::safetensors::{SafeTensors, Tensor};
    let mut file = SafeTensors::default();
    file.insert("x", Tensor::from_floats(vec![x.len() / width, width], x));
    file.insert("y", Tensor::from_i64(vec![y.len()], y));
    file.write(path).unwrap();
}

/// `--train-data` and `--test-data` train on your own examples (safetensors `x`, `y`):
/// a linearly separable set is learnt, and the report says what the guarantee covers.
#[test]
fn training_on_your_own_examples() {
    let dir = Scratch::new("cli-own-data");
    let examples = |n: usize, salt: usize| -> (Vec<f32>, Vec<i64>) {
        let x: Vec<f32> = (0..n * 104).map(|j| (((j + salt) * 7919 % 201) as f32 - 100.0) / 100.0).collect();
        let y = (0..n).map(|r| i64::from(x[r * 104] + 0.5 * x[r * 104 + 1] > 0.0)).collect();
        (x, y)
    };
    let (train, test) = (dir.join("train.safetensors"), dir.join("test.safetensors"));
    let (x, y) = examples(4000, 1);
    tensor_file(&train, &x, 104, &y);
    let (x, y) = examples(1000, 5);
    tensor_file(&test, &x, 104, &y);
    let (ok, out, err) = dpsgd(&[
        "train",
        "--model",
        "logreg",
        "--epochs",
        "5",
        "--batch-size",
        "200",
        "--train-data",
        train.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("4000 training / 1000 test examples"), "{out}");
    assert!(out.contains("the guarantee covers the examples of the training file as given"), "{out}");
    let accuracy: f64 = out
        .lines()
        .find(|l| l.starts_with("done:"))
        .and_then(|l| l.split("test accuracy ").nth(1)?.split('%').next()?.parse().ok())
        .expect("a final accuracy");
    assert!(accuracy > 90.0, "{out}");
}

/// numpy's `.npz` files (`numpy.savez`, and `savez_compressed` with float64 features
/// and int32 labels) train as safetensors files do.
#[test]
fn training_on_numpy_files() {
    let npz = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("dpsgd-runtime/testdata/npz")
            .join(name)
            .display()
            .to_string()
    };
    let (train, test) = (npz("train.npz"), npz("test_compressed.npz"));
    let args = [
        "train",
        "--model",
        "ffnn",
        "--epochs",
        "20",
        "--batch-size",
        "40",
        "--train-data",
        &train,
        "--test-data",
        &test,
    ];
    let (ok, out, err) = dpsgd(&args);
    assert!(ok, "{err}");
    assert!(out.contains("400 training / 100 test examples"), "{out}");
    let accuracy: f64 = out
        .lines()
        .find(|l| l.starts_with("done:"))
        .and_then(|l| l.split("test accuracy ").nth(1)?.split('%').next()?.parse().ok())
        .expect("a final accuracy");
    // Labels from a linear rule of the first ten features: chance is about 50%.
    assert!(accuracy > 70.0, "{out}");
}
