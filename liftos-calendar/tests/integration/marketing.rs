//! Marketing features recover known truths from synthetic campaign data.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use liftos_calendar::{
    Error, MarketingOptions, add_marketing_features, add_marketing_features_with, date32_to_naive,
    naive_to_date32,
};

use crate::{column, d, default_calendar};

/// Synthetic unified table for 2023, rows in date order.
///
/// * meta/A from Jan 1, meta/B from Feb 10 (rows with zero activity from Jan 31),
///   google_ads/C from Jan 11.
/// * meta buys 10 impressions per unit of spend on weekdays and 20 on weekends
///   (CPM 100 / 50), except 5 on 2023-11-24 (CPM 200).
/// * 1 click per 50 impressions; conversion rate 5% on weekdays, 8% on weekends.
pub fn campaign_data(last: NaiveDate) -> RecordBatch {
    let (mut date, mut channel, mut campaign) = (vec![], vec![], vec![]);
    let (mut spend, mut impr, mut clicks, mut conv, mut rev) =
        (vec![], vec![], vec![], vec![], vec![]);
    let start = d(2023, 1, 1);
    let mut day = start;
    while day <= last {
        let k = (day - start).num_days();
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let mut push = |ch: &str, camp: &str, s: f64, per_unit: i64, cr: f64| {
            let i = (s as i64) * per_unit;
            let c = i / 50;
            date.push(naive_to_date32(day));
            channel.push(ch.to_string());
            campaign.push(camp.to_string());
            spend.push(s);
            impr.push(i);
            clicks.push(c);
            conv.push(c as f64 * cr);
            rev.push(c as f64 * cr * 40.0);
        };
        let meta_rate = if day == d(2023, 11, 24) {
            5
        } else if weekend {
            20
        } else {
            10
        };
        let cr = if weekend { 0.08 } else { 0.05 };
        push("meta", "A", 100.0 + (k % 5) as f64 * 10.0, meta_rate, cr);
        if k >= 40 {
            push("meta", "B", 50.0 + (k % 3) as f64 * 10.0, meta_rate, cr);
        } else if k >= 30 {
            push("meta", "B", 0.0, meta_rate, cr);
        }
        if k >= 10 {
            push("google_ads", "C", 200.0, 50, 0.03);
        }
        day = day + Days::new(1);
    }
    RecordBatch::try_from_iter_with_nullable([
        ("date", Arc::new(Date32Array::from(date)) as ArrayRef, false),
        ("channel", Arc::new(StringArray::from(channel)), false),
        ("campaign", Arc::new(StringArray::from(campaign)), false),
        ("spend", Arc::new(Float64Array::from(spend)), true),
        ("impressions", Arc::new(Int64Array::from(impr)), true),
        ("clicks", Arc::new(Int64Array::from(clicks)), true),
        ("conversions", Arc::new(Float64Array::from(conv)), true),
        ("revenue", Arc::new(Float64Array::from(rev)), true),
    ])
    .unwrap()
}

pub fn calendar_2023() -> RecordBatch {
    default_calendar(d(2023, 1, 1), d(2023, 12, 31)).unwrap()
}

/// Index of the row of (date, channel, campaign).
fn row(out: &RecordBatch, date: NaiveDate, ch: &str, camp: &str) -> usize {
    let ds = column::<Date32Array>(out, "date");
    let chs = column::<StringArray>(out, "channel");
    let cs = column::<StringArray>(out, "campaign");
    (0..out.num_rows())
        .find(|i| {
            date32_to_naive(ds.value(*i)) == date && chs.value(*i) == ch && cs.value(*i) == camp
        })
        .unwrap_or_else(|| panic!("no row {date} {ch} {camp}"))
}

fn f64_at(out: &RecordBatch, col: &str, i: usize) -> Option<f64> {
    let a = column::<Float64Array>(out, col);
    a.is_valid(i).then(|| a.value(i))
}

/// Asserts that row `i` of `col` holds `want` (to 1e-12).
#[track_caller]
fn assert_at(out: &RecordBatch, col: &str, i: usize, want: f64) {
    let got = f64_at(out, col, i).unwrap();
    assert!(
        (got - want).abs() < 1e-12,
        "{col} row {i}: {got}, not {want}"
    );
}

/// Asserts that `col` is null in the row of (date, channel, campaign).
#[track_caller]
fn assert_null_on(out: &RecordBatch, col: &str, (date, ch, camp): (NaiveDate, &str, &str)) {
    let i = row(out, date, ch, camp);
    assert_eq!(f64_at(out, col, i), None, "{col} row {i}");
}

#[test]
fn features_recover_the_synthetic_truth() {
    let data = campaign_data(d(2023, 12, 31));
    let out = add_marketing_features(&calendar_2023(), &data).unwrap();
    assert_eq!(out.num_rows(), data.num_rows());
    // Input columns first, then calendar columns, then the features.
    assert_eq!(out.schema().field(0).name(), "date");
    assert!(out.schema().column_with_name("is_holiday").is_some());
    assert_eq!(
        out.schema().fields().last().unwrap().name(),
        "conversion_likelihood"
    );

    let flight = column::<Int32Array>(&out, "campaign_flight_days");
    let r = row(&out, d(2023, 2, 5), "meta", "B");
    assert!(
        flight.is_null(r),
        "inactive rows before the first active day have no flight day"
    );
    assert_eq!(flight.value(row(&out, d(2023, 2, 10), "meta", "B")), 0);
    assert_eq!(flight.value(row(&out, d(2023, 2, 20), "meta", "B")), 10);
    assert_eq!(
        flight.value(row(&out, d(2023, 1, 21), "google_ads", "C")),
        10
    );

    let active = column::<Int64Array>(&out, "active_campaigns");
    assert_eq!(active.value(row(&out, d(2023, 1, 5), "meta", "A")), 1);
    assert_eq!(active.value(row(&out, d(2023, 2, 5), "meta", "A")), 2); // B is inactive
    assert_eq!(active.value(row(&out, d(2023, 3, 1), "meta", "A")), 3);

    // Media cost index: weekday CPM 100 against a median of 100; weekend 50/100.
    let wed = row(&out, d(2023, 6, 7), "meta", "A");
    let sat = row(&out, d(2023, 6, 10), "meta", "A");
    assert_at(&out, "media_cost_index", wed, 1.0);
    assert_at(&out, "media_cost_index", sat, 0.5);
    assert_null_on(&out, "media_cost_index", (d(2023, 1, 3), "meta", "A"));
    let bf = row(&out, d(2023, 11, 24), "meta", "A");
    assert_at(&out, "media_cost_index", bf, 2.0);
    let pressure = column::<StringArray>(&out, "competitive_pressure");
    assert_eq!(pressure.value(bf), "high");
    assert!(pressure.is_null(row(&out, d(2023, 1, 20), "meta", "A")));

    // Audience availability: weekend impressions per unit spend are 2x weekdays:
    // Saturday = 20 / ((5*10 + 2*20) / 7), Monday = 10 / (90 / 7).
    let mon = row(&out, d(2023, 6, 5), "meta", "A");
    assert_at(&out, "audience_availability", sat, 140.0 / 90.0);
    assert_at(&out, "audience_availability", mon, 70.0 / 90.0);
    assert_null_on(&out, "audience_availability", (d(2023, 1, 6), "meta", "A"));

    // Conversion likelihood: the weekday's historical conversion rate.
    assert_at(&out, "conversion_likelihood", sat, 0.08);
    assert_at(&out, "conversion_likelihood", wed, 0.05);
    assert_null_on(&out, "conversion_likelihood", (d(2023, 1, 1), "meta", "A"));
    let google_wed = row(&out, d(2023, 6, 7), "google_ads", "C");
    assert_at(&out, "conversion_likelihood", google_wed, 0.03);
}

#[test]
fn user_supplied_pressure_series() {
    let data = campaign_data(d(2023, 3, 31));
    // An industry index rising every day: each day is above all earlier days -> "high".
    let series: Vec<(NaiveDate, f64)> = (0..89)
        .map(|k| (d(2023, 1, 1) + Days::new(k), k as f64))
        .collect();
    let opts = MarketingOptions::default()
        .with_pressure_series(series)
        .with_min_pressure_history(10);
    let out = add_marketing_features_with(&calendar_2023(), &data, &opts).unwrap();
    let p = column::<StringArray>(&out, "competitive_pressure");
    assert!(p.is_null(row(&out, d(2023, 1, 5), "meta", "A")));
    assert_eq!(p.value(row(&out, d(2023, 3, 1), "google_ads", "C")), "high");
    assert!(p.is_null(row(&out, d(2023, 3, 31), "meta", "A"))); // no series value that day
}

#[test]
fn bad_inputs_name_the_problem() {
    let data = campaign_data(d(2023, 1, 31));
    let short_cal = default_calendar(d(2023, 1, 10), d(2023, 1, 31)).unwrap();
    match add_marketing_features(&short_cal, &data) {
        Err(Error::DateOutsideCalendar { row, date }) => {
            assert_eq!((row, date), (0, d(2023, 1, 1)))
        }
        other => panic!("{other:?}"),
    }
    let no_spend = data.project(&[0, 1, 2, 4, 5, 6, 7]).unwrap();
    let e = add_marketing_features(&calendar_2023(), &no_spend).unwrap_err();
    assert!(
        matches!(e, Error::MissingColumn { ref column, .. } if column == "spend"),
        "{e}"
    );
    let mut cols = data.columns().to_vec();
    let mut spend: Vec<Option<f64>> = vec![Some(1.0); data.num_rows()];
    spend[3] = Some(-5.0);
    cols[3] = Arc::new(Float64Array::from(spend));
    let neg = RecordBatch::try_new(data.schema(), cols).unwrap();
    let e = add_marketing_features(&calendar_2023(), &neg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 3") && e.contains("spend"), "{e}");
}
