//! LiftOS's hand-written transform pieces against DataFusion's own on the same work and
//! the same data (issue 19: a hand-written piece stays only where it beats DataFusion by
//! at least 1.5×).
//!
//! ```text
//! cargo build --release --bin liftos --bin transform_engines
//! benches/.venv/bin/python benches/transform_vs_peers.py --rows 3000000 --only none --keep D
//! target/release/transform_engines --dir D/3000000 [--repeat 3]
//! ```
//!
//! `D/3000000` holds `transform_vs_peers.py`'s raw exports (`meta.csv`, `google_ads.csv`,
//! `klaviyo.csv`). Each piece runs `--repeat` times, alternating engines; the median wall
//! time is printed with the ratio DataFusion / LiftOS (above 1: LiftOS is faster).
//! DataFusion runs on a multi-threaded Tokio runtime with its default configuration (as
//! many partitions as cores, CSV files split into byte ranges read in parallel); LiftOS
//! uses rayon's pool (as many threads as cores).
//!
//! Pieces:
//!
//! 1. CSV → text columns, one table per file, in file order (what `liftos unify` reads):
//!    `read_tables_with(text)` (the plain-CSV reader) against
//!    `SqlSession::read_file_as_text` (DataFusion's CSV scan with every column declared
//!    Utf8, one partition per file). 1b: the same against DataFusion's scan in parallel
//!    byte ranges, collected (its row order is not kept).
//! 2. CSV → typed columns, types inferred from every row: `read_tables` against
//!    DataFusion's schema inference over every row followed by its typed scan.
//! 3. Duplicate removal in input order on the unified table: `clean_data` with only
//!    `remove_duplicates` (which also quarantines unusable rows) against one DataFusion
//!    query doing the same (unusable rows filtered out, `row_number()` over the natural
//!    key with the latest row first, kept rows in input order).
//! 4. Quality counts on the unified table: `validate_data_quality` (default rules)
//!    against one DataFusion query computing the checks' main counts (missing values
//!    per column, negative metrics, clicks above impressions, duplicated natural keys,
//!    date gaps per campaign series). The DataFusion query does less than the report (no
//!    example rows, no outlier or spike checks, no mixed currencies).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use liftos_benches::{BoxError, arg, median};
use liftos_transform::{
    Fixes, QualityRules, ReadOptions, SchemaMapping, SqlSession, clean_data, read_tables,
    read_tables_with, unify_marketing_data, validate_data_quality,
};

const SOURCES: [(&str, &str); 3] = [
    ("meta", "meta.csv"),
    ("google_ads", "google_ads.csv"),
    ("klaviyo", "klaviyo.csv"),
];

/// The benchmark's Klaviyo account reports in New York time (as `transform_vs_peers.py`).
const MAPPING: &str = "[sources.klaviyo]\ntimezone = \"America/New_York\"\n";

/// Runs `liftos` and `datafusion` `repeat` times each, alternating, checks that they give
/// the same count, and prints the medians and their ratio.
fn compare(
    name: &str,
    repeat: usize,
    mut liftos: impl FnMut() -> Result<usize, BoxError>,
    mut datafusion: impl FnMut() -> Result<usize, BoxError>,
) -> Result<(), BoxError> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut na, mut nb) = (0, 0);
    for _ in 0..repeat {
        let t = Instant::now();
        na = liftos()?;
        a.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        nb = datafusion()?;
        b.push(t.elapsed().as_secs_f64());
    }
    let (ma, mb) = (median(&a), median(&b));
    println!(
        "| {name} | {ma:.3} | {mb:.3} | {:.2}x | {na} / {nb}{} |",
        mb / ma,
        if na == nb { "" } else { " (differ)" }
    );
    Ok(())
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let dir: PathBuf = arg(&args, "--dir", PathBuf::from("."))?;
    let repeat: usize = arg(&args, "--repeat", 3)?.max(1);
    let paths: Vec<PathBuf> = SOURCES.iter().map(|(_, f)| dir.join(f)).collect();
    for p in &paths {
        if !p.is_file() {
            return Err(format!("{}: no such file (see --dir)", p.display()).into());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{cores} cores, {} rayon threads; medians of {repeat} runs; ratio = DataFusion / LiftOS",
        rayon::current_num_threads()
    );
    println!("| piece | LiftOS s | DataFusion s | ratio | rows LiftOS / DataFusion |");
    println!("|---|---:|---:|---:|---|");

    // LiftOS's side of 1 and 1b: its reader, one table per file, in file order.
    let liftos_text = || -> Result<usize, BoxError> {
        Ok(read_tables_with(&paths, &ReadOptions::text())?
            .iter()
            .map(RecordBatch::num_rows)
            .sum())
    };
    // 1. CSV -> text columns, one table per file, in file order.
    compare(
        "CSV → text columns, one table per file, file order (3 files)",
        repeat,
        liftos_text,
        || {
            let session = SqlSession::new()?;
            let mut n = 0;
            for p in &paths {
                n += session.read_file_as_text(p)?.num_rows();
            }
            Ok(n)
        },
    )?;
    // 1b. The same, DataFusion in parallel byte ranges (row order not kept).
    compare(
        "CSV → text columns, DataFusion in parallel byte ranges, order not kept (3 files)",
        repeat,
        liftos_text,
        || {
            runtime.block_on(async {
                let ctx = SessionContext::new();
                let mut n = 0;
                for p in &paths {
                    let schema = text_schema(p)?;
                    let options = CsvReadOptions::new().has_header(true).schema(&schema);
                    n += rows(&ctx.read_csv(path_str(p)?, options).await?.collect().await?);
                }
                Ok(n)
            })
        },
    )?;

    // 2. CSV -> typed columns, inferred from every row.
    compare(
        "CSV → typed columns, types from every row (3 files)",
        repeat,
        || Ok(read_tables(&paths)?.iter().map(RecordBatch::num_rows).sum()),
        || {
            runtime.block_on(async {
                let ctx = SessionContext::new();
                let mut n = 0;
                for p in &paths {
                    let options = CsvReadOptions::new()
                        .has_header(true)
                        .schema_infer_max_records(usize::MAX);
                    n += rows(&ctx.read_csv(path_str(p)?, options).await?.collect().await?);
                }
                Ok(n)
            })
        },
    )?;

    // The unified table of the three exports (as `liftos unify` makes it).
    let tables = read_tables_with(&paths, &ReadOptions::text())?;
    let mapping = SchemaMapping::from_toml_str(MAPPING)?;
    let unified =
        unify_marketing_data(SOURCES.iter().map(|(n, _)| *n).zip(&tables), &mapping)?.table;
    drop(tables);
    let with_row = add_row_number(&unified)?;
    let ctx = SessionContext::new();
    let partitions = partition(&with_row, cores);
    ctx.register_table(
        "u",
        Arc::new(MemTable::try_new(with_row.schema(), partitions)?),
    )?;

    // 3. Duplicate removal in input order.
    let fixes = Fixes::none().with_remove_duplicates(true);
    compare(
        "remove duplicates, input order (unified table)",
        repeat,
        || Ok(clean_data(&unified, &fixes)?.table.num_rows()),
        || runtime.block_on(async { Ok(rows(&ctx.sql(DEDUP_QUERY).await?.collect().await?)) }),
    )?;

    // 4. Quality counts.
    let rules = QualityRules::default();
    compare(
        "quality checks (unified table; DataFusion: main counts only)",
        repeat,
        || Ok(validate_data_quality(&unified, &[], &rules)?.rows),
        || {
            runtime.block_on(async {
                let out = ctx.sql(QUALITY_QUERY).await?.collect().await?;
                let checked = out
                    .first()
                    .and_then(|b| b.column(0).as_primitive_opt::<Int64Type>())
                    .map_or(0, |c| c.value(0));
                Ok(usize::try_from(checked)?)
            })
        },
    )?;
    println!("unified table: {} rows", unified.num_rows());
    Ok(())
}

/// The header of the CSV at `path`, every column Utf8.
fn text_schema(path: &Path) -> Result<Schema, BoxError> {
    let mut header = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::open(path)?),
        &mut header,
    )?;
    Ok(Schema::new(
        header
            .trim_end()
            .split(',')
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

fn path_str(p: &Path) -> Result<&str, BoxError> {
    p.to_str().ok_or_else(|| "path is not UTF-8".into())
}

/// `table` with its row number as `_row` (UInt64), for DataFusion's input order.
fn add_row_number(table: &RecordBatch) -> Result<RecordBatch, BoxError> {
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    fields.push(Field::new("_row", DataType::UInt64, false));
    let mut columns: Vec<Arc<dyn Array>> = table.columns().to_vec();
    columns.push(Arc::new(UInt64Array::from_iter_values(
        0..table.num_rows() as u64,
    )));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `table` in `n` partitions of consecutive rows, 65,536-row batches each.
fn partition(table: &RecordBatch, n: usize) -> Vec<Vec<RecordBatch>> {
    let per = table.num_rows().div_ceil(n.max(1)).max(1);
    (0..table.num_rows())
        .step_by(per)
        .map(|from| {
            let len = per.min(table.num_rows() - from);
            (0..len)
                .step_by(65_536)
                .map(|o| table.slice(from + o, 65_536.min(len - o)))
                .collect()
        })
        .collect()
}

/// `remove_duplicates` as DataFusion SQL: usable rows, the latest of each natural key
/// (largest row number: the unified table has no `_pulled_at`), in input order.
const DEDUP_QUERY: &str = "
WITH usable AS (
  SELECT * FROM u
  WHERE date IS NOT NULL AND spend IS NOT NULL AND impressions IS NOT NULL
    AND clicks IS NOT NULL AND conversions IS NOT NULL AND revenue IS NOT NULL
    AND spend >= 0 AND revenue >= 0 AND conversions >= 0 AND impressions >= 0 AND clicks >= 0
    AND spend < CAST('inf' AS DOUBLE) AND revenue < CAST('inf' AS DOUBLE)
    AND conversions < CAST('inf' AS DOUBLE)
    AND channel IS NOT NULL AND campaign IS NOT NULL AND currency IS NOT NULL
    AND btrim(channel) <> '' AND btrim(campaign) <> '' AND btrim(currency) <> ''
), ranked AS (
  SELECT *, row_number() OVER (
    PARTITION BY date, channel, account_id, coalesce(campaign_id, campaign), ad_group
    ORDER BY _row DESC) AS pull
  FROM usable
)
SELECT * EXCLUDE (pull) FROM ranked WHERE pull = 1 ORDER BY _row";

/// The main counts of the default quality checks as one DataFusion query.
const QUALITY_QUERY: &str = "
WITH counts AS (
  SELECT count(*) AS rows,
         count(*) - count(date) AS missing_date, count(*) - count(campaign) AS missing_campaign,
         count(*) - count(spend) AS missing_spend, count(*) - count(revenue) AS missing_revenue,
         count(*) - count(impressions) AS missing_impressions,
         count(*) - count(clicks) AS missing_clicks,
         count(*) - count(conversions) AS missing_conversions,
         sum(CASE WHEN spend < 0 OR revenue < 0 OR impressions < 0 OR clicks < 0
                  OR conversions < 0 THEN 1 ELSE 0 END) AS negative,
         sum(CASE WHEN clicks > impressions THEN 1 ELSE 0 END) AS clicks_above_impressions
  FROM u
), dups AS (
  SELECT count(*) AS duplicated_keys FROM (
    SELECT 1 FROM u GROUP BY date, channel, account_id, coalesce(campaign_id, campaign), ad_group
    HAVING count(*) > 1)
), gaps AS (
  SELECT sum(CASE WHEN prev + INTERVAL '1 day' < date THEN 1 ELSE 0 END) AS gaps FROM (
    SELECT date, lag(date) OVER (PARTITION BY channel, account_id,
                                 coalesce(campaign_id, campaign), ad_group ORDER BY date) AS prev
    FROM u WHERE date IS NOT NULL)
)
SELECT * FROM counts, dups, gaps";
