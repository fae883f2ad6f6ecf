//! UCI Adult ("Census Income"): predict whether income exceeds $50K from census data.
//!
//! The raw files `adult.data` and `adult.test` (optionally gzip'd), processed the usual
//! way: rows with a missing value (`?`) dropped, leaving 30162 training and 15060 test
//! rows; the 6 numeric columns scaled to [-1, 1] by public constants; the 8 categorical
//! columns one-hot encoded over the values `adult.names` lists; 104 features in all.
//!
//! Every example is encoded from its own record and public constants alone, never
//! from statistics of the training set (such as its mean and standard deviation),
//! which would be computed from the private data outside the privacy accounting: so
//! the epsilon of a run covers the raw records.

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

/// How each numeric column becomes a feature: `log1p` first for the heavy-tailed
/// ones, then clamped to the range and mapped linearly onto [-1, 1]. The ranges are
/// public knowledge of the census, not read from the data: ages and weekly hours
/// 0-100; the 16 education levels of `adult.names`; census sampling weights below
/// e^16 (about 9 million); dollar amounts below 10^5 (the census top-codes them at
/// 99999).
const SCALES: [(bool, f64, f64); 6] = [
    (false, 0.0, 100.0),
    (true, 0.0, 16.0),
    (false, 1.0, 16.0),
    (true, 0.0, LN_100_000),
    (true, 0.0, LN_100_000),
    (false, 0.0, 100.0),
];
/// `ln(10^5)`, the top of the dollar columns after `log1p` (`ln` is not `const`).
const LN_100_000: f64 = 11.512_925_464_970_229;

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
    /// The raw values of the numeric columns, before scaling: age, fnlwgt,
    /// education-num, capital-gain, capital-loss, hours-per-week.
    pub numeric: [f64; 6],
    /// The index of each categorical column's value in its list of values, in the
    /// order of the columns.
    pub categories: [usize; 8],
    /// 1 when income is above $50K.
    pub label: u32,
}

/// Both splits, ready to train on.
pub struct Adult<F> {
    /// The rows of `adult.data` without a missing value (30162).
    pub train: Dataset<F>,
    /// The rows of `adult.test` without a missing value (15060).
    pub test: Dataset<F>,
}

/// Loads `adult.data` and `adult.test` (or their `.gz`) from `dir`.
pub fn load<F: Float>(dir: &Path) -> Result<Adult<F>> {
    let train = parse(&read_text(&dir.join("adult.data"))?, &dir.join("adult.data"))?;
    let test = parse(&read_text(&dir.join("adult.test"))?, &dir.join("adult.test"))?;
    Ok(Adult { train: encode(&train)?, test: encode(&test)? })
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

/// Numeric columns scaled by [`SCALES`], then one one-hot block per categorical column.
fn encode<F: Float>(records: &[Record]) -> Result<Dataset<F>> {
    let mut features = Array2::from_elem((records.len(), FEATURES), F::ZERO);
    for (r, mut row) in records.iter().zip(features.rows_mut()) {
        for (i, (v, &(log, lo, hi))) in r.numeric.iter().zip(&SCALES).enumerate() {
            let t = if log { v.max(0.0).ln_1p() } else { *v };
            row[i] = F::from_f64(2.0 * (t.clamp(lo, hi) - lo) / (hi - lo) - 1.0);
        }
        let mut block = NUMERIC.len();
        for (category, (_, _, values)) in r.categories.iter().zip(&CATEGORICAL) {
            row[block + category] = F::ONE;
            block += values.len();
        }
    }
    Dataset::new(features, records.iter().map(|r| r.label).collect::<Vec<u32>>())
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
    fn each_record_is_encoded_from_public_constants_alone() {
        let a = parse(ROW, Path::new("t")).unwrap().remove(0);
        let mut b = a.clone();
        b.numeric = [150.0, 1e9, 16.0, 99999.0, 0.0, 0.0];
        let alone: Dataset<f64> = encode(std::slice::from_ref(&a)).unwrap();
        let beside: Dataset<f64> = encode(&[a, b]).unwrap();
        let row = alone.features().row(0).to_vec();
        assert_eq!(row, beside.features().row(0).to_vec(), "another record changed this one's encoding");
        // Age 39 of 0-100; 13 of the levels 1-16; 40 hours of 0-100; capital loss 0.
        let expected = [2.0 * 0.39 - 1.0, 2.0 * 12.0 / 15.0 - 1.0, -1.0, 2.0 * 0.4 - 1.0];
        for (got, want) in [row[0], row[2], row[4], row[5]].iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} against {want}");
        }
        assert_eq!(LN_100_000, 100_000f64.ln());
        assert!((row[3] - (2.0 * 2175f64.ln() / 100_000f64.ln() - 1.0)).abs() < 1e-9);
        assert_eq!(row.iter().filter(|v| **v == 1.0).count(), 8);
        // Values past the public ranges are clamped to their ends.
        let far = beside.features().row(1).to_vec();
        assert_eq!([far[0], far[1], far[2], far[5]], [1.0, 1.0, 1.0, -1.0]);
        assert!((far[3] - 1.0).abs() < 1e-9);
    }
}
