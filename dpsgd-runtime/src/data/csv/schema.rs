//! The schema of a CSV file: which column is the target, how each feature column is
//! encoded, which columns are ignored; read from and written to JSON, and checked.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::records::utf8;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;

/// How the columns of a CSV file become features and targets: public knowledge,
/// written by the user (see the [module docs](super)).
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
        let bytes = crate::error::read_file(path)?;
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
}
