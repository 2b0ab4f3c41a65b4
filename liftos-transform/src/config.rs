//! TOML loading shared by the mapping and the rules: errors name the key.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

/// Deserializes `text`; a bad value names its key path (`sources.meta.columns.spend`),
/// a syntax error its line.
pub(crate) fn from_toml_str<T: DeserializeOwned>(text: &str) -> Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        Error::config(format!("line {line}"), e.message().to_owned())
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let mut message = inner.message().to_owned();
        if let Some(span) = inner.span() {
            message.push_str(&format!(" (line {})", line_of(text, span.start)));
        }
        Error::config(
            if key == "." {
                "(top level)".to_owned()
            } else {
                key
            },
            message,
        )
    })
}

/// Reads a TOML file; errors name the file as well as the key.
pub(crate) fn from_toml_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = liftos_core::fs::read_to_string_limited(path, liftos_core::fs::MAX_WHOLE_FILE)
        .map_err(|e| Error::File {
            path: path.to_owned(),
            line: None,
            message: e.to_string(),
        })?;
    from_toml_str(&text).map_err(|e| match e {
        Error::Config { key, message } => Error::Config {
            key,
            message: format!("{message} (in {})", path.display()),
        },
        other => other,
    })
}
