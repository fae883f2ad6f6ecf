//! MNIST in its IDX files (gzip'd or plain): 28x28 grey images, labels 0-9.
//!
//! Each example's features are its 784 pixels scaled to [0, 1], row by row: the
//! `[channel, height, width]` order of a one-channel image, as PyTorch flattens it.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use ndarray::Array2;

use crate::Float;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Rows of pixels of an image.
pub const HEIGHT: usize = 28;
/// Pixels of a row.
pub const WIDTH: usize = 28;
/// The digits 0-9.
pub const CLASSES: usize = 10;

/// The training and test sets.
pub struct Mnist<F> {
    /// The images of the `train-*` files (60000 in MNIST).
    pub train: Dataset<F>,
    /// The images of the `t10k-*` files (10000 in MNIST).
    pub test: Dataset<F>,
}

/// Loads `train-*` and `t10k-*` from `dir`, each as `NAME` or `NAME.gz`.
pub fn load<F: Float>(dir: &Path) -> Result<Mnist<F>> {
    let split = |prefix: &str| -> Result<Dataset<F>> {
        let (images_path, images) = read_file(&dir.join(format!("{prefix}-images-idx3-ubyte")))?;
        let (labels_path, labels) = read_file(&dir.join(format!("{prefix}-labels-idx1-ubyte")))?;
        let (count, pixels) = parse_images(&images, &images_path)?;
        let labels = parse_labels(&labels, &labels_path)?;
        if labels.len() != count {
            return Err(malformed(&labels_path, format!("{} labels for {count} images", labels.len())));
        }
        let features = Array2::from_shape_fn((count, HEIGHT * WIDTH), |(i, j)| {
            F::from_f64(pixels[i * HEIGHT * WIDTH + j] as f64 / 255.0)
        });
        Dataset::new(features, labels)
    };
    Ok(Mnist { train: split("train")?, test: split("t10k")? })
}

fn malformed(path: &Path, message: String) -> Error {
    // IDX files have no lines; the message says where in the file.
    Error::Malformed { path: path.to_path_buf(), line: 0, message }
}

/// The file's bytes, from `path` or else `path.gz`, and the path read.
fn read_file(path: &Path) -> Result<(PathBuf, Vec<u8>)> {
    let io = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
    if path.exists() {
        return Ok((path.to_path_buf(), std::fs::read(path).map_err(|e| io(path, e))?));
    }
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let file = std::fs::File::open(&gz).map_err(|e| io(&gz, e))?;
    let mut bytes = Vec::new();
    GzDecoder::new(file).read_to_end(&mut bytes).map_err(|e| io(&gz, e))?;
    Ok((gz, bytes))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// An IDX3 file of unsigned-byte 28x28 images: `(count, pixels)`.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<(usize, Vec<u8>)> {
    if bytes.len() < 16 {
        return Err(malformed(path, format!("{} bytes: too short for an IDX3 header", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != 0x0000_0803 {
        return Err(malformed(
            path,
            format!("magic number {magic:#010x}, expected 0x00000803 (IDX3 of unsigned bytes)"),
        ));
    }
    let (count, rows, cols) = (be_u32(bytes, 4) as usize, be_u32(bytes, 8) as usize, be_u32(bytes, 12) as usize);
    if (rows, cols) != (HEIGHT, WIDTH) {
        return Err(malformed(path, format!("images of {rows}x{cols}, expected {HEIGHT}x{WIDTH}")));
    }
    let expected = count * rows * cols;
    if bytes.len() - 16 != expected {
        return Err(malformed(
            path,
            format!(
                "{} bytes of pixels for {count} images of {rows}x{cols} ({expected} expected): truncated?",
                bytes.len() - 16
            ),
        ));
    }
    Ok((count, bytes[16..].to_vec()))
}

/// An IDX1 file of unsigned-byte labels 0-9.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u32>> {
    if bytes.len() < 8 {
        return Err(malformed(path, format!("{} bytes: too short for an IDX1 header", bytes.len())));
    }
    let magic = be_u32(bytes, 0);
    if magic != 0x0000_0801 {
        return Err(malformed(
            path,
            format!("magic number {magic:#010x}, expected 0x00000801 (IDX1 of unsigned bytes)"),
        ));
    }
    let count = be_u32(bytes, 4) as usize;
    if bytes.len() - 8 != count {
        return Err(malformed(path, format!("{} label bytes for a header of {count}: truncated?", bytes.len() - 8)));
    }
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(i, &l)| match (l as usize) < CLASSES {
            true => Ok(l as u32),
            false => Err(malformed(path, format!("label {l} of example {i} (byte {}) is not a digit", 8 + i))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: u32, rows: u32, pixels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0x803, count, rows, 28] {
            b.extend_from_slice(&u32::to_be_bytes(v));
        }
        b.extend_from_slice(pixels);
        b
    }

    #[test]
    fn small_generated_files_parse_and_bad_ones_are_errors() {
        let path = Path::new("generated");
        let pixels: Vec<u8> = (0..2 * 784).map(|i| (i % 256) as u8).collect();
        let (count, parsed) = parse_images(&images(2, 28, &pixels), path).unwrap();
        assert_eq!((count, parsed), (2, pixels.clone()));
        let mut wrong_magic = images(2, 28, &pixels);
        wrong_magic[3] = 0x01;
        for (bytes, message) in [
            (images(3, 28, &pixels), "1568 bytes of pixels for 3 images of 28x28 (2352 expected): truncated?"),
            (images(2, 27, &pixels), "images of 27x28, expected 28x28"),
            (vec![0, 0, 8, 1], "4 bytes: too short for an IDX3 header"),
            (wrong_magic, "magic number 0x00000801, expected 0x00000803"),
        ] {
            let err = parse_images(&bytes, path).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }

        let labels = [0u8, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9];
        assert_eq!(parse_labels(&labels, path).unwrap(), vec![7, 0, 9]);
        let mut bad = labels;
        bad[9] = 10;
        let err = parse_labels(&bad, path).unwrap_err().to_string();
        assert!(err.contains("label 10 of example 1"), "{err}");
        let err = parse_labels(&labels[..10], path).unwrap_err().to_string();
        assert!(err.contains("2 label bytes for a header of 3: truncated?"), "{err}");
    }
}
