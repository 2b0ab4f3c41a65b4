//! Writing output files all-or-nothing.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use liftos_transform::FileFormat;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{Error, Result};

/// A sibling of `path` to write into first: same directory and extension, so the file
/// format chosen by extension is the same, and a rename within one directory is atomic.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    let partial = match ext {
        Some(ext) => format!(".{name}.partial.{ext}"),
        None => format!(".{name}.partial"),
    };
    path.with_file_name(partial)
}

/// Writes `batch` to `path` (CSV or Parquet by extension) so that either the whole file
/// appears or nothing does: the table goes to a temporary sibling that is renamed into
/// place, and removed on failure.
pub fn write_table_atomically(path: &Path, batch: &RecordBatch) -> Result<()> {
    let tmp = partial_path(path);
    if let Err(e) = liftos_transform::write_table(&tmp, batch) {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    })
}

/// Writes `bytes` to `path` all-or-nothing (temporary sibling, then rename).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = partial_path(path);
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(e)
    })
}

enum Sink {
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Parquet(Box<ArrowWriter<BufWriter<File>>>),
}

/// Writes a table batch by batch (CSV or Parquet by extension), all-or-nothing.
///
/// Batches go to a temporary sibling of the target (see [`partial_path`]) as they
/// arrive, so memory stays flat however many rows are written; [`finish`](Self::finish)
/// renames the file into place. Dropping the writer without finishing (an error, a
/// panic, an interrupted pull) removes the temporary file: either the whole table
/// appears at the target or nothing does.
pub struct TableWriter {
    path: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    rows: usize,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Starts writing a table of `schema` to `path` (`.csv` or `.parquet`).
    ///
    /// # Errors
    ///
    /// An unsupported extension, or a temporary file that cannot be created (naming it).
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let format = FileFormat::of(path)?;
        let tmp = partial_path(path);
        let file = File::create(&tmp).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let mut writer = TableWriter {
            path: path.to_owned(),
            tmp,
            sink: None,
            rows: 0,
        };
        writer.sink = Some(match format {
            FileFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let w = ArrowWriter::try_new(out, schema, Some(props))
                    .map_err(|e| writer.parquet_error(e))?;
                Sink::Parquet(Box::new(w))
            }
            // CSV and any format added later: text with a header.
            _ => Sink::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
        });
        Ok(writer)
    }

    fn parquet_error(&self, e: parquet::errors::ParquetError) -> Error {
        Error::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &mut self.sink {
            Some(Sink::Csv(w)) => w.write(batch)?,
            Some(Sink::Parquet(w)) => {
                if let Err(e) = w.write(batch) {
                    return Err(self.parquet_error(e));
                }
            }
            None => {}
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Completes the file and moves it into place; returns the rows written.
    pub fn finish(mut self) -> Result<usize> {
        match self.sink.take() {
            Some(Sink::Csv(w)) => {
                let mut out = w.into_inner();
                out.flush().map_err(|e| self.io_error(e))?;
                out.into_inner()
                    .map_err(|e| self.io_error(e.into_error()))?
                    .sync_all()
                    .map_err(|e| self.io_error(e))?;
            }
            Some(Sink::Parquet(w)) => {
                let out = w.into_inner().map_err(|e| self.parquet_error(e))?;
                out.into_inner()
                    .map_err(|e| self.io_error(e.into_error()))?
                    .sync_all()
                    .map_err(|e| self.io_error(e))?;
            }
            None => {}
        }
        fs::rename(&self.tmp, &self.path).map_err(|e| self.io_error(e))?;
        Ok(self.rows)
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        // Not finished (or the rename failed): leave nothing behind.
        if self.tmp.exists() {
            drop(self.sink.take());
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::Int64Array;

    fn batch(values: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(values)) as _)]).unwrap()
    }

    #[test]
    fn streamed_tables_appear_whole_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.csv", "t.parquet"] {
            let path = dir.path().join(name);
            let mut w = TableWriter::create(&path, batch(vec![]).schema()).unwrap();
            w.write(&batch(vec![1, 2])).unwrap();
            assert!(!path.exists(), "nothing at the target before finish");
            w.write(&batch(vec![3])).unwrap();
            assert_eq!(w.finish().unwrap(), 3);
            let t = liftos_transform::read_table(&path).unwrap();
            assert_eq!(t.num_rows(), 3, "{name}");
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no partial file left: {names:?}");
    }

    #[test]
    fn an_unfinished_table_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut w = TableWriter::create(&path, batch(vec![]).schema()).unwrap();
        w.write(&batch(vec![1, 2])).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let err =
            TableWriter::create(&dir.path().join("t.txt"), batch(vec![]).schema()).unwrap_err();
        assert!(err.to_string().contains("t.txt"), "{err}");
    }

    #[test]
    fn partial_files_keep_the_extension_and_directory() {
        assert_eq!(
            partial_path(Path::new("out/cal.parquet")),
            Path::new("out/.cal.parquet.partial.parquet")
        );
        assert_eq!(partial_path(Path::new("x")), Path::new(".x.partial"));
    }
}
