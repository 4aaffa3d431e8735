/// Errors of the proxy crate (setup and serving; per-request failures become HTTP answers).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding or accepting on the listen address failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Building the TLS client failed.
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] relaygate_store::Error),
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A channel in the store can't be used.
    #[error("channel {name:?}: {reason}")]
    Channel {
        /// The channel's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}
