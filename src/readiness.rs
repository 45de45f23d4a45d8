//! Readiness: the proxy is ready once every proxy listener accepts connections (listeners start
//! with the services, or arrive later from an upgraded process), and stops being ready as soon
//! as shutdown begins, so load balancers drain it first. `/readyz` on the admin listener reports
//! it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::engine::Engine;

/// How often the listeners are probed until they all accept.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// The address to connect to for a listen address: wildcard binds are probed on loopback.
fn probe_target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

async fn all_accept(addrs: &[SocketAddr]) -> bool {
    for a in addrs {
        if tokio::net::TcpStream::connect(probe_target(*a))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// The background service that marks the engine ready and, at shutdown, not ready.
#[derive(Debug)]
pub struct Readiness {
    engine: Arc<Engine>,
}

impl Readiness {
    /// Readiness tracking for an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Readiness { engine }
    }
}

#[async_trait]
impl BackgroundService for Readiness {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let server = &self.engine.config.server;
        let mut addrs: Vec<SocketAddr> = server.listen.clone();
        addrs.extend(server.tls.iter().map(|t| t.listen));
        let probe = async {
            while !all_accept(&addrs).await {
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            self.engine.set_ready(true);
            tracing::info!("listeners up: ready");
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            () = probe => {}
        }
        self.engine.set_ready(false);
    }
}
