//! Token accounting for relaygate: local token counting, usage extraction and pricing.
//!
//! What it is:
//!
//! - [`usage_from_json`] and [`StreamUsage`] read the usage an upstream reports, in any of the
//!   four wire protocols, and normalise it into one [`Usage`] record that never double counts
//!   (cached prompt tokens are moved out of `input`). [`estimate_cut`] fills the gaps of a stream
//!   that broke before its final usage arrived.
//! - [`count_request`] counts the tokens of a request body locally: exactly for OpenAI model
//!   families (the `o200k_base` / `cl100k_base` ranks embedded by `tiktoken-rs`, run by this
//!   crate's own regex-free [`Tokenizer`], plus the chat format's per-message overhead), and
//!   as a calibrated estimate for Claude and Gemini, whose tokenizers are not public. Work is
//!   bounded: at most [`BPE_BUDGET_BYTES`] of text per request goes through the BPE, the rest
//!   is estimated from its byte length.
//! - [`PriceTable`] and [`cost`] turn a [`Usage`] into integer micro-dollars from a TOML price
//!   list (a default list ships in the crate as `prices/default.toml`), with long-context tiers,
//!   cache read/write prices and service-tier multipliers. A model without a price is reported as
//!   unpriced, never as free. [`import_prices`] reads LiteLLM's and models.dev's price
//!   databases into that format, and [`PriceTable::to_toml`] writes a table back.
//!
//! What it is not: it does no I/O (it reads only the bytes and text it is given), reads no clock,
//! spawns nothing and has no async runtime; it does not translate between protocols, does not
//! decide what to bill a client (the caller applies channel multipliers and limits), and does not
//! fetch price lists.
#![deny(missing_docs)]

mod bpe;
mod claude;
mod count;
mod image;
mod import;
mod pretok;
mod price;
mod price_toml;
mod scan;
mod usage;

pub use bpe::{MAX_PIECE_BYTES, TextCount, Tokenizer, tokenizer};
pub use count::{
    BPE_BUDGET_BYTES, Encoding, TokenCount, count_model_text, count_request, count_text,
    encoding_for, tool_call_overhead,
};
pub use import::{ImportOptions, Imported, PriceFormat, import_prices};
pub use price::{
    Cost, LongContextTier, ModelPrice, PriceTable, ServiceTier, TierMultipliers, TierPrices, cost,
};
pub use price_toml::dollars_per_million;
pub use relaygate_protocol::Protocol;
pub use scan::{JsonUsageScan, MAX_KEPT_VALUE, MAX_TRACKED_DEPTH};
pub use usage::{
    MAX_PLAUSIBLE_TOKENS, StreamUsage, Usage, estimate_cut, estimate_tokens_from_bytes,
    usage_from_json,
};

/// Errors raised by this crate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The request body is not valid JSON.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// The request body is JSON but not an object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// An encoding embedded in `tiktoken-rs` could not be loaded.
    #[error("tokenizer {0} could not be loaded")]
    Tokenizer(&'static str),
    /// The price table is not valid TOML or does not have the expected shape.
    #[error("invalid price table: {0}")]
    PriceTable(String),
    /// A price in the price table is not a non-negative decimal with at most six decimals.
    #[error("invalid price {value:?} for {field}: {reason}")]
    InvalidPrice {
        /// Where the price was found (`models."gpt-4o".input`).
        field: String,
        /// The value as written.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}
