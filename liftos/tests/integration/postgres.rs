//! PostgreSQL from the facade: `liftos pull --source postgres`, `liftos.toml` sources and
//! outputs, against a real server (`LIFTOS_TEST_POSTGRES_URL`, started by `.ci/run`;
//! without it the tests print why and pass, unless `LIFTOS_REQUIRE_POSTGRES=1`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use liftos::connectors::{Connector, ConnectorRequest, PostgresBuilder};
use liftos_testkit::postgres_url;

use crate::common::*;

/// `postgres://user:pw@host/db` as (`postgres://user@host/db`, `pw`).
pub fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_owned())
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes [`daily_table`] into the server at `url` as `prefix` + `name` (through a sink
/// with that table prefix) and returns it.
fn seed_table(url: &str, prefix: &str, name: &str) -> RecordBatch {
    let table = daily_table();
    let sink = PostgresBuilder::new()
        .with_url(url)
        .with_table_prefix(prefix)
        .build_sink()
        .unwrap();
    block_on(sink.write_table(name, &table)).unwrap();
    table
}

fn daily_table() -> RecordBatch {
    let days: Vec<i32> = (0..10).map(|i| 19_723 + i).collect(); // 2024-01-01..10
    let campaigns: Vec<String> = (0..10).map(|i| format!("c{}", i % 3)).collect();
    let spend: Vec<Option<f64>> = (0..10)
        .map(|i| (i != 9).then_some(f64::from(i) * 1.5))
        .collect();
    let clicks: Vec<Option<i64>> = (0..10).map(|i| Some(i * 10)).collect();
    RecordBatch::try_from_iter_with_nullable([
        ("date", Arc::new(Date32Array::from(days)) as ArrayRef, false),
        ("campaign", Arc::new(StringArray::from(campaigns)), false),
        ("spend", Arc::new(Float64Array::from(spend)), true),
        ("clicks", Arc::new(Int64Array::from(clicks)), true),
    ])
    .unwrap()
}

/// `liftos pull --source postgres` of 2024-01-03..=2024-01-07 into `out`, with `args`,
/// against the server at `url`.
fn postgres_pull(url: &str, args: &[&str], out: &Path) -> Command {
    let mut cmd = liftos();
    cmd.args(["pull", "--source", "postgres"])
        .args(["--start", "2024-01-03", "--end", "2024-01-07"])
        .args(args)
        .arg("--out")
        .arg(out)
        .env("LIFTOS_POSTGRES_URL", url);
    cmd
}

#[test]
fn pull_source_postgres_writes_the_query_rows_for_the_range() {
    let Some(url) = postgres_url() else { return };
    seed_table(&url, "cli_", "pull_src");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pg.csv");
    let (_, password) = split_password(&url);
    let query = "SELECT * FROM cli_pull_src WHERE date BETWEEN $1 AND $2 ORDER BY date";
    let output = postgres_pull(&url, &["--query", query, "--batch-rows", "2"], &out)
        .env("LIFTOS_LOG", "debug")
        .output()
        .unwrap();
    let stdout = assert_pulled(&output, "postgres", 5);
    let back = liftos::transform::read_table(&out).unwrap();
    assert_eq!(back.num_rows(), 5);
    assert_eq!(sum(&back, "spend"), 1.5 * f64::from(2 + 3 + 4 + 5 + 6));
    assert_eq!(sum(&back, "clicks"), 200.0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
    assert!(!std::fs::read_to_string(&out).unwrap().contains(&password));

    // A wrong password: one clear error, no password, no file.
    let (bare, _) = split_password(&url);
    let wrong_url = bare.replacen('@', ":Not-The-Pa55word@", 1);
    let out2 = dir.path().join("wrong.csv");
    let output = postgres_pull(
        &wrong_url,
        &["--query", "SELECT * FROM cli_pull_src"],
        &out2,
    )
    .output()
    .unwrap();
    let stderr = assert_failure_with(&output, &["password authentication failed"]);
    assert!(!stderr.contains("Not-The-Pa55word"), "{stderr}");
    assert!(!out2.exists());

    // Without --query: told what is missing.
    let output = postgres_pull(&url, &[], &out2).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs --query"));
}

const HEAD: &str = "[pipeline]\nstart = \"2024-01-01\"\nend = \"2024-01-10\"\n\n";

fn config_error(text: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = parse_config(text, dir.path());
    let lookup = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    match config.to_builder_with(&lookup) {
        Ok(_) => "no error".to_owned(),
        Err(e) => format!("{e} {e:?}"),
    }
}

#[test]
fn a_password_in_liftos_toml_is_refused_without_being_echoed() {
    let source = "[[sources]]\nname = \"pg\"\ntype = \"postgres\"\nquery = \"SELECT 1\"\n";
    let mapping = "\n[mapping.sources.pg]\nextends = \"unified\"\n";
    for (text, key) in [
        (
            format!(
                "{HEAD}{source}url = \"postgres://me:Hunter2-secret@db.example/app\"\n{mapping}"
            ),
            "sources[0].url",
        ),
        (
            format!(
                "{HEAD}{source}url = \"postgres://me@db.example/app\"\npassword = \"Hunter2-secret\"\n{mapping}"
            ),
            "sources[0].password",
        ),
        (
            format!(
                "{HEAD}{source}url = \"postgres://me@db.example/app\"\n{mapping}\n[outputs]\npostgres = \"postgres://me:Hunter2-secret@db.example/app\"\n"
            ),
            "output.postgres",
        ),
    ] {
        let e = config_error(&text, &[]);
        assert!(e.contains("never read from the config file"), "{e}");
        assert!(e.contains(key), "{key}: {e}");
        assert!(!e.contains("Hunter2"), "{e}");
    }
    // The password from the variable password_env names: accepted, and not shown.
    let text = format!(
        "{HEAD}{source}url = \"postgres://me@db.example/app\"\npassword_env = \"PG_PW\"\n{mapping}\n[outputs]\npostgres = \"postgres://me@db.example/app\"\npostgres_password_env = \"PG_PW\"\npostgres_schema = \"marts\"\n"
    );
    assert_eq!(
        config_error(&text, &[("PG_PW", "Hunter2-secret")]),
        "no error"
    );
    let e = config_error(&text, &[]);
    assert!(e.contains("PG_PW is not set"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let config = parse_config(&text, dir.path());
    let builder = config
        .to_builder_with(&|k| (k == "PG_PW").then(|| "Hunter2-secret".to_owned()))
        .unwrap();
    assert!(!format!("{builder:?}").contains("Hunter2"));
}

#[test]
fn a_liftos_toml_postgres_source_reads_with_the_password_from_a_variable() {
    let Some(url) = postgres_url() else { return };
    let table = seed_table(&url, "toml_", "src");
    let (bare, password) = split_password(&url);
    let text = format!(
        "{HEAD}[[sources]]\nname = \"pg\"\ntype = \"postgres\"\nurl = \"{bare}\"\npassword_env = \"TEST_PG_PASSWORD\"\nquery = \"SELECT * FROM toml_src WHERE date BETWEEN $1 AND $2 ORDER BY date\"\n\n[mapping.sources.pg]\nextends = \"unified\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = parse_config(&text, dir.path());
    let connector = config
        .connector(
            0,
            &|k| (k == "TEST_PG_PASSWORD").then(|| password.clone()),
            Default::default(),
        )
        .unwrap();
    assert_eq!(connector.name(), "pg");
    let request =
        ConnectorRequest::new("2024-01-01".parse().unwrap(), "2024-01-10".parse().unwrap())
            .unwrap();
    let back = block_on(connector.get_campaign_data(&request)).unwrap();
    assert_eq!(back, table);
    assert!(!format!("{connector:?}").contains(&password));
}
