//! Secrets never appear in Debug, Display, error text or logs.

use std::collections::HashMap;

use liftos_connectors::{Connector, GoogleAdsBuilder, KlaviyoBuilder, MetaAdsBuilder};
use liftos_sandbox::fake::FaultConfig;

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

/// The `$builder` read from `$lookup`, its Debug checked for secrets, built with fast
/// retries and the virtual clock.
macro_rules! built_clean {
    ($builder:ident, $name:literal, $lookup:expr) => {{
        let b = $builder::from_env_with($lookup);
        assert_clean(concat!($name, " builder Debug"), &format!("{b:?}"));
        b.with_retry(fast_retry())
            .with_clock(clock())
            .build()
            .unwrap()
    }};
}

#[tokio::test]
async fn secrets_never_reach_debug_display_or_errors() {
    let servers = serve(world(), FaultConfig::none()).await;
    let vars = env();
    let mut with_urls = vars.clone();
    with_urls.insert("LIFTOS_META_BASE_URL", servers.meta_base_url());
    with_urls.insert("LIFTOS_GOOGLE_ADS_BASE_URL", servers.google_base_url());
    with_urls.insert("LIFTOS_GOOGLE_ADS_TOKEN_URL", servers.google_token_url());
    with_urls.insert("LIFTOS_KLAVIYO_BASE_URL", servers.klaviyo_base_url());
    let lookup = |k: &str| with_urls.get(k).cloned();

    let meta = built_clean!(MetaAdsBuilder, "meta", lookup);
    let google = built_clean!(GoogleAdsBuilder, "google", lookup);
    let klaviyo = built_clean!(KlaviyoBuilder, "klaviyo", lookup);
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
    assert_mentions(&dbg, &["1000000001", "1000000002", "graph.facebook.com"]);
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

/// Each connector's key table is the one list of its settings: every key is a field of
/// its config type (set alone, it deserializes), its variable is `LIFTOS_<SOURCE>_` and
/// the key's name in capitals, names and variables are unique, and `from_env` reads
/// exactly those variables.
#[test]
fn key_tables_match_the_config_types_and_the_variables() {
    use liftos_connectors::{ConfigKey, GoogleAdsConfig, KlaviyoConfig, MetaAdsConfig, ValueKind};
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    fn sample(k: &ConfigKey) -> (serde_json::Value, &'static str) {
        match k.kind {
            ValueKind::List => (serde_json::json!(["1"]), "1"),
            ValueKind::Bool => (serde_json::json!(true), "true"),
            ValueKind::Number => (serde_json::json!(0.5), "0.5"),
            ValueKind::Count => (serde_json::json!(3), "3"),
            _ if k.name == "conversion_counting" => (serde_json::json!("sum_all"), "sum_all"),
            _ => (serde_json::json!("x"), "x"),
        }
    }
    type Check = fn(serde_json::Value) -> Result<(), String>;
    let tables: [(&str, &[ConfigKey], Check); 3] = [
        ("LIFTOS_META_", MetaAdsConfig::KEYS, |v| {
            serde_json::from_value::<MetaAdsConfig>(v)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        ("LIFTOS_GOOGLE_ADS_", GoogleAdsConfig::KEYS, |v| {
            serde_json::from_value::<GoogleAdsConfig>(v)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        ("LIFTOS_KLAVIYO_", KlaviyoConfig::KEYS, |v| {
            serde_json::from_value::<KlaviyoConfig>(v)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    ];
    for (prefix, keys, check) in tables {
        let mut names = BTreeSet::new();
        for k in keys {
            assert!(names.insert(k.name), "{prefix}: {} twice", k.name);
            let (value, _) = sample(k);
            check(serde_json::json!({ k.name: value }))
                .unwrap_or_else(|e| panic!("{prefix}: key {} is not a config field: {e}", k.name));
            assert_eq!(
                k.variable.map(str::to_owned),
                Some(format!("{prefix}{}", k.name.to_uppercase())),
                "{prefix}: {}",
                k.name
            );
            assert!(!k.secret || k.kind == ValueKind::Text, "{}", k.name);
        }
        assert!(
            check(serde_json::json!({ "not_a_setting": 1 })).is_err(),
            "{prefix}: unknown settings must be refused"
        );
        // from_env asks for exactly the table's variables.
        let asked = RefCell::new(BTreeSet::new());
        let lookup = |k: &str| {
            asked.borrow_mut().insert(k.to_owned());
            None::<String>
        };
        match prefix {
            "LIFTOS_META_" => drop(MetaAdsBuilder::from_env_with(lookup)),
            "LIFTOS_GOOGLE_ADS_" => drop(GoogleAdsBuilder::from_env_with(lookup)),
            _ => drop(KlaviyoBuilder::from_env_with(lookup)),
        }
        let want: BTreeSet<String> = keys
            .iter()
            .filter_map(|k| k.variable.map(str::to_owned))
            .collect();
        assert_eq!(asked.into_inner(), want, "{prefix}");
        // And each value it finds reaches the builder (a bad one is named by build).
        for k in keys.iter().filter(|k| k.kind != ValueKind::Text) {
            let var = k.variable.unwrap();
            let bad = |n: &str| (n == var).then(|| "not-a-value,,".to_owned());
            let err = match prefix {
                "LIFTOS_META_" => MetaAdsBuilder::from_env_with(bad).build().err(),
                "LIFTOS_GOOGLE_ADS_" => GoogleAdsBuilder::from_env_with(bad).build().err(),
                _ => KlaviyoBuilder::from_env_with(bad).build().err(),
            };
            let err = err.map(|e| e.to_string()).unwrap_or_default();
            if k.kind != ValueKind::List {
                assert!(err.contains(var), "{var}: {err}");
            }
        }
    }
}
