//! Bad input, one table: every case runs the `dpsgd` command line and must fail with
//! an error that says what is wrong (the expected words), never a panic, a hang or a
//! success. Data files are written fresh for each case: truncated, empty, of the wrong
//! magic or shape, with non-numeric fields or too few labels.

mod scratch;

use scratch::Scratch;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The folder of the cases' folders, removed when the test ends.
const FOLDER: &str = "bad-input";

/// A folder of its own for a case's files.
fn folder(name: &str) -> PathBuf {
    let dir = Scratch::path_of(FOLDER).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ADULT_ROW: &str = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K";

/// A data folder whose Adult files hold `train` and a valid one-row test set.
fn adult_dir(name: &str, train: &str) -> PathBuf {
    let dir = folder(name);
    std::fs::create_dir_all(dir.join("adult")).unwrap();
    std::fs::write(dir.join("adult/adult.data"), train).unwrap();
    std::fs::write(dir.join("adult/adult.test"), format!("{ADULT_ROW}.\n")).unwrap();
    dir
}

/// IDX files of `n` MNIST images (`rows` x `cols`) and `labels`, with the given magics.
fn mnist_dir(name: &str, image_magic: u32, rows: u32, cols: u32, n: u32, labels: &[u8], truncate: usize) -> PathBuf {
    let dir = folder(name);
    let mnist = dir.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let mut images = [image_magic, n, rows, cols].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
    images.resize(images.len() + (n * rows * cols) as usize, 7);
    images.truncate(images.len() - truncate);
    let mut label_file = [0x801u32, labels.len() as u32].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
    label_file.extend_from_slice(labels);
    for split in ["train", "t10k"] {
        std::fs::write(mnist.join(format!("{split}-images-idx3-ubyte")), &images).unwrap();
        std::fs::write(mnist.join(format!("{split}-labels-idx1-ubyte")), &label_file).unwrap();
    }
    dir
}

/// A parameter file for `dpsgd grads` from `init`, edited by `edit` (a Python-free
/// way: the file is rewritten through the library's safetensors type).
fn params_file(name: &str, edit: impl FnOnce(&mut dpsgd::runtime::safetensors::SafeTensors)) -> PathBuf {
    use dpsgd::runtime::PrivateModel;
    let path = folder(name).join("params.safetensors");
    let model = dpsgd::models::Ffnn::<f32>::init(0);
    let mut file = dpsgd::runtime::interop::to_torch(&dpsgd::models::Ffnn::<f32>::SPEC, model.params());
    edit(&mut file);
    file.write(&path).unwrap();
    path
}

/// A 1-D tensor of 64-bit integers.
fn i64_tensor(values: &[i64]) -> dpsgd::runtime::safetensors::Tensor {
    use dpsgd::runtime::safetensors::Tensor;
    Tensor::from_i64(vec![values.len()], values)
}

/// A batch file for `dpsgd grads` on the FFNN, its second label `label` and its
/// feature 17 of row 1 `feature`.
fn batch_file(name: &str, label: i64, feature: f32) -> PathBuf {
    use dpsgd::runtime::safetensors::{SafeTensors, Tensor};
    let path = folder(name).join("batch.safetensors");
    let mut file = SafeTensors::default();
    let mut x = [0.5f32; 208];
    x[104 + 17] = feature;
    file.insert("x", Tensor::from_floats(vec![2, 104], &x));
    file.insert("y", i64_tensor(&[0, label]));
    file.write(&path).unwrap();
    path
}

/// A checkpoint in `dir` of a logistic-regression run of `epochs` (and `extra`
/// settings), with the arguments that wrote it (the checkpoint's path last).
fn checkpoint(dir: &Path, epochs: &str, extra: &[&str]) -> (PathBuf, Vec<String>) {
    let path = dir.join("run.safetensors");
    let mut args: Vec<String> = ["train", "--model", "logreg", "--epochs", epochs, "--batch-size", "512", "--quiet"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    args.extend(["--checkpoint".to_string(), path.to_str().unwrap().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (path, args)
}

fn s(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn every_bad_input_is_a_clear_error() {
    let _scratch = Scratch::new(FOLDER);
    let mut cases: Vec<(String, Vec<String>, &str)> = Vec::new();
    let mut case = |what: &str, args: &[&str], message: &'static str| {
        cases.push((what.to_string(), args.iter().map(|a| a.to_string()).collect(), message));
    };

    // Settings of `train`.
    case("sigma 0", &["train", "--noise-multiplier", "0"], "noise multiplier sigma must be positive");
    case("sigma < 0", &["train", "--noise-multiplier", "-1"], "noise multiplier sigma must be positive");
    case("sigma NaN", &["train", "--noise-multiplier", "NaN"], "must be positive and finite, got NaN");
    case("C 0", &["train", "--max-grad-norm", "0"], "clipping norm C must be positive");
    case("C infinite", &["train", "--max-grad-norm", "inf"], "clipping norm C must be positive and finite, got inf");
    case("batch 0", &["train", "--batch-size", "0"], "the batch size must lie in 1..=30162");
    case("batch > N", &["train", "--batch-size", "40000"], "the batch size must lie in 1..=30162");
    case("no epochs", &["train", "--epochs", "0"], "train for at least one epoch");
    case("lr 0", &["train", "--lr", "0"], "learning rate must be positive");
    case("lr < 0", &["train", "--lr", "-0.1"], "learning rate must be positive");
    case("momentum 1.5", &["train", "--momentum", "1.5"], "momentum must lie in [0, 1), got 1.5");
    case("weight decay < 0", &["train", "--weight-decay", "-1"], "weight decay must be >= 0");
    case("delta 0", &["train", "--delta", "0"], "delta must lie in (0, 1), got 0");
    case("delta >= 1/N", &["train", "--delta", "1e-3"], "is not below 1/N");
    case("epsilon out of reach", &["train", "--target-epsilon", "1e-6"], "epsilon");
    case("epsilon < 0", &["train", "--target-epsilon", "-1"], "epsilon");
    case("budget 0", &["train", "--max-epsilon", "0"], "the epsilon budget must be positive, got 0");
    case("physical batch 0", &["train", "--physical-batch-size", "0"], "the physical batch size must be at least 1");
    case(
        "secure noise rounding 0",
        &["train", "--secure-noise", "--secure-noise-rounding", "0"],
        "the secure noise's rounding allowance must lie in (0, 0.5], got 0",
    );
    case("secure noise rounding without secure noise", &["train", "--secure-noise-rounding", "0.1"], "--secure-noise");
    case(
        "secure noise the grid cannot serve",
        &["train", "--secure-noise", "--noise-multiplier", "1e-9"],
        "secure noise cannot serve sigma = 0.000000001: the integer grid's sensitivity would exceed",
    );
    case(
        "secure noise on the GPU",
        &["train", "--secure-noise", "--device", "cuda"],
        "secure noise does not run on the GPU yet; train with --device cpu",
    );
    case(
        "secure noise by the PLD",
        &[
            "accountant",
            "--sampling-rate",
            "0.1",
            "--noise-multiplier",
            "1",
            "--steps",
            "10",
            "--secure-noise",
            "--accountant",
            "pld",
        ],
        "the PLD accountant covers the continuous Gaussian only",
    );
    case("unknown model", &["train", "--model", "resnet"], "unknown model `resnet`; available:");
    case("another model's data", &["train", "--dataset", "mnist"], "ffnn trains on adult");
    case("no data folder", &["train", "--data-dir", "/nonexistent"], "/nonexistent/adult/adult.data.gz");
    case("unknown optimizer", &["train", "--optimizer", "rmsprop"], "invalid value 'rmsprop'");
    case("unknown schedule", &["train", "--lr-schedule", "linear"], "invalid value 'linear'");
    case("resume without a checkpoint", &["train", "--resume"], "--checkpoint");
    case(
        "noise seed without privacy",
        &["train", "--no-privacy", "--insecure-reproducible-noise", "1"],
        "cannot be used with",
    );
    case(
        "resume a missing checkpoint",
        &["train", "--checkpoint", "/nonexistent/c.st", "--resume"],
        "/nonexistent/c.st",
    );
    case("IMDB not there", &["train", "--model", "embed", "--data-dir", "/tmp"], "IMDB is not shipped");
    // Other commands.
    case("bench batch 0", &["bench", "--model", "ffnn", "--batch-size", "0"], "batch size must lie in");
    case(
        "accountant q > 1",
        &["accountant", "--sampling-rate", "1.5", "--noise-multiplier", "1", "--steps", "10"],
        "(0, 1]",
    );
    case(
        "accountant sigma 0",
        &["accountant", "--sampling-rate", "0.1", "--noise-multiplier", "0", "--steps", "10"],
        "sigma",
    );
    case(
        "accountant delta 2",
        &["accountant", "--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "2"],
        "delta must lie in (0, 1), got 2",
    );
    case(
        "calibrate epsilon 0",
        &["calibrate", "--target-epsilon", "0", "--sampling-rate", "0.01", "--steps", "100"],
        "epsilon",
    );
    case("peak without time", &["peak", "--min-seconds", "0"], "--min-seconds in (0, 60] (got 5 and 0)");
    case("audit too many canaries", &["audit", "--canaries", "5000"], "the audit takes 2..=4096 canaries, got 5000");
    case("audit one guess", &["audit", "--guesses", "1"], "make 2..=4096 guesses");
    case("init of an unknown model", &["init", "--model", "resnet", "--out", "/tmp/p.st"], "unknown model `resnet`");

    // Adult files.
    let short = adult_dir("adult-short-row", &format!("{ADULT_ROW}\n39, State-gov, 77516\n"));
    case(
        "Adult truncated row",
        &["train", "--data-dir", &s(&short)],
        "adult.data:2: expected 15 comma-separated fields, found 3",
    );
    let text = adult_dir("adult-text", &ADULT_ROW.replace(", 40,", ", forty,"));
    case(
        "Adult non-numeric field",
        &["train", "--data-dir", &s(&text)],
        "adult.data:1: field 13 is not a number: \"forty\"",
    );
    let empty = adult_dir("adult-empty", "");
    case("Adult empty", &["train", "--data-dir", &s(&empty)], "the training set is empty");
    let label = adult_dir("adult-label", &ADULT_ROW.replace("<=50K", "rich"));
    case("Adult bad label", &["train", "--data-dir", &s(&label)], "income must be <=50K or >50K, found \"rich\"");
    // MNIST files.
    let cnn = ["train", "--model", "mnist-cnn", "--data-dir"];
    let magic = mnist_dir("mnist-magic", 0x804, 28, 28, 2, &[1, 2], 0);
    case("MNIST wrong magic", &[&cnn[..], &[&s(&magic)]].concat(), "magic number 0x00000804, expected 0x00000803");
    let shape = mnist_dir("mnist-shape", 0x803, 28, 27, 2, &[1, 2], 0);
    case("MNIST wrong dimensions", &[&cnn[..], &[&s(&shape)]].concat(), "images of 28x27, expected 28x28");
    let cut = mnist_dir("mnist-truncated", 0x803, 28, 28, 2, &[1, 2], 100);
    case("MNIST truncated", &[&cnn[..], &[&s(&cut)]].concat(), "train-images-idx3-ubyte");
    let few = mnist_dir("mnist-labels", 0x803, 28, 28, 3, &[1, 2], 0);
    case("MNIST too few labels", &[&cnn[..], &[&s(&few)]].concat(), "2 labels for 3 images");
    let digit = mnist_dir("mnist-digit", 0x803, 28, 28, 2, &[1, 12], 0);
    case(
        "MNIST label not a digit",
        &[&cnn[..], &[&s(&digit)]].concat(),
        "label 12 of example 1 (byte 9) is not a digit",
    );
    // Parameter and batch files of `grads`.
    let grads = |params: &Path, batch: &Path| -> Vec<String> {
        ["grads", "--model", "ffnn", "--params", &s(params), "--batch", &s(batch), "--out", "/tmp/dpsgd-bad-grads.st"]
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    let batch = batch_file("batch-ok", 1, 0.5);
    let missing = params_file("params-missing", |f| {
        f.tensors.remove("fc2.bias");
    });
    let extra = params_file("params-extra", |f| {
        let t = f.tensors["fc2.bias"].clone();
        f.tensors.insert("fc3.bias".into(), t);
    });
    let shaped = params_file("params-shape", |f| {
        let t = f.tensors.get_mut("fc1.weight").unwrap();
        t.shape = vec![104, 50];
    });
    let dtype = params_file("params-dtype", |f| {
        let t = f.tensors.get_mut("fc2.bias").unwrap();
        *t = i64_tensor(&[0, 0]);
    });
    let mut table: Vec<(String, Vec<String>, &str)> = vec![
        ("params: a tensor missing".into(), grads(&missing, &batch), "fc2.bias"),
        ("params: an extra tensor".into(), grads(&extra, &batch), "fc3.bias"),
        ("params: a misshapen tensor".into(), grads(&shaped, &batch), "fc1.weight"),
        ("params: integer weights".into(), grads(&dtype, &batch), "fc2.bias"),
        (
            "batch: label out of range".into(),
            grads(&params_file("params-ok", |_| {}), &batch_file("batch-label", 5, 0.5)),
            "label 5 in row 1 is out of range",
        ),
        (
            "batch: a NaN feature".into(),
            grads(&params_file("params-nan", |_| {}), &batch_file("batch-nan", 1, f32::NAN)),
            "feature 17 of row 1 is NaN or infinite",
        ),
        (
            "batch: an infinite feature".into(),
            grads(&params_file("params-inf", |_| {}), &batch_file("batch-inf", 1, f32::INFINITY)),
            "feature 17 of row 1 is NaN or infinite",
        ),
    ];
    cases.append(&mut table);

    // Your own examples for `train`.
    let own = |name: &str, width: usize, x: f32, y: i64| -> PathBuf {
        use dpsgd::runtime::safetensors::{SafeTensors, Tensor};
        let path = folder(name).join("data.safetensors");
        let mut file = SafeTensors::default();
        let mut values = vec![0.25f32; 3 * width];
        values[width + 2] = x;
        file.insert("x", Tensor::from_floats(vec![3, width], &values));
        file.insert("y", i64_tensor(&[0, y, 1]));
        file.write(&path).unwrap();
        path
    };
    let good_data = own("own-good", 104, 0.5, 1);
    let train_on = |train: &Path| -> Vec<String> {
        ["train", "--model", "logreg", "--batch-size", "2", "--train-data", &s(train), "--test-data", &s(&good_data)]
            .map(String::from)
            .to_vec()
    };
    cases.push((
        "own data: wrong width".into(),
        train_on(&own("own-width", 100, 0.5, 1)),
        "`x` has 100 features per example",
    ));
    cases.push((
        "own data: label out of range".into(),
        train_on(&own("own-label", 104, 0.5, 2)),
        "label 2 in row 1 is out of range",
    ));
    cases.push((
        "own data: a NaN feature".into(),
        train_on(&own("own-nan", 104, f32::NAN, 1)),
        "feature 2 of row 1 is NaN or infinite",
    ));
    cases.push((
        "own data: a negative label".into(),
        train_on(&own("own-negative", 104, 0.5, -1)),
        "label -1 of example 1 is negative",
    ));
    // numpy files (made by scripts/make_npz_fixtures.py).
    let npz = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("dpsgd-runtime/testdata/npz").join(name);
    let npz_cases = [
        ("no_labels.npz", "no array `y` (the archive holds [\"x.npy\"]); save with numpy.savez(path, x=x, y=y)"),
        ("half_precision.npz", "`x`: unsupported dtype <f2 (use float32, float64 or integers)"),
        ("ten_features.npz", "`x` has 10 features per example ([100, 10]); Ffnn takes 104"),
        ("x_only.npy", "a .npy file holds one array; save `x` and `y` together"),
        ("truncated.npz", "truncated.npz: not a zip archive (no end of central directory)"),
    ];
    for (file, expected) in npz_cases {
        let args = ["train", "--train-data", &s(&npz(file)), "--test-data", &s(&npz("test_compressed.npz"))];
        cases.push((format!("own data: {file}"), args.map(String::from).to_vec(), expected));
    }
    cases.push(("own data: no file".into(), train_on(Path::new("/nonexistent/d.st")), "/nonexistent/d.st"));
    cases.push((
        "own data: no test file".into(),
        ["train", "--train-data", &s(&good_data)].map(String::from).to_vec(),
        "--test-data",
    ));

    // CSV files with their public schema: 104 numeric columns for logreg's 104
    // features, and a yes/no label. (The parser's own errors, case by case, are the
    // table in `dpsgd_runtime::data::csv`'s tests; these check that they reach the
    // command line whole.)
    let columns: Vec<String> = (0..104).map(|i| format!("f{i}")).collect();
    let features: Vec<String> = columns.iter().map(|c| format!(r#"{{"column": "{c}", "min": 0, "max": 1}}"#)).collect();
    let schema_json = format!(
        r#"{{"target": {{"column": "label", "classes": ["no", "yes"]}}, "features": [{}]}}"#,
        features.join(",")
    );
    let csv_dir = folder("csv");
    let schema = csv_dir.join("schema.json");
    std::fs::write(&schema, &schema_json).unwrap();
    let narrow = csv_dir.join("narrow.json");
    std::fs::write(&narrow, r#"{"target": {"column": "label", "classes": ["no", "yes"]}, "features": [{"column": "f0", "min": 0, "max": 1}]}"#).unwrap();
    let broken_schema = csv_dir.join("broken.json");
    std::fs::write(
        &broken_schema,
        "{\n  \"target\": {\"column\": \"label\", \"classes\": [\"no\", \"yes\"]},\n  \"featres\": []\n}",
    )
    .unwrap();
    let header = format!("{},label\n", columns.join(","));
    let row = |label: &str, first: &str| format!("{first},{},{label}\n", vec!["0.5"; 103].join(","));
    let csv_file = |name: &str, body: &str| -> String {
        let path = csv_dir.join(name);
        std::fs::write(&path, format!("{header}{body}")).unwrap();
        s(&path)
    };
    let good_csv = csv_file("good.csv", &format!("{}{}", row("no", "0.1"), row("yes", "0.9")));
    let train_csv = |file: &str, schema: &Path| -> Vec<String> {
        let args = ["train", "--model", "logreg", "--batch-size", "1", "--train-data", file, "--test-data", &good_csv];
        let mut args: Vec<String> = args.map(String::from).to_vec();
        args.extend(["--schema".to_string(), s(schema)]);
        args
    };
    cases.push((
        "csv: no schema".into(),
        ["train", "--model", "logreg", "--train-data", &good_csv, "--test-data", &good_csv].map(String::from).to_vec(),
        "good.csv is a CSV file: give its public schema with --schema",
    ));
    cases.push((
        "csv: a schema for a tensor file".into(),
        ["train", "--train-data", &s(&good_data), "--test-data", &s(&good_data), "--schema", &s(&schema)]
            .map(String::from)
            .to_vec(),
        "--schema describes CSV files",
    ));
    cases.push((
        "csv: a schema of the wrong width".into(),
        train_csv(&good_csv, &narrow),
        "the CSV schema encodes 1 features per example, the model LogisticRegression (binary_logistic) takes 104",
    ));
    cases.push((
        "csv: a misspelt schema key".into(),
        train_csv(&good_csv, &broken_schema),
        "broken.json:3: schema: unknown field `featres`",
    ));
    let short = csv_file("short.csv", &format!("{}0.5,0.5,no\n", row("no", "0.1")));
    cases.push(("csv: a short row".into(), train_csv(&short, &schema), "short.csv:3: 3 fields, the header has 105"));
    let word = csv_file("word.csv", &row("yes", "high"));
    cases.push((
        "csv: a word for a number".into(),
        train_csv(&word, &schema),
        "word.csv:2: column `f0`: \"high\" is not a number",
    ));
    let label = csv_file("label.csv", &row("maybe", "0.1"));
    cases.push((
        "csv: an unknown class".into(),
        train_csv(&label, &schema),
        "label.csv:2: column `label`: \"maybe\" is not one of the schema's classes",
    ));
    let empty = csv_file("empty.csv", "");
    cases.push(("csv: no rows".into(), train_csv(&empty, &schema), "empty.csv:2: no examples"));
    let params = csv_dir.join("params.st");
    let init = Command::new(env!("CARGO_BIN_EXE_dpsgd"))
        .args(["init", "--model", "logreg", "--out", &s(&params)])
        .output()
        .unwrap();
    assert!(init.status.success());
    cases.push((
        "csv: predictions without a schema".into(),
        ["predict", "--model", "logreg", "--params", &s(&params), "--data", &good_csv, "--out", "/tmp/p.st"]
            .map(String::from)
            .to_vec(),
        "holds no schema (it was not trained on CSV): give --schema",
    ));

    // Checkpoints.
    let (good, args) = checkpoint(&folder("ckpt"), "2", &[]);
    let bytes = std::fs::read(&good).unwrap();
    let resume = |path: &Path, extra: &[&str]| -> Vec<String> {
        let mut a = args.clone();
        *a.last_mut().unwrap() = s(path);
        a.push("--resume".into());
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };
    let truncated = folder("ckpt-truncated").join("run.st");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let flipped = folder("ckpt-flipped").join("run.st");
    let mut f = bytes.clone();
    f[12] ^= 0x5a;
    std::fs::write(&flipped, &f).unwrap();
    cases.push(("checkpoint truncated".into(), resume(&truncated, &[]), "checkpoint"));
    cases.push(("checkpoint with a flipped byte".into(), resume(&flipped, &[]), "checkpoint"));
    let mut other_model = resume(&good, &[]);
    other_model[2] = "ffnn".into();
    cases.push(("checkpoint of another model".into(), other_model, "it holds LogisticRegression"));
    cases.push((
        "checkpoint with other settings".into(),
        resume(&good, &["--lr", "0.1"]),
        "written with other settings",
    ));
    let (_, mut again) = checkpoint(&folder("ckpt-spent"), "50", &["--max-epsilon", "0.5"]);
    again.push("--resume".into());
    cases.push(("budget already spent on resume".into(), again, "the epsilon budget 0.5 is already spent"));
    cases.push((
        "checkpoint folder not writable".into(),
        ["train", "--model", "logreg", "--epochs", "1", "--checkpoint", "/proc/dpsgd-run.st"]
            .map(String::from)
            .to_vec(),
        "/proc/dpsgd-run.st",
    ));

    let mut failures = Vec::new();
    for (what, args, message) in &cases {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(args).output().expect("running dpsgd");
        let err = String::from_utf8_lossy(&out.stderr);
        let seconds = start.elapsed();
        if out.status.success()
            || !err.contains(message)
            || err.contains("panicked")
            || seconds > Duration::from_secs(60)
        {
            failures.push(format!("{what} ({args:?}): exit {:?}, stderr: {err}", out.status.code()));
        }
    }
    assert!(cases.len() >= 82, "only {} cases", cases.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Makes a folder unwritable (immutable, `chattr +i`, or else a read-only bind mount
/// over it) until dropped. Root ignores permission bits, so neither is a chmod.
struct Unwritable {
    dir: PathBuf,
    mounted: bool,
}

impl Unwritable {
    fn new(dir: &Path) -> Option<Self> {
        let run = |cmd: &str, args: &[&str]| Command::new(cmd).args(args).status().is_ok_and(|s| s.success());
        if run("chattr", &["+i", &s(dir)]) {
            return Some(Unwritable { dir: dir.to_path_buf(), mounted: false });
        }
        (run("mount", &["--bind", &s(dir), &s(dir)]) && run("mount", &["-o", "remount,ro,bind", &s(dir)]))
            .then(|| Unwritable { dir: dir.to_path_buf(), mounted: true })
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = match self.mounted {
            true => Command::new("umount").arg(&self.dir).status(),
            false => Command::new("chattr").args(["-i", &s(&self.dir)]).status(),
        };
    }
}

/// A checkpoint that cannot be written is an error saying so, and the checkpoint
/// already there stays whole, byte for byte, and resumes.
#[test]
fn an_unwritable_checkpoint_folder_is_an_error_and_the_old_checkpoint_survives() {
    // A folder of its own: the other test of this file removes its cases' folder,
    // whole, when it starts and ends, maybe while this one runs.
    let scratch = Scratch::new("unwritable-checkpoint");
    // A run of 4 epochs stopped early by its budget: its checkpoint is mid-run.
    let (path, args) = checkpoint(&scratch, "4", &["--insecure-reproducible-noise", "1", "--max-epsilon", "0.9"]);
    let before = std::fs::read(&path).unwrap();
    let dir = path.parent().unwrap();
    let Some(guard) = Unwritable::new(dir) else {
        panic!("this machine lets root make no folder unwritable (chattr +i, read-only bind mounts)");
    };
    assert!(std::fs::write(dir.join("probe"), b"x").is_err(), "the folder is still writable");
    // Resumed without the budget, it writes its next checkpoint after an epoch.
    let budget = args.iter().position(|a| a == "--max-epsilon").unwrap();
    let resume: Vec<String> = [&args[..budget], &args[budget + 2..], &["--resume".to_string()]].concat();
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(&resume).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run wrote no checkpoint and succeeded");
    assert!(err.contains(&format!("checkpoint {}: cannot be written", s(&path))), "{err}");
    assert!(err.contains("the checkpoint already there, if any, is untouched"), "{err}");
    drop(guard);
    assert!(std::fs::read(&path).unwrap() == before, "the old checkpoint changed");
    let resumed = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(&resume).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
}
