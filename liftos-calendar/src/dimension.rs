//! The calendar dimension table.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::fiscal::retail_454;
use crate::marketing::{MarketingOptions, add_marketing_features_with};
use crate::options::{CalendarOptions, FeatureGroup, Selection};
use crate::rules::{Holiday, HolidaySet, Resolver};
use crate::seasonality::seasonality_index;
use crate::{Error, Result, naive_to_date32};

/// Longest calendar accepted, in days (about 2,700 years).
pub const MAX_DAYS: i64 = 1_000_000;

/// Builds the calendar dimension: one row per day with date parts, holidays, commercial
/// events, business days, peak seasons, a seasonality index and the 4-5-4 retail calendar.
///
/// ```
/// use chrono::NaiveDate;
/// use liftos_calendar::{CalendarDimension, CalendarOptions};
///
/// let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
/// let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
/// let cal = CalendarDimension::create_calendar(start, end, &CalendarOptions::default())?;
/// assert_eq!(cal.num_rows(), 366);
/// # Ok::<(), liftos_calendar::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CalendarDimension {
    options: CalendarOptions,
    holidays: HolidaySet,
    events: HolidaySet,
    resolver_rules: Vec<crate::rules::HolidayRule>,
    selection: Selection,
}

/// One output column: name, type, nullability.
struct Column {
    name: String,
    data_type: DataType,
    nullable: bool,
}

impl CalendarDimension {
    /// Validates the options and compiles the holiday rule sets.
    pub fn new(options: CalendarOptions) -> Result<Self> {
        options.validate()?;
        let mut holidays = match options.country_code() {
            Some(code) => HolidaySet::public(code)?,
            None => HolidaySet::default(),
        };
        holidays
            .rules
            .extend(options.business.custom_holidays.iter().cloned());
        let mut events = if options.commercial_events {
            HolidaySet::commercial(options.country_code())?
        } else {
            HolidaySet::default()
        };
        events.rules.extend(options.custom_events.iter().cloned());
        let mut resolver_rules = holidays.rules.clone();
        resolver_rules.extend(events.rules.iter().cloned());
        let selection = options.selection()?;
        Ok(Self {
            options,
            holidays,
            events,
            resolver_rules,
            selection,
        })
    }

    /// `create_calendar` of the seed: [`Self::new`] then [`Self::create`].
    pub fn create_calendar(
        start: NaiveDate,
        end: NaiveDate,
        options: &CalendarOptions,
    ) -> Result<RecordBatch> {
        Self::new(options.clone())?.create(start, end)
    }

    /// The options in use.
    pub fn options(&self) -> &CalendarOptions {
        &self.options
    }

    /// Public and custom holidays (observed days included) with dates in `start..=end`.
    pub fn holidays(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<Holiday>> {
        self.holidays.between(start, end)
    }

    /// Commercial events (built-in and custom) with dates in `start..=end`.
    pub fn commercial_events(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<Holiday>> {
        self.events.between(start, end)
    }

    /// The days of each peak season with dates in `start..=end`, as `(name, first, last)`
    /// spans clipped to the range.
    pub fn peak_seasons(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
        let mut out = Vec::new();
        for season in &self.options.business.peak_seasons {
            for year in start.year() - 1..=end.year() {
                let mut resolver = Resolver::new(&self.resolver_rules);
                if let Some((s, e)) = season.span(year, &mut resolver)?
                    && e >= start
                    && s <= end
                {
                    out.push((season.name.clone(), s.max(start), e.min(end)));
                }
            }
        }
        Ok(out)
    }

    fn columns(&self) -> Vec<Column> {
        let mut cols = vec![Column {
            name: "date".into(),
            data_type: DataType::Date32,
            nullable: false,
        }];
        for group in FeatureGroup::ALL {
            let mut names: Vec<String> = group.columns().iter().map(|c| c.to_string()).collect();
            if group == FeatureGroup::PeakSeasons {
                names.extend(
                    self.options
                        .business
                        .peak_seasons
                        .iter()
                        .map(|s| format!("season_{}", s.name)),
                );
            }
            for name in names {
                if !self.selection.wants(group, &name) {
                    continue;
                }
                let (data_type, nullable) = match name.as_str() {
                    "day_of_week_name" => (DataType::Utf8, false),
                    "holiday_name" | "event_name" | "peak_season" => (DataType::Utf8, true),
                    "days_to_next_holiday" | "days_since_last_holiday" => (DataType::Int32, true),
                    "seasonality_index" => (DataType::Float64, false),
                    n if n.starts_with("is_") || n.starts_with("season_") => {
                        (DataType::Boolean, false)
                    }
                    _ => (DataType::Int32, false),
                };
                cols.push(Column {
                    name,
                    data_type,
                    nullable,
                });
            }
        }
        cols
    }

    /// The output schema, known before any table is built.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns()
                .into_iter()
                .map(|c| Field::new(c.name, c.data_type, c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// One row per day from `start` to `end` inclusive.
    pub fn create(&self, start: NaiveDate, end: NaiveDate) -> Result<RecordBatch> {
        if end < start {
            return Err(Error::InvalidRange {
                start,
                end,
                reason: "end is before start".into(),
            });
        }
        let n_days = (end - start).num_days() + 1;
        if n_days > MAX_DAYS {
            return Err(Error::InvalidRange {
                start,
                end,
                reason: format!("{n_days} days is more than the maximum of {MAX_DAYS}"),
            });
        }
        let dates: Vec<NaiveDate> = (0..n_days as u64).map(|i| start + Days::new(i)).collect();
        let columns = self.columns();
        let want = |name: &str| columns.iter().any(|c| c.name == name);

        // Holidays, with two years of margin for the distance columns.
        let margin_start = NaiveDate::from_ymd_opt(start.year() - 2, 1, 1).unwrap_or(start);
        let margin_end = NaiveDate::from_ymd_opt(end.year() + 2, 12, 31).unwrap_or(end);
        let holiday_map = names_by_date(&self.holidays.between(margin_start, margin_end)?);
        let event_map = if want("is_commercial_event") || want("event_name") {
            names_by_date(&self.events.between(start, end)?)
        } else {
            BTreeMap::new()
        };
        let holiday_dates: Vec<NaiveDate> = holiday_map.keys().copied().collect();

        // Seasons.
        let seasons = &self.options.business.peak_seasons;
        let mut season_flags = vec![vec![false; dates.len()]; seasons.len()];
        if want("peak_season") || seasons.iter().any(|s| want(&format!("season_{}", s.name))) {
            for (k, season) in seasons.iter().enumerate() {
                for year in start.year() - 1..=end.year() {
                    let mut resolver = Resolver::new(&self.resolver_rules);
                    if let Some((s, e)) = season.span(year, &mut resolver)? {
                        let s = s.max(start);
                        let e = e.min(end);
                        if s <= e {
                            let first = (s - start).num_days() as usize;
                            let last = (e - start).num_days() as usize;
                            season_flags[k][first..=last].fill(true);
                        }
                    }
                }
            }
        }

        let seasonality = if want("seasonality_index") {
            seasonality_index(&dates, &self.options.seasonality)
        } else {
            Vec::new()
        };
        let fiscal: Vec<_> = if columns.iter().any(|c| c.name.starts_with("fiscal_")) {
            dates
                .iter()
                .map(|d| {
                    retail_454(*d).ok_or_else(|| Error::InvalidRange {
                        start,
                        end,
                        reason: format!("no 4-5-4 fiscal year for {d}"),
                    })
                })
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let is_holiday: Vec<bool> = dates.iter().map(|d| holiday_map.contains_key(d)).collect();
        let business_days = &self.options.business.business_days;

        let int_col = |f: &dyn Fn(NaiveDate) -> i32| -> ArrayRef {
            Arc::new(Int32Array::from_iter_values(dates.iter().map(|d| f(*d))))
        };
        let bool_col = |f: &dyn Fn(usize, NaiveDate) -> bool| -> ArrayRef {
            Arc::new(BooleanArray::from(
                dates
                    .iter()
                    .enumerate()
                    .map(|(i, d)| f(i, *d))
                    .collect::<Vec<_>>(),
            ))
        };
        // The name of each day in `names` (null on the days it has none).
        let name_col = |names: &BTreeMap<NaiveDate, String>| -> ArrayRef {
            Arc::new(StringArray::from(
                dates
                    .iter()
                    .map(|d| names.get(d).map(String::as_str))
                    .collect::<Vec<_>>(),
            ))
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for col in &columns {
            let array: ArrayRef = match col.name.as_str() {
                "date" => Arc::new(Date32Array::from_iter_values(
                    dates.iter().map(|d| naive_to_date32(*d)),
                )),
                "day_of_week" => int_col(&|d| d.weekday().number_from_monday() as i32),
                "day_of_week_name" => Arc::new(StringArray::from_iter_values(
                    dates.iter().map(|d| weekday_name(d.weekday())),
                )),
                "week_of_year" => int_col(&|d| d.iso_week().week() as i32),
                "month" => int_col(&|d| d.month() as i32),
                "quarter" => int_col(&|d| d.month0() as i32 / 3 + 1),
                "year" => int_col(&|d| d.year()),
                "day_of_year" => int_col(&|d| d.ordinal() as i32),
                "is_month_end" => bool_col(&|_, d| d.succ_opt().is_none_or(|n| n.day() == 1)),
                "is_quarter_end" => bool_col(&|_, d| {
                    matches!(d.month(), 3 | 6 | 9 | 12) && d.succ_opt().is_none_or(|n| n.day() == 1)
                }),
                "is_weekend" => {
                    bool_col(&|_, d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                }
                "is_business_day" => {
                    bool_col(&|i, d| business_days.contains(&d.weekday()) && !is_holiday[i])
                }
                "is_holiday" => bool_col(&|i, _| is_holiday[i]),
                "holiday_name" => name_col(&holiday_map),
                "days_to_next_holiday" => Arc::new(Int32Array::from(
                    dates
                        .iter()
                        .map(|d| {
                            let k = holiday_dates.partition_point(|h| h < d);
                            holiday_dates.get(k).map(|h| (*h - *d).num_days() as i32)
                        })
                        .collect::<Vec<_>>(),
                )),
                "days_since_last_holiday" => Arc::new(Int32Array::from(
                    dates
                        .iter()
                        .map(|d| {
                            let k = holiday_dates.partition_point(|h| h <= d);
                            k.checked_sub(1)
                                .map(|k| (*d - holiday_dates[k]).num_days() as i32)
                        })
                        .collect::<Vec<_>>(),
                )),
                "is_commercial_event" => bool_col(&|_, d| event_map.contains_key(&d)),
                "event_name" => name_col(&event_map),
                "peak_season" => Arc::new(StringArray::from(
                    (0..dates.len())
                        .map(|i| {
                            season_flags
                                .iter()
                                .position(|f| f[i])
                                .map(|k| seasons[k].name.as_str())
                        })
                        .collect::<Vec<_>>(),
                )),
                "seasonality_index" => Arc::new(Float64Array::from(seasonality.clone())),
                "fiscal_year" => {
                    Arc::new(Int32Array::from_iter_values(fiscal.iter().map(|f| f.year)))
                }
                "fiscal_quarter" => Arc::new(Int32Array::from_iter_values(
                    fiscal.iter().map(|f| f.quarter as i32),
                )),
                "fiscal_month" => Arc::new(Int32Array::from_iter_values(
                    fiscal.iter().map(|f| f.month as i32),
                )),
                "fiscal_week" => Arc::new(Int32Array::from_iter_values(
                    fiscal.iter().map(|f| f.week as i32),
                )),
                other => {
                    let k = seasons
                        .iter()
                        .position(|s| other.strip_prefix("season_") == Some(s.name.as_str()))
                        .ok_or_else(|| Error::UnknownFeature {
                            key: "include_features".into(),
                            name: other.to_string(),
                            valid: "a built-in column or season_<name>".into(),
                        })?;
                    Arc::new(BooleanArray::from(season_flags[k].clone()))
                }
            };
            arrays.push(array);
        }
        Ok(RecordBatch::try_new(self.schema(), arrays)?)
    }

    /// [`crate::add_marketing_features`] with default [`MarketingOptions`].
    pub fn add_marketing_features(
        &self,
        calendar: &RecordBatch,
        campaign_data: &RecordBatch,
    ) -> Result<RecordBatch> {
        add_marketing_features_with(calendar, campaign_data, &MarketingOptions::default())
    }
}

fn names_by_date(hs: &[Holiday]) -> BTreeMap<NaiveDate, String> {
    let mut map: BTreeMap<NaiveDate, String> = BTreeMap::new();
    for h in hs {
        map.entry(h.date)
            .and_modify(|s| {
                if !s.split("; ").any(|x| x == h.name) {
                    s.push_str("; ");
                    s.push_str(&h.name);
                }
            })
            .or_insert_with(|| h.name.clone());
    }
    map
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}
