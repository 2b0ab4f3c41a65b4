//! Integration tests of the facade: cross-crate contracts and the `liftos` binary.

mod cli;
mod contracts;
