//! The records of CSV text: fields separated by commas, trimmed, double-quoted where
//! they hold commas, quotes or line breaks, with exact line numbers for errors.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};

/// `bytes` as text, or an error naming the line of the first byte that is not UTF-8.
pub(super) fn utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        Error::Malformed {
            path: path.to_path_buf(),
            line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            message: format!("not UTF-8 text (byte {}); save the file as UTF-8", e.valid_up_to()),
        }
    })
}

/// A record of the file: its fields, trimmed and unquoted.
pub(super) struct Row<'a> {
    /// The line it starts on, 1-based.
    pub(super) line: usize,
    pub(super) fields: Vec<Cow<'a, str>>,
}

impl Row<'_> {
    /// The field at `index`, of `column`; errors if it is empty.
    pub(super) fn value(&self, index: usize, column: &str, path: &Path) -> Result<&str> {
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
pub(super) struct Rows<'a> {
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
    /// The records of `text` (`path` names it in errors), after a byte-order mark if
    /// it starts with one.
    pub(super) fn new(text: &'a str, path: &'a Path) -> Self {
        Rows { text: text.strip_prefix('\u{feff}').unwrap_or(text), pos: 0, line: 1, path }
    }

    /// The next record that is not an empty line.
    pub(super) fn next_row(&mut self) -> Result<Option<Row<'a>>> {
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
