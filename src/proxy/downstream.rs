//! Limits on the client side that Pingora does not enforce itself: a deadline for a request's
//! headers (Pingora's per-read timeout restarts with every byte, so a client sending one byte
//! every few seconds would hold a connection forever), an idle timeout between kept-alive
//! requests, and a cap on open connections. [`Downstream`] wraps the proxy application and
//! applies them around each request; each closure it makes is counted in
//! `consent_gate_downstream_closed_total{reason}`.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::Stream;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::H2Options;
use pingora::server::ShutdownWatch;

use crate::config::ServerSettings;
use crate::metrics::Metrics;

tokio::task_local! {
    /// Set by the proxy once the current request's headers are in.
    static HEADERS_IN: Arc<AtomicBool>;
}

/// Tells the limits that the current request's headers have arrived: the header deadline no
/// longer applies to it. Called from the proxy's first request phase.
pub fn headers_received() {
    let _ = HEADERS_IN.try_with(|f| f.store(true, Ordering::Relaxed));
}

/// One open client connection (HTTP/1) or stream (HTTP/2): counted while it exists. It
/// travels with a kept-alive connection from request to request, so it is released when the
/// connection closes, whoever closes it.
#[derive(Debug)]
pub struct Slot {
    open: Arc<AtomicUsize>,
    gauge: prometheus::IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}

/// The connection's slot as the proxy carries it between requests.
pub type SharedSlot = Arc<Slot>;

/// Recovers the slot from a kept-alive connection's context.
pub fn slot_from(context: Box<dyn Any + Send + Sync>) -> Option<SharedSlot> {
    context.downcast::<SharedSlot>().ok().map(|b| *b)
}

/// The wrapped application and the limits it runs under.
pub struct Downstream<A> {
    inner: Arc<A>,
    header_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    open: Arc<AtomicUsize>,
    metrics: Metrics,
}

impl<A> Downstream<A> {
    /// Wraps an HTTP application with the server's limits.
    pub fn new(inner: A, server: &ServerSettings, metrics: Metrics) -> Self {
        Downstream {
            inner: Arc::new(inner),
            header_timeout: server.header_timeout,
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds),
            max_connections: server.max_connections,
            open: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    fn acquire(&self) -> Option<SharedSlot> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_connections).then_some(n + 1)
            });
        taken.ok()?;
        self.metrics.downstream_connections.inc();
        Some(Arc::new(Slot {
            open: Arc::clone(&self.open),
            gauge: self.metrics.downstream_connections.clone(),
        }))
    }

    fn closed(&self, reason: &str) {
        self.metrics
            .downstream_closed
            .with_label_values(&[reason])
            .inc();
    }
}

#[async_trait]
impl<A> HttpServerApp for Downstream<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let carried = session.take_connection_user_context().and_then(slot_from);
        let reused = carried.is_some();
        let Some(slot) = carried.or_else(|| self.acquire()) else {
            // Closed before reading anything: the client sees the connection end.
            self.closed("connection_limit");
            return None;
        };
        // Carried to the proxy, which hands it on to the connection's next request.
        session.set_connection_user_context(Some(Box::new(Arc::clone(&slot))));
        // A kept-alive connection first waits (up to the idle timeout) for the next request,
        // then gets the header deadline for it.
        let deadline = if reused {
            self.idle_timeout + self.header_timeout
        } else {
            self.header_timeout
        };
        let headers = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let work = HEADERS_IN.scope(
            Arc::clone(&headers),
            self.inner.process_new_http(session, shutdown),
        );
        tokio::pin!(work);
        let out = tokio::select! {
            biased;
            out = &mut work => {
                if reused && !headers.load(Ordering::Relaxed) && started.elapsed() >= self.idle_timeout {
                    self.closed("idle_timeout");
                }
                out
            }
            () = tokio::time::sleep(deadline) => {
                if headers.load(Ordering::Relaxed) {
                    work.await
                } else {
                    // Dropping the request's future closes the connection.
                    self.closed("header_timeout");
                    None
                }
            }
        };
        drop(slot);
        out
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        self.inner.http_cleanup().await;
    }

    async fn process_custom_session(
        self: Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        Arc::clone(&self.inner)
            .process_custom_session(stream, shutdown)
            .await
    }
}
