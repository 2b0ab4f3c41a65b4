//! Cleaning messy inputs, with the row-accounting invariant.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use liftos_transform::{
    ChangeAction, CurrencyConversion, Fixes, NameNormalization, RateTable, Transformer, clean_data,
};

use crate::assert_table;

/// (date, campaign_id, campaign, currency, spend, conversions, pulled_at)
type Raw = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

/// The text column `name` of `batch`.
fn text<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_string::<i32>()
}

/// The Float64 column `name` of `batch`.
fn numbers<'a>(batch: &'a RecordBatch, name: &str) -> &'a Float64Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<arrow::datatypes::Float64Type>()
}

/// A unified table as it comes from a CSV: dates and spend as text, plus `_pulled_at`.
pub fn messy_table(rows: &[Raw]) -> RecordBatch {
    let col = |f: &dyn Fn(&Raw) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    RecordBatch::try_from_iter([
        ("date", col(&|r| r.0)),
        (
            "channel",
            col(&|r| if r.3 == "EUR" { "google_ads" } else { "meta" }),
        ),
        (
            "account_id",
            col(&|r| if r.3 == "EUR" { "g1" } else { "act_1" }),
        ),
        ("campaign_id", col(&|r| r.1)),
        ("campaign", col(&|r| r.2)),
        (
            "ad_group",
            Arc::new(StringArray::new_null(rows.len())) as ArrayRef,
        ),
        ("currency", col(&|r| r.3)),
        ("spend", col(&|r| r.4)),
        ("impressions", col(&|_| "100")),
        ("clicks", col(&|_| "3")),
        ("conversions", col(&|r| r.5)),
        ("revenue", col(&|r| r.4)),
        (
            "_pulled_at",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.6))) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn messy() -> RecordBatch {
    messy_table(&[
        ("2024-03-01", "c1", "  Spring   SALE ", "USD", "10", "1", 1), // 0
        ("2024-03-02", "c1", "Spring Sale", "USD", "11", "1", 1),      // 1 restated by 12
        ("2024-03-04", "c1", "Spring Sale", "USD", "12", "1", 1),      // 2
        ("2024-03-05", "c1", "Spring Sale", "USD", "13", "1", 1),      // 3
        ("2024-03-06", "c1", "Spring Sale", "USD", "14", "1", 1),      // 4
        ("2024-03-01", "c2", "Ｂｒａｎｄ", "EUR", "20", "2", 1),       // 5 (full-width)
        ("2024-03-02", "c2", "Brand", "EUR", "20", "2", 1),            // 6
        ("2024-03-03", "c2", "Brand", "EUR", "20", "2", 1),            // 7 beats 13
        ("2024-03-04", "c2", "Brand", "EUR", "20", "2", 1),            // 8
        ("2024-03-05", "c2", "Brand", "EUR", "20", "2", 1),            // 9
        ("2024-03-06", "c2", "Brand", "EUR", "20", "2", 1),            // 10
        ("2024-03-01", "c1", "  Spring   SALE ", "USD", "10", "1", 1), // 11 exact dup of 0
        ("2024-03-02", "c1", "Spring Sale", "USD", "11", "4", 2),      // 12 restatement
        ("2024-03-03", "c2", "Brand", "EUR", "99", "2", 0),            // 13 older pull
        ("2024-03-02", "c3", "Pounds", "GBP", "5", "0", 1),            // 14 no GBP rate
        ("not-a-date", "c1", "Spring Sale", "USD", "1", "0", 1),       // 15
        ("2024-03-03", "c1", "Spring Sale", "USD", "NaN", "0", 1),     // 16
        ("2024-03-03", "c1", "Spring Sale", "USD", "-5", "0", 1),      // 17
    ])
}

fn rates() -> RateTable {
    (1..=6).fold(RateTable::new(), |t, d| {
        t.with_rate(NaiveDate::from_ymd_opt(2024, 3, d).unwrap(), "EUR", 1.1)
    })
}

#[test]
fn all_four_fixes_on_messy_input_account_for_every_row() {
    let input = messy();
    let out = clean_data(&input, &Fixes::all(CurrencyConversion::new("USD", rates()))).unwrap();
    let acc = out.accounting();
    assert_eq!(
        (
            acc.rows_in,
            acc.rows_out,
            acc.filled,
            acc.quarantined,
            acc.dropped_duplicates
        ),
        (18, 11, 0, 4, 3)
    );
    assert!(acc.balances());
    assert_eq!(out.quarantine.num_rows(), acc.quarantined);

    let log: Vec<(String, ChangeAction, usize)> = out
        .change_log
        .iter()
        .map(|c| (c.fix.clone(), c.action, c.rows_affected))
        .collect();
    assert_eq!(
        log,
        [
            (
                "quarantine_unusable_values".to_owned(),
                ChangeAction::Quarantined,
                3
            ),
            ("remove_duplicates".to_owned(), ChangeAction::Dropped, 1),
            ("remove_duplicates".to_owned(), ChangeAction::Dropped, 2),
            (
                "normalize_campaign_names".to_owned(),
                ChangeAction::Modified,
                12
            ),
            ("standardize_currency".to_owned(), ChangeAction::Modified, 6),
            (
                "standardize_currency".to_owned(),
                ChangeAction::Quarantined,
                1
            ),
            // c1's 2024-03-03 is not missing: its rows 16 and 17 are in the quarantine.
            ("fill_missing_dates".to_owned(), ChangeAction::Unfilled, 1),
            ("fill_missing_dates".to_owned(), ChangeAction::Filled, 0),
        ]
    );
    assert!(
        out.change_log[6]
            .detail
            .starts_with("days not filled: their rows are in the quarantine"),
        "{}",
        out.change_log[6].detail
    );

    // Row 0 and row 11 are exact duplicates: the later one (11) is kept, in its place.
    assert_table(
        &out.table,
        &[
            "+------------+------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+------------+--------------------+---------+",
            "| date       | channel    | account_id | campaign_id | campaign    | ad_group | currency | spend | impressions | clicks | conversions | revenue | _pulled_at | _campaign_original | _filled |",
            "+------------+------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+------------+--------------------+---------+",
            "| 2024-03-04 | meta       | act_1      | c1          | spring sale |          | USD      | 12.0  | 100         | 3      | 1.0         | 12.0    | 1          | Spring Sale        | false   |",
            "| 2024-03-05 | meta       | act_1      | c1          | spring sale |          | USD      | 13.0  | 100         | 3      | 1.0         | 13.0    | 1          | Spring Sale        | false   |",
            "| 2024-03-06 | meta       | act_1      | c1          | spring sale |          | USD      | 14.0  | 100         | 3      | 1.0         | 14.0    | 1          | Spring Sale        | false   |",
            "| 2024-03-01 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Ｂｒａｎｄ         | false   |",
            "| 2024-03-02 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Brand              | false   |",
            "| 2024-03-03 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Brand              | false   |",
            "| 2024-03-04 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Brand              | false   |",
            "| 2024-03-05 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Brand              | false   |",
            "| 2024-03-06 | google_ads | g1         | c2          | brand       |          | USD      | 22.0  | 100         | 3      | 2.0         | 22.0    | 1          | Brand              | false   |",
            "| 2024-03-01 | meta       | act_1      | c1          | spring sale |          | USD      | 10.0  | 100         | 3      | 1.0         | 10.0    | 1          |   Spring   SALE    | false   |",
            "| 2024-03-02 | meta       | act_1      | c1          | spring sale |          | USD      | 11.0  | 100         | 3      | 4.0         | 11.0    | 2          | Spring Sale        | false   |",
            "+------------+------------+------------+-------------+-------------+----------+----------+-------+-------------+--------+-------------+---------+------------+--------------------+---------+",
        ],
    );

    let reasons: Vec<(u64, String)> = {
        let row = out.quarantine.column_by_name("_row").unwrap();
        let row = row.as_primitive::<arrow::datatypes::UInt64Type>();
        let reason = text(&out.quarantine, "_reason");
        (0..out.quarantine.num_rows())
            .map(|i| (row.value(i), reason.value(i).to_owned()))
            .collect()
    };
    assert_eq!(
        reasons,
        [
            (14, "no GBP→USD rate for 2024-03-02".to_owned()),
            (15, "date 'not-a-date' is not a date".to_owned()),
            (16, "spend is NaN; revenue is NaN".to_owned()),
            (17, "negative spend (-5); negative revenue (-5)".to_owned()),
        ]
    );
    // The quarantine keeps the row's own values, as text.
    let spend = text(&out.quarantine, "spend");
    assert_eq!(spend.value(3), "-5");
}

#[test]
fn a_day_whose_row_is_quarantined_is_not_filled_with_zeros() {
    let t = messy_table(&[
        ("2024-03-01", "c1", "A", "USD", "5", "1", 1),
        ("2024-03-02", "c1", "A", "USD", "abc", "1", 1), // quarantined: not missing
        ("2024-03-03", "c1", "A", "USD", "7", "1", 1),
        ("2024-03-01", "c2", "B", "USD", "5", "1", 1),
        ("2024-03-04", "c2", "B", "USD", "5", "1", 1), // 03-02 and 03-03 missing
        ("2024-03-01", "c3", "C", "EUR", "5", "1", 1),
        ("2024-03-02", "c3", "C", "EUR", "5", "1", 1), // no EUR rate that day
        ("2024-03-03", "c3", "C", "EUR", "5", "1", 1),
    ]);
    let rates = [1, 3].into_iter().fold(RateTable::new(), |t, d| {
        t.with_rate(NaiveDate::from_ymd_opt(2024, 3, d).unwrap(), "EUR", 1.0)
    });
    let fixes = Fixes::none()
        .with_fill_missing_dates(true)
        .with_currency(CurrencyConversion::new("USD", rates));
    let out = clean_data(&t, &fixes).unwrap();
    let acc = out.accounting();
    assert_eq!(
        (acc.rows_in, acc.rows_out, acc.filled, acc.quarantined),
        (8, 8, 2, 2)
    );
    assert!(acc.balances());
    assert_eq!(out.quarantine.num_rows(), 2);
    let filled = out.table.column_by_name("_filled").unwrap().as_boolean();
    let date = arrow::compute::cast(
        out.table.column_by_name("date").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let date = date.as_string::<i32>();
    let campaign = text(&out.table, "campaign_id");
    let filled_days: Vec<(String, String)> = (0..out.table.num_rows())
        .filter(|&i| filled.value(i))
        .map(|i| (campaign.value(i).to_owned(), date.value(i).to_owned()))
        .collect();
    assert_eq!(
        filled_days,
        [
            ("c2".to_owned(), "2024-03-02".to_owned()),
            ("c2".to_owned(), "2024-03-03".to_owned()),
        ]
    );
    let log: Vec<(&str, ChangeAction, usize)> = out
        .change_log
        .iter()
        .map(|c| (c.fix.as_str(), c.action, c.rows_affected))
        .collect();
    assert_eq!(
        log[log.len() - 2..],
        [
            ("fill_missing_dates", ChangeAction::Unfilled, 2),
            ("fill_missing_dates", ChangeAction::Filled, 2),
        ]
    );
    let unfilled = &out.change_log[log.len() - 2].detail;
    assert!(
        unfilled.starts_with("days not filled: their rows are in the quarantine"),
        "{unfilled}"
    );
}

#[test]
fn input_totals_read_text_numbers_as_cleaning_reads_them() {
    // Spend with a thousands separator, revenue with a decimal comma.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("u.csv");
    std::fs::write(
        &csv,
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n\
         2024-03-01,meta,a,c1,A,,USD,\"1,234.50\",1,1,0,\"12,5\"\n\
         2024-03-02,meta,a,c1,A,,USD,\"2,000\",1,1,0,\"1.000,25\"\n\
         2024-03-03,meta,a,c1,A,,USD,abc,1,1,0,\"3,0\"\n",
    )
    .unwrap();
    let table =
        liftos_transform::read_table_with(&csv, &liftos_transform::ReadOptions::text()).unwrap();
    let fixes = Fixes::none();
    let whole = clean_data(&table, &fixes).unwrap();
    assert_eq!(whole.input_totals, (3234.5, 1015.75));
    let (out, q) = (dir.path().join("c.csv"), dir.path().join("q.csv"));
    for part_rows in [1, 1000] {
        let done = liftos_transform::clean_file(&csv, &fixes, &out, &q, false, part_rows).unwrap();
        assert_eq!(
            done.input_totals, whole.input_totals,
            "parts of {part_rows}"
        );
    }
}

#[test]
fn ambiguous_dates_and_decimals_are_noted_as_unify_notes_them() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("u.csv");
    std::fs::write(
        &csv,
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n\
         03/04/2024,meta,a,c1,A,,USD,\"1,234\",1,1,0,5\n\
         03/05/2024,meta,a,c1,A,,USD,\"2,000\",1,1,0,5\n",
    )
    .unwrap();
    let table =
        liftos_transform::read_table_with(&csv, &liftos_transform::ReadOptions::text()).unwrap();
    let whole = clean_data(&table, &Fixes::none()).unwrap();
    assert_eq!(whole.notes.len(), 2, "{:?}", whole.notes);
    assert!(
        whole.notes[0].contains("column `date`") && whole.notes[0].contains("MM/DD/YYYY"),
        "{:?}",
        whole.notes
    );
    assert!(
        whole.notes[1].contains("column `spend`"),
        "{:?}",
        whole.notes
    );
    let (out, q) = (dir.path().join("c.csv"), dir.path().join("q.csv"));
    for part_rows in [1, 1000] {
        let done =
            liftos_transform::clean_file(&csv, &Fixes::none(), &out, &q, false, part_rows).unwrap();
        assert_eq!(done.notes, whole.notes, "parts of {part_rows}");
    }
}

#[test]
fn the_latest_pull_wins_even_when_it_was_loaded_first() {
    let t = messy_table(&[
        ("2024-03-01", "c1", "A", "USD", "5", "1", 9),
        ("2024-03-01", "c1", "A", "USD", "6", "1", 3),
    ]);
    let out = clean_data(&t, &Fixes::none().with_remove_duplicates(true)).unwrap();
    assert_eq!(out.table.num_rows(), 1);
    assert_eq!(numbers(&out.table, "spend").value(0), 5.0);

    // The older pull is dropped and counted as superseded; nothing is quarantined.
    assert_eq!(out.quarantine.num_rows(), 0);
    let acc = out.accounting();
    assert_eq!((acc.dropped_duplicates, acc.quarantined), (1, 0));

    // Without `_pulled_at`, the later row in load order is kept and the other, which no
    // column says is older, goes to the quarantine with its values and the reason
    // (it was once dropped, only counted).
    let no_pull = t.project(&(0..12).collect::<Vec<_>>()).unwrap();
    let out = clean_data(&no_pull, &Fixes::none().with_remove_duplicates(true)).unwrap();
    assert_eq!(numbers(&out.table, "spend").value(0), 6.0);
    let acc = out.accounting();
    assert!(acc.balances(), "{acc:?}");
    assert_eq!((acc.dropped_duplicates, acc.quarantined), (0, 1));
    let q = &out.quarantine;
    assert_eq!(text(q, "_stage").value(0), "clean:remove_duplicates");
    assert_eq!(
        q.column_by_name("_row")
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(0),
        0
    );
    assert!(
        text(q, "_reason")
            .value(0)
            .contains("no `_pulled_at` column says which is newer"),
        "{}",
        text(q, "_reason").value(0)
    );
    assert_eq!(text(q, "spend").value(0), "5");

    // The same `_pulled_at` says no more than none: quarantined the same way.
    let tied = messy_table(&[
        ("2024-03-01", "c1", "A", "USD", "5", "1", 4),
        ("2024-03-01", "c1", "A", "USD", "6", "1", 4),
        ("2024-03-01", "c1", "A", "USD", "6", "1", 4),
    ]);
    let out = clean_data(&tied, &Fixes::none().with_remove_duplicates(true)).unwrap();
    assert_eq!(numbers(&out.table, "spend").value(0), 6.0);
    let acc = out.accounting();
    assert_eq!((acc.dropped_duplicates, acc.quarantined), (1, 1), "{acc:?}");
    assert!(
        text(&out.quarantine, "_reason")
            .value(0)
            .contains("the same `_pulled_at`")
    );
}

#[test]
fn no_fix_only_quarantines_unusable_rows() {
    let out = clean_data(&messy(), &Fixes::none()).unwrap();
    let acc = out.accounting();
    assert_eq!(
        (
            acc.rows_out,
            acc.quarantined,
            acc.filled,
            acc.dropped_duplicates
        ),
        (15, 3, 0, 0)
    );
    assert!(acc.balances());
    assert!(out.table.column_by_name("_filled").is_none());
}

#[test]
fn standardize_currency_needs_rates_and_never_guesses() {
    let err = Fixes::from_list("remove_duplicates,standardize_currency", None).unwrap_err();
    assert!(
        err.to_string().contains("standardize_currency needs"),
        "{err}"
    );
    assert!(Fixes::from_list("dedupe", None).is_err());
    let fixes = Fixes::from_list(
        "standardize_currency",
        Some(CurrencyConversion::new("usd", RateTable::new())),
    )
    .unwrap();
    let out = clean_data(&messy(), &fixes).unwrap();
    // Every EUR and GBP row is quarantined: there is no rate at all.
    assert_eq!(out.quarantine.num_rows(), 3 + 8);
    assert!(out.accounting().balances());
}

/// Two different rates for one day and currency: an error naming both rows (counted
/// from 1 after the header), the date and the currency; the same rate twice is one rate.
#[test]
fn two_different_rates_for_one_day_and_currency_are_an_error() {
    let rates = |dates: &[&str], currencies: &[&str], values: &[&str]| {
        let text = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        RecordBatch::try_from_iter([
            ("date", text(dates)),
            ("currency", text(currencies)),
            ("rate", text(values)),
        ])
        .unwrap()
    };
    let err = RateTable::from_batch(&rates(
        &["2024-01-01", "2024-01-02", "2024-01-01"],
        &["EUR", "EUR", "eur"],
        &["1.10", "1.2", "0.50"],
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("rates data rows 1 and 3")
            && err.contains("EUR on 2024-01-01")
            && err.contains("1.1 and 0.5"),
        "{err}"
    );
    let same = RateTable::from_batch(&rates(
        &["2024-01-01", "2024-01-01", "2024-01-02"],
        &["EUR", "EUR", "GBP"],
        &["1.10", "1.1", "1.3"],
    ))
    .unwrap();
    assert_eq!(same.len(), 2);
}

#[test]
fn rates_tables_are_checked() {
    let rates = RecordBatch::try_from_iter([
        (
            "date",
            Arc::new(StringArray::from(vec!["2024-03-01", "2024-03-02"])) as ArrayRef,
        ),
        (
            "currency",
            Arc::new(StringArray::from(vec!["EUR", "EUR"])) as ArrayRef,
        ),
        (
            "rate",
            Arc::new(StringArray::from(vec!["1.1", "-1"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let err = RateTable::from_batch(&rates).unwrap_err();
    // The second data row (0-based index 1) is named as a file's row below the header.
    assert!(err.to_string().contains("rates data row 2"), "{err}");
    let ok = RateTable::from_batch(&rates.slice(0, 1)).unwrap();
    assert_eq!(ok.len(), 1);
}

#[test]
fn names_are_normalized_with_patterns_and_the_transformer_keeps_the_original() {
    let n = NameNormalization::default()
        .with_strip_pattern(r"(?i)\[test\]")
        .with_strip_pattern(r"_v\d+$")
        .build()
        .unwrap();
    assert_eq!(
        n.normalize("  Ｓｕｍｍｅｒ   [TEST]  Sale_v2 "),
        "summer sale"
    );
    assert_eq!(n.normalize("ﬁnal ＳＡＬＥ"), "final sale");
    let err = NameNormalization::default()
        .with_strip_pattern("(")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("strip_patterns[0]"), "{err}");

    let t = messy();
    let schema = n.output_schema(t.schema_ref()).unwrap();
    let out = n.transform(&t).unwrap();
    assert_eq!(out.schema(), schema);
    assert_eq!(out.num_rows(), t.num_rows());
    let original = text(&out, "_campaign_original");
    assert_eq!(original.value(0), "  Spring   SALE ");
    let campaign = text(&out, "campaign");
    assert_eq!(campaign.value(0), "spring sale");
    // Running it twice keeps the first original.
    let again = n.transform(&out).unwrap();
    let original = text(&again, "_campaign_original");
    assert_eq!(original.value(0), "  Spring   SALE ");
}

#[test]
fn a_missing_unified_column_is_an_error() {
    let t = messy();
    let without_spend = t.project(&[0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]).unwrap();
    let err = clean_data(&without_spend, &Fixes::default()).unwrap_err();
    assert_eq!(err.to_string(), "table: missing column `spend`");
}
