//! The admin listener. It runs beside Pingora's listening services rather than as one of
//! them: those stop accepting the moment a graceful shutdown starts, and `/readyz` must keep
//! answering (503) until the process exits, so a load balancer sees the drain instead of
//! refused connections and stops sending traffic before the proxy listeners close.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::l4::stream::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::Admin;

/// How often a process taking over from another (`run --upgrade`) tries the admin address
/// while the old process still holds it (until it exits, answering `/readyz` with 503).
const TAKEOVER_RETRY: Duration = Duration::from_millis(100);

/// Binds a TCP listener the way Pingora binds its own (`SO_REUSEADDR`, so a port whose old
/// connections linger in TIME_WAIT can be bound; one another socket listens on cannot).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Serves the admin application on a listener bound at start, until the process exits.
pub struct AdminListener {
    app: Arc<Admin>,
    addr: SocketAddr,
    /// Bound at start; `None` while a process being upgraded still holds the address.
    listener: Mutex<Option<std::net::TcpListener>>,
}

impl AdminListener {
    /// A service for an admin application on `addr`, bound already or (`None`) to be bound as
    /// soon as the address is free.
    pub fn new(app: Admin, addr: SocketAddr, listener: Option<std::net::TcpListener>) -> Self {
        AdminListener {
            app: Arc::new(app),
            addr,
            listener: Mutex::new(listener),
        }
    }

    async fn take_listener(&self) -> std::net::TcpListener {
        let bound = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(l) = bound {
            return l;
        }
        tracing::info!(listen = %self.addr, "admin address still held by the previous process; waiting for it");
        loop {
            match bind(self.addr) {
                Ok(l) => {
                    tracing::info!(listen = %self.addr, "admin listener taken over");
                    return l;
                }
                Err(_) => tokio::time::sleep(TAKEOVER_RETRY).await,
            }
        }
    }
}

#[async_trait]
impl BackgroundService for AdminListener {
    async fn start(&self, shutdown: ShutdownWatch) {
        let listener = self.take_listener().await;
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "admin listener unusable");
                return;
            }
        };
        // The shutdown signal is deliberately not awaited: the listener lives as long as the
        // process, and connections stop being kept alive once shutdown starts.
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let app = Arc::clone(&self.app);
                    let shutdown = shutdown.clone();
                    // Pingora's own HTTP connection loop (keep-alive, pipelining).
                    tokio::spawn(async move {
                        app.process_new(Box::new(Stream::from(tcp)), &shutdown)
                            .await
                    });
                }
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    tracing::warn!(error = %e, "admin listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
