//! What each example's loss compares the model's outputs with: a class label
//! (softmax cross-entropy, binary logistic), or a row of values, one per output
//! (regression targets for the mean squared error, or one 0/1 label per output for the
//! multi-label logistic loss). Which kind a model takes is its loss's
//! ([`Loss::takes_values`]); [`check_targets`] says so when data of the other kind is
//! given.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, s};

use crate::Float;
use crate::error::{Error, Result};
use crate::spec::{Loss, ModelSpec};

/// A dataset's targets, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData<F> {
    /// A class id per example.
    Classes(Vec<u32>),
    /// `[examples, outputs]` values.
    Values(Array2<F>),
}

/// Targets of a batch, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, F> {
    /// A class id per example.
    Classes(&'a [u32]),
    /// `[examples, outputs]` values.
    Values(ArrayView2<'a, F>),
}

impl<F: Float> TargetData<F> {
    /// `rows` all-zero targets of the kind the loss of `spec` takes: class 0, or rows
    /// of zeros. For a forward pass, which reads no targets.
    pub fn zeros(spec: &ModelSpec, rows: usize) -> Self {
        if spec.loss.takes_values() {
            TargetData::Values(Array2::from_elem((rows, spec.outputs), F::ZERO))
        } else {
            TargetData::Classes(vec![0; rows])
        }
    }

    /// The targets, borrowed.
    pub fn view(&self) -> Targets<'_, F> {
        match self {
            TargetData::Classes(labels) => Targets::Classes(labels),
            TargetData::Values(values) => Targets::Values(values.view()),
        }
    }

    /// Examples.
    pub fn len(&self) -> usize {
        self.view().len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, F: Float> Targets<'a, F> {
    /// Examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(labels) => labels.len(),
            Targets::Values(values) => values.nrows(),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets of examples `rows`.
    pub fn slice(&self, rows: Range<usize>) -> Targets<'a, F> {
        match *self {
            Targets::Classes(labels) => Targets::Classes(&labels[rows]),
            Targets::Values(values) => Targets::Values(values.slice_move(s![rows, ..])),
        }
    }

    /// The class labels, when these are class labels.
    pub fn classes(&self) -> Option<&'a [u32]> {
        match *self {
            Targets::Classes(labels) => Some(labels),
            Targets::Values(_) => None,
        }
    }

    /// A copy that owns its targets.
    pub fn to_owned(&self) -> TargetData<F> {
        match self {
            Targets::Classes(labels) => TargetData::Classes(labels.to_vec()),
            Targets::Values(values) => TargetData::Values(values.to_owned()),
        }
    }
}

impl<F> From<Vec<u32>> for TargetData<F> {
    fn from(labels: Vec<u32>) -> Self {
        TargetData::Classes(labels)
    }
}

impl<F> From<Array2<F>> for TargetData<F> {
    fn from(values: Array2<F>) -> Self {
        TargetData::Values(values)
    }
}

impl<'a, F> From<&'a [u32]> for Targets<'a, F> {
    fn from(labels: &'a [u32]) -> Self {
        Targets::Classes(labels)
    }
}

impl<'a, F> From<&'a Vec<u32>> for Targets<'a, F> {
    fn from(labels: &'a Vec<u32>) -> Self {
        Targets::Classes(labels)
    }
}

impl<'a, F, const N: usize> From<&'a [u32; N]> for Targets<'a, F> {
    fn from(labels: &'a [u32; N]) -> Self {
        Targets::Classes(labels)
    }
}

impl<'a, F> From<ArrayView2<'a, F>> for Targets<'a, F> {
    fn from(values: ArrayView2<'a, F>) -> Self {
        Targets::Values(values)
    }
}

impl<'a, F> From<&'a Array2<F>> for Targets<'a, F> {
    fn from(values: &'a Array2<F>) -> Self {
        Targets::Values(values.view())
    }
}

impl<'a, F: Float> From<&'a TargetData<F>> for Targets<'a, F> {
    fn from(data: &'a TargetData<F>) -> Self {
        data.view()
    }
}

/// Errors unless `targets` are what the model's loss takes: class labels below its
/// number of classes, or a row of `outputs` finite values per example (each 0 or 1
/// for the multi-label loss).
pub fn check_targets<F: Float>(targets: Targets<'_, F>, spec: &ModelSpec) -> Result<()> {
    match (targets, spec.loss.takes_values()) {
        (Targets::Classes(labels), false) => check_labels(labels, spec.num_classes()),
        (Targets::Values(values), true) => check_values(values, spec),
        (Targets::Classes(_), true) => Err(Error::Shape(format!(
            "{} ({}) takes {} target value{} per example, the data has class labels",
            spec.name,
            spec.loss.name(),
            spec.outputs,
            if spec.outputs == 1 { "" } else { "s" }
        ))),
        (Targets::Values(values), false) => Err(Error::Shape(format!(
            "{} ({}) takes one class label per example, the data has {} target values per example",
            spec.name,
            spec.loss.name(),
            values.ncols()
        ))),
    }
}

/// Errors at the first label that is not below `num_classes`.
pub fn check_labels(labels: &[u32], num_classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= num_classes) {
        Some(row) => Err(Error::LabelOutOfRange { row, label: labels[row], num_classes }),
        None => Ok(()),
    }
}

fn check_values<F: Float>(values: ArrayView2<'_, F>, spec: &ModelSpec) -> Result<()> {
    if values.ncols() != spec.outputs {
        return Err(Error::Shape(format!(
            "{} ({}) takes {} target values per example, the data has {}",
            spec.name,
            spec.loss.name(),
            spec.outputs,
            values.ncols()
        )));
    }
    for ((row, column), v) in values.indexed_iter() {
        if !v.is_finite() {
            return Err(Error::Shape(format!("target {column} of example {row} is {v}; targets must be finite")));
        }
        if spec.loss == Loss::MultilabelBinaryLogistic && *v != F::ZERO && *v != F::ONE {
            return Err(Error::Shape(format!(
                "target {column} of example {row} is {v}; multilabel_binary_logistic takes one 0 or 1 per output"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_spec;

    #[test]
    fn targets_of_the_wrong_kind_or_width_are_named() {
        let classes = test_spec(Loss::SoftmaxCrossEntropy, 3);
        let regression = test_spec(Loss::MeanSquaredError, 2);
        let multilabel = test_spec(Loss::MultilabelBinaryLogistic, 2);
        let values = ndarray::array![[0.5f64, 1.0], [1.0, 0.0]];

        assert!(check_targets::<f64>(Targets::Classes(&[0, 2]), &classes).is_ok());
        let e = check_targets::<f64>(Targets::Classes(&[0, 3]), &classes).unwrap_err().to_string();
        assert!(e.contains("label 3") && e.contains("row 1"), "{e}");
        let e = check_targets(Targets::Values(values.view()), &classes).unwrap_err().to_string();
        assert!(e.contains("takes one class label per example, the data has 2 target values"), "{e}");

        assert!(check_targets(Targets::Values(values.view()), &regression).is_ok());
        let e = check_targets::<f64>(Targets::Classes(&[0, 1]), &regression).unwrap_err().to_string();
        assert!(e.contains("(mean_squared_error) takes 2 target values per example, the data has class labels"), "{e}");
        let narrow = ndarray::array![[0.5f64], [1.0]];
        let e = check_targets(Targets::Values(narrow.view()), &regression).unwrap_err().to_string();
        assert!(e.contains("takes 2 target values per example, the data has 1"), "{e}");
        let nan = ndarray::array![[0.5f64, f64::NAN]];
        let e = check_targets(Targets::Values(nan.view()), &regression).unwrap_err().to_string();
        assert!(e.contains("target 1 of example 0 is NaN"), "{e}");

        let e = check_targets(Targets::Values(values.view()), &multilabel).unwrap_err().to_string();
        assert!(e.contains("target 0 of example 0 is 0.5; multilabel_binary_logistic takes one 0 or 1"), "{e}");
        assert!(check_targets(Targets::Values(values.slice(s![1.., ..])), &multilabel).is_ok());
    }

    #[test]
    fn a_slice_keeps_its_rows() {
        let values = ndarray::array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let t = Targets::Values(values.view()).slice(1..3);
        assert_eq!(t.to_owned(), TargetData::Values(ndarray::array![[3.0, 4.0], [5.0, 6.0]]));
        let labels = [4u32, 5, 6];
        assert_eq!(Targets::<f32>::from(&labels).slice(0..2).classes(), Some(&[4u32, 5][..]));
    }
}
