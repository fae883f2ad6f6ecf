//! Users' own tabular data: a CSV file of examples, encoded as a public schema says.
//!
//! # The file
//!
//! The first line is a header naming the columns; each further line is an example,
//! its fields separated by commas. Whitespace around a field is trimmed, and a field
//! may be double-quoted (`"Married, spouse present"`, with `""` for a quote inside;
//! a quoted field may span lines). Empty lines are skipped. Lines end with `\n` or
//! `\r\n`; the file must be UTF-8 (a byte-order mark is allowed). Every used field
//! must hold a value: there is no encoding for a missing one, so drop or fill such
//! rows first. Whatever does not parse is an [`Error::Malformed`] naming the file,
//! its line and, for a field, the column and the value.
//!
//! # The schema
//!
//! A JSON file the user writes, for example:
//!
//! ```json
//! {
//!   "target": { "column": "income", "classes": ["<=50K", ">50K"] },
//!   "features": [
//!     { "column": "age", "min": 17, "max": 90 },
//!     { "column": "workclass", "categories": ["Private", "Self-emp-not-inc", "State-gov"], "other": true },
//!     { "column": "hours", "min": 1, "max": 99 }
//!   ],
//!   "ignore": ["fnlwgt"]
//! }
//! ```
//!
//! - `target`: `{"column": NAME, "classes": [...]}` for class labels (a label is the
//!   index of its class in the list: the field must equal one of them), or
//!   `{"columns": [NAME, ...]}` for a row of target values (regression, multi-label
//!   losses), each a finite number.
//! - `features`, in the order they are encoded:
//!   - numeric, `{"column", "min", "max"}`: the value clamped to `[min, max]` and
//!     mapped linearly onto `[-1, 1]`: `2 (x - min) / (max - min) - 1`. One feature.
//!     Clamping, not an error, is the standard treatment of outliers in private data
//!     analysis.
//!   - categorical, `{"column", "categories", "other"}`: one-hot over `categories`
//!     in their order, plus one more feature when `"other": true`, which takes every
//!     value not listed. Without `other`, an unlisted value is an error.
//! - `ignore`: columns of the file that are not used. Every column of the file must
//!   be the target, a feature or ignored, so that a misspelt name is an error rather
//!   than a silently dropped feature; every column the schema names must be in the
//!   file.
//!
//! Unknown keys are refused. [`CsvSchema::to_json`] writes a schema back, to be
//! saved with a trained model so that its predictions encode data the same way.
//!
//! # Why the schema is public
//!
//! The privacy guarantee of a private training run covers the training examples: what
//! the run computes from them goes through clipping and noise. The encoding does not:
//! if the categories were those the training file happens to hold, or numeric columns
//! were scaled by its minimum and maximum or its mean and standard deviation, those
//! statistics would reach the model (and could reveal a single person's record, such
//! as the only person of some category, or the maximum income) outside the privacy
//! accounting. So the encoding comes only from the schema, which must hold public
//! knowledge (the values a form allows, the plausible range of an age), never from the
//! private file, and every example is encoded from its own row and the schema alone.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{Dataset, TargetData};
use crate::Float;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;

/// How the columns of a CSV file become features and targets: public knowledge,
/// written by the user (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSchema", into = "RawSchema")]
pub struct CsvSchema {
    /// The column or columns each example's target comes from.
    pub target: Target,
    /// The features, in the order they are encoded.
    pub features: Vec<Feature>,
    /// Columns of the file that are not used.
    pub ignore: Vec<String>,
}

/// Where each example's target comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTarget", into = "RawTarget")]
pub enum Target {
    /// A class label: the field must equal one of `classes`; its index is the label.
    /// JSON: `{"column": NAME, "classes": [...]}`.
    Classes {
        /// The column of the labels.
        column: String,
        /// The classes, in the order of the model's outputs.
        classes: Vec<String>,
    },
    /// A row of target values, one per column, each a finite number.
    /// JSON: `{"columns": [NAME, ...]}`.
    Values {
        /// The columns of the values, in the order of the model's outputs.
        columns: Vec<String>,
    },
}

/// How one column becomes features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFeature", into = "RawFeature")]
pub enum Feature {
    /// A number, clamped to `[min, max]` and mapped linearly onto `[-1, 1]`: one
    /// feature. JSON: `{"column": NAME, "min": MIN, "max": MAX}`.
    Numeric {
        /// The column.
        column: String,
        /// The least value; smaller ones are raised to it. Public knowledge, not the
        /// data's minimum.
        min: f64,
        /// The greatest value; larger ones are lowered to it.
        max: f64,
    },
    /// One of a list of values, one-hot encoded: a feature per category, plus one for
    /// every unlisted value when `other` is set (without it, an unlisted value is an
    /// error). JSON: `{"column": NAME, "categories": [...], "other": true}`.
    Categorical {
        /// The column.
        column: String,
        /// The values, in the order of their features.
        categories: Vec<String>,
        /// Whether a last feature takes every value not in `categories`.
        other: bool,
    },
}

impl Feature {
    /// The column this feature is read from.
    pub fn column(&self) -> &str {
        match self {
            Feature::Numeric { column, .. } | Feature::Categorical { column, .. } => column,
        }
    }

    /// Features it encodes to.
    pub fn width(&self) -> usize {
        match self {
            Feature::Numeric { .. } => 1,
            Feature::Categorical { categories, other, .. } => categories.len() + usize::from(*other),
        }
    }

    /// Errors unless the bounds or the categories can encode anything.
    fn check(&self) -> std::result::Result<(), String> {
        match self {
            Feature::Numeric { column, min, max } => {
                if !(min.is_finite() && max.is_finite() && min < max) {
                    return Err(format!("feature `{column}`: min {min} must be below max {max}, both finite numbers"));
                }
                Ok(())
            }
            Feature::Categorical { column, categories, .. } => {
                check_names(categories, &format!("feature `{column}`"), "categories", 1)
            }
        }
    }
}

impl Target {
    /// The columns the target is read from.
    pub fn columns(&self) -> &[String] {
        match self {
            Target::Classes { column, .. } => std::slice::from_ref(column),
            Target::Values { columns } => columns,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        match self {
            Target::Classes { column, classes } => check_names(classes, &format!("target `{column}`"), "classes", 2),
            Target::Values { columns } if columns.is_empty() => {
                Err("the target's `columns` is empty; name at least one column of target values".into())
            }
            Target::Values { .. } => Ok(()),
        }
    }
}

/// Errors unless `names` has at least `least` values, unique, none empty and none with
/// surrounding whitespace (fields are trimmed, so such a value could never match).
fn check_names(names: &[String], owner: &str, what: &str, least: usize) -> std::result::Result<(), String> {
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("{owner}: {what} has an empty value"));
        }
        if name.trim() != name {
            return Err(format!(
                "{owner}: {what} has {name:?}, with surrounding whitespace; fields are trimmed, so it could never match"
            ));
        }
        if names[..i].contains(name) {
            return Err(format!("{owner}: {what} lists {name:?} twice"));
        }
    }
    if names.len() < least {
        let s = if least == 1 { "" } else { "s" };
        return Err(format!("{owner}: {what} must list at least {least} value{s}, it has {}", names.len()));
    }
    Ok(())
}

/// A feature as written in JSON, before its kind is known.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    other: Option<bool>,
}

impl Feature {
    /// The feature of the kind `raw`'s keys say, unchecked.
    fn from_raw(raw: RawFeature) -> std::result::Result<Self, String> {
        let RawFeature { column, min, max, categories, other } = raw;
        match (min, max, categories, other) {
            (Some(min), Some(max), None, None) => Ok(Feature::Numeric { column, min, max }),
            (None, None, Some(categories), other) => {
                Ok(Feature::Categorical { column, categories, other: other.unwrap_or(false) })
            }
            _ => Err(format!(
                "feature `{column}` must be numeric, {{\"column\", \"min\", \"max\"}}, or categorical, \
                 {{\"column\", \"categories\"}} with an optional \"other\""
            )),
        }
    }
}

impl TryFrom<RawFeature> for Feature {
    type Error = String;

    fn try_from(raw: RawFeature) -> std::result::Result<Self, String> {
        let feature = Feature::from_raw(raw)?;
        feature.check()?;
        Ok(feature)
    }
}

impl From<Feature> for RawFeature {
    fn from(feature: Feature) -> Self {
        match feature {
            Feature::Numeric { column, min, max } => {
                RawFeature { column, min: Some(min), max: Some(max), categories: None, other: None }
            }
            Feature::Categorical { column, categories, other } => {
                RawFeature { column, min: None, max: None, categories: Some(categories), other: other.then_some(true) }
            }
        }
    }
}

/// A target as written in JSON, before its kind is known.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<String>>,
}

impl Target {
    /// The target of the kind `raw`'s keys say, unchecked.
    fn from_raw(raw: RawTarget) -> std::result::Result<Self, String> {
        match raw {
            RawTarget { column: Some(column), classes: Some(classes), columns: None } => {
                Ok(Target::Classes { column, classes })
            }
            RawTarget { column: None, classes: None, columns: Some(columns) } => Ok(Target::Values { columns }),
            _ => Err("the target must be {\"column\": NAME, \"classes\": [...]} (class labels) \
                      or {\"columns\": [NAME, ...]} (target values)"
                .into()),
        }
    }
}

impl TryFrom<RawTarget> for Target {
    type Error = String;

    fn try_from(raw: RawTarget) -> std::result::Result<Self, String> {
        let target = Target::from_raw(raw)?;
        target.check()?;
        Ok(target)
    }
}

impl From<Target> for RawTarget {
    fn from(target: Target) -> Self {
        match target {
            Target::Classes { column, classes } => {
                RawTarget { column: Some(column), classes: Some(classes), columns: None }
            }
            Target::Values { columns } => RawTarget { column: None, classes: None, columns: Some(columns) },
        }
    }
}

/// A schema as written in JSON, unchecked.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    target: RawTarget,
    features: Vec<RawFeature>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore: Vec<String>,
}

impl TryFrom<RawSchema> for CsvSchema {
    type Error = String;

    fn try_from(raw: RawSchema) -> std::result::Result<Self, String> {
        let schema = CsvSchema {
            target: Target::from_raw(raw.target)?,
            features: raw.features.into_iter().map(Feature::from_raw).collect::<std::result::Result<_, _>>()?,
            ignore: raw.ignore,
        };
        schema.problem().map_or(Ok(schema), Err)
    }
}

impl From<CsvSchema> for RawSchema {
    fn from(schema: CsvSchema) -> Self {
        RawSchema {
            target: schema.target.into(),
            features: schema.features.into_iter().map(RawFeature::from).collect(),
            ignore: schema.ignore,
        }
    }
}

impl CsvSchema {
    /// The schema in the JSON file at `path`, checked.
    pub fn load(path: &Path) -> Result<CsvSchema> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let text = utf8(&bytes, path)?;
        CsvSchema::from_json(text, path)
    }

    /// The schema in JSON `text`, checked; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<CsvSchema> {
        // In two steps, so that the errors of JSON (syntax, unknown keys, types) name
        // their line, while those of the values (serde_json would place them at the end
        // of the enclosing list) name the feature or target instead.
        let raw: RawSchema = serde_json::from_str(text).map_err(|e| {
            // serde_json ends its messages with the place; the error gives the line.
            let message = e.to_string();
            let place = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&place).unwrap_or(&message).to_string();
            Error::Malformed { path: path.to_path_buf(), line: e.line(), message: format!("schema: {message}") }
        })?;
        CsvSchema::try_from(raw).map_err(|message| Error::Malformed {
            path: path.to_path_buf(),
            line: 0,
            message: format!("schema: {message}"),
        })
    }

    /// The schema as pretty JSON, which [`from_json`](Self::from_json) reads back
    /// equal: to be saved with a model trained on data it encoded.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schema of strings and numbers always serializes")
    }

    /// Errors ([`Error::Config`]) unless the schema can encode anything: at least one
    /// feature, bounds `min < max`, categories and at least two classes, each unique,
    /// and no column used twice. [`from_json`](Self::from_json) checks this; call it
    /// for a schema built in code (reading does).
    pub fn validate(&self) -> Result<()> {
        self.problem().map_or(Ok(()), |message| Err(Error::Config(format!("CSV schema: {message}"))))
    }

    /// What [`validate`](Self::validate) refuses, if anything.
    fn problem(&self) -> Option<String> {
        if self.features.is_empty() {
            return Some("no features; list at least one under `features`".into());
        }
        let checks = std::iter::once(self.target.check()).chain(self.features.iter().map(Feature::check));
        if let Some(message) = checks.filter_map(|c| c.err()).next() {
            return Some(message);
        }
        let mut uses: HashMap<&str, String> = HashMap::new();
        let target = self.target.columns().iter().map(|c| (c.as_str(), "the target".to_string()));
        let features = self.features.iter().enumerate().map(|(i, f)| (f.column(), format!("feature {}", i + 1)));
        let ignored = self.ignore.iter().map(|c| (c.as_str(), "`ignore`".to_string()));
        for (column, role) in target.chain(features).chain(ignored) {
            if column.trim().is_empty() || column.trim() != column {
                return Some(format!(
                    "column name {column:?} ({role}) is empty or has surrounding whitespace; header names are trimmed"
                ));
            }
            if let Some(first) = uses.insert(column, role.clone()) {
                return Some(format!("column `{column}` is used twice: as {first} and as {role}"));
            }
        }
        None
    }

    /// Features per example after one-hot encoding: the model's input width.
    pub fn num_features(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    /// The name of each encoded feature, in order: `age` for a numeric column,
    /// `workclass=Private` for a category, `workclass=(other)` for the other values.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.num_features());
        for feature in &self.features {
            match feature {
                Feature::Numeric { column, .. } => names.push(column.clone()),
                Feature::Categorical { column, categories, other } => {
                    names.extend(categories.iter().map(|c| format!("{column}={c}")));
                    if *other {
                        names.push(format!("{column}=(other)"));
                    }
                }
            }
        }
        names
    }

    /// Errors ([`Error::Config`]) unless the schema encodes the model's input width and
    /// targets of the kind and number its loss takes.
    pub fn check_fits(&self, spec: &ModelSpec) -> Result<()> {
        let model = format!("{} ({})", spec.name, spec.loss.name());
        let width = self.num_features();
        if width != spec.input_width {
            return Err(Error::Config(format!(
                "the CSV schema encodes {width} features per example, the model {model} takes {}",
                spec.input_width
            )));
        }
        let problem = match (&self.target, spec.loss.takes_values()) {
            (Target::Classes { column, classes }, false) if classes.len() != spec.num_classes() => Some(format!(
                "the CSV schema's target `{column}` has {} classes, the model {model} has {}",
                classes.len(),
                spec.num_classes()
            )),
            (Target::Values { columns }, true) if columns.len() != spec.outputs => Some(format!(
                "the CSV schema's target has {} value columns, the model {model} takes {} target values per example",
                columns.len(),
                spec.outputs
            )),
            (Target::Classes { column, .. }, true) => Some(format!(
                "the CSV schema's target `{column}` is class labels, the model {model} takes {} target values per \
                 example: give the target as {{\"columns\": [...]}}",
                spec.outputs
            )),
            (Target::Values { .. }, false) => Some(format!(
                "the CSV schema's target is value columns, the model {model} takes one class label per example: \
                 give the target as {{\"column\": NAME, \"classes\": [...]}}"
            )),
            _ => None,
        };
        problem.map_or(Ok(()), |message| Err(Error::Config(message)))
    }

    /// The examples of the CSV file at `path`: `[examples, num_features]` features and
    /// their targets.
    pub fn read<F: Float>(&self, path: &Path) -> Result<(Array2<F>, TargetData<F>)> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let (features, targets) = self.decode(&bytes, path, Wanted::Required)?;
        Ok((features, targets.expect("read with targets")))
    }

    /// The examples of the CSV file at `path`, with their targets if the header has
    /// the target columns (for predictions that also report accuracy or loss).
    pub fn read_targets_if_present<F: Float>(&self, path: &Path) -> Result<(Array2<F>, Option<TargetData<F>>)> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        self.decode(&bytes, path, Wanted::IfPresent)
    }

    /// The features alone of the CSV file at `path`, for predictions: the target
    /// columns may be absent, and are ignored if present.
    pub fn read_features<F: Float>(&self, path: &Path) -> Result<Array2<F>> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(self.decode(&bytes, path, Wanted::No)?.0)
    }

    /// Encodes the CSV file `bytes` (`path` names it in errors), with its targets as
    /// `targets` asks.
    fn decode<F: Float>(
        &self,
        bytes: &[u8],
        path: &Path,
        targets: Wanted,
    ) -> Result<(Array2<F>, Option<TargetData<F>>)> {
        self.validate()?;
        let bad = |line: usize, message: String| Error::Malformed { path: path.to_path_buf(), line, message };
        let text = utf8(bytes, path)?;
        let mut rows = Rows { text: text.strip_prefix('\u{feff}').unwrap_or(text), pos: 0, line: 1, path };
        let Some(header) = rows.next_row()? else {
            return Err(bad(1, "the file is empty; its first line must be a header naming the columns".into()));
        };
        let plan = Plan::new(self, &header, path, targets)?;
        let width = self.num_features();
        let mut features: Vec<F> = Vec::new();
        let mut labels: Vec<u32> = Vec::new();
        let mut values: Vec<F> = Vec::new();
        let mut examples = 0;
        while let Some(row) = rows.next_row()? {
            if row.fields.len() != header.fields.len() {
                return Err(bad(
                    row.line,
                    format!("{} fields, the header has {}", row.fields.len(), header.fields.len()),
                ));
            }
            plan.encode(&row, &mut features, path)?;
            match &plan.target {
                Some(TargetPlan::Classes { index, column, classes }) => {
                    let label = row.value(*index, column, path)?;
                    let class = classes.get(label).ok_or_else(|| {
                        let list: Vec<&str> = self.target_classes().iter().map(String::as_str).collect();
                        bad(
                            row.line,
                            format!("column `{column}`: {label:?} is not one of the schema's classes {list:?}"),
                        )
                    })?;
                    labels.push(*class);
                }
                Some(TargetPlan::Values(columns)) => {
                    for &(index, column) in columns {
                        let value = row.value(index, column, path)?;
                        values.push(F::from_f64(number(value, column, row.line, path)?));
                    }
                }
                None => {}
            }
            examples += 1;
        }
        if examples == 0 {
            return Err(bad(header.line + 1, "no examples: the file has a header and no rows".into()));
        }
        debug_assert_eq!(features.len(), examples * width);
        let features = Array2::from_shape_vec((examples, width), features).expect("a row of features per example");
        let targets = match plan.target {
            Some(TargetPlan::Classes { .. }) => Some(TargetData::Classes(labels)),
            Some(TargetPlan::Values(indices)) => Some(TargetData::Values(
                Array2::from_shape_vec((examples, indices.len()), values).expect("a row of targets per example"),
            )),
            None => None,
        };
        Ok((features, targets))
    }

    fn target_classes(&self) -> &[String] {
        match &self.target {
            Target::Classes { classes, .. } => classes,
            Target::Values { .. } => &[],
        }
    }
}

/// The CSV file at `path`, encoded by `schema`, as a dataset for the model of `spec`:
/// the schema's width and target checked against the model first, then the data
/// ([`Dataset::check_fits`]).
pub fn load<F: Float>(path: &Path, schema: &CsvSchema, spec: &ModelSpec) -> Result<Dataset<F>> {
    schema.validate()?;
    schema.check_fits(spec)?;
    let (features, targets) = schema.read(path)?;
    let data = Dataset::new(features, targets)?;
    data.check_fits(spec)?;
    Ok(data)
}

/// `bytes` as text, or an error naming the line of the first byte that is not UTF-8.
fn utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        Error::Malformed {
            path: path.to_path_buf(),
            line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            message: format!("not UTF-8 text (byte {}); save the file as UTF-8", e.valid_up_to()),
        }
    })
}

/// The finite number in field `value` of `column`.
fn number(value: &str, column: &str, line: usize, path: &Path) -> Result<f64> {
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line, message };
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(bad(format!("column `{column}`: {value:?} is not a finite number"))),
        Err(_) => Err(bad(format!("column `{column}`: {value:?} is not a number"))),
    }
}

/// Which field each part of the schema reads, for a file's header.
struct Plan<'s> {
    /// Per feature: the index of its field, its column, its encoding.
    features: Vec<(usize, &'s str, Encoding<'s>)>,
    target: Option<TargetPlan<'s>>,
}

enum Encoding<'s> {
    Numeric {
        min: f64,
        max: f64,
    },
    /// The slot of each category; `other`: the slot of unlisted values.
    Categorical {
        slots: HashMap<&'s str, usize>,
        width: usize,
        other: Option<usize>,
    },
}

enum TargetPlan<'s> {
    Classes {
        index: usize,
        column: &'s str,
        classes: HashMap<&'s str, u32>,
    },
    /// The index and column of each value.
    Values(Vec<(usize, &'s str)>),
}

/// Which targets a read wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    /// The target columns must be there.
    Required,
    /// The targets if the header has every target column.
    IfPresent,
    /// None: the target columns may be absent, and are ignored if present.
    No,
}

impl<'s> Plan<'s> {
    /// Errors unless the header's names are unique and are the schema's columns
    /// (the target's may be absent unless `targets` requires them).
    fn new(schema: &'s CsvSchema, header: &Row<'_>, path: &Path, targets: Wanted) -> Result<Self> {
        let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: header.line, message };
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, name) in header.fields.iter().enumerate() {
            if name.is_empty() {
                return Err(bad(format!("the header's column {} has no name", i + 1)));
            }
            if let Some(first) = index.insert(name, i) {
                return Err(bad(format!(
                    "the header names column `{name}` twice (columns {} and {})",
                    first + 1,
                    i + 1
                )));
            }
        }
        let target_columns = schema.target.columns();
        for name in &header.fields {
            let known = schema.features.iter().any(|f| f.column() == name)
                || target_columns.iter().any(|c| c == name)
                || schema.ignore.iter().any(|c| c == name);
            if !known {
                return Err(bad(format!(
                    "column `{name}` is not in the schema; list it under `ignore` to leave it out, or as a feature"
                )));
            }
        }
        let find = |column: &str| {
            index.get(column).copied().ok_or_else(|| {
                let held: Vec<&str> = header.fields.iter().map(|f| f.as_ref()).collect();
                bad(format!("the schema's column `{column}` is not in the header (the file's columns: {held:?})"))
            })
        };
        let mut features = Vec::with_capacity(schema.features.len());
        for feature in &schema.features {
            let encoding = match feature {
                Feature::Numeric { min, max, .. } => Encoding::Numeric { min: *min, max: *max },
                Feature::Categorical { categories, other, .. } => Encoding::Categorical {
                    slots: categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect(),
                    width: feature.width(),
                    other: other.then_some(categories.len()),
                },
            };
            features.push((find(feature.column())?, feature.column(), encoding));
        }
        let target = match &schema.target {
            _ if targets == Wanted::No => None,
            _ if targets == Wanted::IfPresent && !target_columns.iter().all(|c| index.contains_key(c.as_str())) => None,
            Target::Classes { column, classes } => Some(TargetPlan::Classes {
                index: find(column)?,
                column,
                classes: classes.iter().zip(0..).map(|(c, i)| (c.as_str(), i)).collect(),
            }),
            Target::Values { columns } => {
                Some(TargetPlan::Values(columns.iter().map(|c| Ok((find(c)?, c.as_str()))).collect::<Result<_>>()?))
            }
        };
        Ok(Plan { features, target })
    }

    /// Appends the features of `row` to `out`.
    fn encode<F: Float>(&self, row: &Row<'_>, out: &mut Vec<F>, path: &Path) -> Result<()> {
        for &(index, column, ref encoding) in &self.features {
            let value = row.value(index, column, path)?;
            match encoding {
                Encoding::Numeric { min, max } => {
                    let x = number(value, column, row.line, path)?.clamp(*min, *max);
                    out.push(F::from_f64(2.0 * (x - min) / (max - min) - 1.0));
                }
                Encoding::Categorical { slots, width, other } => {
                    let Some(slot) = slots.get(value).copied().or(*other) else {
                        return Err(Error::Malformed {
                            path: path.to_path_buf(),
                            line: row.line,
                            message: format!(
                                "column `{column}`: {value:?} is not in the schema's categories; list it there, or \
                                 set \"other\": true to give every unlisted value a feature of its own"
                            ),
                        });
                    };
                    let start = out.len();
                    out.resize(start + *width, F::ZERO);
                    out[start + slot] = F::ONE;
                }
            }
        }
        Ok(())
    }
}

/// A record of the file: its fields, trimmed and unquoted.
struct Row<'a> {
    /// The line it starts on, 1-based.
    line: usize,
    fields: Vec<Cow<'a, str>>,
}

impl Row<'_> {
    /// The field at `index`, of `column`; errors if it is empty.
    fn value(&self, index: usize, column: &str, path: &Path) -> Result<&str> {
        let value = self.fields[index].as_ref();
        if value.is_empty() {
            return Err(Error::Malformed {
                path: path.to_path_buf(),
                line: self.line,
                message: format!(
                    "column `{column}` is empty; there is no encoding for a missing value: drop the row or fill it in"
                ),
            });
        }
        Ok(value)
    }
}

/// The records of CSV text, one at a time: fields separated by commas, whitespace
/// around them trimmed, double-quoted fields (with `""` for a quote; they may span
/// lines), empty lines skipped.
struct Rows<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    pos: usize,
    /// The line `pos` is on, 1-based.
    line: usize,
    path: &'a Path,
}

/// Whitespace that may stand around a field: everything `str::trim` removes but the
/// line break (commas, quotes and line breaks are ASCII, so scanning bytes is safe).
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

impl<'a> Rows<'a> {
    /// The next record that is not an empty line.
    fn next_row(&mut self) -> Result<Option<Row<'a>>> {
        while self.pos < self.text.len() {
            let line = self.line;
            let mut fields = Vec::new();
            let mut quoted = false;
            loop {
                let (field, was_quoted, more) = self.field()?;
                fields.push(field);
                quoted |= was_quoted;
                if !more {
                    break;
                }
            }
            let empty_line = fields.len() == 1 && fields[0].is_empty() && !quoted;
            if !empty_line {
                return Ok(Some(Row { line, fields }));
            }
        }
        Ok(None)
    }

    /// The next field, whether it was quoted, and whether another field of the same
    /// record follows (a comma ended it, not a line break or the end).
    fn field(&mut self) -> Result<(Cow<'a, str>, bool, bool)> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut pos = start;
        while pos < bytes.len() && is_blank(bytes[pos]) {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'"' {
            let opened = self.line;
            let mut value = String::new();
            let mut chunk = pos + 1;
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => {
                        return Err(Error::Malformed {
                            path: self.path.to_path_buf(),
                            line: opened,
                            message: "a quoted field opened on this line is never closed (a quote is missing)".into(),
                        });
                    }
                    Some(b'"') if bytes.get(pos + 1) == Some(&b'"') => {
                        value.push_str(&self.text[chunk..=pos]);
                        pos += 2;
                        chunk = pos;
                    }
                    Some(b'"') => {
                        value.push_str(&self.text[chunk..pos]);
                        pos += 1;
                        break;
                    }
                    Some(b'\n') => {
                        self.line += 1;
                        pos += 1;
                    }
                    Some(_) => pos += 1,
                }
            }
            while pos < bytes.len() && is_blank(bytes[pos]) {
                pos += 1;
            }
            let more = match bytes.get(pos) {
                None => false,
                Some(b',') => true,
                Some(b'\n') => {
                    self.line += 1;
                    false
                }
                Some(_) => {
                    return Err(Error::Malformed {
                        path: self.path.to_path_buf(),
                        line: self.line,
                        message: format!(
                            "text after the closing quote of field \"{}\"; a quote inside a quoted field is written \"\"",
                            value.trim()
                        ),
                    });
                }
            };
            self.pos = (pos + 1).min(bytes.len());
            let value = if value.trim().len() == value.len() { value } else { value.trim().to_string() };
            return Ok((Cow::Owned(value), true, more));
        }
        while pos < bytes.len() && bytes[pos] != b',' && bytes[pos] != b'\n' {
            pos += 1;
        }
        let field = self.text[start..pos].trim();
        let more = bytes.get(pos) == Some(&b',');
        if bytes.get(pos) == Some(&b'\n') {
            self.line += 1;
        }
        self.pos = (pos + 1).min(bytes.len());
        Ok((Cow::Borrowed(field), false, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Loss, test_spec};

    /// Schema of the encoding test, a feature per line (so that an error in one is on
    /// its line: 4 to 7).
    const SCHEMA: &str = r#"{
  "target": { "column": "income", "classes": ["<=50K", ">50K"] },
  "features": [
    { "column": "age", "min": 20, "max": 60 },
    { "column": "workclass", "categories": ["Private", "State-gov"], "other": true },
    { "column": "sex", "categories": ["Female", "Male"] },
    { "column": "hours", "min": 0, "max": 80 }
  ],
  "ignore": ["note"]
}"#;

    const HEADER: &str = "age,workclass,sex,hours,note,income\n";

    fn schema() -> CsvSchema {
        CsvSchema::from_json(SCHEMA, Path::new("schema.json")).unwrap()
    }

    fn decode(schema: &CsvSchema, csv: &[u8]) -> Result<(Array2<f64>, Option<TargetData<f64>>)> {
        schema.decode(csv, Path::new("data.csv"), Wanted::Required)
    }

    #[test]
    fn examples_are_encoded_as_worked_out_by_hand() {
        let schema = schema();
        assert_eq!(schema.num_features(), 7);
        assert_eq!(
            schema.feature_names(),
            ["age", "workclass=Private", "workclass=State-gov", "workclass=(other)", "sex=Female", "sex=Male", "hours"]
        );
        // Quoted fields, spaces around fields and quotes, a comma and a quote and a
        // line break inside quotes, CRLF, a byte-order mark, empty lines.
        let csv = "\u{feff} age, workclass ,sex,hours,note,income\r\n\
                   30, \"Private\", Male ,20, \"hello, world\" ,>50K\r\n\
                   \n \
                   70 ,Never-worked,\"Female\",100,x,  <=50K\n\
                   \"50\",State-gov , Male, -5 ,\"say \"\"hi\"\"\nthere\",\" >50K \"\n\n\n";
        let (x, y) = decode(&schema, csv.as_bytes()).unwrap();
        // age: 2 (x - 20) / 40 - 1; hours: 2 x / 80 - 1; 70 is clamped to 60, 100 to
        // 80 and -5 to 0. Never-worked is not listed: `other`.
        let want = ndarray::array![
            [-0.5, 1.0, 0.0, 0.0, 0.0, 1.0, -0.5],
            [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
            [0.5, 0.0, 1.0, 0.0, 0.0, 1.0, -1.0],
        ];
        assert_eq!(x, want);
        assert_eq!(y, Some(TargetData::Classes(vec![1, 0, 1])));

        // For predictions the target may be missing, or hold anything.
        let no_target = "age,workclass,sex,hours,note\n30,Private,Male,20,x\n";
        for wanted in [Wanted::No, Wanted::IfPresent] {
            let (x, y) = schema.decode::<f32>(no_target.as_bytes(), Path::new("new.csv"), wanted).unwrap();
            assert_eq!((x, y), (ndarray::array![[-0.5f32, 1.0, 0.0, 0.0, 0.0, 1.0, -0.5]], None));
        }
        let odd_target = format!("{HEADER}30,Private,Male,20,x,unknown\n");
        let (x, y) = schema.decode::<f32>(odd_target.as_bytes(), Path::new("new.csv"), Wanted::No).unwrap();
        assert_eq!((x.nrows(), y), (1, None));
        // Present targets are read when wanted if present, and must then be right.
        let err = schema.decode::<f32>(odd_target.as_bytes(), Path::new("new.csv"), Wanted::IfPresent).unwrap_err();
        assert!(err.to_string().contains("\"unknown\" is not one of the schema's classes"), "{err}");
        let known_target = format!("{HEADER}30,Private,Male,20,x,>50K\n");
        let (_, y) = schema.decode::<f32>(known_target.as_bytes(), Path::new("new.csv"), Wanted::IfPresent).unwrap();
        assert_eq!(y, Some(TargetData::Classes(vec![1])));

        // Value targets: x in [0, 3] maps 1.5 to 0 and 3 to 1.
        let values = CsvSchema::from_json(
            r#"{"target": {"columns": ["y1", "y2"]}, "features": [{"column": "x", "min": 0, "max": 3}]}"#,
            Path::new("values.json"),
        )
        .unwrap();
        let csv = "y1, x ,y2\n 2 , 1.5, -0.25\n\"1e3\",\"3\",0\n";
        let (x, y) = decode(&values, csv.as_bytes()).unwrap();
        assert_eq!(x, ndarray::array![[0.0], [1.0]]);
        assert_eq!(y, Some(TargetData::Values(ndarray::array![[2.0, -0.25], [1000.0, 0.0]])));
    }

    #[test]
    fn every_bad_input_is_an_error_that_says_where_and_what() {
        let schema = schema();
        let rows = |rest: &str| format!("{HEADER}30,Private,Male,20,x,>50K\n{rest}").into_bytes();
        let csv_cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
            ("too few fields", rows("50,Private,Male,20,>50K\n"), &["data.csv:3:", "5 fields, the header has 6"]),
            ("too many fields", rows("50,Private,Male,20,x,y,>50K\n"), &["data.csv:3:", "7 fields, the header has 6"]),
            (
                "not a number",
                rows("abc,Private,Male,20,x,>50K\n"),
                &["data.csv:3:", "`age`", "\"abc\" is not a number"],
            ),
            (
                "NaN",
                rows("50,Private,Male,NaN,x,>50K\n"),
                &["data.csv:3:", "`hours`", "\"NaN\" is not a finite number"],
            ),
            (
                "infinite",
                rows("inf,Private,Male,1,x,>50K\n"),
                &["data.csv:3:", "`age`", "\"inf\" is not a finite number"],
            ),
            ("empty field", rows("50,Private,Male, ,x,>50K\n"), &["data.csv:3:", "column `hours` is empty"]),
            ("empty label", rows("50,Private,Male,1,x,\n"), &["data.csv:3:", "column `income` is empty"]),
            (
                "unknown class",
                rows("50,Private,Male,1,x,>50K.\n"),
                &["data.csv:3:", "`income`", "\">50K.\" is not one of the schema's classes [\"<=50K\", \">50K\"]"],
            ),
            (
                "unlisted category without other",
                rows("50,Private,Other,1,x,>50K\n"),
                &["data.csv:3:", "column `sex`", "\"Other\" is not in the schema's categories", "\"other\": true"],
            ),
            ("empty file", Vec::new(), &["data.csv:1:", "the file is empty"]),
            ("only empty lines", b"\n \n\r\n".to_vec(), &["data.csv:1:", "the file is empty"]),
            ("header only", format!("{HEADER}\n").into_bytes(), &["data.csv:2:", "no examples"]),
            (
                "duplicate header",
                b"age,workclass,sex,hours,note,income,age\n".to_vec(),
                &["data.csv:1:", "names column `age` twice (columns 1 and 7)"],
            ),
            ("empty header name", b"age,workclass,,sex\n".to_vec(), &["data.csv:1:", "column 3 has no name"]),
            (
                "column not in the schema",
                b"age,workclass,sex,hours,note,income,fnlwgt\n".to_vec(),
                &["data.csv:1:", "column `fnlwgt` is not in the schema", "`ignore`"],
            ),
            (
                "schema column not in the file",
                b"age,workclass,sex,note,income\n".to_vec(),
                &["data.csv:1:", "the schema's column `hours` is not in the header"],
            ),
            ("not UTF-8", [&rows("")[..], b"50,Priv\xffate,Male,1,x,>50K\n"].concat(), &["data.csv:3:", "not UTF-8"]),
            (
                "a quote never closed",
                rows("50,Private,Male,1,\"x,>50K\n60,Private,Male,1,x,>50K\n"),
                &["data.csv:3:", "never closed"],
            ),
            (
                "text after a closing quote",
                rows("50,\"Private\"x,Male,1,x,>50K\n"),
                &["data.csv:3:", "text after the closing quote of field \"Private\""],
            ),
            (
                // Lines count the line breaks inside quotes, and the empty lines.
                "the line after a quoted line break",
                rows("50,Private,Male,1,\"two\nlines\",>50K\n\n50,Private,Male,1,x,bad\n"),
                &["data.csv:6:", "\"bad\" is not one of the schema's classes"],
            ),
        ];
        for (name, csv, wants) in &csv_cases {
            let e = decode(&schema, csv).map(|_| ()).expect_err(name).to_string();
            for want in *wants {
                assert!(e.contains(want), "{name}: {e:?} lacks {want:?}");
            }
        }

        let feature = |line: &str| SCHEMA.replace(r#"{ "column": "hours", "min": 0, "max": 80 }"#, line);
        let schema_cases: Vec<(&str, String, &[&str])> = vec![
            (
                "min not below max",
                feature(r#"{ "column": "hours", "min": 80, "max": 80 }"#),
                &["schema.json: schema: feature `hours`: min 80 must be below max 80"],
            ),
            (
                "no categories",
                feature(r#"{ "column": "hours", "categories": [] }"#),
                &["schema.json: schema: feature `hours`: categories must list at least 1 value"],
            ),
            (
                "a category twice",
                feature(r#"{ "column": "hours", "categories": ["a", "b", "a"] }"#),
                &["schema.json: schema: feature `hours`: categories lists \"a\" twice"],
            ),
            (
                "a category with spaces",
                feature(r#"{ "column": "hours", "categories": ["a", " b"] }"#),
                &["schema.json: schema: feature `hours`: categories has \" b\", with surrounding whitespace"],
            ),
            (
                "both kinds of feature",
                feature(r#"{ "column": "hours", "min": 0, "max": 1, "categories": ["a"] }"#),
                &["schema.json: schema: feature `hours` must be numeric", "or categorical"],
            ),
            (
                "other on a numeric feature",
                feature(r#"{ "column": "hours", "min": 0, "max": 1, "other": true }"#),
                &["schema.json: schema: feature `hours` must be numeric"],
            ),
            (
                "an unknown key",
                feature(r#"{ "column": "hours", "min": 0, "max": 80, "scale": 2 }"#),
                &["schema.json:7:", "unknown field `scale`"],
            ),
            (
                "an unknown top-level key",
                SCHEMA.replace(r#""ignore""#, r#""ignored""#),
                &["schema.json:9:", "unknown field `ignored`"],
            ),
            (
                "one class",
                SCHEMA.replace(r#"["<=50K", ">50K"]"#, r#"[">50K"]"#),
                &["schema.json: schema: target `income`: classes must list at least 2 values, it has 1"],
            ),
            (
                "a class twice",
                SCHEMA.replace(r#"["<=50K", ">50K"]"#, r#"[">50K", ">50K"]"#),
                &["schema.json: schema: target `income`: classes lists \">50K\" twice"],
            ),
            (
                "a target of neither kind",
                SCHEMA.replace(r#""classes": ["<=50K", ">50K"]"#, r#""columns": ["y"]"#),
                &["schema.json: schema: the target must be"],
            ),
            (
                "no target columns",
                SCHEMA.replace(r#""column": "income", "classes": ["<=50K", ">50K"]"#, r#""columns": []"#),
                &["schema.json: schema: the target's `columns` is empty"],
            ),
            (
                "a column used twice",
                feature(r#"{ "column": "age", "min": 0, "max": 80 }"#),
                &["schema.json: schema: column `age` is used twice: as feature 1 and as feature 4"],
            ),
            (
                "the target also ignored",
                SCHEMA.replace(r#"["note"]"#, r#"["note", "income"]"#),
                &["schema.json: schema: column `income` is used twice: as the target and as `ignore`"],
            ),
            (
                "no features",
                r#"{"target": {"columns": ["y"]}, "features": []}"#.into(),
                &["schema.json: schema: no features"],
            ),
            ("not JSON", SCHEMA.replace(r#""note"]"#, r#""note",]"#), &["schema.json:9:", "trailing comma"]),
        ];
        for (name, json, wants) in &schema_cases {
            let e = CsvSchema::from_json(json, Path::new("schema.json")).expect_err(name).to_string();
            for want in *wants {
                assert!(e.contains(want), "{name}: {e:?} lacks {want:?}");
            }
        }

        // A schema built in code is checked when it is used.
        let mut built = schema.clone();
        built.features[0] = Feature::Numeric { column: "age".into(), min: f64::NAN, max: 60.0 };
        let e = decode(&built, &rows("")).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(e.to_string().contains("feature `age`: min NaN must be below max 60"), "{e}");
    }

    #[test]
    fn a_schema_round_trips_through_json() {
        let schema = schema();
        assert_eq!(CsvSchema::from_json(&schema.to_json(), Path::new("saved.json")).unwrap(), schema);
        let awkward = CsvSchema {
            target: Target::Values { columns: vec!["y".into(), "z \"quoted\"".into()] },
            features: vec![
                Feature::Numeric { column: "a".into(), min: 0.1, max: 1.0 / 3.0 },
                Feature::Numeric { column: "b".into(), min: -1e-300, max: 1.7976931348623157e308 },
                Feature::Categorical {
                    column: "c".into(), categories: vec!["x".into(), "é, ü".into()], other: false
                },
            ],
            ignore: Vec::new(),
        };
        let json = awkward.to_json();
        assert_eq!(CsvSchema::from_json(&json, Path::new("saved.json")).unwrap(), awkward, "{json}");
        assert!(!json.contains("other") && !json.contains("ignore"), "{json}");
    }

    #[test]
    fn load_refuses_a_schema_that_does_not_fit_the_model() {
        let schema = schema();
        let dir = std::env::temp_dir().join(format!("dpsgd-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("train.csv");
        std::fs::write(&path, format!("{HEADER}30,Private,Male,20,x,>50K\n70,Other,Female,1,y,<=50K\n")).unwrap();

        let fits = ModelSpec { input_width: 7, ..test_spec(Loss::SoftmaxCrossEntropy, 2) };
        let data = load::<f32>(&path, &schema, &fits).unwrap();
        assert_eq!((data.len(), data.width(), data.labels()), (2, 7, Some(&[1, 0][..])));
        let binary = ModelSpec { input_width: 7, ..test_spec(Loss::BinaryLogistic, 1) };
        assert!(load::<f32>(&path, &schema, &binary).is_ok());

        let narrow = ModelSpec { input_width: 6, ..test_spec(Loss::SoftmaxCrossEntropy, 2) };
        let e = load::<f32>(&path, &schema, &narrow).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("the CSV schema encodes 7 features per example, the model TestModel"), "{e}");
        assert!(e.contains("takes 6"), "{e}");

        let three = ModelSpec { input_width: 7, ..test_spec(Loss::SoftmaxCrossEntropy, 3) };
        let e = load::<f32>(&path, &schema, &three).unwrap_err().to_string();
        assert!(e.contains("target `income` has 2 classes, the model TestModel (softmax_cross_entropy) has 3"), "{e}");
        let regression = ModelSpec { input_width: 7, ..test_spec(Loss::MeanSquaredError, 1) };
        let e = load::<f32>(&path, &schema, &regression).unwrap_err().to_string();
        assert!(e.contains("target `income` is class labels") && e.contains("takes 1 target values"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
