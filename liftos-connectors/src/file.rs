//! Local files: CSV, Parquet and newline-delimited JSON.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use futures::StreamExt;

use crate::{Connector, ConnectorRequest, Error, RecordBatchStream, Result};

pub use liftos_core::format::FileFormat;

/// Reads a local CSV, Parquet or NDJSON file as record batches.
///
/// The schema is inferred (CSV: from every row, identifiers written as integers with a
/// leading zero and date-times kept as text, see `infer_csv`; NDJSON: from the first
/// `infer_rows` rows; Parquet: from the file) unless one is given with
/// [`with_schema`](FileConnector::with_schema). A Parquet timestamp keeps what the file
/// says of its zone: adjusted to UTC (`tz=UTC`) it is an instant and keeps a zone;
/// not adjusted (pandas' naive datetimes) it has none, which in Arrow means wall-clock
/// time, so a consumer such as liftos-transform's unify moves only the former to an
/// account's time zone. A schema given for a CSV file should not declare a timestamp
/// without a zone for cells written with an offset or `Z`: Arrow's CSV decoder would
/// store their UTC instants in it, which read as local times.
/// A malformed row is reported with its 1-based line number. The whole file is read:
/// the request's date range is not applied (filter downstream).
#[derive(Debug, Clone)]
pub struct FileConnector {
    path: PathBuf,
    format: FileFormat,
    schema: Option<SchemaRef>,
    batch_size: usize,
    infer_rows: usize,
}

impl FileConnector {
    /// A connector for `path`, its format taken from the extension.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let format = FileFormat::from_path(&path).ok_or_else(|| Error::Config {
            source_name: "file".into(),
            message: format!(
                "{}: unknown extension; use .csv, .parquet or .ndjson (or with_format)",
                path.display()
            ),
        })?;
        Ok(Self {
            path,
            format,
            schema: None,
            batch_size: 8192,
            infer_rows: 1000,
        })
    }
    liftos_core::setters! {
        /// Overrides the format.
        with_format(format: FileFormat);
        /// Uses an explicit schema instead of inference.
        with_schema(schema: SchemaRef) => Some(schema);
        /// Rows per batch (default 8192).
        with_batch_size(n: usize) => self.batch_size = n.max(1);
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The schema given with [`with_schema`](FileConnector::with_schema) (`None`: it is
    /// inferred).
    pub fn given_schema(&self) -> Option<&SchemaRef> {
        self.schema.as_ref()
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    fn file_err(&self, line: u64, message: impl Into<String>) -> Error {
        Error::File {
            path: self.path.display().to_string(),
            line,
            message: message.into(),
        }
    }

    fn infer(&self) -> Result<SchemaRef> {
        if let Some(s) = &self.schema {
            return Ok(s.clone());
        }
        let mut f = File::open(&self.path).map_err(|e| self.io(e))?;
        match self.format {
            FileFormat::Csv => self.infer_csv(&mut f),
            FileFormat::NdJson => {
                self.check_json_lines()?;
                let (schema, _) = arrow::json::reader::infer_json_schema(
                    BufReader::new(&mut f),
                    Some(self.infer_rows),
                )
                .map_err(|e| self.file_err(0, e.to_string()))?;
                Ok(Arc::new(schema))
            }
            FileFormat::Parquet => {
                let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                    .map_err(|e| self.file_err(0, e.to_string()))?;
                Ok(b.schema().clone())
            }
        }
    }

    /// A CSV file's schema: arrow-csv's inference over every row (a later row cannot
    /// contradict a type taken from the first ones), then two columns kept as text that
    /// arrow would type:
    /// - an integer column with a cell written with a leading zero (`0123`, an account
    ///   or campaign id) or too large for an i64: as numbers `001000000002` would lose its
    ///   zeros and `0123` would merge with `123`;
    /// - a date-time column (`2024-01-05 00:00:00`, `2024-01-05T03:00:00Z`): arrow would
    ///   convert offsets to UTC and drop them, and give a time written without an offset
    ///   (an export's local time) no zone either, so the two could no longer be told
    ///   apart. As text the consumer reads each as written (liftos-transform's unify
    ///   takes an offset's instant to the source's time zone, and keeps a local time's
    ///   own date). Dates (`2024-01-05`) stay dates.
    ///
    /// Both passes stream the file in batches: memory holds one batch, not the file.
    fn infer_csv(&self, f: &mut File) -> Result<SchemaRef> {
        use arrow::datatypes::{DataType, Field, Schema};
        let fmt = arrow::csv::reader::Format::default().with_header(true);
        let (schema, _) = fmt
            .infer_schema(&mut *f, None)
            .map_err(|e| self.file_err(0, e.to_string()))?;
        let mut text: Vec<bool> = schema
            .fields()
            .iter()
            .map(|field| matches!(field.data_type(), DataType::Timestamp(_, _)))
            .collect();
        let ints: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| schema.field(i).data_type() == &DataType::Int64)
            .collect();
        if !ints.is_empty() {
            f.rewind().map_err(|e| self.io(e))?;
            let as_text = Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|field| Field::new(field.name(), DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            );
            let reader = arrow::csv::ReaderBuilder::new(Arc::new(as_text))
                .with_header(true)
                .with_batch_size(self.batch_size)
                .with_projection(ints.clone())
                .build(&mut *f)?;
            let path = self.path.display().to_string();
            for batch in reader {
                let batch = batch.map_err(|e| csv_error(&path, e))?;
                for (k, &i) in ints.iter().enumerate() {
                    if text[i] {
                        continue;
                    }
                    let cells = batch.column(k).as_string::<i32>();
                    text[i] = cells.iter().flatten().any(integer_is_an_id);
                }
                if ints.iter().all(|&i| text[i]) {
                    break;
                }
            }
        }
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(&text)
            .map(|(field, &text)| match text {
                true => Field::new(field.name(), DataType::Utf8, true),
                false => field.as_ref().clone(),
            })
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Finds the first line that is not a JSON object, with its number.
    fn check_json_lines(&self) -> Result<()> {
        let f = File::open(&self.path).map_err(|e| self.io(e))?;
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| self.io(e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(_) => return Err(self.file_err(i as u64 + 1, "not a JSON object")),
                Err(e) => return Err(self.file_err(i as u64 + 1, format!("malformed JSON: {e}"))),
            }
        }
        Ok(())
    }

    fn batches(&self) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
        let schema = self.infer()?;
        let mut f = File::open(&self.path).map_err(|e| self.io(e))?;
        f.rewind().map_err(|e| self.io(e))?;
        let path = self.path.display().to_string();
        match self.format {
            FileFormat::Csv => {
                let reader = arrow::csv::ReaderBuilder::new(schema)
                    .with_header(true)
                    .with_batch_size(self.batch_size)
                    .build(f)?;
                Ok(Box::new(
                    reader.map(move |b| b.map_err(|e| csv_error(&path, e))),
                ))
            }
            FileFormat::NdJson => {
                self.check_json_lines()?;
                let reader = arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(self.batch_size)
                    .build(BufReader::new(f))?;
                let mut start_line = 1u64;
                let bs = self.batch_size as u64;
                Ok(Box::new(reader.map(move |b| {
                    let r = b.map_err(|e| Error::File {
                        path: path.clone(),
                        line: start_line,
                        message: format!("in the batch starting at this line: {e}"),
                    });
                    start_line += bs;
                    r
                })))
            }
            FileFormat::Parquet => {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                        .map_err(|e| self.file_err(0, e.to_string()))?
                        .with_batch_size(self.batch_size)
                        .build()
                        .map_err(|e| self.file_err(0, e.to_string()))?;
                Ok(Box::new(reader.map(move |b| {
                    b.map_err(|e| Error::File {
                        path: path.clone(),
                        line: 0,
                        message: e.to_string(),
                    })
                })))
            }
        }
    }
}

/// Whether an integer cell is an identifier rather than a number: written with a leading
/// zero (`0123`, `-007`; `0` itself is a number) or too large for an i64.
fn integer_is_an_id(cell: &str) -> bool {
    let body = cell.strip_prefix('-').unwrap_or(cell);
    let zero = body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit());
    zero || (!body.is_empty() && cell.parse::<i64>().is_err())
}

/// Arrow's CSV errors name the data row (`... at line N`, counted without the header);
/// report the file line (header included).
fn csv_error(path: &str, e: arrow::error::ArrowError) -> Error {
    let text = e.to_string();
    let line = text
        .rsplit_once("line ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(0, |n| n + 1);
    Error::File {
        path: path.to_owned(),
        line,
        message: text,
    }
}

#[async_trait::async_trait]
impl Connector for FileConnector {
    fn name(&self) -> &str {
        "file"
    }
    fn schema(&self, _request: &ConnectorRequest) -> Result<SchemaRef> {
        self.infer()
    }
    async fn check(&self) -> Result<()> {
        self.infer().map(|_| ())
    }
    fn read(&self, _request: &ConnectorRequest) -> Result<RecordBatchStream> {
        let this = self.clone();
        // Lazy: the file is opened at the first poll.
        let stream = futures::stream::once(async move { this.batches() });
        let stream = stream.flat_map(|r| match r {
            Ok(it) => futures::stream::iter(it).left_stream(),
            Err(e) => futures::stream::iter(vec![Err(e)]).right_stream(),
        });
        Ok(Box::pin(stream))
    }
    fn as_file(&self) -> Option<&FileConnector> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::Write;

    fn req() -> ConnectorRequest {
        ConnectorRequest::new("2024-01-01".parse().unwrap(), "2024-01-02".parse().unwrap()).unwrap()
    }

    /// The table of the file at `path`, or the error reading it.
    async fn pull(path: &std::path::Path) -> Result<RecordBatch> {
        FileConnector::new(path)?.get_campaign_data(&req()).await
    }

    #[tokio::test]
    async fn csv_is_inferred_and_a_bad_row_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let mut f = File::create(&p).unwrap();
        writeln!(f, "date,spend,clicks\n2024-01-01,1.5,3\n2024-01-02,2.5,4").unwrap();
        let t = pull(&p).await.unwrap();
        assert_eq!(t.num_rows(), 2);
        assert_eq!(
            t.schema().field_with_name("clicks").unwrap().data_type(),
            &arrow::datatypes::DataType::Int64
        );

        let mut f = File::create(&p).unwrap();
        writeln!(
            f,
            "date,spend,clicks\n2024-01-01,1.5,3\n2024-01-02,2.5,4\n2024-01-03,3.5,x"
        )
        .unwrap();
        let c = FileConnector::new(&p).unwrap().with_schema(t.schema());
        let err = c.get_campaign_data(&req()).await.unwrap_err();
        match &err {
            Error::File { line, .. } => assert_eq!(*line, 4, "{err}"),
            other => panic!("{other}"),
        }
    }

    /// Ids written with leading zeros stay text (also when the first such id comes after
    /// the rows arrow samples by default), a later decimal makes its column a number
    /// instead of an error, and date-times stay text so that their offsets (or their
    /// absence) reach the consumer; dates stay dates.
    #[tokio::test]
    async fn csv_keeps_ids_with_leading_zeros_and_date_times_as_written() {
        use arrow::datatypes::DataType;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let mut text = String::from("date,at,local,account_id,campaign_id,big_id,clicks,spend\n");
        for i in 0..1500 {
            let campaign = if i == 1400 {
                "0123".to_owned()
            } else {
                format!("{}", 500 + i)
            };
            let spend = if i == 1450 {
                "2.5".to_owned()
            } else {
                "3".to_owned()
            };
            text.push_str(&format!(
                "2024-01-05,2024-01-05T03:00:00Z,2024-01-05 00:00:00,001000000002,{campaign},\
                 {big},{i},{spend}\n",
                big = if i == 7 { "123456789012345678901" } else { "1" },
            ));
        }
        std::fs::write(&p, text).unwrap();
        let t = pull(&p).await.unwrap();
        let schema = t.schema();
        let kind = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
        assert_eq!(kind("date"), DataType::Date32);
        assert_eq!(kind("at"), DataType::Utf8);
        assert_eq!(kind("local"), DataType::Utf8);
        assert_eq!(kind("account_id"), DataType::Utf8);
        assert_eq!(kind("campaign_id"), DataType::Utf8);
        assert_eq!(kind("big_id"), DataType::Utf8);
        assert_eq!(kind("clicks"), DataType::Int64);
        assert_eq!(kind("spend"), DataType::Float64);
        let cell = |c: &str, row: usize| {
            t.column_by_name(c)
                .unwrap()
                .as_string::<i32>()
                .value(row)
                .to_owned()
        };
        assert_eq!(cell("account_id", 0), "001000000002");
        assert_eq!(cell("campaign_id", 1400), "0123");
        assert_eq!(cell("big_id", 7), "123456789012345678901");
        assert_eq!(cell("at", 0), "2024-01-05T03:00:00Z");
        assert_eq!(cell("local", 0), "2024-01-05 00:00:00");
        assert!(integer_is_an_id("-007") && !integer_is_an_id("0") && !integer_is_an_id("-12"));
    }

    #[tokio::test]
    async fn ndjson_and_parquet_round_trip_and_bad_json_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.ndjson");
        std::fs::write(&p, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n").unwrap();
        let t = pull(&p).await.unwrap();
        assert_eq!(t.num_rows(), 2);

        let pq = dir.path().join("x.parquet");
        let mut w =
            parquet::arrow::ArrowWriter::try_new(File::create(&pq).unwrap(), t.schema(), None)
                .unwrap();
        w.write(&t).unwrap();
        w.close().unwrap();
        let back: Vec<RecordBatch> = FileConnector::new(&pq)
            .unwrap()
            .read(&req())
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

        std::fs::write(&p, "{\"a\":1}\n{\"a\":2,\n").unwrap();
        let err = pull(&p).await.unwrap_err();
        assert!(matches!(err, Error::File { line: 2, .. }), "{err}");
    }

    /// A Parquet file as pandas or Spark write it (Parquet's logical types, no Arrow
    /// schema in the footer): a timestamp adjusted to UTC comes back with a zone (an
    /// instant), one not adjusted without (wall-clock time), values unchanged.
    #[tokio::test]
    async fn parquet_timestamps_keep_their_zone_or_its_absence() {
        use arrow::array::{ArrayRef, TimestampMicrosecondArray};
        use arrow::datatypes::{DataType, TimeUnit};
        use parquet::arrow::{ArrowWriter, arrow_writer::ArrowWriterOptions};
        let dir = tempfile::tempdir().unwrap();
        let pq = dir.path().join("t.parquet");
        let micros = vec![1_704_414_600_000_000_i64, 1_704_583_800_000_000];
        let local = TimestampMicrosecondArray::from(micros.clone());
        let utc = TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC");
        let t = RecordBatch::try_from_iter([
            ("local", Arc::new(local) as ArrayRef),
            ("utc", Arc::new(utc) as ArrayRef),
        ])
        .unwrap();
        let options = ArrowWriterOptions::new().with_skip_arrow_metadata(true);
        let mut w =
            ArrowWriter::try_new_with_options(File::create(&pq).unwrap(), t.schema(), options)
                .unwrap();
        w.write(&t).unwrap();
        w.close().unwrap();
        let back = pull(&pq).await.unwrap();
        let schema = back.schema();
        assert_eq!(
            schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(
            matches!(
                schema.field(1).data_type(),
                DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "+00:00" || tz.as_ref() == "UTC"
            ),
            "{schema:?}"
        );
        for c in 0..2 {
            let values = back
                .column(c)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .values()
                .to_vec();
            assert_eq!(values, micros);
        }
    }
}
