//! The business-level analysis from files: the business's own revenue per day
//! (`--business-outcome`), every channel's spend from the unified table, and lift tests
//! (`--lift-tests`) as calibration ([`liftos_causal::business`]).
//!
//! Business outcome file (CSV or Parquet): `date` (YYYY-MM-DD), `revenue` (≥ 0), optional
//! `orders` and `geo`. Every day between the first and the last must be present once (once
//! per geo with a `geo` column; geos are summed per day, the model is national).
//!
//! Lift-test file (CSV or Parquet): `channel`, `start`, `end` (YYYY-MM-DD, inclusive),
//! `incremental_revenue` or `iroas`, `standard_error` (in the unit of the measurement), and
//! an optional `geo` (tests are read as national).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use liftos_causal::business::{BusinessData, BusinessOptions, BusinessResults, LiftTest, SpendRow};

use crate::{Error, Result};

/// The business's revenue per day, as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessOutcome {
    /// Every day from the first to the last, in order.
    pub dates: Vec<NaiveDate>,
    /// Revenue of each day (summed over geos).
    pub revenue: Vec<f64>,
    /// Number of geos in the file (1 without a `geo` column).
    pub geos: usize,
}

fn input_error(path: &Path, row: Option<usize>, field: &str, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.display().to_string(),
        row,
        field: field.to_string(),
        message: message.into(),
    }
}

/// The column `name` of `table`: the one of that exact name, else the one whose name is
/// `name` but for letter case and surrounding spaces (`Date`, ` Revenue ` from a
/// spreadsheet export); `None` when there is none; an error naming both when two columns
/// match that way.
fn find_column<'a>(
    path: &Path,
    table: &'a RecordBatch,
    name: &str,
) -> Result<Option<&'a ArrayRef>> {
    if let Some(c) = table.column_by_name(name) {
        return Ok(Some(c));
    }
    let schema = table.schema();
    let alike: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name().trim().eq_ignore_ascii_case(name))
        .collect();
    match alike[..] {
        [] => Ok(None),
        [i] => Ok(Some(table.column(i))),
        [a, b, ..] => Err(input_error(
            path,
            None,
            name,
            format!(
                "two columns could be it: `{}` and `{}`; rename one",
                schema.field(a).name(),
                schema.field(b).name()
            ),
        )),
    }
}

/// A column of `table` as text, row by row (`None` for nulls), or an error naming it
/// ([`find_column`] finds it).
fn text_column(path: &Path, table: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let Some(col) = find_column(path, table, name)? else {
        return Err(input_error(
            path,
            None,
            name,
            format!(
                "the column is missing; the file has: {}",
                liftos_core::column_list(&table.schema())
            ),
        ));
    };
    let text = arrow::compute::cast(col, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    Ok((0..text.len())
        .map(|i| text.is_valid(i).then(|| text.value(i).trim().to_string()))
        .collect())
}

/// Whether `table` has the column `name` as [`find_column`] finds it (an ambiguous name
/// counts: reading it gives the error).
fn has_column(table: &RecordBatch, name: &str) -> bool {
    !matches!(find_column(Path::new(""), table, name), Ok(None))
}

fn parse_date(path: &Path, row: usize, field: &str, v: Option<&String>) -> Result<NaiveDate> {
    let v = v.ok_or_else(|| input_error(path, Some(row), field, "is empty"))?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        input_error(
            path,
            Some(row),
            field,
            format!("`{v}` is not a date (YYYY-MM-DD)"),
        )
    })
}

fn parse_number(path: &Path, row: usize, field: &str, v: Option<&String>) -> Result<f64> {
    let v = v.ok_or_else(|| input_error(path, Some(row), field, "is empty"))?;
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(input_error(
            path,
            Some(row),
            field,
            format!("`{v}` is not a number"),
        )),
    }
}

/// Reads a business-outcome file. Rows are numbered from 1 (the first data row; a CSV
/// file's line is the row + 1).
///
/// # Errors
///
/// [`Error::Input`] naming the file, the row and the field: a missing column (names match
/// regardless of letter case and surrounding spaces when no column has the exact name),
/// two columns that could be the same one, a bad date, a negative or non-numeric revenue,
/// a date (or date and geo) given twice, a missing day.
pub fn read_business_outcome(path: &Path) -> Result<BusinessOutcome> {
    let table = liftos_transform::read_table(path)?;
    business_outcome_from_table(&table, path)
}

/// The business outcome of a table already in memory (the table a
/// [`ShopifyConnector`](liftos_connectors::ShopifyConnector) pulls, say); `path` names it
/// in errors. The checks of [`read_business_outcome`].
///
/// # Errors
///
/// As [`read_business_outcome`].
pub fn business_outcome_from_table(table: &RecordBatch, path: &Path) -> Result<BusinessOutcome> {
    let table = table.clone();
    let dates = text_column(path, &table, "date")?;
    let revenue = text_column(path, &table, "revenue")?;
    let geo = if has_column(&table, "geo") {
        Some(text_column(path, &table, "geo")?)
    } else {
        None
    };
    if table.num_rows() == 0 {
        return Err(input_error(path, None, "date", "the file has no rows"));
    }
    let mut by_day: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let mut seen: BTreeMap<(NaiveDate, String), usize> = BTreeMap::new();
    for i in 0..table.num_rows() {
        let row = i + 1;
        let d = parse_date(path, row, "date", dates[i].as_ref())?;
        let r = parse_number(path, row, "revenue", revenue[i].as_ref())?;
        if r < 0.0 {
            return Err(input_error(
                path,
                Some(row),
                "revenue",
                format!("{r} is negative"),
            ));
        }
        let g = geo
            .as_ref()
            .map(|g| g[i].clone().unwrap_or_default())
            .unwrap_or_default();
        if let Some(first) = seen.insert((d, g.clone()), row) {
            let what = if geo.is_some() {
                format!("{d} (geo `{g}`) is also on row {first}")
            } else {
                format!("{d} is also on row {first}")
            };
            return Err(input_error(path, Some(row), "date", what));
        }
        *by_day.entry(d).or_insert(0.0) += r;
    }
    let first = *by_day.keys().next().unwrap_or(&NaiveDate::MIN);
    let mut out = BusinessOutcome {
        dates: Vec::with_capacity(by_day.len()),
        revenue: Vec::with_capacity(by_day.len()),
        geos: seen
            .keys()
            .map(|(_, g)| g)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
    };
    for (k, (d, r)) in by_day.into_iter().enumerate() {
        let expected = first + chrono::Days::new(k as u64);
        if d != expected {
            return Err(input_error(
                path,
                None,
                "date",
                format!(
                    "{expected} is missing: the outcome needs every day from its first ({first}) to its last"
                ),
            ));
        }
        out.dates.push(d);
        out.revenue.push(r);
    }
    Ok(out)
}

/// A lift test as read, before its `iroas` (if that is what it gives) is turned into
/// revenue with the channel's spend over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftTestRow {
    /// The channel.
    pub channel: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// Measured incremental revenue, or incremental return (`is_roas`).
    pub value: f64,
    /// Standard error, in the unit of `value`.
    pub standard_error: f64,
    /// Whether `value` is an incremental return rather than revenue.
    pub is_roas: bool,
}

/// Reads a lift-test file.
///
/// # Errors
///
/// [`Error::Input`] naming the file, the row and the field.
pub fn read_lift_tests(path: &Path) -> Result<Vec<LiftTestRow>> {
    let table = liftos_transform::read_table(path)?;
    let channel = text_column(path, &table, "channel")?;
    let start = text_column(path, &table, "start")?;
    let end = text_column(path, &table, "end")?;
    let (value, is_roas) = if has_column(&table, "incremental_revenue") {
        (text_column(path, &table, "incremental_revenue")?, false)
    } else if has_column(&table, "iroas") {
        (text_column(path, &table, "iroas")?, true)
    } else {
        return Err(input_error(
            path,
            None,
            "incremental_revenue",
            "the file needs an `incremental_revenue` or an `iroas` column",
        ));
    };
    let se = text_column(path, &table, "standard_error")?;
    let mut out = Vec::new();
    for i in 0..table.num_rows() {
        let row = i + 1;
        let ch = channel[i]
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| input_error(path, Some(row), "channel", "is empty"))?;
        let s = parse_date(path, row, "start", start[i].as_ref())?;
        let e = parse_date(path, row, "end", end[i].as_ref())?;
        if e < s {
            return Err(input_error(
                path,
                Some(row),
                "end",
                format!("{e} is before the start {s}"),
            ));
        }
        let field = if is_roas {
            "iroas"
        } else {
            "incremental_revenue"
        };
        let v = parse_number(path, row, field, value[i].as_ref())?;
        let sd = parse_number(path, row, "standard_error", se[i].as_ref())?;
        if sd <= 0.0 {
            return Err(input_error(
                path,
                Some(row),
                "standard_error",
                format!("{sd} is not > 0"),
            ));
        }
        out.push(LiftTestRow {
            channel: ch,
            start: s,
            end: e,
            value: v,
            standard_error: sd,
            is_roas,
        });
    }
    Ok(out)
}

fn date32(d: NaiveDate) -> i32 {
    liftos_calendar::naive_to_date32(d)
}

/// The business-level data: the outcome's days, every channel's daily spend from the
/// unified table (`date`, `channel`, `spend`, `revenue`; rows outside the outcome's days are
/// left out), each channel's campaigns' daily spend and platform revenue when the table
/// has a `campaign` column ([`BusinessData::with_campaigns`]), and the named days of
/// `calendar` as flags of the baseline: one per public holiday and commercial event (its
/// country's and its custom events) and one per peak season. Each configured season
/// has a flag of its own even where seasons overlap (a business's own `q4` from November
/// 15 to December 24 beside the default `holiday_season`), so that the baseline can follow
/// the business's real peak: a demand period the calendar does not name moves spend and
/// revenue together and is credited to every channel (README, business-level analysis).
///
/// # Errors
///
/// A missing column of the unified table, a value that is not a date or a number
/// (naming file, row and field), no row inside the outcome's days, or the checks of
/// [`BusinessData::from_spend_rows`].
pub fn business_data(
    unified: &RecordBatch,
    unified_path: &Path,
    outcome: &BusinessOutcome,
    calendar: &liftos_calendar::CalendarOptions,
) -> Result<BusinessData> {
    let n = outcome.dates.len();
    let first = outcome.dates[0];
    let dates = text_column(unified_path, unified, "date")?;
    let channel = text_column(unified_path, unified, "channel")?;
    let spend = text_column(unified_path, unified, "spend")?;
    let revenue = text_column(unified_path, unified, "revenue")?;
    let campaign = if has_column(unified, "campaign") {
        Some(text_column(unified_path, unified, "campaign")?)
    } else {
        None
    };
    let mut rows = Vec::with_capacity(unified.num_rows());
    for i in 0..unified.num_rows() {
        let row = i + 1;
        let d = parse_date(unified_path, row, "date", dates[i].as_ref())?;
        let t = (d - first).num_days();
        if t < 0 || t >= n as i64 {
            continue;
        }
        let number = |field: &str, v: &Option<String>| match v.as_ref() {
            None => Ok(0.0),
            v => parse_number(unified_path, row, field, v),
        };
        rows.push(SpendRow {
            date: date32(d),
            channel: channel[i].as_deref().unwrap_or_default(),
            campaign: campaign
                .as_ref()
                .map(|c| c[i].as_deref().unwrap_or_default()),
            spend: number("spend", &spend[i])?,
            platform_revenue: number("revenue", &revenue[i])?,
        });
    }
    if rows.is_empty() {
        return Err(input_error(
            unified_path,
            None,
            "date",
            format!(
                "no row falls inside the business outcome's days ({first} to {})",
                outcome.dates[n - 1]
            ),
        ));
    }
    // Every column the flags come from, whatever features the options select.
    let options = liftos_calendar::CalendarOptions {
        include_features: None,
        ..calendar.clone()
    };
    let calendar =
        liftos_calendar::CalendarDimension::create_calendar(first, outcome.dates[n - 1], &options)?;
    let flag = |name: &str| -> Vec<bool> {
        calendar
            .column_by_name(name)
            .and_then(|c| {
                c.as_boolean_opt()
                    .map(|b| (0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect())
            })
            .unwrap_or_default()
    };
    let holiday = flag("is_holiday");
    let event = flag("is_commercial_event");
    // One flag per named holiday, event and peak season: each moves the baseline by its
    // own amount.
    let mut named: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for season in &options.business.peak_seasons {
        let days = flag(&format!("season_{}", season.name));
        if days.len() == n && days.iter().any(|d| *d) {
            named.insert(format!("peak_season:{}", season.name), days);
        }
    }
    for column in ["holiday_name", "event_name"] {
        let Some(c) = calendar.column_by_name(column) else {
            continue;
        };
        let Ok(text) = arrow::compute::cast(c, &DataType::Utf8) else {
            continue;
        };
        let text = text.as_string::<i32>();
        for i in 0..text.len().min(n) {
            if text.is_valid(i) && !text.value(i).is_empty() {
                named
                    .entry(format!("{column}:{}", text.value(i)))
                    .or_insert_with(|| vec![false; n])[i] = true;
            }
        }
    }
    let data = BusinessData::from_spend_rows(
        outcome.dates.iter().map(|d| date32(*d)).collect(),
        outcome.revenue.clone(),
        rows,
        if holiday.len() == n {
            holiday
        } else {
            Vec::new()
        },
        if event.len() == n { event } else { Vec::new() },
    )?;
    Ok(data.with_day_flags(named.into_iter().collect()))
}

/// The lift tests in the estimator's units: an `iroas` becomes revenue with the channel's
/// spend over the window.
///
/// # Errors
///
/// [`Error::Input`] when a test names a channel the data does not have.
pub fn lift_tests(data: &BusinessData, rows: &[LiftTestRow], path: &Path) -> Result<Vec<LiftTest>> {
    rows.iter()
        .enumerate()
        .map(|(i, t)| {
            let window = (date32(t.start), date32(t.end));
            let test = if t.is_roas {
                data.lift_test_from_iroas(&t.channel, window, t.value, t.standard_error)
            } else {
                data.channel_index(&t.channel).map(|_| LiftTest {
                    channel: t.channel.clone(),
                    start: window.0,
                    end: window.1,
                    incremental_revenue: t.value,
                    standard_error: t.standard_error,
                })
            };
            test.map_err(|_| {
                input_error(
                    path,
                    Some(i + 1),
                    "channel",
                    format!(
                        "`{}` is not a channel of the data ({})",
                        t.channel,
                        data.channels.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// Reads the files and runs the business-level analysis.
///
/// # Errors
///
/// Any error of the readers or of [`liftos_causal::analyze_business`].
pub fn analyze_business_files(
    unified_path: &Path,
    outcome_path: &Path,
    lift_tests_path: Option<&Path>,
    calendar: &liftos_calendar::CalendarOptions,
    options: &BusinessOptions,
) -> Result<(BusinessOutcome, BusinessResults)> {
    let outcome = read_business_outcome(outcome_path)?;
    let unified = liftos_transform::read_table(unified_path)?;
    let data = business_data(&unified, unified_path, &outcome, calendar)?;
    let tests = match lift_tests_path {
        Some(p) => lift_tests(&data, &read_lift_tests(p)?, p)?,
        None => Vec::new(),
    };
    let results = liftos_causal::analyze_business(&data, options, &tests)?;
    Ok((outcome, results))
}

/// A readable summary: the outcome used and why platform revenue overstates, per channel
/// the switch-off and marginal returns with intervals next to the naive (platform) return,
/// the organic share, the calibration before/after, and the warnings.
pub fn format_business(r: &BusinessResults, outcome: &BusinessOutcome) -> String {
    let pct = r.results.confidence_level * 100.0;
    let mut s = format!(
        "Outcome: the business's own revenue ({} days, {:.0} in total{}), all channels' spend together.\n\
         Platform-reported revenue is each platform's own attribution: it counts sales that would have\n\
         happened anyway and credits a sale to every platform that touched it, and a sale one channel\n\
         caused can show up in another's rows. The naive column below is that revenue / spend.\n\n",
        outcome.dates.len(),
        r.revenue,
        if outcome.geos > 1 {
            format!(", {} geos summed per day", outcome.geos)
        } else {
            String::new()
        }
    );
    s.push_str(&format!(
        "{:<14} {:>12} {:>8} {:>22} {:>8} {:>22} {:>8}\n",
        "channel",
        "spend",
        "iROAS",
        format!("{pct:.0}% interval"),
        "mROAS",
        format!("{pct:.0}% interval"),
        "naive"
    ));
    for c in &r.results.channels {
        let (ml, mu) = c.response.as_ref().map_or((f64::NAN, f64::NAN), |x| {
            (x.marginal_roas_ci_lower, x.marginal_roas_ci_upper)
        });
        s.push_str(&format!(
            "{:<14} {:>12.0} {:>8.2} {:>22} {:>8.2} {:>22} {:>8.2}\n",
            c.channel,
            c.spend,
            c.incremental_roas,
            format!(
                "[{:.2}, {:.2}]",
                c.incremental_roas_ci_lower, c.incremental_roas_ci_upper
            ),
            c.marginal_roas,
            format!("[{ml:.2}, {mu:.2}]"),
            c.naive_roas
        ));
    }
    let b = &r.baseline_share;
    s.push_str(&format!(
        "\nOrganic (baseline) share of revenue: {:.1}% [{:.1}%, {:.1}%]\n",
        b.estimate * 100.0,
        b.ci_lower * 100.0,
        b.ci_upper * 100.0
    ));
    if let Some(cal) = &r.calibration {
        s.push_str("\nCalibration with lift tests (switch-off iROAS before -> after):\n");
        for t in &cal.tests {
            s.push_str(&format!(
                "  test {} {} to {}: measured {:.0} ± {:.0}, the model said {:.0} ± {:.0}\n",
                t.test.channel,
                liftos_calendar::date32_to_naive(t.test.start),
                liftos_calendar::date32_to_naive(t.test.end),
                t.test.incremental_revenue,
                t.test.standard_error,
                t.model_estimate,
                t.model_std_err
            ));
        }
        for c in &cal.channels {
            if (c.before.0 - c.after.0).abs() > 1e-12 || (c.before.2 - c.after.2).abs() > 1e-12 {
                s.push_str(&format!(
                    "  {:<14} {:.2} [{:.2}, {:.2}] -> {:.2} [{:.2}, {:.2}]\n",
                    c.channel, c.before.0, c.before.1, c.before.2, c.after.0, c.after.1, c.after.2
                ));
            }
        }
    }
    if let Some(p) = &r.results.diagnostics.placebo {
        s.push_str(&format!(
            "Placebo (revenue against spend {} days later, should be ≈ 0): {:.3} [{:.3}, {:.3}], p = {:.3}\n",
            p.name.trim_start_matches("placebo_lead_"),
            p.estimate,
            p.ci_lower,
            p.ci_upper,
            p.p_value
        ));
    }
    for w in &r.results.diagnostics.warnings {
        s.push_str(&format!("\nwarning: {w}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use std::sync::Arc;

    fn table(names: &[&str], rows: &[&[&str]]) -> RecordBatch {
        RecordBatch::try_from_iter(names.iter().enumerate().map(|(j, n)| {
            let col: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[j])));
            (*n, col)
        }))
        .unwrap()
    }

    /// Column names from a spreadsheet export (`Date`, ` Revenue `) are the outcome's
    /// columns; an exact name wins over a look-alike; two look-alikes are one clear error.
    #[test]
    fn outcome_columns_match_regardless_of_case_and_spaces() {
        let path = Path::new("shop.csv");
        let days: &[&[&str]] = &[&["2024-01-01", "10", "1"], &["2024-01-02", "12", "2"]];
        let t = table(&["Date", " Revenue ", "orders"], days);
        let outcome = business_outcome_from_table(&t, path).unwrap();
        assert_eq!(outcome.revenue, [10.0, 12.0]);
        let t = table(&["date", "revenue", "REVENUE"], days);
        assert_eq!(
            business_outcome_from_table(&t, path).unwrap().revenue,
            [10.0, 12.0]
        );
        let t = table(&["date", "Revenue", "REVENUE"], days);
        let e = business_outcome_from_table(&t, path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shop.csv") && e.contains("`Revenue`") && e.contains("`REVENUE`"),
            "{e}"
        );
        let t = table(&["date", "sales", "orders"], days);
        let e = business_outcome_from_table(&t, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`revenue`") && e.contains("missing"), "{e}");
    }
}
