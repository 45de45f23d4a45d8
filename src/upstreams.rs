//! Each site's upstream pool, on `pingora-load-balancing`: round-robin over the addresses its
//! `host:port` entries resolve to (resolved again every `resolve_interval_seconds`, so a
//! Kubernetes Service name or an origin whose IP changes is followed), active health checks
//! (TCP connect or HTTP `GET`, with thresholds), and passive ejection: an upstream a connect
//! just failed on is skipped for one check interval. The proxy retries an idempotent request
//! on another upstream when connecting fails (nothing has been sent then). Health is exported
//! as `consent_gate_upstream_healthy{site,upstream}` and in `GET /upstreams`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::health_check::{
    HealthCheck as Check, HealthObserve, HttpHealthCheck, TcpHealthCheck,
};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;

use crate::config::{HealthCheck, Site};
use crate::metrics::Metrics;

/// Resolves the configured `host:port` entries on every discovery round. A round where
/// nothing resolves keeps the previous addresses (an error keeps the old set).
struct Resolver {
    site: String,
    entries: Vec<String>,
    /// The addresses resolved at start, handed out by the first round without waiting.
    initial: Mutex<Option<BTreeSet<Backend>>>,
}

#[async_trait]
impl ServiceDiscovery for Resolver {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let initial = self
            .initial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(found) = initial {
            return Ok((found, HashMap::new()));
        }
        let mut found = BTreeSet::new();
        for entry in &self.entries {
            match tokio::net::lookup_host(entry.as_str()).await {
                Ok(addrs) => {
                    for addr in addrs {
                        found.insert(backend(addr));
                    }
                }
                Err(e) => {
                    tracing::warn!(site = %self.site, upstream = %entry, error = %e, "upstream does not resolve");
                }
            }
        }
        if found.is_empty() {
            return pingora::Error::e_explain(
                pingora::ErrorType::InternalError,
                "no upstream resolves; keeping the previous addresses",
            );
        }
        Ok((found, HashMap::new()))
    }
}

fn backend(addr: SocketAddr) -> Backend {
    Backend {
        addr: PeerAddr::Inet(addr),
        weight: 1,
        ext: http::Extensions::new(),
    }
}

fn inet(b: &Backend) -> Option<SocketAddr> {
    b.addr.as_inet().copied()
}

/// Publishes health changes to the metric and the log.
struct Observer {
    site: String,
    metrics: Metrics,
}

#[async_trait]
impl HealthObserve for Observer {
    async fn observe(&self, target: &Backend, healthy: bool) {
        let upstream = target.addr.to_string();
        self.metrics
            .upstream_healthy
            .with_label_values(&[self.site.as_str(), upstream.as_str()])
            .set(i64::from(healthy));
        if healthy {
            tracing::info!(site = %self.site, %upstream, "upstream healthy again");
        } else {
            tracing::warn!(site = %self.site, %upstream, "upstream unhealthy: ejected");
        }
    }
}

/// One site's pool.
pub struct Pool {
    site: String,
    lb: Arc<LoadBalancer<RoundRobin>>,
    /// Upstreams a connect failed on, skipped until the instant.
    ejected: Mutex<HashMap<SocketAddr, Instant>>,
    eject_for: Duration,
    metrics: Metrics,
}

/// An upstream's state, for `GET /upstreams`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpstreamState {
    /// Resolved address.
    pub addr: String,
    /// Passes its health check (or has none failing).
    pub healthy: bool,
    /// Skipped for now after a failed connect.
    pub ejected: bool,
}

impl Pool {
    fn new(site: &Site, metrics: &Metrics) -> std::io::Result<Self> {
        let mut initial = BTreeSet::new();
        for entry in &site.upstreams {
            for addr in std::net::ToSocketAddrs::to_socket_addrs(entry.as_str())? {
                initial.insert(backend(addr));
            }
        }
        let mut backends = Backends::new(Box::new(Resolver {
            site: site.name.clone(),
            entries: site.upstreams.clone(),
            initial: Mutex::new(Some(initial)),
        }));
        let observer = || -> Option<Box<dyn HealthObserve + Send + Sync>> {
            Some(Box::new(Observer {
                site: site.name.clone(),
                metrics: metrics.clone(),
            }))
        };
        let pool = &site.pool;
        let check: Option<Box<dyn Check + Send + Sync>> = match &pool.health_check {
            HealthCheck::None => None,
            HealthCheck::Tcp => {
                let mut c = if site.tls {
                    TcpHealthCheck::new_tls(&site.sni)
                } else {
                    TcpHealthCheck::new()
                };
                c.consecutive_success = pool.healthy_after;
                c.consecutive_failure = pool.unhealthy_after;
                c.peer_template.options.connection_timeout =
                    Some(site.connect_timeout.min(pool.interval));
                c.health_changed_callback = observer();
                Some(c)
            }
            HealthCheck::Http(path) => {
                let mut c = HttpHealthCheck::new(&site.sni, site.tls);
                c.consecutive_success = pool.healthy_after;
                c.consecutive_failure = pool.unhealthy_after;
                c.peer_template.options.verify_cert = site.verify_upstream_cert;
                c.peer_template.options.verify_hostname = site.verify_upstream_cert;
                let timeout = Some(site.connect_timeout.min(pool.interval));
                c.peer_template.options.connection_timeout = timeout;
                c.peer_template.options.read_timeout = timeout;
                c.req.set_uri(
                    http::Uri::try_from(path.as_str())
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
                );
                c.health_changed_callback = observer();
                Some(Box::new(c))
            }
        };
        if let Some(check) = check {
            backends.set_health_check(check);
        }
        let mut lb = LoadBalancer::from_backends(backends);
        // The first round hands out the addresses resolved above without waiting, so the pool
        // serves from the start.
        use futures::FutureExt as _;
        match lb.update().now_or_never() {
            Some(Ok(())) => {}
            _ => {
                return Err(std::io::Error::other(format!(
                    "site {}: upstream pool did not initialise",
                    site.name
                )));
            }
        }
        lb.health_check_frequency =
            (pool.health_check != HealthCheck::None).then_some(pool.interval);
        lb.update_frequency = Some(pool.resolve_interval);
        lb.parallel_health_check = true;
        for b in lb.backends().get_backend().iter() {
            metrics
                .upstream_healthy
                .with_label_values(&[site.name.as_str(), b.addr.to_string().as_str()])
                .set(1);
        }
        Ok(Pool {
            site: site.name.clone(),
            lb: Arc::new(lb),
            ejected: Mutex::new(HashMap::new()),
            eject_for: pool.interval,
            metrics: metrics.clone(),
        })
    }

    /// The next upstream to try: healthy, not ejected, and not among `tried`; failing that,
    /// an ejected one that still passes its health checks (a single connect failure never
    /// leaves a site without upstreams). `None` when no healthy upstream is left to try (the
    /// request is answered 502 at once).
    pub fn select(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let now = Instant::now();
        let ejected = self.ejected();
        let is_ejected = |a: &SocketAddr| ejected.get(a).is_some_and(|until| *until > now);
        let n = self
            .lb
            .backends()
            .get_backend()
            .len()
            .saturating_mul(2)
            .max(1);
        let pick = |skip_ejected: bool| {
            self.lb
                .select_with(b"", n, |b, healthy| {
                    inet(b).is_some_and(|a| {
                        healthy && !tried.contains(&a) && !(skip_ejected && is_ejected(&a))
                    })
                })
                .and_then(|b| inet(&b))
        };
        pick(true).or_else(|| pick(false))
    }

    fn ejected(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Instant>> {
        self.ejected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Skips an upstream for one check interval after a failed connect.
    pub fn eject(&self, addr: SocketAddr) {
        let mut ejected = self.ejected();
        let now = Instant::now();
        ejected.retain(|_, until| *until > now);
        ejected.insert(addr, now + self.eject_for);
        self.metrics
            .upstream_ejections
            .with_label_values(&[self.site.as_str()])
            .inc();
        tracing::warn!(site = %self.site, upstream = %addr, "connect failed: upstream ejected for one check interval");
    }

    /// Every upstream's state.
    pub fn states(&self) -> Vec<UpstreamState> {
        let now = Instant::now();
        let ejected = self.ejected();
        self.lb
            .backends()
            .get_backend()
            .iter()
            .map(|b| {
                let addr = inet(b);
                UpstreamState {
                    addr: b.addr.to_string(),
                    healthy: self.lb.backends().ready(b),
                    ejected: addr.is_some_and(|a| ejected.get(&a).is_some_and(|u| *u > now)),
                }
            })
            .collect()
    }

    /// The load balancer, to run as a background service (checks and resolution).
    pub fn balancer(&self) -> Arc<LoadBalancer<RoundRobin>> {
        Arc::clone(&self.lb)
    }
}

/// Every site's pool, in config order.
pub struct Upstreams {
    pools: Vec<Arc<Pool>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("sites", &self.pools.len())
            .finish()
    }
}

impl Upstreams {
    /// Pools for the configured sites (each entry resolved once now).
    pub fn new(sites: &[Site], metrics: &Metrics) -> std::io::Result<Self> {
        let pools = sites
            .iter()
            .map(|s| Pool::new(s, metrics).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Upstreams { pools })
    }

    /// The pool of the site at `index`.
    pub fn pool(&self, index: usize) -> Option<&Arc<Pool>> {
        self.pools.get(index)
    }

    /// All pools, in config order.
    pub fn pools(&self) -> &[Arc<Pool>] {
        &self.pools
    }
}

/// Runs a pool's health checks and resolution rounds in the background.
pub struct PoolService(Arc<LoadBalancer<RoundRobin>>);

impl PoolService {
    /// The background work of a pool.
    pub fn new(pool: &Pool) -> Self {
        PoolService(pool.balancer())
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for PoolService {
    async fn start(&self, shutdown: pingora::server::ShutdownWatch) {
        pingora::services::background::BackgroundService::start(&*self.0, shutdown).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn every_round_after_the_first_looks_the_names_up_again() {
        let start: SocketAddr = "10.9.8.7:80".parse().unwrap_or_else(|e| panic!("{e}"));
        let r = Resolver {
            site: "s".into(),
            entries: vec!["localhost:8123".into()],
            initial: Mutex::new(Some(BTreeSet::from([backend(start)]))),
        };
        // The first round is what start-up resolved (here: an address localhost never gives).
        let (first, _) = block_on(r.discover()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.iter().filter_map(inet).collect::<Vec<_>>(), [start]);
        // Later rounds resolve the configured name afresh.
        let (next, _) = block_on(r.discover()).unwrap_or_else(|e| panic!("{e}"));
        let addrs: Vec<SocketAddr> = next.iter().filter_map(inet).collect();
        assert!(!addrs.contains(&start), "{addrs:?}");
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8123),
            "{addrs:?}"
        );
        // A name that resolves to nothing keeps the previous addresses (an error to the pool).
        let gone = Resolver {
            site: "s".into(),
            entries: vec!["does-not-resolve.invalid:80".into()],
            initial: Mutex::new(None),
        };
        assert!(block_on(gone.discover()).is_err());
    }
}
