//! Datasets: a feature matrix and class labels, checked once when they are built.

pub mod adult;
pub mod imdb;
pub mod mnist;
pub mod npz;
pub mod synthetic;
pub mod tensor_file;

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{Array2, ArrayView2};

use crate::Float;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;

/// Examples as rows of a feature matrix, with a class label each. Construction checks
/// that every feature is finite and that there is one label per row. A dataset never
/// changes once built.
#[derive(Clone, Debug)]
pub struct Dataset<F> {
    features: Array2<F>,
    labels: Vec<u32>,
    id: u64,
}

impl<F: Float> Dataset<F> {
    pub fn new(features: Array2<F>, labels: Vec<u32>) -> Result<Self> {
        check_batch(features.view(), &labels)?;
        let features =
            if features.is_standard_layout() { features } else { features.as_standard_layout().into_owned() };
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Dataset { features, labels, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Unique to this dataset and its clones (which hold the same examples): an engine
    /// that keeps a copy of a dataset on its device knows it by this number.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn features(&self) -> ArrayView2<'_, F> {
        self.features.view()
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per example.
    pub fn width(&self) -> usize {
        self.features.ncols()
    }

    /// Errors unless the examples fit the model: feature count and label range.
    pub fn check_fits(&self, spec: &ModelSpec) -> Result<()> {
        check_width(self.width(), spec)?;
        check_tokens(self.features(), spec)?;
        check_labels(&self.labels, spec.num_classes())
    }
}

/// For a model of token ids: errors unless every feature is a whole number below the
/// vocabulary size.
pub fn check_tokens<F: Float>(features: ArrayView2<'_, F>, spec: &ModelSpec) -> Result<()> {
    let Some(vocab) = spec.token_vocab else { return Ok(()) };
    for ((row, column), v) in features.indexed_iter() {
        let id = v.to_f64();
        if !(id >= 0.0 && id < vocab as f64 && id.fract() == 0.0) {
            return Err(Error::Shape(format!(
                "token {v} at row {row}, position {column} is not an id in 0..{vocab} ({} takes token ids)",
                spec.name
            )));
        }
    }
    Ok(())
}

/// Errors unless `features` has one finite row per label.
pub fn check_batch<F: Float>(features: ArrayView2<'_, F>, labels: &[u32]) -> Result<()> {
    if features.nrows() != labels.len() {
        return Err(Error::Shape(format!("{} feature rows but {} labels", features.nrows(), labels.len())));
    }
    check_finite(features)
}

/// Errors at the first NaN or infinite feature.
pub fn check_finite<F: Float>(features: ArrayView2<'_, F>) -> Result<()> {
    for (row, values) in features.rows().into_iter().enumerate() {
        if let Some(column) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { row, column });
        }
    }
    Ok(())
}

/// Errors unless examples have the model's number of features.
pub fn check_width(width: usize, spec: &ModelSpec) -> Result<()> {
    if width != spec.input_width {
        return Err(Error::Shape(format!(
            "{} takes {} features per example, the data has {width}",
            spec.name, spec.input_width
        )));
    }
    Ok(())
}

/// Errors at the first label that is not below `num_classes`.
pub fn check_labels(labels: &[u32], num_classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= num_classes) {
        Some(row) => Err(Error::LabelOutOfRange { row, label: labels[row], num_classes }),
        None => Ok(()),
    }
}
