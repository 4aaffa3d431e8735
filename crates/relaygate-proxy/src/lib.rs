//! The gateway's hot path: accepts client requests over HTTP/1.1 and h2c, authenticates them,
//! picks channels, forwards to upstreams with failover, and streams the answer back unchanged.
//!
//! The life of a request (see `docs/ARCHITECTURE.md`):
//!
//! 1. [`routes`] maps method and path to a protocol and an operation.
//! 2. [`auth`] checks the gateway token (never forwarded upstream).
//! 3. The body is read up to the configured limit and [`relaygate_protocol::peek`] reads the
//!    model and stream flag.
//! 4. The routing table lists the channels that serve the model; `relaygate-health` orders
//!    them (priority, smooth weighted round-robin, cooldowns).
//! 5. The failover loop ([`pipeline`]) tries keys and URLs of each channel until an upstream
//!    answers; failures before the first byte reached the client are retried elsewhere.
//! 6. [`relay`] streams the upstream body to the client frame by frame, aligned to whole SSE
//!    events, and ends a broken stream with an error event in the client's protocol.
//! 7. One request log row is queued to the store when the response ends.
//!
//! What this crate is not: it does not translate between protocols (that is
//! `relaygate-transform`) and it keeps no state that must survive a restart.

pub mod auth;
mod background;
pub mod boundary;
mod budget;
mod clock;
mod config;
mod error;
mod fallback;
mod gateway;
pub mod observe;
mod pipeline;
mod prices;
mod probe;
mod relay;
pub mod routes;
mod server;
mod table;
mod upstream;

pub use budget::utc_date;
pub use clock::Clock;
pub use config::{
    Budgets, ChannelBudget, ClientLimits, CooldownConfig, ProxyConfig, RoutingConfig, Timeouts,
    TokenBudget, UnpricedPolicy,
};
pub use error::Error;
pub use fallback::WhenUnavailable;
pub use gateway::{CooldownView, Gateway};
pub use observe::OTHER_MODEL;
pub use probe::ChannelTest;
pub use relay::{RelayStream, ResponseBody, SideBody};
pub use server::{Server, serve};
pub use table::RoutingTable;

/// Loads the `o200k_base` tokenizer, which local counts for gpt-4o and later OpenAI models,
/// Claude and Gemini use, so the first count request does not wait for it (about half a
/// second). `cl100k_base` (gpt-4, gpt-3.5) still loads on its first use. Blocks: call it on a
/// blocking thread at start-up.
pub fn preload_tokenizer() {
    if let Err(e) = relaygate_tokens::tokenizer(relaygate_tokens::Encoding::O200kBase) {
        tracing::warn!(error = %e, "local token counting is unavailable");
    }
}

/// Serves what the proxy itself does not: any path outside the four protocols' APIs, and
/// `GET /`. Installed with [`Gateway::set_side_handler`].
pub type SideHandler = std::sync::Arc<
    dyn Fn(
            http::Request<hyper::body::Incoming>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<SideBody>> + Send>>
        + Send
        + Sync,
>;
