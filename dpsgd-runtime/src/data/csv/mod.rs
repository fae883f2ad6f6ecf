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

mod records;
mod schema;

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;

use super::{Dataset, TargetData};
use crate::Float;
use crate::error::{Error, Result};
use crate::spec::ModelSpec;
use records::{Row, Rows, utf8};
pub use schema::{CsvSchema, Feature, Target};

impl CsvSchema {
    /// The examples of the CSV file at `path`: `[examples, num_features]` features and
    /// their targets.
    pub fn read<F: Float>(&self, path: &Path) -> Result<(Array2<F>, TargetData<F>)> {
        let bytes = crate::error::read_file(path)?;
        let (features, targets) = self.decode(&bytes, path, Wanted::Required)?;
        Ok((features, targets.expect("read with targets")))
    }

    /// The examples of the CSV file at `path`, with their targets if the header has
    /// the target columns (for predictions that also report accuracy or loss).
    pub fn read_targets_if_present<F: Float>(&self, path: &Path) -> Result<(Array2<F>, Option<TargetData<F>>)> {
        let bytes = crate::error::read_file(path)?;
        self.decode(&bytes, path, Wanted::IfPresent)
    }

    /// The features alone of the CSV file at `path`, for predictions: the target
    /// columns may be absent, and are ignored if present.
    pub fn read_features<F: Float>(&self, path: &Path) -> Result<Array2<F>> {
        let bytes = crate::error::read_file(path)?;
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
        let mut rows = Rows::new(text, path);
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
    schema.check_fits(spec)?;
    let (features, targets) = schema.read(path)?;
    let data = Dataset::new(features, targets)?;
    data.check_fits(spec)?;
    Ok(data)
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
