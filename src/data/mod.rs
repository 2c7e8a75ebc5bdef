//! Test data files: the `data:` of a scenario (or flow), rows that its iterations take one at a
//! time and read in templates as `{{ row.FIELD }}`.
//!
//! A file is checked from end to end when the config is loaded (so `check-config`, the daemon
//! and `synthex load` all refuse a bad one before anything starts, naming `file:line`), and
//! what is kept is only where each row starts: 8 bytes a row, however wide the rows are. An
//! iteration reads its row back from the file (`pread`, from the page cache once warm) and
//! keeps only the fields its templates use. A million-row file therefore costs about 8 MB of
//! memory, never a copy of the file, let alone two.
//!
//! Submodules: `format` reads one record of a CSV or JSON-lines file, `scan` checks the whole
//! file at start and finds where the rows start, `row` is the row handed to templates.

mod format;
mod row;
mod scan;

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rand::{Rng, RngExt};

use crate::config::io_message;
use thiserror::Error;

pub use self::row::Row;

use self::format::Format;

/// In which order the iterations take rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// File order, shared by all virtual users, starting over after the last row.
    Sequential,
    /// A uniformly random row for every iteration.
    Random,
    /// File order, each row exactly once; then the data is exhausted.
    Unique,
}

impl Mode {
    /// The word of the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Random => "random",
            Mode::Unique => "unique",
        }
    }
}

/// What a load test does when a `unique` file has no row left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExhausted {
    /// The test ends there, as if its profile had ended; the verdict is the thresholds'.
    #[default]
    Stop,
    /// The test ends there and fails (exit status 3).
    Fail,
}

impl OnExhausted {
    /// The word of the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnExhausted::Stop => "stop",
            OnExhausted::Fail => "fail",
        }
    }
}

/// `data:` of a scenario, with the file path resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSettings {
    /// The CSV (`.csv`, `.tsv`) or JSON-lines (`.jsonl`, `.ndjson`) file.
    pub file: PathBuf,
    /// Row order.
    pub mode: Mode,
    /// What a load test does when a `unique` file runs out.
    pub on_exhausted: OnExhausted,
}

/// A field a template reads (`{{ row.FIELD }}`) and where that template is (its config field
/// path), so a file lacking the field is refused with both named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldUse {
    /// The field (CSV column or JSON member).
    pub field: String,
    /// Config field path of the template, e.g. `targets[0].scenarios[1].request.body`.
    pub at: String,
}

/// Why a data file was refused: where (`file`, `file:line` or `file:line:column`) and what was
/// expected there.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{location}: {problem}")]
pub struct DataError {
    location: String,
    problem: String,
}

impl DataError {
    fn new(location: String, problem: impl Into<String>) -> DataError {
        DataError {
            location,
            problem: problem.into(),
        }
    }

    fn at(path: &Path, line: u64, problem: impl Into<String>) -> DataError {
        DataError::new(format!("{}:{line}", path.display()), problem)
    }

    fn whole(path: &Path, problem: impl Into<String>) -> DataError {
        DataError::new(path.display().to_string(), problem)
    }
}

/// A checked data file that hands out rows, shared by every virtual user of its scenario.
pub struct DataSource {
    settings: DataSettings,
    file: File,
    format: Format,
    /// The fields the templates use, in the order rows hold them.
    fields: Arc<[String]>,
    /// Byte offset where each row starts, then the end of the last one.
    starts: Vec<u64>,
    /// In `unique` mode, the rows this process hands out: `(first, stride)`, rows `first`,
    /// `first + stride`, … — all of them `(0, 1)` unless a shard of a distributed run took its
    /// share ([`DataSource::take_share`]), so that the shards together send each row once.
    share: OnceLock<(u64, u64)>,
    /// Rows asked for so far, in every mode (beyond the file's rows once `unique` data ran
    /// out): the `sequential` and `unique` position, and the count [`DataSource::taken`] reads.
    cursor: AtomicU64,
}

impl fmt::Debug for DataSource {
    /// What defines the source, not where its cursor is (the daemon compares definitions).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSource")
            .field("settings", &self.settings)
            .field("fields", &self.fields)
            .field("rows", &self.rows())
            .finish()
    }
}

impl DataSource {
    /// Opens and checks the whole file: every row well-formed, every used field present.
    pub fn open(settings: DataSettings, uses: &[FieldUse]) -> Result<DataSource, DataError> {
        let path = settings.file.as_path();
        let format = Format::of(path)?;
        let file = File::open(path).map_err(|e| {
            DataError::whole(
                path,
                format!("cannot open the data file: {}", io_message(&e)),
            )
        })?;
        let mut fields: Vec<String> = Vec::new();
        for field_use in uses {
            if !fields.contains(&field_use.field) {
                fields.push(field_use.field.clone());
            }
        }
        let fields: Arc<[String]> = fields.into();
        let (format, starts) = scan::index(path, &file, format, &fields, uses)?;
        Ok(DataSource {
            settings,
            file,
            format,
            fields,
            starts,
            share: OnceLock::new(),
            cursor: AtomicU64::new(0),
        })
    }

    /// The next row for one iteration, or `None` once a `unique` file has handed out every
    /// row. `rng` picks the row in `random` mode.
    pub fn next_row<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Row> {
        let rows = self.rows() as u64;
        let asked = self.cursor.fetch_add(1, Ordering::Relaxed);
        let index = match self.settings.mode {
            Mode::Sequential => asked % rows,
            Mode::Random => rng.random_range(0..rows),
            Mode::Unique if asked >= self.unique_rows() => return None,
            Mode::Unique => {
                let (first, stride) = self.share();
                first + asked * stride
            }
        };
        Some(self.read(index as usize))
    }

    /// Rows handed out so far (each a read of the file; in `unique` mode at most
    /// [`DataSource::rows`]). The load test reads it before and after its warm-up and run to
    /// report how many rows each used.
    pub fn taken(&self) -> u64 {
        let asked = self.cursor.load(Ordering::Relaxed);
        match self.settings.mode {
            Mode::Unique => asked.min(self.unique_rows()),
            Mode::Sequential | Mode::Random => asked,
        }
    }

    /// Makes this process shard `index` of `count` of a distributed run: in `unique` mode it
    /// hands out only rows `index`, `index + count`, … (0-based), so the shards together send
    /// every row once. Set once, before the first row; the other modes are unaffected (each
    /// shard reads the whole file).
    pub fn take_share(&self, index: u32, count: u32) {
        let _ = self.share.set((u64::from(index), u64::from(count.max(1))));
    }

    /// Rows this process hands out in `unique` mode: its share of the file.
    pub fn unique_rows(&self) -> u64 {
        let (first, stride) = self.share();
        (self.rows() as u64).saturating_sub(first).div_ceil(stride)
    }

    fn share(&self) -> (u64, u64) {
        self.share.get().copied().unwrap_or((0, 1))
    }

    /// Number of rows in the file.
    pub fn rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &DataSettings {
        &self.settings
    }

    /// Row `index` (0-based), read back from the file.
    fn read(&self, index: usize) -> Row {
        let (start, end) = (self.starts[index], self.starts[index + 1]);
        let mut bytes = vec![0; (end - start) as usize];
        let values = self
            .file
            .read_exact_at(&mut bytes, start)
            .map_err(|e| io_message(&e))
            .and_then(|()| self.format.values(&bytes, &self.fields));
        match values {
            Ok(values) => Row::new(Arc::clone(&self.fields), values),
            Err(problem) => Row::unreadable(
                Arc::clone(&self.fields),
                format!(
                    "{}: row {} can no longer be read ({problem}): was the file changed after start?",
                    self.settings.file.display(),
                    index + 1
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::BTreeMap;

    fn uses(fields: &[&str]) -> Vec<FieldUse> {
        fields
            .iter()
            .map(|f| FieldUse {
                field: f.to_string(),
                at: "targets[0].scenarios[0].request.body".to_string(),
            })
            .collect()
    }

    fn open(
        name: &str,
        content: &[u8],
        mode: Mode,
        fields: &[&str],
    ) -> (tempfile::TempDir, Result<DataSource, DataError>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let settings = DataSettings {
            file,
            mode,
            on_exhausted: OnExhausted::Stop,
        };
        let source = DataSource::open(settings, &uses(fields));
        (dir, source)
    }

    fn error(name: &str, content: &[u8], fields: &[&str]) -> String {
        let (dir, source) = open(name, content, Mode::Sequential, fields);
        let message = source.unwrap_err().to_string();
        message.replace(&format!("{}/", dir.path().display()), "")
    }

    fn value(row: &Row, field: &str) -> String {
        row.get(field).unwrap().to_string()
    }

    #[test]
    fn sequential_rows_come_in_file_order_and_wrap_around() {
        let csv =
            b"\xef\xbb\xbfuser,email\r\nann,a@x\r\n\r\n\"bob, jr\",\"b\"\"@x\"\r\ncid,\"c\n@x\"\n";
        let (_dir, source) = open("u.csv", csv, Mode::Sequential, &["email", "user"]);
        let source = source.unwrap();
        assert_eq!(source.rows(), 3);
        let mut rng = StdRng::seed_from_u64(0);
        let users: Vec<String> = (0..7)
            .map(|_| value(&source.next_row(&mut rng).unwrap(), "user"))
            .collect();
        assert_eq!(
            users,
            ["ann", "bob, jr", "cid", "ann", "bob, jr", "cid", "ann"]
        );
        let row = source.next_row(&mut rng).unwrap();
        assert_eq!(
            (value(&row, "user"), value(&row, "email")),
            ("bob, jr".into(), "b\"@x".into())
        );
        assert_eq!(value(&source.next_row(&mut rng).unwrap(), "email"), "c\n@x");
    }

    #[test]
    fn unique_rows_come_once_each_then_none() {
        let (_dir, source) = open(
            "u.jsonl",
            b"{\"id\": 1}\n\n{\"id\": \"two\"}\n   \n{\"id\": [3]}",
            Mode::Unique,
            &["id"],
        );
        let source = source.unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let ids: Vec<String> = std::iter::from_fn(|| source.next_row(&mut rng))
            .map(|row| value(&row, "id"))
            .collect();
        assert_eq!(ids, ["1", "two", "[3]"]);
        assert!(
            source.next_row(&mut rng).is_none(),
            "still none after the end"
        );
        assert_eq!(source.taken(), 3, "asking past the end takes no row");
    }

    /// Three shards of a 7-row file: 3, 2 and 2 rows, together each row once; a fourth shard
    /// of 8 would have none.
    #[test]
    fn unique_shards_split_the_rows_between_them() {
        let csv = b"n\n0\n1\n2\n3\n4\n5\n6\n";
        let mut rng = StdRng::seed_from_u64(0);
        let mut all = Vec::new();
        for (index, expected) in [
            (0, vec!["0", "3", "6"]),
            (1, vec!["1", "4"]),
            (2, vec!["2", "5"]),
        ] {
            let (_dir, source) = open("n.csv", csv, Mode::Unique, &["n"]);
            let source = source.unwrap();
            source.take_share(index, 3);
            assert_eq!(source.unique_rows(), expected.len() as u64);
            let got: Vec<String> = std::iter::from_fn(|| source.next_row(&mut rng))
                .map(|row| value(&row, "n"))
                .collect();
            assert_eq!(got, expected);
            assert_eq!(source.taken(), expected.len() as u64);
            all.extend(got);
        }
        all.sort();
        assert_eq!(all, ["0", "1", "2", "3", "4", "5", "6"]);
        let (_dir, source) = open("n.csv", csv, Mode::Unique, &["n"]);
        let source = source.unwrap();
        source.take_share(7, 8);
        assert_eq!(source.unique_rows(), 0);
        assert!(source.next_row(&mut rng).is_none());
    }

    /// 3000 random draws over 10 rows: every row comes up, none far from 300 times.
    #[test]
    fn random_rows_cover_the_file_evenly() {
        let mut csv = String::from("n\n");
        for n in 0..10 {
            csv.push_str(&format!("{n}\n"));
        }
        let (_dir, source) = open("n.csv", csv.as_bytes(), Mode::Random, &["n"]);
        let source = source.unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for _ in 0..3000 {
            *seen
                .entry(value(&source.next_row(&mut rng).unwrap(), "n"))
                .or_default() += 1;
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert_eq!(source.taken(), 3000);
        assert!(seen.values().all(|&c| (200..=400).contains(&c)), "{seen:?}");
    }

    #[test]
    fn a_row_changed_after_start_fails_its_template_instead_of_sending_garbage() {
        let (dir, source) = open("u.csv", b"user\nann\nbob\n", Mode::Sequential, &["user"]);
        let source = source.unwrap();
        std::fs::write(dir.path().join("u.csv"), b"user\n").unwrap();
        let row = source.next_row(&mut StdRng::seed_from_u64(0)).unwrap();
        let problem = row.get("user").unwrap_err();
        assert!(
            problem.contains("u.csv: row 1 can no longer be read")
                && problem.contains("was the file changed after start?"),
            "{problem}"
        );
    }

    #[test]
    fn bad_files_are_refused_with_file_line_and_what_was_expected() {
        let body = "targets[0].scenarios[0].request.body";
        let cases: [(&str, &[u8], &[&str], String); 13] = [
            ("u.csv", b"user,email\nann,a@x\nbob\n", &[], "u.csv:3: expected 2 fields as in the header, found 1".into()),
            ("u.csv", b"user,email\nann,a@x,extra\n", &[], "u.csv:2: expected 2 fields as in the header, found 3".into()),
            ("u.csv", b"user\nann\n\xff\n", &[], "u.csv:3: field 1 is not valid UTF-8: expected UTF-8 text".into()),
            ("u.csv", b"user,email\nann,a@x\n", &["emial"], format!("u.csv:1: no column \"emial\" (used by {{{{ row.emial }}}} in {body}): the header has \"user\", \"email\"")),
            ("u.csv", b"email,email\na,b\n", &["email"], format!("u.csv:1: column \"email\" (used by {body}) appears more than once in the header")),
            ("u.csv", b"", &[], "u.csv: the file is empty: expected a header line naming the columns".into()),
            ("u.csv", b"user,email\n", &[], "u.csv: no rows after the header: expected at least one".into()),
            ("u.jsonl", b"{\"a\": 1}\n{\"a\": }\n", &[], "u.jsonl:2:7: invalid JSON: expected value: expected one JSON object per line".into()),
            ("u.jsonl", b"{\"a\": 1}\n[1]\n", &[], "u.jsonl:2: expected a JSON object per line, found an array".into()),
            ("u.ndjson", b"\n{\"a\": 1}\n{\"b\": 1}\n", &["a"], format!("u.ndjson:3: the object has no field \"a\", used by {{{{ row.a }}}} in {body}")),
            ("u.jsonl", b"\n  \n", &[], "u.jsonl: no rows: expected at least one JSON object per line".into()),
            ("u.json", b"{}", &[], "u.json: unknown data file format: expected a .csv or .tsv file with a header line, or JSON lines in a .jsonl or .ndjson file".into()),
            ("u.tsv", b"a\tb\nx\n", &[], "u.tsv:2: expected 2 fields as in the header, found 1".into()),
        ];
        for (name, content, fields, expected) in cases {
            assert_eq!(error(name, content, fields), expected, "{name} {content:?}");
        }
        let missing = DataSource::open(
            DataSettings {
                file: "/nonexistent/users.csv".into(),
                mode: Mode::Unique,
                on_exhausted: OnExhausted::Fail,
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "/nonexistent/users.csv: cannot open the data file: no such file or directory"
        );
    }
}
