//! The check of a data file at start: every record read once, front to back, with what is
//! wrong reported as `file:line`; what is kept is where each row starts.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use csv::StringRecord;

use super::format::{Format, JsonRowError, csv_reader, json_values};
use super::{DataError, FieldUse};

/// Read-ahead of the scan: large enough that a million-row file is a few thousand reads.
const SCAN_BUFFER: usize = 1 << 16;

/// Checks the whole file and returns its format (with the used CSV columns located) and the
/// byte offset where each row starts, followed by the end of the last row.
pub(super) fn index(
    path: &Path,
    file: &File,
    format: Format,
    fields: &[String],
    uses: &[FieldUse],
) -> Result<(Format, Vec<u64>), DataError> {
    let (format, starts) = match format {
        Format::Csv { delimiter, .. } => {
            let (columns, starts) = csv(path, file, delimiter, fields, uses)?;
            (Format::Csv { delimiter, columns }, starts)
        }
        Format::JsonLines => (Format::JsonLines, json_lines(path, file, fields, uses)?),
    };
    if starts.len() < 2 {
        let expected = match format {
            Format::Csv { .. } => "no rows after the header: expected at least one",
            Format::JsonLines => "no rows: expected at least one JSON object per line",
        };
        return Err(DataError::whole(path, expected));
    }
    Ok((format, starts))
}

/// Where the template using `field` is, for messages.
fn used_at<'a>(uses: &'a [FieldUse], field: &str) -> &'a str {
    uses.iter()
        .find(|u| u.field == field)
        .map_or("", |u| u.at.as_str())
}

fn csv(
    path: &Path,
    file: &File,
    delimiter: u8,
    fields: &[String],
    uses: &[FieldUse],
) -> Result<(Box<[usize]>, Vec<u64>), DataError> {
    let mut reader = csv_reader(delimiter, true, SCAN_BUFFER).from_reader(file);
    let header = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    if header.is_empty() {
        return Err(DataError::whole(
            path,
            "the file is empty: expected a header line naming the columns",
        ));
    }
    let columns = fields
        .iter()
        .map(|field| column(path, &header, field, used_at(uses, field)))
        .collect::<Result<Box<[usize]>, _>>()?;
    let mut starts = Vec::new();
    let mut record = StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => starts.push(record.position().map_or(0, |p| p.byte())),
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, &e)),
        }
    }
    starts.push(reader.position().byte());
    starts.shrink_to_fit();
    Ok((columns, starts))
}

/// The header position of `field`, which must name exactly one column.
fn column(path: &Path, header: &StringRecord, field: &str, at: &str) -> Result<usize, DataError> {
    let mut found = header.iter().enumerate().filter(|(_, name)| *name == field);
    match (found.next(), found.next()) {
        (Some((index, _)), None) => Ok(index),
        (Some(_), Some(_)) => Err(DataError::at(
            path,
            1,
            format!("column {field:?} (used by {at}) appears more than once in the header"),
        )),
        (None, _) => {
            let names: Vec<String> = header.iter().map(|n| format!("{n:?}")).collect();
            Err(DataError::at(
                path,
                1,
                format!(
                    "no column {field:?} (used by {{{{ row.{field} }}}} in {at}): the header \
                     has {}",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A CSV error as `file:line: what was expected`.
fn csv_error(path: &Path, error: &csv::Error) -> DataError {
    let line = |position: &Option<csv::Position>| position.as_ref().map_or(0, |p| p.line());
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => DataError::at(
            path,
            line(pos),
            format!("expected {expected_len} fields as in the header, found {len}"),
        ),
        csv::ErrorKind::Utf8 { pos, err } => DataError::at(
            path,
            line(pos),
            format!(
                "field {} is not valid UTF-8: expected UTF-8 text",
                err.field() + 1
            ),
        ),
        csv::ErrorKind::Io(e) => DataError::whole(
            path,
            format!(
                "cannot read the data file: {}",
                crate::config::io_message(e)
            ),
        ),
        _ => DataError::whole(path, error.to_string()),
    }
}

fn json_lines(
    path: &Path,
    file: &File,
    fields: &[String],
    uses: &[FieldUse],
) -> Result<Vec<u64>, DataError> {
    let mut reader = BufReader::with_capacity(SCAN_BUFFER, file);
    let mut line = Vec::new();
    let mut starts = Vec::new();
    let (mut offset, mut number) = (0u64, 0u64);
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| {
            DataError::whole(
                path,
                format!(
                    "cannot read the data file: {}",
                    crate::config::io_message(&e)
                ),
            )
        })?;
        if read == 0 {
            break;
        }
        number += 1;
        let start = offset;
        offset += read as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match json_values(&line, fields) {
            Ok(_) => starts.push(start),
            Err(JsonRowError::Syntax { message, column }) => {
                return Err(DataError::new(
                    format!("{}:{number}:{column}", path.display()),
                    format!("invalid JSON: {message}: expected one JSON object per line"),
                ));
            }
            Err(JsonRowError::Missing(field)) => {
                return Err(DataError::at(
                    path,
                    number,
                    format!(
                        "the object has no field {field:?}, used by {{{{ row.{field} }}}} in {}",
                        used_at(uses, &field)
                    ),
                ));
            }
            Err(other) => return Err(DataError::at(path, number, other.to_string())),
        }
    }
    starts.push(offset);
    starts.shrink_to_fit();
    Ok(starts)
}
