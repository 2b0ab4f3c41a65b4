//! All-or-nothing file writes.
//!
//! A file is written to a temporary sibling in the same directory, flushed to disk, and
//! renamed over the target ([`tempfile`]'s `persist`): a reader sees the old file or the
//! new one, never half of one, and a failed write leaves the target as it was and no
//! temporary file behind.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Writes `path` all-or-nothing with `write`, which gets the temporary file.
///
/// # Errors
///
/// The first I/O error: the directory is missing or not writable, `write` failed, or
/// the flush or rename failed. `path` is then untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(path)?;
    let name = file_name(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)?;
    write(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `path` all-or-nothing with `write`, which gets the temporary file's path (for
/// writers that open a path themselves); the temporary file keeps `path`'s extension, for
/// writers that choose a format by it. `io_error` turns this function's own I/O errors
/// into the caller's error type.
///
/// # Errors
///
/// `write`'s error, or an I/O error (missing directory, flush, rename) through
/// `io_error`. `path` is then untouched and the temporary file removed.
pub fn write_atomically_at<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    io_error: impl Fn(io::Error) -> E,
) -> Result<(), E> {
    let tmp = partial_file(path).map_err(&io_error)?;
    write(tmp.path())?;
    File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(&io_error)?;
    tmp.persist(path).map_err(|e| io_error(e.error))?;
    Ok(())
}

/// A new temporary sibling of `path`, `.<name>.<random>.partial.<ext>`: in the same
/// directory (so a rename moves it into place) and with the same extension (so a writer
/// that picks the format by extension picks `path`'s). It is removed when dropped unless
/// persisted.
///
/// # Errors
///
/// `path`'s directory does not exist, or the file cannot be created there.
pub fn partial_file(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path)?;
    let name = file_name(path);
    let suffix = match path.extension() {
        Some(ext) => format!(".partial.{}", ext.to_string_lossy()),
        None => ".partial".to_owned(),
    };
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(&suffix)
        .tempfile_in(dir)
}

fn parent_dir(path: &Path) -> io::Result<&Path> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the directory `{}` does not exist", dir.display()),
        ))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into())
}

/// Writes `bytes` to `path` all-or-nothing (see [`write_atomically`]).
///
/// # Errors
///
/// As [`write_atomically`].
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically(path, |f| f.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_bytes_atomically(&path, b"old").unwrap();
        let err = write_atomically(&path, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        write_bytes_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
        // Through a path: the temporary file keeps the extension; an error leaves nothing.
        let png = dir.path().join("chart.png");
        write_atomically_at(
            &png,
            |tmp| {
                assert_eq!(tmp.extension().unwrap(), "png");
                std::fs::write(tmp, b"img")
            },
            |e| e,
        )
        .unwrap();
        assert_eq!(std::fs::read(&png).unwrap(), b"img");
        let failed: Result<(), String> =
            write_atomically_at(&png, |_| Err("no".to_owned()), |e| e.to_string());
        assert_eq!(failed, Err("no".to_owned()));
        assert_eq!(std::fs::read(&png).unwrap(), b"img");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let missing = dir.path().join("no/such/dir/out.json");
        let err = write_bytes_atomically(&missing, b"x").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
