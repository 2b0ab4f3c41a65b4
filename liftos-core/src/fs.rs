//! All-or-nothing file writes, and bounded reads of files read whole.
//!
//! A file is written to a temporary sibling in the same directory, flushed to disk, and
//! renamed over the target ([`tempfile`]'s `persist`): a reader sees the old file or the
//! new one, never half of one, and a failed write leaves the target as it was and no
//! temporary file behind.
//!
//! A file read whole into memory (a config, rules, a spec, a results JSON) is read with
//! [`read_limited`] or [`read_to_string_limited`]: at most [`MAX_WHOLE_FILE`] bytes, so a
//! path that names a device or a pipe that never ends (`/dev/zero`) is one error, not
//! unbounded memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// The most bytes LiftOS reads of a file it reads whole (a config, quality rules, a
/// calendar config, a mapping, a results JSON): 64 MiB, far above any such file.
pub const MAX_WHOLE_FILE: u64 = 64 << 20;

/// `limit` bytes, as the error says it: `64 MiB`, or `1000 bytes` below 1 MiB.
fn size_text(limit: u64) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    }
}

/// The bytes of `path`, read whole but never more than `limit` of them.
///
/// # Errors
///
/// The file cannot be opened or read; or it holds more than `limit` bytes (a device such
/// as `/dev/zero` included): [`io::ErrorKind::InvalidData`], saying the limit. The error
/// does not name the path: the caller adds it.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.toml");
/// std::fs::write(&path, "x = 1")?;
/// assert_eq!(liftos_core::fs::read_limited(&path, 100)?, b"x = 1");
/// let err = liftos_core::fs::read_limited(&path, 3).unwrap_err();
/// assert_eq!(err.to_string(), "more than 3 bytes, the most LiftOS reads of a file it reads whole");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "more than {}, the most LiftOS reads of a file it reads whole",
                size_text(limit)
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
///
/// # Errors
///
/// As [`read_limited`]; [`io::ErrorKind::InvalidData`] when the text is not UTF-8.
pub fn read_to_string_limited(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_limited(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

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
    let mut tmp = with_target_permissions(
        path,
        temp_builder(&format!(".{name}."), ".partial").tempfile_in(dir)?,
    )?;
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
    // A writer may have replaced the file at the path, and with it its mode.
    let tmp = with_target_permissions(path, tmp).map_err(&io_error)?;
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
    with_target_permissions(
        path,
        temp_builder(&format!(".{name}."), &suffix).tempfile_in(dir)?,
    )
}

/// A temporary file's builder: `prefix`, `suffix`, and on Unix the mode a new file gets
/// from `File::create` (0666 less the process's umask; a temporary file's own 0600
/// would make every output private to its owner, and replacing a shared file would
/// make it so).
fn temp_builder<'a, 'b>(prefix: &'a str, suffix: &'b str) -> tempfile::Builder<'a, 'b> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// The temporary file `tmp` for `target`, given `target`'s permissions when `target`
/// exists: replacing a file keeps its mode (a file shared with a group stays shared).
fn with_target_permissions(
    target: &Path,
    tmp: tempfile::NamedTempFile,
) -> io::Result<tempfile::NamedTempFile> {
    if let Ok(meta) = std::fs::metadata(target) {
        // By path: a writer may have put a new file there.
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    Ok(tmp)
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
    /// An endless input (`/dev/zero`) stops at the limit with one error saying it; a
    /// file of exactly the limit is read.
    #[test]
    fn a_whole_file_read_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exact.toml");
        std::fs::write(&path, [b'a'; 1024]).unwrap();
        assert_eq!(super::read_limited(&path, 1024).unwrap().len(), 1024);
        let err = super::read_limited(&path, 1023).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        #[cfg(unix)]
        {
            let err = super::read_to_string_limited(std::path::Path::new("/dev/zero"), 2 << 20)
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "more than 2 MiB, the most LiftOS reads of a file it reads whole"
            );
        }
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = super::read_to_string_limited(&path, 1024).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    use super::*;

    /// A new file gets the mode `File::create` gives (0666 less the umask), not a
    /// temporary file's 0600; a replaced file keeps its own.
    #[cfg(unix)]
    #[test]
    fn a_written_file_has_the_mode_of_a_created_one_or_of_the_file_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let plain = dir.path().join("plain.txt");
        File::create(&plain).unwrap();
        for (name, how) in [("a.json", 0), ("b.png", 1)] {
            let path = dir.path().join(name);
            let write = |bytes: &[u8]| match how {
                0 => write_atomically(&path, |f| f.write_all(bytes)).unwrap(),
                _ => write_atomically_at(
                    &path,
                    |tmp| {
                        // As a writer that removes and creates the file again.
                        std::fs::remove_file(tmp)?;
                        std::fs::write(tmp, bytes)
                    },
                    |e| e,
                )
                .unwrap(),
            };
            write(b"new");
            assert_eq!(mode(&path), mode(&plain), "{name}");
            for shared in [0o640, 0o664, 0o604] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(shared)).unwrap();
                write(b"again");
                assert_eq!(mode(&path), shared, "{name}");
                assert_eq!(std::fs::read(&path).unwrap(), b"again");
            }
        }
    }

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
