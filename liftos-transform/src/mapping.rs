//! Which source column fills which unified column, per source.
//!
//! A [`SchemaMapping`] holds one [`SourceMapping`] per source name. The default mapping
//! covers the three connectors' outputs under the names `meta`, `google_ads` and
//! `klaviyo`; code or a TOML file can override single columns or add sources.
//!
//! # TOML format
//!
//! ```toml
//! # Sources named like a preset (meta, google_ads, klaviyo) extend it; others start
//! # empty unless they say `extends = "<preset>"`.
//! [sources.meta]
//! timezone = "Europe/Berlin"          # timestamps with an offset or Z become this zone's date
//! decimal = ","                       # numbers written 1.234,56 (default: detected per column)
//! date_format = "%d/%m/%Y"            # text dates (default: detected per column)
//! [sources.meta.columns]
//! ad_group = "adset_id"               # a plain string names the source column
//!
//! [sources.shop]
//! channel = "shopify_ads"             # the `channel` value (default: the table's own `channel` column, else the source name)
//! [sources.shop.columns]
//! date = { column = "day", format = "%d/%m/%Y" }
//! campaign = "campaign"
//! currency = { value = "EUR" }        # a constant
//! spend = { column = "cost_cents", divide_by = 100 }
//! impressions = "views"
//! clicks = "clicks"
//! conversions = "orders"
//! revenue = "sales"
//! [sources.shop.breakdowns]
//! device = { column = "device_type", optional = true }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::unified;
use crate::{Error, Result};

/// How one unified (or breakdown) column is filled from a source.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `column` | `None` | source column to read | a column of the source |
/// | `value` | `None` | constant text used for every row (instead of `column`) | parsed as the unified type |
/// | `divide_by` | `None` | divide the number by this (Google `cost_micros`: 1e6) | finite, > 0; money columns only |
/// | `optional` | `false` | a missing source column gives nulls instead of an error | nullable columns and breakdowns only |
/// | `format` | `None` | chrono format of text dates (else common formats are tried) | `date` only |
/// | `default` | `None` | constant used when the source has no such column (noted in [`Unified::notes`](crate::Unified::notes)) | parsed as the unified type |
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Source column to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Constant text for every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Divisor applied once to the number (e.g. 1e6 for micros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divide_by: Option<f64>,
    /// Whether a missing source column gives nulls instead of an error.
    #[serde(default)]
    pub optional: bool,
    /// chrono format for text dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Constant used when the source has no such column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl ColumnSpec {
    /// Reads source column `name`.
    pub fn column(name: impl Into<String>) -> Self {
        ColumnSpec {
            column: Some(name.into()),
            ..Self::default()
        }
    }

    /// Uses the constant `value` for every row.
    pub fn constant(value: impl Into<String>) -> Self {
        ColumnSpec {
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// Divides the number by `divisor` (exactly once).
    pub fn with_divide_by(mut self, divisor: f64) -> Self {
        self.divide_by = Some(divisor);
        self
    }

    /// Makes a missing source column give nulls instead of an error.
    pub fn with_optional(mut self) -> Self {
        self.optional = true;
        self
    }

    liftos_core::setters! {
        /// Uses the constant `value` when the source has no such column.
        with_default(value: impl Into<String>) => self.default = Some(value.into());
        /// Parses text dates with this chrono format.
        with_format(format: impl Into<String>) => Some(format.into());
    }
}

/// The decimal separator of numbers written as text (`decimal = "."` or `decimal = ","`
/// in a mapping file). The other of `.` and `,` is then the thousands separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DecimalSeparator {
    /// `1,234.5` (the default when a column's values do not tell).
    #[default]
    #[serde(rename = ".")]
    Point,
    /// `1.234,5`.
    #[serde(rename = ",")]
    Comma,
}

/// TOML accepts a bare column name or a full spec.
#[derive(Deserialize)]
#[serde(untagged)]
enum SpecRepr {
    Name(String),
    Full(ColumnSpec),
}

impl From<SpecRepr> for ColumnSpec {
    fn from(r: SpecRepr) -> Self {
        match r {
            SpecRepr::Name(n) => ColumnSpec::column(n),
            SpecRepr::Full(s) => s,
        }
    }
}

/// How one source's columns map to the unified table.
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `channel` | `None` | value of the `channel` column | default: the table's own `channel` column when it has one (an empty cell quarantines its row), else the source's name |
/// | `timezone` | `None` | account time zone: a timestamp written with an offset or `Z` (or a zoned Arrow timestamp) becomes its local date; one without an offset is already local time and keeps its date | IANA name or `+HH:MM` |
/// | `columns` | empty | unified column → [`ColumnSpec`] | unified names except `channel` |
/// | `breakdowns` | empty | breakdown name → [`ColumnSpec`], carried as nullable Utf8 | names not unified, not starting with `_` |
/// | `decimal` | detected per column | decimal separator of numbers written as text | `"."` or `","` |
/// | `date_format` | detected per column | chrono format of text dates (a column's own `format` wins) | e.g. `"%d/%m/%Y"` |
///
/// Without `decimal`, each number column is read with a decimal comma when some value
/// is written so (`12,5`, `1.234,56`) and none with a decimal point, else with a decimal
/// point; a value written the other way is quarantined, never reread. Without a date
/// format, `NN/NN/YYYY` and `NN.NN.YYYY` dates are read day first when some first number
/// exceeds 12 and no second one does, month first in the opposite case; when every date
/// is ambiguous, `NN/NN/YYYY` month first and `NN.NN.YYYY` day first (noted in
/// [`Unified::notes`](crate::Unified::notes)); a column with both is an
/// [`Error::Format`].
///
/// A nullable unified column (`account_id`, `campaign_id`, `ad_group`) without a spec is
/// null; any other unified column without a spec is an error when the source is unified.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceMapping {
    /// Value of the `channel` column (default: the table's own `channel` column, else the
    /// source name).
    pub channel: Option<String>,
    /// Account time zone: an instant (text with an offset or `Z`, an Arrow timestamp with
    /// a zone) becomes its date in this zone; a date-time without an offset (text, or an
    /// Arrow timestamp without a zone: wall-clock time) is the account's local time
    /// already and keeps its own calendar date.
    pub timezone: Option<String>,
    /// Unified column → how to fill it.
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Breakdown column → how to fill it.
    pub breakdowns: BTreeMap<String, ColumnSpec>,
    /// Decimal separator of text numbers (default: detected per column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal: Option<DecimalSeparator>,
    /// chrono format of text dates (default: detected per column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
}

fn specs(pairs: &[(&str, ColumnSpec)]) -> BTreeMap<String, ColumnSpec> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn optional_same_name(names: &[&str]) -> BTreeMap<String, ColumnSpec> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), ColumnSpec::column(*n).with_optional()))
        .collect()
}

impl SourceMapping {
    /// The Meta Ads connector's output (`date_start`, `campaign_name`, `spend`,
    /// `conversion_values`, ...; `adset_name` → `ad_group` when present).
    pub fn meta() -> Self {
        use unified::*;
        SourceMapping {
            channel: Some("meta".to_owned()),
            columns: specs(&[
                (DATE, ColumnSpec::column("date_start")),
                (ACCOUNT_ID, ColumnSpec::column("account_id").with_optional()),
                (CAMPAIGN_ID, ColumnSpec::column("campaign_id")),
                (CAMPAIGN, ColumnSpec::column("campaign_name")),
                (AD_GROUP, ColumnSpec::column("adset_name").with_optional()),
                (CURRENCY, ColumnSpec::column("account_currency")),
                (SPEND, ColumnSpec::column("spend")),
                (IMPRESSIONS, ColumnSpec::column("impressions")),
                (CLICKS, ColumnSpec::column("clicks")),
                (CONVERSIONS, ColumnSpec::column("conversions")),
                (REVENUE, ColumnSpec::column("conversion_values")),
            ]),
            breakdowns: optional_same_name(&liftos_core::platforms::META_BREAKDOWNS),
            ..Self::default()
        }
    }

    /// The Google Ads connector's output (`segments.date`, `campaign.name`,
    /// `metrics.cost_micros` ÷ 1e6, `metrics.conversions_value`, ...; `ad_group.name` →
    /// `ad_group` when present).
    pub fn google_ads() -> Self {
        use unified::*;
        SourceMapping {
            channel: Some("google_ads".to_owned()),
            columns: specs(&[
                (DATE, ColumnSpec::column("segments.date")),
                (
                    ACCOUNT_ID,
                    ColumnSpec::column("customer.id").with_optional(),
                ),
                (CAMPAIGN_ID, ColumnSpec::column("campaign.id")),
                (CAMPAIGN, ColumnSpec::column("campaign.name")),
                (
                    AD_GROUP,
                    ColumnSpec::column("ad_group.name").with_optional(),
                ),
                (CURRENCY, ColumnSpec::column("customer.currency_code")),
                (
                    SPEND,
                    ColumnSpec::column("metrics.cost_micros").with_divide_by(1e6),
                ),
                (IMPRESSIONS, ColumnSpec::column("metrics.impressions")),
                (CLICKS, ColumnSpec::column("metrics.clicks")),
                (CONVERSIONS, ColumnSpec::column("metrics.conversions")),
                (REVENUE, ColumnSpec::column("metrics.conversions_value")),
            ]),
            breakdowns: specs(&[
                (
                    "device",
                    ColumnSpec::column("segments.device").with_optional(),
                ),
                (
                    "network",
                    ColumnSpec::column("segments.ad_network_type").with_optional(),
                ),
            ]),
            ..Self::default()
        }
    }

    /// The Klaviyo connector's output (`sent_at`, `campaign_name`, `recipients` →
    /// impressions, `placed_order_count` → conversions, `revenue`, estimated `spend`;
    /// an export without `spend` gets spend 0, noted).
    pub fn klaviyo() -> Self {
        use unified::*;
        SourceMapping {
            channel: Some("klaviyo".to_owned()),
            columns: specs(&[
                (DATE, ColumnSpec::column("sent_at")),
                (ACCOUNT_ID, ColumnSpec::column("account_id").with_optional()),
                (CAMPAIGN_ID, ColumnSpec::column("campaign_id")),
                (CAMPAIGN, ColumnSpec::column("campaign_name")),
                (CURRENCY, ColumnSpec::column("currency")),
                // Klaviyo reports no media spend: 0 unless the pull estimated it.
                (SPEND, ColumnSpec::column("spend").with_default("0")),
                (IMPRESSIONS, ColumnSpec::column("recipients")),
                (CLICKS, ColumnSpec::column("clicks")),
                (CONVERSIONS, ColumnSpec::column("placed_order_count")),
                (REVENUE, ColumnSpec::column("revenue")),
            ]),
            ..Self::default()
        }
    }

    /// The TikTok Ads connector's output (`stat_time_day`, `advertiser_id`, `campaign_id`,
    /// `campaign_name`, `currency`, `spend`, `impressions`, `clicks`, `complete_payment`
    /// (purchases) → conversions, `total_complete_payment_rate` (the purchases' value, despite
    /// its name) → revenue).
    pub fn tiktok() -> Self {
        use unified::*;
        SourceMapping {
            channel: Some("tiktok".to_owned()),
            columns: specs(&[
                (DATE, ColumnSpec::column("stat_time_day")),
                (
                    ACCOUNT_ID,
                    ColumnSpec::column("advertiser_id").with_optional(),
                ),
                (CAMPAIGN_ID, ColumnSpec::column("campaign_id")),
                (CAMPAIGN, ColumnSpec::column("campaign_name")),
                (CURRENCY, ColumnSpec::column("currency")),
                (SPEND, ColumnSpec::column("spend")),
                (IMPRESSIONS, ColumnSpec::column("impressions")),
                (CLICKS, ColumnSpec::column("clicks")),
                (CONVERSIONS, ColumnSpec::column("complete_payment")),
                (REVENUE, ColumnSpec::column("total_complete_payment_rate")),
            ]),
            ..Self::default()
        }
    }

    /// A table already in the unified layout (e.g. a file exported by LiftOS or another
    /// tool): every unified column from the column of the same name (`account_id`,
    /// `campaign_id`, `ad_group` optional). The channel is the table's own `channel` column, or
    /// the source's name without one, unless set.
    pub fn unified() -> Self {
        use unified::*;
        let mut columns = specs(&[
            (DATE, ColumnSpec::column(DATE)),
            (CAMPAIGN, ColumnSpec::column(CAMPAIGN)),
            (CURRENCY, ColumnSpec::column(CURRENCY)),
            (SPEND, ColumnSpec::column(SPEND)),
            (IMPRESSIONS, ColumnSpec::column(IMPRESSIONS)),
            (CLICKS, ColumnSpec::column(CLICKS)),
            (CONVERSIONS, ColumnSpec::column(CONVERSIONS)),
            (REVENUE, ColumnSpec::column(REVENUE)),
        ]);
        columns.extend(optional_same_name(&[ACCOUNT_ID, CAMPAIGN_ID, AD_GROUP]));
        SourceMapping {
            columns,
            ..Self::default()
        }
    }

    /// The built-in mapping called `name` (`meta`, `google_ads`, `klaviyo`, `tiktok`,
    /// `unified`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "meta" => Some(Self::meta()),
            "google_ads" => Some(Self::google_ads()),
            "klaviyo" => Some(Self::klaviyo()),
            "tiktok" => Some(Self::tiktok()),
            "unified" => Some(Self::unified()),
            _ => None,
        }
    }

    liftos_core::setters! {
        /// Sets the `channel` value.
        with_channel(channel: impl Into<String>) => Some(channel.into());
        /// Sets the account time zone.
        with_timezone(tz: impl Into<String>) => self.timezone = Some(tz.into());
    }

    /// Sets how unified column `unified` is filled.
    pub fn with_column(mut self, unified: impl Into<String>, spec: ColumnSpec) -> Self {
        self.columns.insert(unified.into(), spec);
        self
    }

    /// Adds (or replaces) breakdown `name`.
    pub fn with_breakdown(mut self, name: impl Into<String>, spec: ColumnSpec) -> Self {
        self.breakdowns.insert(name.into(), spec);
        self
    }

    /// Checks the mapping; `prefix` is the key path used in errors.
    pub(crate) fn validate(&self, prefix: &str) -> Result<()> {
        if let Some(tz) = &self.timezone {
            crate::parse::parse_tz(&format!("{prefix}.timezone"), tz)?;
        }
        if let Some(format) = &self.date_format {
            crate::parse::check_date_format(&format!("{prefix}.date_format"), format)?;
        }
        let schema = unified::schema();
        for (name, spec) in &self.columns {
            let key = format!("{prefix}.columns.{name}");
            let Ok(field) = schema.field_with_name(name) else {
                return Err(Error::config(
                    key,
                    "not a unified column (date, account_id, campaign_id, campaign, ad_group, currency, spend, impressions, clicks, conversions, revenue)",
                ));
            };
            if name == unified::CHANNEL {
                return Err(Error::config(
                    key,
                    "`channel` is set with the source's `channel` key, not as a column",
                ));
            }
            validate_spec(&key, spec, field.is_nullable())?;
            if spec.divide_by.is_some() && field.data_type() != &arrow::datatypes::DataType::Float64
            {
                return Err(Error::config(
                    key,
                    "`divide_by` applies to money and conversion columns only",
                ));
            }
            if spec.format.is_some() && name != unified::DATE {
                return Err(Error::config(key, "`format` applies to `date` only"));
            }
            if let Some(format) = &spec.format {
                crate::parse::check_date_format(&format!("{key}.format"), format)?;
            }
            if field.data_type() == &arrow::datatypes::DataType::Float64 {
                for (what, constant) in [("value", &spec.value), ("default", &spec.default)] {
                    if let Some(v) = constant
                        && non_finite_number(v)
                    {
                        return Err(Error::config(
                            format!("{key}.{what}"),
                            format!("`{v}` is not a finite number"),
                        ));
                    }
                }
            }
        }
        for (name, spec) in &self.breakdowns {
            let key = format!("{prefix}.breakdowns.{name}");
            if unified::is_unified(name) || unified::is_metadata(name) || name.is_empty() {
                return Err(Error::config(
                    key,
                    "a breakdown name must not be a unified column or start with `_`",
                ));
            }
            validate_spec(&key, spec, true)?;
            if spec.divide_by.is_some() || spec.format.is_some() {
                return Err(Error::config(
                    key,
                    "breakdowns are text: `divide_by` and `format` do not apply",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `v` reads as a number that is not finite (`1e400`, `inf`, `NaN`), with
/// either decimal separator.
fn non_finite_number(v: &str) -> bool {
    [DecimalSeparator::Point, DecimalSeparator::Comma]
        .into_iter()
        .filter_map(|d| crate::parse::parse_number(v, d))
        .any(|x| !x.is_finite())
}

fn validate_spec(key: &str, spec: &ColumnSpec, nullable: bool) -> Result<()> {
    match (&spec.column, &spec.value) {
        (Some(_), Some(_)) => {
            return Err(Error::config(key, "give `column` or `value`, not both"));
        }
        (None, None) => return Err(Error::config(key, "give `column` or `value`")),
        _ => {}
    }
    if let Some(d) = spec.divide_by
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::config(
            key,
            format!("`divide_by` must be finite and > 0, got {d}"),
        ));
    }
    if spec.optional && !nullable {
        return Err(Error::config(
            key,
            "only nullable columns (account_id, campaign_id, ad_group, breakdowns) can be optional",
        ));
    }
    Ok(())
}

/// The mapping of every source to the unified table.
///
/// [`SchemaMapping::default`] holds the three connector presets under the names `meta`,
/// `google_ads` and `klaviyo`; [`SchemaMapping::empty`] holds none. A source the mapping
/// does not name but that is called like a later connector preset (`tiktok`) is mapped
/// with that preset ([`SchemaMapping::resolve`]), so a mapping file's own `[sources.tiktok]`
/// still starts empty, as it did before TikTok had a connector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaMapping {
    /// Source name → its mapping.
    pub sources: BTreeMap<String, SourceMapping>,
}

impl Default for SchemaMapping {
    fn default() -> Self {
        Self::empty()
            .with_source("meta", SourceMapping::meta())
            .with_source("google_ads", SourceMapping::google_ads())
            .with_source("klaviyo", SourceMapping::klaviyo())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    sources: BTreeMap<String, SourceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    extends: Option<String>,
    channel: Option<String>,
    timezone: Option<String>,
    decimal: Option<DecimalSeparator>,
    date_format: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, SpecRepr>,
    #[serde(default)]
    breakdowns: BTreeMap<String, SpecRepr>,
}

impl SchemaMapping {
    /// A mapping with no source.
    pub fn empty() -> Self {
        SchemaMapping {
            sources: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the mapping of source `name`.
    pub fn with_source(mut self, name: impl Into<String>, mapping: SourceMapping) -> Self {
        self.sources.insert(name.into(), mapping);
        self
    }

    /// The mapping of source `name`.
    pub fn source(&self, name: &str) -> Option<&SourceMapping> {
        self.sources.get(name)
    }

    /// The names of the mapped sources, comma-separated (for messages).
    pub fn source_list(&self) -> String {
        self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// How source `name` is mapped: its own entry, else the built-in connector mapping
    /// of that name (`meta`, `google_ads`, `klaviyo`, `tiktok`; not `unified`, which a
    /// file must ask for with `extends`).
    pub fn resolve(&self, name: &str) -> Option<std::borrow::Cow<'_, SourceMapping>> {
        if let Some(s) = self.sources.get(name) {
            return Some(std::borrow::Cow::Borrowed(s));
        }
        if name == "unified" {
            return None;
        }
        SourceMapping::preset(name).map(std::borrow::Cow::Owned)
    }

    /// Adds the built-in connector mapping of each name in `names` that has no entry
    /// (see [`resolve`](Self::resolve)), so that settings applied to every source, such
    /// as [`with_default_currency`](Self::with_default_currency), reach it too.
    pub fn with_presets_for<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for name in names {
            if !self.sources.contains_key(name)
                && let Some(preset) = self.resolve(name).map(std::borrow::Cow::into_owned)
            {
                self.sources.insert(name.to_owned(), preset);
            }
        }
        self
    }

    /// Gives every source's currency column the default `currency` (used, and noted,
    /// when a source has no currency column), unless the mapping gives one already.
    pub fn with_default_currency(mut self, currency: &str) -> Self {
        for source in self.sources.values_mut() {
            if let Some(spec) = source.columns.get_mut(unified::CURRENCY)
                && spec.value.is_none()
                && spec.default.is_none()
            {
                spec.default = Some(currency.to_owned());
            }
        }
        self
    }

    /// Checks every source mapping (keys, types, time zones).
    pub fn validate(&self) -> Result<()> {
        for (name, source) in &self.sources {
            source.validate(&format!("sources.{name}"))?;
        }
        Ok(())
    }

    /// Loads a mapping from TOML (format in the [module docs](self)), on top of the
    /// defaults. Errors name the offending key.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let file: MappingFile = crate::config::from_toml_str(text)?;
        Self::default().merge(file)
    }

    /// Loads a mapping from a TOML file; errors name the file and the key.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file: MappingFile = crate::config::from_toml_file(path)?;
        Self::default().merge(file).map_err(|e| match e {
            Error::Config { key, message } => Error::Config {
                key,
                message: format!("{message} (in {})", path.display()),
            },
            other => other,
        })
    }

    fn merge(mut self, file: MappingFile) -> Result<Self> {
        for (name, src) in file.sources {
            let mut base = match &src.extends {
                Some(preset) => SourceMapping::preset(preset).ok_or_else(|| {
                    Error::config(
                        format!("sources.{name}.extends"),
                        format!(
                            "unknown preset `{preset}` (meta, google_ads, klaviyo, tiktok, unified)"
                        ),
                    )
                })?,
                None => self.sources.remove(&name).unwrap_or_default(),
            };
            if src.channel.is_some() {
                base.channel = src.channel;
            }
            if src.timezone.is_some() {
                base.timezone = src.timezone;
            }
            if src.decimal.is_some() {
                base.decimal = src.decimal;
            }
            if src.date_format.is_some() {
                base.date_format = src.date_format;
            }
            for (k, v) in src.columns {
                base.columns.insert(k, v.into());
            }
            for (k, v) in src.breakdowns {
                base.breakdowns.insert(k, v.into());
            }
            self.sources.insert(name, base);
        }
        self.validate()?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_preset_maps_every_column_to_itself() {
        let m = SourceMapping::unified();
        m.validate("sources.file").unwrap();
        for c in [
            unified::DATE,
            unified::CAMPAIGN,
            unified::SPEND,
            unified::REVENUE,
        ] {
            assert_eq!(m.columns[c].column.as_deref(), Some(c));
        }
        assert!(m.columns[unified::CAMPAIGN_ID].optional);
        assert!(!m.columns[unified::SPEND].optional);
        assert_eq!(SourceMapping::preset("unified"), Some(m));
    }

    #[test]
    fn defaults_cover_the_three_connectors_and_validate() {
        let m = SchemaMapping::default();
        m.validate().unwrap();
        let g = m.source("google_ads").unwrap();
        assert_eq!(g.columns["spend"].divide_by, Some(1e6));
        assert_eq!(
            m.source("klaviyo").unwrap().columns["impressions"]
                .column
                .as_deref(),
            Some("recipients")
        );
    }

    #[test]
    fn toml_overrides_extend_the_presets() {
        let m = SchemaMapping::from_toml_str(
            r#"
            [sources.meta]
            timezone = "Europe/Berlin"
            [sources.meta.columns]
            ad_group = "adset_id"
            [sources.shop]
            extends = "klaviyo"
            channel = "sms"
            [sources.shop.columns]
            spend = { column = "cost_cents", divide_by = 100 }
            currency = { value = "EUR" }
            "#,
        )
        .unwrap();
        let meta = m.source("meta").unwrap();
        assert_eq!(meta.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(meta.columns["ad_group"], ColumnSpec::column("adset_id"));
        assert_eq!(meta.columns["spend"], ColumnSpec::column("spend"));
        let shop = m.source("shop").unwrap();
        assert_eq!(shop.channel.as_deref(), Some("sms"));
        assert_eq!(shop.columns["currency"], ColumnSpec::constant("EUR"));
        assert_eq!(shop.columns["date"], ColumnSpec::column("sent_at"));
    }

    #[test]
    fn toml_errors_name_the_key() {
        let cases = [
            (
                "[sources.meta.columns]\nspendd = \"x\"\n",
                "sources.meta.columns.spendd",
            ),
            (
                "[sources.meta]\ntimezone = \"Nowhere/City\"\n",
                "sources.meta.timezone",
            ),
            ("[sources.meta]\ncolour = 1\n", "sources.meta"),
            (
                "[sources.meta.columns]\nspend = { column = \"s\", divide_by = 0 }\n",
                "sources.meta.columns.spend",
            ),
            (
                "[sources.meta.columns]\ncampaign = { column = \"c\", optional = true }\n",
                "sources.meta.columns.campaign",
            ),
            ("[sources.x]\nextends = \"snapchat\"\n", "sources.x.extends"),
            (
                "[sources.meta.columns]\nspend = { value = \"1e400\" }\n",
                "sources.meta.columns.spend.value",
            ),
            (
                "[sources.meta.columns]\nrevenue = { column = \"r\", default = \"NaN\" }\n",
                "sources.meta.columns.revenue.default",
            ),
            (
                "[sources.meta.columns]\nspend = { value = \"-inf\" }\n",
                "sources.meta.columns.spend.value",
            ),
            (
                "[sources.meta]\ndate_format = \"%Q\"\n",
                "sources.meta.date_format",
            ),
            (
                "[sources.meta.columns]\ndate = { column = \"d\", format = \"%d/%m/%\" }\n",
                "sources.meta.columns.date.format",
            ),
            ("[sources.meta\n", "line 1"),
        ];
        for (text, key) in cases {
            match SchemaMapping::from_toml_str(text) {
                Err(Error::Config { key: k, message }) => {
                    assert!(k.contains(key), "{text:?}: key {k:?} ({message})");
                    if key.ends_with("value") || key.ends_with("default") {
                        assert!(message.contains("is not a finite number"), "{message}");
                    }
                    if key.contains("format") {
                        assert!(message.contains("is not a chrono format"), "{message}");
                    }
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
