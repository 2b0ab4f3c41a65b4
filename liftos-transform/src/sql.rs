//! SQL over tables with Apache DataFusion (feature `sql`, on by default), locally or on an
//! Apache Ballista cluster (feature `distributed`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use liftos_core::column_list;

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

/// The columns of the CSV file at `path` that `schema` (DataFusion's inference) types as
/// timestamps without a zone although a cell is written with one (`…Z`, `…+02:00`):
/// DataFusion stores those cells' UTC instants, which a timestamp without a zone would
/// present as local times. One streaming pass over those columns' text, only when
/// there are such columns.
///
/// # Errors
///
/// [`Error::File`] naming the file when it cannot be read as CSV.
#[cfg(feature = "distributed")]
fn zoned_timestamp_columns(path: &Path, schema: &arrow::datatypes::Schema) -> Result<Vec<usize>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Schema};
    let candidates: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(_, None)))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let file_error = |message: String| Error::File {
        path: path.to_owned(),
        line: None,
        message,
    };
    let as_text = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    let reader = arrow::csv::ReaderBuilder::new(Arc::new(as_text))
        .with_header(true)
        .with_projection(candidates.clone())
        .build(file)
        .map_err(|e| file_error(e.to_string()))?;
    let mut zoned = vec![false; candidates.len()];
    for batch in reader {
        let batch = batch.map_err(|e| file_error(e.to_string()))?;
        for (k, z) in zoned.iter_mut().enumerate() {
            *z = *z
                || batch
                    .column(k)
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .any(|cell| crate::infer::is_zoned_timestamp(cell.as_bytes()));
        }
        if zoned.iter().all(|&z| z) {
            break;
        }
    }
    Ok(candidates
        .into_iter()
        .zip(zoned)
        .filter_map(|(i, z)| z.then_some(i))
        .collect())
}

/// `path` as DataFusion lists it: the absolute path as text, and its extension with the
/// dot (the file's own, whatever its case: DataFusion lists a path by extension).
///
/// # Errors
///
/// [`Error::File`] naming the path when it cannot be made absolute or is not UTF-8.
fn engine_path(path: &Path) -> Result<(String, String)> {
    let file_error = |message: String| Error::File {
        path: path.to_owned(),
        line: None,
        message,
    };
    let absolute = std::path::absolute(path).map_err(|e| file_error(e.to_string()))?;
    let Some(p) = absolute.to_str() else {
        return Err(file_error("path is not valid UTF-8".to_owned()));
    };
    let extension = absolute
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    Ok((p.to_owned(), extension))
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
/// run DataFusion on the session's own Tokio runtime (one worker thread per core); inside async code
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
    /// The cluster the queries run on (`None`: in this process).
    #[cfg(feature = "distributed")]
    cluster: Option<ClusterUrl>,
    /// How long a cluster query may run before it is stopped and its job cancelled.
    #[cfg(feature = "distributed")]
    time_limit: Option<std::time::Duration>,
    /// Stops the cluster queries from elsewhere (a signal handler).
    #[cfg(feature = "distributed")]
    stopper: crate::QueryStopper,
}

impl fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SqlSession");
        d.field("session_id", &self.ctx.session_id());
        #[cfg(feature = "distributed")]
        d.field("cluster", &self.cluster.as_ref().map(ToString::to_string));
        #[cfg(feature = "distributed")]
        d.field("time_limit", &self.time_limit);
        d.finish_non_exhaustive()
    }
}

impl SqlSession {
    /// A session with no table.
    pub fn new() -> Result<Self> {
        // Every core: DataFusion runs a plan's partitions as tasks of this runtime.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .build()
            .map_err(|e| sql_error("starting the query runtime", e))?;
        Ok(SqlSession {
            ctx: SessionContext::new(),
            runtime,
            #[cfg(feature = "distributed")]
            cluster: None,
            #[cfg(feature = "distributed")]
            time_limit: None,
            #[cfg(feature = "distributed")]
            stopper: crate::QueryStopper::new(),
        })
    }

    /// The cluster this session's queries run on (`None`: in this process).
    #[cfg(feature = "distributed")]
    pub fn cluster(&self) -> Option<&ClusterUrl> {
        self.cluster.as_ref()
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
        #[cfg(feature = "distributed")]
        if let Some(cluster) = &self.cluster {
            return Err(Error::Cluster {
                url: cluster.to_string(),
                message: format!(
                    "table `{name}`: in-memory tables cannot be sent to the executors; \
                     write the table to a CSV or Parquet file they can read and register that file"
                ),
            });
        }
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
    ///
    /// On a cluster ([`remote`](SqlSession::remote)) the file is registered by its absolute
    /// path, which the executors open: it must be readable at that path on every executor
    /// (one machine, or a shared mount) and on this machine, where the table's schema is
    /// read. A CSV file's column types are then inferred by DataFusion from every row (one
    /// streaming pass here at registration, so that a value late in the file, such as
    /// `n/a` in a date column, makes the column text instead of failing the job on an
    /// executor), except that a column of date-times written with a zone (`…Z`, `…+02:00`)
    /// is text, as [`read_table`] keeps it (DataFusion would make it a timestamp without
    /// a zone holding UTC instants, which Arrow defines as local time); Parquet files
    /// carry their schema.
    pub fn register_file(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        #[cfg(feature = "distributed")]
        if self.cluster.is_some() {
            return self.register_file_for_cluster(name, path);
        }
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

    /// Registers `path` as a listing table the executors read (see [`register_file`]).
    ///
    /// [`register_file`]: SqlSession::register_file
    #[cfg(feature = "distributed")]
    fn register_file_for_cluster(&self, name: &str, path: &Path) -> Result<()> {
        let format = table_format(path)?;
        let file_error = |message: String| Error::File {
            path: path.to_owned(),
            line: None,
            message,
        };
        if !path.is_file() {
            return Err(file_error("no such file".to_owned()));
        }
        let (p, extension) = engine_path(path)?;
        let p = p.as_str();
        self.replace(name)?;
        let registered = match format {
            FileFormat::Csv => {
                self.block_on(
                    self.ctx.register_csv(
                        name,
                        p,
                        CsvReadOptions::new()
                            .has_header(true)
                            .schema_infer_max_records(usize::MAX)
                            .file_extension(&extension),
                    ),
                )?
                .map_err(|e| file_error(e.to_string()))?;
                // DataFusion types a column of date-times written with a zone (`…Z`,
                // `…+02:00`) as a timestamp without one holding the UTC instants, which
                // by Arrow's definition is local time: such a column is text, as
                // `read_table` (the local session's reader) keeps it.
                let provider = self
                    .block_on(self.ctx.table_provider(name))?
                    .map_err(|e| file_error(e.to_string()))?;
                let schema = provider.schema();
                let zoned = zoned_timestamp_columns(path, &schema)?;
                if zoned.is_empty() {
                    return Ok(());
                }
                let fields: Vec<arrow::datatypes::Field> = schema
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match zoned.contains(&i) {
                        true => arrow::datatypes::Field::new(
                            f.name(),
                            arrow::datatypes::DataType::Utf8,
                            true,
                        ),
                        false => f.as_ref().clone(),
                    })
                    .collect();
                let schema = arrow::datatypes::Schema::new(fields);
                self.replace(name)?;
                self.block_on(
                    self.ctx.register_csv(
                        name,
                        p,
                        CsvReadOptions::new()
                            .has_header(true)
                            .schema(&schema)
                            .file_extension(&extension),
                    ),
                )?
            }
            _ => {
                check_parquet_footer(path)?;
                self.block_on(self.ctx.register_parquet(
                    name,
                    p,
                    ParquetReadOptions::default().file_extension(&extension),
                ))?
            }
        };
        registered.map_err(|e| file_error(e.to_string()))
    }

    /// Reads a CSV or Parquet file (by extension) whole through this session's engine:
    /// on a cluster ([`remote`](SqlSession::remote)) its executors open and decode the
    /// file (at its absolute path, as for [`register_file`](SqlSession::register_file))
    /// and the rows come back here; locally DataFusion reads it in this process.
    ///
    /// The table is the one [`read_table_with`](crate::read_table_with) gives with
    /// [`ReadOptions::text`](crate::ReadOptions::text): a CSV file's columns as text (empty
    /// cells null), a Parquet file's own columns and types (DataFusion's view types cast
    /// back), every row in file order: the file is scanned as one partition (one task),
    /// not in parallel byte ranges, whose partitions did not reliably come back in file
    /// order here (one of two reads of the 3M-row benchmark's exports through
    /// `collect_partitioned` gave another row order). This is what `liftos unify`,
    /// `validate` and `clean` run on a cluster: the rest of each step is LiftOS's own
    /// code, run here.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming a file that is missing, not CSV or Parquet, or unreadable;
    /// [`Error::Sql`] when the engine fails to read it.
    pub fn read_file_as_text(&self, path: impl AsRef<Path>) -> Result<RecordBatch> {
        self.read_file_as(path, None)
    }

    /// Like [`read_file_as_text`](SqlSession::read_file_as_text), with the columns of
    /// `schema` when one is given: a CSV file's cells decoded to its types by the
    /// engine's CSV reader (Arrow's, which LiftOS's file connector uses too), a Parquet
    /// file's columns cast to them. The schema's columns are the file's by position, as
    /// Arrow's CSV reader takes them (a CSV header's names are not compared).
    ///
    /// This is how a pipeline's file sources are read on a cluster: the executors decode
    /// the file with the types the connector inferred here, so the table is the one the
    /// connector reads itself.
    ///
    /// # Errors
    ///
    /// As [`read_file_as_text`](SqlSession::read_file_as_text); [`Error::File`] when
    /// `schema` has another number of columns than the file; [`Error::Sql`] naming the file
    /// when a cell is not of its column's type.
    pub fn read_file_as(
        &self,
        path: impl AsRef<Path>,
        schema: Option<SchemaRef>,
    ) -> Result<RecordBatch> {
        let path = path.as_ref();
        let file_error = |message: String| Error::File {
            path: path.to_owned(),
            line: None,
            message,
        };
        // The columns LiftOS reads (a CSV header's names as text, a Parquet footer's
        // schema), with the same errors for a broken file.
        let mut source = crate::stream::SourceFile::open("", path)?;
        if let Some(schema) = schema {
            // By position, as Arrow's CSV reader takes a schema (the header's names are
            // not compared).
            let (found, given) = (source.schema.fields().len(), schema.fields().len());
            if found != given {
                return Err(file_error(format!(
                    "the schema has {given} columns ({}) but the file has {found} ({})",
                    column_list(&schema),
                    column_list(&source.schema)
                )));
            }
            source.schema = schema;
        }
        let (p, extension) = engine_path(path)?;
        let p = p.as_str();
        const NAME: &str = "__liftos_read_file";
        self.replace(NAME)?;
        let read = self.block_on(async {
            match source.format {
                FileFormat::Csv => {
                    self.ctx
                        .register_csv(
                            NAME,
                            p,
                            CsvReadOptions::new()
                                .has_header(true)
                                .schema(&source.schema)
                                .file_extension(&extension),
                        )
                        .await
                }
                _ => {
                    self.ctx
                        .register_parquet(
                            NAME,
                            p,
                            ParquetReadOptions::default().file_extension(&extension),
                        )
                        .await
                }
            }
            .map_err(|e| file_error(e.to_string()))?;
            // One partition per file: its rows in file order.
            let state = self.ctx.state_ref();
            let before = std::mem::replace(
                &mut state
                    .write()
                    .config_mut()
                    .options_mut()
                    .optimizer
                    .repartition_file_scans,
                false,
            );
            let batches = async {
                let df = self
                    .ctx
                    .table(NAME)
                    .await
                    .map_err(|e| sql_error(&path.display().to_string(), e))?;
                self.collect(df, &path.display().to_string(), true).await
            }
            .await;
            state
                .write()
                .config_mut()
                .options_mut()
                .optimizer
                .repartition_file_scans = before;
            batches
        })?;
        self.replace(NAME)?;
        let batches = read?;
        let schema = source.schema.clone();
        let mut columns: Vec<Vec<arrow::array::ArrayRef>> = vec![Vec::new(); schema.fields().len()];
        for batch in &batches {
            if batch.num_columns() != columns.len() {
                return Err(file_error(format!(
                    "the engine read {} columns, the file has {}",
                    batch.num_columns(),
                    columns.len()
                )));
            }
            for ((out, array), field) in
                columns.iter_mut().zip(batch.columns()).zip(schema.fields())
            {
                out.push(arrow::compute::cast(array, field.data_type())?);
            }
        }
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let columns = columns
            .iter()
            .zip(schema.fields())
            .map(|(pieces, field)| {
                if pieces.is_empty() {
                    Ok(arrow::array::new_empty_array(field.data_type()))
                } else {
                    let refs: Vec<&dyn arrow::array::Array> =
                        pieces.iter().map(|a| a.as_ref()).collect();
                    arrow::compute::concat(&refs)
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }

    /// Runs `query` and returns its batches.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        self.block_on(self.sql_async(query))?
    }

    /// Runs `query` and returns its result as one table (empty when there is no row).
    pub fn sql_table(&self, query: &str) -> Result<RecordBatch> {
        self.block_on(async {
            let df = self.plan_query(query).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = self.collect(df, "", false).await?;
            Ok(concat_batches(&schema, &batches)?)
        })?
    }

    /// Runs `query` and hands its batches to `each`, in the result's order, as they come:
    /// locally the result is streamed, so memory holds a batch at a time however many
    /// rows the query returns (`liftos sql` counts them and keeps the first few, or writes
    /// them to `--out` batch by batch); on a cluster the result is collected first, as
    /// [`sql`](SqlSession::sql) does. Returns the result's schema.
    ///
    /// # Errors
    ///
    /// [`Error::Sql`] as [`sql`](SqlSession::sql); an error of `each` stops the query and
    /// is returned.
    pub fn sql_each(
        &self,
        query: &str,
        mut each: impl FnMut(&RecordBatch) -> Result<()>,
    ) -> Result<SchemaRef> {
        self.block_on(async {
            let df = self.plan_query(query).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            #[cfg(feature = "distributed")]
            if self.cluster.is_some() {
                for batch in self.collect(df, "", false).await? {
                    each(&batch)?;
                }
                return Ok(schema);
            }
            let mut stream = df.execute_stream().await.map_err(|e| sql_error("", e))?;
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                each(&batch.map_err(|e| sql_error("", e))?)?;
            }
            Ok(schema)
        })?
    }

    /// Runs `query` (async).
    ///
    /// On a cluster ([`remote`](SqlSession::remote)) the job runs as a task of the
    /// calling runtime (which needs Tokio's I/O and time drivers, as the Ballista client
    /// does); dropping this future stops the query and cancels its job on the scheduler,
    /// in that task (see [`wait_for_cluster_queries`](crate::wait_for_cluster_queries)).
    pub async fn sql_async(&self, query: &str) -> Result<Vec<RecordBatch>> {
        let df = self.plan_query(query).await?;
        self.collect(df, "", false).await
    }

    /// Plans `query`, which may only read: a statement that writes files or tables
    /// (`COPY … TO`, `INSERT`, `CREATE [EXTERNAL] TABLE`, `DROP`), or changes the session
    /// (`SET`, transactions), is refused before anything runs.
    ///
    /// # Errors
    ///
    /// [`Error::Sql`] when the query does not parse or plan, or is not a query.
    async fn plan_query(&self, query: &str) -> Result<datafusion::dataframe::DataFrame> {
        let plan = self
            .ctx
            .state()
            .create_logical_plan(query)
            .await
            .map_err(|e| sql_error("", e))?;
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| {
                sql_error(
                    "",
                    format!(
                        "only a query (SELECT, WITH, VALUES, EXPLAIN) can run here, nothing \
                         that writes files or tables or changes the session ({}); the caller \
                         writes the result (`liftos sql --out FILE`)",
                        e.strip_backtrace()
                    ),
                )
            })?;
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| sql_error("", e))
    }

    /// Runs `df` and returns its batches (of every partition, in order, when
    /// `partitioned`); errors of the engine start with `context`. On a cluster the query
    /// is stoppable: see [`with_time_limit`](SqlSession::with_time_limit).
    async fn collect(
        &self,
        df: datafusion::dataframe::DataFrame,
        context: &str,
        partitioned: bool,
    ) -> Result<Vec<RecordBatch>> {
        #[cfg(feature = "distributed")]
        if let Some(url) = &self.cluster {
            let task_ctx = Arc::new(df.task_ctx());
            let plan = df
                .create_physical_plan()
                .await
                .map_err(|e| sql_error(context, e))?;
            let run = {
                let plan = Arc::clone(&plan);
                async move {
                    if partitioned {
                        datafusion::physical_plan::collect_partitioned(plan, task_ctx)
                            .await
                            .map(|p| p.into_iter().flatten().collect())
                    } else {
                        datafusion::physical_plan::collect(plan, task_ctx).await
                    }
                }
            };
            return crate::cluster::run_stoppable(url, &plan, run, self.time_limit, &self.stopper)
                .await
                .map_err(|e| match e {
                    Error::Sql { message } => sql_error(context, message),
                    other => other,
                });
        }
        if partitioned {
            df.collect_partitioned()
                .await
                .map(|p| p.into_iter().flatten().collect())
        } else {
            df.collect().await
        }
        .map_err(|e| sql_error(context, e))
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

/// The address of an Apache Ballista scheduler: `df://HOST:PORT` (feature `distributed`).
///
/// The port defaults to 50050, the scheduler's default. Any other scheme, a user name, a
/// path, a query or a fragment is an error naming the URL.
///
/// ```
/// use liftos_transform::ClusterUrl;
///
/// let url: ClusterUrl = "df://10.0.0.5:50050".parse()?;
/// assert_eq!((url.host(), url.port()), ("10.0.0.5", 50050));
/// assert_eq!(url.to_string(), "df://10.0.0.5:50050");
/// assert!("http://10.0.0.5:50050".parse::<ClusterUrl>().is_err());
/// # Ok::<(), liftos_transform::Error>(())
/// ```
#[cfg(feature = "distributed")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterUrl {
    /// Host name or IP address (an IPv6 address without brackets).
    host: String,
    port: u16,
}

#[cfg(feature = "distributed")]
impl ClusterUrl {
    /// The scheduler's port when the URL names none.
    pub const DEFAULT_PORT: u16 = 50050;

    /// A URL from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ClusterUrl {
            host: host.into(),
            port,
        }
    }

    /// The scheduler's host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The scheduler's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

#[cfg(feature = "distributed")]
impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "df://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "df://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(feature = "distributed")]
impl std::str::FromStr for ClusterUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        // The URL as the error shows it: without a user name or password, should it hold
        // one (a secret must not reach an error message).
        let shown = match url::Url::parse(s.trim()) {
            Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            }
            _ => s.to_owned(),
        };
        let bad = |message: &str| Error::Cluster {
            url: shown.clone(),
            message: format!("{message}; expected df://HOST:PORT (a Ballista scheduler)"),
        };
        let url = url::Url::parse(s.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if url.scheme() != "df" {
            return Err(bad(&format!("the scheme is `{}`, not `df`", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("a user name or password is not supported"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a path, query or fragment is not supported"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(bad("no host")),
        };
        Ok(ClusterUrl {
            host,
            port: url.port().unwrap_or(Self::DEFAULT_PORT),
        })
    }
}

#[cfg(feature = "distributed")]
impl SqlSession {
    /// A session whose queries run on the Apache Ballista cluster at `url`: the scheduler
    /// plans each query into stages and the executors run them, reading registered files
    /// themselves (see [`register_file`](SqlSession::register_file)); the result comes
    /// back as it would locally.
    ///
    /// # Errors
    ///
    /// [`Error::Cluster`] naming `url` when the scheduler does not accept a connection
    /// within ten seconds.
    pub fn remote(url: &ClusterUrl) -> Result<Self> {
        use ballista::prelude::SessionContextExt;
        let cluster_error = |message: String| Error::Cluster {
            url: url.to_string(),
            message,
        };
        // The Ballista client talks gRPC: the runtime needs its I/O and timer drivers.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| sql_error("starting the query runtime", e))?;
        let ctx = runtime.block_on(async {
            let address = (url.host(), url.port());
            let connect = tokio::net::TcpStream::connect(address);
            match tokio::time::timeout(std::time::Duration::from_secs(10), connect).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(cluster_error(format!(
                        "cannot reach the scheduler ({e}); is `liftos cluster` running there?"
                    )));
                }
                Err(_) => {
                    return Err(cluster_error(
                        "the scheduler did not accept a connection within 10 s".to_owned(),
                    ));
                }
            }
            SessionContext::remote(&url.to_string())
                .await
                .map_err(|e| cluster_error(e.to_string()))
        })?;
        // The client asks for the job's status (pull) rather than waiting for the
        // scheduler to push it: the job id then comes with the scheduler's answer to the
        // submission, so a query stopped at any time can cancel its job.
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .set(ballista_core::config::BALLISTA_CLIENT_PULL, "true")
            .map_err(|e| cluster_error(e.to_string()))?;
        Ok(SqlSession {
            ctx,
            runtime,
            cluster: Some(url.clone()),
            time_limit: None,
            stopper: crate::QueryStopper::new(),
        })
    }

    /// Stops each cluster query that runs longer than `limit`: its job is cancelled on
    /// the scheduler and the query's error is [`Error::ClusterQueryStopped`], naming the
    /// limit and the job. No limit by default. Queries of a session in this process
    /// (not [`remote`](SqlSession::remote)) are not limited.
    pub fn with_time_limit(mut self, limit: std::time::Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// The time limit of this session's cluster queries, if any.
    pub fn time_limit(&self) -> Option<std::time::Duration> {
        self.time_limit
    }

    /// Stops this session's cluster queries when `stopper` stops (from any thread, such
    /// as a signal handler's): the running query's job is cancelled on the scheduler and
    /// its error is [`Error::ClusterQueryStopped`]; later queries fail at once, without
    /// submitting a job.
    pub fn with_stopper(mut self, stopper: crate::QueryStopper) -> Self {
        self.stopper = stopper;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    #[test]
    fn files_read_by_datafusion_are_the_tables_liftos_reads() {
        let dir = tempfile::tempdir().unwrap();
        // Over DataFusion's 10 MiB, from which it would split a scan into byte ranges.
        let mut big = String::from("date,campaign,spend,empty,name\n");
        for i in 0..260_000u32 {
            big.push_str(&format!(
                "2024-01-{:02},c{},{}.5,,name {i} with some words\n",
                1 + i % 28,
                i % 97,
                i % 1000
            ));
        }
        let mut quoted = String::from("a,b\n1,\"x, y\"\n2,\"two\nlines\"\n3,\n,4\n");
        quoted.push_str("5,plain\n");
        let session = SqlSession::new().unwrap();
        for (name, text) in [
            ("big.csv", big),
            ("quoted.csv", quoted),
            ("empty.csv", "a,b\n".to_owned()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let expected = crate::read_table_with(&path, &crate::ReadOptions::text()).unwrap();
            let read = session.read_file_as_text(&path).unwrap();
            assert_eq!(read, expected, "{name}");
        }
        assert!(session.table_names().is_empty(), "the file's table is gone");
        // Parquet: the file's own types (DataFusion reads text as Utf8View).
        let table = crate::read_table(dir.path().join("big.csv")).unwrap();
        let parquet = dir.path().join("big.parquet");
        crate::write_table(&parquet, &table).unwrap();
        let expected = crate::read_table_with(&parquet, &crate::ReadOptions::text()).unwrap();
        assert_eq!(session.read_file_as_text(&parquet).unwrap(), expected);
        let err = session
            .read_file_as_text(dir.path().join("nope.csv"))
            .unwrap_err();
        assert!(err.to_string().contains("nope.csv"), "{err}");
    }

    #[test]
    fn files_read_with_a_schema_are_the_tables_arrows_reader_gives() {
        use arrow::datatypes::{DataType, Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typed.csv");
        std::fs::write(
            &path,
            "date,campaign,spend,clicks\n2024-01-01,a,1.5,3\n2024-01-02,\"b, c\",,4\n2024-01-03,,2.25,\n",
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("campaign", DataType::Utf8, true),
            Field::new("spend", DataType::Float64, true),
            Field::new("clicks", DataType::Int64, true),
        ]));
        let expected = arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(true)
            .build(std::fs::File::open(&path).unwrap())
            .unwrap()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        let expected = concat_batches(&schema, &expected).unwrap();
        let session = SqlSession::new().unwrap();
        let read = session.read_file_as(&path, Some(schema.clone())).unwrap();
        assert_eq!(read, expected);
        assert_eq!(read.column(2).null_count(), 1);
        // Parquet: the file's columns cast to the schema's types.
        let parquet = dir.path().join("typed.parquet");
        crate::write_table(&parquet, &expected).unwrap();
        assert_eq!(
            session.read_file_as(&parquet, Some(schema)).unwrap(),
            expected
        );
        // Another number of columns is one error naming the file and both lists.
        let other = Arc::new(Schema::new(vec![Field::new("day", DataType::Date32, true)]));
        let err = session
            .read_file_as(&path, Some(other))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("typed.csv") && err.contains("day") && err.contains("date, campaign"),
            "{err}"
        );
        // A cell that is not of its column's type names the file.
        let bad = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("campaign", DataType::Int64, true),
            Field::new("spend", DataType::Float64, true),
            Field::new("clicks", DataType::Int64, true),
        ]));
        let err = session
            .read_file_as(&path, Some(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("typed.csv"), "{err}");
        assert!(session.table_names().is_empty(), "the file's table is gone");
    }

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

    #[test]
    fn only_queries_run_nothing_writes_files_tables_or_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input.csv");
        std::fs::write(&input, "x\n7\n").unwrap();
        let s = SqlSession::new().unwrap();
        let b = RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0])) as _)])
            .unwrap();
        s.register_batch("t", b).unwrap();
        let p = input.display();
        for (query, what) in [
            (
                format!("COPY (SELECT 1 AS x) TO '{p}' STORED AS CSV"),
                "COPY",
            ),
            (format!("COPY t TO '{p}' STORED AS CSV"), "COPY"),
            ("INSERT INTO t VALUES (2.0)".to_owned(), "DML"),
            ("CREATE TABLE u (y INT)".to_owned(), "DDL"),
            ("CREATE VIEW v AS SELECT * FROM t".to_owned(), "DDL"),
            ("DROP TABLE t".to_owned(), "DDL"),
            (
                format!("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{p}'"),
                "DDL",
            ),
            (
                "SET datafusion.execution.batch_size = 1".to_owned(),
                "Statement",
            ),
        ] {
            let err = s.sql(&query).unwrap_err().to_string();
            assert!(
                err.starts_with("SQL: only a query") && err.contains(what),
                "{query}: {err}"
            );
            let err = s.sql_table(&query).unwrap_err().to_string();
            assert!(err.contains("only a query"), "{query}: {err}");
        }
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "x\n7\n");
        assert_eq!(s.table_names(), ["t"]);
        assert_eq!(
            s.sql_table("SELECT count(*) AS n FROM t")
                .unwrap()
                .num_rows(),
            1
        );
        let n = s.sql_table("SELECT x FROM t").unwrap();
        assert_eq!(n.num_rows(), 1, "the INSERT did not run");
        // Queries still run, with subqueries and EXPLAIN.
        let out = s
            .sql_table("WITH w AS (SELECT x FROM t) SELECT * FROM w WHERE x IN (SELECT x FROM t)")
            .unwrap();
        assert_eq!(out.num_rows(), 1);
        assert!(s.sql("EXPLAIN SELECT x FROM t").is_ok());
    }
}

#[cfg(all(test, feature = "distributed"))]
pub(crate) mod cluster_tests {
    use super::*;

    #[test]
    fn cluster_urls_parse_and_bad_ones_say_why() {
        let u: ClusterUrl = "df://localhost:50051".parse().unwrap();
        assert_eq!((u.host(), u.port()), ("localhost", 50051));
        let u: ClusterUrl = "df://sched.example".parse().unwrap();
        assert_eq!(u.port(), ClusterUrl::DEFAULT_PORT);
        let u: ClusterUrl = "df://[::1]:7000/".parse().unwrap();
        assert_eq!(
            (u.host(), u.to_string().as_str()),
            ("::1", "df://[::1]:7000")
        );
        for (bad, why) in [
            ("http://localhost:50050", "scheme is `http`"),
            ("localhost:50050", "scheme is `localhost`"),
            ("df://", "no host"),
            ("df://host:50050/db", "path"),
            ("df://me@host:50050", "user name"),
            ("df://me:s3cret-pw@host:50050", "password"),
            ("df://host:99999", "not a URL"),
            ("", "not a URL"),
        ] {
            let err = bad.parse::<ClusterUrl>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(
                !err.contains("s3cret") && !err.contains("me@"),
                "{bad}: {err}"
            );
            assert!(err.contains("df://HOST:PORT"), "{bad}: {err}");
        }
    }

    /// A scheduler address on a loopback port that was free a moment ago: nothing
    /// listens there.
    pub(crate) fn unreachable_scheduler() -> ClusterUrl {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ClusterUrl::new("127.0.0.1", port)
    }

    #[test]
    fn an_unreachable_scheduler_is_one_error_naming_it() {
        let url = unreachable_scheduler();
        let port = url.port();
        let err = SqlSession::remote(&url).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cluster `df://127.0.0.1:{port}`")),
            "{err}"
        );
        assert!(err.contains("cannot reach the scheduler"), "{err}");
    }
}
