//! Shared helpers for the LiftOS benchmarks live in the bench targets themselves.
