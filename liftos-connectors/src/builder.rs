//! What every HTTP connector's builder shares: the retry policy, the clock, the progress
//! counters and a setting that could not be read ([`HttpBuilderBase`]), the methods that
//! set them and read the environment ([`http_builder!`]), and a helper for list setters
//! (the setters themselves are `liftos_core::setters!`).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::Result;
use crate::http::{Clock, HttpCore, Progress, Redactor, RetryConfig, SystemClock, config_error};

/// The part of an HTTP connector's builder that is not the connector's own settings.
pub(crate) struct HttpBuilderBase {
    pub(crate) retry: RetryConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) progress: Progress,
    /// A setting `from_env` or `from_config` could not read, reported by `build`.
    pub(crate) env_error: Option<String>,
}

impl std::fmt::Debug for HttpBuilderBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBuilderBase")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for HttpBuilderBase {
    fn default() -> Self {
        Self {
            retry: RetryConfig::default(),
            clock: Arc::new(SystemClock::default()),
            progress: Progress::default(),
            env_error: None,
        }
    }
}

impl HttpBuilderBase {
    /// The setting that could not be read, as `source`'s [`Error::Config`](crate::Error::Config).
    pub(crate) fn check(&self, source: &str) -> Result<()> {
        match &self.env_error {
            Some(e) => Err(config_error(source, e)),
            None => Ok(()),
        }
    }

    /// The config table's `secs` (setting `name`) as a duration, when it is a number of
    /// seconds ≥ 0 (> 0 when `positive`); otherwise `None`, the error kept for `build`.
    pub(crate) fn seconds(
        &mut self,
        name: &str,
        secs: Option<f64>,
        positive: bool,
    ) -> Option<Duration> {
        let x = secs?;
        match Duration::try_from_secs_f64(x) {
            Ok(d) if !(positive && d.is_zero()) => Some(d),
            _ => {
                let bound = if positive { "> 0" } else { "≥ 0" };
                self.env_error = Some(format!("{name} = {x:?} is not a number of seconds {bound}"));
                None
            }
        }
    }

    /// The HTTP core of `source`'s connector: the retry policy validated, the client built.
    pub(crate) fn into_core(self, source: &'static str, redactor: Redactor) -> Result<HttpCore> {
        HttpCore::new(source, self.retry, self.clock, redactor, self.progress)
    }
}

/// The items of a list setter's argument, as strings.
pub(crate) fn strings(items: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

/// `source`'s required secret `what` (an access token, an API key): when it is missing
/// the error says to set the variable `var` or to call `setter`; a blank one is an error
/// too.
pub(crate) fn required_secret(
    source: &str,
    secret: Option<SecretString>,
    what: &str,
    var: &str,
    setter: &str,
) -> Result<SecretString> {
    let secret = secret.ok_or_else(|| {
        config_error(
            source,
            &format!("missing {what}: set {var} or call {setter}"),
        )
    })?;
    if secret.expose_secret().trim().is_empty() {
        return Err(config_error(source, &format!("the {what} is empty")));
    }
    Ok(secret)
}

/// The settings every HTTP connector's builder shares, as builder methods: the retry
/// policy, the clock and the progress counters (field `base`, an [`HttpBuilderBase`]).
macro_rules! http_builder_setters {
    () => {
        /// Sets the retry policy (retries, timeouts, concurrency, page bound).
        pub fn with_retry(mut self, retry: $crate::RetryConfig) -> Self {
            self.base.retry = retry;
            self
        }
        /// Sets the clock (a [`VirtualClock`]($crate::VirtualClock) in tests).
        pub fn with_clock(mut self, clock: std::sync::Arc<dyn $crate::Clock>) -> Self {
            self.base.clock = clock;
            self
        }
        /// Sets the progress counters / callback.
        pub fn with_progress(mut self, progress: $crate::Progress) -> Self {
            self.base.progress = progress;
            self
        }
    };
}
pub(crate) use http_builder_setters;

/// [`http_builder_setters!`] and the constructors of a builder whose settings come from
/// the config type `$config` (with its `KEYS` table): `new`, `from_env`, `from_env_with`.
/// The builder implements `Default` and has `from_config($config) -> Self`.
macro_rules! http_builder {
    ($config:ident) => {
        /// An empty builder.
        pub fn new() -> Self {
            Self::default()
        }
        #[doc = concat!("Reads the variables of [`", stringify!($config), "::KEYS`] from the")]
        /// process environment; a value that does not parse is reported by
        /// [`build`](Self::build).
        pub fn from_env() -> Self {
            Self::from_env_with(|k| std::env::var(k).ok())
        }
        /// Like [`from_env`](Self::from_env) with an injectable lookup (tests).
        pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
            let (config, error) = $crate::keys::config_from_env($config::KEYS, lookup);
            let mut b = config.map(Self::from_config).unwrap_or_default();
            b.base.env_error = b.base.env_error.or(error);
            b
        }
        $crate::builder::http_builder_setters!();
    };
}
pub(crate) use http_builder;

/// `with_oauth` of a builder whose config table (field `config`) holds an OAuth2 refresh
/// flow's `client_id`, `client_secret` and `refresh_token` (Google Ads, GA4).
macro_rules! oauth_setter {
    () => {
        /// Sets the OAuth client and refresh token.
        pub fn with_oauth(
            mut self,
            client_id: impl Into<String>,
            client_secret: impl Into<secrecy::SecretString>,
            refresh_token: impl Into<secrecy::SecretString>,
        ) -> Self {
            self.config.client_id = Some(client_id.into());
            self.config.client_secret = Some(client_secret.into());
            self.config.refresh_token = Some(refresh_token.into());
            self
        }
    };
}
pub(crate) use oauth_setter;

/// An HTTP connector's builder type: the struct (its config table `$config` in field
/// `config`, the fields listed with their defaults, an [`HttpBuilderBase`] in field
/// `base`), its `Default`, [`http_builder!`], `from_config` and `with_base_url` (the
/// config table's `base_url`, replacing the `default_base_url` named). The block after
/// `from_config(b)`, when there is one, finishes the builder `b` made from the table
/// (a setting that is not in the table, read from one that is).
macro_rules! http_builder_type {
    (
        $(#[$attr:meta])*
        pub struct $builder:ident($config:ident) {
            $($field:ident: $ty:ty = $default:expr,)*
        }
        default_base_url: $base_url:literal;
        $(
            $(#[$from_attr:meta])*
            from_config($b:ident) $finish:block
        )?
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $builder {
            config: $config,
            $($field: $ty,)*
            base: $crate::builder::HttpBuilderBase,
        }

        impl Default for $builder {
            fn default() -> Self {
                Self {
                    config: $config::default(),
                    $($field: $default,)*
                    base: $crate::builder::HttpBuilderBase::default(),
                }
            }
        }

        impl $builder {
            $crate::builder::http_builder!($config);
            /// A builder from a config table.
            $($(#[$from_attr])*)?
            pub fn from_config(config: $config) -> Self {
                #[allow(unused_mut)]
                let mut b = Self {
                    config,
                    ..Self::default()
                };
                $(
                    let $b = &mut b;
                    $finish
                )?
                b
            }
            #[doc = concat!("Replaces `", $base_url, "`.")]
            pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
                self.config.base_url = Some(base_url.into());
                self
            }
        }
    };
}
pub(crate) use http_builder_type;
