//! Unifying the three connector shapes.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use liftos_transform::{
    ColumnSpec, Error, SchemaMapping, SourceMapping, read_table, unified, unify_marketing_data,
};

use crate::{assert_table, day};

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
fn f(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}
fn i(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}
fn d(v: &[&str]) -> ArrayRef {
    Arc::new(Date32Array::from_iter_values(v.iter().map(|x| day(x))))
}

/// Meta Ads, adset level with a publisher_platform breakdown.
pub fn meta() -> RecordBatch {
    RecordBatch::try_from_iter([
        ("date_start", d(&["2024-03-01", "2024-03-02"])),
        ("account_id", s(&["act_1", "act_1"])),
        ("account_currency", s(&["EUR", "EUR"])),
        ("campaign_id", s(&["m1", "m1"])),
        ("campaign_name", s(&["Spring", "Spring"])),
        ("adset_id", s(&["as1", "as1"])),
        ("adset_name", s(&["Lookalike", "Lookalike"])),
        ("spend", f(&[10.5, 11.25])),
        ("impressions", i(&[1000, 1100])),
        ("clicks", i(&[50, 55])),
        ("conversions", f(&[2.0, 3.0])),
        ("conversion_values", f(&[80.0, 120.0])),
        ("publisher_platform", s(&["facebook", "instagram"])),
    ])
    .unwrap()
}

/// Google Ads, campaign level with the device segment.
pub fn google() -> RecordBatch {
    RecordBatch::try_from_iter([
        ("segments.date", d(&["2024-03-01", "2024-03-02"])),
        ("customer.id", s(&["1234567890", "1234567890"])),
        ("customer.currency_code", s(&["USD", "USD"])),
        ("campaign.id", s(&["111", "111"])),
        ("campaign.name", s(&["Brand", "Brand"])),
        ("metrics.cost_micros", i(&[1_061_083_620, 250_000])),
        ("metrics.impressions", i(&[5120, 300])),
        ("metrics.clicks", i(&[204, 3])),
        ("metrics.conversions", f(&[12.5, 0.0])),
        ("metrics.conversions_value", f(&[1834.2, 0.0])),
        ("segments.device", s(&["MOBILE", "DESKTOP"])),
    ])
    .unwrap()
}

/// Klaviyo campaigns, sent_at as UTC timestamps.
pub fn klaviyo() -> RecordBatch {
    let sent = TimestampMicrosecondArray::from(vec![
        1_709_335_800_000_000, // 2024-03-01T23:30:00Z = 18:30 in New York
        1_709_348_400_000_000, // 2024-03-02T03:00:00Z = 22:00 on March 1 in New York
    ])
    .with_timezone("UTC");
    RecordBatch::try_from_iter([
        ("sent_at", Arc::new(sent) as ArrayRef),
        ("account_id", s(&["kl1", "kl1"])),
        ("campaign_id", s(&["k1", "k2"])),
        ("campaign_name", s(&["Newsletter", "Promo"])),
        ("currency", s(&["USD", "USD"])),
        ("recipients", i(&[5000, 3000])),
        ("clicks", i(&[100, 40])),
        ("placed_order_count", f(&[5.0, 2.0])),
        ("revenue", f(&[400.0, 150.0])),
        ("spend", f(&[5.0, 3.0])),
    ])
    .unwrap()
}

fn mapping() -> SchemaMapping {
    SchemaMapping::default().with_source(
        "klaviyo",
        SourceMapping::klaviyo().with_timezone("America/New_York"),
    )
}

#[test]
fn the_three_connector_shapes_unify_exactly() {
    let (m, g, k) = (meta(), google(), klaviyo());
    let out = unify_marketing_data(
        [("meta", &m), ("google_ads", &g), ("klaviyo", &k)],
        &mapping(),
    )
    .unwrap();
    assert_eq!(out.quarantine.num_rows(), 0);
    unified::check_schema(out.table.schema_ref()).unwrap();
    assert_table(
        &out.table,
        &[
            "+------------+------------+------------+-------------+------------+-----------+----------+------------+-------------+--------+-------------+---------+--------------------+---------+",
            "| date       | channel    | account_id | campaign_id | campaign   | ad_group  | currency | spend      | impressions | clicks | conversions | revenue | publisher_platform | device  |",
            "+------------+------------+------------+-------------+------------+-----------+----------+------------+-------------+--------+-------------+---------+--------------------+---------+",
            "| 2024-03-01 | meta       | act_1      | m1          | Spring     | Lookalike | EUR      | 10.5       | 1000        | 50     | 2.0         | 80.0    | facebook           |         |",
            "| 2024-03-02 | meta       | act_1      | m1          | Spring     | Lookalike | EUR      | 11.25      | 1100        | 55     | 3.0         | 120.0   | instagram          |         |",
            "| 2024-03-01 | google_ads | 1234567890 | 111         | Brand      |           | USD      | 1061.08362 | 5120        | 204    | 12.5        | 1834.2  |                    | MOBILE  |",
            "| 2024-03-02 | google_ads | 1234567890 | 111         | Brand      |           | USD      | 0.25       | 300         | 3      | 0.0         | 0.0     |                    | DESKTOP |",
            "| 2024-03-01 | klaviyo    | kl1        | k1          | Newsletter |           | USD      | 5.0        | 5000        | 100    | 5.0         | 400.0   |                    |         |",
            "| 2024-03-01 | klaviyo    | kl1        | k2          | Promo      |           | USD      | 3.0        | 3000        | 40     | 2.0         | 150.0   |                    |         |",
            "+------------+------------+------------+-------------+------------+-----------+----------+------------+-------------+--------+-------------+---------+--------------------+---------+",
        ],
    );
    // Exactly the unified types, with breakdowns as nullable Utf8.
    let schema = out.table.schema();
    for (field, expected) in schema.fields().iter().zip(unified::schema().fields()) {
        assert_eq!(field, expected);
    }
    assert!(schema.field_with_name("device").unwrap().is_nullable());
}

#[test]
fn micros_are_divided_exactly_once() {
    let g = google();
    let out = unify_marketing_data([("google_ads", &g)], &SchemaMapping::default()).unwrap();
    let spend = out.table.column_by_name("spend").unwrap();
    let spend = spend.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(spend.value(0), 1_061_083_620.0 / 1e6);
    assert_eq!(spend.value(1), 0.25);
}

#[test]
fn numbers_and_dates_given_as_text_are_parsed() {
    // Meta's API sends every number as a JSON string; files give text dates.
    let m = RecordBatch::try_from_iter([
        (
            "date_start",
            s(&["2024-03-01", "03/02/2024", "2024-03-03T10:00:00+01:00"]),
        ),
        ("account_id", s(&["act_1", "act_1", "act_1"])),
        ("account_currency", s(&["EUR", "EUR", "EUR"])),
        ("campaign_id", i(&[17, 17, 17])),
        ("campaign_name", s(&["Spring", "Spring", "Spring"])),
        ("spend", s(&["1,523.47", " 2 ", "3.5"])),
        ("impressions", s(&["98211", "100", "7.0"])),
        ("clicks", s(&["5", "6", "7"])),
        ("conversions", s(&["1", "0", "2.5"])),
        ("conversion_values", s(&["10", "0", "20"])),
    ])
    .unwrap();
    let out = unify_marketing_data([("meta", &m)], &SchemaMapping::default()).unwrap();
    assert_eq!(out.quarantine.num_rows(), 0);
    assert_table(
        &out.table,
        &[
            "+------------+---------+------------+-------------+----------+----------+----------+---------+-------------+--------+-------------+---------+",
            "| date       | channel | account_id | campaign_id | campaign | ad_group | currency | spend   | impressions | clicks | conversions | revenue |",
            "+------------+---------+------------+-------------+----------+----------+----------+---------+-------------+--------+-------------+---------+",
            "| 2024-03-01 | meta    | act_1      | 17          | Spring   |          | EUR      | 1523.47 | 98211       | 5      | 1.0         | 10.0    |",
            "| 2024-03-02 | meta    | act_1      | 17          | Spring   |          | EUR      | 2.0     | 100         | 6      | 0.0         | 0.0     |",
            "| 2024-03-03 | meta    | act_1      | 17          | Spring   |          | EUR      | 3.5     | 7           | 7      | 2.5         | 20.0    |",
            "+------------+---------+------------+-------------+----------+----------+----------+---------+-------------+--------+-------------+---------+",
        ],
    );
}

/// A text timestamp without an offset is the account's local time already: a source
/// with a `timezone` keeps its calendar date; only one with an offset or `Z` is moved.
#[test]
fn timestamps_without_an_offset_keep_their_date_in_the_sources_timezone() {
    let m = RecordBatch::try_from_iter([
        (
            "date_start",
            s(&[
                "2024-01-05 00:00:00",
                "2024-01-06T00:30",
                "2024-01-07 03:00:00Z",
                "2024-01-08T00:00:00+00:00",
            ]),
        ),
        ("account_id", s(&["act_1"; 4])),
        ("account_currency", s(&["USD"; 4])),
        ("campaign_id", s(&["c1"; 4])),
        ("campaign_name", s(&["Brand"; 4])),
        ("spend", s(&["1"; 4])),
        ("impressions", s(&["1"; 4])),
        ("clicks", s(&["1"; 4])),
        ("conversions", s(&["1"; 4])),
        ("conversion_values", s(&["1"; 4])),
    ])
    .unwrap();
    let mapping = SchemaMapping::default().with_source(
        "meta",
        SourceMapping::meta().with_timezone("America/New_York"),
    );
    let out = unify_marketing_data([("meta", &m)], &mapping).unwrap();
    assert_eq!(out.quarantine.num_rows(), 0);
    let dates: Vec<i32> = out
        .table
        .column(0)
        .as_primitive::<arrow::datatypes::Date32Type>()
        .values()
        .to_vec();
    assert_eq!(
        dates,
        [
            day("2024-01-05"),
            day("2024-01-06"),
            // 03:00 UTC and midnight UTC are the evening before in New York.
            day("2024-01-06"),
            day("2024-01-07"),
        ]
    );
}

/// A Meta export whose `date_start` column is `dates`, one campaign row per date.
fn meta_with_dates(dates: ArrayRef) -> RecordBatch {
    let n = dates.len();
    RecordBatch::try_from_iter([
        ("date_start", dates),
        ("account_id", s(&vec!["act_1"; n])),
        ("account_currency", s(&vec!["USD"; n])),
        ("campaign_id", s(&vec!["c1"; n])),
        ("campaign_name", s(&vec!["Brand"; n])),
        ("spend", f(&vec![1.0; n])),
        ("impressions", i(&vec![1; n])),
        ("clicks", i(&vec![1; n])),
        ("conversions", f(&vec![1.0; n])),
        ("conversion_values", f(&vec![1.0; n])),
    ])
    .unwrap()
}

/// A Meta export as a CSV file whose `date_start` cells are `dates`.
fn meta_csv(dir: &tempfile::TempDir, dates: &[&str]) -> std::path::PathBuf {
    let mut text = String::from(
        "date_start,account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,conversions,conversion_values\n",
    );
    for date in dates {
        text.push_str(&format!("{date},act_1,USD,c1,Brand,1.0,1,1,1.0,1.0\n"));
    }
    let path = dir.path().join("meta.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `table` as Parquet the way pandas or Spark would: the Parquet logical types
/// alone, without the Arrow schema that arrow-rs keeps in the footer.
fn write_plain_parquet(dir: &tempfile::TempDir, table: &RecordBatch) -> std::path::PathBuf {
    use parquet::arrow::{ArrowWriter, arrow_writer::ArrowWriterOptions};
    let path = dir.path().join("meta.parquet");
    let options = ArrowWriterOptions::new().with_skip_arrow_metadata(true);
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new_with_options(file, table.schema(), options).unwrap();
    writer.write(table).unwrap();
    writer.close().unwrap();
    path
}

/// The unified dates of a Meta table under a mapping with `timezone` (or none); every
/// row must unify.
fn meta_dates(table: &RecordBatch, timezone: Option<&str>) -> Vec<i32> {
    let mut source = SourceMapping::meta();
    if let Some(tz) = timezone {
        source = source.with_timezone(tz);
    }
    let mapping = SchemaMapping::default().with_source("meta", source);
    let out = unify_marketing_data([("meta", table)], &mapping).unwrap();
    assert_eq!(out.quarantine.num_rows(), 0);
    out.table
        .column(0)
        .as_primitive::<arrow::datatypes::Date32Type>()
        .values()
        .to_vec()
}

fn days(v: &[&str]) -> Vec<i32> {
    v.iter().map(|x| day(x)).collect()
}

/// Instants in a CSV file (`Z`, an offset) become their dates in the source's zone, and
/// without a zone their dates as written (in their own offset), as text cells do.
#[test]
fn a_csv_of_instants_gives_the_sources_timezone_dates() {
    let dir = tempfile::tempdir().unwrap();
    let path = meta_csv(
        &dir,
        &[
            "2024-01-05T03:00:00Z",
            "2024-01-06T22:00:00-05:00",
            "2024-01-07T23:30:00.250Z",
        ],
    );
    let table = read_table(&path).unwrap();
    assert_eq!(
        meta_dates(&table, Some("America/New_York")),
        // 03:00 UTC is the evening before in New York.
        days(&["2024-01-04", "2024-01-06", "2024-01-07"])
    );
    assert_eq!(
        meta_dates(&table, None),
        // 22:00 at -05:00 is 03:00 UTC on January 7, but its own day is January 6.
        days(&["2024-01-05", "2024-01-06", "2024-01-07"])
    );
}

/// Date-times without a zone in a CSV file are the account's local time: a source with a
/// `timezone` keeps their dates.
#[test]
fn a_csv_of_local_date_times_keeps_its_dates_in_the_sources_timezone() {
    let dir = tempfile::tempdir().unwrap();
    let path = meta_csv(
        &dir,
        &[
            "2024-01-05 00:00:00",
            "2024-01-06 00:30:00",
            "2024-01-07 23:59:59",
        ],
    );
    let table = read_table(&path).unwrap();
    let want = days(&["2024-01-05", "2024-01-06", "2024-01-07"]);
    for tz in [Some("America/New_York"), Some("Asia/Tokyo"), None] {
        assert_eq!(meta_dates(&table, tz), want, "{tz:?}");
    }
}

/// A CSV column mixing a local time, a date and an instant: each cell keeps its meaning.
#[test]
fn a_csv_column_mixing_local_times_and_instants_reads_each_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = meta_csv(
        &dir,
        &["2024-01-05 00:30:00", "2024-01-06", "2024-01-07T03:00:00Z"],
    );
    let table = read_table(&path).unwrap();
    assert_eq!(
        meta_dates(&table, Some("America/New_York")),
        days(&["2024-01-05", "2024-01-06", "2024-01-06"])
    );
}

/// A Parquet timestamp without a zone (pandas' naive datetimes, not adjusted to UTC) is
/// wall-clock time: its dates are kept whatever the source's zone.
#[test]
fn a_parquet_timestamp_without_a_zone_keeps_its_wall_clock_dates() {
    let dir = tempfile::tempdir().unwrap();
    let shown = TimestampMicrosecondArray::from(vec![
        1_704_414_600_000_000, // 2024-01-05 00:30:00
        1_704_583_800_000_000, // 2024-01-06 23:30:00
    ]);
    let path = write_plain_parquet(&dir, &meta_with_dates(Arc::new(shown)));
    let table = read_table(&path).unwrap();
    assert_eq!(
        table.schema().field(0).data_type(),
        &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)
    );
    let want = days(&["2024-01-05", "2024-01-06"]);
    for tz in [Some("America/New_York"), Some("Asia/Tokyo"), None] {
        assert_eq!(meta_dates(&table, tz), want, "{tz:?}");
    }
}

/// A Parquet timestamp adjusted to UTC (`tz=UTC`) holds instants: they become their dates
/// in the source's zone, else their UTC dates.
#[test]
fn a_parquet_utc_timestamp_becomes_the_sources_timezone_date() {
    let dir = tempfile::tempdir().unwrap();
    let instants = TimestampMicrosecondArray::from(vec![
        1_704_414_600_000_000, // 2024-01-05T00:30:00Z
        1_704_583_800_000_000, // 2024-01-06T23:30:00Z
    ])
    .with_timezone("UTC");
    let path = write_plain_parquet(&dir, &meta_with_dates(Arc::new(instants)));
    let table = read_table(&path).unwrap();
    assert!(matches!(
        table.schema().field(0).data_type(),
        arrow::datatypes::DataType::Timestamp(_, Some(_))
    ));
    assert_eq!(
        meta_dates(&table, Some("America/New_York")),
        days(&["2024-01-04", "2024-01-06"])
    );
    assert_eq!(
        meta_dates(&table, Some("Asia/Tokyo")),
        days(&["2024-01-05", "2024-01-07"])
    );
    assert_eq!(
        meta_dates(&table, None),
        days(&["2024-01-05", "2024-01-06"])
    );
}

#[test]
fn unparseable_values_are_quarantined_with_a_reason() {
    let m = RecordBatch::try_from_iter([
        ("date_start", s(&["2024-03-01", "not a date", "2024-03-03"])),
        ("account_id", s(&["a", "a", "a"])),
        ("account_currency", s(&["EUR", "EUR", ""])),
        ("campaign_id", s(&["1", "1", "1"])),
        ("campaign_name", s(&["x", "x", "x"])),
        ("spend", s(&["1", "1", "lots"])),
        ("impressions", i(&[1, 1, 1])),
        ("clicks", i(&[1, 1, 1])),
        ("conversions", f(&[0.0, 0.0, 0.0])),
        ("conversion_values", f(&[0.0, 0.0, 0.0])),
    ])
    .unwrap();
    let out = unify_marketing_data([("meta", &m)], &SchemaMapping::default()).unwrap();
    assert_eq!(out.table.num_rows(), 1);
    assert_eq!(out.rows_in(), 3);
    let reasons = out.quarantine.column_by_name("_reason").unwrap();
    let reasons = reasons.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(reasons.value(0), "date_start 'not a date' is not a date");
    assert_eq!(
        reasons.value(1),
        "missing currency (account_currency); spend 'lots' is not a number"
    );
    let stage = out.quarantine.column_by_name("_stage").unwrap();
    let stage = stage.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(stage.value(0), "unify:meta");
    let raw_date = out.quarantine.column_by_name("date").unwrap();
    let raw_date = raw_date.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(raw_date.value(0), "not a date");
}

#[test]
fn non_finite_numbers_and_two_digit_years_are_quarantined() {
    let m = RecordBatch::try_from_iter([
        (
            "date_start",
            s(&[
                "2024-03-01",
                "2024-03-02",
                "2024-03-03",
                "2024-03-04",
                "2024-03-05",
                "24-03-06",
                "5 Mar 24",
                "-2024-03-08",
            ]),
        ),
        ("account_id", s(&["a"; 8])),
        ("account_currency", s(&["EUR"; 8])),
        ("campaign_id", s(&["1"; 8])),
        ("campaign_name", s(&["x"; 8])),
        (
            "spend",
            s(&["1e400", "NaN", "inf", "-inf", "1.5", "1", "1", "1"]),
        ),
        ("impressions", i(&[1; 8])),
        ("clicks", i(&[1; 8])),
        // A typed column (Parquet, an inferred CSV) is checked as well.
        (
            "conversions",
            f(&[0.0, 0.0, 0.0, 0.0, f64::INFINITY, 0.0, 0.0, 0.0]),
        ),
        ("conversion_values", f(&[0.0; 8])),
    ])
    .unwrap();
    let out = unify_marketing_data([("meta", &m)], &SchemaMapping::default()).unwrap();
    assert_eq!((out.table.num_rows(), out.quarantine.num_rows()), (0, 8));
    let reasons = out.quarantine.column_by_name("_reason").unwrap();
    let reasons: Vec<&str> = reasons.as_string::<i32>().iter().flatten().collect();
    assert_eq!(
        reasons,
        [
            "spend '1e400' is not a finite number",
            "spend 'NaN' is not a finite number",
            "spend 'inf' is not a finite number",
            "spend '-inf' is not a finite number",
            "conversions 'inf' is not a finite number",
            "date_start '24-03-06' is not a date",
            "date_start '5 Mar 24' is not a date",
            "date_start '-2024-03-08' is not a date",
        ]
    );
}

#[test]
fn a_column_that_cannot_be_mapped_names_source_and_column() {
    let m = meta();
    let err = unify_marketing_data([("google_ads", &m)], &SchemaMapping::default()).unwrap_err();
    assert!(matches!(err, Error::UnmappedColumns { .. }));
    let msg = err.to_string();
    // Every missing column at once, with the mapping lines that would fill them.
    assert!(
        msg.starts_with(
            "source `google_ads`: cannot map unified columns `date`, `campaign_id`, `campaign`"
        ),
        "{msg}"
    );
    assert!(msg.contains("`segments.date` not found"), "{msg}");
    assert!(msg.contains("`metrics.cost_micros` not found"), "{msg}");
    assert!(
        msg.contains("[sources.google_ads.columns]\ndate = "),
        "{msg}"
    );
    assert!(msg.contains("\nspend = "), "{msg}");

    let err = unify_marketing_data([("snapchat", &m)], &SchemaMapping::default()).unwrap_err();
    assert!(
        err.to_string().contains("no mapping for this source"),
        "{err}"
    );

    let no_spend = SchemaMapping::empty().with_source(
        "x",
        SourceMapping::default().with_column("date", ColumnSpec::column("date_start")),
    );
    let err = unify_marketing_data([("x", &m)], &no_spend).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot map unified columns `campaign`, `currency`, `spend`"),
        "{err}"
    );
}

#[test]
fn user_mappings_override_and_extend_in_code_and_toml() {
    let csv_like = RecordBatch::try_from_iter([
        ("day", s(&["05/03/2024"])),
        ("name", s(&["Shop Spring"])),
        ("cost_cents", i(&[1234])),
        ("views", s(&["10"])),
        ("clicks", i(&[1])),
        ("orders", f(&[1.0])),
        ("sales", f(&[20.0])),
        ("device_type", s(&["mobile"])),
    ])
    .unwrap();
    let mapping = SchemaMapping::from_toml_str(
        r#"
        [sources.shop]
        channel = "shopify_ads"
        [sources.shop.columns]
        date = { column = "day", format = "%d/%m/%Y" }
        campaign = "name"
        currency = { value = "EUR" }
        spend = { column = "cost_cents", divide_by = 100 }
        impressions = "views"
        clicks = "clicks"
        conversions = "orders"
        revenue = "sales"
        [sources.shop.breakdowns]
        device = "device_type"
        "#,
    )
    .unwrap();
    let out = unify_marketing_data([("shop", &csv_like)], &mapping).unwrap();
    assert_table(
        &out.table,
        &[
            "+------------+-------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+--------+",
            "| date       | channel     | account_id | campaign_id | campaign    | ad_group | currency | spend | impressions | clicks | conversions | revenue | device |",
            "+------------+-------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+--------+",
            "| 2024-03-05 | shopify_ads |            |             | Shop Spring |          | EUR      | 12.34 | 10          | 1      | 1.0         | 20.0    | mobile |",
            "+------------+-------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+--------+",
        ],
    );
}
