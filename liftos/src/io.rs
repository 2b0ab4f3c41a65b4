//! Writing output files all-or-nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::{Error, Result};

/// Names the output `path` in a transform error about a file (not a temporary one).
fn output_error(path: &Path, e: liftos_transform::Error) -> Error {
    match e {
        liftos_transform::Error::File { line, message, .. } => {
            Error::Transform(liftos_transform::Error::File {
                path: path.to_owned(),
                line,
                message,
            })
        }
        other => other.into(),
    }
}

/// Writes `batch` to `path` (CSV or Parquet by extension) so that either the whole file
/// appears or nothing does: the table goes to a uniquely named temporary sibling
/// ([`PartialFile`](liftos_transform::PartialFile)) that is renamed into place, and
/// removed on failure or interruption.
pub fn write_table_atomically(path: &Path, batch: &RecordBatch) -> Result<()> {
    liftos_transform::write_table(path, batch).map_err(|e| output_error(path, e))
}

/// Writes `bytes` to `path` all-or-nothing (temporary sibling, then rename).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = liftos_transform::PartialFile::create(path).map_err(|e| output_error(path, e))?;
    let mut file = partial.clone_handle().map_err(|e| output_error(path, e))?;
    file.write_all(bytes).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    drop(file);
    partial.commit().map_err(|e| output_error(path, e))
}

/// Writes `value` to `path` as pretty-printed JSON, all-or-nothing.
pub fn write_json_atomically(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.display().to_string(),
        source,
    })?;
    write_bytes_atomically(path, text.as_bytes())
}

/// The output files and directories of one command, written all-or-nothing together.
///
/// Each output is staged next to its target when it is named ([`file`](Self::file),
/// [`dir`](Self::dir)), so a missing directory or a target of the wrong kind fails before
/// any long work; the command writes into the staged paths; [`commit`](Self::commit)
/// checks that every staged file can take its place (a file where the target has a
/// directory, or the reverse, is refused before anything moves) and then renames them
/// into place. Dropped without a commit (an error, a panic) nothing is left behind and
/// no target is touched.
#[derive(Debug, Default)]
pub struct Outputs {
    files: Vec<liftos_transform::PartialFile>,
    dirs: Vec<(PathBuf, tempfile::TempDir)>,
    /// Directories [`dir`](Self::dir) created, parents first: removed again (when still
    /// empty) unless the outputs are committed.
    created: Vec<PathBuf>,
}

impl Drop for Outputs {
    fn drop(&mut self) {
        // The staged directories first (their drop removes them), then what was created
        // for them; `remove_dir` removes only an empty directory.
        self.dirs.clear();
        for d in self.created.drain(..).rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

impl Outputs {
    /// No outputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stages the output file `path` and returns the temporary path to write it to (same
    /// directory and extension).
    ///
    /// # Errors
    ///
    /// [`Error::Transform`] naming `path` when it is a directory or its directory does
    /// not exist.
    pub fn file(&mut self, path: &Path) -> Result<PathBuf> {
        let partial =
            liftos_transform::PartialFile::create(path).map_err(|e| output_error(path, e))?;
        let tmp = partial
            .temp_path()
            .map(Path::to_path_buf)
            .ok_or_else(|| Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::other("no temporary file"),
            })?;
        self.files.push(partial);
        Ok(tmp)
    }

    /// Stages the output directory `path` (created with its parents if missing; files
    /// already in it that the command does not write are kept) and returns an empty
    /// temporary directory to write its files into.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` when it is a file or cannot be created.
    pub fn dir(&mut self, path: &Path) -> Result<PathBuf> {
        let io = |source: std::io::Error| Error::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() && !path.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a file; name a directory to write the report into (nothing was written)",
            )));
        }
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        fs::create_dir_all(path).map_err(io)?;
        self.created.extend(missing);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        // Inside the target itself: the same file system, so the commit only renames.
        let staged = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-{}.", std::process::id()))
            .tempdir_in(path)
            .map_err(io)?;
        let at = staged.path().to_path_buf();
        self.dirs.push((path.to_path_buf(), staged));
        Ok(at)
    }

    /// Moves every staged output into place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the target when a staged file's place holds a directory (or
    /// a staged directory's place a file): then nothing has moved. A failing rename after
    /// the checks (the disk, a race with another process) is reported too.
    pub fn commit(mut self) -> Result<()> {
        let mut moves: Vec<(PathBuf, PathBuf)> = Vec::new();
        for (target, staged) in &self.dirs {
            staged_files(staged.path(), target, &mut moves)?;
        }
        for (_, to) in &moves {
            let mut ancestor = to.parent();
            // The staged directory's place and every directory above a file must be
            // directories (or not exist yet); the file's own place must not be one.
            if to.is_dir() {
                return Err(Error::Io {
                    path: to.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "is a directory where the command writes a file; move it away (nothing was written)",
                    ),
                });
            }
            while let Some(a) = ancestor {
                if a.exists() && !a.is_dir() {
                    return Err(Error::Io {
                        path: a.display().to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "is a file where the command writes a directory; move it away (nothing was written)",
                        ),
                    });
                }
                ancestor = a.parent();
            }
        }
        for file in &self.files {
            let t = file.target();
            if t.is_dir() {
                return Err(Error::Io {
                    path: t.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "is a directory; name a file to write (nothing was written)",
                    ),
                });
            }
        }
        for (from, to) in &moves {
            let io = |source: std::io::Error| Error::Io {
                path: to.display().to_string(),
                source,
            };
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io)?;
            }
            fs::rename(from, to).map_err(io)?;
        }
        self.created.clear();
        for file in std::mem::take(&mut self.files) {
            let target = file.target().to_path_buf();
            file.commit().map_err(|e| output_error(&target, e))?;
        }
        // The emptied staging directories are removed by their drop.
        Ok(())
    }
}

/// Every file under `staged` with its place under `target`, into `moves`.
fn staged_files(staged: &Path, target: &Path, moves: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
    let entries = fs::read_dir(staged).map_err(|source| Error::Io {
        path: staged.display().to_string(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: staged.display().to_string(),
            source,
        })?;
        let from = entry.path();
        let to = target.join(entry.file_name());
        if from.is_dir() {
            staged_files(&from, &to, moves)?;
        } else {
            moves.push((from, to));
        }
    }
    Ok(())
}

/// Removes, under `dir` (two levels deep), the temporary files this process's report
/// writers left when it was interrupted: names with `.partial-<pid>.` (the report
/// writers' pattern) or `.tmp-<pid>`. Files of other processes are left alone.
/// Returns how many were removed.
pub fn remove_own_partials(dir: &Path) -> usize {
    let pid = std::process::id();
    let patterns = [format!(".partial-{pid}."), format!(".tmp-{pid}")];
    let mut removed = 0;
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth < 2 {
                    dirs.push((path, depth + 1));
                }
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                if patterns.iter().any(|p| name.contains(p.as_str()))
                    && fs::remove_file(&path).is_ok()
                {
                    removed += 1;
                }
            }
        }
    }
    removed
}

/// What identifies a file on disk: its device and inode when it exists (so hard links
/// and symlinks to one file compare equal), else its canonical parent directory joined
/// with its name (an output that does not exist yet).
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(path: &Path) -> FileId {
    if let Ok(meta) = fs::metadata(path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return FileId::Inode(meta.dev(), meta.ino());
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            if let Ok(p) = fs::canonicalize(path) {
                return FileId::Path(p);
            }
        }
    }
    canonical_path(path)
}

/// Refuses a command line whose outputs overwrite one of its inputs or each other, or
/// lie inside a store kept by `liftos sync` (its files are its own).
///
/// `inputs` and `outputs` are `(option, path)` pairs such as `("--input", "a.csv")`.
/// Two paths are the same file when they name one file after canonicalisation (through
/// symlinks and `..`), or are hard links to it; an output that does not exist yet is
/// compared by its canonical directory and name. The error names both options and the
/// path, before anything is read or written.
///
/// # Errors
///
/// [`Error::Io`] (kind `InvalidInput`) naming the clashing options.
pub fn check_distinct_files(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<()> {
    let ins: Vec<(&str, &Path, FileId)> =
        inputs.iter().map(|(o, p)| (*o, *p, file_id(p))).collect();
    let outs: Vec<(&str, &Path, FileId)> =
        outputs.iter().map(|(o, p)| (*o, *p, file_id(p))).collect();
    let clash = |out: &str, path: &Path, other: &str, what: &str| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{out} is the same file as {other} ({what}); refusing to overwrite it, nothing was written"
            ),
        ),
    };
    for (i, (opt, path, id)) in outs.iter().enumerate() {
        if let Some(store) = liftos_transform::store::store_holding(path) {
            return Err(Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{opt} is inside the store {} kept by `liftos sync`, whose files are its own; write it elsewhere (nothing was written)",
                        store.display()
                    ),
                ),
            });
        }
        if let Some((iopt, ipath, _)) = ins.iter().find(|(_, _, iid)| iid == id) {
            return Err(clash(
                opt,
                path,
                &format!("{iopt} {}", ipath.display()),
                "an input",
            ));
        }
        if let Some((oopt, _, _)) = outs[..i].iter().find(|(_, _, oid)| oid == id) {
            return Err(clash(opt, path, oopt, "another output"));
        }
    }
    Ok(())
}

/// Refuses other outputs of a command (`--json`, `--xlsx`) that its report, written into
/// `dir` (`option`), would replace: one of the report's files
/// ([`liftos_report::REPORT_DIR_FILES`], [`crate::analysis::REPORT_DATA_FILES`]), or
/// anything below its charts directory.
///
/// # Errors
///
/// [`Error::Io`] (kind `InvalidInput`) naming the output, the report's file and the
/// directory.
#[cfg(all(feature = "report", feature = "calendar"))]
pub fn check_outside_report(option: &str, dir: &Path, outputs: &[(&str, &Path)]) -> Result<()> {
    let charts = canonical_path(&dir.join(liftos_report::REPORT_CHARTS_DIR));
    let owned: Vec<(&str, FileId)> = liftos_report::REPORT_DIR_FILES
        .iter()
        .chain(&crate::analysis::REPORT_DATA_FILES)
        .map(|name| (*name, file_id(&dir.join(name))))
        .collect();
    for (opt, path) in outputs {
        let id = file_id(path);
        let clash = owned
            .iter()
            .find(|(_, o)| *o == id)
            .map(|(name, _)| format!("the report's {name}"))
            .or_else(|| match (&canonical_path(path), &charts) {
                (FileId::Path(p), FileId::Path(c)) if p.starts_with(c) => Some(format!(
                    "inside the report's {}",
                    liftos_report::REPORT_CHARTS_DIR
                )),
                _ => None,
            });
        if let Some(what) = clash {
            return Err(Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{opt} is {what} ({option} {}); the report would replace it, choose another path (nothing was written)",
                        dir.display()
                    ),
                ),
            });
        }
    }
    Ok(())
}

/// Refuses an output directory (`option`, `dir`) that holds one of `files` (the inputs,
/// or other outputs), directly or in a subdirectory: the command writes files of its own
/// choosing there and below (`sources/`, `report/`, `charts/`) and could replace it.
///
/// # Errors
///
/// [`Error::Io`] (kind `InvalidInput`) naming the file and the directory.
pub fn check_dir_holds_no_input(option: &str, dir: &Path, files: &[(&str, &Path)]) -> Result<()> {
    let Ok(dir_id) = fs::canonicalize(dir) else {
        // A directory that does not exist yet holds nothing.
        return Ok(());
    };
    for (iopt, ipath) in files {
        let FileId::Path(p) = canonical_path(ipath) else {
            continue;
        };
        if p.parent() == Some(dir_id.as_path()) || p.starts_with(&dir_id) {
            let how = if p.parent() == Some(dir_id.as_path()) {
                "is the directory of"
            } else {
                "holds, in a subdirectory,"
            };
            return Err(Error::Io {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{option} {how} {iopt} {}; its files could be overwritten, choose another directory (nothing was written)",
                        ipath.display()
                    ),
                ),
            });
        }
    }
    Ok(())
}

fn canonical_path(path: &Path) -> FileId {
    if let Ok(p) = fs::canonicalize(path) {
        return FileId::Path(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    match path.file_name() {
        Some(name) => FileId::Path(parent.join(name)),
        None => FileId::Path(parent),
    }
}

/// Writes a table batch by batch (CSV or Parquet by extension), all-or-nothing: batches
/// stream into a [`PartialFile`](liftos_transform::PartialFile) that
/// [`finish`](TableWriter::finish) renames into place, and dropping the writer unfinished
/// leaves nothing at the target.
pub use liftos_transform::TableWriter;

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
            assert_eq!(w.rows(), 3);
            w.finish().unwrap();
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
            TableWriter::create(dir.path().join("t.txt"), batch(vec![]).schema()).unwrap_err();
        assert!(err.to_string().contains("t.txt"), "{err}");
    }

    #[test]
    fn a_missing_directory_names_the_output_not_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("t.csv");
        let err = write_table_atomically(&path, &batch(vec![1])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("nope/t.csv") && text.contains("does not exist"),
            "{text}"
        );
        assert!(!text.contains("partial"), "{text}");
        let err = write_bytes_atomically(&path, b"x").unwrap_err().to_string();
        assert!(
            err.contains("nope/t.csv") && !err.contains("partial"),
            "{err}"
        );
        let err = TableWriter::create(&path, batch(vec![]).schema())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nope/t.csv") && !err.contains("partial"),
            "{err}"
        );
    }

    /// Any output inside a store kept by `liftos sync` is refused, through a symlink and
    /// below a directory that does not exist yet (`liftos unify --store S --out
    /// S/data/<a committed file>` once overwrote a file of the store it had just read);
    /// a directory whose `manifest.json` is something else's is not a store.
    #[test]
    fn outputs_inside_a_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let mut s = liftos_transform::store::Store::create_or_open(&store).unwrap();
        s.commit().unwrap();
        drop(s);
        fs::create_dir_all(store.join("data")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&store, &link).unwrap();
        for out in [
            store
                .join("data")
                .join("google_ads-18f0a1b2c3d4e5f6-7.parquet"),
            store.join("manifest.json"),
            store.join("data").join("new").join("x.csv"),
            link.join("data").join("x.parquet"),
        ] {
            let err = check_distinct_files(&[], &[("--out", &out)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--out is inside the store"), "{err}");
        }
        check_distinct_files(&[], &[("--out", &dir.path().join("u.csv"))]).unwrap();
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("manifest.json"), "{\"format\": \"npm\"}").unwrap();
        check_distinct_files(&[], &[("--out", &other.join("u.csv"))]).unwrap();
    }

    #[test]
    fn outputs_that_are_inputs_or_each_other_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        fs::write(&input, "a\n1\n").unwrap();
        let link = dir.path().join("hard.csv");
        fs::hard_link(&input, &link).unwrap();
        let sym = dir.path().join("sym.csv");
        std::os::unix::fs::symlink(&input, &sym).unwrap();
        let dotted = dir.path().join("sub").join("..").join("in.csv");
        fs::create_dir(dir.path().join("sub")).unwrap();
        for same in [&input, &link, &sym, &dotted] {
            let err = check_distinct_files(&[("--input", &input)], &[("--out", same)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--out is the same file as --input"), "{err}");
        }
        // Two outputs that do not exist yet, spelled differently.
        let new = dir.path().join("new.csv");
        let new_dotted = dir.path().join("sub").join("..").join("new.csv");
        let err = check_distinct_files(
            &[("--input", &input)],
            &[("--out", &new), ("--quarantine", &new_dotted)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--quarantine is the same file as --out"),
            "{err}"
        );
        check_distinct_files(
            &[("--input", &input)],
            &[("--out", &new), ("--quarantine", &dir.path().join("q.csv"))],
        )
        .unwrap();
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_prefixed_and_numbers_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let b = RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(arrow::array::StringArray::from(vec![
                    "=1+1",
                    "+cmd|' /C calc'!A0",
                    "-5",
                    "@SUM(A1)",
                    "plain",
                    "-x",
                ])) as _,
            ),
            (
                "n",
                Arc::new(arrow::array::Float64Array::from(vec![
                    -1.5, 2.0, -3.0, 4.0, 5.0, 6.0,
                ])) as _,
            ),
        ])
        .unwrap();
        write_table_atomically(&path, &b).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "name,n\n'=1+1,-1.5\n'+cmd|' /C calc'!A0,2.0\n-5,-3.0\n'@SUM(A1),4.0\nplain,5.0\n'-x,6.0\n"
        );
    }
}
