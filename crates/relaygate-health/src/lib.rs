//! Routing state that decides where the next request goes: which channels are cooling down and
//! in which order the usable ones are tried.
//!
//! The crate is pure: it reads no clock, opens no socket and spawns nothing. Every method that
//! depends on time takes `now` in milliseconds on the caller's clock (the proxy passes unix
//! milliseconds derived from `tokio::time`, so tests can pause time). Its tests are tables of
//! inputs and expected outputs.
//!
//! - [`CooldownBook`]: exponential cooldowns per key (a channel, one key of a channel, a URL),
//!   doubling on each repeated failure up to a cap and cleared by a success.
//! - [`ChannelSelector`]: orders candidate channels by priority, and inside one priority by
//!   smooth weighted round-robin (the nginx algorithm), so traffic is spread by weight while the
//!   rest of the list stays the failover order.
#![deny(missing_docs)]

mod cooldown;
mod select;

pub use cooldown::{CooldownBook, CooldownPolicy, CooldownState};
pub use select::{Candidate, ChannelSelector};
