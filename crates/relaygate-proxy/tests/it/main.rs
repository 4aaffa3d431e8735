//! Integration tests: a real gateway server against the mock upstream.

mod errors;
mod failover;
mod fixtures;
mod passthrough;
mod support;
