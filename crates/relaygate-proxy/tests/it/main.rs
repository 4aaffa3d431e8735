//! Integration tests: a real gateway server against the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod billing;
mod errors;
mod failover;
mod fixtures;
mod hardening;
mod passthrough;
mod probe;
mod routing;
mod support;
mod translate;
