//! SQL over registered tables and files.

use liftos_transform::{Fixes, SqlSession, clean_data, write_table};

use crate::{assert_table, clean_rows, unified_table};

#[test]
fn unified_quarantine_and_file_tables_can_be_queried_together() {
    let mut rows = clean_rows();
    rows[0].spend = -1.0;
    let cleaned = clean_data(&unified_table(&rows), &Fixes::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calendar = dir.path().join("calendar.parquet");
    write_table(
        &calendar,
        &unified_table(&clean_rows()).project(&[0]).unwrap(),
    )
    .unwrap();

    let s = SqlSession::new().unwrap();
    s.register_batch("unified", cleaned.table.clone()).unwrap();
    s.register_batch("quarantine", cleaned.quarantine.clone())
        .unwrap();
    s.register_file("calendar", &calendar).unwrap();
    assert_eq!(s.table_names(), ["calendar", "quarantine", "unified"]);
    let out = s
        .sql_table(
            "SELECT channel, count(*) AS days, sum(spend) AS spend, \
                    (SELECT count(*) FROM quarantine) AS quarantined, \
                    (SELECT count(DISTINCT date) FROM calendar) AS calendar_days \
             FROM unified GROUP BY channel ORDER BY channel",
        )
        .unwrap();
    assert_table(
        &out,
        &[
            "+------------+------+--------+-------------+---------------+",
            "| channel    | days | spend  | quarantined | calendar_days |",
            "+------------+------+--------+-------------+---------------+",
            "| google_ads | 14   | 707.0  | 1           | 14            |",
            "| meta       | 13   | 1313.0 | 1           | 14            |",
            "+------------+------+--------+-------------+---------------+",
        ],
    );
    let err = s
        .register_file("nope", dir.path().join("nope.parquet"))
        .unwrap_err();
    assert!(err.to_string().contains("nope.parquet"), "{err}");
}
