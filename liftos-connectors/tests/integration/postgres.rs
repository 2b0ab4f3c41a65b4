//! PostgreSQL source and sink against a real server.
//!
//! The server's URL comes from `LIFTOS_TEST_POSTGRES_URL` (`.ci/postgres start` prints
//! it). Without it the tests print why and pass, unless `LIFTOS_REQUIRE_POSTGRES=1` (set
//! by `.ci/run`): then they fail.

use std::sync::Arc;

use crate::common::{assert_mentions, day_range, one_day};
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use futures::StreamExt;
use liftos_connectors::{
    Connector, ConnectorRequest, Error, PostgresBuilder, PostgresSink, redact_postgres_url,
};
use liftos_testkit::postgres_url;
use secrecy::SecretString;

/// A fresh schema named `name` (dropped first), through a plain client.
async fn fresh_schema(url: &str, name: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .await
        .unwrap();
}

async fn count(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

fn sink(url: &str, schema: &str) -> PostgresSink {
    PostgresBuilder::new()
        .with_url(url)
        .with_schema(schema)
        .build_sink()
        .unwrap()
}

fn request() -> ConnectorRequest {
    day_range("2024-01-01", "2024-01-31")
}

/// The unified table's columns (every type it uses, nulls in the nullable ones) and the
/// other types the source reads: bool, timestamp, timestamptz.
fn unified_table() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("campaign_id", DataType::Utf8, true),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("ad_group", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("impressions", DataType::Int64, false),
        Field::new("clicks", DataType::Int64, false),
        Field::new("conversions", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("device", DataType::Utf8, true),
        Field::new("_liftos_pulled_at", DataType::Int64, true),
        Field::new("is_test", DataType::Boolean, true),
        Field::new(
            "seen_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from(vec![19_723, 19_724, -1, 0])),
        Arc::new(StringArray::from(vec![
            "meta",
            "google_ads",
            "klaviyo",
            "ß ✓ \"q\"",
        ])),
        Arc::new(StringArray::from(vec![
            Some("act_1"),
            None,
            Some(""),
            Some("x"),
        ])),
        Arc::new(StringArray::from(vec![Some("c1"), Some("c2"), None, None])),
        Arc::new(StringArray::from(vec![
            "Spring",
            "Brand, \"exact\"",
            "Flow\nline",
            "",
        ])),
        Arc::new(StringArray::from(vec![
            None,
            Some("g1"),
            None,
            Some("g\t2"),
        ])),
        Arc::new(StringArray::from(vec!["USD", "EUR", "USD", "JPY"])),
        Arc::new(Float64Array::from(vec![10.5, 0.1 + 0.2, -0.0, 1e300])),
        Arc::new(Int64Array::from(vec![1000, 0, i64::MAX, i64::MIN])),
        Arc::new(Int64Array::from(vec![10, 0, 7, -3])),
        Arc::new(Float64Array::from(vec![1.25, 0.0, 3.0, f64::MIN_POSITIVE])),
        Arc::new(Float64Array::from(vec![40.0, 1.0 / 3.0, 9.75, 123456.789])),
        Arc::new(StringArray::from(vec![
            Some("mobile"),
            None,
            None,
            Some("desktop"),
        ])),
        Arc::new(Int64Array::from(vec![
            Some(1_717_000_000_000),
            None,
            Some(0),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1_704_067_200_123_456),
            None,
            Some(-1),
            Some(0),
        ])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![None, Some(1_704_067_200_000_001), Some(5), None])
                .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unified_table_round_trips_exactly_with_every_type_and_nulls() {
    let Some(url) = postgres_url() else { return };
    fresh_schema(&url, "rt_unified").await;
    let table = unified_table();
    let written = sink(&url, "rt_unified")
        .write_table("unified", &table)
        .await
        .unwrap();
    assert_eq!(written, 4);
    // Read back in one batch and in batches of one row: the same table, schema
    // (nullability from NOT NULL) included.
    for rows in [1000, 1] {
        let source = PostgresBuilder::new()
            .with_url(url.as_str())
            .with_query("SELECT * FROM rt_unified.unified ORDER BY impressions DESC, clicks")
            .with_batch_rows(rows)
            .build()
            .unwrap();
        let back = source.get_campaign_data(&request()).await.unwrap();
        let mut expected = vec![];
        for i in [2usize, 0, 1, 3] {
            expected.push(table.slice(i, 1));
        }
        let expected = arrow::compute::concat_batches(&table.schema(), &expected).unwrap();
        assert_eq!(back.schema(), table.schema());
        assert_eq!(back, expected, "batch_rows {rows}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_streams_in_bounded_batches_with_the_dates_bound() {
    let Some(url) = postgres_url() else { return };
    // 10 days x 5 rows; $1/$2 keep 2024-01-03..2024-01-08 (6 days, 30 rows).
    let query = "SELECT d::date AS date, n::int4 AS n, (n * 0.5)::numeric(10,2) AS half, \
                 n::float4 AS f, ('c' || n)::varchar AS campaign \
                 FROM generate_series('2024-01-01'::date, '2024-01-10'::date, '1 day') d, \
                 generate_series(1, 5) n WHERE d BETWEEN $1 AND $2 ORDER BY d, n";
    let source = PostgresBuilder::new()
        .with_url(url.as_str())
        .with_query(query)
        .with_batch_rows(7)
        .build()
        .unwrap();
    let request = day_range("2024-01-03", "2024-01-08");
    let schema = source.schema(&request).unwrap();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Date32,
            DataType::Int64,
            DataType::Float64,
            DataType::Float64,
            DataType::Utf8
        ]
    );
    let mut stream = source.read(&request).unwrap();
    let mut sizes = vec![];
    let mut all = vec![];
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        assert_eq!(b.schema(), schema);
        sizes.push(b.num_rows());
        all.push(b);
    }
    assert_eq!(sizes, [7, 7, 7, 7, 2], "at most batch_rows rows per batch");
    let t = arrow::compute::concat_batches(&schema, &all).unwrap();
    let dates = t.column(0).as_any().downcast_ref::<Date32Array>().unwrap();
    assert_eq!(dates.value(0), 19_725); // 2024-01-03
    assert_eq!(dates.value(29), 19_730); // 2024-01-08
    let half = t.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(half.value(2), 1.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_the_old_tables_whole() {
    let Some(url) = postgres_url() else { return };
    fresh_schema(&url, "rt_atomic").await;
    let sink = sink(&url, "rt_atomic");
    let old = unified_table();
    sink.write_table("unified", &old).await.unwrap();
    // The second table cannot be created (a column named twice): the first table's
    // replacement, done earlier in the same transaction, is rolled back too.
    let new = old.slice(0, 1);
    let bad = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("x", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Int64Array::from(vec![2])),
        ],
    )
    .unwrap();
    let err = sink
        .write_tables(&[("unified", &new), ("broken", &bad)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("broken"), "{err}");
    assert_eq!(
        count(&url, "SELECT count(*) FROM rt_atomic.unified").await,
        4
    );
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'rt_atomic'"
        )
        .await,
        1,
        "no staging table is left behind"
    );
    // A good write replaces it.
    sink.write_tables(&[("unified", &new)]).await.unwrap();
    assert_eq!(
        count(&url, "SELECT count(*) FROM rt_atomic.unified").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_one_clear_error_without_the_password() {
    let Some(url) = postgres_url() else { return };
    let wrong = "Wr0ng-pa55word-QX";
    let source = PostgresBuilder::new()
        .with_url(url.as_str())
        .with_password(SecretString::from(wrong.to_owned()))
        .with_query("SELECT 1::int8 AS one")
        .build()
        .unwrap();
    let err = source.check().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    // The server's own password, in the URL, is never shown either.
    let real = url
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(u, _)| u.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap();
    assert!(!text.contains(&real), "{text}");
    let shown = format!(
        "{source:?} {:?}",
        PostgresBuilder::new().with_url(url.as_str())
    );
    assert!(!shown.contains(&real) && !shown.contains(wrong), "{shown}");
    assert!(!redact_postgres_url(&url).contains(&real));
    // The stream gives the same error.
    let streamed = source.get_campaign_data(&request()).await.unwrap_err();
    assert!(!streamed.to_string().contains(wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_column_type_is_named() {
    let Some(url) = postgres_url() else { return };
    let source = PostgresBuilder::new()
        .with_url(url.as_str())
        .with_query("SELECT 1::int8 AS id, '{}'::jsonb AS payload")
        .build()
        .unwrap();
    let err = source.schema(&request()).unwrap_err().to_string();
    assert_mentions(&err, &["`payload`", "jsonb"]);
    assert!(err.contains("payload::text"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_is_lazy_and_a_dead_server_is_one_error() {
    // Nothing listens on port 1: building and read() succeed, the first poll fails.
    let source = PostgresBuilder::new()
        .with_url("postgres://me:Secret-77@127.0.0.1:1/app")
        .with_query("SELECT 1::int8 AS one")
        .build()
        .unwrap();
    let mut stream = source.read(&request()).unwrap();
    let err = stream.next().await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("127.0.0.1:1") || err.contains("connect"),
        "{err}"
    );
    assert!(!err.contains("Secret-77"), "{err}");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
}

/// The boolean `query` answers over a connection to `url` (the first row's first column).
async fn session_ssl(url: String, query: &str, request: &ConnectorRequest) -> bool {
    let source = PostgresBuilder::new()
        .with_url(url)
        .with_query(query)
        .build()
        .unwrap();
    let t = source.get_campaign_data(request).await.unwrap();
    let ssl = t
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap();
    ssl.value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_given_ca_and_an_unknown_ca_is_refused() {
    let Some(url) = postgres_url() else { return };
    // `.ci/postgres` starts the server with TLS, its certificate signed by a throwaway CA.
    let Ok(ca) = std::env::var("LIFTOS_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("LIFTOS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "LIFTOS_TEST_POSTGRES_CA is not set: start the server with `.ci/postgres start`"
        );
        eprintln!("skipped: LIFTOS_TEST_POSTGRES_CA is not set");
        return;
    };
    let query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let request = one_day();
    // With the CA (libpq's `sslrootcert`): a verified TLS connection, as the server sees it.
    assert!(
        session_ssl(
            format!("{url}?sslmode=require&sslrootcert={ca}"),
            query,
            &request
        )
        .await,
        "the session runs over TLS"
    );
    // `sslrootcert` alone asks for TLS, even on loopback.
    assert!(session_ssl(format!("{url}?sslrootcert={ca}"), query, &request).await);
    // Without it the platform's trust store does not know the CA: refused, no fallback
    // to plain TCP, and the password is not in the message.
    let source = PostgresBuilder::new()
        .with_url(format!("{url}?sslmode=require"))
        .with_query(query)
        .build()
        .unwrap();
    let err = source.check().await.unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("tls") || err.contains("certificate"),
        "{err}"
    );
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap();
    assert!(!err.contains(password), "{err}");
    // A CA file that is not PEM is one error naming it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let source = PostgresBuilder::new()
        .with_url(format!(
            "{url}?sslmode=require&sslrootcert={}",
            bad.display()
        ))
        .with_query(query)
        .build()
        .unwrap();
    let err = source.check().await.unwrap_err().to_string();
    assert_mentions(&err, &["sslrootcert", "ca.pem"]);
}
