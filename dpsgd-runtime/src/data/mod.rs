//! Datasets: a feature matrix and the examples' targets (class labels or values),
//! checked once when they are built.

pub mod adult;
pub mod csv;
pub mod imdb;
pub mod mnist;
pub mod npz;
pub mod synthetic;
pub mod targets;
pub mod tensor_file;

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{Array2, ArrayView2};

use crate::Float;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;
pub use csv::CsvSchema;
pub use targets::{TargetData, Targets, check_labels, check_targets};

/// Examples as rows of a feature matrix, with a target each (a class label, or a row
/// of values). Construction checks that every feature is finite and that there is one
/// target per row. A dataset never changes once built.
#[derive(Clone, Debug)]
pub struct Dataset<F> {
    features: Array2<F>,
    targets: TargetData<F>,
    id: u64,
}

impl<F: Float> Dataset<F> {
    /// Examples `features` with `targets`: class labels (`Vec<u32>`) or values
    /// (`Array2`, a row per example).
    pub fn new(features: Array2<F>, targets: impl Into<TargetData<F>>) -> Result<Self> {
        let targets = targets.into();
        check_batch(features.view(), targets.view())?;
        let features =
            if features.is_standard_layout() { features } else { features.as_standard_layout().into_owned() };
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Dataset { features, targets, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Unique to this dataset and its clones (which hold the same examples): an engine
    /// that keeps a copy of a dataset on its device knows it by this number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The features, `[examples, width]`.
    pub fn features(&self) -> ArrayView2<'_, F> {
        self.features.view()
    }

    /// The targets, one per example.
    pub fn targets(&self) -> Targets<'_, F> {
        self.targets.view()
    }

    /// The class labels, for a dataset of class labels.
    pub fn labels(&self) -> Option<&[u32]> {
        self.targets().classes()
    }

    /// Examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Examples `rows` of this dataset, as a dataset of their own (a process's shard of
    /// a training set). Panics if `rows` reaches past the end.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Self {
        let features = self.features.slice(ndarray::s![rows.clone(), ..]).to_owned();
        let targets = match &self.targets {
            TargetData::Classes(c) => TargetData::Classes(c[rows].to_vec()),
            TargetData::Values(v) => TargetData::Values(v.slice(ndarray::s![rows, ..]).to_owned()),
        };
        Dataset::new(features, targets).expect("rows of a checked dataset")
    }

    /// Features per example.
    pub fn width(&self) -> usize {
        self.features.ncols()
    }

    /// Errors unless the examples fit the model: feature count, token ids, and targets
    /// of the kind and range its loss takes.
    pub fn check_fits(&self, spec: &ModelSpec) -> Result<()> {
        check_width(self.width(), spec)?;
        check_tokens(self.features(), spec)?;
        check_targets(self.targets(), spec)
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

/// Errors unless `features` has one finite row per target.
pub fn check_batch<F: Float>(features: ArrayView2<'_, F>, targets: Targets<'_, F>) -> Result<()> {
    if features.nrows() != targets.len() {
        let what = if targets.classes().is_some() { "labels" } else { "rows of targets" };
        return Err(Error::Shape(format!("{} feature rows but {} {what}", features.nrows(), targets.len())));
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
