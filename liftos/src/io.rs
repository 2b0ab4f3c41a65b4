//! Writing output files all-or-nothing.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_keep_the_extension_and_directory() {
        assert_eq!(
            partial_path(Path::new("out/cal.parquet")),
            Path::new("out/.cal.parquet.partial.parquet")
        );
        assert_eq!(partial_path(Path::new("x")), Path::new(".x.partial"));
    }
}
