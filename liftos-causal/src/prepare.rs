//! [`prepare_causal_data`]: from the enriched daily table to the estimation panel.
//!
//! Roles follow the seed's names (`treatment_variables`, `outcome_variables`,
//! `control_variables`, `time_variable`, `entity_variable`). The panel keeps, besides
//! the numeric covariates, everything later steps need: the date of each row (temporal
//! effects, placebo leads, time-blocked cross-validation), the channel (results per
//! channel) and the entity (clusters, adstock within a campaign's flight).

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use arrow::record_batch::RecordBatch;
use chrono::Datelike;
use serde::Serialize;

use crate::{Error, Result};

/// How the treatment was assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreatmentAssignment {
    /// Spend followed the business's own decisions (the usual case): the treatment model
    /// E[W | X] is learned from the data.
    #[default]
    Observational,
    /// Spend was randomized independently of the controls (a lift test, a geo
    /// experiment): the propensity is the known constant mean and no treatment model is fit.
    Randomized,
}

impl TreatmentAssignment {
    /// Parses `observational` or `randomized`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "observational" => Ok(TreatmentAssignment::Observational),
            "randomized" | "randomised" => Ok(TreatmentAssignment::Randomized),
            other => Err(Error::param(
                "treatment_assignment",
                other,
                "`observational` or `randomized`",
            )),
        }
    }

    /// The name as written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            TreatmentAssignment::Observational => "observational",
            TreatmentAssignment::Randomized => "randomized",
        }
    }
}

/// Carryover of the treatment: geometric adstock `a_t = w_t + θ·a_{t−1}` within each
/// entity's daily series. The default is [`Adstock::Auto`] (θ searched per channel).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Adstock {
    /// No carryover (θ = 0): the opt-out (`--adstock none`, and what `--response linear`
    /// implies when no adstock is named).
    None,
    /// Choose θ per channel together with its saturation curve (default), on
    /// [`ResponseOptions::adstock_grid`](crate::ResponseOptions::adstock_grid).
    #[default]
    Auto,
    /// The same fixed decay for every channel.
    Fixed(f64),
    /// A fixed decay per channel (channels not listed get θ = 0).
    PerChannel(BTreeMap<String, f64>),
    /// Choose θ per channel on this grid by cross-fitted loss (see
    /// [`choose_adstock_decay`](crate::attribution::choose_adstock_decay)).
    Grid(Vec<f64>),
}

impl Adstock {
    /// The default grid 0, 0.1, …, 0.9.
    pub fn default_grid() -> Self {
        Adstock::Grid((0..10).map(|k| k as f64 / 10.0).collect())
    }

    /// Parses `none` (or empty), `auto`, `grid` ([`default_grid`](Self::default_grid)) or
    /// a fixed decay such as `0.5`, as written on the command line and in `liftos.toml`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for any other text (the decay's range is checked when
    /// the panel is prepared).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "none" | "" => Ok(Adstock::None),
            "auto" => Ok(Adstock::Auto),
            "grid" => Ok(Adstock::default_grid()),
            v => v.parse::<f64>().map(Adstock::Fixed).map_err(|_| {
                Error::param("adstock", v, "`auto`, `none`, `grid` or a decay in [0, 1)")
            }),
        }
    }
}

/// The roles of the table's columns and the preparation options.
///
/// | Name | Default | Meaning |
/// |---|---|---|
/// | `treatment_variables` | `["spend"]` | numeric treatments; each is analysed separately |
/// | `outcome_variables` | `["revenue"]` | numeric outcomes; each is analysed separately |
/// | `control_variables` | `[]` | extra controls: numeric, boolean (0/1) or text (encoded as codes) |
/// | `time_variable` | `Some("date")` | Date32 (or `YYYY-MM-DD` text) column; derives calendar controls |
/// | `entity_variable` | `Some("campaign")` | the unit of the panel (clusters, adstock series, fixed effects) |
/// | `channel_variable` | `Some("channel")` | results are reported per value of this column |
/// | `calendar_controls` | `true` | add day of week, day of year, month, trend, weekend and the calendar's flag columns (`is_holiday`, `is_commercial_event`, ...) when present |
/// | `entity_fixed_effects` | `true` | add the entity's code and its mean log treatment (a Mundlak-style fixed effect) to the controls |
/// | `saturation_features` | `false` | add the entity's 7- and 28-day trailing treatment (excluding today) so effects can vary with spend level |
/// | `common_spend_controls` | `true` | add the day's spend of the *other* entities (their relative log spend, that day and over the 7 days around it) to the controls: a proxy for a demand shock the calendar does not see when it moves several budgets at once (see [`prepare_causal_data`]) |
/// | `adstock` | [`Adstock::Auto`] | carryover of the treatment: θ searched per channel with the response curve ([`Adstock::None`] for none, as with `--response linear`) |
/// | `treatment_assignment` | observational | see [`TreatmentAssignment`] |
///
/// Names of controls must not repeat a treatment or outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CausalRoles {
    /// Treatment columns.
    pub treatment_variables: Vec<String>,
    /// Outcome columns.
    pub outcome_variables: Vec<String>,
    /// Control columns.
    pub control_variables: Vec<String>,
    /// The date column.
    pub time_variable: Option<String>,
    /// The entity (campaign) column.
    pub entity_variable: Option<String>,
    /// The channel column.
    pub channel_variable: Option<String>,
    /// Whether calendar controls are derived from the time variable.
    pub calendar_controls: bool,
    /// Whether entity identity and level enter the controls.
    pub entity_fixed_effects: bool,
    /// Whether trailing treatment levels enter the controls.
    pub saturation_features: bool,
    /// Whether the other entities' spend of the day enters the controls.
    pub common_spend_controls: bool,
    /// Carryover of the treatment.
    pub adstock: Adstock,
    /// How the treatment was assigned.
    pub treatment_assignment: TreatmentAssignment,
}

impl Default for CausalRoles {
    fn default() -> Self {
        CausalRoles {
            treatment_variables: vec!["spend".into()],
            outcome_variables: vec!["revenue".into()],
            control_variables: Vec::new(),
            time_variable: Some("date".into()),
            entity_variable: Some("campaign".into()),
            channel_variable: Some("channel".into()),
            calendar_controls: true,
            entity_fixed_effects: true,
            saturation_features: false,
            common_spend_controls: true,
            adstock: Adstock::Auto,
            treatment_assignment: TreatmentAssignment::Observational,
        }
    }
}

fn strings<I: IntoIterator<Item = S>, S: AsRef<str>>(v: I) -> Vec<String> {
    v.into_iter().map(|s| s.as_ref().to_string()).collect()
}

impl CausalRoles {
    /// Roles with the seed's names: treatments, outcomes and controls.
    pub fn new<I, J, K, S, T, U>(treatments: I, outcomes: J, controls: K) -> Self
    where
        I: IntoIterator<Item = S>,
        J: IntoIterator<Item = T>,
        K: IntoIterator<Item = U>,
        S: AsRef<str>,
        T: AsRef<str>,
        U: AsRef<str>,
    {
        CausalRoles {
            treatment_variables: strings(treatments),
            outcome_variables: strings(outcomes),
            control_variables: strings(controls),
            ..CausalRoles::default()
        }
    }

    liftos_core::setters! {
        /// Sets the time variable (`None`: no time, no calendar controls).
        with_time_variable(name: Option<&str>) => self.time_variable = name.map(str::to_string);
        /// Sets the entity variable.
        with_entity_variable(name: Option<&str>) => self.entity_variable = name.map(str::to_string);
        /// Sets the channel variable.
        with_channel_variable(name: Option<&str>)
            => self.channel_variable = name.map(str::to_string);
        /// Sets the adstock.
        with_adstock(adstock: Adstock);
        /// Sets the treatment assignment.
        with_treatment_assignment(assignment: TreatmentAssignment)
            => self.treatment_assignment = assignment;
        /// Sets `saturation_features`.
        with_saturation_features(on: bool) => self.saturation_features = on;
        /// Sets `common_spend_controls`.
        with_common_spend_controls(on: bool) => self.common_spend_controls = on;
        /// Sets `calendar_controls`.
        with_calendar_controls(on: bool) => self.calendar_controls = on;
        /// Sets `entity_fixed_effects`.
        with_entity_fixed_effects(on: bool) => self.entity_fixed_effects = on;
    }

    /// Checks the roles (also done by [`prepare_causal_data`]); lets a caller fail early,
    /// before any data is read.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid role.
    pub fn validate(&self) -> Result<()> {
        if self.treatment_variables.is_empty() {
            return Err(Error::param(
                "treatment_variables",
                "[]",
                "at least one treatment column",
            ));
        }
        if self.outcome_variables.is_empty() {
            return Err(Error::param(
                "outcome_variables",
                "[]",
                "at least one outcome column",
            ));
        }
        if let Some(c) = self
            .treatment_variables
            .iter()
            .find(|t| self.outcome_variables.contains(t))
        {
            return Err(Error::param(
                "treatment_variables",
                c,
                "a treatment other than the outcome (a column cannot cause itself)",
            ));
        }
        for c in &self.control_variables {
            if self.treatment_variables.contains(c) || self.outcome_variables.contains(c) {
                return Err(Error::param(
                    "control_variables",
                    c,
                    "controls that are neither a treatment nor an outcome (never put the treatment itself in the controls)",
                ));
            }
        }
        let check_decay = |name: &'static str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::param(name, v, "a decay in [0, 1)"))
            }
        };
        match &self.adstock {
            Adstock::Auto | Adstock::None => {}
            Adstock::Fixed(v) => check_decay("adstock", *v)?,
            Adstock::PerChannel(m) => {
                for v in m.values() {
                    check_decay("adstock", *v)?;
                }
            }
            Adstock::Grid(g) => {
                if g.is_empty() {
                    return Err(Error::param("adstock grid", "[]", "at least one decay"));
                }
                for v in g {
                    check_decay("adstock grid", *v)?;
                }
            }
        }
        Ok(())
    }
}

/// The largest outcome or spend a row may hold: a day's amount beyond it is a unit or
/// parsing mistake, and its squares overflow (revenue of 1e300 in every row made the
/// estimation fail as "the channel's transformed spend does not vary").
const MAX_ABS_AMOUNT: f64 = 1e15;

/// A row left out of the panel, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedRow {
    /// Zero-based row of the input table.
    pub row: usize,
    /// The role column that was missing or unusable.
    pub column: String,
    /// The reason in words.
    pub reason: String,
}

/// The estimation panel built by [`prepare_causal_data`].
///
/// Rows with a missing or non-finite value in any role column are left out and listed
/// in [`dropped`](Self::dropped) (never silently); the others are in one order whatever
/// the input's (by date, the natural key and entity, then their values), and `source_rows` maps
/// each panel row to its input row.
#[derive(Debug, Clone, PartialEq)]
pub struct CausalPanel {
    /// The roles used.
    pub roles: CausalRoles,
    /// Input row of each panel row.
    pub source_rows: Vec<usize>,
    /// Rows left out, with the reason.
    pub dropped: Vec<DroppedRow>,
    /// Outcome columns by name, in role order.
    pub outcomes: Vec<(String, Vec<f64>)>,
    /// Treatment columns by name (raw, before adstock), in role order.
    pub treatments: Vec<(String, Vec<f64>)>,
    /// Control (covariate) columns by name: the user's, then the derived ones.
    pub controls: Vec<(String, Vec<f64>)>,
    /// Date of each row (days since 1970-01-01), when there is a time variable.
    pub dates: Option<Vec<i32>>,
    /// Channel of each row (`all` without a channel variable).
    pub channels: Vec<String>,
    /// Entity of each row (`channel/entity`), or `None` without an entity variable.
    pub entities: Option<Vec<String>>,
    /// Holiday flag of each row, when the table has `is_holiday`.
    pub holiday: Option<Vec<bool>>,
    /// Commercial-event flag of each row, when the table has `is_commercial_event`.
    pub event: Option<Vec<bool>>,
    /// The common-spend check, when `common_spend_controls` is on and there are dates and
    /// four or more entities with spend.
    pub common_spend: Option<CommonSpend>,
}

impl CausalPanel {
    /// Rows in the panel.
    pub fn num_rows(&self) -> usize {
        self.source_rows.len()
    }

    /// The panel without the rows of `channel` (every per-row column filtered alike;
    /// the roles, the dropped rows and the common-spend check are kept).
    pub fn without_channel(&self, channel: &str) -> CausalPanel {
        let keep: Vec<bool> = self.channels.iter().map(|c| c != channel).collect();
        let named = |cols: &[(String, Vec<f64>)]| -> Vec<(String, Vec<f64>)> {
            cols.iter()
                .map(|(n, v)| (n.clone(), kept(v, &keep)))
                .collect()
        };
        CausalPanel {
            roles: self.roles.clone(),
            source_rows: kept(&self.source_rows, &keep),
            dropped: self.dropped.clone(),
            outcomes: named(&self.outcomes),
            treatments: named(&self.treatments),
            controls: named(&self.controls),
            dates: self.dates.as_deref().map(|d| kept(d, &keep)),
            channels: kept(&self.channels, &keep),
            entities: self.entities.as_deref().map(|e| kept(e, &keep)),
            holiday: self.holiday.as_deref().map(|h| kept(h, &keep)),
            event: self.event.as_deref().map(|e| kept(e, &keep)),
            common_spend: self.common_spend,
        }
    }

    /// An outcome column by name.
    pub fn outcome(&self, name: &str) -> Option<&[f64]> {
        self.outcomes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A treatment column by name.
    pub fn treatment(&self, name: &str) -> Option<&[f64]> {
        self.treatments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Each control's values at `rows`, in the controls' order (a forest's columns).
    pub(crate) fn controls_at(&self, rows: &[usize]) -> Vec<Vec<f64>> {
        self.controls
            .iter()
            .map(|(_, v)| rows.iter().map(|&i| v[i]).collect())
            .collect()
    }

    /// Dense entity codes (0..k in order of first appearance), or each row its own code.
    pub fn entity_codes(&self) -> Vec<u32> {
        match &self.entities {
            Some(e) => codes_of(e).0,
            None => (0..self.num_rows() as u32).collect(),
        }
    }

    /// Dense date codes, when there is a time variable.
    pub fn date_codes(&self) -> Option<Vec<u32>> {
        self.dates.as_ref().map(|d| {
            let mut uniq: Vec<i32> = d.clone();
            uniq.sort_unstable();
            uniq.dedup();
            d.iter()
                .map(|x| uniq.binary_search(x).map_or(0, |i| i as u32))
                .collect()
        })
    }

    /// Counts of dropped rows by column, for reports.
    pub fn dropped_summary(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for d in &self.dropped {
            *m.entry(d.column.clone()).or_insert(0) += 1;
        }
        m
    }
}

pub(crate) fn codes_of(values: &[String]) -> (Vec<u32>, Vec<String>) {
    let labels = crate::data::Labels::from_strings(values);
    (labels.codes, labels.labels)
}

fn column<'a>(batch: &'a RecordBatch, name: &str, role: &'static str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::MissingColumn {
            column: name.to_string(),
            role,
            available: liftos_core::column_list(&batch.schema()),
        })
}

/// A numeric column as f64 with None for null / non-finite.
fn numeric(batch: &RecordBatch, name: &str, role: &'static str) -> Result<Vec<Option<f64>>> {
    let col = column(batch, name, role)?;
    let dt = col.data_type();
    let ok = dt.is_numeric() || matches!(dt, DataType::Boolean);
    if !ok {
        return Err(Error::NonNumericColumn {
            example: not_a_number(col),
            column: name.to_string(),
            role,
            data_type: dt.to_string(),
        });
    }
    let as_f = cast(col, &DataType::Float64)?;
    let a = as_f.as_primitive::<Float64Type>();
    Ok((0..a.len())
        .map(|i| {
            if a.is_null(i) || !a.value(i).is_finite() {
                None
            } else {
                Some(a.value(i))
            }
        })
        .collect())
}

/// Where a text column is not a number, for [`Error::NonNumericColumn`]: its first value
/// that does not read as one (`: row 5 holds `1,234.5``, rows counted from 1), or that it
/// has no rows (a file with a header alone reads as text).
fn not_a_number(col: &ArrayRef) -> String {
    if col.is_empty() {
        return ": the table has no rows".into();
    }
    let Ok(text) = cast(col, &DataType::Utf8) else {
        return String::new();
    };
    let text = text.as_string::<i32>();
    (0..text.len())
        .find(|&i| text.is_valid(i) && text.value(i).trim().parse::<f64>().is_err())
        .map_or_else(String::new, |i| {
            format!(": row {} holds `{}`", i + 1, text.value(i))
        })
}

/// Each row's rank among the values of column `name` (nulls first), for the panel's
/// order; `None` when the table has no such column or its type has no order.
fn key_ranks(table: &RecordBatch, name: &str) -> Option<Vec<u32>> {
    let col = table.column_by_name(name)?;
    let col = match col.data_type() {
        DataType::Dictionary(_, _) | DataType::Utf8View => cast(col, &DataType::Utf8).ok()?,
        _ => col.clone(),
    };
    arrow::compute::kernels::rank::rank(&col, None).ok()
}

/// A control: numeric/boolean as is; text encoded as codes in the labels' sorted order.
fn control(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    let col = column(batch, name, "control")?;
    match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let s = cast(col, &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            // Codes in the labels' sorted order, so that they do not depend on the
            // order of the rows.
            let mut index: BTreeMap<&str, f64> = (0..s.len())
                .filter(|&i| !s.is_null(i))
                .map(|i| (s.value(i), 0.0))
                .collect();
            for (k, code) in index.values_mut().enumerate() {
                *code = k as f64;
            }
            Ok((0..s.len())
                .map(|i| (!s.is_null(i)).then(|| index[s.value(i)]))
                .collect())
        }
        _ => numeric(batch, name, "control"),
    }
}

fn text(batch: &RecordBatch, name: &str, role: &'static str) -> Result<Vec<Option<String>>> {
    let col = column(batch, name, role)?;
    let s = cast(col, &DataType::Utf8).map_err(|_| Error::NonNumericColumn {
        example: String::new(),
        column: name.to_string(),
        role,
        data_type: col.data_type().to_string(),
    })?;
    let s = s.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect())
}

fn dates(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i32>>> {
    let col = column(batch, name, "time variable")?;
    let as_date = match col.data_type() {
        DataType::Date32 => col.clone(),
        DataType::Date64 | DataType::Timestamp(_, _) | DataType::Utf8 | DataType::LargeUtf8 => {
            cast(col, &DataType::Date32).map_err(|e| Error::InvalidParameter {
                name: "time_variable",
                value: name.to_string(),
                expected: format!("a date column (Date32 or YYYY-MM-DD text): {e}"),
            })?
        }
        other => {
            return Err(Error::NonNumericColumn {
                example: String::new(),
                column: name.to_string(),
                role: "time variable",
                data_type: format!("{other} (a date is needed)"),
            });
        }
    };
    let a = as_date.as_primitive::<Date32Type>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect())
}

/// The calendar day of a Date32 value (arrow's conversion; days outside chrono's range,
/// ±262,000 years, fall back to 1970-01-01).
pub(crate) fn civil(day: i32) -> chrono::NaiveDate {
    Date32Type::to_naive_date_opt(day).unwrap_or_default()
}

/// Weekday of a Date32 day as an index, Monday = 0 (the `day_of_week` control and the
/// calendar's column are Monday = 1).
pub(crate) fn weekday(day: i32) -> usize {
    civil(day).weekday().num_days_from_monday() as usize
}

/// The items of `v` whose `keep` flag is set, in order (a row or channel filter applied
/// alike to every column).
pub(crate) fn kept<T: Clone>(v: &[T], keep: &[bool]) -> Vec<T> {
    v.iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(x, _)| x.clone())
        .collect()
}

/// (year, month 1..=12, day of year 1..=366) of a Date32 day.
pub(crate) fn ymd(day: i32) -> (i32, u32, u32) {
    let d = civil(day);
    (d.year(), d.month(), d.ordinal())
}

/// Calendar flag columns picked up from the table when present.
const CALENDAR_FLAGS: [&str; 6] = [
    "is_holiday",
    "is_commercial_event",
    "is_business_day",
    "is_month_end",
    "is_quarter_end",
    "is_peak_season",
];

/// Builds the estimation panel from a table and roles.
///
/// - Checks every role column exists with a usable type (errors name the column and role).
/// - Leaves out rows with a missing or non-finite role value, listing each in
///   [`CausalPanel::dropped`].
/// - Puts the kept rows in one order whatever the input's: by date, the unified table's
///   natural key (channel, `account_id`, `campaign_id`, `ad_group` when present) and the
///   entity, then by the values of the roles (the same rows shuffled give the same panel, so the
///   same results; [`CausalPanel::source_rows`] maps them back).
/// - Encodes text controls as codes (in the labels' sorted order); booleans as 0/1.
/// - With a time variable and `calendar_controls`: adds `day_of_week`, `day_of_year`,
///   `month`, `trend` (days since the first date), `is_weekend`, and the calendar crate's
///   flag columns present in the table (`is_holiday`, `is_commercial_event`, ...).
/// - With an entity variable and `entity_fixed_effects`: adds `entity` (code) and
///   `entity_scale` (the entity's mean log treatment), so the forest can learn each
///   campaign's level; the channel's code is added as `channel_code`.
/// - With `saturation_features`: `trailing_7` and `trailing_28`, the entity's mean
///   treatment over the previous 7 and 28 days (today excluded).
///
/// Adstock is applied later, per channel, by [`analyze_attribution`](crate::analyze_attribution)
/// (the panel keeps the raw treatment).
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Date32Array, Float64Array, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow::record_batch::RecordBatch;
/// use liftos_causal::{prepare_causal_data, CausalRoles};
///
/// let schema = Schema::new(vec![
///     Field::new("date", DataType::Date32, false),
///     Field::new("channel", DataType::Utf8, false),
///     Field::new("campaign", DataType::Utf8, false),
///     Field::new("spend", DataType::Float64, true),
///     Field::new("revenue", DataType::Float64, true),
/// ]);
/// let batch = RecordBatch::try_new(Arc::new(schema), vec![
///     Arc::new(Date32Array::from(vec![19723, 19724, 19725])),
///     Arc::new(StringArray::from(vec!["meta", "meta", "meta"])),
///     Arc::new(StringArray::from(vec!["A", "A", "A"])),
///     Arc::new(Float64Array::from(vec![Some(10.0), None, Some(12.0)])),
///     Arc::new(Float64Array::from(vec![40.0, 41.0, 45.0])),
/// ])?;
/// let panel = prepare_causal_data(&batch, &CausalRoles::default())?;
/// assert_eq!(panel.num_rows(), 2);
/// assert_eq!(panel.dropped[0].row, 1); // the missing spend is reported, not lost
/// assert!(panel.controls.iter().any(|(n, _)| n == "day_of_week"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prepare_causal_data(table: &RecordBatch, roles: &CausalRoles) -> Result<CausalPanel> {
    roles.validate()?;
    let n = table.num_rows();
    let mut dropped: Vec<DroppedRow> = Vec::new();
    let mut keep = vec![true; n];
    let mut mark = |col: &Vec<Option<f64>>, name: &str, keep: &mut [bool]| {
        for (i, v) in col.iter().enumerate() {
            let reason = match v {
                None => "missing or not a finite number",
                Some(x) if x.abs() > MAX_ABS_AMOUNT => {
                    "beyond ±1e15, more than a row of daily data can hold (its squares and \
                     sums overflow)"
                }
                Some(_) => continue,
            };
            if keep[i] {
                keep[i] = false;
                dropped.push(DroppedRow {
                    row: i,
                    column: name.to_string(),
                    reason: reason.into(),
                });
            }
        }
    };
    let mut outcomes = Vec::new();
    for name in &roles.outcome_variables {
        let c = numeric(table, name, "outcome")?;
        mark(&c, name, &mut keep);
        outcomes.push((name.clone(), c));
    }
    let mut treatments = Vec::new();
    for name in &roles.treatment_variables {
        let c = numeric(table, name, "treatment")?;
        mark(&c, name, &mut keep);
        treatments.push((name.clone(), c));
    }
    let mut user_controls = Vec::new();
    for name in &roles.control_variables {
        let c = control(table, name)?;
        mark(&c, name, &mut keep);
        user_controls.push((name.clone(), c));
    }
    let date_col = match &roles.time_variable {
        Some(t) => {
            let d = dates(table, t)?;
            let as_opt: Vec<Option<f64>> = d.iter().map(|x| x.map(f64::from)).collect();
            mark(&as_opt, t, &mut keep);
            Some(d)
        }
        None => None,
    };
    // The column of a text role (`role`), its missing rows marked.
    let mut text_role = |name: &Option<String>, role| -> Result<Option<Vec<Option<String>>>> {
        let Some(name) = name else { return Ok(None) };
        let t = text(table, name, role)?;
        let as_opt: Vec<Option<f64>> = t.iter().map(|x| x.as_ref().map(|_| 0.0)).collect();
        mark(&as_opt, name, &mut keep);
        Ok(Some(t))
    };
    let channel_col = text_role(&roles.channel_variable, "channel variable")?;
    let entity_col = text_role(&roles.entity_variable, "entity variable")?;
    let flag_cols: Vec<(&str, Vec<Option<f64>>)> = if roles.calendar_controls {
        CALENDAR_FLAGS
            .iter()
            .filter(|f| table.column_by_name(f).is_some())
            .filter(|f| !roles.control_variables.iter().any(|c| c == *f))
            .map(|f| numeric(table, f, "calendar control").map(|c| (*f, c)))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    for (name, c) in &flag_cols {
        mark(c, name, &mut keep);
    }
    dropped.sort_by_key(|d| d.row);

    // The kept rows in one order whatever the input's: by date, then by the unified
    // table's natural key (channel, account, campaign id, ad group, when the table has
    // them) and the entity, then by every value the analysis reads. The forests'
    // subsamples, the clusters' and labels' codes and every sum follow the panel's order,
    // so the same rows shuffled would otherwise give other numbers. A table in its
    // natural-key order (as `liftos clean` and the sandbox write it) keeps its order.
    // Rows equal in all of these are interchangeable.
    let mut source_rows: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
    {
        let mut key_names: Vec<&str> = Vec::new();
        for name in [
            roles.channel_variable.as_deref(),
            Some("account_id"),
            Some("campaign_id"),
        ]
        .into_iter()
        .chain([Some("ad_group"), roles.entity_variable.as_deref()])
        .flatten()
        {
            if !key_names.contains(&name) {
                key_names.push(name);
            }
        }
        let ranks: Vec<Vec<u32>> = key_names
            .iter()
            .filter_map(|name| key_ranks(table, name))
            .collect();
        let values = |i: usize| -> Vec<f64> {
            outcomes
                .iter()
                .chain(&treatments)
                .chain(&user_controls)
                .map(|(_, c)| &c[i])
                .chain(flag_cols.iter().map(|(_, c)| &c[i]))
                .map(|v| v.unwrap_or(0.0))
                .collect()
        };
        let date_of = |i: usize| date_col.as_ref().and_then(|d| d[i]);
        source_rows.sort_by(|&a, &b| {
            date_of(a)
                .cmp(&date_of(b))
                .then_with(|| {
                    ranks
                        .iter()
                        .map(|r| r[a].cmp(&r[b]))
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .then_with(|| {
                    values(a)
                        .iter()
                        .zip(&values(b))
                        .map(|(x, y)| x.total_cmp(y))
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
        });
    }
    if source_rows.is_empty() {
        return Err(Error::TooLittleData {
            what: format!(
                "rows with every role present ({} of {n} rows left out; the first, row {}: \
                 `{}` {})",
                dropped.len(),
                dropped.first().map_or(0, |d| d.row + 1),
                dropped.first().map_or("", |d| d.column.as_str()),
                dropped.first().map_or("", |d| d.reason.as_str()),
            ),
            found: 0,
            needed: 1,
        });
    }
    let pick = |c: &[Option<f64>]| -> Vec<f64> {
        source_rows.iter().map(|&i| c[i].unwrap_or(0.0)).collect()
    };
    // The kept rows of named columns.
    let pick_all = |cols: Vec<(String, Vec<Option<f64>>)>| -> Vec<(String, Vec<f64>)> {
        cols.into_iter().map(|(n, c)| (n, pick(&c))).collect()
    };
    let outcomes = pick_all(outcomes);
    let treatments = pick_all(treatments);
    let mut controls = pick_all(user_controls);
    let has =
        |controls: &Vec<(String, Vec<f64>)>, name: &str| controls.iter().any(|(n, _)| n == name);

    let dates: Option<Vec<i32>> = date_col.map(|d| {
        source_rows
            .iter()
            .map(|&i| d[i].unwrap_or_default())
            .collect()
    });
    let channels: Vec<String> = match &channel_col {
        Some(c) => source_rows
            .iter()
            .map(|&i| c[i].clone().unwrap_or_default())
            .collect(),
        None => vec!["all".to_string(); source_rows.len()],
    };
    let entities: Option<Vec<String>> = entity_col.map(|e| {
        source_rows
            .iter()
            .enumerate()
            .map(|(k, &i)| format!("{}/{}", channels[k], e[i].clone().unwrap_or_default()))
            .collect()
    });

    if roles.calendar_controls
        && let Some(d) = &dates
    {
        let first = d.iter().copied().min().unwrap_or(0);
        type Derive = Box<dyn Fn(i32) -> f64>;
        let derived: [(&str, Derive); 5] = [
            // Monday = 1, as the calendar's `day_of_week` column.
            ("day_of_week", Box::new(|x| weekday(x) as f64 + 1.0)),
            ("day_of_year", Box::new(|x| ymd(x).2 as f64)),
            ("month", Box::new(|x| ymd(x).1 as f64)),
            ("trend", Box::new(move |x| (x - first) as f64)),
            (
                "is_weekend",
                Box::new(|x| if weekday(x) >= 5 { 1.0 } else { 0.0 }),
            ),
        ];
        for (name, f) in derived {
            if !has(&controls, name) {
                controls.push((name.to_string(), d.iter().map(|&x| f(x)).collect()));
            }
        }
    }
    let flag_of = |name: &str| -> Option<Vec<bool>> {
        flag_cols
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| source_rows.iter().map(|&i| c[i] == Some(1.0)).collect())
    };
    let holiday = flag_of("is_holiday");
    let event = flag_of("is_commercial_event");
    for (name, c) in &flag_cols {
        controls.push((name.to_string(), pick(c)));
    }
    if channel_col.is_some() {
        let (codes, labels) = codes_of(&channels);
        if labels.len() > 1 && !has(&controls, "channel_code") {
            controls.push((
                "channel_code".into(),
                codes.iter().map(|&c| c as f64).collect(),
            ));
        }
    }
    if roles.entity_fixed_effects
        && let Some(e) = &entities
    {
        let (codes, labels) = codes_of(e);
        controls.push(("entity".into(), codes.iter().map(|&c| c as f64).collect()));
        // The entity's typical treatment level (mean log of the first treatment).
        let w = &treatments[0].1;
        let mut sums = vec![(0.0, 0.0); labels.len()];
        for (c, v) in codes.iter().zip(w) {
            sums[*c as usize].0 += v.max(1e-9).ln();
            sums[*c as usize].1 += 1.0;
        }
        controls.push((
            "entity_scale".into(),
            codes
                .iter()
                .map(|c| sums[*c as usize].0 / sums[*c as usize].1)
                .collect(),
        ));
    }
    let mut common = None;
    if roles.common_spend_controls
        && let (Some(e), Some(d)) = (&entities, &dates)
    {
        // Calendar flags of each row as one pattern (bit per flag column).
        let calendar: Vec<u32> = (0..source_rows.len())
            .map(|k| {
                flag_cols.iter().enumerate().fold(0u32, |acc, (b, (_, c))| {
                    let on = c[source_rows[k]] == Some(1.0);
                    acc | (u32::from(on) << b.min(31))
                })
            })
            .collect();
        if let Some((check, day, week)) = common_spend(e, d, &treatments[0].1, &calendar) {
            if check.controlled {
                controls.push(("common_spend".into(), day));
                controls.push(("common_spend_7d".into(), week));
            }
            common = Some(check);
        }
    }
    if roles.saturation_features {
        let w = &treatments[0].1;
        let order = series_order(entities.as_deref(), dates.as_deref(), source_rows.len());
        let mut t7 = vec![0.0; w.len()];
        let mut t28 = vec![0.0; w.len()];
        for series in order {
            for (k, &i) in series.iter().enumerate() {
                let window = |len: usize| -> f64 {
                    let from = k.saturating_sub(len);
                    if k == from {
                        0.0
                    } else {
                        series[from..k].iter().map(|&j| w[j]).sum::<f64>() / len as f64
                    }
                };
                t7[i] = window(7);
                t28[i] = window(28);
            }
        }
        controls.push(("trailing_7".into(), t7));
        controls.push(("trailing_28".into(), t28));
    }
    if controls.is_empty() {
        return Err(Error::param(
            "control_variables",
            "[]",
            "at least one control (give control_variables, a time variable or an entity)",
        ));
    }
    Ok(CausalPanel {
        roles: roles.clone(),
        source_rows,
        dropped,
        outcomes,
        treatments,
        controls,
        dates,
        channels,
        entities,
        holiday,
        event,
        common_spend: common,
    })
}

/// Fewest entities for the common-spend controls (each row's value averages the others).
const COMMON_SPEND_MIN_ENTITIES: usize = 4;

/// The variance ratio above which the common-spend controls are used (see [`CommonSpend`]).
pub const COMMON_SPEND_GATE: f64 = 2.0;

/// What the common-spend check found (see [`prepare_causal_data`]; the business level
/// runs it too, see [`crate::business`]).
///
/// Each entity's relative log spend, net of the entity's level and of the calendar
/// (weekday, the calendar's flags, each entity's half-month level), is averaged over the
/// entities of each day. Without a driver common to the entities that the calendar does
/// not see, that day mean is the average of independent movements and its variance is the
/// entities' variance divided by their number: `variance_ratio` (the day means' variance
/// over that) is then about 1 (below 1.5 on the sandbox's presets without hidden
/// confounding). A demand shock that moves every budget at once raises it (2.2–2.7 on
/// the `latent` preset's campaign panel with about 20 campaigns; 2.4–5.4 over all of a
/// business's campaigns, counting the days each spends). With `m` entities a day moving
/// with a common correlation `ρ` the ratio is about `1 + (m − 1)·ρ`, so it grows with the
/// account's size for the same `ρ`: `correlation` is that `ρ`.
///
/// `controlled`: whether the controls were used (at the platform level `variance_ratio`
/// ≥ [`COMMON_SPEND_GATE`]; at the business level also `correlation` ≥
/// [`crate::business::COMMON_SPEND_MIN_CORRELATION`] and the control allowed, which the
/// results' `common_spend` setting tells).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CommonSpend {
    /// Variance of the day means over its value under independent entities.
    pub variance_ratio: f64,
    /// The common correlation of the entities' movements that the ratio implies,
    /// `(variance_ratio − 1)/(m − 1)` with `m` the mean number of entities a day.
    pub correlation: f64,
    /// Entities with spend.
    pub entities: usize,
    /// Whether the controls were used.
    pub controlled: bool,
}

/// Each spending entity's relative log spend, centred on its own mean (see
/// [`common_spend`]), with the common-spend check on it.
pub(crate) struct RelativeSpend {
    /// The check.
    pub check: CommonSpend,
    /// Entity code of each value.
    pub entity: Vec<u32>,
    /// Day of each value.
    pub days: Vec<i32>,
    /// `ln((w + 0.1·m)/m)`, centred on the entity's mean.
    pub x: Vec<f64>,
    /// `x` net of the weekday, the calendar and each entity's half-month level: the
    /// movement within a fortnight that the check measures.
    pub fast: Vec<f64>,
}

impl RelativeSpend {
    /// Mean of `v` (`x` or `fast`) over the entities of each day.
    pub fn day_means(&self, v: &[f64]) -> BTreeMap<i32, f64> {
        let mut by_day: BTreeMap<i32, (f64, usize)> = BTreeMap::new();
        for (&d, &v) in self.days.iter().zip(v) {
            let e = by_day.entry(d).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
        by_day
            .into_iter()
            .map(|(d, (s, n))| (d, s / n as f64))
            .collect()
    }
}

/// The rows of entities (codes `0..`) that spend as [`RelativeSpend`]; `None` with fewer
/// than [`COMMON_SPEND_MIN_ENTITIES`] entities that spend. `calendar` is each row's
/// pattern of calendar flags.
pub(crate) fn relative_spend(
    codes: &[u32],
    dates: &[i32],
    spend: &[f64],
    calendar: &[u32],
) -> Option<RelativeSpend> {
    let k = codes.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut sum = vec![0.0; k];
    let mut count = vec![0usize; k];
    for (&c, &w) in codes.iter().zip(spend) {
        sum[c as usize] += w.max(0.0);
        count[c as usize] += 1;
    }
    let mean: Vec<f64> = sum
        .iter()
        .zip(&count)
        .map(|(s, &n)| s / n.max(1) as f64)
        .collect();
    let spending = mean.iter().filter(|m| **m > 0.0).count();
    if spending < COMMON_SPEND_MIN_ENTITIES {
        return None;
    }
    // Rows of the entities that spend (an entity that never spends moves nothing).
    let rows: Vec<usize> = (0..codes.len())
        .filter(|&i| mean[codes[i] as usize] > 0.0)
        .collect();
    let mut x: Vec<f64> = rows
        .iter()
        .map(|&i| {
            let m = mean[codes[i] as usize];
            ((spend[i].max(0.0) + 0.1 * m) / m).ln()
        })
        .collect();
    let entity: Vec<u32> = rows.iter().map(|&i| codes[i]).collect();
    let days: Vec<i32> = rows.iter().map(|&i| dates[i]).collect();
    let flags: Vec<u32> = rows.iter().map(|&i| calendar[i]).collect();
    // Centre each entity on its own mean.
    demean(&mut x, &entity);
    let (check, fast) = common_movement(&x, &entity, &days, &flags, spending);
    Some(RelativeSpend {
        check,
        entity,
        days,
        x,
        fast,
    })
}

/// The common-spend check and, when it finds common movement, the other entities' spend
/// around each row's day: `(check, that day, the 7 days centred on it)`; `None` with
/// fewer than [`COMMON_SPEND_MIN_ENTITIES`] entities that spend.
///
/// Each entity's day with spend is its relative log spend `ln((w + 0.1·m)/m)` (`m` its
/// mean spend over those days; paused days do not count, see below), centred on the
/// entity's own mean so that which entities run on a day does not move the factor. A row
/// gets the mean over the *other* entities spending on the day (its own spend left out, so the control never contains the
/// treatment; 0 when no other entity ran). This is the cross-sectional average of
/// Pesaran's common correlated effects estimator: a demand shock that the calendar does
/// not see and that moves several budgets at once (a promotion, news, a competitor
/// leaving) shows up in it, and controlling for it takes that shock out of the slope of
/// revenue on spend; what is left to estimate from is each entity's own movement.
///
/// The controls cost accuracy where there is no such shock (measured on the sandbox's
/// saturation preset: the switch-off error 6–10 points higher), so they are added only
/// when the check finds common movement ([`COMMON_SPEND_GATE`]).
fn common_spend(
    entities: &[String],
    dates: &[i32],
    spend: &[f64],
    calendar: &[u32],
) -> Option<(CommonSpend, Vec<f64>, Vec<f64>)> {
    let (codes, _) = codes_of(entities);
    // The days each entity spends, as at the business level: a paused day is a decision
    // (flights, a launch, a stop), not a budget moving with demand; counted, aligned
    // flights (every campaign on two weeks, off two) read as a common shock (ratio 7.6)
    // and the controls took the on/off movement the effects are estimated from (the
    // switch-off return 22–40% low, where without them every interval covered).
    let spends: Vec<usize> = (0..codes.len()).filter(|&i| spend[i] > 0.0).collect();
    let pick = |v: &dyn Fn(usize) -> u32| spends.iter().map(|&i| v(i)).collect::<Vec<u32>>();
    let rel = relative_spend(
        &pick(&|i| codes[i]),
        &spends.iter().map(|&i| dates[i]).collect::<Vec<_>>(),
        &spends.iter().map(|&i| spend[i]).collect::<Vec<_>>(),
        &pick(&|i| calendar[i]),
    )?;
    let (check, entity, days, x) = (rel.check, rel.entity, rel.days, rel.x);
    let mut by_day: HashMap<i32, (f64, usize)> = HashMap::new();
    let mut own: HashMap<(u32, i32), f64> = HashMap::new();
    for ((&c, &d), &v) in entity.iter().zip(&days).zip(&x) {
        let e = by_day.entry(d).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
        *own.entry((c, d)).or_insert(0.0) += v;
    }
    let others = |c: u32, d: i32| -> (f64, usize) {
        let (s, n) = by_day.get(&d).copied().unwrap_or((0.0, 0));
        match own.get(&(c, d)) {
            Some(v) => (s - v, n.saturating_sub(1)),
            None => (s, n),
        }
    };
    let ratio = |(s, n): (f64, usize)| if n == 0 { 0.0 } else { s / n as f64 };
    let day = codes
        .iter()
        .zip(dates)
        .map(|(&c, &d)| ratio(others(c, d)))
        .collect();
    let week = codes
        .iter()
        .zip(dates)
        .map(|(&c, &d)| {
            ratio(
                (d - 3..=d + 3)
                    .map(|t| others(c, t))
                    .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
            )
        })
        .collect();
    Some((check, day, week))
}

/// Subtracts the mean of each group from its members (groups are codes 0..k).
pub(crate) fn demean(v: &mut [f64], groups: &[u32]) {
    let k = groups.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut sum = vec![0.0; k];
    let mut cnt = vec![0usize; k];
    for (x, g) in v.iter().zip(groups) {
        sum[*g as usize] += x;
        cnt[*g as usize] += 1;
    }
    for (x, g) in v.iter_mut().zip(groups) {
        *x -= sum[*g as usize] / cnt[*g as usize] as f64;
    }
}

/// The variance ratio of [`CommonSpend`]: `x` net of each entity's half-month, weekday
/// and calendar-flag means (alternating projections), averaged per day.
fn common_movement(
    x: &[f64],
    entity: &[u32],
    dates: &[i32],
    calendar: &[u32],
    entities: usize,
) -> (CommonSpend, Vec<f64>) {
    let mut r = x.to_vec();
    let weekday_of: Vec<u32> = dates.iter().map(|&d| weekday(d) as u32).collect();
    let month_of: Vec<u32> = {
        let months: Vec<i64> = dates
            .iter()
            .map(|&d| {
                // Half months: the calendar's slow movements (season, a Q4 that starts
                // mid-November) without the days-long shocks the check looks for.
                let (y, m, _) = ymd(d);
                let day = civil(d).day();
                (i64::from(y) * 12 + i64::from(m)) * 2 + i64::from(day > 15)
            })
            .collect();
        let first = months.iter().copied().min().unwrap_or(0);
        months.iter().map(|&m| (m - first) as u32).collect()
    };
    // Each entity's own half-month level goes too, so that what is left is the
    // movement within a fortnight on both sides of the ratio: budgets that persist for
    // weeks (steps) then do not count as common movement, and neither do slow shocks,
    // which the calendar controls cannot tell from season anyway.
    let halves = month_of.iter().copied().max().map_or(0, |m| m + 1);
    let entity_half: Vec<u32> = entity
        .iter()
        .zip(&month_of)
        .map(|(&e, &h)| e * halves + h)
        .collect();
    for _ in 0..10 {
        for groups in [&weekday_of, calendar, &entity_half] {
            demean(&mut r, groups);
        }
    }
    let mut by_day: BTreeMap<i32, (f64, usize)> = BTreeMap::new();
    let (mut ss, mut n) = (0.0, 0usize);
    for (&v, &d) in r.iter().zip(dates) {
        let e = by_day.entry(d).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
        ss += v * v;
        n += 1;
    }
    let var = ss / n.max(1) as f64;
    let (mut total, mut days, mut active) = (0.0, 0usize, 0usize);
    for &(s, m) in by_day.values() {
        if m >= 2 && var > 0.0 {
            let mean = s / m as f64;
            total += mean * mean * m as f64 / var;
            days += 1;
            active += m;
        }
    }
    let variance_ratio = if days > 0 { total / days as f64 } else { 0.0 };
    // Entities moving with a common correlation ρ give a ratio of about 1 + (m − 1)·ρ
    // with m entities a day.
    let per_day = if days > 0 {
        active as f64 / days as f64
    } else {
        0.0
    };
    let correlation = if per_day > 1.0 {
        (variance_ratio - 1.0) / (per_day - 1.0)
    } else {
        0.0
    };
    let check = CommonSpend {
        variance_ratio,
        correlation,
        entities,
        controlled: variance_ratio >= COMMON_SPEND_GATE,
    };
    (check, r)
}

/// Rows of each entity's series in time order (one series of all rows without entity;
/// input order without dates).
pub(crate) fn series_order(
    entities: Option<&[String]>,
    dates: Option<&[i32]>,
    n: usize,
) -> Vec<Vec<usize>> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let key = entities.map_or("", |e| e[i].as_str());
        by.entry(key).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = by.into_values().collect();
    if let Some(d) = dates {
        for s in &mut out {
            s.sort_by_key(|&i| d[i]);
        }
    }
    out
}

/// Geometric adstock of `w` within each series, `a_t = w_t + θ^gap·a_prev` where `gap`
/// is the number of days since the series' previous row (1 for consecutive days).
pub(crate) fn adstock(
    w: &[f64],
    series: &[Vec<usize>],
    dates: Option<&[i32]>,
    theta: f64,
) -> Vec<f64> {
    let mut out = w.to_vec();
    if theta == 0.0 {
        return out;
    }
    for s in series {
        let mut prev: Option<(usize, f64)> = None;
        for &i in s {
            let carried = match prev {
                Some((j, a)) => {
                    let gap = dates.map_or(1, |d| (d[i] - d[j]).max(1));
                    a * theta.powi(gap)
                }
                None => 0.0,
            };
            out[i] = w[i] + carried;
            prev = Some((i, out[i]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number column read as text names the first value that is not a number (or that
    /// the table has no rows), so the user can find it.
    #[test]
    fn a_text_column_names_its_first_value_that_is_not_a_number() {
        let text = |v: Vec<&str>| -> RecordBatch {
            let col: ArrayRef = std::sync::Arc::new(arrow::array::StringArray::from(v));
            RecordBatch::try_from_iter([("spend", col)]).unwrap()
        };
        let e = numeric(
            &text(vec!["10", " 12.5", "1,234.5", "x"]),
            "spend",
            "treatment",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "column `spend` (the treatment) has type Utf8, which is not numeric: row 3 holds \
             `1,234.5`; encode it as numbers first"
        );
        let e = numeric(&text(vec![]), "spend", "treatment")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not numeric: the table has no rows"), "{e}");
    }

    #[test]
    fn civil_dates() {
        // (year, month, day of year). 2024-01-01 is day 19723, a Monday; 2024-12-31 is
        // day-of-year 366 of the leap year; 2024-02-29 is day-of-year 60.
        assert_eq!(ymd(19723), (2024, 1, 1));
        assert_eq!(weekday(19723), 0);
        assert_eq!(ymd(19723 + 365), (2024, 12, 366));
        assert_eq!(ymd(19723 + 366), (2025, 1, 1));
        assert_eq!(ymd(0), (1970, 1, 1));
        assert_eq!(weekday(0), 3);
        assert_eq!(ymd(19723 + 59), (2024, 2, 60));
        assert_eq!(ymd(19723 + 31), (2024, 2, 32));
    }

    #[test]
    fn adstock_carries_over_gaps() {
        let w = [1.0, 0.0, 2.0, 1.0];
        let series = vec![vec![0, 1, 2], vec![3]];
        let a = adstock(&w, &series, Some(&[0, 1, 3, 0]), 0.5);
        assert_eq!(a[0], 1.0);
        assert_eq!(a[1], 0.5);
        // Day 3 follows day 1 after a two-day gap: 0.5 · 0.25 + 2.
        assert!((a[2] - 2.125).abs() < 1e-12);
        assert_eq!(a[3], 1.0);
    }

    /// Five entities over 40 days with a shared multiplier on days 10..20.
    fn shared_shock_panel() -> (Vec<String>, Vec<i32>, Vec<f64>) {
        let (mut e, mut d, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..5 {
            for t in 0..40 {
                e.push(format!("c{k}"));
                d.push(t);
                let shock = if (10..20).contains(&t) { 2.0 } else { 1.0 };
                // Entity-specific level and a little own movement.
                w.push((k + 1) as f64 * 100.0 * shock * (1.0 + 0.1 * ((t * (k + 2)) % 3) as f64));
            }
        }
        (e, d, w)
    }

    #[test]
    fn common_spend_sees_a_shared_shock_and_never_the_row_itself() {
        let (e, d, w) = shared_shock_panel();
        let cal = vec![0; e.len()];
        let (check, day, week) = common_spend(&e, &d, &w, &cal).unwrap();
        assert!(check.controlled, "{check:?}");
        assert_eq!(check.entities, 5);
        // Inside the shock the other entities spend about twice their usual: ln 2 higher.
        let inside = day[15];
        let outside = day[30];
        assert!(
            (inside - outside - 2f64.ln()).abs() < 0.15,
            "{inside} {outside}"
        );
        // The 7-day value of a day inside the shock, away from its edges, agrees.
        assert!((week[15] - day[15]).abs() < 0.1, "{} {}", week[15], day[15]);
        // A row's own spend never enters its own value.
        let mut w2 = w.clone();
        w2[15] *= 50.0;
        let (_, day2, week2) = common_spend(&e, &d, &w2, &cal).unwrap();
        // Row 15 is entity c0, day 15: its value moves only through its own centring.
        let other_rows_moved = day2[15 + 40] - day[15 + 40];
        assert!(other_rows_moved > 0.5, "{other_rows_moved}");
        assert!(
            (day2[15] - day[15]).abs() < 1e-12,
            "{} {}",
            day2[15],
            day[15]
        );
        assert!((week2[15] - week[15]).abs() < 1e-12);
    }

    #[test]
    fn common_spend_needs_four_entities_that_spend() {
        let (e, d, mut w) = shared_shock_panel();
        // Two of the five never spend: three left.
        for (i, ent) in e.iter().enumerate() {
            if ent == "c3" || ent == "c4" {
                w[i] = 0.0;
            }
        }
        let cal = vec![0; e.len()];
        assert!(common_spend(&e, &d, &w, &cal).is_none());
        let short: Vec<String> = e[..80].to_vec();
        assert!(common_spend(&short, &d[..80], &w[..80], &cal[..80]).is_none());
    }

    /// Uniform draws on [−0.5, 0.5) from a xorshift generator seeded with `state`.
    fn uniform_draws(mut state: u64) -> impl FnMut() -> f64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    #[test]
    fn independent_budgets_do_not_pass_the_gate() {
        // Twelve entities over two years, each with its own lognormal-ish movement
        // (xorshift draws) and a shared weekday pattern, which the calendar explains.
        let mut draw = uniform_draws(0x9E37_79B9_7F4A_7C15);
        let (mut e, mut d, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..12 {
            for t in 0..730 {
                e.push(format!("c{k}"));
                d.push(19723 + t);
                let weekday = 1.0 + 0.3 * f64::from(u8::from(weekday(19723 + t) >= 5));
                w.push(100.0 * (k + 1) as f64 * weekday * (draw() + draw() + draw()).exp());
            }
        }
        let cal = vec![0; e.len()];
        let (check, _, _) = common_spend(&e, &d, &w, &cal).unwrap();
        assert!(!check.controlled, "{check:?}");
        assert!((0.7..1.3).contains(&check.variance_ratio), "{check:?}");
        // The same budgets with a shared shock on scattered days (3 in 10) pass it; a slow
        // one (weeks long) would not: the check compares movement within fortnights.
        for (i, &day) in d.iter().enumerate() {
            if ((day - 19723) * 37) % 10 < 3 {
                w[i] *= 1.6;
            }
        }
        let (check, _, _) = common_spend(&e, &d, &w, &cal).unwrap();
        assert!(check.controlled, "{check:?}");
    }

    /// Flights aligned across campaigns (every budget on for two weeks, off for two) are
    /// a plan, not a demand shock: only the days each campaign spends count, and budgets
    /// that move each on their own within the flights do not pass the gate (counted, the
    /// paused days made a ratio of 7.6 on the audit's worlds, and the controls took the
    /// on/off movement the effects are estimated from). A row of a paused day still gets
    /// the other campaigns' value.
    #[test]
    fn aligned_flights_are_not_a_common_shock() {
        let mut draw = uniform_draws(0x2545_F491_4F6C_DD1D);
        let (mut e, mut d, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..12 {
            for t in 0..365 {
                e.push(format!("c{k}"));
                d.push(19723 + t);
                let on = (t / 14) % 2 == 0;
                let spend = 100.0 * (k + 1) as f64 * (draw() + draw() + draw()).exp();
                w.push(if on { spend } else { 0.0 });
            }
        }
        let cal = vec![0; e.len()];
        let (check, day, _) = common_spend(&e, &d, &w, &cal).unwrap();
        assert!(!check.controlled, "{check:?}");
        assert!((0.6..1.5).contains(&check.variance_ratio), "{check:?}");
        assert_eq!(day.len(), e.len());
        // Day 20 is paused for all: no other campaign spends, so 0.
        assert_eq!(day[20], 0.0);
    }
}
