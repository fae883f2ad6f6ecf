//! Users' data files, by their extension: CSV (with a public schema), or a numpy `.npz`
//! or safetensors file of tensors `x` and `y`.

use std::path::Path;

use crate::runtime::data::csv::{self, CsvSchema};
use crate::runtime::data::tensor_file;
use crate::runtime::{Dataset, Error, Float, ModelSpec, Result};

/// Whether `path` names a CSV file.
pub fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The examples of `path`, checked against the model of `spec`: a CSV file encoded by
/// `schema`, or a tensor file (which takes no schema).
pub fn load<F: Float>(path: &Path, schema: Option<&CsvSchema>, spec: &ModelSpec) -> Result<Dataset<F>> {
    match (is_csv(path), schema) {
        (true, Some(schema)) => csv::load(path, schema, spec),
        (true, None) => Err(Error::Config(format!(
            "{} is a CSV file: give its public schema with --schema (the columns' bounds and categories; \
             see the docs of dpsgd::runtime::data::csv)",
            path.display()
        ))),
        (false, None) => tensor_file::load(path, spec),
        (false, Some(_)) => Err(Error::Config(format!(
            "--schema describes CSV files; {} is a tensor file (.npz or safetensors), whose features are used as given",
            path.display()
        ))),
    }
}
