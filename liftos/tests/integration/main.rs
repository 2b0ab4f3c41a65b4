//! Integration tests of the facade: cross-crate contracts and the `liftos` binary.

mod business;
mod chain;
mod cli;
#[cfg(feature = "distributed")]
mod cluster;
mod common;
mod config;
mod contracts;
mod pipeline;
mod plan;
mod postgres;
mod pull;
mod safety;
mod store_commands;
mod sync;
