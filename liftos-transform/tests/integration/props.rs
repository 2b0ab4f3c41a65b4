//! Property-based tests: row accounting against an oracle, and no panic on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Date32Type, Float64Type};
use chrono::NaiveDate;
use liftos_transform::{
    CurrencyConversion, Fixes, QualityRules, RateTable, SchemaMapping, clean_data, read_table,
    unify_marketing_data, validate_data_quality,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct MessyRow {
    campaign: u8,
    day: u8,
    bad_date: bool,
    spend: SpendCell,
    currency: u8,
    pulled: u8,
    duplicate: bool,
}

#[derive(Debug, Clone)]
enum SpendCell {
    Fine(u16),
    NaN,
    Negative,
    Text,
}

impl SpendCell {
    fn text(&self) -> String {
        match self {
            SpendCell::Fine(v) => format!("{}.5", v),
            SpendCell::NaN => "NaN".to_owned(),
            SpendCell::Negative => "-3".to_owned(),
            SpendCell::Text => "n/a".to_owned(),
        }
    }
    fn usable(&self) -> bool {
        matches!(self, SpendCell::Fine(_))
    }
}

const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];

fn messy_row() -> impl Strategy<Value = MessyRow> {
    let spend = prop_oneof![
        8 => (0u16..500).prop_map(SpendCell::Fine),
        1 => Just(SpendCell::NaN),
        1 => Just(SpendCell::Negative),
        1 => Just(SpendCell::Text),
    ];
    (
        0u8..4,
        0u8..20,
        prop::bool::weighted(0.05),
        spend,
        0u8..3,
        0u8..3,
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(campaign, day, bad_date, spend, currency, pulled, duplicate)| MessyRow {
                campaign,
                day,
                bad_date,
                spend,
                currency,
                pulled,
                duplicate,
            },
        )
}

fn date_text(day: u8) -> String {
    (NaiveDate::from_ymd_opt(2024, 3, 1).unwrap() + chrono::Days::new(u64::from(day)))
        .format("%Y-%m-%d")
        .to_string()
}

/// Rows (with exact duplicates expanded) as a loosely typed unified table.
fn table(rows: &[MessyRow]) -> (RecordBatch, Vec<MessyRow>) {
    let mut expanded = Vec::new();
    for r in rows {
        expanded.push(r.clone());
        if r.duplicate {
            expanded.push(r.clone());
        }
    }
    let n = expanded.len();
    let text = |f: &dyn Fn(&MessyRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(expanded.iter().map(f)))
    };
    let batch = RecordBatch::try_from_iter([
        (
            "date",
            text(&|r| {
                if r.bad_date {
                    "31/31/2024".to_owned()
                } else {
                    date_text(r.day)
                }
            }),
        ),
        ("channel", text(&|_| "meta".to_owned())),
        ("account_id", text(&|_| "act".to_owned())),
        ("campaign_id", text(&|r| format!("c{}", r.campaign))),
        ("campaign", text(&|r| format!(" Campaign  {} ", r.campaign))),
        ("ad_group", Arc::new(StringArray::new_null(n)) as ArrayRef),
        (
            "currency",
            text(&|r| CURRENCIES[r.currency as usize].to_owned()),
        ),
        ("spend", text(&|r| r.spend.text())),
        ("impressions", text(&|_| "10".to_owned())),
        ("clicks", text(&|_| "1".to_owned())),
        ("conversions", text(&|_| "0".to_owned())),
        ("revenue", text(&|_| "0".to_owned())),
        (
            "_pulled_at",
            Arc::new(Int64Array::from_iter_values(
                expanded.iter().map(|r| i64::from(r.pulled)),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    (batch, expanded)
}

/// EUR has a rate every day; GBP only on even days.
fn rates() -> RateTable {
    (0u8..20).fold(RateTable::new(), |t, d| {
        let date = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap() + chrono::Days::new(u64::from(d));
        let t = t.with_rate(date, "EUR", 1.25);
        if d % 2 == 0 {
            t.with_rate(date, "GBP", 2.0)
        } else {
            t
        }
    })
}

/// Counts the oracle expects: (quarantined, dropped, filled, out), and the (campaign,
/// day) pairs with a quarantined row of a known day: such a day is not missing (its row
/// is in the quarantine), so it is never filled.
fn oracle_days(rows: &[MessyRow]) -> (usize, usize, usize, usize, BTreeSet<(u8, u8)>) {
    let mut held: BTreeSet<(u8, u8)> = BTreeSet::new();
    let mut quarantined = 0;
    // (campaign, day) -> (pulled, index) of the winner; and count of usable rows.
    let mut winners: BTreeMap<(u8, u8), (u8, usize)> = BTreeMap::new();
    let mut usable = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.bad_date || !r.spend.usable() {
            quarantined += 1;
            if !r.bad_date {
                held.insert((r.campaign, r.day));
            }
            continue;
        }
        usable += 1;
        let w = winners.entry((r.campaign, r.day)).or_insert((r.pulled, i));
        if (r.pulled, i) >= *w {
            *w = (r.pulled, i);
        }
    }
    // A row that does not win its key: an exact duplicate (the same values as the winner
    // or as an earlier such row) or one pulled before the winner is dropped; one with
    // other values and the winner's `_pulled_at` is quarantined (nothing says which is
    // newer).
    let values = |r: &MessyRow| (r.campaign, r.day, r.spend.text(), r.currency);
    let mut seen: BTreeSet<_> = winners.values().map(|&(_, i)| values(&rows[i])).collect();
    let mut dropped = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.bad_date || !r.spend.usable() {
            continue;
        }
        let (pulled, w) = winners[&(r.campaign, r.day)];
        if w == i {
            continue;
        }
        if !seen.insert(values(r)) || r.pulled < pulled {
            dropped += 1;
        } else {
            quarantined += 1;
        }
    }
    debug_assert!(usable >= winners.len() + dropped);
    let mut days: BTreeMap<u8, BTreeSet<u8>> = BTreeMap::new();
    for (&(c, d), &(_, i)) in &winners {
        let r = &rows[i];
        if CURRENCIES[r.currency as usize] == "GBP" && d % 2 == 1 {
            quarantined += 1;
            held.insert((c, d));
        } else {
            days.entry(c).or_default().insert(d);
        }
    }
    let mut filled = 0;
    let mut out = 0;
    for (&c, ds) in &days {
        let (lo, hi) = (*ds.first().unwrap(), *ds.last().unwrap());
        let missing = (lo..=hi)
            .filter(|d| !ds.contains(d) && !held.contains(&(c, *d)))
            .count();
        filled += missing;
        out += ds.len() + missing;
    }
    (quarantined, dropped, filled, out, held)
}

/// Day `d` of the test's calendar as days since 1970-01-01 (the Date32 of the table).
fn liftos_calendar_day(first: NaiveDate, d: u8) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    i32::try_from((first + chrono::Days::new(u64::from(d)) - epoch).num_days()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn row_accounting_holds_and_matches_the_oracle(rows in prop::collection::vec(messy_row(), 0..60)) {
        let (batch, expanded) = table(&rows);
        let out = clean_data(&batch, &Fixes::all(CurrencyConversion::new("USD", rates()))).unwrap();
        let acc = out.accounting();
        prop_assert!(acc.balances(), "{acc:?}");
        prop_assert_eq!(acc.rows_in, expanded.len());
        prop_assert_eq!(acc.quarantined, out.quarantine.num_rows());
        let (q, dropped, filled, rows_out, held) = oracle_days(&expanded);
        prop_assert_eq!((acc.quarantined, acc.dropped_duplicates, acc.filled, acc.rows_out), (q, dropped, filled, rows_out));

        // The clean table: one row per key, no gaps, one currency, usable values.
        let t = &out.table;
        let date = t.column_by_name("date").unwrap().as_primitive::<Date32Type>();
        let camp = t.column_by_name("campaign_id").unwrap().as_string::<i32>();
        let cur = t.column_by_name("currency").unwrap().as_string::<i32>();
        let spend = t.column_by_name("spend").unwrap().as_primitive::<Float64Type>();
        let filled_col = t.column_by_name("_filled").unwrap().as_boolean();
        let mut keys = BTreeSet::new();
        let mut per: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for i in 0..t.num_rows() {
            prop_assert!(keys.insert((camp.value(i).to_owned(), date.value(i))));
            per.entry(camp.value(i).to_owned()).or_default().insert(date.value(i));
            prop_assert_eq!(cur.value(i), "USD");
            prop_assert!(spend.value(i).is_finite() && spend.value(i) >= 0.0);
            if filled_col.value(i) {
                prop_assert_eq!(spend.value(i), 0.0);
            }
        }
        // No gaps but the days whose rows are in the quarantine.
        let first_day = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        for (c, ds) in &per {
            let (lo, hi) = (*ds.first().unwrap(), *ds.last().unwrap());
            let c: u8 = c.trim_start_matches('c').parse().unwrap();
            let held_inside = held
                .iter()
                .filter(|(hc, d)| {
                    let day = liftos_calendar_day(first_day, *d);
                    *hc == c && day > lo && day < hi && !ds.contains(&day)
                })
                .count();
            prop_assert_eq!((hi - lo + 1) as usize, ds.len() + held_inside);
        }
        let names = t.column_by_name("campaign").unwrap().as_string::<i32>();
        for i in 0..t.num_rows() {
            prop_assert!(names.value(i).starts_with("campaign "));
        }
    }

    #[test]
    fn any_bytes_as_a_csv_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.csv");
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        if let Ok(t) = read_table(&path) {
            let _ = validate_data_quality(&t, &[], &QualityRules::default());
            let _ = clean_data(&t, &Fixes::default());
        }
    }

    #[test]
    fn any_text_cells_never_panic_the_pipeline(cells in prop::collection::vec(".{0,12}", 12)) {
        let names = [
            "date", "channel", "account_id", "campaign_id", "campaign", "ad_group", "currency",
            "spend", "impressions", "clicks", "conversions", "revenue",
        ];
        let batch = RecordBatch::try_from_iter(names.iter().zip(&cells).map(|(n, c)| {
            (*n, Arc::new(StringArray::from(vec![c.as_str(), c.as_str()])) as ArrayRef)
        }))
        .unwrap();
        let report = validate_data_quality(&batch, &[], &QualityRules::default()).unwrap();
        prop_assert!((0.0..=1.0).contains(&report.accuracy_score));
        let out = clean_data(&batch, &Fixes::default()).unwrap();
        prop_assert!(out.accounting().balances());
        let meta_like = RecordBatch::try_from_iter(
            ["date_start", "account_id", "account_currency", "campaign_id", "campaign_name",
             "spend", "impressions", "clicks", "conversions", "conversion_values", "adset_name",
             "age"]
                .iter()
                .zip(&cells)
                .map(|(n, c)| (*n, Arc::new(StringArray::from(vec![c.as_str()])) as ArrayRef)),
        )
        .unwrap();
        let u = unify_marketing_data([("meta", &meta_like)], &SchemaMapping::default()).unwrap();
        prop_assert_eq!(u.rows_in(), 1);
    }
}
