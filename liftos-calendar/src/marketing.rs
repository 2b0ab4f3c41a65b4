//! Marketing features derived from campaign data (the unified table).
//!
//! [`add_marketing_features`] returns the campaign rows (all their columns, in their
//! order), the calendar columns of each row's date, and these features. None of them uses
//! data dated after the row it describes; statistics over history use only days strictly
//! before the row's date; same-day quantities use only the row's own date.
//!
//! | column | type | definition |
//! |---|---|---|
//! | `campaign_flight_days` | Int32 | days since the first day on which the row's (channel, campaign) had spend > 0 or impressions > 0; 0 on that day; null before it |
//! | `active_campaigns` | Int64 | number of distinct (channel, campaign) pairs with spend > 0 or impressions > 0 on the row's date (all channels) |
//! | `media_cost_index` | Float64 | the channel's CPM on the row's date (1000 · Σspend / Σimpressions) divided by the median of its daily CPMs over the 28 days before; null with fewer than `min_cost_history` such days |
//! | `competitive_pressure` | Utf8 | `low` / `medium` / `high` when the day's value of the pressure series is ≤ the lower tercile, between, or > the upper tercile of the series' values on all earlier days (at least `min_pressure_history` of them, else null). The series is the channel's `media_cost_index`, a **proxy** for auction competition, unless you supply your own (e.g. industry CPM data) in [`MarketingOptions::pressure_series`] |
//! | `audience_availability` | Float64 | the channel's impressions per unit of spend on the row's weekday, over all earlier days, divided by the mean of that ratio over the 7 weekdays; null until every weekday has spend |
//! | `conversion_likelihood` | Float64 | the channel's conversion rate (Σconversions / Σclicks) on the row's weekday over all earlier days; null while that weekday has no clicks |

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt32Array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, NaiveDate};

use crate::columns::{column, date32, downcast, float64, wrong_type};
use crate::{Error, Result, date32_to_naive};

/// Options of [`add_marketing_features_with`].
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `cost_window_days` | 28 | trailing window of the media cost index median | 1–365 |
/// | `min_cost_history` | 7 | CPM days needed in that window | 1–`cost_window_days` |
/// | `min_pressure_history` | 28 | earlier values needed for the pressure terciles | ≥ 3 |
/// | `pressure_series` | none | your own competitive pressure series `(date, value)` | finite values |
#[derive(Debug, Clone, PartialEq)]
pub struct MarketingOptions {
    /// Trailing window (days before the row) for the CPM median.
    pub cost_window_days: u32,
    /// Minimum number of days with a CPM in that window.
    pub min_cost_history: u32,
    /// Minimum number of earlier values for the terciles.
    pub min_pressure_history: u32,
    /// Your own pressure series (e.g. industry CPMs); replaces the media-cost proxy.
    pub pressure_series: Option<Vec<(NaiveDate, f64)>>,
}

impl Default for MarketingOptions {
    fn default() -> Self {
        Self {
            cost_window_days: 28,
            min_cost_history: 7,
            min_pressure_history: 28,
            pressure_series: None,
        }
    }
}

impl MarketingOptions {
    /// Sets your own competitive pressure series.
    pub fn with_pressure_series(
        mut self,
        series: impl IntoIterator<Item = (NaiveDate, f64)>,
    ) -> Self {
        self.pressure_series = Some(series.into_iter().collect());
        self
    }

    /// Sets the CPM window and the minimum days in it.
    pub fn with_cost_window(mut self, days: u32, min_days: u32) -> Self {
        self.cost_window_days = days;
        self.min_cost_history = min_days;
        self
    }

    /// Sets the minimum history for the pressure terciles.
    pub fn with_min_pressure_history(mut self, n: u32) -> Self {
        self.min_pressure_history = n;
        self
    }

    fn validate(&self) -> Result<()> {
        if !(1..=365).contains(&self.cost_window_days) {
            return Err(Error::InvalidOption {
                key: "cost_window_days".into(),
                reason: format!("{} must be in 1..=365", self.cost_window_days),
            });
        }
        if self.min_cost_history == 0 || self.min_cost_history > self.cost_window_days {
            return Err(Error::InvalidOption {
                key: "min_cost_history".into(),
                reason: format!(
                    "{} must be in 1..={}",
                    self.min_cost_history, self.cost_window_days
                ),
            });
        }
        if self.min_pressure_history < 3 {
            return Err(Error::InvalidOption {
                key: "min_pressure_history".into(),
                reason: format!("{} must be at least 3", self.min_pressure_history),
            });
        }
        if let Some(series) = &self.pressure_series {
            for (i, (d, v)) in series.iter().enumerate() {
                if !v.is_finite() {
                    return Err(Error::InvalidValue {
                        table: "pressure_series".into(),
                        row: i,
                        column: "value".into(),
                        reason: format!("value {v} on {d} is not finite"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Names of the feature columns added, in order.
pub const MARKETING_COLUMNS: [&str; 6] = [
    "campaign_flight_days",
    "active_campaigns",
    "media_cost_index",
    "competitive_pressure",
    "audience_availability",
    "conversion_likelihood",
];

/// [`add_marketing_features_with`] with default options.
pub fn add_marketing_features(
    calendar: &RecordBatch,
    campaign_data: &RecordBatch,
) -> Result<RecordBatch> {
    add_marketing_features_with(calendar, campaign_data, &MarketingOptions::default())
}

const TABLE: &str = "campaign_data";

fn as_f64(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let arr = float64(batch, TABLE, name)?;
    for i in 0..arr.len() {
        if arr.is_valid(i) && (!arr.value(i).is_finite() || arr.value(i) < 0.0) {
            return Err(Error::InvalidValue {
                table: TABLE.into(),
                row: i,
                column: name.into(),
                reason: format!("{} must be finite and ≥ 0", arr.value(i)),
            });
        }
    }
    Ok(arr)
}

fn as_str(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let col = column(batch, TABLE, name)?;
    if !matches!(
        col.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    ) {
        return Err(wrong_type(TABLE, name, "Utf8", col.data_type()));
    }
    let arr: StringArray = downcast(&cast(col, &DataType::Utf8)?, TABLE, name, "Utf8")?;
    if let Some(i) = (0..arr.len()).find(|i| arr.is_null(*i)) {
        return Err(Error::InvalidValue {
            table: TABLE.into(),
            row: i,
            column: name.into(),
            reason: "value is null".into(),
        });
    }
    Ok(arr)
}

fn as_dates(batch: &RecordBatch, table: &str) -> Result<Date32Array> {
    let arr = date32(batch, table, "date")?;
    if let Some(i) = (0..arr.len()).find(|i| arr.is_null(*i)) {
        return Err(Error::InvalidValue {
            table: table.into(),
            row: i,
            column: "date".into(),
            reason: "date is null".into(),
        });
    }
    Ok(arr)
}

/// Daily totals of one channel.
#[derive(Debug, Default, Clone, Copy)]
struct Day {
    spend: f64,
    impressions: f64,
    clicks: f64,
    conversions: f64,
}

/// Per-(channel, date) features.
#[derive(Debug, Default, Clone, Copy)]
struct DayFeatures {
    media_cost_index: Option<f64>,
    audience_availability: Option<f64>,
    conversion_likelihood: Option<f64>,
}

/// Adds the calendar columns and the marketing features to every row of `campaign_data`
/// (the unified table: `date` Date32, `channel`, `campaign` Utf8, `spend`, `impressions`,
/// `clicks`, `conversions` numeric). See the [module docs](self) for each definition.
///
/// Errors name the missing or mistyped column, or the row with a null key, a negative or
/// non-finite metric, or a date the calendar does not cover.
pub fn add_marketing_features_with(
    calendar: &RecordBatch,
    campaign_data: &RecordBatch,
    options: &MarketingOptions,
) -> Result<RecordBatch> {
    options.validate()?;
    let cal_dates = as_dates(calendar, "calendar")?;
    let cal_index: HashMap<i32, u32> = (0..cal_dates.len())
        .map(|i| (cal_dates.value(i), i as u32))
        .collect();
    let dates = as_dates(campaign_data, TABLE)?;
    let channel = as_str(campaign_data, "channel")?;
    let campaign = as_str(campaign_data, "campaign")?;
    let spend = as_f64(campaign_data, "spend")?;
    let impressions = as_f64(campaign_data, "impressions")?;
    let clicks = as_f64(campaign_data, "clicks")?;
    let conversions = as_f64(campaign_data, "conversions")?;
    let n = campaign_data.num_rows();

    // Output names must not collide.
    let cal_schema = calendar.schema();
    let input_schema = campaign_data.schema();
    for f in cal_schema.fields().iter().filter(|f| f.name() != "date") {
        if input_schema.column_with_name(f.name()).is_some() {
            return Err(Error::DuplicateColumn {
                column: f.name().clone(),
            });
        }
    }
    for name in MARKETING_COLUMNS {
        if input_schema.column_with_name(name).is_some()
            || cal_schema.column_with_name(name).is_some()
        {
            return Err(Error::DuplicateColumn {
                column: name.to_string(),
            });
        }
    }

    let val = |a: &Float64Array, i: usize| if a.is_valid(i) { a.value(i) } else { 0.0 };
    let mut take_idx = Vec::with_capacity(n);
    let mut days: BTreeMap<(&str, i32), Day> = BTreeMap::new();
    let mut active: HashMap<i32, HashSet<(&str, &str)>> = HashMap::new();
    let mut first_active: HashMap<(&str, &str), i32> = HashMap::new();
    for i in 0..n {
        let d = dates.value(i);
        let Some(k) = cal_index.get(&d) else {
            return Err(Error::DateOutsideCalendar {
                row: i,
                date: date32_to_naive(d),
            });
        };
        take_idx.push(*k);
        let ch = channel.value(i);
        let key = (ch, campaign.value(i));
        let day = days.entry((ch, d)).or_default();
        day.spend += val(&spend, i);
        day.impressions += val(&impressions, i);
        day.clicks += val(&clicks, i);
        day.conversions += val(&conversions, i);
        if val(&spend, i) > 0.0 || val(&impressions, i) > 0.0 {
            active.entry(d).or_default().insert(key);
            first_active
                .entry(key)
                .and_modify(|f| *f = (*f).min(d))
                .or_insert(d);
        }
    }

    // Per-channel daily features, walking each channel's days in date order.
    let mut features: HashMap<(&str, i32), DayFeatures> = HashMap::new();
    let mut mci_series: HashMap<&str, Vec<(i32, f64)>> = HashMap::new();
    let channels: Vec<&str> = {
        let mut c: Vec<&str> = days.keys().map(|(c, _)| *c).collect();
        c.dedup();
        c
    };
    for ch in &channels {
        let series: Vec<(i32, Day)> = days
            .range((*ch, i32::MIN)..=(*ch, i32::MAX))
            .map(|((_, d), v)| (*d, *v))
            .collect();
        let cpm: Vec<Option<f64>> = series
            .iter()
            .map(|(_, v)| (v.impressions > 0.0).then(|| 1000.0 * v.spend / v.impressions))
            .collect();
        // Weekday sums over earlier days.
        let mut wd_impr = [0.0f64; 7];
        let mut wd_spend = [0.0f64; 7];
        let mut wd_conv = [0.0f64; 7];
        let mut wd_clicks = [0.0f64; 7];
        let mut lo = 0usize; // first index inside the trailing window
        let mut mci_out = Vec::new();
        for (j, (d, v)) in series.iter().enumerate() {
            let wd = date32_to_naive(*d).weekday().num_days_from_monday() as usize;
            // Media cost index: median CPM over [d - window, d - 1].
            while series[lo].0 < d - options.cost_window_days as i32 {
                lo += 1;
            }
            let mut window: Vec<f64> = (lo..j).filter_map(|k| cpm[k]).collect();
            let media_cost_index = if window.len() >= options.min_cost_history as usize {
                window.sort_by(f64::total_cmp);
                let m = window.len();
                let median = if m % 2 == 1 {
                    window[m / 2]
                } else {
                    (window[m / 2 - 1] + window[m / 2]) / 2.0
                };
                match cpm[j] {
                    Some(c) if median > 0.0 => Some(c / median),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(x) = media_cost_index {
                mci_out.push((*d, x));
            }
            let audience_availability = if wd_spend.iter().all(|s| *s > 0.0) {
                let ratios: Vec<f64> = (0..7).map(|k| wd_impr[k] / wd_spend[k]).collect();
                let mean = ratios.iter().sum::<f64>() / 7.0;
                (mean > 0.0).then(|| ratios[wd] / mean)
            } else {
                None
            };
            let conversion_likelihood = (wd_clicks[wd] > 0.0).then(|| wd_conv[wd] / wd_clicks[wd]);
            features.insert(
                (*ch, *d),
                DayFeatures {
                    media_cost_index,
                    audience_availability,
                    conversion_likelihood,
                },
            );
            // Only now does this day join the history of later days.
            wd_impr[wd] += v.impressions;
            wd_spend[wd] += v.spend;
            wd_conv[wd] += v.conversions;
            wd_clicks[wd] += v.clicks;
        }
        mci_series.insert(*ch, mci_out);
    }

    // Competitive pressure: terciles of earlier values of the pressure series.
    let min_hist = options.min_pressure_history as usize;
    let mut pressure: HashMap<(&str, i32), &'static str> = HashMap::new();
    let mut own: HashMap<i32, &'static str> = HashMap::new();
    if let Some(series) = &options.pressure_series {
        let mut s: Vec<(i32, f64)> = series
            .iter()
            .map(|(d, v)| (crate::naive_to_date32(*d), *v))
            .collect();
        s.sort_by_key(|(d, _)| *d);
        for (d, level) in tercile_levels(&s, min_hist) {
            own.insert(d, level);
        }
    } else {
        for (ch, s) in &mci_series {
            for (d, level) in tercile_levels(s, min_hist) {
                pressure.insert((*ch, d), level);
            }
        }
    }

    // Assemble the output.
    let take_idx = UInt32Array::from(take_idx);
    let mut fields = input_schema.fields().to_vec();
    let mut arrays: Vec<ArrayRef> = campaign_data.columns().to_vec();
    for (f, col) in cal_schema.fields().iter().zip(calendar.columns()) {
        if f.name() == "date" {
            continue;
        }
        fields.push(f.clone());
        arrays.push(take(col.as_ref(), &take_idx, None)?);
    }
    let mut flight = Vec::with_capacity(n);
    let mut active_n = Vec::with_capacity(n);
    let mut mci = Vec::with_capacity(n);
    let mut press = Vec::with_capacity(n);
    let mut aa = Vec::with_capacity(n);
    let mut cl = Vec::with_capacity(n);
    for i in 0..n {
        let d = dates.value(i);
        let ch = channel.value(i);
        let key = (ch, campaign.value(i));
        flight.push(first_active.get(&key).filter(|f| **f <= d).map(|f| d - f));
        active_n.push(active.get(&d).map_or(0, |s| s.len() as i64));
        let f = features.get(&(ch, d)).copied().unwrap_or_default();
        mci.push(f.media_cost_index);
        aa.push(f.audience_availability);
        cl.push(f.conversion_likelihood);
        press.push(if options.pressure_series.is_some() {
            own.get(&d).copied()
        } else {
            pressure.get(&(ch, d)).copied()
        });
    }
    // The features, after the calendar's columns: (name, nullable) and the column.
    const ADDED: [(&str, bool); 6] = [
        ("campaign_flight_days", true),
        ("active_campaigns", false),
        ("media_cost_index", true),
        ("competitive_pressure", true),
        ("audience_availability", true),
        ("conversion_likelihood", true),
    ];
    let added: [ArrayRef; 6] = [
        Arc::new(Int32Array::from(flight)),
        Arc::new(Int64Array::from(active_n)),
        Arc::new(Float64Array::from(mci)),
        Arc::new(StringArray::from(press)),
        Arc::new(Float64Array::from(aa)),
        Arc::new(Float64Array::from(cl)),
    ];
    for ((name, nullable), array) in ADDED.into_iter().zip(added) {
        fields.push(Field::new(name, array.data_type().clone(), nullable).into());
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// For a date-sorted series, the level of each value against the terciles of all earlier
/// values (needs `min_hist` earlier values).
fn tercile_levels(series: &[(i32, f64)], min_hist: usize) -> Vec<(i32, &'static str)> {
    let mut sorted: Vec<f64> = Vec::with_capacity(series.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < series.len() {
        // All values of the same date are judged against strictly earlier dates.
        let d = series[i].0;
        let mut j = i;
        while j < series.len() && series[j].0 == d {
            j += 1;
        }
        if sorted.len() >= min_hist {
            let q1 = quantile(&sorted, 1.0 / 3.0);
            let q2 = quantile(&sorted, 2.0 / 3.0);
            // Last value of the date wins for a duplicated date.
            let v = series[j - 1].1;
            let level = if v <= q1 {
                "low"
            } else if v > q2 {
                "high"
            } else {
                "medium"
            };
            out.push((d, level));
        }
        for (_, v) in &series[i..j] {
            let pos = sorted.partition_point(|x| x < v);
            sorted.insert(pos, *v);
        }
        i = j;
    }
    out
}

/// Linear-interpolation quantile of sorted values (type 7, as numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_default() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile(&v, 1.0 / 3.0) - 2.0).abs() < 1e-12);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn tercile_levels_use_only_earlier_values() {
        let s: Vec<(i32, f64)> = (0..6).map(|d| (d, d as f64)).collect();
        let lv = tercile_levels(&s, 3);
        // Day 3 (value 3) against [0,1,2]: above the upper tercile.
        assert_eq!(lv[0], (3, "high"));
        assert_eq!(lv.len(), 3);
    }
}
