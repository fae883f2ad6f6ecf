//! The safetensors file format: an 8-byte little-endian header length, a JSON header
//! naming each tensor's dtype, shape and byte range, then the raw little-endian data.
//! Writes are atomic (temporary file, flush to disk, rename); reads check every
//! offset, so a truncated or corrupted file is an error naming what is wrong.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Float;
use crate::error::{Error, Result};

/// The element types read and written here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dtype {
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// The dtype of a float type.
    pub fn of<F: Float>() -> Dtype {
        if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
    }
}

/// One named tensor: little-endian bytes of its dtype, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The element type of `data`.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The elements, little-endian, row-major: `len() * dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    /// A tensor of `values`, row-major, in `F`'s dtype. Panics unless `shape`'s
    /// product is `values.len()`.
    pub fn from_floats<F: Float>(shape: Vec<usize>, values: &[F]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "tensor shape and length");
        let mut data = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            match Dtype::of::<F>() {
                Dtype::F32 => data.extend_from_slice(&(v.to_f64() as f32).to_le_bytes()),
                _ => data.extend_from_slice(&v.to_f64().to_le_bytes()),
            }
        }
        Tensor { dtype: Dtype::of::<F>(), shape, data }
    }

    /// An I64 tensor: labels, token ids, predicted classes.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "tensor shape and length");
        Tensor { dtype: Dtype::I64, shape, data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    /// Elements: the product of the shape.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as floats of type `F`: f32 and f64 tensors convert exactly when `F`
    /// is at least as wide; integer tensors are refused.
    pub fn to_floats<F: Float>(&self) -> Option<Vec<F>> {
        match self.dtype {
            Dtype::F32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|b| F::from_f64(f32::from_le_bytes(b.try_into().unwrap()) as f64))
                    .collect(),
            ),
            Dtype::F64 => Some(
                self.data.chunks_exact(8).map(|b| F::from_f64(f64::from_le_bytes(b.try_into().unwrap()))).collect(),
            ),
            Dtype::I32 | Dtype::I64 => None,
        }
    }

    /// The values as integers (i32 or i64 tensors).
    pub fn to_ints(&self) -> Option<Vec<i64>> {
        match self.dtype {
            Dtype::I32 => {
                Some(self.data.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64).collect())
            }
            Dtype::I64 => Some(self.data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
            Dtype::F32 | Dtype::F64 => None,
        }
    }
}

/// Tensors by name, and the file's string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SafeTensors {
    /// The tensors by name, in name order: the order [`write`](Self::write) lays
    /// their data out in.
    pub tensors: BTreeMap<String, Tensor>,
    /// The header's `__metadata__`: free-form string pairs.
    pub metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

impl SafeTensors {
    /// Adds `tensor` as `name`, replacing any tensor of that name.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// The tensor `name`, or an error naming it.
    pub fn get(&self, name: &str, path: &Path) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| bad(path, format!("tensor `{name}` is missing")))
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut header = serde_json::Map::new();
        let mut offset = 0;
        for (name, t) in &self.tensors {
            let entry = Entry { dtype: t.dtype, shape: t.shape.clone(), data_offsets: [offset, offset + t.data.len()] };
            offset += t.data.len();
            header.insert(name.clone(), serde_json::to_value(entry).expect("plain data"));
        }
        if !self.metadata.is_empty() {
            header.insert("__metadata__".into(), serde_json::to_value(&self.metadata).expect("plain data"));
        }
        let mut header = serde_json::to_vec(&header).expect("plain data");
        // The format asks for the data to start 8-byte aligned.
        header.resize(header.len().div_ceil(8) * 8, b' ');

        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let tmp = temporary_path(path);
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
        file.write_all(&header).map_err(io)?;
        pause_for_crash_tests();
        for t in self.tensors.values() {
            file.write_all(&t.data).map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Reads and checks a file.
    pub fn read(path: &Path) -> Result<SafeTensors> {
        let bytes = crate::error::read_file(path)?;
        SafeTensors::parse(&bytes, path)
    }

    /// Parses the bytes of a file; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<SafeTensors> {
        if bytes.len() < 8 {
            return Err(bad(path, format!("{} bytes is too short for a safetensors file", bytes.len())));
        }
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let Some(data_start) = 8u64.checked_add(header_len).filter(|&end| end <= bytes.len() as u64) else {
            return Err(bad(
                path,
                format!("the header claims {header_len} bytes but the file has {}: truncated?", bytes.len()),
            ));
        };
        let data = &bytes[data_start as usize..];
        let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..data_start as usize])
            .map_err(|e| bad(path, format!("the header is not valid JSON: {e}")))?;
        let mut file = SafeTensors::default();
        for (name, value) in header {
            if name == "__metadata__" {
                file.metadata = serde_json::from_value(value).map_err(|e| bad(path, format!("the metadata: {e}")))?;
                continue;
            }
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| bad(path, format!("tensor `{name}`: {e} (dtypes read here: F32, F64, I32, I64)")))?;
            let [begin, end] = entry.data_offsets;
            let len = entry.shape.iter().try_fold(entry.dtype.size(), |a, &d| a.checked_mul(d));
            if end < begin || Some(end - begin) != len || end > data.len() {
                return Err(bad(
                    path,
                    format!(
                        "tensor `{name}` has data offsets {begin}..{end}, which do not fit its shape {:?} or the file",
                        entry.shape
                    ),
                ));
            }
            file.tensors
                .insert(name, Tensor { dtype: entry.dtype, shape: entry.shape, data: data[begin..end].to_vec() });
        }
        Ok(file)
    }
}

fn bad(path: &Path, message: String) -> Error {
    Error::Malformed { path: path.to_path_buf(), line: 0, message }
}

/// For crash tests only (feature `slow-checkpoints`): a write pauses halfway, its file
/// half written, for `DPSGD_CHECKPOINT_PAUSE_MS` milliseconds, so that a test can kill
/// the process there. Other builds do nothing here.
fn pause_for_crash_tests() {
    #[cfg(feature = "slow-checkpoints")]
    if let Some(ms) = std::env::var("DPSGD_CHECKPOINT_PAUSE_MS").ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// A name beside `path` that no other writer, in this process or another, uses.
fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp{}-{n}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_damage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("dpsgd-safetensors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.safetensors");
        let mut file = SafeTensors::default();
        file.insert("a", Tensor::from_floats(vec![2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.5]));
        file.insert(
            "b",
            Tensor { dtype: Dtype::I64, shape: vec![2], data: [7i64.to_le_bytes(), (-1i64).to_le_bytes()].concat() },
        );
        file.metadata.insert("k".into(), "v".into());
        file.write(&path).unwrap();
        let back = SafeTensors::read(&path).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.tensors["a"].to_floats::<f64>().unwrap()[5], 6.5);
        assert_eq!(back.tensors["b"].to_ints().unwrap(), vec![7, -1]);
        let bytes = std::fs::read(&path).unwrap();
        for len in [0, 7, 8, 20, bytes.len() - 1] {
            assert!(SafeTensors::parse(&bytes[..len], &path).is_err(), "truncated to {len}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
