//! Test support for relaygate: a mock upstream that speaks the four protocols, and helpers to
//! find the recorded third-party fixtures.
//!
//! [`MockUpstream`] is a real HTTP/1.1 + h2c server on `127.0.0.1`. By default it answers every
//! known route with a small, valid response of that route's protocol, streamed as SSE event by
//! event when the request asks for a stream. Tests script it per upstream key (the credential
//! the gateway injected) with a [`Behavior`]: fail with a status, wait, cut the stream after a
//! few events, answer HTTP 200 with an error body, or replay recorded bytes chunk by chunk.
//! Every request it sees is recorded, so tests can check what reached the upstream.
//!
//! This crate is for tests and benchmarks only; it is not part of the gateway.

mod canned;
pub mod fixtures;
pub mod fuzz;
mod server;

pub use canned::{CannedOptions, canned_json, canned_stream};
pub use server::{Behavior, MockUpstream, SeenRequest};
