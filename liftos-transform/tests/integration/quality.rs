//! Every quality check fires on a crafted bad input and stays silent on clean data.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use chrono::NaiveDate;
use liftos_transform::{QualityReport, QualityRules, Rule, Severity, validate_data_quality};

use crate::{Row, clean_rows, day, unified_table};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
}

fn rules() -> QualityRules {
    QualityRules::default()
        .with_today(today())
        .with_rule(Rule::Range {
            column: "spend".into(),
            min: Some(0.0),
            max: Some(10_000.0),
            severity: Severity::Error,
        })
        .with_rule(Rule::DataType {
            column: "impressions".into(),
            data_type: "integer".into(),
            severity: Severity::Error,
        })
        .with_rule(Rule::DateRange {
            column: "date".into(),
            min: NaiveDate::from_ymd_opt(2024, 1, 1),
            max: NaiveDate::from_ymd_opt(2024, 12, 31),
            severity: Severity::Error,
        })
        .with_rule(Rule::AllowedValues {
            column: "channel".into(),
            values: vec!["meta".into(), "google_ads".into(), "klaviyo".into()],
            severity: Severity::Error,
        })
        .with_rule(Rule::Unique {
            columns: vec![],
            severity: Severity::Error,
        })
}

fn report(rows: &[Row]) -> QualityReport {
    validate_data_quality(&unified_table(rows), &[], &rules()).unwrap()
}

#[test]
fn clean_data_raises_no_issue() {
    let r = report(&clean_rows());
    assert_eq!(r.issues, vec![], "{r}");
    assert_eq!(r.completeness_score, 1.0);
    assert_eq!(r.accuracy_score, 1.0);
    assert_eq!(r.rows, 28);
}

/// Applies `mutate` to a clean table and checks that exactly `rule` fires, on the
/// expected rows.
#[track_caller]
fn fires(rule: &str, mutate: impl FnOnce(&mut Vec<Row>), expected_rows: &[usize]) -> QualityReport {
    let mut rows = clean_rows();
    mutate(&mut rows);
    let r = report(&rows);
    let issue = r
        .issue(rule)
        .unwrap_or_else(|| panic!("{rule} did not fire:\n{r}"));
    assert_eq!(issue.example_rows, expected_rows, "{r}");
    r
}

#[test]
fn clicks_exceed_impressions() {
    let r = fires(
        "clicks_exceed_impressions",
        |rows| rows[3].clicks = 5000,
        &[3],
    );
    assert_eq!(r.issues.len(), 1, "{r}");
    assert_eq!(r.accuracy_score, 27.0 / 28.0);
}

/// Spend without impressions, revenue without conversions: each fires alone, on its row.
#[test]
fn spend_with_zero_impressions_and_revenue_without_conversions() {
    type Breakage = fn(&mut Vec<Row>);
    let cases: [(&str, Breakage, usize); 2] = [
        (
            "spend_without_impressions",
            |rows| {
                rows[4].impressions = 0;
                rows[4].clicks = 0;
            },
            4,
        ),
        (
            "revenue_without_conversions",
            |rows| rows[5].conversions = 0.0,
            5,
        ),
    ];
    for (rule, mutate, row) in cases {
        let r = fires(rule, mutate, &[row]);
        assert_eq!(r.issues.len(), 1, "{r}");
    }
}

#[test]
fn negative_values() {
    let r = fires("negative_values", |rows| rows[6].revenue = -1.0, &[6]);
    assert_eq!(
        r.issue("negative_values").unwrap().column.as_deref(),
        Some("revenue")
    );
    assert_eq!(r.issues.len(), 1, "{r}");
    let r = fires("negative_values", |rows| rows[7].spend = -2.0, &[7]);
    // The user's range rule sees it too.
    assert_eq!(r.issue("range").unwrap().example_rows, [7]);
}

#[test]
fn future_dates() {
    let r = fires(
        "future_dates",
        |rows| rows[27].date = day("2024-07-02"),
        &[27],
    );
    // The date also leaves the campaign's daily series with a long gap.
    assert!(r.issue("date_gaps").is_some(), "{r}");
}

#[test]
fn gaps_in_a_campaign_series() {
    let r = fires(
        "date_gaps",
        |rows| {
            rows.remove(9); // c2 on day 4
            rows.remove(8); // c1 on day 4
            rows.remove(6); // c1 on day 3
        },
        &[4, 6],
    );
    let issue = r.issue("date_gaps").unwrap();
    assert_eq!(issue.row_count, 3, "missing days: {r}");
    assert_eq!(issue.severity, Severity::Warning);
    assert!(
        issue.message.contains("2024-03-04 to 2024-03-05"),
        "{}",
        issue.message
    );
    assert_eq!(r.issues.len(), 1, "{r}");
    // Gaps are missing rows, not failing rows.
    assert_eq!(r.accuracy_score, 1.0);
}

#[test]
fn spend_spikes() {
    let r = fires("spend_spike", |rows| rows[10].spend = 900.0, &[10]);
    assert_eq!(r.issues.len(), 1, "{r}");
}

#[test]
fn duplicate_keys() {
    let r = fires(
        "duplicate_keys",
        |rows| {
            let mut again = rows[2].clone();
            again.spend = 1.0; // a restatement with another value
            rows.push(again);
        },
        &[28],
    );
    assert_eq!(r.issue("unique").unwrap().example_rows, [28]);
}

#[test]
fn missing_and_mixed_currency() {
    let r = fires("missing_currency", |rows| rows[0].currency = "", &[0]);
    assert!(r.issue("missing_values").is_some(), "{r}");
    let r = fires(
        "mixed_currency",
        |rows| rows[2].currency = "EUR",
        &[0, 2, 4, 6, 8],
    );
    assert_eq!(r.issue("mixed_currency").unwrap().row_count, 14);
}

#[test]
fn user_rules_fire() {
    let r = fires("range", |rows| rows[1].spend = 20_000.0, &[1]);
    assert!(r.issue("spend_spike").is_some());
    let r = fires("date_range", |rows| rows[0].date = day("2023-12-31"), &[0]);
    assert!(r.issue("date_gaps").is_some());
    let r = fires("allowed_values", |rows| rows[3].channel = "tiktok", &[3]);
    assert!(r.issue("mixed_currency").is_none());
}

#[test]
fn text_columns_are_checked_for_type_and_format() {
    let mut t = unified_table(&clean_rows());
    let dates: Vec<Option<&str>> = (0..28)
        .map(|i| match i {
            3 => Some("03/04/2024"),
            5 => Some("garbage"),
            _ => Some("2024-03-01"),
        })
        .collect();
    let idx = t.schema().index_of("date").unwrap();
    let mut cols: Vec<ArrayRef> = t.columns().to_vec();
    cols[idx] = Arc::new(StringArray::from(dates));
    let mut fields: Vec<_> = t.schema().fields().iter().map(|f| (**f).clone()).collect();
    fields[idx] = arrow::datatypes::Field::new("date", arrow::datatypes::DataType::Utf8, true);
    t = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap();
    let rules = QualityRules::default()
        .with_today(today())
        .with_builtin_checks(false)
        .with_rule(Rule::DateFormat {
            column: "date".into(),
            format: "%Y-%m-%d".into(),
            severity: Severity::Warning,
        });
    let r = validate_data_quality(&t, &[], &rules).unwrap();
    assert_eq!(r.issue("data_type").unwrap().example_rows, [5]);
    assert_eq!(r.issue("date_format").unwrap().example_rows, [3, 5]);
    assert_eq!(r.accuracy_score, 26.0 / 28.0);
}

#[test]
fn completeness_counts_required_cells() {
    let t = unified_table(&clean_rows());
    let r = validate_data_quality(&t, &["date", "ad_group"], &rules()).unwrap();
    // ad_group is empty everywhere: half of the required cells are missing.
    assert_eq!(r.completeness_score, 0.5);
    assert_eq!(r.issue("missing_values").unwrap().row_count, 28);
}

#[test]
fn the_report_serializes_to_json_and_back() {
    let mut rows = clean_rows();
    rows[3].clicks = 5000;
    let r = report(&rows);
    let json = r.to_json().unwrap();
    assert!(json.contains("\"completeness_score\": 1.0"), "{json}");
    assert!(
        json.contains("\"rule\": \"clicks_exceed_impressions\""),
        "{json}"
    );
    assert!(json.contains("\"severity\": \"error\""), "{json}");
    let back: QualityReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.issues, r.issues);
    assert!((back.accuracy_score - r.accuracy_score).abs() < 1e-12);
    assert!(r.to_string().contains("clicks_exceed_impressions"));
}

#[test]
fn rules_load_from_toml_with_errors_naming_the_key() {
    let rules = QualityRules::from_toml_str(
        r#"
        required_fields = ["date", "spend"]
        today = "2024-06-30"
        spike_threshold = 4.0
        [[rules]]
        kind = "range"
        column = "spend"
        min = 0.0
        severity = "warning"
        [[rules]]
        kind = "allowed_values"
        column = "channel"
        values = ["meta"]
        "#,
    )
    .unwrap();
    assert_eq!(rules.today, Some(today()));
    assert_eq!(rules.rules.len(), 2);
    assert_eq!(rules.required_fields_or_default(), ["date", "spend"]);
    for (text, key) in [
        ("spike_threshold = -1.0", "spike_threshold"),
        (
            "[[rules]]\nkind = \"range\"\ncolumn = \"spend\"\nmin = 5.0\nmax = 1.0\n",
            "rules[0].min",
        ),
        (
            "[[rules]]\nkind = \"data_type\"\ncolumn = \"x\"\ndata_type = \"money\"\n",
            "rules[0].data_type",
        ),
        ("[[rules]]\nkind = \"frobnicate\"\n", "rules[0]"),
        (
            "[[rules]]\nkind = \"range\"\ncolumn = \"spend\"\nseverity = \"fatal\"\n",
            "rules[0]", // serde stops the path at an internally tagged enum
        ),
        ("todays = \"x\"", "todays"),
        ("today = \"yesterday\"", "today"),
    ] {
        match QualityRules::from_toml_str(text) {
            Err(liftos_transform::Error::Config { key: k, message }) => {
                assert!(k.contains(key), "{text:?}: key {k:?} ({message})")
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

/// `validate` notes how it read ambiguous text columns, as `unify` and `clean` do (it
/// dropped the note), whole or in parts; the notes are in the JSON and the summary.
#[test]
fn ambiguous_dates_and_decimals_are_noted_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("u.csv");
    std::fs::write(
        &csv,
        "date,channel,account_id,campaign_id,campaign,ad_group,currency,spend,impressions,clicks,conversions,revenue\n\
         03/04/2024,meta,a,c1,A,,USD,\"1,234\",1,1,0,5\n\
         03/05/2024,meta,a,c1,A,,USD,\"2,000\",1,1,0,5\n",
    )
    .unwrap();
    let table =
        liftos_transform::read_table_with(&csv, &liftos_transform::ReadOptions::text()).unwrap();
    let whole = validate_data_quality(&table, &[], &QualityRules::default()).unwrap();
    assert_eq!(whole.notes.len(), 2, "{:?}", whole.notes);
    assert!(
        whole.notes[0].contains("column `date`"),
        "{:?}",
        whole.notes
    );
    assert!(
        whole.notes[1].contains("column `spend`"),
        "{:?}",
        whole.notes
    );
    assert!(whole.to_string().contains("  note: "), "{whole}");
    assert!(whole.to_json().unwrap().contains("\"notes\""));
    let parts = liftos_transform::validate_file(&csv, &[], &QualityRules::default(), 1).unwrap();
    assert_eq!(parts.notes, whole.notes);
}
