//! Secrets never appear in Debug, Display, error text or logs.

use std::collections::HashMap;

use liftos_connectors::{Connector, GoogleAdsBuilder, KlaviyoBuilder, MetaAdsBuilder};
use liftos_sandbox::fake::{FakeServers, FaultConfig};

use crate::common::*;

const SECRETS: [&str; 6] = [
    "meta-secret-token-XYZ",
    "meta-app-secret-ABC",
    "google-dev-token-QRS",
    "google-client-secret-LMN",
    "google-refresh-token-HIJ",
    "pk_klaviyo_secret_DEF",
];

fn env() -> HashMap<&'static str, String> {
    HashMap::from([
        ("LIFTOS_META_ACCESS_TOKEN", SECRETS[0].to_owned()),
        ("LIFTOS_META_APP_SECRET", SECRETS[1].to_owned()),
        (
            "LIFTOS_META_AD_ACCOUNT_IDS",
            "act_1000000001, 1000000002".to_owned(),
        ),
        ("LIFTOS_GOOGLE_ADS_DEVELOPER_TOKEN", SECRETS[2].to_owned()),
        ("LIFTOS_GOOGLE_ADS_CLIENT_ID", "client-id".to_owned()),
        ("LIFTOS_GOOGLE_ADS_CLIENT_SECRET", SECRETS[3].to_owned()),
        ("LIFTOS_GOOGLE_ADS_REFRESH_TOKEN", SECRETS[4].to_owned()),
        ("LIFTOS_GOOGLE_ADS_CUSTOMER_IDS", "123-456-7890".to_owned()),
        ("LIFTOS_KLAVIYO_API_KEY", SECRETS[5].to_owned()),
    ])
}

fn assert_clean(label: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{label} leaks a secret: {text}");
    }
}

#[tokio::test]
async fn secrets_never_reach_debug_display_or_errors() {
    let servers = FakeServers::start(world(), FaultConfig::none())
        .await
        .unwrap();
    let vars = env();
    let mut with_urls = vars.clone();
    with_urls.insert("LIFTOS_META_BASE_URL", servers.meta_base_url());
    with_urls.insert("LIFTOS_GOOGLE_ADS_BASE_URL", servers.google_base_url());
    with_urls.insert("LIFTOS_GOOGLE_ADS_TOKEN_URL", servers.google_token_url());
    with_urls.insert("LIFTOS_KLAVIYO_BASE_URL", servers.klaviyo_base_url());
    let lookup = |k: &str| with_urls.get(k).cloned();

    let meta_b = MetaAdsBuilder::from_env_with(lookup);
    assert_clean("meta builder Debug", &format!("{meta_b:?}"));
    let meta = meta_b
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let google_b = GoogleAdsBuilder::from_env_with(lookup);
    assert_clean("google builder Debug", &format!("{google_b:?}"));
    let google = google_b
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let klaviyo_b = KlaviyoBuilder::from_env_with(lookup);
    assert_clean("klaviyo builder Debug", &format!("{klaviyo_b:?}"));
    let klaviyo = klaviyo_b
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    assert_clean("meta Debug", &format!("{meta:?} {meta:#?}"));
    assert_clean("google Debug", &format!("{google:?}"));
    assert_clean("klaviyo Debug", &format!("{klaviyo:?}"));

    // The fake rejects these credentials: the errors must not echo them.
    let req = full_range(&world());
    for (name, err) in [
        ("meta", meta.get_campaign_data(&req).await.unwrap_err()),
        ("google", google.get_campaign_data(&req).await.unwrap_err()),
        (
            "klaviyo",
            klaviyo.get_campaign_data(&req).await.unwrap_err(),
        ),
    ] {
        assert!(
            matches!(err, liftos_connectors::Error::Auth { .. }),
            "{name}: {err}"
        );
        assert_clean(name, &format!("{err} {err:?}"));
    }
}

#[tokio::test]
async fn transport_errors_do_not_leak_the_token_in_the_url() {
    // Nothing listens on port 9 of loopback: the connection fails; the URL holding the
    // access token must not appear in the error.
    let b = MetaAdsBuilder::from_env_with(|k| env().get(k).cloned())
        .with_base_url("http://127.0.0.1:9")
        .with_retry(fast_retry().with_max_retries(1))
        .with_clock(clock());
    let err = b
        .build()
        .unwrap()
        .get_campaign_data(&full_range(&world()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, liftos_connectors::Error::RetriesExhausted { .. }),
        "{err}"
    );
    assert_clean("transport error", &format!("{err} {err:?}"));
}

#[test]
fn from_env_reads_exactly_the_documented_variables() {
    let vars = env();
    let meta = MetaAdsBuilder::from_env_with(|k| vars.get(k).cloned())
        .build()
        .unwrap();
    let dbg = format!("{meta:?}");
    assert!(
        dbg.contains("1000000001")
            && dbg.contains("1000000002")
            && dbg.contains("graph.facebook.com"),
        "{dbg}"
    );
    let google = GoogleAdsBuilder::from_env_with(|k| vars.get(k).cloned())
        .build()
        .unwrap();
    assert!(format!("{google:?}").contains("1234567890"));
    let err = KlaviyoBuilder::from_env_with(|_| None).build().unwrap_err();
    assert!(err.to_string().contains("LIFTOS_KLAVIYO_API_KEY"), "{err}");
    let err = MetaAdsBuilder::from_env_with(|k| vars.get(k).cloned())
        .with_base_url("http://example.com")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn debug_of_every_config_builder_and_connector_holds_no_secret() {
    use liftos_connectors::{
        GoogleAdsConfig, HttpSettings, KlaviyoConfig, MetaAdsConfig, RetryConfig,
    };
    let meta: MetaAdsConfig = serde_json::from_value(serde_json::json!({
        "access_token": SECRETS[0], "app_secret": SECRETS[1], "ad_account_ids": ["act_1"]
    }))
    .unwrap();
    let google: GoogleAdsConfig = serde_json::from_value(serde_json::json!({
        "developer_token": SECRETS[2], "client_id": "cid", "client_secret": SECRETS[3],
        "refresh_token": SECRETS[4], "customer_ids": ["1"]
    }))
    .unwrap();
    let klaviyo: KlaviyoConfig =
        serde_json::from_value(serde_json::json!({ "api_key": SECRETS[5] })).unwrap();
    assert_clean("MetaAdsConfig", &format!("{meta:?} {meta:#?}"));
    assert_clean("GoogleAdsConfig", &format!("{google:?} {google:#?}"));
    assert_clean("KlaviyoConfig", &format!("{klaviyo:?} {klaviyo:#?}"));
    let mb = MetaAdsBuilder::from_config(meta);
    let gb = GoogleAdsBuilder::from_config(google);
    let kb = KlaviyoBuilder::from_config(klaviyo);
    assert_clean("builders", &format!("{mb:?} {gb:?} {kb:?} {mb:#?}"));
    let (m, g, k) = (
        mb.build().unwrap(),
        gb.build().unwrap(),
        kb.build().unwrap(),
    );
    assert_clean(
        "connectors",
        &format!("{m:?} {g:?} {k:?} {m:#?} {g:#?} {k:#?}"),
    );
    let settings = HttpSettings::default();
    assert_clean(
        "http settings",
        &format!("{settings:?} {:?}", RetryConfig::default()),
    );
    // The Debug output is not empty: it shows the non-secret settings.
    assert!(format!("{m:?}").contains("act") || format!("{m:?}").contains('1'));
}
