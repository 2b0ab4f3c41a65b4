//! Integration tests of the connectors against the sandbox's fake platform servers.

mod common;
mod google;
mod klaviyo;
mod meta;
mod secrets;
