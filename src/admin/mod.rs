//! The admin listener (loopback by default): `/metrics`, `/healthz`, `/readyz`, `GET /rules`,
//! `GET /upstreams`, `POST /reload`.

pub mod listener;

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::engine::{Engine, Trigger};

/// The admin HTTP application.
#[derive(Debug)]
pub struct Admin {
    engine: Arc<Engine>,
}

impl Admin {
    /// An admin app over the shared engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Admin { engine }
    }

    /// Answers one admin request (method, path) with status, content type and body.
    pub fn handle(&self, method: &Method, path: &str) -> (StatusCode, &'static str, Vec<u8>) {
        const TEXT: &str = "text/plain; charset=utf-8";
        const JSON: &str = "application/json";
        match (method, path) {
            (&Method::GET, "/metrics") => (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.engine.metrics.render(),
            ),
            (&Method::GET, "/healthz") => (StatusCode::OK, TEXT, b"ok\n".to_vec()),
            // Ready once the rules are loaded and every proxy listener accepts connections; not
            // ready again from the start of a graceful shutdown, so load balancers drain first.
            (&Method::GET, "/readyz") if self.engine.is_ready() => {
                (StatusCode::OK, TEXT, b"ready\n".to_vec())
            }
            (&Method::GET, "/readyz") => (
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                b"not ready\n".to_vec(),
            ),
            (&Method::GET, "/rules") => (StatusCode::OK, JSON, self.rules_json().into_bytes()),
            (&Method::GET, "/upstreams") => {
                (StatusCode::OK, JSON, self.upstreams_json().into_bytes())
            }
            (&Method::POST, "/reload") => match self.engine.reload(Trigger::Admin) {
                Ok(generation) => (
                    StatusCode::OK,
                    JSON,
                    serde_json::json!({ "result": "success", "generation": generation })
                        .to_string()
                        .into_bytes(),
                ),
                Err(e) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    JSON,
                    serde_json::json!({
                        "result": "error",
                        "error": e.to_string(),
                        "generation": self.engine.generation(),
                    })
                    .to_string()
                    .into_bytes(),
                ),
            },
            (_, "/metrics" | "/healthz" | "/readyz" | "/rules" | "/reload" | "/upstreams") => (
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                b"method not allowed\n".to_vec(),
            ),
            _ => (StatusCode::NOT_FOUND, TEXT, b"not found\n".to_vec()),
        }
    }

    /// Every site's upstreams with their health: `{"sites": [{"site", "upstreams": [{"addr",
    /// "healthy", "ejected"}]}]}`.
    fn upstreams_json(&self) -> String {
        let sites: Vec<serde_json::Value> = self
            .engine
            .config
            .sites
            .iter()
            .zip(self.engine.upstreams.pools())
            .map(|(site, pool)| {
                serde_json::json!({
                    "site": site.name,
                    "configured": site.upstreams,
                    "upstreams": pool.states(),
                })
            })
            .collect();
        serde_json::json!({ "sites": sites }).to_string()
    }

    fn rules_json(&self) -> String {
        let rules = self.engine.rules();
        let c = rules.counts();
        let loaded = rules
            .loaded_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        serde_json::json!({
            "generation": self.engine.generation(),
            "loaded_at_unix": loaded,
            "files": rules.files().iter().map(|f| serde_json::json!({
                "path": f.path.display().to_string(),
                "rules": f.rules,
            })).collect::<Vec<_>>(),
            "counts": {
                "path": c.paths,
                "cookie": c.cookies,
                "resource": c.resources,
                "signature": c.signatures,
                "allow": c.allows,
            },
        })
        .to_string()
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_owned();
        let (status, content_type, body) = self.handle(&method, &path);
        let len = body.len();
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, len)
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}
