//! One table of settings per connector.
//!
//! Each connector's settings are listed once, in its config type's `KEYS` (for example
//! [`MetaAdsConfig::KEYS`](crate::MetaAdsConfig::KEYS)): the name in a config table
//! (`liftos.toml`, serde), the standard environment variable, whether it is a secret
//! and whether a connector cannot be built without it. That table feeds the builder's
//! `from_env` (through [`env_settings`] and the config type) and the facade's config
//! file (which secrets it refuses to read from the file, which variables fill the
//! settings the file leaves out). object_store's `AmazonS3ConfigKey` is the model.
//! `config_table!` writes a config type and its table from one list, so a setting's
//! field and its key are declared together.

use serde_json::{Map, Value};

/// How a setting's text, read from an environment variable, becomes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// Text, trimmed.
    Text,
    /// Comma-separated list of text.
    List,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
    Bool,
    /// A number.
    Number,
    /// A whole number ≥ 0.
    Count,
}

/// One setting of a connector (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    /// Name in a config table (the config type's serde field).
    pub name: &'static str,
    /// Standard environment variable, read by `from_env` and by the facade's config file
    /// for a setting the file leaves out.
    pub variable: Option<&'static str>,
    /// A credential: never read from a config file, never printed.
    pub secret: bool,
    /// The connector cannot be built without it.
    pub required: bool,
    /// How a variable's text becomes the value.
    pub kind: ValueKind,
}

impl ConfigKey {
    /// A setting without a variable, not secret, not required.
    pub const fn new(name: &'static str, kind: ValueKind) -> Self {
        Self {
            name,
            variable: None,
            secret: false,
            required: false,
            kind,
        }
    }

    /// The same setting, read from `variable` too.
    pub const fn env(mut self, variable: &'static str) -> Self {
        self.variable = Some(variable);
        self
    }

    /// The same setting, as a secret.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The same setting, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// `text` (a variable's value) as this setting's value, or a message naming what was
    /// expected. A secret's text is never echoed (secrets are [`ValueKind::Text`]; the
    /// guard is for a table written otherwise).
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let v = text.trim();
        let shown = if self.secret { "…" } else { v };
        let what = self.variable.unwrap_or(self.name);
        match self.kind {
            ValueKind::Text => Ok(Value::String(v.to_owned())),
            ValueKind::List => Ok(Value::Array(
                split_list(v).into_iter().map(Value::String).collect(),
            )),
            ValueKind::Bool => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
                "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "{what}=`{shown}` is not a boolean (true/false, 1/0, yes/no, on/off)"
                )),
            },
            ValueKind::Number => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{what}=`{shown}` is not a number")),
            ValueKind::Count => v
                .parse::<u64>()
                .map(|n| Value::Number(n.into()))
                .map_err(|_| format!("{what}=`{shown}` is not a whole number ≥ 0")),
        }
    }
}

/// The settings of `keys` whose variables `lookup` finds (blank values count as unset),
/// as a config table for the config type's serde; and the first value that did not
/// parse, as a message naming its variable (the builder's `build` reports it).
pub fn env_settings(
    keys: &[ConfigKey],
    lookup: impl Fn(&str) -> Option<String>,
) -> (Map<String, Value>, Option<String>) {
    let mut table = Map::new();
    let mut error = None;
    for key in keys {
        let Some(var) = key.variable else { continue };
        let Some(text) = lookup(var).filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        match key.parse(&text) {
            Ok(value) => {
                table.insert(key.name.to_owned(), value);
            }
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    }
    (table, error)
}

/// A config of type `C` from the variables of `keys` (see [`env_settings`]), and the
/// first problem as a message naming the variable(s): `(None, Some(_))` when the values
/// read do not make a config (an unknown enum value, say).
pub(crate) fn config_from_env<C: serde::de::DeserializeOwned>(
    keys: &[ConfigKey],
    lookup: impl Fn(&str) -> Option<String>,
) -> (Option<C>, Option<String>) {
    let (table, error) = env_settings(keys, lookup);
    let names: Vec<&str> = keys
        .iter()
        .filter(|k| table.contains_key(k.name))
        .filter_map(|k| k.variable)
        .collect();
    match C::deserialize(Value::Object(table)) {
        Ok(c) => (Some(c), error),
        Err(e) => (None, Some(format!("{}: {e}", names.join(", ")))),
    }
}

/// The key of `keys` named `name`.
pub fn find_key<'a>(keys: &'a [ConfigKey], name: &str) -> Option<&'a ConfigKey> {
    keys.iter().find(|k| k.name == name)
}

/// A connector's config type and its `KEYS` table, from one list: each line is a field
/// (doc comment, name, type) and, after `=>`, its key (the [`ValueKind`] and the
/// [`ConfigKey`] methods: `.env(variable)`, `.secret()`, `.required()`). The type is a
/// serde config table: every field optional (`Default`), unknown fields refused.
///
/// ```ignore
/// config_table! {
///     /// Settings of a connector as a config table (serde).
///     pub struct ExampleConfig {
///         /// API key.
///         api_key: Option<SecretString> => Text.env("LIFTOS_EXAMPLE_API_KEY").secret();
///     }
/// }
/// ```
macro_rules! config_table {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $(
                $(#[$doc:meta])*
                $field:ident: $ty:ty => $kind:ident $(.$method:ident($($arg:expr)?))*;
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$doc])*
                pub $field: $ty,
            )*
        }

        impl $name {
            /// Every setting, once: config-table name, variable, secret, required.
            pub const KEYS: &'static [$crate::keys::ConfigKey] = &[$(
                $crate::keys::ConfigKey::new(stringify!($field), $crate::keys::ValueKind::$kind)
                    $(.$method($($arg)?))*,
            )*];
        }
    };
}
pub(crate) use config_table;

/// An environment of these variables only, as the lookup of a builder's `from_env_with`
/// (unit tests).
#[cfg(test)]
pub(crate) fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| vars.get(k).cloned()
}

/// Comma-separated text as a list (items trimmed, empty items dropped).
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[ConfigKey] = &[
        ConfigKey::new("token", ValueKind::Text)
            .env("X_TOKEN")
            .secret()
            .required(),
        ConfigKey::new("ids", ValueKind::List).env("X_IDS"),
        ConfigKey::new("flag", ValueKind::Bool).env("X_FLAG"),
        ConfigKey::new("limit", ValueKind::Count).env("X_LIMIT"),
        ConfigKey::new("cost", ValueKind::Number).env("X_COST"),
        ConfigKey::new("version", ValueKind::Text),
    ];

    #[test]
    fn variables_become_typed_settings_and_bad_values_are_named() {
        let vars = [
            ("X_TOKEN", " t0k "),
            ("X_IDS", "1, 2,,3"),
            ("X_FLAG", "Yes"),
            ("X_LIMIT", "12"),
            ("X_COST", "0.25"),
        ];
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let (t, err) = env_settings(KEYS, get);
        assert_eq!(err, None);
        assert_eq!(
            Value::Object(t),
            serde_json::json!({"token": "t0k", "ids": ["1", "2", "3"], "flag": true,
                               "limit": 12, "cost": 0.25})
        );
        let (t, err) = env_settings(KEYS, |k| {
            (k == "X_LIMIT" || k == "X_FLAG").then(|| "many".to_owned())
        });
        assert!(t.is_empty());
        assert_eq!(
            err.as_deref(),
            Some("X_FLAG=`many` is not a boolean (true/false, 1/0, yes/no, on/off)")
        );
        let (t, _) = env_settings(KEYS, |_| Some("  ".to_owned()));
        assert!(t.is_empty(), "blank variables count as unset");
        assert_eq!(find_key(KEYS, "version").map(|k| k.variable), Some(None));
    }
}
