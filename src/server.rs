//! Assembles the Pingora server: the proxy service on the configured listeners and the admin
//! listener beside it (it outlives the proxy listeners during a graceful shutdown).

use std::sync::Arc;

use crate::admin::listener::AdminListener;
use crate::admin::{self, Admin};
use crate::engine::Engine;
use crate::proxy::ConsentGate;
use crate::proxy::downstream::Downstream;
use crate::readiness::Readiness;
use crate::reload::Reloader;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::listening::Service;

/// Options from the command line that Pingora handles.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Take over the listeners of a running instance (zero-downtime upgrade).
    pub upgrade: bool,
}

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A TLS certificate or key could not be loaded.
    #[error("TLS listener {listen}: {message}")]
    Tls {
        /// The listener.
        listen: std::net::SocketAddr,
        /// What failed.
        message: String,
    },
    /// A proxy listener's address is taken (by another process, or an instance already
    /// running; `run --upgrade` takes over from a running instance).
    #[error("proxy listener {listen}: {source}")]
    Listen {
        /// The address.
        listen: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The admin listener could not be bound.
    #[error("admin listener {listen}: {source}")]
    Admin {
        /// The address.
        listen: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Builds a ready-to-run server for an engine.
pub fn build(engine: Arc<Engine>, opts: RunOptions) -> Result<Server, BuildError> {
    let s = &engine.config.server;
    let conf = ServerConf {
        threads: s.threads,
        grace_period_seconds: Some(s.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(s.graceful_shutdown_timeout_seconds),
        pid_file: s.pid_file.clone(),
        upgrade_sock: s.upgrade_sock.clone(),
        ca_file: s.upstream_ca_file.as_ref().map(|p| p.display().to_string()),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    if !opts.upgrade {
        // Pingora binds the proxy listeners once it runs, and while an address is taken it
        // retries for 30 s and then stops the proxy service, leaving the process up with no proxy
        // listener. Trying each address first refuses the start at once, with the reason. The
        // trial sockets are held until all are bound, so an address listed twice (or `[::]:P`
        // beside `0.0.0.0:P`) is refused too.
        let tls = engine.config.server.tls.iter().map(|t| t.listen);
        let mut trial = Vec::new();
        for listen in engine.config.server.listen.iter().copied().chain(tls) {
            trial.push(
                admin::listener::bind(listen)
                    .map_err(|source| BuildError::Listen { listen, source })?,
            );
        }
        drop(trial);
    }
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut proxy = Service::new(
        "consent-gate proxy".to_owned(),
        Downstream::new(
            pingora::proxy::http_proxy(
                &server.configuration,
                ConsentGate::new(Arc::clone(&engine)),
            ),
            &engine.config.server,
            engine.metrics.clone(),
        ),
    );
    for addr in &engine.config.server.listen {
        proxy.add_tcp(&addr.to_string());
    }
    for t in &engine.config.server.tls {
        let err = |message: String| BuildError::Tls {
            listen: t.listen,
            message,
        };
        let (cert, key) = (t.cert.display().to_string(), t.key.display().to_string());
        let mut settings = pingora::listeners::tls::TlsSettings::intermediate(&cert, &key)
            .map_err(|e| err(e.to_string()))?;
        if t.h2 {
            settings.enable_h2();
        }
        proxy.add_tls_with_settings(&t.listen.to_string(), None, settings);
    }
    let listen = engine.config.admin_listen;
    // A process taking over (`--upgrade`) binds the admin address once the old one exits.
    let admin = match admin::listener::bind(listen) {
        Ok(l) => Some(l),
        Err(e) if opts.upgrade && e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(source) => return Err(BuildError::Admin { listen, source }),
    };
    server.add_service(proxy);
    server.add_service(pingora::services::background::background_service(
        "admin listener",
        AdminListener::new(Admin::new(Arc::clone(&engine)), listen, admin),
    ));
    server.add_service(pingora::services::background::background_service(
        "rule reloader",
        Reloader::new(Arc::clone(&engine)),
    ));
    for pool in engine.upstreams.pools() {
        server.add_service(pingora::services::background::background_service(
            "upstream pool",
            crate::upstreams::PoolService::new(pool),
        ));
    }
    server.add_service(pingora::services::background::background_service(
        "readiness",
        Readiness::new(Arc::clone(&engine)),
    ));
    Ok(server)
}
