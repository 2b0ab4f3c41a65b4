//! What a connector is asked to pull.

use chrono::NaiveDate;

use crate::builder::strings;
use crate::{Error, Result};

/// The level of aggregation a platform reports at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Level {
    /// One row per ad account.
    Account,
    /// One row per campaign (the default).
    #[default]
    Campaign,
    /// One row per ad set (Meta) or ad group (Google Ads).
    AdGroup,
    /// One row per ad.
    Ad,
}

impl Level {
    /// The lower-case name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Account => "account",
            Level::Campaign => "campaign",
            Level::AdGroup => "ad_group",
            Level::Ad => "ad",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "account" => Ok(Level::Account),
            "campaign" => Ok(Level::Campaign),
            "ad_group" | "adgroup" | "adset" | "ad_set" => Ok(Level::AdGroup),
            "ad" => Ok(Level::Ad),
            other => Err(Error::InvalidRequest {
                message: format!(
                    "unknown level `{other}`; expected account, campaign, ad_group or ad"
                ),
            }),
        }
    }
}

/// How many days each reported row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TimeIncrement {
    /// One row per day (the default, and what causal analysis needs).
    #[default]
    Daily,
    /// One row for the whole date range.
    WholeRange,
}

/// A request for data: an inclusive date range, a level, fields and breakdowns.
///
/// Build it with [`ConnectorRequest::new`] and the `with_*` setters; the date range is
/// validated once, at construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRequest {
    start: NaiveDate,
    end: NaiveDate,
    /// Aggregation level.
    pub level: Level,
    /// Platform fields to pull; empty means the connector's documented default set.
    pub fields: Vec<String>,
    /// Breakdown (segment) dimensions, such as `age`, `device_platform` or `segments.device`.
    pub breakdowns: Vec<String>,
    /// Days per row.
    pub time_increment: TimeIncrement,
}

impl ConnectorRequest {
    /// A daily, campaign-level request for `start..=end` with default fields.
    ///
    /// Fails when `end` is before `start`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self> {
        if end < start {
            return Err(Error::InvalidRequest {
                message: format!("date range ends ({end}) before it starts ({start})"),
            });
        }
        Ok(Self {
            start,
            end,
            level: Level::default(),
            fields: Vec::new(),
            breakdowns: Vec::new(),
            time_increment: TimeIncrement::default(),
        })
    }

    /// First day of the range (inclusive).
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// Last day of the range (inclusive).
    pub fn end(&self) -> NaiveDate {
        self.end
    }

    /// Number of days in the range.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    liftos_core::setters! {
        /// Sets the aggregation level.
        with_level(level: Level);
        /// Sets the fields to pull.
        with_fields(fields: impl IntoIterator<Item = impl Into<String>>) => strings(fields);
        /// Sets the breakdown dimensions.
        with_breakdowns(breakdowns: impl IntoIterator<Item = impl Into<String>>)
            => strings(breakdowns);
        /// Sets the time increment.
        with_time_increment(time_increment: TimeIncrement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_mentions, d};

    #[test]
    fn a_reversed_range_is_rejected_with_both_dates_named() {
        let err = ConnectorRequest::new(d("2024-02-01"), d("2024-01-01")).unwrap_err();
        let text = err.to_string();
        assert_mentions(&text, &["2024-02-01", "2024-01-01"]);
    }

    #[test]
    fn days_counts_both_ends() {
        let r = ConnectorRequest::new(d("2024-01-01"), d("2024-12-31")).unwrap();
        assert_eq!(r.days(), 366);
        let one = ConnectorRequest::new(d("2024-03-05"), d("2024-03-05")).unwrap();
        assert_eq!(one.days(), 1);
    }

    #[test]
    fn levels_parse_from_their_common_spellings() {
        assert_eq!("adset".parse::<Level>().unwrap(), Level::AdGroup);
        assert_eq!(" Campaign ".parse::<Level>().unwrap(), Level::Campaign);
        assert!("region".parse::<Level>().is_err());
        for level in [Level::Account, Level::Campaign, Level::AdGroup, Level::Ad] {
            assert_eq!(level.as_str().parse::<Level>().unwrap(), level);
        }
    }
}
