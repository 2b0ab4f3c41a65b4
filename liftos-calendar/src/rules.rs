//! The rule-based holiday engine: date rules, observed-day rules and holiday sets.
//!
//! Every holiday is a [`HolidayRule`]: a [`DateRule`] that gives its date in a year (fixed
//! date, nth or last weekday of a month, a weekday on/before/after a date, an offset from
//! Easter Sunday, a one-off date, a date relative to another named holiday, or a
//! "use this unless it clashes with that" choice), an optional offset in days, an
//! [`Observance`] that says which weekday a weekend occurrence is observed on, and the years
//! the rule is in force. No date lists are stored: every date is computed.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Serde support for [`chrono::Weekday`] as `"mon"`, `"Monday"`, etc.
pub(crate) mod weekday_serde {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(w: &Weekday, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&w.to_string().to_lowercase())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Weekday, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<Weekday>().map_err(|_| {
            serde::de::Error::custom(format!(
                "invalid weekday `{text}`: expected mon, tue, wed, thu, fri, sat or sun"
            ))
        })
    }

    /// The same for a list of weekdays.
    pub mod list {
        use chrono::Weekday;
        use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

        pub fn serialize<S: Serializer>(ws: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(ws.len()))?;
            for w in ws {
                seq.serialize_element(&w.to_string().to_lowercase())?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
            let texts = Vec::<String>::deserialize(d)?;
            texts
                .iter()
                .map(|t| {
                    t.parse::<Weekday>().map_err(|_| {
                        serde::de::Error::custom(format!(
                            "invalid weekday `{t}`: expected mon, tue, wed, thu, fri, sat or sun"
                        ))
                    })
                })
                .collect()
        }
    }
}

/// Which way [`DateRule::WeekdayRelative`] looks from its reference date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The reference date if it is that weekday, else the next such weekday.
    OnOrAfter,
    /// The reference date if it is that weekday, else the previous such weekday.
    OnOrBefore,
    /// The first such weekday strictly after the reference date.
    After,
    /// The last such weekday strictly before the reference date.
    Before,
}

/// How to compute a date in a given year.
///
/// In TOML a rule is an inline table tagged by `kind`, for example
/// `{ kind = "nth_weekday", month = 11, weekday = "thu", n = 4 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DateRule {
    /// The same month and day every year (February 29 exists only in leap years).
    Fixed {
        /// Month, 1–12.
        month: u32,
        /// Day of month, 1–31.
        day: u32,
    },
    /// The `n`th given weekday of a month; negative `n` counts from the end
    /// (`-1` = last). A fifth weekday that does not exist in a year gives no date.
    NthWeekday {
        /// Month, 1–12.
        month: u32,
        /// Weekday (`"mon"` … `"sun"`).
        #[serde(with = "weekday_serde")]
        weekday: Weekday,
        /// 1–5 from the start, -1 to -5 from the end.
        n: i32,
    },
    /// A weekday on, before or after a fixed reference date (e.g. Victoria Day: the Monday
    /// before May 25).
    WeekdayRelative {
        /// Month of the reference date, 1–12.
        month: u32,
        /// Day of the reference date.
        day: u32,
        /// Weekday wanted.
        #[serde(with = "weekday_serde")]
        weekday: Weekday,
        /// Which way to look.
        direction: Direction,
    },
    /// Easter Sunday (Gregorian, Western churches) plus `offset` days: -2 Good Friday,
    /// 1 Easter Monday, 39 Ascension Day, 49 Pentecost, 50 Whit Monday, 60 Corpus Christi.
    Easter {
        /// Days after Easter Sunday (negative: before).
        offset: i32,
    },
    /// One specific date; it occurs only in its own year.
    Date {
        /// Year.
        year: i32,
        /// Month, 1–12.
        month: u32,
        /// Day of month.
        day: u32,
    },
    /// The (unobserved) date of another rule of the same set, found by name
    /// (case-insensitive), in the same year.
    Holiday {
        /// Name of the other rule.
        name: String,
    },
    /// `primary`, unless it falls on the date of `avoid`, in which case `fallback`
    /// (e.g. French Mother's Day: last Sunday of May unless that is Pentecost, then the
    /// first Sunday of June).
    AvoidClash {
        /// The usual date.
        primary: Box<DateRule>,
        /// The date it must not coincide with.
        avoid: Box<DateRule>,
        /// The date used on a clash.
        fallback: Box<DateRule>,
    },
}

/// What happens when a holiday falls on a Saturday or Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observance {
    /// No substitute day.
    #[default]
    None,
    /// Saturday → the Friday before, Sunday → the Monday after (US federal rule).
    NearestWeekday,
    /// Saturday or Sunday → the Monday after.
    NextMonday,
    /// Sunday → the Monday after; Saturday gets no substitute.
    SundayToMonday,
    /// Saturday or Sunday → the next weekday that is not already a holiday of the set
    /// (UK rule: Christmas on Saturday → Monday 27, Boxing Day on Sunday → Tuesday 28).
    NextFreeWeekday,
}

/// A named holiday or event defined by a rule.
///
/// TOML form: `{ name = "Black Friday", date = { kind = "nth_weekday", month = 11,
/// weekday = "thu", n = 4 }, offset_days = 1 }`.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `name` | required | label shown in `holiday_name` / `event_name` | non-empty |
/// | `date` | required | the [`DateRule`] | valid rule |
/// | `offset_days` | 0 | days added to the rule's date | any |
/// | `observed` | `none` | [`Observance`] for weekend dates | see enum |
/// | `start_year` | none | first year the rule applies | ≤ `end_year` |
/// | `end_year` | none | last year the rule applies | ≥ `start_year` |
/// | `skip_years` | `[]` | years the rule does not apply | any |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRule {
    /// Label of the holiday.
    pub name: String,
    /// The date rule.
    pub date: DateRule,
    /// Days added to the rule's date.
    #[serde(default)]
    pub offset_days: i32,
    /// Substitute-day rule for weekend dates.
    #[serde(default)]
    pub observed: Observance,
    /// First year the rule is in force (inclusive).
    pub start_year: Option<i32>,
    /// Last year the rule is in force (inclusive).
    pub end_year: Option<i32>,
    /// Years in which the rule does not apply (e.g. a holiday moved that year).
    #[serde(default)]
    pub skip_years: Vec<i32>,
}

impl HolidayRule {
    /// A rule with no offset, no observance and no year limits.
    pub fn new(name: impl Into<String>, date: DateRule) -> Self {
        Self {
            name: name.into(),
            date,
            offset_days: 0,
            observed: Observance::None,
            start_year: None,
            end_year: None,
            skip_years: Vec::new(),
        }
    }

    /// A fixed month/day every year.
    pub fn fixed(name: impl Into<String>, month: u32, day: u32) -> Self {
        Self::new(name, DateRule::Fixed { month, day })
    }

    /// The `n`th weekday of a month (negative `n` counts from the end).
    pub fn nth_weekday(name: impl Into<String>, month: u32, weekday: Weekday, n: i32) -> Self {
        Self::new(name, DateRule::NthWeekday { month, weekday, n })
    }

    /// The last given weekday of a month.
    pub fn last_weekday(name: impl Into<String>, month: u32, weekday: Weekday) -> Self {
        Self::nth_weekday(name, month, weekday, -1)
    }

    /// Easter Sunday plus `offset` days.
    pub fn easter(name: impl Into<String>, offset: i32) -> Self {
        Self::new(name, DateRule::Easter { offset })
    }

    /// A one-off date (e.g. a coronation, or this year's Prime Day).
    pub fn on(name: impl Into<String>, date: NaiveDate) -> Self {
        let mut rule = Self::new(
            name,
            DateRule::Date {
                year: date.year(),
                month: date.month(),
                day: date.day(),
            },
        );
        rule.start_year = Some(date.year());
        rule.end_year = Some(date.year());
        rule
    }

    liftos_core::setters! {
        /// Adds `days` to the rule's date.
        with_offset_days(days: i32) => self.offset_days = days;
        /// Sets the observed-day rule.
        with_observed(observed: Observance);
        /// Sets the first year the rule is in force.
        from_year(year: i32) => self.start_year = Some(year);
        /// Sets the last year the rule is in force.
        until_year(year: i32) => self.end_year = Some(year);
        /// Sets years in which the rule does not apply.
        with_skip_years(years: impl IntoIterator<Item = i32>)
            => self.skip_years = years.into_iter().collect();
    }

    /// Whether the rule is in force in `year`.
    pub fn applies_in(&self, year: i32) -> bool {
        self.start_year.is_none_or(|s| year >= s)
            && self.end_year.is_none_or(|e| year <= e)
            && !self.skip_years.contains(&year)
    }

    /// Checks the rule's fields; `key` names it in errors (e.g. `custom_holidays[2]`).
    pub fn validate(&self, key: &str) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidOption {
                key: format!("{key}.name"),
                reason: "must not be empty".into(),
            });
        }
        if let (Some(s), Some(e)) = (self.start_year, self.end_year)
            && s > e
        {
            return Err(Error::InvalidOption {
                key: format!("{key}.start_year"),
                reason: format!("start_year {s} is after end_year {e}"),
            });
        }
        self.date.validate(&format!("{key}.date"))
    }
}

impl DateRule {
    /// Checks field ranges; `key` names the rule in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        let bad = |field: &str, reason: String| Error::InvalidOption {
            key: format!("{key}.{field}"),
            reason,
        };
        let check_month = |m: u32| {
            if (1..=12).contains(&m) {
                Ok(())
            } else {
                Err(bad("month", format!("{m} is not a month (1-12)")))
            }
        };
        let check_day = |m: u32, d: u32| {
            // Valid in some year: check against a leap year.
            if NaiveDate::from_ymd_opt(2000, m, d).is_some() {
                Ok(())
            } else {
                Err(bad("day", format!("{d} is not a day of month {m}")))
            }
        };
        match self {
            DateRule::Fixed { month, day } | DateRule::WeekdayRelative { month, day, .. } => {
                check_month(*month)?;
                check_day(*month, *day)
            }
            DateRule::NthWeekday { month, n, .. } => {
                check_month(*month)?;
                if *n == 0 || !(-5..=5).contains(n) {
                    return Err(bad("n", format!("{n} must be 1..5 or -1..-5")));
                }
                Ok(())
            }
            DateRule::Easter { offset } => {
                if !(-300..=300).contains(offset) {
                    return Err(bad("offset", format!("{offset} is beyond ±300 days")));
                }
                Ok(())
            }
            DateRule::Date { year, month, day } => {
                if NaiveDate::from_ymd_opt(*year, *month, *day).is_none() {
                    return Err(bad(
                        "day",
                        format!("{year}-{month:02}-{day:02} is not a date"),
                    ));
                }
                Ok(())
            }
            DateRule::Holiday { name } => {
                if name.trim().is_empty() {
                    return Err(bad("name", "must not be empty".into()));
                }
                Ok(())
            }
            DateRule::AvoidClash {
                primary,
                avoid,
                fallback,
            } => {
                primary.validate(&format!("{key}.primary"))?;
                avoid.validate(&format!("{key}.avoid"))?;
                fallback.validate(&format!("{key}.fallback"))
            }
        }
    }

    /// The date in `year`, resolving [`DateRule::Holiday`] with `resolve`
    /// (`None` if the rule gives no date that year).
    pub(crate) fn eval(&self, year: i32, resolve: &mut Resolver<'_>) -> Result<Option<NaiveDate>> {
        Ok(match self {
            DateRule::Fixed { month, day } => NaiveDate::from_ymd_opt(year, *month, *day),
            DateRule::NthWeekday { month, weekday, n } => nth_weekday(year, *month, *weekday, *n),
            DateRule::WeekdayRelative {
                month,
                day,
                weekday,
                direction,
            } => NaiveDate::from_ymd_opt(year, *month, *day)
                .and_then(|d| weekday_relative(d, *weekday, *direction)),
            DateRule::Easter { offset } => easter_sunday(year).and_then(|e| add_days(e, *offset)),
            DateRule::Date {
                year: y,
                month,
                day,
            } => {
                if *y == year {
                    NaiveDate::from_ymd_opt(*y, *month, *day)
                } else {
                    None
                }
            }
            DateRule::Holiday { name } => resolve.resolve(name, year)?,
            DateRule::AvoidClash {
                primary,
                avoid,
                fallback,
            } => {
                let p = primary.eval(year, resolve)?;
                let a = avoid.eval(year, resolve)?;
                if p.is_some() && p == a {
                    fallback.eval(year, resolve)?
                } else {
                    p
                }
            }
        })
    }
}

/// Resolves [`DateRule::Holiday`] references against a list of rules.
#[derive(Debug)]
pub(crate) struct Resolver<'a> {
    rules: &'a [HolidayRule],
    depth: u32,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(rules: &'a [HolidayRule]) -> Self {
        Self { rules, depth: 0 }
    }

    fn resolve(&mut self, name: &str, year: i32) -> Result<Option<NaiveDate>> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownHoliday {
                name: name.to_string(),
            })?;
        if self.depth >= 8 {
            return Err(Error::InvalidOption {
                key: format!("holiday `{name}`"),
                reason: "holiday references nest more than 8 deep (a cycle?)".into(),
            });
        }
        self.depth += 1;
        let out = rule_date(rule, year, self);
        self.depth -= 1;
        out
    }
}

/// The actual (unobserved) date of `rule` in `year`, `None` if it does not occur.
pub(crate) fn rule_date(
    rule: &HolidayRule,
    year: i32,
    resolve: &mut Resolver<'_>,
) -> Result<Option<NaiveDate>> {
    if !rule.applies_in(year) {
        return Ok(None);
    }
    Ok(rule
        .date
        .eval(year, resolve)?
        .and_then(|d| add_days(d, rule.offset_days)))
}

/// Adds a signed number of days (`None` on overflow).
pub(crate) fn add_days(d: NaiveDate, days: i32) -> Option<NaiveDate> {
    if days >= 0 {
        d.checked_add_days(Days::new(days as u64))
    } else {
        d.checked_sub_days(Days::new(days.unsigned_abs() as u64))
    }
}

/// Easter Sunday (Gregorian calendar) by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher). Valid for every Gregorian year.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// The `n`th `weekday` of `month` (negative `n` from the end).
pub fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: i32) -> Option<NaiveDate> {
    if n > 0 {
        let n = u8::try_from(n).ok()?;
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
    } else if n < 0 {
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let last = NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()?;
        let back = (last.weekday().num_days_from_monday() + 7 - weekday.num_days_from_monday()) % 7;
        let d = add_days(last, -(back as i32) - 7 * (-n - 1))?;
        (d.month() == month).then_some(d)
    } else {
        None
    }
}

fn weekday_relative(d: NaiveDate, weekday: Weekday, direction: Direction) -> Option<NaiveDate> {
    let cur = d.weekday().num_days_from_monday() as i32;
    let want = weekday.num_days_from_monday() as i32;
    let fwd = (want - cur).rem_euclid(7);
    let back = (cur - want).rem_euclid(7);
    match direction {
        Direction::OnOrAfter => add_days(d, fwd),
        Direction::OnOrBefore => add_days(d, -back),
        Direction::After => add_days(d, if fwd == 0 { 7 } else { fwd }),
        Direction::Before => add_days(d, -(if back == 0 { 7 } else { back })),
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// One occurrence of a holiday.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holiday {
    /// The date.
    pub date: NaiveDate,
    /// The label; substitute days carry `" (observed)"`.
    pub name: String,
    /// Whether this is a substitute (observed) day.
    pub observed: bool,
}

/// A named list of rules evaluated together (observed days look at the whole set).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HolidaySet {
    /// The rules, in order (observed days are assigned in this order).
    pub rules: Vec<HolidayRule>,
}

impl HolidaySet {
    /// A set from rules.
    pub fn new(rules: Vec<HolidayRule>) -> Self {
        Self { rules }
    }

    /// The official national public holidays of `code` (`US`, `GB`, `CA`, `AU`, `DE`, `FR`)
    /// or a supported subdivision (`GB-ENG`, `GB-SCT`, `DE-BY`, ...); see
    /// [`crate::countries::SUPPORTED`].
    pub fn public(code: &str) -> Result<Self> {
        crate::countries::public(code).map(Self::new)
    }

    /// The commercial events for a country (`None`: the events common to all countries).
    pub fn commercial(code: Option<&str>) -> Result<Self> {
        crate::countries::commercial(code).map(Self::new)
    }

    /// Adds a rule.
    pub fn with_rule(mut self, rule: HolidayRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Validates every rule; `key` prefixes error keys.
    pub fn validate(&self, key: &str) -> Result<()> {
        for (i, r) in self.rules.iter().enumerate() {
            r.validate(&format!("{key}[{i}]"))?;
        }
        Ok(())
    }

    /// The occurrences that the rules generate for `year`, observed days included
    /// (an observed day can fall in a neighbouring year, e.g. the US New Year's Day of
    /// 2022 was observed on 2021-12-31), sorted by date.
    pub fn for_year(&self, year: i32) -> Result<Vec<Holiday>> {
        let mut out = Vec::new();
        let mut occupied = BTreeSet::new();
        let mut actual = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let mut resolver = Resolver::new(&self.rules);
            let d = rule_date(rule, year, &mut resolver)?;
            if let Some(d) = d {
                occupied.insert(d);
                out.push(Holiday {
                    date: d,
                    name: rule.name.clone(),
                    observed: false,
                });
            }
            actual.push(d);
        }
        for (rule, d) in self.rules.iter().zip(actual) {
            let Some(d) = d else { continue };
            if !is_weekend(d) {
                continue;
            }
            let sub = match (rule.observed, d.weekday()) {
                (Observance::None, _) => None,
                (Observance::NearestWeekday, Weekday::Sat) => add_days(d, -1),
                (Observance::NearestWeekday, _) => add_days(d, 1),
                (Observance::NextMonday, Weekday::Sat) => add_days(d, 2),
                (Observance::NextMonday, _) => add_days(d, 1),
                (Observance::SundayToMonday, Weekday::Sun) => add_days(d, 1),
                (Observance::SundayToMonday, _) => None,
                (Observance::NextFreeWeekday, _) => {
                    let mut c = add_days(d, 1);
                    while let Some(x) = c {
                        if is_weekend(x) || occupied.contains(&x) {
                            c = add_days(x, 1);
                        } else {
                            break;
                        }
                    }
                    c
                }
            };
            if let Some(s) = sub {
                occupied.insert(s);
                out.push(Holiday {
                    date: s,
                    name: format!("{} (observed)", rule.name),
                    observed: true,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every occurrence with a date in `start..=end`, sorted by date.
    pub fn between(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<Holiday>> {
        let mut out = Vec::new();
        for year in start.year() - 1..=end.year() + 1 {
            out.extend(
                self.for_year(year)?
                    .into_iter()
                    .filter(|h| h.date >= start && h.date <= end),
            );
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::d;

    #[test]
    fn easter_extremes_and_known_years() {
        assert_eq!(easter_sunday(2008), Some(d(2008, 3, 23)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(easter_sunday(1818), Some(d(1818, 3, 22)));
        assert_eq!(easter_sunday(2285), Some(d(2285, 3, 22)));
        assert_eq!(easter_sunday(1943), Some(d(1943, 4, 25)));
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter_sunday(2000), Some(d(2000, 4, 23)));
    }

    #[test]
    fn nth_and_last_weekday() {
        assert_eq!(
            nth_weekday(2024, 11, Weekday::Thu, 4),
            Some(d(2024, 11, 28))
        );
        assert_eq!(nth_weekday(2024, 5, Weekday::Mon, -1), Some(d(2024, 5, 27)));
        assert_eq!(
            nth_weekday(2024, 12, Weekday::Tue, -1),
            Some(d(2024, 12, 31))
        );
        assert_eq!(nth_weekday(2024, 2, Weekday::Mon, 5), None);
        assert_eq!(nth_weekday(2024, 5, Weekday::Fri, -5), Some(d(2024, 5, 3)));
    }

    #[test]
    fn weekday_relative_directions() {
        let may25_2024 = d(2024, 5, 25); // Saturday
        assert_eq!(
            weekday_relative(may25_2024, Weekday::Mon, Direction::Before),
            Some(d(2024, 5, 20))
        );
        assert_eq!(
            weekday_relative(may25_2024, Weekday::Sat, Direction::OnOrBefore),
            Some(may25_2024)
        );
        assert_eq!(
            weekday_relative(may25_2024, Weekday::Sat, Direction::Before),
            Some(d(2024, 5, 18))
        );
        assert_eq!(
            weekday_relative(may25_2024, Weekday::Sat, Direction::After),
            Some(d(2024, 6, 1))
        );
    }

    #[test]
    fn next_free_weekday_skips_other_holidays() {
        let set = HolidaySet::new(vec![
            HolidayRule::fixed("Christmas Day", 12, 25).with_observed(Observance::NextFreeWeekday),
            HolidayRule::fixed("Boxing Day", 12, 26).with_observed(Observance::NextFreeWeekday),
        ]);
        // 2021: Christmas Saturday, Boxing Day Sunday.
        let dates: Vec<_> = set
            .for_year(2021)
            .unwrap()
            .into_iter()
            .map(|h| h.date)
            .collect();
        assert_eq!(
            dates,
            vec![
                d(2021, 12, 25),
                d(2021, 12, 26),
                d(2021, 12, 27),
                d(2021, 12, 28)
            ]
        );
    }

    #[test]
    fn observance_kinds() {
        // 2022-01-01 is a Saturday, 2023-01-01 a Sunday.
        let observed = |o: Observance, y: i32| -> Vec<NaiveDate> {
            HolidaySet::new(vec![HolidayRule::fixed("NY", 1, 1).with_observed(o)])
                .for_year(y)
                .unwrap()
                .into_iter()
                .filter(|h| h.observed)
                .map(|h| h.date)
                .collect()
        };
        assert_eq!(
            observed(Observance::NearestWeekday, 2022),
            vec![d(2021, 12, 31)]
        );
        assert_eq!(
            observed(Observance::NearestWeekday, 2023),
            vec![d(2023, 1, 2)]
        );
        assert_eq!(observed(Observance::NextMonday, 2022), vec![d(2022, 1, 3)]);
        assert_eq!(observed(Observance::SundayToMonday, 2022), vec![]);
        assert_eq!(
            observed(Observance::SundayToMonday, 2023),
            vec![d(2023, 1, 2)]
        );
        assert_eq!(observed(Observance::None, 2023), vec![]);
        assert_eq!(observed(Observance::NextFreeWeekday, 2024), vec![]);
    }

    #[test]
    fn holiday_reference_and_cycle() {
        // The holiday `name`, on the day of the holiday called `of`.
        let on_holiday =
            |name: &str, of: &str| HolidayRule::new(name, DateRule::Holiday { name: of.into() });
        let set = HolidaySet::new(vec![
            HolidayRule::nth_weekday("Thanksgiving", 11, Weekday::Thu, 4),
            on_holiday("Black Friday", "thanksgiving").with_offset_days(1),
        ]);
        let hs = set.for_year(2023).unwrap();
        assert_eq!(hs[1].date, d(2023, 11, 24));
        let cyc = HolidaySet::new(vec![on_holiday("Loop", "Loop")]);
        assert!(matches!(
            cyc.for_year(2023),
            Err(Error::InvalidOption { .. })
        ));
        let missing = HolidaySet::new(vec![on_holiday("X", "Nope")]);
        assert!(matches!(
            missing.for_year(2023),
            Err(Error::UnknownHoliday { .. })
        ));
    }

    #[test]
    fn validation_names_the_key() {
        let r = HolidayRule::fixed("Bad", 2, 30);
        let e = r.validate("custom_holidays[0]").unwrap_err().to_string();
        assert!(e.contains("custom_holidays[0].date.day"), "{e}");
        let r = HolidayRule::nth_weekday("Bad", 5, Weekday::Mon, 0);
        let e = r.validate("x").unwrap_err().to_string();
        assert!(e.contains("x.date.n"), "{e}");
    }
}
