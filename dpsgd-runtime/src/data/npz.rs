//! Just enough of numpy's `.npz` format to read Keras' datasets and users' examples: a
//! zip archive (stored or deflated members, zip64 sizes) of `.npy` arrays: numbers of
//! any shape, or one-dimensional arrays of Python objects, which numpy pickles. The pickle reader knows the opcodes of protocols 2 to
//! 5 that an object array of lists of integers uses, and nothing that runs code.
//!
//! Every length read from the file is checked against what is left of it, so a
//! truncated or hostile file is an error, never a panic or a huge allocation.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::safetensors::{Dtype, Tensor};

/// The members of a zip archive, by name, decompressed.
pub fn read_zip(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |message: &str| malformed(path, message);
    // The end-of-central-directory record: within the last 64 KiB (its comment).
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_557)
        .find(|&i| bytes[i..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))
        .ok_or_else(|| bad("not a zip archive (no end of central directory)"))?;
    let entries = u16_at(bytes, eocd + 10).ok_or_else(|| bad("truncated"))? as usize;
    let mut at = u32_at(bytes, eocd + 16).ok_or_else(|| bad("truncated"))? as usize;
    let mut members = Vec::new();
    for _ in 0..entries {
        let field = |offset: usize| u32_at(bytes, at + offset).ok_or_else(|| bad("truncated central directory"));
        if field(0)? != 0x0201_4b50 {
            return Err(bad("corrupt central directory"));
        }
        let method = u16_at(bytes, at + 10).ok_or_else(|| bad("truncated"))?;
        let (mut packed, mut size) = (field(20)? as u64, field(24)? as u64);
        let name_len = u16_at(bytes, at + 28).ok_or_else(|| bad("truncated"))? as usize;
        let extra_len = u16_at(bytes, at + 30).ok_or_else(|| bad("truncated"))? as usize;
        let comment_len = u16_at(bytes, at + 32).ok_or_else(|| bad("truncated"))? as usize;
        let mut local = field(42)? as u64;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(|| bad("truncated"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(|| bad("truncated"))?;
        // Zip64: the sizes and offset that overflowed 32 bits follow in extra field 1.
        let mut zip64 = zip64_fields(extra).into_iter();
        for value in [&mut size, &mut packed, &mut local] {
            if *value == 0xFFFF_FFFF {
                *value = zip64.next().ok_or_else(|| bad("zip64 sizes missing"))?;
            }
        }
        let local = local as usize;
        if u32_at(bytes, local) != Some(0x0403_4b50) {
            return Err(bad("corrupt local header"));
        }
        let local_name = u16_at(bytes, local + 26).ok_or_else(|| bad("truncated"))? as usize;
        let local_extra = u16_at(bytes, local + 28).ok_or_else(|| bad("truncated"))? as usize;
        let start = local + 30 + local_name + local_extra;
        let data = bytes
            .get(start..start.saturating_add(packed as usize))
            .ok_or_else(|| bad(&format!("member {name} runs past the end of the file")))?;
        let contents = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity((size as usize).min(bytes.len() * 16));
                flate2::read::DeflateDecoder::new(data)
                    .take(size)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(&format!("member {name}: {e}")))?;
                out
            }
            other => return Err(bad(&format!("member {name}: unsupported compression method {other}"))),
        };
        if contents.len() as u64 != size {
            return Err(bad(&format!("member {name}: {} bytes, the directory says {size}", contents.len())));
        }
        members.push((name, contents));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(members)
}

fn zip64_fields(mut extra: &[u8]) -> Vec<u64> {
    while extra.len() >= 4 {
        let (id, len) = (u16::from_le_bytes([extra[0], extra[1]]), u16::from_le_bytes([extra[2], extra[3]]) as usize);
        let body = &extra[4..(4 + len).min(extra.len())];
        if id == 1 {
            return body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        }
        extra = &extra[(4 + len).min(extra.len())..];
    }
    Vec::new()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn malformed(path: &Path, message: &str) -> Error {
    Error::Malformed { path: path.to_path_buf(), line: 0, message: message.to_string() }
}

/// A one-dimensional `.npy` array: integers, or Python objects (lists of integers).
#[derive(Debug, PartialEq)]
pub enum Npy {
    /// An array of integers.
    Integers(Vec<i64>),
    /// An array of Python objects, each a list of integers.
    Lists(Vec<Vec<i64>>),
}

/// Where a `.npy` array's data starts, its dtype descriptor and its shape.
struct Header {
    descr: String,
    dims: Vec<usize>,
    data: usize,
}

/// The header of `bytes`, a `.npy` array.
fn header(bytes: &[u8]) -> std::result::Result<Header, String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("not a .npy array".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16_at(bytes, 8).map(usize::from), 10),
        _ => (u32_at(bytes, 8).map(|v| v as usize), 12),
    };
    let header_len = header_len.ok_or("truncated header")?;
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = String::from_utf8_lossy(header);
    let descr = quoted_after(&header, "'descr':").ok_or("no dtype in the header")?;
    if header.contains("'fortran_order': True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape = header.split("'shape':").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape in the header")?;
    let dims = shape
        .trim_start_matches([' ', '('])
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| format!("bad shape ({shape})")))
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    Ok(Header { descr, dims, data: start + header_len })
}

/// Bytes per value of an integer dtype descriptor, and whether it is signed.
fn integer_width(descr: &str) -> Option<(usize, bool)> {
    let width = match descr {
        "<i8" | "<u8" => 8,
        "<i4" | "<u4" => 4,
        "<i2" | "<u2" => 2,
        "|i1" | "|u1" | "|b1" => 1,
        _ => return None,
    };
    Some((width, descr.contains('i')))
}

/// `len` little-endian integers of `width` bytes from `data` (which holds them).
fn integers(data: &[u8], len: usize, width: usize, signed: bool) -> Vec<i64> {
    data[..len * width]
        .chunks_exact(width)
        .map(|c| {
            let mut word = [0u8; 8];
            word[..width].copy_from_slice(c);
            let raw = u64::from_le_bytes(word);
            match signed {
                // Sign-extend from `width` bytes.
                true => ((raw << (64 - 8 * width)) as i64) >> (64 - 8 * width),
                false => raw as i64,
            }
        })
        .collect()
}

/// Reads a one-dimensional `.npy` array of little-endian integers or of pickled lists
/// of integers. `what` names it in errors.
pub fn read_npy(path: &Path, what: &str, bytes: &[u8]) -> Result<Npy> {
    let bad = |message: String| malformed(path, &format!("{what}: {message}"));
    let Header { descr, dims, data } = header(bytes).map_err(bad)?;
    let [len] = dims[..] else {
        return Err(bad(format!("expected a one-dimensional array, got shape {dims:?}")));
    };
    let data = &bytes[data..];
    if descr == "|O" {
        let lists = Pickle::new(data).run().map_err(bad)?;
        if lists.len() != len {
            return Err(bad(format!("{} objects, the header says {len}", lists.len())));
        }
        return Ok(Npy::Lists(lists));
    }
    let (width, signed) = integer_width(&descr).ok_or_else(|| bad(format!("unsupported dtype {descr}")))?;
    if data.len() < len * width {
        return Err(bad(format!("{} bytes of data for {len} values", data.len())));
    }
    Ok(Npy::Integers(integers(data, len, width, signed)))
}

/// Reads a numeric `.npy` array of any shape as a tensor: 32- and 64-bit floats and
/// integers as they are, narrower integers widened to 64 bits. `what` names it in
/// errors.
pub fn read_numeric(path: &Path, what: &str, bytes: &[u8]) -> Result<Tensor> {
    let bad = |message: String| malformed(path, &format!("{what}: {message}"));
    let Header { descr, dims, data } = header(bytes).map_err(bad)?;
    let data = &bytes[data..];
    let len = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| bad("shape too large".into()))?;
    let (dtype, width) = match descr.as_str() {
        "<f4" => (Some(Dtype::F32), 4),
        "<f8" => (Some(Dtype::F64), 8),
        "<i4" => (Some(Dtype::I32), 4),
        "<i8" => (Some(Dtype::I64), 8),
        other => match integer_width(other) {
            Some((width, _)) => (None, width),
            None => return Err(bad(format!("unsupported dtype {other} (use float32, float64 or integers)"))),
        },
    };
    let bytes_needed = len.checked_mul(width).ok_or_else(|| bad("shape too large".into()))?;
    if data.len() < bytes_needed {
        return Err(bad(format!("{} bytes of data for {len} values of shape {dims:?}", data.len())));
    }
    Ok(match dtype {
        Some(dtype) => Tensor { dtype, shape: dims, data: data[..bytes_needed].to_vec() },
        None => {
            let (width, signed) = integer_width(&descr).expect("an integer dtype");
            Tensor::from_i64(dims, &integers(data, len, width, signed))
        }
    })
}

/// The single-quoted string after `key`.
fn quoted_after(header: &str, key: &str) -> Option<String> {
    let rest = header.split(key).nth(1)?;
    let start = rest.find('\'')? + 1;
    let end = start + rest[start..].find('\'')?;
    Some(rest[start..end].to_string())
}

/// A value on the pickle machine's stack.
#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Strings, byte strings, `None`, booleans, dictionaries, globals: kept only as
    /// placeholders, since an integer array never needs their contents.
    Other,
    /// The result of calling something (`REDUCE`, `NEWOBJ`) and the state `BUILD` gave it.
    Object(Option<Box<Value>>),
    Mark,
    /// A memoized list, tuple or object: not copied (the data set would be held twice),
    /// so reading it back from the memo is an error.
    Container,
}

/// A pickle reader for numpy object arrays: runs the opcodes and returns the array's
/// objects, each a list of integers.
struct Pickle<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    memo: std::collections::HashMap<u32, Value>,
}

impl<'a> Pickle<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Pickle { bytes, at: 0, stack: Vec::new(), memo: Default::default() }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let out = self.bytes.get(self.at..self.at.saturating_add(n)).ok_or("the pickle is truncated")?;
        self.at += n;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> std::result::Result<u64, String> {
        let mut word = [0u8; 8];
        word[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(word))
    }

    fn pop(&mut self) -> std::result::Result<Value, String> {
        self.stack.pop().ok_or_else(|| "the pickle pops an empty stack".to_string())
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> std::result::Result<Vec<Value>, String> {
        let mark = self.stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or("the pickle has no mark")?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&mut self) -> std::result::Result<&mut Value, String> {
        self.stack.last_mut().ok_or_else(|| "the pickle's stack is empty".to_string())
    }

    fn run(mut self) -> std::result::Result<Vec<Vec<i64>>, String> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => drop(self.take(1)?),                                // PROTO
                0x95 => drop(self.take(8)?),                                // FRAME
                b'(' => self.stack.push(Value::Mark),                       // MARK
                b'.' => break,                                              // STOP
                b'N' | 0x88 | 0x89 | b'}' => self.stack.push(Value::Other), // None, True, False, {}
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32 as i64;
                    self.stack.push(Value::Int(v))
                }
                0x8a => {
                    // LONG1: a little-endian two's-complement integer of n bytes.
                    let n = self.uint(1)? as usize;
                    if n > 8 {
                        return Err("an integer wider than 64 bits".into());
                    }
                    let raw = if n == 0 { 0 } else { self.uint(n)? };
                    let v = if n == 0 || n == 8 { raw as i64 } else { ((raw << (64 - 8 * n)) as i64) >> (64 - 8 * n) };
                    self.stack.push(Value::Int(v))
                }
                // Strings and bytes of a 1-, 4- or 8-byte length.
                0x8c | b'U' | b'C' => {
                    let n = self.uint(1)? as usize;
                    self.take(n)?;
                    self.stack.push(Value::Other)
                }
                b'X' | b'T' | b'B' => {
                    let n = self.uint(4)? as usize;
                    self.take(n)?;
                    self.stack.push(Value::Other)
                }
                0x8d | 0x8e | 0x96 => {
                    let n = self.uint(8)? as usize;
                    self.take(n)?;
                    self.stack.push(Value::Other)
                }
                b'c' => {
                    // GLOBAL: two newline-terminated names.
                    for _ in 0..2 {
                        let rest = &self.bytes[self.at.min(self.bytes.len())..];
                        let end = rest.iter().position(|&b| b == b'\n').ok_or("the pickle is truncated")?;
                        self.at += end + 1;
                    }
                    self.stack.push(Value::Other)
                }
                0x93 => {
                    // STACK_GLOBAL: module and name from the stack.
                    self.pop()?;
                    self.pop()?;
                    self.stack.push(Value::Other)
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("the pickle pops an empty stack".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                b']' => self.stack.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(list) => list.push(item),
                        _ => return Err("APPEND to something not a list".into()),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.extend(items),
                        _ => return Err("APPENDS to something not a list".into()),
                    }
                }
                b's' => {
                    self.pop()?;
                    self.pop()?;
                }
                b'u' => drop(self.pop_mark()?),
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.uint(1)? as u32,
                        b'r' => self.uint(4)? as u32,
                        _ => self.memo.len() as u32,
                    };
                    let value = match self.top()? {
                        Value::List(_) | Value::Tuple(_) | Value::Object(_) => Value::Container,
                        other => other.clone(),
                    };
                    self.memo.insert(key, value);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let value = self.memo.get(&key).cloned().ok_or("the pickle reads an unset memo")?;
                    if matches!(value, Value::Container) {
                        return Err(
                            "the pickle shares a list or object between places: not an array of sequences".into()
                        );
                    }
                    self.stack.push(value)
                }
                b'R' | 0x81 => {
                    // REDUCE / NEWOBJ: the call's result, whose contents BUILD supplies.
                    self.pop()?;
                    self.pop()?;
                    self.stack.push(Value::Object(None))
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Object(slot) => *slot = Some(Box::new(state)),
                        _ => return Err("BUILD on something not an object".into()),
                    }
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
        // An ndarray's state: (version, shape, dtype, is_fortran, objects).
        let Some(Value::Object(Some(state))) = self.stack.pop() else {
            return Err("the pickle does not hold a numpy array".into());
        };
        let Value::Tuple(fields) = *state else { return Err("unexpected numpy array state".into()) };
        let Some(Value::List(objects)) = fields.into_iter().nth(4) else {
            return Err("the array's objects are not a list".into());
        };
        objects
            .into_iter()
            .map(|object| match object {
                Value::List(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::Int(i) => Ok(i),
                        _ => Err("a sequence holds something other than integers".to_string()),
                    })
                    .collect(),
                _ => Err("an object of the array is not a list".to_string()),
            })
            .collect()
    }
}
