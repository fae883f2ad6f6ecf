//! Parameters and per-example gradients in PyTorch's names and layouts: `dpsgd init`,
//! `dpsgd grads`, and the errors for files that do not fit the model.

mod common;
mod scratch;

use std::path::{Path, PathBuf};
use std::process::Command;

use dpsgd::models::Ffnn;
use dpsgd::prelude::*;
use dpsgd::runtime::interop;
use dpsgd::runtime::safetensors::{Dtype, SafeTensors, Tensor};
use scratch::Scratch;

fn dpsgd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd")).args(args).output().expect("running dpsgd");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `dpsgd grads` for `model` with `extra` arguments after the three files.
fn grads(model: &str, params: &Path, batch: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let args = ["grads", "--model", model, "--params", s(params), "--batch", s(batch), "--out", s(out)];
    dpsgd(&[&args[..], extra].concat())
}

#[test]
fn init_writes_pytorch_layouts_that_load_back() {
    let scratch = Scratch::new("interop-init_writes_pytorch_layouts_that_load_back");
    let path = scratch.join("init.safetensors");
    let (ok, err) = dpsgd(&["init", "--model", "ffnn", "--seed", "3", "--out", s(&path)]);
    assert!(ok, "{err}");
    let file = SafeTensors::read(&path).unwrap();
    let w = &file.tensors["fc1.weight"];
    assert_eq!((w.dtype, w.shape.clone()), (Dtype::F32, vec![50, 104]));
    assert_eq!(file.tensors["fc2.bias"].shape, vec![2]);
    let model = Ffnn::<f32>::init(3);
    // torch's weight[o, i] is our weight[i, o].
    let torch = w.to_floats::<f32>().unwrap();
    assert_eq!(torch[7 * 104 + 11], model.fc1().weight[[11, 7]]);
    let params = interop::from_torch::<f32>(&Ffnn::<f32>::SPEC, &file, &path).unwrap();
    assert_eq!(params, model.params());
}

#[test]
fn grads_match_the_model_api() {
    let scratch = Scratch::new("interop-grads_match_the_model_api");
    type M = Ffnn<f64>;
    let params_path = scratch.join("grads-params.safetensors");
    let model = common::model::<f64, M>(2, 3.0);
    interop::to_torch(&M::SPEC, model.params()).write(&params_path).unwrap();
    let (x, y) = common::batch::<f64, M>(6, 4);
    let mut batch = SafeTensors::default();
    batch.insert("x", Tensor::from_floats(vec![6, 104], x.as_slice().unwrap()));
    let labels: Vec<u8> = y.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect();
    batch.insert("y", Tensor { dtype: Dtype::I64, shape: vec![6], data: labels });
    let batch_path = scratch.join("grads-batch.safetensors");
    batch.write(&batch_path).unwrap();
    let out_path = scratch.join("grads-out.safetensors");
    let (ok, err) = grads("ffnn", &params_path, &batch_path, &out_path, &["--max-grad-norm", "0.5"]);
    assert!(ok, "{err}");
    let out = SafeTensors::read(&out_path).unwrap();
    let floats = |name: &str| out.tensors[name].to_floats::<f64>().unwrap();
    assert_eq!(floats("loss"), model.per_example_losses(x.view(), &y).unwrap());
    let norms = floats("norm");
    let per_example = model.per_example_grads(x.view(), &y).unwrap();
    let clipped = model.clipped_grad_sum(x.view(), &y, 0.5).unwrap();
    let mut sq = vec![0.0; 6];
    for t in M::SPEC.params {
        let g = floats(&format!("grad.{}", t.name));
        assert_eq!(out.tensors[&format!("grad.{}", t.name)].shape[0], 6);
        for (i, row) in per_example.rows().into_iter().enumerate() {
            let want = interop::to_torch_layout(t, &row.as_slice().unwrap()[t.offset..t.offset + t.len()]);
            assert_eq!(&g[i * t.len()..(i + 1) * t.len()], &want[..], "{} of example {i}", t.name);
            sq[i] += want.iter().map(|v| v * v).sum::<f64>();
        }
        let sum = floats(&format!("clipped_sum.{}", t.name));
        assert_eq!(sum, interop::to_torch_layout(t, &clipped[t.offset..t.offset + t.len()]));
    }
    for (n, s) in norms.iter().zip(&sq) {
        assert!((n - s.sqrt()).abs() < 1e-10 * n.max(1.0), "ghost norm {n} vs materialized {}", s.sqrt());
    }
}

#[test]
fn files_that_do_not_fit_the_model_are_errors_naming_the_tensor() {
    let scratch = Scratch::new("interop-files_that_do_not_fit_the_model_are_errors_naming_the_tensor");
    let good = Ffnn::<f32>::init(0);
    let write = |name: &str, edit: &dyn Fn(&mut SafeTensors)| {
        let mut file = interop::to_torch(&Ffnn::<f32>::SPEC, good.params());
        edit(&mut file);
        let path = scratch.join(name);
        file.write(&path).unwrap();
        path
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("missing", &|f| drop(f.tensors.remove("fc2.bias"))), "`fc2.bias` is missing"),
        (
            write("extra", &|f| f.insert("fc3.weight", Tensor::from_floats(vec![1], &[0.0f32]))),
            "`fc3.weight` is not a parameter",
        ),
        (
            write("shape", &|f| f.tensors.get_mut("fc1.weight").unwrap().shape = vec![104, 50]),
            "`fc1.weight` has shape [104, 50]",
        ),
        (
            write("dtype", &|f| {
                let t = f.tensors.get_mut("fc2.bias").unwrap();
                t.dtype = Dtype::I32;
            }),
            "`fc2.bias` is I32",
        ),
        (write("nan", &|f| f.insert("fc2.bias", Tensor::from_floats(vec![2], &[f32::NAN, 0.0]))), "NaN"),
    ];
    let batch = scratch.join("errors-batch.safetensors");
    let mut b = SafeTensors::default();
    b.insert("x", Tensor::from_floats(vec![1, 104], &[0.0f32; 104]));
    b.insert("y", Tensor { dtype: Dtype::I32, shape: vec![1], data: 7i32.to_le_bytes().to_vec() });
    b.write(&batch).unwrap();
    for (path, expected) in cases {
        let (ok, err) = grads("ffnn", &path, &batch, &scratch.join("o"), &[]);
        assert!(!ok && err.contains(expected) && !err.contains("panicked"), "{expected}: {err}");
    }
    // A label the model does not have.
    let params = write("good", &|_| {});
    let (ok, err) = grads("ffnn", &params, &batch, &scratch.join("o"), &[]);
    assert!(!ok && err.contains("label 7"), "{err}");
}

/// The LSTM net with weights in PyTorch's names and layouts computes what
/// `nn.Embedding` + `nn.LSTM(batch_first=True)` + mean over time + `nn.Linear` compute,
/// written out here from PyTorch's documented equations (gates i, f, g, o in the rows of
/// `weight_ih_l0` and `weight_hh_l0`, both biases added).
#[test]
fn the_lstm_net_is_pytorchs_lstm() {
    type M = dpsgd::models::LstmNet<f64>;
    let model = common::model::<f64, M>(9, 2.0);
    let file = interop::to_torch(&M::SPEC, model.params());
    let t = |name: &str| file.tensors[name].to_floats::<f64>().unwrap();
    let (emb, w_ih, w_hh, b_ih, b_hh, fc_w, fc_b) = (
        t("embedding.weight"),
        t("lstm.weight_ih_l0"),
        t("lstm.weight_hh_l0"),
        t("lstm.bias_ih_l0"),
        t("lstm.bias_hh_l0"),
        t("fc.weight"),
        t("fc.bias"),
    );
    assert_eq!(file.tensors["lstm.weight_ih_l0"].shape, vec![400, 100]);
    let (x, _) = common::batch::<f64, M>(3, 12);
    let logits = model.forward(x.view()).unwrap();
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    for (row, got) in x.rows().into_iter().zip(logits.rows()) {
        let (mut h, mut c, mut mean) = (vec![0.0; 100], vec![0.0; 100], vec![0.0; 100]);
        for &token in row {
            let e = &emb[token as usize * 100..][..100];
            let gate = |k: usize| -> f64 {
                let r = k * 100;
                b_ih[k] + b_hh[k] + (0..100).map(|j| w_ih[r + j] * e[j] + w_hh[r + j] * h[j]).sum::<f64>()
            };
            let z: Vec<f64> = (0..400).map(gate).collect();
            for u in 0..100 {
                let (i, f, g, o) = (sigmoid(z[u]), sigmoid(z[100 + u]), z[200 + u].tanh(), sigmoid(z[300 + u]));
                c[u] = f * c[u] + i * g;
                h[u] = o * c[u].tanh();
                mean[u] += h[u] / 256.0;
            }
        }
        for k in 0..2 {
            let want = fc_b[k] + (0..100).map(|u| fc_w[k * 100 + u] * mean[u]).sum::<f64>();
            assert!((got[k] - want).abs() < 1e-12, "logit {k}: {} vs {want}", got[k]);
        }
    }
}

/// `dpsgd grads` takes token ids as integers (PyTorch's `LongTensor`, or I32) for models
/// of tokens, and refuses integer features for the others.
#[test]
fn grads_take_integer_token_ids() {
    let scratch = Scratch::new("interop-grads_take_integer_token_ids");
    type M = dpsgd::models::EmbeddingNet<f64>;
    let params_path = scratch.join("tokens-params.safetensors");
    let model = common::model::<f64, M>(3, 1.0);
    interop::to_torch(&M::SPEC, model.params()).write(&params_path).unwrap();
    let (x, y) = common::batch::<f64, M>(3, 5);
    let labels: Vec<u8> = y.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect();
    for (dtype, ids) in [
        (Dtype::I64, x.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect::<Vec<u8>>()),
        (Dtype::I32, x.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect()),
    ] {
        let mut batch = SafeTensors::default();
        batch.insert("x", Tensor { dtype, shape: vec![3, 256], data: ids });
        batch.insert("y", Tensor { dtype: Dtype::I64, shape: vec![3], data: labels.clone() });
        let (batch_path, out_path) = (scratch.join("tokens-batch.safetensors"), scratch.join("tokens-out.safetensors"));
        batch.write(&batch_path).unwrap();
        let (ok, err) = grads("embed", &params_path, &batch_path, &out_path, &[]);
        assert!(ok, "{dtype:?}: {err}");
        let losses = SafeTensors::read(&out_path).unwrap().tensors["loss"].to_floats::<f64>().unwrap();
        assert_eq!(losses, model.per_example_losses(x.view(), &y).unwrap(), "{dtype:?}");
    }

    let mut batch = SafeTensors::default();
    batch.insert("x", Tensor { dtype: Dtype::I64, shape: vec![1, 104], data: vec![0; 8 * 104] });
    batch.insert("y", Tensor { dtype: Dtype::I64, shape: vec![1], data: vec![0; 8] });
    let batch_path = scratch.join("int-features.safetensors");
    batch.write(&batch_path).unwrap();
    let ffnn_params = scratch.join("int-features-params.safetensors");
    interop::to_torch(&Ffnn::<f64>::SPEC, Ffnn::<f64>::init(1).params()).write(&ffnn_params).unwrap();
    let out = scratch.join("int-features-out.safetensors");
    let (ok, err) = grads("ffnn", &ffnn_params, &batch_path, &out, &[]);
    assert!(!ok && err.contains("must be F32 or F64"), "{err}");
}

/// `dpsgd predict` on exported parameters: the logits and classes a logistic
/// regression gives, computed here from the file's PyTorch tensors, and the accuracy.
#[test]
fn predict_writes_the_logits_and_classes_of_the_parameters() {
    let scratch = Scratch::new("interop-predict_writes_the_logits_and_classes_of_the_parameters");
    let params = scratch.join("predict-params.safetensors");
    let (ok, err) = dpsgd(&["init", "--model", "logreg", "--seed", "3", "--out", s(&params)]);
    assert!(ok, "{err}");
    let file = SafeTensors::read(&params).unwrap();
    let (w, b) =
        (file.tensors["fc.weight"].to_floats::<f64>().unwrap(), file.tensors["fc.bias"].to_floats::<f64>().unwrap());
    let x: Vec<f32> = (0..5 * 104).map(|j| ((j * 37 % 23) as f32 - 11.0) / 4.0).collect();
    let labels = [0i64, 1, 1, 0, 1];
    let mut batch = SafeTensors::default();
    batch.insert("x", Tensor::from_floats(vec![5, 104], &x));
    batch.insert("y", Tensor::from_i64(vec![5], &labels));
    let data = scratch.join("predict-data.safetensors");
    batch.write(&data).unwrap();
    let out_path = scratch.join("predict-out.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_dpsgd"))
        .args(["predict", "--model", "logreg", "--params", s(&params), "--data", s(&data), "--out", s(&out_path)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = SafeTensors::read(&out_path).unwrap();
    let logits = written.tensors["logits"].to_floats::<f64>().unwrap();
    let classes = written.tensors["prediction"].to_ints().unwrap();
    let mut right = 0;
    for r in 0..5 {
        // nn.Linear(104, 1): x W^T + b; class 1 where the logit is positive.
        let want = b[0] + (0..104).map(|i| w[i] * x[r * 104 + i] as f64).sum::<f64>();
        assert!((logits[r] - want).abs() < 1e-9, "example {r}: logit {} against {want}", logits[r]);
        assert_eq!(classes[r], i64::from(want > 0.0), "example {r}");
        right += usize::from(classes[r] == labels[r]);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("({right} of 5 right)")), "{stdout}");

    let mut no_x = SafeTensors::default();
    no_x.insert("features", Tensor::from_floats(vec![5, 104], &x));
    no_x.write(&data).unwrap();
    let (ok, err) =
        dpsgd(&["predict", "--model", "logreg", "--params", s(&params), "--data", s(&data), "--out", s(&out_path)]);
    assert!(!ok && err.contains("`x`"), "{err}");
}
