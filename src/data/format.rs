//! The two data file formats, and how one record of each becomes the values of a row.
//!
//! - CSV (`.csv`, or `.tsv` with tabs) with a header line naming the columns: RFC 4180 quoting
//!   (delimiters, quotes and line breaks inside quoted fields), read with the `csv` crate.
//! - JSON lines (`.jsonl`, `.ndjson`): one JSON object per line; blank lines are skipped. A
//!   string member is used as it is, any other value as its JSON text (`42`, `true`,
//!   `{"a":1}`, `null`).

use std::path::Path;

use csv::StringRecord;
use serde_json::Value;

use super::DataError;

/// How a file's records are written.
#[derive(Debug)]
pub(super) enum Format {
    /// Delimited text with a header; `columns` are the header positions of the used fields
    /// (filled in by the scan).
    Csv {
        delimiter: u8,
        columns: Box<[usize]>,
    },
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format named by the file's extension.
    pub(super) fn of(path: &Path) -> Result<Format, DataError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let csv = |delimiter| Format::Csv {
            delimiter,
            columns: Box::default(),
        };
        match extension.as_deref() {
            Some("csv") => Ok(csv(b',')),
            Some("tsv") => Ok(csv(b'\t')),
            Some("jsonl" | "ndjson") => Ok(Format::JsonLines),
            _ => Err(DataError::whole(
                path,
                "unknown data file format: expected a .csv or .tsv file with a header line, \
                 or JSON lines in a .jsonl or .ndjson file",
            )),
        }
    }

    /// The values of `fields` in one record's bytes, read back at run time.
    pub(super) fn values(&self, bytes: &[u8], fields: &[String]) -> Result<Vec<String>, String> {
        match self {
            Format::Csv { delimiter, columns } => {
                let mut reader = csv_reader(*delimiter, false, bytes.len() + 1).from_reader(bytes);
                let mut record = StringRecord::new();
                match reader.read_record(&mut record) {
                    Ok(true) => Ok(project(&record, columns)),
                    Ok(false) => Err("no record".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Format::JsonLines => json_values(bytes, fields).map_err(|e| e.to_string()),
        }
    }
}

/// A CSV reader as the scan and the run-time reads both configure it.
pub(super) fn csv_reader(delimiter: u8, has_headers: bool, buffer: usize) -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .has_headers(has_headers)
        .trim(csv::Trim::Headers)
        .buffer_capacity(buffer);
    builder
}

/// The values at `columns` of a record whose length the scan checked.
fn project(record: &StringRecord, columns: &[usize]) -> Vec<String> {
    columns
        .iter()
        .map(|&at| record.get(at).unwrap_or_default().to_string())
        .collect()
}

/// Why a JSON line is not a usable row.
#[derive(Debug)]
pub(super) enum JsonRowError {
    /// Not JSON at all: what serde_json said, and the column.
    Syntax { message: String, column: usize },
    /// JSON, but not an object: the kind of value found.
    NotObject(&'static str),
    /// An object without this field.
    Missing(String),
}

impl std::fmt::Display for JsonRowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonRowError::Syntax { message, column } => {
                write!(f, "invalid JSON at column {column}: {message}")
            }
            JsonRowError::NotObject(kind) => {
                write!(f, "expected a JSON object per line, found {kind}")
            }
            JsonRowError::Missing(field) => write!(f, "the object has no field {field:?}"),
        }
    }
}

/// The values of `fields` in one JSON line.
pub(super) fn json_values(line: &[u8], fields: &[String]) -> Result<Vec<String>, JsonRowError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        let text = e.to_string();
        let message = match text.rfind(" at line ") {
            Some(at) => text[..at].to_string(),
            None => text,
        };
        JsonRowError::Syntax {
            message,
            column: e.column(),
        }
    })?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return Err(JsonRowError::NotObject("an array")),
        Value::String(_) => return Err(JsonRowError::NotObject("a string")),
        Value::Number(_) => return Err(JsonRowError::NotObject("a number")),
        Value::Bool(_) => return Err(JsonRowError::NotObject("a boolean")),
        Value::Null => return Err(JsonRowError::NotObject("null")),
    };
    fields
        .iter()
        .map(|field| match object.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Ok(other.to_string()),
            None => Err(JsonRowError::Missing(field.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn json_members_are_strings_as_they_are_and_other_values_as_json() {
        let line =
            br#"{"user": "ann \"a\"", "id": 42, "admin": true, "tags": ["x"], "none": null}"#;
        let values = json_values(line, &fields(&["user", "id", "admin", "tags", "none"])).unwrap();
        assert_eq!(values, ["ann \"a\"", "42", "true", "[\"x\"]", "null"]);
        let missing = json_values(line, &fields(&["email"])).unwrap_err();
        assert_eq!(missing.to_string(), "the object has no field \"email\"");
        let array = json_values(b"[1, 2]\n", &fields(&[])).unwrap_err();
        assert_eq!(
            array.to_string(),
            "expected a JSON object per line, found an array"
        );
        let broken = json_values(b"{\"a\": }", &fields(&[])).unwrap_err();
        assert_eq!(
            broken.to_string(),
            "invalid JSON at column 7: expected value"
        );
    }

    #[test]
    fn a_csv_record_is_read_back_with_its_quoting() {
        let format = Format::Csv {
            delimiter: b',',
            columns: vec![2, 0].into_boxed_slice(),
        };
        let values = format
            .values(
                b"\"a,1\",skip,\"line\nbreak \"\"q\"\"\"\r\n",
                &fields(&["c", "a"]),
            )
            .unwrap();
        assert_eq!(values, ["line\nbreak \"q\"", "a,1"]);
    }

    #[test]
    fn the_extension_names_the_format() {
        assert!(matches!(
            Format::of(Path::new("u.CSV")),
            Ok(Format::Csv {
                delimiter: b',',
                ..
            })
        ));
        assert!(matches!(
            Format::of(Path::new("u.tsv")),
            Ok(Format::Csv {
                delimiter: b'\t',
                ..
            })
        ));
        assert!(matches!(
            Format::of(Path::new("u.ndjson")),
            Ok(Format::JsonLines)
        ));
        let error = Format::of(Path::new("dir/users.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("dir/users.txt: unknown data file format: expected a .csv"),
            "{error}"
        );
    }
}
