//! Built-in holiday rule sets: national public holidays and commercial events.
//!
//! National level follows the definition of the Python `holidays` package: the public
//! holidays observed in every subdivision of the country (so Easter Monday is not in `GB`,
//! because Scotland does not have it; it is in `GB-ENG`). The sets were cross-checked
//! date by date against that package (version 0.109) for 1975–2100, Germany from 1991: no
//! date differs (see the crate README and `scripts/holidays_diff.py`).

use chrono::Weekday::{Mon, Sun, Thu};

use crate::rules::{DateRule, Direction, HolidayRule, Observance};
use crate::{Error, Result};

/// Country and subdivision codes with built-in public holidays.
pub const SUPPORTED: &[&str] = &[
    "US", "GB", "GB-ENG", "GB-WLS", "GB-SCT", "GB-NIR", "CA", "AU", "DE", "DE-BY", "FR",
];

/// The public holiday rules of a country or subdivision code (case-insensitive).
pub fn public(code: &str) -> Result<Vec<HolidayRule>> {
    let upper = code.trim().to_ascii_uppercase().replace('_', "-");
    Ok(match upper.as_str() {
        "US" => us(),
        "GB" | "UK" => gb(),
        "GB-ENG" | "GB-WLS" => gb_eng(),
        "GB-SCT" => gb_sct(),
        "GB-NIR" => gb_nir(),
        "CA" => ca(),
        "AU" => au(),
        "DE" => de(),
        "DE-BY" => de_by(),
        "FR" => fr(),
        _ => {
            return Err(Error::UnknownCountry {
                code: code.to_string(),
                supported: SUPPORTED.join(", "),
            });
        }
    })
}

fn us() -> Vec<HolidayRule> {
    use Observance::NearestWeekday as Obs;
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1).with_observed(Obs),
        HolidayRule::nth_weekday("Martin Luther King Jr. Day", 1, Mon, 3).from_year(1986),
        HolidayRule::nth_weekday("Washington's Birthday", 2, Mon, 3).from_year(1971),
        HolidayRule::last_weekday("Memorial Day", 5, Mon).from_year(1971),
        HolidayRule::fixed("Juneteenth National Independence Day", 6, 19)
            .with_observed(Obs)
            .from_year(2021),
        HolidayRule::fixed("Independence Day", 7, 4).with_observed(Obs),
        HolidayRule::nth_weekday("Labor Day", 9, Mon, 1),
        HolidayRule::nth_weekday("Columbus Day", 10, Mon, 2).from_year(1971),
        HolidayRule::nth_weekday("Veterans Day", 10, Mon, 4)
            .from_year(1971)
            .until_year(1977),
        HolidayRule::fixed("Veterans Day", 11, 11)
            .with_observed(Obs)
            .from_year(1978),
        HolidayRule::nth_weekday("Thanksgiving Day", 11, Thu, 4).from_year(1942),
        HolidayRule::fixed("Christmas Day", 12, 25).with_observed(Obs),
    ]
}

/// A holiday on a fixed date in `year` only (a bank holiday moved that year).
fn fixed_in(name: &str, month: u32, day: u32, year: i32) -> HolidayRule {
    HolidayRule::fixed(name, month, day)
        .from_year(year)
        .until_year(year)
}

/// Holidays common to every UK nation (England, Wales, Scotland, Northern Ireland).
fn gb() -> Vec<HolidayRule> {
    use Observance::NextFreeWeekday as Obs;
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1)
            .with_observed(Obs)
            .from_year(1974),
        HolidayRule::easter("Good Friday", -2),
        // Early May bank holiday, moved to VE Day in 1995 and 2020.
        HolidayRule::nth_weekday("May Day", 5, Mon, 1)
            .from_year(1978)
            .with_skip_years([1995, 2020]),
        fixed_in("May Day", 5, 8, 1995),
        fixed_in("May Day", 5, 8, 2020),
        // Spring bank holiday, moved for the jubilees of 2002, 2012 and 2022.
        HolidayRule::last_weekday("Spring Bank Holiday", 5, Mon)
            .from_year(1971)
            .with_skip_years([2002, 2012, 2022]),
        fixed_in("Spring Bank Holiday", 6, 4, 2002),
        fixed_in("Spring Bank Holiday", 6, 4, 2012),
        fixed_in("Spring Bank Holiday", 6, 2, 2022),
        HolidayRule::fixed("Christmas Day", 12, 25).with_observed(Obs),
        HolidayRule::fixed("Boxing Day", 12, 26).with_observed(Obs),
        // One-off bank holidays proclaimed for the whole UK.
        HolidayRule::on("Silver Jubilee of Elizabeth II", ymd(1977, 6, 7)),
        HolidayRule::on("Wedding of Charles and Diana", ymd(1981, 7, 29)),
        HolidayRule::on("Millennium Celebrations", ymd(1999, 12, 31)),
        HolidayRule::on("Golden Jubilee of Elizabeth II", ymd(2002, 6, 3)),
        HolidayRule::on("Wedding of William and Catherine", ymd(2011, 4, 29)),
        HolidayRule::on("Diamond Jubilee of Elizabeth II", ymd(2012, 6, 5)),
        HolidayRule::on("Platinum Jubilee of Elizabeth II", ymd(2022, 6, 3)),
        HolidayRule::on("State Funeral of Queen Elizabeth II", ymd(2022, 9, 19)),
        HolidayRule::on("Coronation of Charles III", ymd(2023, 5, 8)),
    ]
}

/// A bank holiday of one UK nation: a fixed date since `from_year`, moved to the next
/// free weekday when it falls on a weekend or another holiday.
fn regional(name: &str, month: u32, day: u32, from_year: i32) -> HolidayRule {
    HolidayRule::fixed(name, month, day)
        .with_observed(Observance::NextFreeWeekday)
        .from_year(from_year)
}

fn gb_eng() -> Vec<HolidayRule> {
    let mut rules = gb();
    rules.push(HolidayRule::easter("Easter Monday", 1));
    rules.push(HolidayRule::last_weekday("Late Summer Bank Holiday", 8, Mon).from_year(1971));
    rules
}

fn gb_nir() -> Vec<HolidayRule> {
    let mut rules = gb_eng();
    rules.push(regional("Saint Patrick's Day", 3, 17, 1903));
    rules.push(regional("Battle of the Boyne", 7, 12, 1926));
    rules
}

fn gb_sct() -> Vec<HolidayRule> {
    let mut rules = gb();
    // Insert right after New Year's Day so observed days are assigned in calendar order.
    rules.insert(1, regional("New Year Holiday", 1, 2, 1974));
    rules.push(HolidayRule::nth_weekday("Summer Bank Holiday", 8, Mon, 1).from_year(1971));
    rules.push(regional("Saint Andrew's Day", 11, 30, 2006));
    rules.push(HolidayRule::on(
        "Scotland's participation in the FIFA World Cup final",
        ymd(2026, 6, 15),
    ));
    rules
}

fn ca() -> Vec<HolidayRule> {
    use Observance::NextMonday as Obs;
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1).with_observed(Obs),
        HolidayRule::easter("Good Friday", -2),
        HolidayRule::fixed("Canada Day", 7, 1).from_year(1983),
        HolidayRule::fixed("Dominion Day", 7, 1).until_year(1982),
        HolidayRule::nth_weekday("Labour Day", 9, Mon, 1).from_year(1894),
        HolidayRule::fixed("Christmas Day", 12, 25).with_observed(Obs),
    ]
}

fn au() -> Vec<HolidayRule> {
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1),
        HolidayRule::fixed("Australia Day", 1, 26).from_year(1935),
        HolidayRule::easter("Good Friday", -2),
        HolidayRule::easter("Easter Monday", 1),
        HolidayRule::fixed("ANZAC Day", 4, 25).from_year(1921),
        HolidayRule::fixed("Christmas Day", 12, 25),
        HolidayRule::fixed("Boxing Day", 12, 26),
        HolidayRule::on(
            "National Day of Mourning for Queen Elizabeth II",
            ymd(2022, 9, 22),
        ),
    ]
}

/// Germany from reunification: the `holidays` package starts the national set in 1991.
fn de() -> Vec<HolidayRule> {
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1),
        HolidayRule::easter("Good Friday", -2),
        HolidayRule::easter("Easter Monday", 1),
        HolidayRule::fixed("Labour Day", 5, 1),
        HolidayRule::easter("Ascension Day", 39),
        HolidayRule::easter("Whit Monday", 50),
        HolidayRule::fixed("German Unity Day", 10, 3),
        // Reformation Day was a national holiday once, for its 500th anniversary.
        HolidayRule::on("Reformation Day", ymd(2017, 10, 31)),
        // Repentance and Prayer Day: the Wednesday on or before November 22; national
        // until 1994 (abolished from 1995 everywhere except Saxony).
        HolidayRule::new(
            "Repentance and Prayer Day",
            DateRule::WeekdayRelative {
                month: 11,
                day: 22,
                weekday: chrono::Weekday::Wed,
                direction: Direction::OnOrBefore,
            },
        )
        .until_year(1994),
        HolidayRule::fixed("Christmas Day", 12, 25),
        HolidayRule::fixed("Second Day of Christmas", 12, 26),
    ]
    .into_iter()
    .map(|r| {
        let start = r.start_year.unwrap_or(1991).max(1991);
        r.from_year(start)
    })
    .collect()
}

fn de_by() -> Vec<HolidayRule> {
    let mut rules = de();
    rules.push(HolidayRule::fixed("Epiphany", 1, 6).from_year(1991));
    rules.push(HolidayRule::easter("Corpus Christi", 60).from_year(1991));
    rules.push(HolidayRule::fixed("All Saints' Day", 11, 1).from_year(1991));
    rules
}

fn fr() -> Vec<HolidayRule> {
    vec![
        HolidayRule::fixed("New Year's Day", 1, 1),
        HolidayRule::easter("Easter Monday", 1),
        HolidayRule::fixed("Labour Day", 5, 1),
        HolidayRule::fixed("Victory Day", 5, 8).from_year(1982),
        HolidayRule::easter("Ascension Day", 39),
        // Whit Monday became the "day of solidarity" (a working day) in 2005-2007.
        HolidayRule::easter("Whit Monday", 50).with_skip_years([2005, 2006, 2007]),
        HolidayRule::fixed("Bastille Day", 7, 14),
        HolidayRule::fixed("Assumption Day", 8, 15),
        HolidayRule::fixed("All Saints' Day", 11, 1),
        HolidayRule::fixed("Armistice Day", 11, 11),
        HolidayRule::fixed("Christmas Day", 12, 25),
    ]
}

fn ymd(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    // Only called with literal, valid dates.
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Commercial (retail) events: not days off, but days that move demand.
///
/// Common to every country: Valentine's Day (Feb 14), Halloween (Oct 31), Black Friday (the
/// day after the fourth Thursday of November, as in the US; the sales event is global),
/// Cyber Monday (the Monday after), Christmas Eve (Dec 24) and New Year's Eve (Dec 31).
/// Per country, Mother's Day and Father's Day:
///
/// | country | Mother's Day | Father's Day |
/// |---|---|---|
/// | US, CA | 2nd Sunday of May | 3rd Sunday of June |
/// | GB | Mothering Sunday: Easter − 21 days | 3rd Sunday of June |
/// | AU | 2nd Sunday of May | 1st Sunday of September |
/// | DE | 2nd Sunday of May | Ascension Day (Easter + 39, "Vatertag") |
/// | FR | last Sunday of May, or 1st Sunday of June when that is Pentecost | 3rd Sunday of June |
///
/// Prime-Day-style events vary by year: add them as custom events (one-off dates).
pub fn commercial(code: Option<&str>) -> Result<Vec<HolidayRule>> {
    let black_friday = HolidayRule::nth_weekday("Black Friday", 11, Thu, 4).with_offset_days(1);
    let cyber_monday = HolidayRule::nth_weekday("Cyber Monday", 11, Thu, 4).with_offset_days(4);
    let mut rules = vec![HolidayRule::fixed("Valentine's Day", 2, 14)];
    let country = match code {
        None => None,
        Some(c) => {
            // Validate the code and reduce a subdivision to its country.
            public(c)?;
            let upper = c.trim().to_ascii_uppercase().replace('_', "-");
            Some(upper.split('-').next().unwrap_or_default().to_string())
        }
    };
    let second_sunday_may = HolidayRule::nth_weekday("Mother's Day", 5, Sun, 2);
    let third_sunday_june = HolidayRule::nth_weekday("Father's Day", 6, Sun, 3);
    match country.as_deref() {
        Some("US" | "CA") => {
            rules.push(second_sunday_may);
            rules.push(third_sunday_june);
        }
        Some("GB" | "UK") => {
            rules.push(HolidayRule::easter("Mothering Sunday", -21));
            rules.push(third_sunday_june);
        }
        Some("AU") => {
            rules.push(second_sunday_may);
            rules.push(HolidayRule::nth_weekday("Father's Day", 9, Sun, 1));
        }
        Some("DE") => {
            rules.push(second_sunday_may);
            rules.push(HolidayRule::easter("Father's Day", 39));
        }
        Some("FR") => {
            rules.push(HolidayRule::new(
                "Mother's Day",
                DateRule::AvoidClash {
                    primary: Box::new(DateRule::NthWeekday {
                        month: 5,
                        weekday: Sun,
                        n: -1,
                    }),
                    avoid: Box::new(DateRule::Easter { offset: 49 }),
                    fallback: Box::new(DateRule::NthWeekday {
                        month: 6,
                        weekday: Sun,
                        n: 1,
                    }),
                },
            ));
            rules.push(third_sunday_june);
        }
        _ => {}
    }
    rules.extend([
        HolidayRule::fixed("Halloween", 10, 31),
        black_friday,
        cyber_monday,
        HolidayRule::fixed("Christmas Eve", 12, 24),
        HolidayRule::fixed("New Year's Eve", 12, 31),
    ]);
    Ok(rules)
}
