//! The OAuth2 refresh-token flow shared by the Google connectors (Ads, Analytics) and
//! the declarative REST connector: an access token obtained from the token endpoint,
//! kept until shortly before it expires, and replaced once when the API refuses it.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{HttpCore, PullBudget, Redactor, Reply, Verdict, decode_for, validate_base_url};
use crate::{Error, Result};

/// The credentials of a refresh-token flow and the access token it holds.
#[derive(Debug)]
pub(crate) struct RefreshFlow {
    /// Where the refresh grant is posted (its own origin; nothing else goes there).
    pub token_url: String,
    pub client_id: SecretString,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    /// Refresh this long before the token expires.
    pub margin: Duration,
    /// Variable names for error hints: (client id and secret, refresh token).
    pub hint_client: String,
    pub hint_refresh: String,
    token: tokio::sync::Mutex<Option<(SecretString, Duration)>>,
}

impl RefreshFlow {
    pub(crate) fn new(
        token_url: String,
        client_id: SecretString,
        client_secret: SecretString,
        refresh_token: SecretString,
        hint_client: String,
        hint_refresh: String,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            refresh_token,
            margin: Duration::from_secs(60),
            hint_client,
            hint_refresh,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// Refresh this long before the token expires (default 60 s).
    pub(crate) fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The refresh flow of a Google API (`source`): the token endpoint `token_url`
    /// (checked like a base URL), the client and the refresh token, which come from the
    /// variables `LIFTOS_{prefix}_CLIENT_ID`, `…_CLIENT_SECRET` and `…_REFRESH_TOKEN`
    /// (named by the errors).
    pub(crate) fn google(
        source: &str,
        prefix: &str,
        token_url: &str,
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
    ) -> Result<Self> {
        let token_url = validate_base_url(source, token_url)?.to_string();
        Ok(Self::new(
            token_url,
            SecretString::from(client_id),
            client_secret,
            refresh_token,
            format!("LIFTOS_{prefix}_CLIENT_ID and LIFTOS_{prefix}_CLIENT_SECRET"),
            format!("LIFTOS_{prefix}_REFRESH_TOKEN"),
        ))
    }

    /// One request of a Google API, sent as `make` builds it with the client and a valid
    /// access token (the `Authorization` header is `make`'s to set). When the API
    /// answers 401 (an [`Error::Auth`] whose message starts with `HTTP 401`) the token
    /// is refreshed and the request sent again, once.
    pub(crate) async fn execute<M, C>(
        &self,
        core: &HttpCore,
        budget: &PullBudget,
        make: M,
        classify: C,
    ) -> Result<Reply>
    where
        M: Fn(&reqwest::Client, &SecretString) -> reqwest::RequestBuilder,
        C: Fn(&Reply) -> Verdict,
    {
        let mut rejected: Option<SecretString> = None;
        loop {
            let token = self.access_token(core, budget, rejected.as_ref()).await?;
            let client = core.client();
            let result = core
                .execute(budget, || make(client, &token), &classify)
                .await;
            match result {
                Err(Error::Auth { message, .. })
                    if rejected.is_none() && message.starts_with("HTTP 401") =>
                {
                    tracing::info!(
                        source = core.source,
                        "401 from the API: refreshing the access token once"
                    );
                    rejected = Some(token);
                }
                other => return other,
            }
        }
    }

    /// The secrets that are secret: client secret and refresh token (the client id is
    /// no secret).
    pub(crate) fn private_secrets(&self) -> [&SecretString; 2] {
        [&self.client_secret, &self.refresh_token]
    }

    /// The secrets to redact from every error: client id, client secret, refresh token.
    pub(crate) fn secrets(&self) -> [&SecretString; 3] {
        [&self.client_id, &self.client_secret, &self.refresh_token]
    }

    /// A valid access token, refreshed when it is missing or about to expire.
    /// `rejected`: a token the API just refused (another task may have replaced it).
    /// A new token is added to `core`'s redactor before anything can print it.
    pub(crate) async fn access_token(
        &self,
        core: &HttpCore,
        budget: &PullBudget,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString> {
        let mut guard = self.token.lock().await;
        let now = core.clock.now();
        if let Some((tok, exp)) = guard.as_ref()
            && *exp > now.saturating_add(self.margin)
            && rejected.is_none_or(|r| r.expose_secret() != tok.expose_secret())
        {
            return Ok(tok.clone());
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", self.client_id.expose_secret())
            .append_pair("client_secret", self.client_secret.expose_secret())
            .append_pair("refresh_token", self.refresh_token.expose_secret())
            .append_pair("grant_type", "refresh_token")
            .finish();
        let client = core.client();
        let reply = core
            .execute(
                budget,
                || {
                    client
                        .post(&self.token_url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form.clone())
                },
                |r| self.classify(core.source, &core.redactor, r),
            )
            .await?;
        let t: TokenReply = decode_for(core.source, &reply.body)?;
        if t.access_token.is_empty() {
            return Err(Error::Decode {
                source_name: core.source.into(),
                path: "access_token".into(),
                message: "the token endpoint gave an empty access token".into(),
            });
        }
        let token = SecretString::from(t.access_token);
        // Obtained at run time: hidden from every error and log from now on.
        core.redactor.add(&token);
        // A lifetime too long for the clock (`expires_in: 18446744073709551615`) is "until
        // the API refuses it" (then it is replaced once), not an overflow.
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
        let expires = core.clock.now().saturating_add(lifetime);
        *guard = Some((token.clone(), expires));
        Ok(token)
    }

    fn classify(&self, source: &str, redactor: &Redactor, r: &Reply) -> Verdict {
        if r.status == 200 {
            return Verdict::Ok { pause: None };
        }
        if r.status >= 500 || r.status == 429 {
            return Verdict::Retry {
                after: None,
                reason: format!("token endpoint HTTP {}", r.status),
            };
        }
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let code = redactor.excerpt(v["error"].as_str().unwrap_or_default());
        let hint = match code.as_str() {
            "invalid_grant" => format!(
                "the refresh token has expired or been revoked; re-authorize and update {}",
                self.hint_refresh
            ),
            "invalid_client" => format!(
                "the OAuth client id/secret were rejected; check {}",
                self.hint_client
            ),
            _ => "the OAuth token request was rejected".to_owned(),
        };
        Verdict::Fail(Error::Auth {
            source_name: source.into(),
            message: format!(
                "token endpoint HTTP {} `{code}`: {hint} ({})",
                r.status,
                redactor.excerpt(v["error_description"].as_str().unwrap_or_default())
            ),
        })
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}
