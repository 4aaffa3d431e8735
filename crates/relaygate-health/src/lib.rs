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
//! - [`HealthBook`]: success rate per channel over a sliding window with a prior, turned into
//!   an effective priority, so failing channels sink and recover as they heal.
//! - [`ChannelSelector`]: orders candidate channels by effective priority, and inside one
//!   priority by smooth weighted round-robin (the nginx algorithm), so traffic is spread by
//!   weight while the rest of the list stays the failover order.
//! - [`UrlBook`]: latency memory per base URL; unexplored URLs first, then a choice weighted by
//!   inverse latency.
//! - [`DailyWindow`]: availability hours. (Request-rate and concurrency limits are shared
//!   between instances, so they live in the store, not here.)
//! - [`fuzzy_pick`]: opt-in fuzzy model matching.
#![deny(missing_docs)]

mod cooldown;
mod limits;
mod models;
mod score;
mod select;
mod urls;

pub use cooldown::{CooldownBook, CooldownPolicy, CooldownState};
pub use limits::DailyWindow;
pub use models::fuzzy_pick;
pub use score::{HealthBook, HealthConfig};
pub use select::{Candidate, ChannelSelector};
pub use urls::UrlBook;
