//! Calendar days as Arrow's `Date32` (days since 1970-01-01), on arrow's own conversions,
//! and the names of weekdays and months.

use arrow::datatypes::Date32Type;
use chrono::NaiveDate;

/// Weekday names, Monday first, as results and truths name them.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Month names, January first, as results and truths name them.
pub const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `day` as a `Date32` value.
pub fn to_date32(day: NaiveDate) -> i32 {
    Date32Type::from_naive_date(day)
}

/// The calendar day of a `Date32` value; `None` outside chrono's range (±262,000 years).
pub fn from_date32(value: i32) -> Option<NaiveDate> {
    Date32Type::to_naive_date_opt(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_date32() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(to_date32(d), 19_782);
        assert_eq!(from_date32(19_782), Some(d));
        assert_eq!(from_date32(0), NaiveDate::from_ymd_opt(1970, 1, 1));
        assert_eq!(from_date32(i32::MAX), None);
    }
}
