//! Issue 16: numbers and dates in a column's own format (never reinterpreted), fill
//! bounds, duplicate headers, NUL bytes, documented defaults for missing columns.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use liftos_transform::{
    ChangeAction, Error, Fixes, ReadOptions, SchemaMapping, clean_data, read_table_with, unified,
    unify_marketing_data,
};

use crate::day;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const HEADER: &str = "date,campaign,currency,spend,impressions,clicks,conversions,revenue";

fn shop_mapping(extra: &str) -> SchemaMapping {
    SchemaMapping::from_toml_str(&format!("[sources.shop]\nextends = \"unified\"\n{extra}\n"))
        .unwrap()
}

fn unify_file(
    path: &Path,
    mapping: &SchemaMapping,
) -> liftos_transform::Result<liftos_transform::Unified> {
    let table = read_table_with(path, &ReadOptions::text())?;
    unify_marketing_data([("shop", &table)], mapping)
}

fn spend(u: &RecordBatch) -> Vec<f64> {
    u.column_by_name(unified::SPEND)
        .unwrap()
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn dates(u: &RecordBatch) -> Vec<i32> {
    u.column_by_name(unified::DATE)
        .unwrap()
        .as_primitive::<Date32Type>()
        .values()
        .to_vec()
}

fn reasons(q: &RecordBatch) -> Vec<String> {
    q.column_by_name("_reason")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn decimal_commas_and_day_first_dates_are_detected_on_both_csv_paths() {
    let dir = tempfile::tempdir().unwrap();
    let body = "02/01/2024,A,EUR,\"12,5\",1000,3,\"1,5\",20\n\
                13/01/2024,A,EUR,\"1.234,56\",2,1,0,\"7,25\"\n\
                14/01/2024,A,EUR,3,2,1,0,1\n";
    // Quoted cells: the arrow-csv path. Semicolon-free plain cells cannot hold a
    // decimal comma in a comma-separated file, so the quoted file is the real case;
    // the plain file below checks the direct path with point-decimal columns and
    // day-first dates.
    let quoted = write(dir.path(), "quoted.csv", &format!("{HEADER}\n{body}"));
    let u = unify_file(&quoted, &shop_mapping("")).unwrap();
    assert_eq!(u.quarantine.num_rows(), 0, "{:?}", reasons(&u.quarantine));
    assert_eq!(spend(&u.table), vec![12.5, 1234.56, 3.0]);
    assert_eq!(
        dates(&u.table),
        vec![day("2024-01-02"), day("2024-01-13"), day("2024-01-14")]
    );
    let revenue = u.table.column_by_name("revenue").unwrap();
    assert_eq!(
        revenue.as_primitive::<Float64Type>().values().to_vec(),
        vec![20.0, 7.25, 1.0]
    );
    let impressions = u.table.column_by_name("impressions").unwrap();
    assert_eq!(impressions.as_primitive::<Int64Type>().value(0), 1000);

    let plain = write(
        dir.path(),
        "plain.csv",
        &format!("{HEADER}\n02/01/2024,A,EUR,12.5,1,1,0,2\n13/01/2024,A,EUR,7,1,1,0,2\n"),
    );
    let u = unify_file(&plain, &shop_mapping("")).unwrap();
    assert_eq!(u.quarantine.num_rows(), 0, "{:?}", reasons(&u.quarantine));
    assert_eq!(dates(&u.table), vec![day("2024-01-02"), day("2024-01-13")]);
    assert_eq!(spend(&u.table), vec![12.5, 7.0]);
}

#[test]
fn a_number_not_in_the_columns_format_is_quarantined_never_reread() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mixed.csv",
        &format!(
            "{HEADER}\n2024-01-01,A,USD,12.5,1,1,0,2\n2024-01-02,A,USD,\"12,5\",1,1,0,2\n\
             2024-01-03,A,USD,\"1,2,3\",1,1,0,2\n2024-01-04,A,USD,\"1,234.5\",1,1,0,2\n"
        ),
    );
    let u = unify_file(&path, &shop_mapping("")).unwrap();
    assert_eq!(spend(&u.table), vec![12.5, 1234.5]);
    assert_eq!(
        reasons(&u.quarantine),
        vec![
            "spend '12,5' is not a number".to_owned(),
            "spend '1,2,3' is not a number".to_owned()
        ]
    );
}

#[test]
fn date_order_is_per_column_mixed_is_an_error_and_ambiguous_is_noted_or_set() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = write(
        dir.path(),
        "mixed.csv",
        &format!("{HEADER}\n13/01/2024,A,USD,1,1,1,0,2\n01/13/2024,A,USD,1,1,1,0,2\n"),
    );
    let err = unify_file(&mixed, &shop_mapping("")).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("column `date`") && msg.contains("13/01/2024") && msg.contains("01/13/2024"),
        "{msg}"
    );
    assert!(msg.contains("date_format"), "{msg}");

    let ambiguous = write(
        dir.path(),
        "ambiguous.csv",
        &format!("{HEADER}\n02/01/2024,A,USD,1,1,1,0,2\n03/01/2024,A,USD,\"1.234\",1,1,0,2\n"),
    );
    let u = unify_file(&ambiguous, &shop_mapping("")).unwrap();
    assert_eq!(dates(&u.table), vec![day("2024-02-01"), day("2024-03-01")]);
    assert_eq!(spend(&u.table), vec![1.0, 1.234]);
    assert!(
        u.notes
            .iter()
            .any(|n| n.contains("read as MM/DD/YYYY") && n.contains("`date`")),
        "{:?}",
        u.notes
    );
    assert!(
        u.notes
            .iter()
            .any(|n| n.contains("`spend`") && n.contains("'1.234'")),
        "{:?}",
        u.notes
    );
    // The source's settings decide instead.
    let set = shop_mapping("decimal = \",\"\ndate_format = \"%d/%m/%Y\"");
    let u = unify_file(&ambiguous, &set).unwrap();
    assert_eq!(dates(&u.table), vec![day("2024-01-02"), day("2024-01-03")]);
    assert_eq!(spend(&u.table), vec![1.0, 1234.0]);
    assert!(
        !u.notes
            .iter()
            .any(|n| n.contains("`date`") || n.contains("`spend`")),
        "{:?}",
        u.notes
    );
    // With the setting, a point-decimal value is not a number of the column.
    let point = write(
        dir.path(),
        "point.csv",
        &format!("{HEADER}\n02/01/2024,A,USD,12.5,1,1,0,2\n"),
    );
    let u = unify_file(&point, &set).unwrap();
    assert_eq!(
        reasons(&u.quarantine),
        vec!["spend '12.5' is not a number with decimal ','".to_owned()]
    );
}

#[test]
fn a_far_future_typo_is_quarantined_and_filling_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "typo.csv",
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n\
         2024-01-01,meta,a,c1,A,,USD,1,1,1,0,2\n\
         9999-12-31,meta,a,c1,A,,USD,1,1,1,0,2\n",
    );
    let table = read_table_with(&path, &ReadOptions::text()).unwrap();
    let latest = chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
    let cleaned = clean_data(&table, &Fixes::default().with_latest_date(latest)).unwrap();
    assert_eq!(cleaned.table.num_rows(), 1);
    assert_eq!(cleaned.quarantine.num_rows(), 1);
    let why = reasons(&cleaned.quarantine);
    assert!(
        why[0].contains("9999-12-31") && why[0].contains("2024-06-30"),
        "{why:?}"
    );
    assert!(cleaned.accounting().balances());

    // Without a latest date: the 2.9M-day gap is longer than a year, left unfilled and
    // counted; nothing is inserted.
    let cleaned = clean_data(&table, &Fixes::default()).unwrap();
    assert_eq!(cleaned.table.num_rows(), 2);
    assert!(
        cleaned
            .change_log
            .iter()
            .any(|c| c.action == ChangeAction::Unfilled && c.rows_affected == 1),
        "{:?}",
        cleaned.change_log
    );
    // More rows to fill than the limit is an error, not 8.7M rows.
    let gap = write(
        dir.path(),
        "gap.csv",
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n\
         2024-01-01,meta,a,c1,A,,USD,1,1,1,0,2\n\
         2024-12-01,meta,a,c1,A,,USD,1,1,1,0,2\n",
    );
    let table = read_table_with(&gap, &ReadOptions::text()).unwrap();
    let err = clean_data(&table, &Fixes::default().with_fill_limits(366, 100)).unwrap_err();
    assert!(
        err.to_string().contains("more than the limit of 100"),
        "{err}"
    );
}

#[test]
fn a_duplicate_header_is_an_error_naming_both_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "dup.csv",
        "date,spend,campaign,spend\n2024-01-01,1,A,2\n",
    );
    for options in [ReadOptions::text(), ReadOptions::default()] {
        let err = read_table_with(&path, &options).unwrap_err().to_string();
        assert!(
            err.contains("dup.csv")
                && err.contains("`spend` appears twice")
                && err.contains("columns 2 and 4"),
            "{err}"
        );
    }
}

#[test]
fn a_nul_byte_in_a_name_is_quarantined_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "nul.csv",
        &format!("{HEADER}\n2024-01-01,A\0B,USD,1,1,1,0,2\n2024-01-01,C,USD,1,1,1,0,2\n"),
    );
    let u = unify_file(&path, &shop_mapping("")).unwrap();
    assert_eq!(u.table.num_rows(), 1);
    assert_eq!(
        reasons(&u.quarantine),
        vec!["campaign contains a NUL byte".to_owned()]
    );
}

#[test]
fn exports_without_account_currency_or_spend_use_noted_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // Meta's own field list: no account_id.
    let meta = write(
        dir.path(),
        "meta.csv",
        "date_start,campaign_id,campaign_name,account_currency,spend,impressions,clicks,conversions,conversion_values\n\
         2024-01-01,1,A,USD,10,100,3,1,20\n",
    );
    // A Klaviyo export without currency nor spend.
    let klaviyo = write(
        dir.path(),
        "klaviyo.csv",
        "sent_at,account_id,campaign_id,campaign_name,recipients,clicks,placed_order_count,revenue\n\
         2024-01-01,k,9,Mail,1000,30,2,50\n",
    );
    let m = read_table_with(&meta, &ReadOptions::text()).unwrap();
    let k = read_table_with(&klaviyo, &ReadOptions::text()).unwrap();
    // Without a default currency: one error listing what is missing and how to fix it.
    let err = unify_marketing_data([("meta", &m), ("klaviyo", &k)], &SchemaMapping::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("source `klaviyo`") && err.contains("`currency`"),
        "{err}"
    );
    assert!(err.contains("currency = { value = \"USD\" }"), "{err}");

    let mapping = SchemaMapping::default().with_default_currency("EUR");
    let u = unify_marketing_data([("meta", &m), ("klaviyo", &k)], &mapping).unwrap();
    assert_eq!(u.table.num_rows(), 2);
    assert_eq!(u.quarantine.num_rows(), 0);
    let account = u.table.column_by_name("account_id").unwrap();
    assert!(account.is_null(0));
    assert_eq!(spend(&u.table), vec![10.0, 0.0]);
    let currency = u.table.column_by_name("currency").unwrap();
    assert_eq!(currency.as_string::<i32>().value(0), "USD");
    assert_eq!(currency.as_string::<i32>().value(1), "EUR");
    let notes = u.notes.join("\n");
    assert!(
        notes.contains("source `meta`: no `account_id` column"),
        "{notes}"
    );
    assert!(
        notes.contains("source `klaviyo`: no `spend` column; spend is '0'"),
        "{notes}"
    );
    assert!(
        notes.contains("source `klaviyo`: no `currency` column; currency is 'EUR'"),
        "{notes}"
    );
}

mod numbers_keep_their_value {
    use super::*;
    use proptest::prelude::*;

    /// A number as exact decimal text: integer part and fraction digits.
    #[derive(Debug, Clone)]
    struct Written {
        int: u64,
        frac: String,
        negative: bool,
        grouped: bool,
    }

    impl Written {
        /// Its value: the canonical `-int.frac` parsed (correctly rounded).
        fn value(&self) -> f64 {
            let sign = if self.negative { "-" } else { "" };
            let frac = if self.frac.is_empty() {
                String::new()
            } else {
                format!(".{}", self.frac)
            };
            format!("{sign}{}{frac}", self.int).parse().unwrap()
        }

        /// As written with `point` as decimal separator and `group` between thousands.
        fn text(&self, point: char, group: char) -> String {
            let digits = self.int.to_string();
            let int = if self.grouped {
                let mut out = String::new();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i).is_multiple_of(3) {
                        out.push(group);
                    }
                    out.push(c);
                }
                out
            } else {
                digits
            };
            let sign = if self.negative { "-" } else { "" };
            if self.frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}{point}{}", self.frac)
            }
        }
    }

    fn written() -> impl Strategy<Value = Written> {
        (
            prop_oneof![0u64..1000, 0u64..10_000_000_000],
            "[0-9]{0,4}",
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(int, frac, negative, grouped)| Written {
                int,
                frac,
                negative,
                grouped,
            })
    }

    fn csv_cell(s: &str) -> String {
        if s.contains(',') {
            format!("\"{s}\"")
        } else {
            s.to_owned()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Unify: a number written in its column's format keeps its exact value; with
        /// the format detected, a value is kept exactly, or quarantined, or the column
        /// is noted as read with the default decimal point (documented).
        #[test]
        fn unify_keeps_each_numbers_value(
            values in proptest::collection::vec(written(), 1..12),
            comma in any::<bool>(),
            declared in any::<bool>(),
        ) {
            let (point, group) = if comma { (',', '.') } else { ('.', ',') };
            let dir = tempfile::tempdir().unwrap();
            let mut text = format!("{HEADER}\n");
            for w in &values {
                text.push_str(&format!(
                    "2024-01-01,A,USD,{},1,1,0,1\n",
                    csv_cell(&w.text(point, group))
                ));
            }
            let path = write(dir.path(), "n.csv", &text);
            let extra = match (declared, comma) {
                (true, true) => "decimal = \",\"",
                (true, false) => "decimal = \".\"",
                _ => "",
            };
            let u = unify_file(&path, &shop_mapping(extra)).unwrap();
            prop_assert_eq!(u.rows_in(), values.len());
            let kept_rows: Vec<usize> = {
                let quarantined: Vec<u64> = u.quarantine.column_by_name("_row").unwrap()
                    .as_primitive::<arrow::datatypes::UInt64Type>().values().to_vec();
                (0..values.len()).filter(|r| !quarantined.contains(&(*r as u64))).collect()
            };
            let got = spend(&u.table);
            let noted = u.notes.iter().any(|n| n.contains("`spend`"));
            if declared {
                prop_assert_eq!(u.quarantine.num_rows(), 0, "{:?}", reasons(&u.quarantine));
            }
            for (k, &r) in kept_rows.iter().enumerate() {
                let expected = values[r].value();
                if got[k] != expected {
                    // Only a column whose separator no value showed, read with the
                    // default point, and said so.
                    prop_assert!(!declared && comma && noted,
                        "row {r}: {:?} written as {} became {}", values[r], values[r].text(point, group), got[k]);
                }
            }
        }

        /// Clean: the numbers of a unified file (decimal point, grouped or not) keep
        /// their exact value or go to the quarantine with a reason.
        #[test]
        fn clean_keeps_each_numbers_value(values in proptest::collection::vec(written(), 1..12)) {
            let dir = tempfile::tempdir().unwrap();
            let mut text = "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n".to_owned();
            for (i, w) in values.iter().enumerate() {
                text.push_str(&format!(
                    "2024-01-{:02},meta,a,c1,A,,USD,{},1,1,0,1\n",
                    i + 1,
                    csv_cell(&w.text('.', ','))
                ));
            }
            let path = write(dir.path(), "u.csv", &text);
            let table = read_table_with(&path, &ReadOptions::text()).unwrap();
            let cleaned = clean_data(&table, &Fixes::none()).unwrap();
            prop_assert_eq!(cleaned.table.num_rows() + cleaned.quarantine.num_rows(), values.len());
            let got = spend(&cleaned.table);
            let kept: Vec<&Written> = values.iter().filter(|w| !w.negative || w.value() == 0.0).collect();
            prop_assert_eq!(got.len(), kept.len(), "negative spend is quarantined, the rest kept");
            for (g, w) in got.iter().zip(kept) {
                prop_assert_eq!(*g, w.value(), "{:?}", w);
            }
        }
    }
}

/// An already unified file of several channels given as one source keeps each row's
/// channel (every row was given the source's name: the channels merged silently); an
/// empty channel is quarantined with its reason; a `channel` key still sets every row's.
#[test]
fn a_sources_own_channel_column_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "u.csv",
        &format!(
            "channel,{HEADER}\nshop,2024-01-01,A,USD,1,10,1,0,2\nmeta,2024-01-01,B,USD,1,10,1,0,2\n,2024-01-01,C,USD,1,10,1,0,2\n"
        ),
    );
    let channels = |u: &liftos_transform::Unified| -> Vec<String> {
        let c = u
            .table
            .column_by_name(unified::CHANNEL)
            .unwrap()
            .as_string::<i32>();
        (0..c.len()).map(|i| c.value(i).to_owned()).collect()
    };
    let u = unify_file(&path, &shop_mapping("")).unwrap();
    assert_eq!(channels(&u), ["shop", "meta"]);
    assert_eq!(u.quarantine.num_rows(), 1);
    assert!(
        reasons(&u.quarantine)[0].contains("`channel` column is empty"),
        "{:?}",
        reasons(&u.quarantine)
    );
    let u = unify_file(&path, &shop_mapping("channel = \"all\"")).unwrap();
    assert_eq!(channels(&u), ["all", "all", "all"]);
}
