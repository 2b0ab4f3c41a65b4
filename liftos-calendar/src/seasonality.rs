//! The `seasonality_index` feature.
//!
//! **With history** (a table of `(date, outcome)`), for a calendar day `t` with bucket
//! `b(t)` (day of year on a leap-year scale 1–366, so March 1 is always 61; or ISO week
//! 1–53):
//!
//! 1. daily outcome `y(d)` = sum of the outcome rows of day `d`;
//! 2. the history used is `H(t) = { d : d < t }` when `leakage_safe` (the default), or every
//!    history day otherwise (descriptive use only: it looks into the future);
//! 3. smoothed bucket mean `M(b) = Σ y(d) / #d` over `d ∈ H(t)` whose bucket is within
//!    `window` buckets of `b` (circularly, so late December neighbours early January);
//!    a bucket with no such day takes the overall mean of `H(t)`;
//! 4. `seasonality_index(t) = M(b(t)) / mean_b M(b)`, the mean running over all buckets, so
//!    the index averages 1.0 over the year.
//!
//! When `H(t)` is empty (or its outcomes are all zero) the index is 1.0 (no information).
//!
//! **Without history** the index is a fixed Fourier curve of the day of year `t`:
//! `1 + Σ_k A_k · cos(2π·k·(t − p_k) / 365.25)`, whose mean over a year is 1.0. The default
//! terms, `(k=1, A=0.15, p=350)` and `(k=2, A=0.05, p=350)`, describe a generic retail year:
//! a peak in mid-December, a smaller lift in mid-June and troughs in late February/March and
//! September. It is a prior, not an estimate: supply history (or your own terms) for data.

use arrow::array::{Array, RecordBatch};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::columns::{date32, float64};
use crate::{Error, Result, date32_to_naive};

/// Bucket of the seasonality index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Day of year on a leap-year scale (1–366).
    #[default]
    DayOfYear,
    /// ISO week of year (1–53).
    WeekOfYear,
}

/// One Fourier term of the default seasonality curve:
/// `amplitude · cos(2π·order·(day_of_year − peak_day) / 365.25)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FourierTerm {
    /// Harmonic order (1 = yearly, 2 = half-yearly, ...).
    pub order: u32,
    /// Amplitude relative to 1.0.
    pub amplitude: f64,
    /// Day of year at which this term peaks.
    pub peak_day: f64,
}

/// Seasonality index settings.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `granularity` | `day_of_year` | bucket of the history index | `day_of_year`, `week_of_year` |
/// | `window` | 7 days / 1 week | half-width of the smoothing window, in buckets | 0–26 |
/// | `leakage_safe` | `true` | use only history before each day | bool |
/// | `fourier` | `[(1, 0.15, 350), (2, 0.05, 350)]` | default curve without history | Σ\|A\| < 1 |
/// | `history` | empty (code only) | `(date, outcome)` rows | outcomes finite, ≥ 0 |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalityOptions {
    /// Day-of-year or week-of-year buckets.
    pub granularity: Granularity,
    /// Smoothing half-width in buckets (`None`: 7 for days, 1 for weeks).
    pub window: Option<u32>,
    /// Use only history strictly before each calendar day.
    pub leakage_safe: bool,
    /// Terms of the default curve used when there is no history.
    pub fourier: Vec<FourierTerm>,
    /// History rows `(date, outcome)`; set in code with [`Self::with_history`].
    #[serde(skip)]
    pub history: Vec<(NaiveDate, f64)>,
}

impl Default for SeasonalityOptions {
    fn default() -> Self {
        Self {
            granularity: Granularity::DayOfYear,
            window: None,
            leakage_safe: true,
            fourier: vec![
                FourierTerm {
                    order: 1,
                    amplitude: 0.15,
                    peak_day: 350.0,
                },
                FourierTerm {
                    order: 2,
                    amplitude: 0.05,
                    peak_day: 350.0,
                },
            ],
            history: Vec::new(),
        }
    }
}

impl SeasonalityOptions {
    /// Sets the history rows.
    pub fn with_history(mut self, rows: impl IntoIterator<Item = (NaiveDate, f64)>) -> Self {
        self.history = rows.into_iter().collect();
        self
    }

    /// Sets the history from a table's `date_column` (Date32) and `outcome_column`
    /// (any numeric type); rows with a null outcome are skipped.
    pub fn with_history_batch(
        mut self,
        batch: &RecordBatch,
        date_column: &str,
        outcome_column: &str,
    ) -> Result<Self> {
        let table = "history";
        let dates = date32(batch, table, date_column)?;
        let outcome = float64(batch, table, outcome_column)?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            if dates.is_null(i) {
                return Err(Error::InvalidValue {
                    table: table.into(),
                    row: i,
                    column: date_column.into(),
                    reason: "date is null".into(),
                });
            }
            if outcome.is_null(i) {
                continue;
            }
            rows.push((date32_to_naive(dates.value(i)), outcome.value(i)));
        }
        self.history = rows;
        Ok(self)
    }

    liftos_core::setters! {
        /// Sets `leakage_safe`.
        with_leakage_safe(on: bool) => self.leakage_safe = on;
        /// Sets the granularity.
        with_granularity(granularity: Granularity);
        /// Sets the smoothing half-width in buckets.
        with_window(window: u32) => Some(window);
        /// Sets the default Fourier terms.
        with_fourier(terms: impl IntoIterator<Item = FourierTerm>)
            => self.fourier = terms.into_iter().collect();
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(w) = self.window
            && w > 26
        {
            return Err(Error::InvalidOption {
                key: "seasonality.window".into(),
                reason: format!("{w} must be in 0..=26"),
            });
        }
        let mut total = 0.0;
        for (i, t) in self.fourier.iter().enumerate() {
            if t.order == 0 || !t.amplitude.is_finite() || !t.peak_day.is_finite() {
                return Err(Error::InvalidOption {
                    key: format!("seasonality.fourier[{i}]"),
                    reason: "order must be ≥ 1, amplitude and peak_day finite".into(),
                });
            }
            total += t.amplitude.abs();
        }
        if total >= 1.0 {
            return Err(Error::InvalidOption {
                key: "seasonality.fourier".into(),
                reason: format!(
                    "sum of |amplitude| is {total}; it must be < 1 to keep the index positive"
                ),
            });
        }
        for (i, (d, y)) in self.history.iter().enumerate() {
            if !y.is_finite() || *y < 0.0 {
                return Err(Error::InvalidValue {
                    table: "history".into(),
                    row: i,
                    column: "outcome".into(),
                    reason: format!("outcome {y} on {d} must be finite and ≥ 0"),
                });
            }
        }
        Ok(())
    }
}

/// Bucket index (0-based) and bucket count.
fn bucket(d: NaiveDate, g: Granularity) -> usize {
    match g {
        Granularity::DayOfYear => NaiveDate::from_ymd_opt(2000, d.month(), d.day())
            .map(|x| x.ordinal0() as usize)
            .unwrap_or(0),
        Granularity::WeekOfYear => d.iso_week().week0() as usize,
    }
}

fn bucket_count(g: Granularity) -> usize {
    match g {
        Granularity::DayOfYear => 366,
        Granularity::WeekOfYear => 53,
    }
}

/// Running smoothed bucket means, with the sum of the non-empty buckets' means kept up to
/// date so each index costs O(1) and each added day O(window).
struct Accumulator {
    window_sum: Vec<f64>,
    window_count: Vec<f64>,
    total_sum: f64,
    total_count: f64,
    window: usize,
    /// Σ of `window_sum / window_count` over buckets with data.
    filled_mean_sum: f64,
    /// Number of buckets with no data in their window.
    empty: usize,
}

impl Accumulator {
    fn new(n: usize, window: usize) -> Self {
        Self {
            window_sum: vec![0.0; n],
            window_count: vec![0.0; n],
            total_sum: 0.0,
            total_count: 0.0,
            window: window.min(n / 2),
            filled_mean_sum: 0.0,
            empty: n,
        }
    }

    fn add(&mut self, b: usize, y: f64) {
        let n = self.window_sum.len();
        let w = self.window;
        for j in 0..=2 * w {
            let k = (b + n + j - w) % n;
            if self.window_count[k] > 0.0 {
                self.filled_mean_sum -= self.window_sum[k] / self.window_count[k];
            } else {
                self.empty -= 1;
            }
            self.window_sum[k] += y;
            self.window_count[k] += 1.0;
            self.filled_mean_sum += self.window_sum[k] / self.window_count[k];
        }
        self.total_sum += y;
        self.total_count += 1.0;
    }

    fn index(&self, b: usize) -> f64 {
        if self.total_count == 0.0 {
            return 1.0;
        }
        let overall = self.total_sum / self.total_count;
        let n = self.window_sum.len() as f64;
        let mean = (self.filled_mean_sum + self.empty as f64 * overall) / n;
        if mean <= 0.0 {
            return 1.0;
        }
        let m = if self.window_count[b] > 0.0 {
            self.window_sum[b] / self.window_count[b]
        } else {
            overall
        };
        m / mean
    }
}

/// The index for each date of `dates` (ascending).
pub(crate) fn seasonality_index(dates: &[NaiveDate], opts: &SeasonalityOptions) -> Vec<f64> {
    if opts.history.is_empty() {
        return dates
            .iter()
            .map(|d| {
                let t = d.ordinal() as f64;
                1.0 + opts
                    .fourier
                    .iter()
                    .map(|f| {
                        f.amplitude
                            * (2.0 * std::f64::consts::PI * f.order as f64 * (t - f.peak_day)
                                / 365.25)
                                .cos()
                    })
                    .sum::<f64>()
            })
            .collect();
    }
    // Daily totals, ascending.
    let mut hist = opts.history.clone();
    hist.sort_by_key(|(d, _)| *d);
    let mut daily: Vec<(NaiveDate, f64)> = Vec::with_capacity(hist.len());
    for (d, y) in hist {
        match daily.last_mut() {
            Some((ld, ly)) if *ld == d => *ly += y,
            _ => daily.push((d, y)),
        }
    }
    let g = opts.granularity;
    let window = opts.window.unwrap_or(match g {
        Granularity::DayOfYear => 7,
        Granularity::WeekOfYear => 1,
    }) as usize;
    let mut acc = Accumulator::new(bucket_count(g), window);
    if !opts.leakage_safe {
        for (d, y) in &daily {
            acc.add(bucket(*d, g), *y);
        }
        return dates.iter().map(|d| acc.index(bucket(*d, g))).collect();
    }
    let mut next = 0;
    dates
        .iter()
        .map(|t| {
            while next < daily.len() && daily[next].0 < *t {
                acc.add(bucket(daily[next].0, g), daily[next].1);
                next += 1;
            }
            acc.index(bucket(*t, g))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(start: NaiveDate, n: usize) -> Vec<NaiveDate> {
        (0..n)
            .map(|i| start + chrono::Days::new(i as u64))
            .collect()
    }

    #[test]
    fn fourier_default_averages_one_and_peaks_in_december() {
        let ds = days(NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(), 365);
        let idx = seasonality_index(&ds, &SeasonalityOptions::default());
        let mean = idx.iter().sum::<f64>() / idx.len() as f64;
        assert!((mean - 1.0).abs() < 1e-3, "mean {mean}");
        let (argmax, _) = idx
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        assert_eq!(ds[argmax].month(), 12);
    }

    #[test]
    fn history_index_recovers_a_known_pattern() {
        // Outcome doubles in December: the December index must be ~2× the rest.
        let ds = days(NaiveDate::from_ymd_opt(2019, 1, 1).unwrap(), 365 * 4 + 1);
        let hist: Vec<_> = ds
            .iter()
            .map(|d| (*d, if d.month() == 12 { 200.0 } else { 100.0 }))
            .collect();
        let opts = SeasonalityOptions::default()
            .with_history(hist)
            .with_leakage_safe(false)
            .with_window(0);
        let idx = seasonality_index(&ds, &opts);
        let mean = idx.iter().sum::<f64>() / idx.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        let jul = idx[ds.iter().position(|d| d.month() == 7).unwrap()];
        let dec = idx[ds.iter().position(|d| d.month() == 12).unwrap()];
        assert!((dec / jul - 2.0).abs() < 1e-9, "dec/jul {}", dec / jul);
    }

    #[test]
    fn week_of_year_buckets_and_history_from_a_table() {
        use std::sync::Arc;

        use arrow::array::{Date32Array, Int64Array};
        use arrow::datatypes::{DataType, Field, Schema};

        let ds = days(NaiveDate::from_ymd_opt(2021, 1, 4).unwrap(), 52 * 7 * 2);
        // Outcome 300 in ISO week 10, 100 elsewhere.
        let ys: Vec<i64> = ds
            .iter()
            .map(|d| if d.iso_week().week() == 10 { 300 } else { 100 })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("date", DataType::Date32, false),
                Field::new("revenue", DataType::Int64, false),
            ])),
            vec![
                Arc::new(Date32Array::from_iter_values(
                    ds.iter().map(|d| crate::naive_to_date32(*d)),
                )),
                Arc::new(Int64Array::from(ys)),
            ],
        )
        .unwrap();
        let opts = SeasonalityOptions::default()
            .with_granularity(Granularity::WeekOfYear)
            .with_window(0)
            .with_leakage_safe(false)
            .with_history_batch(&batch, "date", "revenue")
            .unwrap();
        let idx = seasonality_index(&ds, &opts);
        let w10 = idx[ds.iter().position(|d| d.iso_week().week() == 10).unwrap()];
        let w20 = idx[ds.iter().position(|d| d.iso_week().week() == 20).unwrap()];
        assert!((w10 / w20 - 3.0).abs() < 1e-9, "{w10} / {w20}");
        let err = SeasonalityOptions::default()
            .with_history_batch(&batch, "date", "sales")
            .unwrap_err();
        assert!(err.to_string().contains("sales"), "{err}");
    }

    #[test]
    fn leakage_safe_starts_neutral() {
        let ds = days(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(), 10);
        let hist: Vec<_> = ds
            .iter()
            .map(|d| (*d, (d.day() * d.day()) as f64))
            .collect();
        let idx = seasonality_index(&ds, &SeasonalityOptions::default().with_history(hist));
        assert_eq!(idx[0], 1.0);
        assert!(idx[5] != 1.0);
    }
}
