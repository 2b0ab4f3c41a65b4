//! Helpers of this crate's unit tests.

use chrono::NaiveDate;

/// `YYYY-MM-DD` as a date.
pub(crate) fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Asserts that `text` (an error message, a log) mentions every one of `parts`.
#[track_caller]
pub(crate) fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` is not in: {text}");
    }
}
