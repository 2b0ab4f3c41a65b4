//! The unified table: the one shape every source is mapped to.
//!
//! | column | Arrow type | meaning |
//! |---|---|---|
//! | date | Date32 | the account-local day the row describes |
//! | channel | Utf8 | `meta`, `google_ads`, `klaviyo`, or a user-given name |
//! | account_id | Utf8, nullable | ad account / customer / Klaviyo account |
//! | campaign_id | Utf8, nullable | platform id |
//! | campaign | Utf8 | campaign (or flow) name |
//! | ad_group | Utf8, nullable | ad set / ad group / flow message |
//! | currency | Utf8 | ISO 4217 code of the money columns |
//! | spend | Float64 | cost in `currency` (Google: cost_micros / 1e6) |
//! | impressions | Int64 | impressions (Klaviyo: recipients) |
//! | clicks | Int64 | clicks |
//! | conversions | Float64 | platform-reported conversions |
//! | revenue | Float64 | platform-reported conversion value |
//!
//! Extra breakdown columns (device, placement, age, gender, network, ...) are carried
//! through as nullable Utf8 after these. The natural key is (date, channel, account_id,
//! campaign_id, ad_group, breakdown columns).
//!
//! Columns whose name starts with `_` are *metadata*, not breakdowns: they may have any
//! type and are not part of the natural key. LiftOS uses [`PULLED_AT`] (when a row was
//! pulled; the latest pull wins a restatement), [`FILLED`] (a row inserted by
//! `fill_missing_dates`) and [`CAMPAIGN_ORIGINAL`] (the campaign name before
//! `normalize_campaign_names`).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// `date` column name.
pub const DATE: &str = "date";
/// `channel` column name.
pub const CHANNEL: &str = "channel";
/// `account_id` column name.
pub const ACCOUNT_ID: &str = "account_id";
/// `campaign_id` column name.
pub const CAMPAIGN_ID: &str = "campaign_id";
/// `campaign` column name.
pub const CAMPAIGN: &str = "campaign";
/// `ad_group` column name.
pub const AD_GROUP: &str = "ad_group";
/// `currency` column name.
pub const CURRENCY: &str = "currency";
/// `spend` column name.
pub const SPEND: &str = "spend";
/// `impressions` column name.
pub const IMPRESSIONS: &str = "impressions";
/// `clicks` column name.
pub const CLICKS: &str = "clicks";
/// `conversions` column name.
pub const CONVERSIONS: &str = "conversions";
/// `revenue` column name.
pub const REVENUE: &str = "revenue";

/// Metadata column: when the row was pulled (Timestamp, Date, Int64 load sequence, or
/// text timestamp). In a restatement the row with the latest value wins.
pub const PULLED_AT: &str = "_pulled_at";
/// Metadata column (Boolean): `true` for a zero-activity row inserted by
/// `fill_missing_dates`.
pub const FILLED: &str = "_filled";
/// Metadata column (Utf8): the campaign name as it was before
/// `normalize_campaign_names`.
pub const CAMPAIGN_ORIGINAL: &str = "_campaign_original";

/// Whether `name` is a metadata column (starts with `_`).
pub fn is_metadata(name: &str) -> bool {
    name.starts_with('_')
}

/// Whether `name` is one of the twelve unified columns.
pub fn is_unified(name: &str) -> bool {
    SCHEMA.fields().iter().any(|f| f.name() == name)
}

/// The breakdown columns of `schema`: every column that is neither unified nor metadata,
/// in schema order.
pub fn breakdown_columns(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|n| !is_unified(n) && !is_metadata(n))
        .cloned()
        .collect()
}

/// The full natural key of `schema`: the [`NATURAL_KEY`] columns it has, then its
/// breakdown columns.
pub fn natural_key(schema: &Schema) -> Vec<String> {
    let mut key: Vec<String> = NATURAL_KEY
        .iter()
        .filter(|c| schema.field_with_name(c).is_ok())
        .map(|c| (*c).to_owned())
        .collect();
    key.extend(breakdown_columns(schema));
    key
}

/// The natural key columns, before any breakdown columns.
pub const NATURAL_KEY: [&str; 5] = [DATE, CHANNEL, ACCOUNT_ID, CAMPAIGN_ID, AD_GROUP];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(DATE, DataType::Date32, false),
        Field::new(CHANNEL, DataType::Utf8, false),
        Field::new(ACCOUNT_ID, DataType::Utf8, true),
        Field::new(CAMPAIGN_ID, DataType::Utf8, true),
        Field::new(CAMPAIGN, DataType::Utf8, false),
        Field::new(AD_GROUP, DataType::Utf8, true),
        Field::new(CURRENCY, DataType::Utf8, false),
        Field::new(SPEND, DataType::Float64, false),
        Field::new(IMPRESSIONS, DataType::Int64, false),
        Field::new(CLICKS, DataType::Int64, false),
        Field::new(CONVERSIONS, DataType::Float64, false),
        Field::new(REVENUE, DataType::Float64, false),
    ]))
});

/// The unified table's schema (without breakdown columns).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_the_design_columns_in_order() {
        let names: Vec<_> = schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "date",
                "channel",
                "account_id",
                "campaign_id",
                "campaign",
                "ad_group",
                "currency",
                "spend",
                "impressions",
                "clicks",
                "conversions",
                "revenue"
            ]
        );
        assert!(is_unified(SPEND) && !is_unified("device") && is_metadata(PULLED_AT));
    }

    #[test]
    fn the_natural_key_ends_with_the_breakdowns() {
        let mut fields: Vec<Field> = schema().fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new("device", DataType::Utf8, true));
        fields.push(Field::new(PULLED_AT, DataType::Int64, true));
        let key = natural_key(&Schema::new(fields));
        assert_eq!(
            key,
            [
                "date",
                "channel",
                "account_id",
                "campaign_id",
                "ad_group",
                "device"
            ]
        );
    }
}
