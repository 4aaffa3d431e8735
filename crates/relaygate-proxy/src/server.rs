use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::gateway::Gateway;
use crate::pipeline;

/// Serves `gateway` on `listener` (HTTP/1.1 and h2c on the same port) until `shutdown`
/// resolves; then stops accepting, lets in-flight requests finish (up to the configured
/// grace period) and flushes the store.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let inner = Arc::clone(&gateway.inner);
                let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    // The side handler (admin) uses the peer address, e.g. for login lockouts.
                    req.extensions_mut().insert(peer);
                    let inner = Arc::clone(&inner);
                    async move { Ok::<_, Infallible>(pipeline::handle(inner, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "client connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    gateway.begin_shutdown();
    let grace = gateway.config().shutdown_grace;
    tracing::info!(
        "shutting down: waiting up to {}s for in-flight requests",
        grace.as_secs()
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    gateway.store().flush().await?;
    Ok(())
}

/// A server running in the background, for tests and embedding.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Server {
    /// Binds `addr` (port 0 picks one) and serves `gateway` in a background task.
    pub async fn start(addr: SocketAddr, gateway: Gateway) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, gateway, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops gracefully and waits for the drain and flush.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(Error::Listen {
                addr: self.addr.to_string(),
                source: std::io::Error::other(e),
            }),
        }
    }
}
