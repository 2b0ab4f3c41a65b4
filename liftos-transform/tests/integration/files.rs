//! Reading and writing files: round trips, and clear errors naming file and line.

use std::io::Write;

use liftos_transform::{
    Error, Fixes, QualityRules, SchemaMapping, clean_data, read_table, validate_data_quality,
    write_table,
};

use crate::{clean_rows, unified_table};

fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    path
}

#[test]
fn parquet_round_trips_exactly_and_csv_round_trips_through_clean() {
    let dir = tempfile::tempdir().unwrap();
    let t = unified_table(&clean_rows());
    let pq = dir.path().join("u.parquet");
    write_table(&pq, &t).unwrap();
    assert_eq!(read_table(&pq).unwrap(), t);

    let csv = dir.path().join("u.CSV");
    write_table(&csv, &t).unwrap();
    let back = read_table(&csv).unwrap();
    assert_eq!(back.num_rows(), 28);
    let a = clean_data(&t, &Fixes::none()).unwrap();
    let b = clean_data(&back, &Fixes::none()).unwrap();
    assert_eq!(a.table, b.table);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn a_ragged_csv_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "meta.csv", b"a,b\n1,2\n3,4\n5,6,7\n8,9\n");
    let err = read_table(&path).unwrap_err();
    match &err {
        Error::File { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, Some(4), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}, line 4: ", path.display())),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "bad.csv", b"a,b\n1,2\n3,\xff\xfe\n");
    let err = read_table(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad.csv"), "{msg}");
    assert!(matches!(err, Error::File { line: Some(3), .. }), "{msg}");
}

#[test]
fn other_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write_file(&dir, "x.parquet", b"this is not parquet");
    let err = read_table(&garbage).unwrap_err();
    assert!(err.to_string().contains("x.parquet"), "{err}");

    let err = read_table(dir.path().join("missing.csv")).unwrap_err();
    assert!(err.to_string().contains("missing.csv"), "{err}");

    let err = read_table(dir.path().join("table.xlsx")).unwrap_err();
    assert!(
        err.to_string().contains("expected a .csv or .parquet"),
        "{err}"
    );

    let empty = write_file(&dir, "empty.csv", b"");
    let err = read_table(&empty).unwrap_err();
    assert!(err.to_string().contains("empty.csv"), "{err}");

    let t = unified_table(&clean_rows());
    let err = write_table(dir.path().join("no/such/dir/out.csv"), &t).unwrap_err();
    assert!(err.to_string().contains("out.csv"), "{err}");

    let toml = write_file(
        &dir,
        "mapping.toml",
        b"[sources.meta.columns]\nspendd = \"x\"\n",
    );
    let err = SchemaMapping::from_toml_file(&toml).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("sources.meta.columns.spendd") && msg.contains("mapping.toml"),
        "{msg}"
    );
    let err = QualityRules::from_toml_file(dir.path().join("rules.toml")).unwrap_err();
    assert!(err.to_string().contains("rules.toml"), "{err}");
}

#[test]
fn a_bad_date_in_a_csv_reaches_the_quarantine_with_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n",
    );
    text.push_str("2024-03-01,meta,a,1,x,,USD,1.5,10,1,0,0\n");
    text.push_str("2024-02-30,meta,a,1,x,,USD,1.5,10,1,0,0\n");
    text.push_str("2024-03-02,meta,a,1,x,,USD,oops,10,1,0,0\n");
    let path = write_file(&dir, "u.csv", text.as_bytes());
    let t = read_table(&path).unwrap();
    let report = validate_data_quality(&t, &[], &QualityRules::default()).unwrap();
    assert_eq!(report.issue("data_type").unwrap().example_rows, [1]);
    let out = clean_data(&t, &Fixes::default()).unwrap();
    assert_eq!(out.table.num_rows(), 1);
    assert_eq!(out.quarantine.num_rows(), 2);
    assert!(out.accounting().balances());
}
