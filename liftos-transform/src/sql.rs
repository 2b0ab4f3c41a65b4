//! SQL over tables with Apache DataFusion (feature `sql`, on by default).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::io::{FileFormat, read_table, table_format};
use crate::{Error, Result};

fn sql_error(context: &str, e: impl fmt::Display) -> Error {
    Error::Sql {
        message: if context.is_empty() {
            e.to_string()
        } else {
            format!("{context}: {e}")
        },
    }
}

/// Reads a Parquet file's footer and metadata, so a corrupt file is one error naming it.
fn check_parquet_footer(path: &Path) -> Result<()> {
    let file_error = |message: String| Error::File {
        path: path.to_owned(),
        line: None,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map(|_| ())
        .map_err(|e| file_error(format!("not a readable Parquet file: {e}")))
}

/// A SQL session: register tables by name (record batches or CSV/Parquet files), then
/// query them.
///
/// The blocking methods ([`sql`](SqlSession::sql), [`register_file`](SqlSession::register_file))
/// run DataFusion on the session's own single-threaded Tokio runtime; inside async code
/// use [`sql_async`](SqlSession::sql_async) or [`context`](SqlSession::context) instead
/// (the blocking methods return an error when called from inside a runtime).
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Float64Array, RecordBatch, StringArray};
/// use liftos_transform::SqlSession;
///
/// let batch = RecordBatch::try_from_iter([
///     ("channel", Arc::new(StringArray::from(vec!["meta", "meta", "klaviyo"])) as _),
///     ("spend", Arc::new(Float64Array::from(vec![10.0, 5.0, 1.0])) as _),
/// ])?;
/// let session = SqlSession::new()?;
/// session.register_batch("unified", batch)?;
/// let out = session.sql_table("SELECT channel, sum(spend) AS spend FROM unified GROUP BY channel ORDER BY channel")?;
/// assert_eq!(out.num_rows(), 2);
/// # Ok::<(), liftos_transform::Error>(())
/// ```
pub struct SqlSession {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSession")
            .field("session_id", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl SqlSession {
    /// A session with no table.
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| sql_error("starting the query runtime", e))?;
        Ok(SqlSession {
            ctx: SessionContext::new(),
            runtime,
        })
    }

    /// The DataFusion context, for async use and everything DataFusion offers.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(sql_error(
                "",
                "blocking SQL call made inside an async runtime; use sql_async or context()",
            ));
        }
        Ok(self.runtime.block_on(f))
    }

    fn replace(&self, name: &str) -> Result<()> {
        self.ctx
            .deregister_table(name)
            .map_err(|e| sql_error(&format!("table `{name}`"), e))?;
        Ok(())
    }

    /// Registers `batch` as table `name` (replacing any table of that name).
    pub fn register_batch(&self, name: &str, batch: RecordBatch) -> Result<()> {
        self.register_batches(name, vec![batch])
    }

    /// Registers several batches of one schema as table `name`.
    pub fn register_batches(&self, name: &str, batches: Vec<RecordBatch>) -> Result<()> {
        let Some(first) = batches.first() else {
            return Err(sql_error(&format!("table `{name}`"), "no batch given"));
        };
        let table = MemTable::try_new(first.schema(), vec![batches])
            .map_err(|e| sql_error(&format!("table `{name}`"), e))?;
        self.replace(name)?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| sql_error(&format!("table `{name}`"), e))?;
        Ok(())
    }

    /// Registers a CSV or Parquet file (by extension) as table `name`. Parquet is read
    /// lazily by DataFusion; CSV is read with [`read_table`] (types inferred from every
    /// row, errors naming file and line).
    pub fn register_file(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        match table_format(path)? {
            FileFormat::Csv => self.register_batch(name, read_table(path)?),
            // `table_format` admits CSV and Parquet only: this is Parquet.
            _ => {
                let Some(p) = path.to_str() else {
                    return Err(Error::File {
                        path: path.to_owned(),
                        line: None,
                        message: "path is not valid UTF-8".to_owned(),
                    });
                };
                if !path.is_file() {
                    return Err(Error::File {
                        path: path.to_owned(),
                        line: None,
                        message: "no such file".to_owned(),
                    });
                }
                // The footer is checked with the parquet crate first: DataFusion's reader
                // panics on some corrupt footers (a metadata length past the file's end).
                check_parquet_footer(path)?;
                self.replace(name)?;
                self.block_on(
                    self.ctx
                        .register_parquet(name, p, ParquetReadOptions::default()),
                )?
                .map_err(|e| Error::File {
                    path: path.to_owned(),
                    line: None,
                    message: e.to_string(),
                })
            }
        }
    }

    /// Runs `query` and returns its batches.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        self.block_on(self.sql_async(query))?
    }

    /// Runs `query` and returns its result as one table (empty when there is no row).
    pub fn sql_table(&self, query: &str) -> Result<RecordBatch> {
        self.block_on(async {
            let df = self.ctx.sql(query).await.map_err(|e| sql_error("", e))?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(|e| sql_error("", e))?;
            Ok(concat_batches(&schema, &batches)?)
        })?
    }

    /// Runs `query` (async).
    pub async fn sql_async(&self, query: &str) -> Result<Vec<RecordBatch>> {
        let df = self.ctx.sql(query).await.map_err(|e| sql_error("", e))?;
        df.collect().await.map_err(|e| sql_error("", e))
    }

    /// The names of the registered tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    #[test]
    fn bad_sql_is_an_error_not_a_panic() {
        let s = SqlSession::new().unwrap();
        let b = RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0])) as _)])
            .unwrap();
        s.register_batch("t", b.clone()).unwrap();
        s.register_batch("t", b).unwrap();
        assert_eq!(s.table_names(), ["t"]);
        let err = s.sql("SELEC x FROM t").unwrap_err();
        assert!(err.to_string().starts_with("SQL:"), "{err}");
        let err = s.sql("SELECT y FROM t").unwrap_err();
        assert!(err.to_string().contains('y'), "{err}");
    }
}
