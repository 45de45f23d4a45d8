//! Assembles the Pingora server: the proxy service on the configured listeners and the admin
//! service on its own.

use std::sync::Arc;

use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::engine::Engine;
use crate::proxy::ConsentGate;
use crate::reload::Reloader;

/// Options from the command line that Pingora handles.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Take over the listeners of a running instance (zero-downtime upgrade).
    pub upgrade: bool,
}

/// Builds a ready-to-run server for an engine.
pub fn build(engine: Arc<Engine>, opts: RunOptions) -> Server {
    let s = &engine.config.server;
    let conf = ServerConf {
        threads: s.threads,
        grace_period_seconds: Some(s.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(s.graceful_shutdown_timeout_seconds),
        pid_file: s.pid_file.clone(),
        upgrade_sock: s.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        ConsentGate::new(Arc::clone(&engine)),
        "consent-gate proxy",
    );
    for addr in &engine.config.server.listen {
        proxy.add_tcp(&addr.to_string());
    }
    let mut admin = Service::new(
        "consent-gate admin".to_owned(),
        Admin::new(Arc::clone(&engine)),
    );
    admin.add_tcp(&engine.config.admin_listen.to_string());
    server.add_service(proxy);
    server.add_service(admin);
    server.add_service(pingora::services::background::background_service(
        "rule reloader",
        Reloader::new(Arc::clone(&engine)),
    ));
    server
}
