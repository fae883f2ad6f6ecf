//! Examples in a safetensors file or a numpy `.npz` archive: `x` (F32 or F64
//! `[N, features...]`; token ids may also be I64 or I32) and `y` (I32 or I64 labels,
//! `[N]`; for a model of value targets F32 or F64 `[N, outputs]`, or `[N]` with one
//! output), the batch format of `dpsgd grads` and `predict` and the data format of
//! `dpsgd train --train-data`.

use std::path::Path;

use ndarray::Array2;

use super::{Dataset, TargetData, npz};
use crate::Float;
use crate::error::{Error, Result};
use crate::safetensors::SafeTensors;
use crate::spec::ModelSpec;

/// The examples and labels of the file at `path` (`.npz`: numpy's, anything else:
/// safetensors), checked against the model of `spec`.
pub fn load<F: Float>(path: &Path, spec: &ModelSpec) -> Result<Dataset<F>> {
    let file = match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => read_npz(path)?,
        Some("npy") => {
            return Err(Error::Malformed {
                path: path.to_path_buf(),
                line: 0,
                message: "a .npy file holds one array; save `x` and `y` together, with numpy.savez(path, x=x, y=y) \
                          (a .npz file) or as safetensors"
                    .into(),
            });
        }
        _ => SafeTensors::read(path)?,
    };
    let x = features::<F>(&file, path, spec)?;
    let y = targets(&file, path, x.nrows(), spec)?;
    let data = Dataset::new(x, y)?;
    data.check_fits(spec)?;
    Ok(data)
}

/// The arrays `x` and `y` of the `.npz` archive at `path`, as tensors.
fn read_npz(path: &Path) -> Result<SafeTensors> {
    let bytes = crate::error::read_file(path)?;
    let members = npz::read_zip(path, &bytes)?;
    let mut file = SafeTensors::default();
    for name in ["x", "y"] {
        let member = format!("{name}.npy");
        let Some((_, data)) = members.iter().find(|(n, _)| *n == member) else {
            let held: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Malformed {
                path: path.to_path_buf(),
                line: 0,
                message: format!(
                    "no array `{name}` (the archive holds {held:?}); save with numpy.savez(path, x=x, y=y)"
                ),
            });
        };
        file.insert(name, npz::read_numeric(path, &format!("`{name}`"), data)?);
    }
    Ok(file)
}

/// The examples `x`, as `[N, features]`.
pub fn features<F: Float>(file: &SafeTensors, path: &Path, spec: &ModelSpec) -> Result<Array2<F>> {
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: 0, message };
    let x = file.get("x", path)?;
    let rows = *x.shape.first().ok_or_else(|| bad("`x` has no batch dimension".into()))?;
    let width: usize = x.shape[1..].iter().product();
    if width != spec.input_width {
        return Err(bad(format!(
            "`x` has {width} features per example ({:?}); {} takes {}",
            x.shape, spec.name, spec.input_width
        )));
    }
    // Models of token ids take them as integers (PyTorch's `LongTensor`) or floats.
    let features = match (x.to_floats::<F>(), x.to_ints(), spec.token_vocab) {
        (Some(floats), _, _) => floats,
        (None, Some(ids), Some(_)) => ids.into_iter().map(|id| F::from_f64(id as f64)).collect(),
        _ => {
            let want = if spec.token_vocab.is_some() { "I64, I32, F32 or F64" } else { "F32 or F64" };
            return Err(bad(format!("`x` is {:?}; for {} it must be {want}", x.dtype, spec.name)));
        }
    };
    Ok(Array2::from_shape_vec((rows, width), features).expect("checked shape"))
}

/// The targets `y` of `rows` examples, of the kind the model of `spec` takes.
pub fn targets<F: Float>(file: &SafeTensors, path: &Path, rows: usize, spec: &ModelSpec) -> Result<TargetData<F>> {
    if !spec.loss.takes_values() {
        return labels(file, path, rows).map(TargetData::Classes);
    }
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: 0, message };
    let y = file.get("y", path)?;
    let outputs = spec.outputs;
    let fits = y.shape == [rows, outputs] || (outputs == 1 && y.shape == [rows]);
    if !fits {
        return Err(bad(format!(
            "`y` has shape {:?}; {} ({}) takes [{rows}, {outputs}] (a row of {outputs} target values per row of `x`)",
            y.shape,
            spec.name,
            spec.loss.name()
        )));
    }
    let values = y
        .to_floats::<F>()
        .ok_or_else(|| bad(format!("`y` is {:?}; the targets of {} must be F32 or F64", y.dtype, spec.loss.name())))?;
    Ok(TargetData::Values(Array2::from_shape_vec((rows, outputs), values).expect("checked shape")))
}

/// The class labels `y` of `rows` examples.
pub fn labels(file: &SafeTensors, path: &Path, rows: usize) -> Result<Vec<u32>> {
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: 0, message };
    let y = file.get("y", path)?;
    let labels = y.to_ints().ok_or_else(|| bad(format!("`y` is {:?}; labels must be I32 or I64", y.dtype)))?;
    if y.shape != [rows] {
        return Err(bad(format!("`y` has shape {:?}; expected [{rows}] (one label per row of `x`)", y.shape)));
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| u32::try_from(l).map_err(|_| bad(format!("label {l} of example {i} is negative or too large"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safetensors::Tensor;
    use crate::spec::{Loss, test_spec};

    fn file_with_y(y: Tensor) -> SafeTensors {
        let mut file = SafeTensors::default();
        file.insert("y", y);
        file
    }

    #[test]
    fn value_targets_are_read_with_their_shape_and_type_checked() {
        let path = Path::new("batch.safetensors");
        let spec = test_spec(Loss::MeanSquaredError, 2);
        let y = file_with_y(Tensor::from_floats(vec![3, 2], &[0.5f32, 1.0, -1.0, 2.0, 0.0, 3.0]));
        let t = targets::<f64>(&y, path, 3, &spec).unwrap();
        assert_eq!(t, TargetData::Values(ndarray::array![[0.5, 1.0], [-1.0, 2.0], [0.0, 3.0]]));

        let e = targets::<f64>(&y, path, 2, &spec).unwrap_err().to_string();
        assert!(
            e.contains("batch.safetensors")
                && e.contains("`y` has shape [3, 2]; TestModel (mean_squared_error) takes [2, 2]"),
            "{e}"
        );
        let ints = file_with_y(Tensor::from_i64(vec![1, 2], &[0, 1]));
        let e = targets::<f64>(&ints, path, 1, &spec).unwrap_err().to_string();
        assert!(e.contains("the targets of mean_squared_error must be F32 or F64"), "{e}");

        // One output: a flat `y` is one target per row.
        let flat = file_with_y(Tensor::from_floats(vec![2], &[1.5f64, -0.5]));
        let t = targets::<f32>(&flat, path, 2, &test_spec(Loss::MeanSquaredError, 1)).unwrap();
        assert_eq!(t, TargetData::Values(ndarray::array![[1.5], [-0.5]]));

        // Class labels stay integers.
        let classes = file_with_y(Tensor::from_i64(vec![2], &[1, 0]));
        let t = targets::<f32>(&classes, path, 2, &test_spec(Loss::SoftmaxCrossEntropy, 2)).unwrap();
        assert_eq!(t, TargetData::Classes(vec![1, 0]));
    }
}
