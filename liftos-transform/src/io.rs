//! Reading and writing tables as CSV or Parquet, chosen by file extension.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{Error, Result};

/// The file formats [`read_table`] and [`write_table`] know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
}

impl FileFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(FileFormat::Csv),
            Some("parquet" | "pq") => Ok(FileFormat::Parquet),
            _ => Err(file_error(
                path,
                None,
                "unsupported file type: expected a .csv or .parquet extension",
            )),
        }
    }
}

/// How [`read_table_with`] types CSV columns.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `infer_types` | `true` | infer each CSV column's type from all its values; `false` reads every column as Utf8 (the unify step parses text, so raw exports need no inference) | bool |
/// | `batch_size` | 65 536 | rows per decoded batch | ≥ 1 |
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Infer CSV column types (else every column is Utf8).
    pub infer_types: bool,
    /// Rows per decoded batch.
    pub batch_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            infer_types: true,
            batch_size: 65_536,
        }
    }
}

impl ReadOptions {
    /// Reads every CSV column as text.
    pub fn text() -> Self {
        ReadOptions {
            infer_types: false,
            ..Self::default()
        }
    }
}

fn file_error(path: &Path, line: Option<usize>, message: impl Into<String>) -> Error {
    Error::File {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// The first `line N` in an Arrow/csv message.
fn line_in(message: &str) -> Option<usize> {
    message.match_indices("line").find_map(|(at, _)| {
        let digits: String = message[at + 4..]
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The `column N` (0-based) in an Arrow CSV parse error.
fn column_in(message: &str) -> Option<usize> {
    let at = message.find("for column ")?;
    let digits: String = message[at + 11..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reads a CSV or Parquet file (by extension) into one table, inferring CSV types.
///
/// # Errors
///
/// [`Error::File`] naming the file, and the line for CSV problems (ragged rows,
/// invalid UTF-8); unsupported extensions and unreadable files too.
pub fn read_table(path: impl AsRef<Path>) -> Result<RecordBatch> {
    read_table_with(path, &ReadOptions::default())
}

/// Like [`read_table`], with [`ReadOptions`].
pub fn read_table_with(path: impl AsRef<Path>, options: &ReadOptions) -> Result<RecordBatch> {
    let path = path.as_ref();
    match FileFormat::of(path)? {
        FileFormat::Csv => read_csv(path, options),
        FileFormat::Parquet => read_parquet(path, options),
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| file_error(path, None, e.to_string()))
}

fn read_csv(path: &Path, options: &ReadOptions) -> Result<RecordBatch> {
    if options.batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let mut file = open(path)?;
    let format = Format::default().with_header(true);
    let max = if options.infer_types { None } else { Some(0) };
    let (schema, _) = format
        .infer_schema(BufReader::new(&mut file), max)
        .map_err(|e| arrow_file_error(path, &e))?;
    if schema.fields().is_empty() {
        return Err(file_error(path, Some(1), "no header row"));
    }
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let dt = match f.data_type() {
                _ if !options.infer_types => DataType::Utf8,
                // A column with no values at all is read as (null) text.
                DataType::Null => DataType::Utf8,
                other => other.clone(),
            };
            Field::new(f.name(), dt, true)
        })
        .collect();
    // A value the inference accepted but the decoder rejects (e.g. 2024-02-30 in a date
    // column) makes that column text instead; the transforms then report the cell.
    for _ in 0..=fields.len() {
        match decode_csv(&mut file, path, format.clone(), &fields, options.batch_size) {
            Ok(batch) => return Ok(batch),
            Err((e, message)) => match column_in(&message) {
                Some(c) if c < fields.len() && fields[c].data_type() != &DataType::Utf8 => {
                    fields[c] = Field::new(fields[c].name(), DataType::Utf8, true);
                }
                _ => return Err(e),
            },
        }
    }
    Err(file_error(path, None, "could not decode the file"))
}

fn decode_csv(
    file: &mut File,
    path: &Path,
    format: Format,
    fields: &[Field],
    batch_size: usize,
) -> std::result::Result<RecordBatch, (Error, String)> {
    let io = |e: std::io::Error| (file_error(path, None, e.to_string()), e.to_string());
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let schema: SchemaRef = Arc::new(Schema::new(fields.to_vec()));
    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(batch_size)
        .build(BufReader::with_capacity(1 << 20, &*file))
        .map_err(|e| (arrow_file_error(path, &e), e.to_string()))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| (arrow_file_error(path, &e), e.to_string()))?);
    }
    concat_batches(&schema, &batches).map_err(|e| (arrow_file_error(path, &e), e.to_string()))
}

fn arrow_file_error(path: &Path, e: &arrow::error::ArrowError) -> Error {
    let message = e.to_string();
    file_error(path, line_in(&message), message)
}

fn read_parquet(path: &Path, options: &ReadOptions) -> Result<RecordBatch> {
    let file = open(path)?;
    let pq = |e: parquet::errors::ParquetError| file_error(path, None, e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(options.batch_size.max(1))
        .build()
        .map_err(pq)?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| arrow_file_error(path, &e))?);
    }
    concat_batches(&schema, &batches).map_err(|e| arrow_file_error(path, &e))
}

/// Writes `batch` as CSV (with a header) or Parquet (Snappy), by extension.
///
/// The file is written to a temporary sibling and renamed into place, so a failed write
/// leaves no half-written file.
pub fn write_table(path: impl AsRef<Path>, batch: &RecordBatch) -> Result<()> {
    let path = path.as_ref();
    let format = FileFormat::of(path)?;
    let tmp = temp_sibling(path);
    let result = write_to(&tmp, format, batch);
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            file_error(path, None, e.to_string())
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(match e {
                Error::File { line, message, .. } => file_error(path, line, message),
                other => other,
            })
        }
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_to(tmp: &Path, format: FileFormat, batch: &RecordBatch) -> Result<()> {
    let file = File::create(tmp).map_err(|e| file_error(tmp, None, e.to_string()))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    match format {
        FileFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            writer.write(batch).map_err(|e| arrow_file_error(tmp, &e))?;
            let mut out = writer.into_inner();
            std::io::Write::flush(&mut out).map_err(|e| file_error(tmp, None, e.to_string()))?;
        }
        FileFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let pq = |e: parquet::errors::ParquetError| file_error(tmp, None, e.to_string());
            let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props)).map_err(pq)?;
            writer.write(batch).map_err(pq)?;
            writer.close().map_err(pq)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_yield_line_and_column() {
        assert_eq!(
            line_in("incorrect number of fields for line 3, expected 2"),
            Some(3)
        );
        assert_eq!(
            column_in("Error while parsing value 'x' as type 'Int64' for column 2 at line 5"),
            Some(2)
        );
        assert_eq!(
            line_in("record 2 (line: 3, byte: 8): invalid utf-8"),
            Some(3)
        );
        assert_eq!(line_in("nothing here"), None);
    }
}
