//! Integration tests of the connectors against the sandbox's fake platform servers.

mod common;
mod ga4;
mod google;
mod klaviyo;
mod leaks;
mod limits;
mod meta;
mod narrow;
mod origins;
mod postgres;
mod rest;
mod retry_after;
mod secrets;
mod shopify;
mod sleeps;
mod tiktok;
