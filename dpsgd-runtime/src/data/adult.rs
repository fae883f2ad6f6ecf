//! UCI Adult ("Census Income"): predict whether income exceeds $50K from census data.
//!
//! The raw files `adult.data` and `adult.test` (optionally gzip'd), processed the usual
//! way: rows with a missing value (`?`) dropped, leaving 30162 training and 15060 test
//! rows; the 6 numeric columns standardized with the training split's mean and standard
//! deviation; the 8 categorical columns one-hot encoded; 104 features in all.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use ndarray::Array2;

use super::Dataset;
use crate::Float;
use crate::error::{Error, Result};

/// Features per example.
pub const FEATURES: usize = 104;

const FIELDS: usize = 15;
/// Columns 0, 2, 4, 10, 11, 12: age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week.
const NUMERIC: [usize; 6] = [0, 2, 4, 10, 11, 12];

/// Categorical columns and their values, in the order of `adult.names`. `Never-worked`
/// is left out of `workclass`: all such rows lack an occupation and are dropped.
const CATEGORICAL: [(usize, &str, &[&str]); 8] = [
    (
        1,
        "workclass",
        &["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov", "Without-pay"],
    ),
    (
        3,
        "education",
        &[
            "Bachelors",
            "Some-college",
            "11th",
            "HS-grad",
            "Prof-school",
            "Assoc-acdm",
            "Assoc-voc",
            "9th",
            "7th-8th",
            "12th",
            "Masters",
            "1st-4th",
            "10th",
            "Doctorate",
            "5th-6th",
            "Preschool",
        ],
    ),
    (
        5,
        "marital-status",
        &[
            "Married-civ-spouse",
            "Divorced",
            "Never-married",
            "Separated",
            "Widowed",
            "Married-spouse-absent",
            "Married-AF-spouse",
        ],
    ),
    (
        6,
        "occupation",
        &[
            "Tech-support",
            "Craft-repair",
            "Other-service",
            "Sales",
            "Exec-managerial",
            "Prof-specialty",
            "Handlers-cleaners",
            "Machine-op-inspct",
            "Adm-clerical",
            "Farming-fishing",
            "Transport-moving",
            "Priv-house-serv",
            "Protective-serv",
            "Armed-Forces",
        ],
    ),
    (7, "relationship", &["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"]),
    (8, "race", &["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"]),
    (9, "sex", &["Female", "Male"]),
    (
        13,
        "native-country",
        &[
            "United-States",
            "Cambodia",
            "England",
            "Puerto-Rico",
            "Canada",
            "Germany",
            "Outlying-US(Guam-USVI-etc)",
            "India",
            "Japan",
            "Greece",
            "South",
            "China",
            "Cuba",
            "Iran",
            "Honduras",
            "Philippines",
            "Italy",
            "Poland",
            "Jamaica",
            "Vietnam",
            "Mexico",
            "Portugal",
            "Ireland",
            "France",
            "Dominican-Republic",
            "Laos",
            "Ecuador",
            "Taiwan",
            "Haiti",
            "Columbia",
            "Hungary",
            "Guatemala",
            "Nicaragua",
            "Scotland",
            "Thailand",
            "Yugoslavia",
            "El-Salvador",
            "Trinadad&Tobago",
            "Peru",
            "Hong",
            "Holand-Netherlands",
        ],
    ),
];

/// One parsed row: numeric columns, index of each categorical value, label.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub numeric: [f64; 6],
    pub categories: [usize; 8],
    /// 1 when income is above $50K.
    pub label: u32,
}

/// Both splits, ready to train on.
pub struct Adult<F> {
    pub train: Dataset<F>,
    pub test: Dataset<F>,
}

/// Loads `adult.data` and `adult.test` (or their `.gz`) from `dir`.
pub fn load<F: Float>(dir: &Path) -> Result<Adult<F>> {
    let train = parse(&read_text(&dir.join("adult.data"))?, &dir.join("adult.data"))?;
    let test = parse(&read_text(&dir.join("adult.test"))?, &dir.join("adult.test"))?;
    let (mean, std) = standardization(&train);
    Ok(Adult { train: encode(&train, &mean, &std)?, test: encode(&test, &mean, &std)? })
}

/// The file at `path`, or at `path` + `.gz` decompressed.
fn read_text(path: &Path) -> Result<String> {
    let io = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
    if path.exists() {
        return std::fs::read_to_string(path).map_err(|e| io(path, e));
    }
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let file = std::fs::File::open(&gz).map_err(|e| io(&gz, e))?;
    let mut text = String::new();
    GzDecoder::new(file).read_to_string(&mut text).map_err(|e| io(&gz, e))?;
    Ok(text)
}

/// Parses the rows of an Adult file, dropping those with missing values. Blank lines
/// and lines starting with `|` (the test file's header) are skipped. `path` names the
/// file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('|') {
            continue;
        }
        let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: index + 1, message };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != FIELDS {
            return Err(bad(format!("expected {FIELDS} comma-separated fields, found {}", fields.len())));
        }
        if fields.contains(&"?") {
            continue;
        }
        let mut numeric = [0.0; 6];
        for (value, &column) in numeric.iter_mut().zip(&NUMERIC) {
            *value = fields[column]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(format!("field {} is not a number: {:?}", column + 1, fields[column])))?;
        }
        let mut categories = [0; 8];
        for (category, (column, name, values)) in categories.iter_mut().zip(&CATEGORICAL) {
            *category = values
                .iter()
                .position(|v| *v == fields[*column])
                .ok_or_else(|| bad(format!("unknown {name} {:?}", fields[*column])))?;
        }
        let label = match fields[14].trim_end_matches('.') {
            "<=50K" => 0,
            ">50K" => 1,
            other => {
                return Err(bad(format!("income must be <=50K or >50K, found {other:?}")));
            }
        };
        records.push(Record { numeric, categories, label });
    }
    Ok(records)
}

/// Mean and (population) standard deviation of each numeric column.
fn standardization(records: &[Record]) -> ([f64; 6], [f64; 6]) {
    let n = records.len().max(1) as f64;
    let mut mean = [0.0; 6];
    let mut std = [0.0; 6];
    for r in records {
        for (m, v) in mean.iter_mut().zip(&r.numeric) {
            *m += v / n;
        }
    }
    for r in records {
        for ((s, v), m) in std.iter_mut().zip(&r.numeric).zip(&mean) {
            *s += (v - m).powi(2) / n;
        }
    }
    (mean, std.map(|s| if s > 0.0 { s.sqrt() } else { 1.0 }))
}

/// Standardized numeric columns, then one one-hot block per categorical column.
fn encode<F: Float>(records: &[Record], mean: &[f64; 6], std: &[f64; 6]) -> Result<Dataset<F>> {
    let mut features = Array2::from_elem((records.len(), FEATURES), F::ZERO);
    for (r, mut row) in records.iter().zip(features.rows_mut()) {
        for (i, ((v, m), s)) in r.numeric.iter().zip(mean).zip(std).enumerate() {
            row[i] = F::from_f64((v - m) / s);
        }
        let mut block = NUMERIC.len();
        for (category, (_, _, values)) in r.categories.iter().zip(&CATEGORICAL) {
            row[block + category] = F::ONE;
            block += values.len();
        }
    }
    Dataset::new(features, records.iter().map(|r| r.label).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K";

    #[test]
    fn the_encoding_has_104_features() {
        let one_hot: usize = CATEGORICAL.iter().map(|(_, _, v)| v.len()).sum();
        assert_eq!(NUMERIC.len() + one_hot, FEATURES);
    }

    #[test]
    fn parses_rows_skips_missing_values_and_the_test_header() {
        let text = format!(
            "|1x3 Cross validator\n{ROW}\n\n50, ?, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, >50K\n{}\n",
            ROW.replace("<=50K", ">50K.")
        );
        let records = parse(&text, Path::new("t")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].numeric, [39.0, 77516.0, 13.0, 2174.0, 0.0, 40.0]);
        assert_eq!(records[0].categories, [5, 0, 2, 8, 3, 0, 1, 0]);
        assert_eq!((records[0].label, records[1].label), (0, 1));
    }

    #[test]
    fn malformed_rows_are_errors_naming_their_line() {
        for (bad, message) in [
            (ROW.replace(", 40,", ", forty,"), "not a number"),
            (ROW.replace("State-gov", "Space-gov"), "unknown workclass"),
            (ROW.replace(", <=50K", ""), "expected 15"),
            (ROW.replace("<=50K", "maybe"), "income must be"),
            (ROW.replace(", 40,", ", NaN,"), "not a number"),
        ] {
            let text = format!("{ROW}\n{bad}\n");
            let err = parse(&text, Path::new("adult.data")).unwrap_err().to_string();
            assert!(err.starts_with("adult.data:2: "), "{err}");
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn encoding_standardizes_with_training_statistics() {
        let a = parse(ROW, Path::new("t")).unwrap().remove(0);
        let mut b = a.clone();
        b.numeric[0] = 41.0;
        let (mean, std) = standardization(&[a.clone(), b]);
        assert_eq!((mean[0], std[0]), (40.0, 1.0));
        assert_eq!(std[1], 1.0, "constant columns are left unscaled");
        let data: Dataset<f64> = encode(&[a], &mean, &std).unwrap();
        let row = data.features().row(0).to_vec();
        assert_eq!(row[0], -1.0);
        assert_eq!(row.iter().filter(|v| **v == 1.0).count(), 8);
    }
}
