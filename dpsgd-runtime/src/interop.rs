//! Parameters under PyTorch's names and layouts, in safetensors files, so that a model
//! trained here loads into the equivalent PyTorch module and the reverse.
//!
//! Names are the layer fields' (`fc1.weight`, `fc1.bias`); a dense weight is
//! `[out_features, in_features]` as in `torch.nn.Linear` (stored transposed here).

use std::path::Path;

use crate::Float;
use crate::error::{Error, Result};
use crate::safetensors::{SafeTensors, Tensor};
use crate::spec::{ModelSpec, ParamTensor};

/// The tensor's shape in PyTorch.
pub fn torch_shape(t: &ParamTensor) -> Vec<usize> {
    match t.transposed {
        true => t.shape.iter().rev().copied().collect(),
        false => t.shape.to_vec(),
    }
}

/// The tensor's values (`values`, in the layout here) in PyTorch's layout.
pub fn to_torch_layout<F: Float>(t: &ParamTensor, values: &[F]) -> Vec<F> {
    match t.transposed {
        true => {
            let (rows, cols) = (t.shape[0], t.shape[1]);
            (0..cols).flat_map(|c| (0..rows).map(move |r| values[r * cols + c])).collect()
        }
        false => values.to_vec(),
    }
}

/// `values` in PyTorch's layout back to the layout here.
fn from_torch_layout<F: Float>(t: &ParamTensor, values: &[F]) -> Vec<F> {
    match t.transposed {
        true => {
            let (rows, cols) = (t.shape[0], t.shape[1]);
            (0..rows).flat_map(|r| (0..cols).map(move |c| values[c * rows + r])).collect()
        }
        false => values.to_vec(),
    }
}

/// A model's parameters as PyTorch tensors.
pub fn to_torch<F: Float>(spec: &ModelSpec, params: &[F]) -> SafeTensors {
    let mut file = SafeTensors::default();
    for t in spec.params {
        let values = to_torch_layout(t, &params[t.offset..t.offset + t.len()]);
        file.insert(t.name, Tensor::from_floats(torch_shape(t), &values));
    }
    file
}

/// A model's parameters from PyTorch tensors (f32 or f64). A missing, extra, misshapen
/// or non-float tensor, or a NaN, is an error naming the tensor.
pub fn from_torch<F: Float>(spec: &ModelSpec, file: &SafeTensors, path: &Path) -> Result<Vec<F>> {
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: 0, message };
    let mut params = vec![F::ZERO; spec.num_params];
    for t in spec.params {
        let tensor = file.get(t.name, path)?;
        let shape = torch_shape(t);
        if tensor.shape != shape {
            return Err(bad(format!(
                "tensor `{}` has shape {:?}; {} expects {shape:?}",
                t.name, tensor.shape, spec.name
            )));
        }
        let values = tensor
            .to_floats::<F>()
            .ok_or_else(|| bad(format!("tensor `{}` is {:?}; parameters must be F32 or F64", t.name, tensor.dtype)))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor `{}` holds NaN or infinite values", t.name)));
        }
        params[t.offset..t.offset + t.len()].copy_from_slice(&from_torch_layout(t, &values));
    }
    if let Some(extra) = file.tensors.keys().find(|name| !spec.params.iter().any(|t| t.name == name.as_str())) {
        let names: Vec<_> = spec.params.iter().map(|t| t.name).collect();
        return Err(bad(format!(
            "tensor `{extra}` is not a parameter of {} (its tensors: {})",
            spec.name,
            names.join(", ")
        )));
    }
    Ok(params)
}
