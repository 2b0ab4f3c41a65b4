//! Options of the calendar dimension, buildable in code or loaded from TOML.

use std::path::Path;

use chrono::{NaiveDate, Weekday};
use liftos_core::fs::{MAX_WHOLE_FILE, read_to_string_limited};
use serde::{Deserialize, Serialize};

use crate::rules::{DateRule, HolidayRule, Resolver, add_days, rule_date, weekday_serde};
use crate::seasonality::SeasonalityOptions;
use crate::{Error, Result};

/// A feature group of the calendar, selectable by name in
/// [`CalendarOptions::include_features`]. Single column names are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeatureGroup {
    /// `day_of_week`, `day_of_week_name`, `week_of_year`, `month`, `quarter`, `year`,
    /// `day_of_year`, `is_month_end`, `is_quarter_end`.
    DateParts,
    /// `is_weekend`.
    Weekend,
    /// `is_business_day`.
    BusinessDay,
    /// `is_holiday`, `holiday_name`, `days_to_next_holiday`, `days_since_last_holiday`.
    Holidays,
    /// `is_commercial_event`, `event_name`.
    CommercialEvents,
    /// `peak_season` and one `season_<name>` flag per configured season.
    PeakSeasons,
    /// `seasonality_index`.
    Seasonality,
    /// `fiscal_year`, `fiscal_quarter`, `fiscal_month`, `fiscal_week`.
    Fiscal,
}

impl FeatureGroup {
    /// Every group, in output order.
    pub const ALL: [FeatureGroup; 8] = [
        FeatureGroup::DateParts,
        FeatureGroup::Weekend,
        FeatureGroup::BusinessDay,
        FeatureGroup::Holidays,
        FeatureGroup::CommercialEvents,
        FeatureGroup::PeakSeasons,
        FeatureGroup::Seasonality,
        FeatureGroup::Fiscal,
    ];

    /// The canonical name used in `include_features`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureGroup::DateParts => "date_parts",
            FeatureGroup::Weekend => "weekend",
            FeatureGroup::BusinessDay => "business_days",
            FeatureGroup::Holidays => "holidays",
            FeatureGroup::CommercialEvents => "commercial_events",
            FeatureGroup::PeakSeasons => "peak_seasons",
            FeatureGroup::Seasonality => "seasonality",
            FeatureGroup::Fiscal => "fiscal",
        }
    }

    /// The fixed columns of the group (peak seasons add one flag per season).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            FeatureGroup::DateParts => &[
                "day_of_week",
                "day_of_week_name",
                "week_of_year",
                "month",
                "quarter",
                "year",
                "day_of_year",
                "is_month_end",
                "is_quarter_end",
            ],
            FeatureGroup::Weekend => &["is_weekend"],
            FeatureGroup::BusinessDay => &["is_business_day"],
            FeatureGroup::Holidays => &[
                "is_holiday",
                "holiday_name",
                "days_to_next_holiday",
                "days_since_last_holiday",
            ],
            FeatureGroup::CommercialEvents => &["is_commercial_event", "event_name"],
            FeatureGroup::PeakSeasons => &["peak_season"],
            FeatureGroup::Seasonality => &["seasonality_index"],
            FeatureGroup::Fiscal => &[
                "fiscal_year",
                "fiscal_quarter",
                "fiscal_month",
                "fiscal_week",
            ],
        }
    }

    fn from_alias(name: &str) -> Option<Self> {
        Some(match name {
            "date_parts" | "date" | "dates" => FeatureGroup::DateParts,
            "weekend" | "weekends" => FeatureGroup::Weekend,
            "business_days" | "business_day" | "business" => FeatureGroup::BusinessDay,
            "holidays" | "holiday" => FeatureGroup::Holidays,
            "commercial_events" | "events" | "marketing_events" | "commercial" => {
                FeatureGroup::CommercialEvents
            }
            "peak_seasons" | "seasons" | "season" => FeatureGroup::PeakSeasons,
            "seasonality" | "seasonality_index" => FeatureGroup::Seasonality,
            "fiscal" | "fiscal_calendar" | "retail_calendar" | "retail_454" => FeatureGroup::Fiscal,
            _ => return None,
        })
    }
}

/// Largest [`SeasonBound::offset_days`], either way: a season spans at most 366 days.
pub const MAX_SEASON_OFFSET_DAYS: i32 = 366;

/// One end of a [`PeakSeason`]: a date rule plus an offset in days (±366 at most).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonBound {
    /// The date rule (may reference a holiday by name: `{ kind = "holiday", name = "..." }`).
    pub date: DateRule,
    /// Days added to the rule's date.
    #[serde(default)]
    pub offset_days: i32,
}

/// A named peak season, applied to every year of the calendar.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `name` | required | season name; gives the `season_<name>` column | `[a-z0-9_]+`, unique |
/// | `start` | none | first day (rule + offset) | exactly one of `start`/`length_days` |
/// | `length_days` | none | season length ending at `end` | 1–366 |
/// | `end` | required | last day (rule + offset) | a season spans at most 366 days |
/// | `start.offset_days`, `end.offset_days` | 0 | days added to the bound's rule | −366..=366 |
///
/// When `end` falls before `start` in the same year the season wraps into the next year
/// (e.g. December 15 – January 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakSeason {
    /// Season name (snake_case).
    pub name: String,
    /// First day; leave out to use `length_days`.
    pub start: Option<SeasonBound>,
    /// Last day.
    pub end: SeasonBound,
    /// Length in days ending on `end` (instead of `start`).
    pub length_days: Option<u32>,
}

impl PeakSeason {
    /// A season between two fixed month/day dates every year.
    pub fn fixed(name: impl Into<String>, start: (u32, u32), end: (u32, u32)) -> Self {
        Self {
            name: name.into(),
            start: Some(SeasonBound {
                date: DateRule::Fixed {
                    month: start.0,
                    day: start.1,
                },
                offset_days: 0,
            }),
            end: SeasonBound {
                date: DateRule::Fixed {
                    month: end.0,
                    day: end.1,
                },
                offset_days: 0,
            },
            length_days: None,
        }
    }

    /// A season of `length_days` days ending `end_offset_days` after a date rule.
    pub fn ending(
        name: impl Into<String>,
        end: DateRule,
        end_offset_days: i32,
        length_days: u32,
    ) -> Self {
        Self {
            name: name.into(),
            start: None,
            end: SeasonBound {
                date: end,
                offset_days: end_offset_days,
            },
            length_days: Some(length_days),
        }
    }

    /// Black Friday week: the 7 days ending on the Saturday after US Thanksgiving
    /// (the fourth Thursday of November).
    pub fn black_friday_week() -> Self {
        Self::ending(
            "black_friday_week",
            DateRule::NthWeekday {
                month: 11,
                weekday: Weekday::Thu,
                n: 4,
            },
            2,
            7,
        )
    }

    fn validate(&self, key: &str) -> Result<()> {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(Error::InvalidOption {
                key: format!("{key}.name"),
                reason: format!("`{}` must be snake_case ([a-z0-9_]+)", self.name),
            });
        }
        match (&self.start, self.length_days) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::InvalidOption {
                    key: format!("{key}.start"),
                    reason: "give exactly one of `start` and `length_days`".into(),
                });
            }
            (None, Some(n)) if n == 0 || n > 366 => {
                return Err(Error::InvalidOption {
                    key: format!("{key}.length_days"),
                    reason: format!("{n} must be in 1..=366"),
                });
            }
            _ => {}
        }
        // A season spans at most 366 days: an offset beyond a year from its rule's date
        // is a typo (and would overflow the date arithmetic).
        for (bound, name) in [(self.start.as_ref(), "start"), (Some(&self.end), "end")] {
            if let Some(b) = bound
                && !(-MAX_SEASON_OFFSET_DAYS..=MAX_SEASON_OFFSET_DAYS).contains(&b.offset_days)
            {
                return Err(Error::InvalidOption {
                    key: format!("{key}.{name}.offset_days"),
                    reason: format!("{} is beyond ±{MAX_SEASON_OFFSET_DAYS} days", b.offset_days),
                });
            }
        }
        if let Some(s) = &self.start {
            s.date.validate(&format!("{key}.start.date"))?;
        }
        self.end.date.validate(&format!("{key}.end.date"))
    }

    /// The season's occurrence anchored on `year` (`None` if a bound has no date that year).
    pub(crate) fn span(
        &self,
        year: i32,
        resolve: &mut Resolver<'_>,
    ) -> Result<Option<(NaiveDate, NaiveDate)>> {
        let bound = |b: &SeasonBound, y: i32, r: &mut Resolver<'_>| -> Result<Option<NaiveDate>> {
            let rule =
                HolidayRule::new(String::new(), b.date.clone()).with_offset_days(b.offset_days);
            rule_date(&rule, y, r)
        };
        match (&self.start, self.length_days) {
            (Some(s), _) => {
                let Some(start) = bound(s, year, resolve)? else {
                    return Ok(None);
                };
                let Some(mut end) = bound(&self.end, year, resolve)? else {
                    return Ok(None);
                };
                if end < start {
                    match bound(&self.end, year + 1, resolve)? {
                        Some(e) => end = e,
                        None => return Ok(None),
                    }
                }
                Ok(Some((start, end)))
            }
            (None, Some(n)) => {
                let Some(end) = bound(&self.end, year, resolve)? else {
                    return Ok(None);
                };
                Ok(add_days(end, 1 - n as i32).map(|s| (s, end)))
            }
            (None, None) => Ok(None),
        }
    }
}

/// The business calendar: working weekdays, company holidays and peak seasons.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `business_days` | mon–fri | weekdays that are working days | non-empty, no repeats |
/// | `custom_holidays` | `[]` | company days off (count as holidays) | valid rules |
/// | `peak_seasons` | `black_friday_week`, `holiday_season` (Dec 1–31) | named seasons | unique names |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessCalendar {
    /// Weekdays that are business days.
    #[serde(with = "weekday_serde::list")]
    pub business_days: Vec<Weekday>,
    /// Company holidays: they set `is_holiday` and remove the business day.
    pub custom_holidays: Vec<HolidayRule>,
    /// Peak seasons, in priority order (the first match names `peak_season`).
    pub peak_seasons: Vec<PeakSeason>,
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        Self {
            business_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            custom_holidays: Vec::new(),
            peak_seasons: vec![
                PeakSeason::black_friday_week(),
                PeakSeason::fixed("holiday_season", (12, 1), (12, 31)),
            ],
        }
    }
}

impl BusinessCalendar {
    /// Sets the business weekdays.
    pub fn with_business_days(mut self, days: impl IntoIterator<Item = Weekday>) -> Self {
        self.business_days = days.into_iter().collect();
        self
    }

    /// Adds a company holiday.
    pub fn with_custom_holiday(mut self, rule: HolidayRule) -> Self {
        self.custom_holidays.push(rule);
        self
    }

    /// Adds a peak season.
    pub fn with_peak_season(mut self, season: PeakSeason) -> Self {
        self.peak_seasons.push(season);
        self
    }

    /// Replaces the peak seasons.
    pub fn with_peak_seasons(mut self, seasons: impl IntoIterator<Item = PeakSeason>) -> Self {
        self.peak_seasons = seasons.into_iter().collect();
        self
    }

    fn validate(&self) -> Result<()> {
        if self.business_days.is_empty() {
            return Err(Error::InvalidOption {
                key: "business.business_days".into(),
                reason: "must name at least one weekday".into(),
            });
        }
        for (i, w) in self.business_days.iter().enumerate() {
            if self.business_days[..i].contains(w) {
                return Err(Error::InvalidOption {
                    key: format!("business.business_days[{i}]"),
                    reason: format!("{w} is listed twice"),
                });
            }
        }
        for (i, r) in self.custom_holidays.iter().enumerate() {
            r.validate(&format!("business.custom_holidays[{i}]"))?;
        }
        for (i, s) in self.peak_seasons.iter().enumerate() {
            let key = format!("business.peak_seasons[{i}]");
            s.validate(&key)?;
            if self.peak_seasons[..i].iter().any(|o| o.name == s.name) {
                return Err(Error::InvalidOption {
                    key: format!("{key}.name"),
                    reason: format!("season `{}` is defined twice", s.name),
                });
            }
        }
        Ok(())
    }
}

/// Options of [`crate::CalendarDimension`].
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `country` | `"US"` | public holidays of this country/subdivision; `"none"` for none | see [`crate::countries::SUPPORTED`] |
/// | `commercial_events` | `true` | include the built-in commercial set for the country | bool |
/// | `custom_events` | `[]` | extra commercial events (e.g. Prime Day) | valid rules |
/// | `include_features` | all | feature groups or column names to output | see [`FeatureGroup`] |
/// | `business` | see [`BusinessCalendar`] | business days, custom holidays, peak seasons | |
/// | `seasonality` | see [`SeasonalityOptions`] | seasonality index settings | |
///
/// TOML example:
///
/// ```toml
/// country = "GB"
/// include_features = ["date_parts", "holidays", "peak_seasons", "fiscal"]
///
/// [business]
/// business_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
/// custom_holidays = [
///   { name = "Company Day", date = { kind = "fixed", month = 8, day = 14 } },
/// ]
///
/// [[business.peak_seasons]]
/// name = "summer_sale"
/// start = { date = { kind = "fixed", month = 6, day = 20 } }
/// end = { date = { kind = "fixed", month = 7, day = 10 } }
///
/// [[custom_events]]
/// name = "Prime Day"
/// date = { kind = "date", year = 2024, month = 7, day = 16 }
///
/// [seasonality]
/// granularity = "week_of_year"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarOptions {
    /// Country or subdivision code for public holidays; `None` (or `"none"`) for none.
    pub country: Option<String>,
    /// Whether to include the built-in commercial events of the country.
    pub commercial_events: bool,
    /// Extra commercial events.
    pub custom_events: Vec<HolidayRule>,
    /// Feature groups or single columns to output (`None`: everything).
    pub include_features: Option<Vec<String>>,
    /// Business calendar.
    pub business: BusinessCalendar,
    /// Seasonality index settings (and history).
    pub seasonality: SeasonalityOptions,
}

impl Default for CalendarOptions {
    fn default() -> Self {
        Self {
            country: Some("US".into()),
            commercial_events: true,
            custom_events: Vec::new(),
            include_features: None,
            business: BusinessCalendar::default(),
            seasonality: SeasonalityOptions::default(),
        }
    }
}

impl CalendarOptions {
    /// Options from a TOML document; errors name the offending key.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let opts: Self = toml::from_str(text).map_err(|e| Error::Toml {
            path: None,
            message: e.to_string(),
        })?;
        opts.validate()?;
        Ok(opts)
    }

    /// Options from a TOML file; errors name the file and the offending key.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_to_string_limited(path, MAX_WHOLE_FILE).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let opts: Self = toml::from_str(&text).map_err(|e| Error::Toml {
            path: Some(path.to_path_buf()),
            message: e.to_string(),
        })?;
        opts.validate().map_err(|e| match e {
            Error::InvalidOption { key, reason } => Error::InvalidOption {
                key: format!("{}: {key}", path.display()),
                reason,
            },
            other => other,
        })?;
        Ok(opts)
    }

    /// The options as a TOML document that [`Self::from_toml_str`] reads back
    /// (the seasonality history is code-only and not written).
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Toml {
            path: None,
            message: e.to_string(),
        })
    }

    /// Sets the country (or subdivision) code; `"none"` disables public holidays.
    pub fn with_country(mut self, code: impl Into<String>) -> Self {
        self.country = Some(code.into());
        self
    }

    /// No public holidays (only custom ones).
    pub fn without_country(mut self) -> Self {
        self.country = None;
        self
    }

    /// Turns the built-in commercial events on or off.
    pub fn with_commercial_events(mut self, on: bool) -> Self {
        self.commercial_events = on;
        self
    }

    /// Adds a custom commercial event.
    pub fn with_custom_event(mut self, rule: HolidayRule) -> Self {
        self.custom_events.push(rule);
        self
    }

    /// Adds a company holiday.
    pub fn with_custom_holiday(mut self, rule: HolidayRule) -> Self {
        self.business.custom_holidays.push(rule);
        self
    }

    /// Selects feature groups or columns by name.
    pub fn with_features<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.include_features = Some(names.into_iter().map(Into::into).collect());
        self
    }

    liftos_core::setters! {
        /// Replaces the business calendar.
        with_business(business: BusinessCalendar);
        /// Replaces the seasonality options.
        with_seasonality(seasonality: SeasonalityOptions);
    }

    /// The normalized country code, `None` when public holidays are off.
    pub(crate) fn country_code(&self) -> Option<&str> {
        self.country
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("none"))
    }

    /// Checks every field once.
    pub fn validate(&self) -> Result<()> {
        if let Some(code) = self.country_code() {
            crate::countries::public(code)?;
        }
        for (i, r) in self.custom_events.iter().enumerate() {
            r.validate(&format!("custom_events[{i}]"))?;
        }
        self.business.validate()?;
        self.seasonality.validate()?;
        self.selection()?;
        Ok(())
    }

    /// The selected output columns: `None` = all columns of every group.
    pub(crate) fn selection(&self) -> Result<Selection> {
        let Some(names) = &self.include_features else {
            return Ok(Selection::All);
        };
        let mut groups = Vec::new();
        let mut columns = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let name = raw.trim().to_ascii_lowercase();
            if name == "all" {
                return Ok(Selection::All);
            }
            if let Some(g) = FeatureGroup::from_alias(&name) {
                groups.push(g);
                continue;
            }
            let is_column = FeatureGroup::ALL
                .iter()
                .any(|g| g.columns().contains(&name.as_str()))
                || self
                    .business
                    .peak_seasons
                    .iter()
                    .any(|s| format!("season_{}", s.name) == name);
            if is_column {
                columns.push(name);
            } else {
                let mut valid: Vec<String> = FeatureGroup::ALL
                    .iter()
                    .map(|g| g.name().to_string())
                    .collect();
                valid.push("all".into());
                valid.push("or a column name".into());
                return Err(Error::UnknownFeature {
                    key: format!("include_features[{i}]"),
                    name: raw.clone(),
                    valid: valid.join(", "),
                });
            }
        }
        Ok(Selection::Some { groups, columns })
    }
}

/// Which columns to output.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    All,
    Some {
        groups: Vec<FeatureGroup>,
        columns: Vec<String>,
    },
}

impl Selection {
    pub(crate) fn wants(&self, group: FeatureGroup, column: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Some { groups, columns } => {
                groups.contains(&group) || columns.iter().any(|c| c == column)
            }
        }
    }
}
