//! The declarative REST connector against the sandbox's generic API (four pagination
//! styles), its OAuth refresh, a hostile next link, and TikTok written as a spec.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Date32Type;
use liftos_connectors::{
    Connector, Error, RestBuilder, RestConnector, RestOutsideRange, RestSpec, TikTokBuilder,
    VirtualClock,
};
use liftos_sandbox::World;
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;
use crate::narrow::{Narrow, json};

const FIELDS: &str = r#"
[[fields]]
name = "date"
path = "date"
type = "date"
required = true

[[fields]]
name = "campaign_id"
path = "campaign.id"
type = "string"
required = true

[[fields]]
name = "campaign"
path = "campaign.name"
type = "string"

[[fields]]
name = "spend"
path = "spend"
type = "float"

[[fields]]
name = "impressions"
path = "impressions"
type = "int"

[[fields]]
name = "clicks"
path = "clicks"
type = "int"

[[fields]]
name = "conversions"
path = "conversions"
type = "float"

[[fields]]
name = "revenue"
path = "revenue"
type = "float"
"#;

/// A spec for one pagination style of the generic fake.
fn spec(style: &str, auth: &str) -> RestSpec {
    let (pagination, records) = match style {
        "cursor" => (
            "type = \"cursor\"\nparam = \"cursor\"\ncursor_path = \"meta.next_cursor\"\nsize_param = \"limit\"\nsize = 9",
            "data",
        ),
        "next" => (
            "type = \"next_link\"\nnext_path = \"links.next\"\nsize_param = \"page_size\"\nsize = 11",
            "results",
        ),
        "offset" => (
            "type = \"offset\"\nparam = \"offset\"\nsize_param = \"limit\"\nsize = 13\ntotal_path = \"total\"",
            "items",
        ),
        _ => (
            "type = \"page_number\"\nparam = \"page\"\nsize_param = \"per_page\"\nsize = 17\ntotal_pages_path = \"paging.total_pages\"",
            "rows",
        ),
    };
    let text = format!(
        "name = \"sandbox_{style}\"\nbase_url = \"https://api.example.com\"\n\n[auth]\n{auth}\n\n\
         [request]\npath = \"/v1/{style}/campaign-days\"\nparams = {{ start = \"{{start}}\", end = \"{{end}}\" }}\n\
         max_days = 31\ndate_field = \"date\"\n\n[pagination]\n{pagination}\n\n[records]\npath = \"{records}\"\n\n\
         [rate_limit]\nrequests_per_second = 500\n{FIELDS}"
    );
    RestSpec::from_toml_str(&text, &format!("{style}.toml")).unwrap()
}

const BEARER: &str = "type = \"bearer\"\nsecret_env = \"SANDBOX_REST_TOKEN\"";
const OAUTH: &str = "type = \"oauth2_refresh\"\ntoken_url = \"@TOKEN_URL@\"\nclient_id_env = \"SANDBOX_ID\"\nclient_secret_env = \"SANDBOX_SECRET\"\nrefresh_token_env = \"SANDBOX_REFRESH\"";

fn env_of(servers: &FakeServers) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let c = servers.credentials().clone();
    move |k: &str| match k {
        "SANDBOX_REST_TOKEN" => Some(c.rest_api_token.clone()),
        "SANDBOX_ID" => Some(c.rest_client_id.clone()),
        "SANDBOX_SECRET" => Some(c.rest_client_secret.clone()),
        "SANDBOX_REFRESH" => Some(c.rest_refresh_token.clone()),
        _ => None,
    }
}

type Row = (String, i32, i64, i64, i64, u64, u64);

/// (campaign, day) → (spend cents, impressions, clicks, conversions bits, revenue bits),
/// exact.
/// The connector of `spec` at `base_url`, reading its variables through `env`, with fast
/// retries and a virtual clock.
fn connector(
    spec: RestSpec,
    base_url: String,
    env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> RestConnector {
    RestBuilder::new(spec)
        .with_env(env)
        .with_base_url(base_url)
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap()
}

fn world_rows(world: &World) -> BTreeMap<(String, i32), Row> {
    world
        .rows()
        .map(|r| {
            let day = Date32Type::from_naive_date(r.date);
            (
                (r.campaign_id.clone(), day),
                (
                    r.campaign.to_owned(),
                    day,
                    (r.spend * 100.0).round() as i64,
                    r.impressions,
                    r.clicks,
                    r.conversions.to_bits(),
                    r.revenue.to_bits(),
                ),
            )
        })
        .collect()
}

fn table_rows(t: &RecordBatch) -> BTreeMap<(String, i32), Row> {
    let s = |n: &str| column::<StringArray>(t, n);
    let f = |n: &str| column::<Float64Array>(t, n);
    let i = |n: &str| column::<Int64Array>(t, n);
    let day = column::<Date32Array>(t, "date");
    let (id, name) = (s("campaign_id"), s("campaign"));
    let (spend, conv, rev) = (f("spend"), f("conversions"), f("revenue"));
    let (imp, clicks) = (i("impressions"), i("clicks"));
    let mut out = BTreeMap::new();
    for k in 0..t.num_rows() {
        assert!(!spend.is_null(k) && !rev.is_null(k), "row {k} has nulls");
        let prev = out.insert(
            (id.value(k).to_owned(), day.value(k)),
            (
                name.value(k).to_owned(),
                day.value(k),
                (spend.value(k) * 100.0).round() as i64,
                imp.value(k),
                clicks.value(k),
                conv.value(k).to_bits(),
                rev.value(k).to_bits(),
            ),
        );
        assert!(prev.is_none(), "row {k} twice");
    }
    out
}

async fn pull(style: &str, auth: &str, faults: FaultConfig) -> (FakeServers, RecordBatch) {
    let world = world();
    let request = full_range(&world);
    let servers = serve(world.clone(), faults).await;
    let auth = auth.replace(
        "@TOKEN_URL@",
        &format!("{}/oauth/token", servers.rest_base_url()),
    );
    let c = connector(
        spec(style, &auth),
        servers.rest_base_url(),
        env_of(&servers),
    );
    let t = c
        .get_campaign_data(&request)
        .await
        .unwrap_or_else(|e| panic!("{style}: {e}"));
    assert_eq!(table_rows(&t), world_rows(&world), "{style}");
    (servers, t)
}

#[tokio::test]
async fn every_pagination_style_gives_every_row_exactly_once() {
    for style in ["cursor", "next", "offset", "page"] {
        let (servers, _) = pull(style, BEARER, FaultConfig::none()).await;
        let calls = servers.requests_to("rest");
        // 75 days in requests of ≤ 31 days, several pages each.
        assert!(calls.len() > 9, "{style}: {} calls", calls.len());
        assert!(calls.iter().all(|r| r.status == 200), "{style}");
    }
}

#[tokio::test]
async fn throttling_errors_drops_and_slow_answers_are_survived_exactly() {
    for style in ["cursor", "next", "offset", "page"] {
        let faults = FaultConfig::none()
            .with_seed(4)
            .with_throttle_rate(0.15)
            .with_server_error_rate(0.15)
            .with_drop_rate(0.1)
            .with_slow(0.05, std::time::Duration::from_millis(1200));
        let (servers, _) = pull(style, BEARER, faults).await;
        let faulted = servers
            .requests_to("rest")
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert!(faulted > 0, "{style}: faults were injected");
    }
}

#[tokio::test]
async fn oauth_refresh_gets_a_token_and_refreshes_once_when_it_expires() {
    let (servers, _) = pull(
        "page",
        OAUTH,
        FaultConfig::none().with_expire_token_after(3),
    )
    .await;
    let log = servers.requests_to("rest");
    let tokens = log.iter().filter(|r| r.path == "/oauth/token").count();
    assert_eq!(tokens, 2, "one token, then one refresh after the 401");
    assert_eq!(
        log.iter()
            .filter(|r| r.fault == Some("expired_token"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_wrong_token_is_one_clear_error_naming_the_variable_not_the_token() {
    let world = world();
    let request = full_range(&world);
    let servers = quiet_servers(world).await;
    let c = connector(spec("cursor", BEARER), servers.rest_base_url(), |_| {
        Some("wrong-token-PLMOKN".to_owned())
    });
    let err = c.get_campaign_data(&request).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{text}");
    assert_mentions(&text, &["SANDBOX_REST_TOKEN", "HTTP 401"]);
    assert!(!text.contains("PLMOKN"), "{text}");
    assert_eq!(servers.requests_to("rest").len(), 1, "not retried");
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_before_the_key_is_sent() {
    let elsewhere = Narrow::start(|_, _| json(200, serde_json::json!({"results": []}))).await;
    let other = elsewhere.base_url();
    let api = Narrow::start(move |_, _| {
        json(
            200,
            serde_json::json!({
                "results": [{"date": "2024-01-01", "campaign": {"id": "1"}}],
                "links": {"next": format!("{other}/v1/next/campaign-days?page_token=1")}
            }),
        )
    })
    .await;
    let c = connector(spec("next", BEARER), api.base_url(), |_| {
        Some("key-QWERTZ".to_owned())
    });
    let request = day_range("2024-01-01", "2024-01-02");
    let err = c.get_campaign_data(&request).await.unwrap_err();
    assert!(matches!(err, Error::CrossOrigin { .. }), "{err}");
    assert!(
        elsewhere.requests().is_empty(),
        "nothing went to the other origin"
    );
    assert!(!err.to_string().contains("QWERTZ"));
}

#[tokio::test]
async fn a_malformed_record_names_the_page_record_and_field() {
    let api = Narrow::start(|_, _| {
        json(
            200,
            serde_json::json!({"data": [
                {"date": "2024-01-01", "campaign": {"id": "1"}, "spend": "2.50"},
                {"date": "2024-01-01", "campaign": {"id": "2"}, "spend": "2,50"}
            ], "meta": {"next_cursor": null}}),
        )
    })
    .await;
    let c = connector(spec("cursor", BEARER), api.base_url(), |_| {
        Some("k".to_owned())
    });
    let request = one_day();
    let err = c.get_campaign_data(&request).await.unwrap_err().to_string();
    assert_mentions(&err, &["page 1: data[1].spend", "`2,50`"]);
}

/// A record dated outside the requested days (by the spec's `date_field`) is a decode
/// error naming the page, the record and the field, as Meta, TikTok and Google Ads
/// report theirs; it had been dropped with a logged warning. A spec for an API that
/// answers whole periods says `outside_range = "drop"` and gets the days asked for.
#[tokio::test]
async fn a_record_outside_the_requested_days_is_an_error_unless_the_spec_drops_it() {
    let api = Narrow::start(|_, _| {
        json(
            200,
            serde_json::json!({"data": [
                {"date": "2024-01-01", "campaign": {"id": "1"}, "spend": 1.5},
                {"date": "2023-12-31", "campaign": {"id": "1"}, "spend": 2.5}
            ], "meta": {"next_cursor": null}}),
        )
    })
    .await;
    let c = connector(spec("cursor", BEARER), api.base_url(), |_| {
        Some("k".to_owned())
    });
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    let Error::Decode { path, message, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(path, "sandbox_cursor: page 1: data[1].date", "{err}");
    assert_mentions(
        message,
        &[
            "2023-12-31 is outside the requested days 2024-01-01..=2024-01-01",
            "outside_range = \"drop\"",
        ],
    );
    let mut dropping = spec("cursor", BEARER);
    dropping.request.outside_range = Some(RestOutsideRange::Drop);
    let c = connector(dropping, api.base_url(), |_| Some("k".to_owned()));
    let t = c.get_campaign_data(&one_day()).await.unwrap();
    assert_eq!(t.num_rows(), 1);
    assert_eq!(sum(&t, "spend"), 1.5);
    // The key needs a date field to check.
    let text = "name = \"x\"\nbase_url = \"https://api.example.com\"\n[request]\npath = \"/r\"\noutside_range = \"drop\"\n[records]\npath = \"rows\"\n[[fields]]\nname = \"day\"\npath = \"day\"\ntype = \"date\"\n";
    let err = RestSpec::from_toml_str(text, "x.toml").unwrap_err();
    assert_mentions(
        &err.to_string(),
        &["x.toml", "request.outside_range", "request.date_field"],
    );
    let bad = text.replace("\"drop\"", "\"keep\"");
    let err = RestSpec::from_toml_str(&bad, "x.toml").unwrap_err();
    assert_mentions(&err.to_string(), &["x.toml", "keep"]);
}

/// A page without the configured records path (an API answering `200
/// {"status":"degraded"}`) is one decode error naming the page and the path, in every
/// pagination style; so is a page without the configured total. Only an explicit `null`
/// or `[]` means no records.
#[tokio::test]
async fn a_page_without_a_configured_path_is_an_error_not_the_end() {
    let degraded = || serde_json::json!({"status": "degraded"});
    let row = || serde_json::json!({"date": "2024-01-01", "campaign": {"id": "1"}, "spend": 1.5});
    let cases = [
        ("cursor", degraded(), "page 1: data"),
        ("next", degraded(), "page 1: results"),
        ("offset", degraded(), "page 1: items"),
        ("page_number", degraded(), "page 1: rows"),
        // Records there, the count missing: not "no more pages".
        (
            "offset",
            serde_json::json!({"items": [row()]}),
            "page 1: total",
        ),
        (
            "page_number",
            serde_json::json!({"rows": [row()]}),
            "page 1: paging.total_pages",
        ),
    ];
    for (style, body, path) in cases {
        let api = Narrow::start(move |_, _| json(200, body.clone())).await;
        let c = connector(spec(style, BEARER), api.base_url(), |_| {
            Some("k".to_owned())
        });
        let err = c.get_campaign_data(&one_day()).await.unwrap_err();
        let Error::Decode { path: got, .. } = &err else {
            panic!("{style}: {err}");
        };
        assert_eq!(got, path, "{style}: {err}");
        assert!(err.to_string().contains("not in the page"), "{err}");
    }
    // An explicit null or [] is an empty listing; a count of null ends it.
    for (style, body) in [
        (
            "cursor",
            serde_json::json!({"data": null, "meta": {"next_cursor": null}}),
        ),
        ("cursor", serde_json::json!({"data": [], "meta": {}})),
        ("offset", serde_json::json!({"items": [], "total": null})),
        (
            "page_number",
            serde_json::json!({"rows": null, "paging": {"total_pages": 1}}),
        ),
    ] {
        let api = Narrow::start(move |_, _| json(200, body.clone())).await;
        let c = connector(spec(style, BEARER), api.base_url(), |_| {
            Some("k".to_owned())
        });
        let t = c
            .get_campaign_data(&one_day())
            .await
            .unwrap_or_else(|e| panic!("{style}: {e}"));
        assert_eq!(t.num_rows(), 0, "{style}");
        assert_eq!(api.requests().len(), 1, "{style}");
    }
}

/// The spec in docs/ pulls from the TikTok fake exactly what the built-in connector does.
#[tokio::test]
async fn tiktok_written_as_a_spec_matches_the_built_in_connector() {
    let world = tiktok_world();
    let ids = advertisers(&world);
    let request = full_range(&world);
    let faults = FaultConfig::none().with_seed(3).with_throttle_rate(0.2);
    let servers = serve(world, faults).await;
    let token = servers.credentials().tiktok_access_token.clone();
    // The checkout's directory at run time (cargo sets it): a test binary reused from a
    // build of another checkout in a shared target directory must not read that one's.
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = format!("{dir}/../docs/rest/tiktok.toml");
    let spec = RestSpec::from_toml_file(path).unwrap();
    let joined = ids.join(",");
    let from_spec = RestBuilder::new(spec)
        .with_env(move |k| match k {
            "LIFTOS_TIKTOK_ACCESS_TOKEN" => Some(token.clone()),
            "LIFTOS_TIKTOK_ADVERTISER_IDS" => Some(joined.clone()),
            _ => None,
        })
        .with_base_url(servers.tiktok_base_url())
        .with_retry(fast_retry())
        .with_clock(Arc::new(VirtualClock::new()))
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap();
    let built_in = TikTokBuilder::new()
        .with_access_token(servers.credentials().tiktok_access_token.clone())
        .with_advertiser_ids(ids)
        .with_base_url(servers.tiktok_base_url())
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap()
        .get_campaign_data(&request)
        .await
        .unwrap();
    assert_faulted(&servers, "tiktok", "throttling was injected");
    assert_eq!(from_spec.num_rows(), built_in.num_rows());
    let spec_schema = from_spec.schema();
    let names: Vec<&str> = spec_schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let sorted = |t: &RecordBatch| {
        let projected = t
            .project(
                &names
                    .iter()
                    .map(|n| t.schema().index_of(n).unwrap())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let mut rows: Vec<String> = (0..projected.num_rows())
            .map(|k| {
                projected
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, k).unwrap())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(sorted(&from_spec), sorted(&built_in));
}
