//! `consent-gate demo`: a small legacy site with real-world tracker embeds, served by a built-in
//! origin on an ephemeral loopback port, with the proxy in front using the shipped rules.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

use crate::category::Categories;
use crate::config::Config;
use crate::consent::own;
use crate::engine::Engine;

/// The demo page.
pub const PAGE: &str = include_str!("page.html");

/// The default rule set shipped in `conf/rules/`, built into the binary, in load order.
pub const DEFAULT_RULES: [(&str, &str); 3] = [
    (
        "conf/rules/open-cookie-database.toml",
        include_str!("../../conf/rules/open-cookie-database.toml"),
    ),
    (
        "conf/rules/adguard-trackers.toml",
        include_str!("../../conf/rules/adguard-trackers.toml"),
    ),
    (
        "conf/rules/curated.toml",
        include_str!("../../conf/rules/curated.toml"),
    ),
];

/// The demo origin.
#[derive(Debug, Default)]
pub struct Origin;

fn consent_form() -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Your consent</title></head><body>
<h1>Cookie consent</h1>
<form method="post" action="/.consent-gate/consent">
<input type="hidden" name="return" value="/">
<fieldset><legend>Allow these categories</legend>
<label><input type="checkbox" name="functional" value="1"> Functional</label><br>
<label><input type="checkbox" name="analytics" value="1"> Analytics</label><br>
<label><input type="checkbox" name="marketing" value="1"> Marketing</label>
</fieldset>
<button type="submit">Save</button>
</form>
<p>This form posts to consent-gate's consent endpoint, which sets its own cookie
(<code>{}</code>) and sends you back; the page behind it never sees the form. consent-gate also
reads OneTrust's <code>OptanonConsent</code>, Cookiebot's <code>CookieConsent</code>, IAB TCF and
GPP strings, Klaro and cookieconsent.</p>
<p><a href="/">Back to the page</a></p></body></html>"#,
        own::DEFAULT_COOKIE
    )
}

fn response(
    status: StatusCode,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Response<Vec<u8>> {
    let mut b = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len());
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(body).unwrap_or_else(|_| Response::new(Vec::new()))
}

impl Origin {
    /// Answers one request of the demo site.
    pub fn handle(method: &http::Method, path: &str) -> Response<Vec<u8>> {
        match (method.as_str(), path) {
            ("GET" | "HEAD", "/") => response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                &[
                    ("set-cookie", "sid=demo-session; Path=/; HttpOnly".into()),
                    ("set-cookie", "_ga=GA1.1.1234567890.1700000000; Path=/; Max-Age=63072000".into()),
                    ("set-cookie", "_fbp=fb.1.1700000000000.1234567890; Path=/; Max-Age=7776000".into()),
                    ("set-cookie", "_mkto_trk=id:000-AAA-000&token:_mch-localhost-1700000000000-12345; Path=/; Max-Age=63072000".into()),
                ],
                PAGE.as_bytes().to_vec(),
            ),
            ("GET" | "HEAD", "/consent") => {
                response(StatusCode::OK, "text/html; charset=utf-8", &[], consent_form().into_bytes())
            }
            ("GET" | "HEAD", "/static/site.js") => response(
                StatusCode::OK,
                "text/javascript",
                &[],
                b"document.documentElement.dataset.site = 'loaded';\n".to_vec(),
            ),
            ("GET" | "HEAD", "/api/products.json") => response(
                StatusCode::OK,
                "application/json",
                &[],
                br#"{"products":[{"id":1,"name":"Widget"},{"id":2,"name":"Gadget"}]}"#.to_vec(),
            ),
            _ => response(StatusCode::NOT_FOUND, "text/plain", &[], b"not found\n".to_vec()),
        }
    }
}

#[async_trait]
impl ServeHttp for Origin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_owned();
        Origin::handle(&method, &path)
    }
}

/// The demo's config, with the origin on `origin`.
pub fn config(listen: SocketAddr, admin: SocketAddr, origin: SocketAddr) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]
threads = 2
grace_period_seconds = 1
graceful_shutdown_timeout_seconds = 1
pid_file = "/tmp/consent-gate-demo.pid"
upgrade_sock = "/tmp/consent-gate-demo-upgrade.sock"

[admin]
listen = "{admin}"

[[site]]
name = "demo"
default = true
upstreams = ["{origin}"]
mode = "enforce"
"#
    )
}

/// Sets up the demo: an engine with the built-in rules, the origin service, and the text to
/// print.
pub fn prepare(
    listen: SocketAddr,
    admin: SocketAddr,
) -> anyhow::Result<(Arc<Engine>, String, Service<Origin>)> {
    // Find a free loopback port for the origin.
    let origin_addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let text = config(listen, admin, origin_addr);
    let config = Config::parse(Path::new("<demo>"), &text)?;
    let engine = Arc::new(Engine::with_embedded_rules(config, &DEFAULT_RULES)?);
    let mut origin = Service::new("demo origin".to_owned(), Origin);
    origin.add_tcp(&origin_addr.to_string());
    let all = own::format(Categories::default().all(), &Categories::default());
    let banner = format!(
        "consent-gate demo\n\
         \n  open  http://{listen}/          the demo site through consent-gate (no consent yet: trackers are inert)\n\
         \x20 open  http://{origin_addr}/     the same site straight from its origin, untouched\n\
         \x20 open  http://{listen}/consent   choose your consent (consent-gate's consent endpoint)\n\
         \x20 open  http://{admin}/metrics    Prometheus metrics\n\
         \nor from a shell:\n\
         \x20 curl -si http://{listen}/                                            # no consent\n\
         \x20 curl -si -H 'Cookie: {cookie}={all}' http://{listen}/   # full consent\n\
         \x20 curl -si -H 'Cookie: OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0004%3A0' http://{listen}/  # OneTrust: analytics only\n\
         \nPress Ctrl-C to stop.",
        cookie = own::DEFAULT_COOKIE,
    );
    Ok((engine, banner, origin))
}

/// An engine with one default site (any host, enforce) and the built-in default rules, for
/// `explain` without a config file.
pub fn explain_engine() -> anyhow::Result<Engine> {
    let text = "[[site]]\nname = \"default\"\ndefault = true\nupstreams = [\"127.0.0.1:9\"]\n";
    let config = Config::parse(Path::new("<built-in>"), text)?;
    Ok(Engine::with_embedded_rules(config, &DEFAULT_RULES)?)
}
