//! `dpsgd init`, `export`, `predict` and `grads`: parameters, predictions and
//! per-example gradients in safetensors files with PyTorch's names and layouts, for
//! deploying a trained model and checking against other frameworks.

use std::path::PathBuf;

use clap::Parser;
use dpsgd::models::{ModelName, with_model};
use dpsgd::runtime::data::tensor_file;
use dpsgd::runtime::interop::{self, torch_shape};
use dpsgd::runtime::kernels::loss;
use dpsgd::runtime::safetensors::{SafeTensors, Tensor};
use dpsgd::runtime::train::checkpoint;
use dpsgd::runtime::{PrivateModel, Result};

#[derive(Parser, Debug)]
pub struct InitArgs {
    #[arg(long)]
    pub model: ModelName,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The safetensors file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Fresh parameters, as the model initializes them (PyTorch's default for its layers:
/// uniform in +-1/sqrt(fan_in)).
pub fn init(args: &InitArgs) -> Result<()> {
    with_model!(args.model, M => {
        let model = M::init(args.seed);
        interop::to_torch(&M::SPEC, model.params()).write(&args.out)?;
        println!("{} parameters of {} (seed {}) written to {}", M::SPEC.num_params, args.model, args.seed, args.out.display());
        Ok(())
    })
}

#[derive(Parser, Debug)]
pub struct ExportArgs {
    /// The model the checkpoint holds.
    #[arg(long, default_value = "ffnn")]
    pub model: ModelName,
    /// A checkpoint written by `dpsgd train --checkpoint`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The safetensors file to write: the parameters alone.
    #[arg(long)]
    pub out: PathBuf,
}

/// A checkpoint's parameters alone (PyTorch names and layouts), without the secret key
/// of its noise and sampler, the optimizer's state or the run's state: the file to
/// share or deploy. (A private run's checkpoint must stay as secret as the data.)
pub fn export(args: &ExportArgs) -> Result<()> {
    with_model!(args.model, M => {
        let checkpoint = checkpoint::read::<f32>(&args.checkpoint, &M::SPEC)?;
        interop::to_torch(&M::SPEC, &checkpoint.params).write(&args.out)?;
        println!(
            "the {} parameters of {} after step {} written to {} (no secret state)",
            M::SPEC.num_params,
            args.model,
            checkpoint.state.step,
            args.out.display()
        );
        Ok(())
    })
}

#[derive(Parser, Debug)]
pub struct GradsArgs {
    #[arg(long)]
    pub model: ModelName,
    /// Parameters (safetensors, PyTorch names and layouts).
    #[arg(long)]
    pub params: PathBuf,
    /// The batch: `x` (f32 or f64, [B, features...]) and `y` (i32 or i64 labels, [B]).
    #[arg(long)]
    pub batch: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The clipping norm of `clipped_sum.*`.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub max_grad_norm: f64,
}

/// Per-example losses, gradient norms and gradients, and the clipped sum, in f64.
pub fn grads(args: &GradsArgs) -> Result<()> {
    with_model!(args.model, f64, M => run::<M>(args))
}

fn run<M: PrivateModel<f64>>(args: &GradsArgs) -> Result<()> {
    let spec = M::SPEC;
    let params = interop::from_torch::<f64>(&spec, &SafeTensors::read(&args.params)?, &args.params)?;
    let model = M::from_params(params)?;
    let batch = SafeTensors::read(&args.batch)?;
    let features = tensor_file::features::<f64>(&batch, &args.batch, &spec)?;
    let targets = tensor_file::targets(&batch, &args.batch, features.nrows(), &spec)?;
    let rows = features.nrows();
    let (x, y) = (features.view(), targets.view());
    let mut out = SafeTensors::default();
    out.insert("loss", Tensor::from_floats(vec![rows], &model.per_example_losses(x, y)?));
    out.insert("norm", Tensor::from_floats(vec![rows], &model.per_example_grad_norms(x, y)?));
    let per_example = model.per_example_grads(x, y)?;
    let clipped = model.clipped_grad_sum(x, y, args.max_grad_norm)?;
    for t in spec.params {
        let mut shape = vec![rows];
        shape.extend(torch_shape(t));
        let values: Vec<f64> = per_example
            .rows()
            .into_iter()
            .flat_map(|g| {
                interop::to_torch_layout(t, &g.as_slice().expect("standard layout")[t.offset..t.offset + t.len()])
            })
            .collect();
        out.insert(format!("grad.{}", t.name), Tensor::from_floats(shape, &values));
        let sum = interop::to_torch_layout(t, &clipped[t.offset..t.offset + t.len()]);
        out.insert(format!("clipped_sum.{}", t.name), Tensor::from_floats(torch_shape(t), &sum));
    }
    out.write(&args.out)?;
    println!(
        "per-example losses, norms and gradients of {rows} examples, and their sum clipped to {}, written to {}",
        args.max_grad_norm,
        args.out.display()
    );
    Ok(())
}

#[derive(Parser, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub model: ModelName,
    /// Parameters (safetensors, PyTorch names and layouts), as `dpsgd export` writes.
    #[arg(long)]
    pub params: PathBuf,
    /// The examples: `x` as for `dpsgd grads`; with labels `y`, the accuracy is printed.
    #[arg(long)]
    pub data: PathBuf,
    /// The safetensors file to write: `logits` [B, outputs] and `prediction` [B].
    #[arg(long)]
    pub out: PathBuf,
}

/// A trained model's logits and predicted classes for a file of examples.
pub fn predict(args: &PredictArgs) -> Result<()> {
    with_model!(args.model, f64, M => run_predict::<M>(args))
}

fn run_predict<M: PrivateModel<f64>>(args: &PredictArgs) -> Result<()> {
    let spec = M::SPEC;
    let model = M::from_params(interop::from_torch::<f64>(&spec, &SafeTensors::read(&args.params)?, &args.params)?)?;
    let data = SafeTensors::read(&args.data)?;
    let features = tensor_file::features::<f64>(&data, &args.data, &spec)?;
    let rows = features.nrows();
    // One forward pass: the classes come from its logits, as `predict` takes them.
    let logits = model.logits(features.view())?;
    let logits = logits.as_slice().expect("standard layout");
    let mut out = SafeTensors::default();
    out.insert("logits", Tensor::from_floats(vec![rows, spec.outputs], logits));
    // A class per example, or for the multi-label loss a 0/1 label per output; a
    // regression model's prediction is its output.
    let shape = if spec.loss.takes_values() { vec![rows, spec.outputs] } else { vec![rows] };
    let mut predictions = vec![0; shape.iter().product()];
    loss::predictions(spec.loss, logits, spec.outputs, &mut predictions);
    if spec.loss.classifies() {
        let classes: Vec<i64> = predictions.iter().map(|&p| i64::from(p)).collect();
        out.insert("prediction", Tensor::from_i64(shape, &classes));
    }
    out.write(&args.out)?;
    println!("predictions for {rows} examples written to {}", args.out.display());
    if data.tensors.contains_key("y") {
        let targets = tensor_file::targets(&data, &args.data, rows, &spec)?;
        match spec.loss.classifies() {
            true => {
                let (right, made) = loss::count_correct(&predictions, targets.view());
                println!("accuracy {:.2}% ({right} of {made} right)", 100.0 * right as f64 / made.max(1) as f64);
            }
            false => {
                let losses = model.per_example_losses(features.view(), targets.view())?;
                println!("mean loss {:.6}", losses.iter().sum::<f64>() / rows.max(1) as f64);
            }
        }
    }
    Ok(())
}
