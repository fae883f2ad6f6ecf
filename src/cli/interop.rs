//! `dpsgd init`, `export`, `predict` and `grads`: parameters, predictions and
//! per-example gradients in safetensors files with PyTorch's names and layouts, for
//! deploying a trained model and checking against other frameworks.

use std::path::PathBuf;

use crate::runtime::data::csv::CsvSchema;
use crate::runtime::data::tensor_file;
use crate::runtime::interop::{self, torch_shape};
use crate::runtime::kernels::loss;
use crate::runtime::safetensors::{SafeTensors, Tensor};
use crate::runtime::train::checkpoint;
use crate::runtime::{Error, PrivateModel, Result};
use clap::Parser;

use super::choice::{ModelChoice, ModelTask};
use super::files;

/// `init`'s arguments.
#[derive(Parser, Debug)]
pub struct InitArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
    /// Seed of the initialization (public).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The safetensors file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Fresh parameters, as the model initializes them (PyTorch's default for its layers:
/// uniform in +-1/sqrt(fan_in)).
pub fn init<C: ModelChoice>(args: &InitArgs<C>) -> Result<()> {
    struct Init<'a, C: ModelChoice>(&'a InitArgs<C>);
    impl<C: ModelChoice> ModelTask for Init<'_, C> {
        type Output = ();
        fn run<M: PrivateModel<f32>>(self) -> Result<()> {
            let args = self.0;
            let model = M::init(args.seed);
            interop::to_torch(&M::SPEC, model.params()).write(&args.out)?;
            println!(
                "{} parameters of {} (seed {}) written to {}",
                M::SPEC.num_params,
                args.model.name(),
                args.seed,
                args.out.display()
            );
            Ok(())
        }
    }
    args.model.with(Init(args))
}

/// `export`'s arguments.
#[derive(Parser, Debug)]
pub struct ExportArgs<C: ModelChoice> {
    /// The model the checkpoint holds.
    #[command(flatten)]
    pub model: C,
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
pub fn export<C: ModelChoice>(args: &ExportArgs<C>) -> Result<()> {
    struct Export<'a, C: ModelChoice>(&'a ExportArgs<C>);
    impl<C: ModelChoice> ModelTask for Export<'_, C> {
        type Output = ();
        fn run<M: PrivateModel<f32>>(self) -> Result<()> {
            let args = self.0;
            let checkpoint = checkpoint::read::<f32>(&args.checkpoint, &M::SPEC)?;
            let mut file = interop::to_torch(&M::SPEC, &checkpoint.params);
            // The data's public encoding travels with the parameters, for `predict`.
            if let Some(encoding) = checkpoint.data_encoding {
                file.metadata.insert(checkpoint::DATA_ENCODING_KEY.into(), encoding);
            }
            file.write(&args.out)?;
            println!(
                "the {} parameters of {} after step {} written to {} (no secret state)",
                M::SPEC.num_params,
                args.model.name(),
                checkpoint.state.step,
                args.out.display()
            );
            Ok(())
        }
    }
    args.model.with(Export(args))
}

/// `grads`' arguments.
#[derive(Parser, Debug)]
pub struct GradsArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
    /// Parameters (safetensors, PyTorch names and layouts).
    #[arg(long)]
    pub params: PathBuf,
    /// The batch: `x` (f32 or f64, `[B, features...]`) and `y` (i32 or i64 labels, `[B]`).
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
pub fn grads<C: ModelChoice>(args: &GradsArgs<C>) -> Result<()> {
    struct Grads<'a, C: ModelChoice>(&'a GradsArgs<C>);
    impl<C: ModelChoice> ModelTask for Grads<'_, C> {
        type Output = ();
        fn run<M: PrivateModel<f32>>(self) -> Result<()> {
            write_grads::<M::WithFloat<f64>, C>(self.0)
        }
    }
    args.model.with(Grads(args))
}

fn write_grads<M: PrivateModel<f64>, C: ModelChoice>(args: &GradsArgs<C>) -> Result<()> {
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

/// `predict`'s arguments.
#[derive(Parser, Debug)]
pub struct PredictArgs<C: ModelChoice> {
    /// The model.
    #[command(flatten)]
    pub model: C,
    /// Parameters (safetensors, PyTorch names and layouts), as `dpsgd export` writes.
    #[arg(long)]
    pub params: PathBuf,
    /// The examples: a CSV file, encoded by the schema saved with the parameters (or
    /// --schema), or a safetensors file with `x` as for `dpsgd grads`; with targets
    /// (`y`, or the schema's target columns) the accuracy or the loss is printed.
    #[arg(long)]
    pub data: PathBuf,
    /// The public schema of a CSV --data file, if the parameters do not hold the one
    /// they were trained with (files `dpsgd export` writes from a run on CSV do).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// The safetensors file to write: `logits` `[B, outputs]` and `prediction` `[B]`.
    #[arg(long)]
    pub out: PathBuf,
}

/// A trained model's logits and predicted classes for a file of examples.
pub fn predict<C: ModelChoice>(args: &PredictArgs<C>) -> Result<()> {
    struct Predict<'a, C: ModelChoice>(&'a PredictArgs<C>);
    impl<C: ModelChoice> ModelTask for Predict<'_, C> {
        type Output = ();
        fn run<M: PrivateModel<f32>>(self) -> Result<()> {
            write_predictions::<M::WithFloat<f64>, C>(self.0)
        }
    }
    args.model.with(Predict(args))
}

fn write_predictions<M: PrivateModel<f64>, C: ModelChoice>(args: &PredictArgs<C>) -> Result<()> {
    let spec = M::SPEC;
    let params = SafeTensors::read(&args.params)?;
    let model = M::from_params(interop::from_torch::<f64>(&spec, &params, &args.params)?)?;
    let (features, targets) = match files::is_csv(&args.data) {
        true => {
            let schema = match (&args.schema, params.metadata.get(checkpoint::DATA_ENCODING_KEY)) {
                (Some(path), _) => CsvSchema::load(path)?,
                (None, Some(json)) => CsvSchema::from_json(json, &args.params)?,
                (None, None) => {
                    return Err(Error::Config(format!(
                        "{} is a CSV file, and {} holds no schema (it was not trained on CSV): give --schema",
                        args.data.display(),
                        args.params.display()
                    )));
                }
            };
            schema.check_fits(&spec)?;
            schema.read_targets_if_present::<f64>(&args.data)?
        }
        false => {
            let data = SafeTensors::read(&args.data)?;
            let features = tensor_file::features::<f64>(&data, &args.data, &spec)?;
            let targets = match data.tensors.contains_key("y") {
                true => Some(tensor_file::targets(&data, &args.data, features.nrows(), &spec)?),
                false => None,
            };
            (features, targets)
        }
    };
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
    if let Some(targets) = targets {
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
