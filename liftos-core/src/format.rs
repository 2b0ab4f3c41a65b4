//! The table file formats, one type for every crate: the file connector reads all three,
//! the transform's reader and writer and the pipeline's outputs take CSV and Parquet.

use std::fmt;
use std::path::Path;

/// A table file format.
///
/// ```
/// use std::path::Path;
/// use liftos_core::format::FileFormat;
/// assert_eq!(FileFormat::from_path(Path::new("spend.PQ")), Some(FileFormat::Parquet));
/// assert_eq!(FileFormat::from_name(" CSV "), Some(FileFormat::Csv));
/// assert_eq!(FileFormat::NdJson.extension(), "ndjson");
/// assert_eq!(FileFormat::default(), FileFormat::Parquet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileFormat {
    /// Apache Parquet (`.parquet`, `.pq`): typed and compact, the default output.
    #[default]
    Parquet,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Newline-delimited JSON, one object per line (`.ndjson`, `.jsonl`, `.json`).
    NdJson,
}

impl FileFormat {
    /// The format a path's extension names (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        Self::from_extension(path.extension()?.to_str()?)
    }

    /// The format an extension names (`csv`, `parquet`/`pq`, `ndjson`/`jsonl`/`json`).
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            "ndjson" | "jsonl" | "json" => Some(Self::NdJson),
            _ => None,
        }
    }

    /// The format a setting names (`parquet`, `csv`, `ndjson`/`json`/`jsonl`), ignoring
    /// case and surrounding blanks.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "ndjson" | "jsonl" | "json" => Some(Self::NdJson),
            _ => None,
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::NdJson => "ndjson",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_names() {
        for (ext, f) in [
            ("csv", FileFormat::Csv),
            ("CSV", FileFormat::Csv),
            ("parquet", FileFormat::Parquet),
            ("pq", FileFormat::Parquet),
            ("ndjson", FileFormat::NdJson),
            ("jsonl", FileFormat::NdJson),
            ("json", FileFormat::NdJson),
        ] {
            assert_eq!(
                FileFormat::from_path(Path::new(&format!("a/b.{ext}"))),
                Some(f)
            );
        }
        assert_eq!(FileFormat::from_path(Path::new("a/b.xlsx")), None);
        assert_eq!(FileFormat::from_path(Path::new("a/b")), None);
        assert_eq!(FileFormat::from_name("Parquet"), Some(FileFormat::Parquet));
        assert_eq!(
            FileFormat::from_name("pq"),
            None,
            "a setting names the format"
        );
        assert_eq!(FileFormat::from_name("tsv"), None);
        for f in [FileFormat::Csv, FileFormat::Parquet, FileFormat::NdJson] {
            assert_eq!(FileFormat::from_name(&f.to_string()), Some(f));
        }
    }
}
