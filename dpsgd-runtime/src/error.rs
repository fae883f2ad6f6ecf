//! The one error type of the runtime: every bad input becomes one of these, never a panic.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, in words a user can act on.
#[derive(Debug)]
pub enum Error {
    /// An array has the wrong shape for the model or for its partner array.
    Shape(String),
    /// A label is not a class of the model.
    LabelOutOfRange {
        /// The example's row, 0-based.
        row: usize,
        /// The label found there.
        label: u32,
        /// The model's number of classes: labels lie in `0..num_classes`.
        num_classes: usize,
    },
    /// A feature is NaN or infinite.
    NonFinite {
        /// The example's row, 0-based.
        row: usize,
        /// The feature's column, 0-based.
        column: usize,
    },
    /// A setting that cannot work (sigma <= 0, a sampling rate outside (0, 1], ...).
    Config(String),
    /// A data file that does not parse; `line` is 1-based, 0 for binary files (the
    /// message says where).
    Malformed {
        /// The file that does not parse.
        path: PathBuf,
        /// The 1-based line of the problem; 0 for a binary file or a problem of the
        /// whole file.
        line: usize,
        /// What is wrong, and where in a binary file.
        message: String,
    },
    /// A file that cannot be read or written.
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Training diverged: the loss or a parameter became NaN or infinite.
    Diverged(String),
    /// The GPU cannot be used or failed: no driver, no device, out of device memory.
    Device(String),
    /// A checkpoint that cannot be used: truncated, corrupted, or of another model.
    Checkpoint {
        /// The checkpoint's file.
        path: PathBuf,
        /// What is wrong with it, in words.
        message: String,
    },
    /// A privacy audit proved the claimed epsilon false.
    AuditRefuted(String),
}

/// The runtime's result: [`Error`] unless another error type is named.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The bytes of the file at `path`, or [`Error::Io`] naming it.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            Error::LabelOutOfRange { row, label, num_classes } => write!(
                f,
                "label {label} in row {row} is out of range: the model has {num_classes} classes (0..{num_classes})"
            ),
            Error::NonFinite { row, column } => {
                write!(f, "feature {column} of row {row} is NaN or infinite")
            }
            Error::Config(msg) => write!(f, "invalid setting: {msg}"),
            Error::Malformed { path, line: 0, message } => write!(f, "{}: {message}", path.display()),
            Error::Malformed { path, line, message } => {
                write!(f, "{}:{line}: {message}", path.display())
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Diverged(msg) => write!(f, "training diverged: {msg}"),
            Error::Device(msg) => write!(f, "GPU: {msg}"),
            Error::Checkpoint { path, message } => write!(f, "checkpoint {}: {message}", path.display()),
            Error::AuditRefuted(msg) => write!(f, "privacy audit: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Returns `Error::Config(msg)` from the enclosing function unless `cond` holds (a
/// comparison with NaN does not hold).
macro_rules! ensure_config {
    ($cond:expr, $($msg:tt)+) => {{
        let holds: bool = $cond;
        if !holds {
            return Err($crate::Error::Config(format!($($msg)+)));
        }
    }};
}
pub(crate) use ensure_config;
