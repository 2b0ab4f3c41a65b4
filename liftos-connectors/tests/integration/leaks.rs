//! Issue 16, item 1: tokens are never printed, whatever form the server echoes them in.

use liftos_connectors::{Connector, Error, GoogleAdsBuilder, MetaAdsBuilder, hmac_sha256_hex};
use liftos_sandbox::fake::FaultConfig;

use crate::common::*;
use crate::narrow::{Narrow, json, json_text, unexpected};

fn assert_absent(label: &str, text: &str, needles: &[&str]) {
    for n in needles {
        assert!(
            !text.to_ascii_lowercase().contains(&n.to_ascii_lowercase()),
            "{label} holds `{n}`: {text}"
        );
    }
}

#[tokio::test]
async fn a_repeated_meta_next_link_is_reported_without_its_access_token() {
    // The fake's looping `paging.next` carries access_token and appsecret_proof, as
    // Meta's do.
    let servers = serve(world(), FaultConfig::none().with_page_loop()).await;
    let creds = servers.credentials().clone();
    let c = MetaAdsBuilder::new()
        .with_access_token(creds.meta_access_token.clone())
        .with_app_secret(creds.meta_app_secret.clone())
        .with_ad_account_ids(["act_1000000001"])
        .with_base_url(servers.meta_base_url())
        .with_page_limit(5)
        .with_retry(fast_retry())
        .with_clock(clock())
        .build()
        .unwrap();
    let err = pull_error_within_20s(&c, &full_range(&world())).await;
    let Error::PageLoop { token, .. } = &err else {
        panic!("{err}")
    };
    // The token the server sent held the credentials; what is shown does not.
    let sent = servers.requests_to("meta");
    assert!(
        sent.iter()
            .any(|r| r.query.contains("access_token=fake-meta-access-token"))
    );
    let proof = hmac_sha256_hex(&creds.meta_app_secret, &creds.meta_access_token);
    let text = format!("{err} | {err:?}");
    assert_absent(
        "page loop error",
        &text,
        &[&creds.meta_access_token, &proof, &creds.meta_app_secret],
    );
    // Still useful: the repeated cursor and the path are shown.
    assert_mentions(token, &["after=QVFI", "/insights"]);
    assert!(token.contains("access_token=%5BREDACTED%5D"), "{token}");
}

/// A Google API whose errors echo the request: the runtime access token, and the
/// refresh token and client secret percent- and form-encoded, in both hex cases.
#[tokio::test]
async fn google_error_bodies_echoing_runtime_and_encoded_secrets_are_redacted() {
    const ACCESS: &str = "ya29.a0AfB_runtime-ACCESS-token";
    const REFRESH: &str = "1//0gRefresh-Token_ABC";
    const CLIENT_SECRET: &str = "GOCSPX client+secret";
    const DEV: &str = "dev|token/QRS";
    let echo = format!(
        "you sent: Authorization: Bearer {ACCESS}; developer-token: {dev_enc}; \
         form refresh_token=1%2F%2F0gRefresh-Token_ABC&client_secret=GOCSPX+client%2Bsecret; \
         lower 1%2f%2f0gRefresh-Token_ABC GOCSPX%20client%2bsecret",
        dev_enc = "dev%7ctoken%2FQRS"
    );
    for status in [400u16, 500] {
        let echo = echo.clone();
        let server = Narrow::start(move |s, _| match s.path.as_str() {
            "/token" => json(200, serde_json::json!({"access_token": ACCESS, "expires_in": 3599})),
            p if p.ends_with("googleAds:searchStream") => json(
                status,
                serde_json::json!([{"error": {"code": status, "status": "INVALID_ARGUMENT", "message": echo}}]),
            ),
            _ => unexpected(s),
        })
        .await;
        let c = GoogleAdsBuilder::new()
            .with_developer_token(DEV)
            .with_oauth("client-id", CLIENT_SECRET, REFRESH)
            .with_customer_ids(["1234567890"])
            .with_base_url(server.base_url())
            .with_token_url(format!("{}/token", server.base_url()))
            .with_retry(fast_retry().with_max_retries(1))
            .with_clock(clock())
            .build()
            .unwrap();
        let err = c.get_campaign_data(&one_day()).await.unwrap_err();
        let text = format!("{err} | {err:?}");
        assert!(
            matches!(
                (status, &err),
                (400, Error::Http { .. }) | (500, Error::RetriesExhausted { .. })
            ),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
        assert_absent(
            &format!("HTTP {status} error"),
            &text,
            &[
                ACCESS,
                "ya29",
                REFRESH,
                "0gRefresh",
                CLIENT_SECRET,
                "client+secret",
                "client%2",
                "GOCSPX",
                DEV,
                "token%2FQRS",
                "dev%7c",
            ],
        );
        // The echo really held the runtime token: the server issued and got it.
        assert!(server.requests().iter().any(|r| {
            r.headers
                .iter()
                .any(|(k, v)| k == "authorization" && v.contains(ACCESS))
        }));
    }
}

/// A Meta app token (`app_id|secret`) echoed percent-encoded (`%7C`, `%7c`).
#[tokio::test]
async fn a_percent_encoded_meta_app_token_is_redacted() {
    const TOKEN: &str = "123456789|AppTokenSecret-XYZ";
    let server = Narrow::start(|s, _| {
        if s.path.ends_with("/insights") {
            json(
                400,
                serde_json::json!({"error": {"message": format!("Invalid parameter: access_token={} or 123456789%7cAppTokenSecret-XYZ", s.query.split("access_token=").nth(1).unwrap_or("").split('&').next().unwrap_or("")), "type": "OAuthException", "code": 100}}),
            )
        } else {
            unexpected(s)
        }
    })
    .await;
    let c = meta_at(server.base_url(), TOKEN).build().unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    let text = format!("{err} | {err:?}");
    assert!(matches!(err, Error::Http { status: 400, .. }), "{text}");
    // The server echoed the token as the client encoded it (`123456789%7C...`).
    assert!(
        server.requests()[0]
            .query
            .contains("123456789%7CAppTokenSecret-XYZ")
    );
    assert_absent("meta error", &text, &[TOKEN, "AppTokenSecret"]);
}

/// `s` as a JSON string body would carry it, escaped in the style of one encoder.
fn json_escaped(style: &str, s: &str) -> String {
    let unit = |u: u16, upper: bool| {
        if upper {
            format!("\\u{u:04X}")
        } else {
            format!("\\u{u:04x}")
        }
    };
    let mut out = String::new();
    for c in s.chars() {
        let escape = match style {
            // Go's encoding/json (HTML-safe).
            "go" => matches!(c, '<' | '>' | '&'),
            // .NET's System.Text.Json default encoder, upper-case hex.
            "dotnet" => matches!(c, '+' | '&' | '<' | '>' | '\'' | '"') || !c.is_ascii(),
            // Everything escaped.
            _ => true,
        };
        if escape {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units).iter() {
                out.push_str(&unit(*u, style == "dotnet"));
            }
        } else {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c => out.push(c),
            }
        }
    }
    out
}

/// An API whose JSON error body echoes the key with `\uXXXX` escapes (Go escapes `< > &`,
/// .NET `+ & < > ' "` and non-ASCII, some encoders every character): the key is
/// redacted, for several keys and each style. It had been printed as sent, recoverable
/// by JSON-decoding the error.
#[tokio::test]
async fn secrets_echoed_with_json_escapes_are_redacted() {
    use liftos_connectors::{RestBuilder, RestSpec};
    const SPEC: &str = "name = \"echo\"\nbase_url = \"https://api.example.com\"\n\
        [auth]\ntype = \"query\"\nparam = \"api_key\"\nsecret_env = \"ECHO_KEY\"\n\
        [request]\npath = \"/report\"\n[records]\npath = \"rows\"\n\
        [[fields]]\nname = \"day\"\npath = \"day\"\ntype = \"date\"\n";
    for key in [
        "k3y+SECRET&api<key>",
        "tok/with\"quote'and\\slash",
        "ünï+cøde&kéy-😀-tail",
    ] {
        for style in ["go", "dotnet", "all"] {
            let server = Narrow::start(move |s, _| {
                let sent = url::form_urlencoded::parse(s.query.as_bytes())
                    .find(|(k, _)| k == "api_key")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let body = format!(
                    "{{\"error\":\"invalid key \\\"{}\\\"\"}}",
                    json_escaped(style, &sent)
                );
                json_text(400, body)
            })
            .await;
            let c = RestBuilder::new(RestSpec::from_toml_str(SPEC, "echo.toml").unwrap())
                .with_env(move |_| Some(key.to_owned()))
                .with_base_url(server.base_url())
                .with_retry(fast_retry())
                .with_clock(clock())
                .build()
                .unwrap();
            let err = c.get_campaign_data(&one_day()).await.unwrap_err();
            let text = format!("{err} | {err:?}");
            assert!(matches!(err, Error::Http { status: 400, .. }), "{text}");
            assert!(text.contains("[REDACTED]"), "{style} {key}: {text}");
            let decoded = text.replace("\\\"", "\"");
            assert_absent(
                &format!("{style} echo of {key}"),
                &decoded,
                &[key, "SECRET", "with", "c\\u00f8de", "kéy"],
            );
            assert_eq!(server.requests().len(), 1);
        }
    }
    // Meta's token echoed with every `k` escaped (`\u006b`), as a JSON encoder that
    // escapes letters writes it.
    const TOKEN: &str = "EAAB-SECRET-TOKEN-abc123/xyz+k";
    let server = Narrow::start(|s, _| {
        let sent = url::form_urlencoded::parse(s.query.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let echoed = serde_json::to_string(&sent)
            .unwrap()
            .trim_matches('"')
            .replace('/', "\\/")
            .replace('k', "\\u006b");
        let body = format!(
            "{{\"error\":{{\"message\":\"bad token {echoed}\",\"type\":\"OAuthException\",\"code\":100}}}}"
        );
        json_text(400, body)
    })
    .await;
    let c = meta_at(server.base_url(), TOKEN).build().unwrap();
    let err = c.get_campaign_data(&one_day()).await.unwrap_err();
    let text = format!("{err} | {err:?}");
    assert!(text.contains("[REDACTED]"), "{text}");
    assert_absent("meta echo", &text, &["SECRET", "xyz", "abc123"]);
}
