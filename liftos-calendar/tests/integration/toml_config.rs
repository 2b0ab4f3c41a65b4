//! Options from TOML: a full example, and errors that name the key.

use std::io::Write;

use liftos_calendar::{CalendarDimension, CalendarOptions, Error, Granularity, Observance};

use crate::d;

const EXAMPLE: &str = r#"
country = "GB-ENG"
include_features = ["date_parts", "holidays", "commercial_events", "peak_seasons", "fiscal"]

[business]
business_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
custom_holidays = [
  { name = "Company Day", date = { kind = "fixed", month = 8, day = 14 }, observed = "next_monday" },
]

[[business.peak_seasons]]
name = "summer_sale"
start = { date = { kind = "fixed", month = 6, day = 20 } }
end = { date = { kind = "fixed", month = 7, day = 10 } }

[[business.peak_seasons]]
name = "black_friday_week"
end = { date = { kind = "holiday", name = "Black Friday" }, offset_days = 1 }
length_days = 7

[[custom_events]]
name = "Prime Day"
date = { kind = "date", year = 2024, month = 7, day = 16 }

[[custom_events]]
name = "Prime Day"
date = { kind = "date", year = 2025, month = 7, day = 8 }

[seasonality]
granularity = "week_of_year"
leakage_safe = true
"#;

#[test]
fn full_example_loads_and_applies() {
    let opts = CalendarOptions::from_toml_str(EXAMPLE).unwrap();
    assert_eq!(
        opts.business.custom_holidays[0].observed,
        Observance::NextMonday
    );
    assert_eq!(opts.seasonality.granularity, Granularity::WeekOfYear);
    let dim = CalendarDimension::new(opts).unwrap();
    let events = dim
        .commercial_events(d(2024, 1, 1), d(2025, 12, 31))
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.name == "Prime Day" && e.date == d(2024, 7, 16))
    );
    assert!(
        events
            .iter()
            .any(|e| e.name == "Prime Day" && e.date == d(2025, 7, 8))
    );
    // Company Day 2027 is a Saturday: observed on Monday 16.
    let hs = dim.holidays(d(2027, 8, 1), d(2027, 8, 31)).unwrap();
    let got: Vec<_> = hs.iter().map(|h| (h.date, h.name.as_str())).collect();
    assert_eq!(
        got,
        [
            (d(2027, 8, 14), "Company Day"),
            (d(2027, 8, 16), "Company Day (observed)"),
            (d(2027, 8, 30), "Late Summer Bank Holiday"),
        ]
    );
    let seasons = dim.peak_seasons(d(2024, 1, 1), d(2024, 12, 31)).unwrap();
    assert!(seasons.contains(&("black_friday_week".into(), d(2024, 11, 24), d(2024, 11, 30))));
    assert!(seasons.contains(&("summer_sale".into(), d(2024, 6, 20), d(2024, 7, 10))));
    let cal = dim.create(d(2024, 1, 1), d(2024, 12, 31)).unwrap();
    assert!(
        cal.schema()
            .column_with_name("season_summer_sale")
            .is_some()
    );
    assert!(cal.schema().column_with_name("seasonality_index").is_none());
}

/// The error text of parsing `text`, which must fail.
fn toml_error(text: &str) -> String {
    CalendarOptions::from_toml_str(text)
        .unwrap_err()
        .to_string()
}

#[test]
fn from_file_and_errors_name_the_key() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(EXAMPLE.as_bytes()).unwrap();
    CalendarOptions::from_toml_file(f.path()).unwrap();

    let e = toml_error("contry = \"US\"");
    assert!(e.contains("contry"), "{e}");
    let e = toml_error("[business]\nbusiness_days = [\"funday\"]");
    assert!(e.contains("business_days") && e.contains("funday"), "{e}");
    let e = CalendarOptions::from_toml_str(
        "[[business.peak_seasons]]\nname = \"Bad Name\"\nend = { date = { kind = \"fixed\", month = 1, day = 1 } }\nlength_days = 3",
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidOption { key, .. } if key == "business.peak_seasons[0].name"),
        "{e}"
    );
    let e = toml_error(
        "[[custom_events]]\nname = \"X\"\ndate = { kind = \"fixed\", month = 13, day = 1 }",
    );
    assert!(e.contains("custom_events[0].date.month"), "{e}");
    // Out-of-range offsets are one error naming the field, never a panic.
    for offset in [i32::MIN, -301, 301, i32::MAX] {
        let e = toml_error(&format!(
            "[[custom_events]]\nname = \"e\"\ndate = {{ kind = \"easter\", offset = {offset} }}"
        ));
        assert!(
            e.contains("custom_events[0].date.offset") && e.contains("beyond ±300 days"),
            "{e}"
        );
    }
    for (bound, offset) in [
        ("end", -1000),
        ("end", i32::MAX),
        ("start", i32::MIN),
        ("start", 367),
    ] {
        let start = if bound == "start" {
            format!(
                "start = {{ date = {{ kind = \"fixed\", month = 1, day = 1 }}, offset_days = {offset} }}\nend = {{ date = {{ kind = \"fixed\", month = 2, day = 1 }} }}"
            )
        } else {
            format!(
                "end = {{ date = {{ kind = \"fixed\", month = 2, day = 1 }}, offset_days = {offset} }}\nlength_days = 3"
            )
        };
        let e = CalendarOptions::from_toml_str(&format!(
            "[[business.peak_seasons]]\nname = \"s\"\n{start}"
        ))
        .unwrap_err();
        let want = format!("business.peak_seasons[0].{bound}.offset_days");
        assert!(
            matches!(&e, Error::InvalidOption { key, .. } if *key == want)
                && e.to_string().contains("beyond ±366 days"),
            "{e}"
        );
    }
    // The ends of the range are accepted.
    CalendarOptions::from_toml_str(
        "[[business.peak_seasons]]\nname = \"s\"\nend = { date = { kind = \"fixed\", month = 2, day = 1 }, offset_days = -366 }\nlength_days = 3\n[[custom_events]]\nname = \"e\"\ndate = { kind = \"easter\", offset = -300 }",
    )
    .unwrap();
    let e = toml_error("country = \"ZZ\"");
    assert!(e.contains("ZZ"), "{e}");
    let missing = std::path::Path::new("/nonexistent/calendar.toml");
    let e = CalendarOptions::from_toml_file(missing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/calendar.toml"), "{e}");
}

#[test]
fn options_round_trip_through_toml() {
    for opts in [
        CalendarOptions::default(),
        CalendarOptions::from_toml_str(EXAMPLE).unwrap(),
    ] {
        let text = opts.to_toml_string().unwrap();
        let back = CalendarOptions::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, opts, "{text}");
    }
}

#[test]
fn country_none_keeps_only_custom_holidays() {
    let opts = CalendarOptions::from_toml_str(
        "country = \"none\"\ncommercial_events = false\n[business]\ncustom_holidays = [{ name = \"Shutdown\", date = { kind = \"fixed\", month = 12, day = 27 } }]",
    )
    .unwrap();
    let dim = CalendarDimension::new(opts).unwrap();
    let hs = dim.holidays(d(2024, 1, 1), d(2024, 12, 31)).unwrap();
    assert_eq!(hs.len(), 1);
    assert_eq!(
        (hs[0].date, hs[0].name.as_str()),
        (d(2024, 12, 27), "Shutdown")
    );
    assert!(
        dim.commercial_events(d(2024, 1, 1), d(2024, 12, 31))
            .unwrap()
            .is_empty()
    );
}
