//! The Pingora adapter: moves data between Pingora's phases and the pure core.
//!
//! * `request_filter`: route by host, read consent, decide which request cookies go upstream.
//! * `upstream_request_filter`: rewrite the `Cookie` header, ask for identity encoding when the
//!   body may need rewriting.
//! * `upstream_response_filter`: filter `Set-Cookie`, add withdrawal lines, decide whether the
//!   HTML body is rewritten and fix its headers.
//! * `response_body_filter`: stream the body through the neutralizer.
//! * `logging`: access log and metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::category::{Category, CategorySet};
use crate::config::{CachePrivacy, Mode};
use crate::consent::{Consent, RequestSignals};
use crate::cookies::{self, jar::Jar};
use crate::engine::Engine;
use crate::html::codec::{self, Coding};
use crate::html::pipeline::{Pipeline, Plan};
use crate::html::{self, Page, ResponseInfo};

/// The proxy.
#[derive(Debug)]
pub struct ConsentGate {
    engine: Arc<Engine>,
    round_robin: Vec<AtomicUsize>,
}

impl ConsentGate {
    /// A proxy over a shared engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        let round_robin = engine
            .config
            .sites
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect();
        ConsentGate {
            engine,
            round_robin,
        }
    }
}

/// Per-request state.
#[derive(Default)]
pub struct Ctx {
    site: Option<usize>,
    mode: Option<Mode>,
    rules: Option<Arc<crate::rules::Rules>>,
    consent: Option<Consent>,
    host: String,
    /// The client's `Accept-Encoding`, for re-encoding a rewritten page.
    accept_encoding: Option<Vec<u8>>,
    /// The request asks for a document (navigation or frame): its body may need rewriting.
    wants_document: bool,
    new_cookie_header: Option<Vec<u8>>,
    /// Request cookies of denied categories: (name, category).
    withdraw: Vec<(String, Option<Category>)>,
    request_cookies_stripped: usize,
    set_cookies_stripped: usize,
    withdrawal_lines: usize,
    /// In a mutex only because Pingora needs the context to be `Sync`; never contended.
    pipeline: Option<std::sync::Mutex<Pipeline>>,
    /// Neutralizations outside the body (the `Link` header).
    header_stats: html::Stats,
    rewrite_time: Duration,
    html_bytes: u64,
    rewrite_failed: Option<&'static str>,
    /// Neutralizations counted so far (metrics are recorded once, as soon as they are known).
    neutralized: u64,
    recorded: bool,
    started: Option<Instant>,
    upstream_sent: Option<Instant>,
    upstream_time: Option<Duration>,
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

fn request_host(req: &RequestHeader) -> String {
    let raw = req
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host())
        .unwrap_or_default();
    strip_port(raw.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether a request asks for a document (a navigation or a frame), whose response may be
/// HTML to rewrite; fetches of scripts, images and APIs keep their compression.
fn wants_document(headers: &http::HeaderMap) -> bool {
    if let Some(dest) = headers.get("sec-fetch-dest") {
        return matches!(
            dest.as_bytes(),
            b"document" | b"iframe" | b"frame" | b"embed" | b"object"
        );
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains("text/html") || v.contains("application/xhtml+xml"))
}

fn mode_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::ReportOnly => "report-only",
        Mode::Off => "off",
    }
}

/// Most bytes read from a consent form.
const MAX_FORM_BYTES: usize = 8 * 1024;

async fn respond_with(
    session: &mut Session,
    status: u16,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 2))?;
    for (k, v) in headers {
        resp.append_header(*k, v.as_str())?;
    }
    if status != 204 {
        resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    }
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    let empty = body.is_empty();
    session.write_response_header(Box::new(resp), empty).await?;
    if !empty {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

async fn respond(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
        .await?;
    Ok(())
}

/// A failure of the response pipeline: 502 when nothing was sent yet, otherwise the response
/// is cut short.
fn pipeline_failure(context: &'static str, cause: impl std::fmt::Display) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(502), format!("{context}: {cause}"))
}

impl ConsentGate {
    fn site(&self, ctx: &Ctx) -> Option<&crate::config::Site> {
        ctx.site.and_then(|i| self.engine.config.sites.get(i))
    }

    fn site_label<'a>(&'a self, ctx: &Ctx) -> &'a str {
        self.site(ctx).map_or("", |s| s.name.as_str())
    }

    fn category_label(&self, c: Option<Category>) -> &str {
        c.map_or("unknown", |c| self.engine.config.policy.categories.name(c))
    }

    /// Filters `Set-Cookie` and adds withdrawal lines.
    fn enforce_set_cookies(&self, resp: &mut ResponseHeader, ctx: &mut Ctx) -> Result<()> {
        let (Some(rules), Some(consent), Some(site)) = (&ctx.rules, &ctx.consent, self.site(ctx))
        else {
            return Ok(());
        };
        let enforce = site.mode == Mode::Enforce;
        let m = &self.engine.metrics;
        let values: Vec<http::HeaderValue> = resp
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        if values.len() > self.engine.config.limits.max_set_cookie_headers {
            m.limit_exceeded
                .with_label_values(&[&site.name, "max_set_cookie_headers"])
                .inc();
            let mut e = Error::explain(
                ErrorType::HTTPStatus(502),
                format!(
                    "Set-Cookie count {} exceeds max_set_cookie_headers={}",
                    values.len(),
                    self.engine.config.limits.max_set_cookie_headers
                ),
            );
            e.esource = ErrorSource::Upstream;
            return Err(e);
        }
        let policy = &self.engine.config.policy;
        let mut kept = Vec::with_capacity(values.len());
        let mut set_names: Vec<Vec<u8>> = Vec::new();
        for v in &values {
            let name = cookies::set_cookie_name(v.as_bytes());
            let d = cookies::decide(name, rules, policy, site.unknown_cookies, consent);
            let category = self.category_label(d.category);
            if d.rule.is_none() && d.category.is_none() {
                m.unknown_cookies.with_label_values(&[&site.name]).inc();
            }
            if d.keep {
                m.set_cookie
                    .with_label_values(&[&site.name, category, "kept"])
                    .inc();
                kept.push(v.clone());
                set_names.push(name.to_vec());
            } else if enforce {
                m.set_cookie
                    .with_label_values(&[&site.name, category, "stripped"])
                    .inc();
                ctx.set_cookies_stripped += 1;
                if self.engine.config.audit_log {
                    tracing::info!(target: "audit", site = %site.name, action = "strip_set_cookie", cookie = %String::from_utf8_lossy(name), category, rule = d.rule.map(|r| rules.origin(r)).unwrap_or_default());
                }
            } else {
                m.set_cookie
                    .with_label_values(&[&site.name, category, "would_strip"])
                    .inc();
                kept.push(v.clone());
                set_names.push(name.to_vec());
            }
        }
        if kept.len() != values.len() {
            resp.remove_header(&header::SET_COOKIE);
            for v in kept {
                resp.append_header(header::SET_COOKIE, v)?;
            }
        }
        if enforce && !ctx.withdraw.is_empty() {
            let domain = cookies::cookie_domain(&ctx.host);
            let mut done: Vec<&str> = Vec::new();
            for (name, category) in &ctx.withdraw {
                if done.contains(&name.as_str()) || set_names.iter().any(|n| n == name.as_bytes()) {
                    continue;
                }
                done.push(name);
                for line in cookies::withdrawal_lines(name, domain.as_deref(), &[]) {
                    resp.append_header(header::SET_COOKIE, line)?;
                    ctx.withdrawal_lines += 1;
                }
                m.withdrawals
                    .with_label_values(&[&site.name, self.category_label(*category)])
                    .inc();
                if self.engine.config.audit_log {
                    tracing::info!(target: "audit", site = %site.name, action = "withdraw_cookie", cookie = %name, category = self.category_label(*category));
                }
            }
        }
        Ok(())
    }

    /// Answers the consent endpoint: `GET consent` (state as JSON), `POST consent` (set the own
    /// cookie; redirect back for a form, JSON for a script).
    async fn consent_endpoint(
        &self,
        session: &mut Session,
        rest: &str,
        consent: &Consent,
    ) -> Result<()> {
        use crate::consent::endpoint;
        let categories = &self.engine.config.policy.categories;
        let json = "application/json";
        match (session.req_header().method.as_str(), rest) {
            ("GET" | "HEAD", "consent") => {
                let body = endpoint::state_json(consent, categories).into_bytes();
                respond_with(session, 200, &[("content-type", json.into())], body).await
            }
            ("POST", "consent") => {
                let mut form = Vec::new();
                while let Some(chunk) = session.read_request_body().await? {
                    if form.len() + chunk.len() > MAX_FORM_BYTES {
                        return respond(session, 413, "consent-gate: consent form too large\n")
                            .await;
                    }
                    form.extend_from_slice(&chunk);
                }
                let choice = endpoint::parse_form(&String::from_utf8_lossy(&form), categories);
                let secure = session.digest().is_some_and(|d| d.ssl_digest.is_some());
                let cookie = endpoint::cookie(
                    &self.engine.config.policy.own_cookie,
                    &choice,
                    categories,
                    secure,
                );
                let wants_json = session
                    .req_header()
                    .headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.contains(json));
                if wants_json {
                    let granted = categories.join(choice.granted, ",");
                    let body = serde_json::json!({ "saved": true, "granted": granted }).to_string();
                    respond_with(
                        session,
                        200,
                        &[("set-cookie", cookie), ("content-type", json.into())],
                        body.into_bytes(),
                    )
                    .await
                } else {
                    respond_with(
                        session,
                        303,
                        &[
                            ("set-cookie", cookie),
                            ("location", choice.return_to),
                            ("content-type", "text/plain".into()),
                        ],
                        b"consent saved\n".to_vec(),
                    )
                    .await
                }
            }
            (_, "consent") => respond(session, 405, "consent-gate: use GET or POST\n").await,
            _ => respond(session, 404, "consent-gate: unknown consent endpoint\n").await,
        }
    }

    /// Whether consent denies a category that resource or signature rules can block: only then
    /// can a body or a `Link` header need changes.
    fn denies_blockable(ctx: &Ctx) -> bool {
        match (&ctx.rules, &ctx.consent) {
            (Some(rules), Some(consent)) => {
                !consent.denied.intersection(rules.blockable()).is_empty()
            }
            _ => false,
        }
    }

    fn page(&self, ctx: &Ctx) -> Option<Page> {
        let (rules, consent, site) = (ctx.rules.as_ref()?, ctx.consent.as_ref()?, self.site(ctx)?);
        Some(Page {
            rules: Arc::clone(rules),
            allowed: consent.allowed,
            site: html::url::site_of(&ctx.host).to_owned(),
            report_only: site.mode == Mode::ReportOnly,
            tcf_vendors: consent.tcf_vendors.clone(),
        })
    }

    /// Records neutralization metrics and the audit lines once: at the end of the body, so that
    /// a client that has the whole page also sees it counted, or at logging for cut responses.
    /// Returns the number of neutralized elements.
    fn record_neutralized(&self, ctx: &mut Ctx) -> u64 {
        if ctx.recorded {
            return ctx.neutralized;
        }
        ctx.recorded = true;
        let m = &self.engine.metrics;
        let site = self.site(ctx).map_or("", |s| s.name.as_str());
        let mut stats = std::mem::take(&mut ctx.header_stats);
        if let Some(pipeline) = ctx.pipeline.as_mut() {
            stats.merge(
                pipeline
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .stats(),
            );
            m.html_bytes
                .with_label_values(&[site])
                .inc_by(ctx.html_bytes);
            m.rewrite_seconds.observe(ctx.rewrite_time.as_secs_f64());
        }
        let action = if ctx.mode == Some(Mode::ReportOnly) {
            "would_neutralize"
        } else {
            "neutralized"
        };
        for ((kind, category), n) in &stats.counts {
            m.elements_neutralized
                .with_label_values(&[
                    site,
                    kind.label(),
                    self.category_label(Some(*category)),
                    action,
                ])
                .inc_by(*n);
        }
        for a in &stats.actions {
            if self.engine.config.audit_log {
                tracing::info!(target: "audit", site = %site, action, kind = a.kind.label(), category = self.category_label(Some(a.category)), vendor = %a.vendor, rule = %a.rule, url = %a.target);
            }
        }
        ctx.neutralized = stats.total();
        ctx.neutralized
    }

    /// Removes `Link` header entries that would preconnect to or preload from denied hosts.
    fn enforce_link_header(&self, resp: &mut ResponseHeader, ctx: &mut Ctx) -> Result<()> {
        if !resp.headers.contains_key(header::LINK) || !Self::denies_blockable(ctx) {
            return Ok(());
        }
        let Some(page) = self.page(ctx) else {
            return Ok(());
        };
        let values: Vec<String> = resp
            .headers
            .get_all(header::LINK)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let mut kept = Vec::new();
        let mut changed = false;
        for v in &values {
            let (keep, removed) = html::link_header::filter(v, &page);
            for (rule, url) in &removed {
                ctx.header_stats.record(html::Action {
                    kind: html::Kind::LinkHeader,
                    category: rule.category,
                    vendor: rule.vendor.to_string(),
                    rule: page.rules.origin(rule),
                    target: url.clone(),
                });
            }
            changed |= !removed.is_empty();
            kept.extend(keep);
        }
        if changed && !page.report_only {
            resp.remove_header(&header::LINK);
            for v in kept {
                resp.append_header(header::LINK, v)?;
            }
        }
        Ok(())
    }

    /// Counts a rewrite that could not start; in enforce mode with fail-closed, refuses the
    /// response (nothing has been sent yet, so the client gets a clean 502).
    fn refuse(&self, ctx: &mut Ctx, reason: &'static str, detail: String) -> Result<()> {
        let site = self.site_label(ctx).to_owned();
        self.engine
            .metrics
            .rewrite_failures
            .with_label_values(&[&site, reason])
            .inc();
        ctx.rewrite_failed = Some(reason);
        tracing::error!(site = %site, reason, detail = %detail, "HTML response cannot be rewritten");
        let enforce = ctx.mode == Some(Mode::Enforce);
        if enforce && !self.engine.config.limits.html.fail_open {
            return Err(Error::explain(ErrorType::HTTPStatus(502), detail));
        }
        Ok(())
    }

    /// Decides whether the body is rewritten and prepares the headers if so.
    fn prepare_rewrite(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if !Self::denies_blockable(ctx) {
            return Ok(());
        }
        let content_type = resp
            .headers
            .get(header::CONTENT_TYPE)
            .map(http::HeaderValue::as_bytes);
        let info = ResponseInfo {
            head: session.req_header().method == http::Method::HEAD,
            status: resp.status.as_u16(),
            content_type,
        };
        if !html::is_html_body(info) {
            return Ok(());
        }
        let charset = match html::charset(content_type) {
            Ok(c) => c,
            Err(label) => return self.refuse(ctx, "charset", format!("unknown charset {label:?}")),
        };
        let origin_coding = match resp.headers.get(header::CONTENT_ENCODING) {
            None => None,
            Some(v) => match Coding::from_content_encoding(v.as_bytes()) {
                Ok(c) => c,
                Err(other) => {
                    return self.refuse(
                        ctx,
                        "encoding",
                        format!("unsupported Content-Encoding {other:?}"),
                    );
                }
            },
        };
        let Some(page) = self.page(ctx) else {
            return Ok(());
        };
        let report_only = page.report_only;
        let config = &self.engine.config;
        let encode = (config.compression.enabled && !report_only)
            .then(|| codec::negotiate(ctx.accept_encoding.as_deref(), origin_coding))
            .flatten()
            .map(|c| (c, config.compression.level));
        let plan = Plan {
            decode: origin_coding,
            encode,
            charset,
            limits: config.limits.html,
            decode_limits: config.limits.decode,
        };
        let pipeline = match Pipeline::new(page, &self.engine.selectors, plan) {
            Ok(p) => p,
            Err(e) => return self.refuse(ctx, e.reason(), e.to_string()),
        };
        ctx.pipeline = Some(std::sync::Mutex::new(pipeline));
        if report_only {
            return Ok(());
        }
        let Some(site) = self.site(ctx) else {
            return Ok(());
        };
        resp.remove_header(&header::CONTENT_LENGTH);
        resp.remove_header(&header::ACCEPT_RANGES);
        for h in ["content-md5", "digest", "repr-digest", "content-digest"] {
            resp.remove_header(h);
        }
        match encode {
            Some((c, _)) => {
                resp.insert_header(header::CONTENT_ENCODING, c.token())?;
            }
            None => {
                resp.remove_header(&header::CONTENT_ENCODING);
            }
        }
        if let Some(etag) = resp.headers.get(header::ETAG).cloned() {
            let bytes = etag.as_bytes();
            if !bytes.starts_with(b"W/") {
                let mut weak = b"W/".to_vec();
                weak.extend_from_slice(bytes);
                resp.insert_header(header::ETAG, weak)?;
            }
        }
        let mut vary = Vec::new();
        if encode.is_some() || origin_coding.is_some() {
            vary.push("Accept-Encoding");
        }
        match site.cache_privacy {
            CachePrivacy::Vary => vary.push("Cookie"),
            CachePrivacy::Private => {
                resp.insert_header(header::CACHE_CONTROL, "private, no-store")?;
            }
        }
        let existing: Vec<String> = resp
            .headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        if !existing.iter().any(|t| t == "*") {
            for token in vary {
                if !existing.iter().any(|t| t.eq_ignore_ascii_case(token)) {
                    resp.append_header(header::VARY, token)?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for ConsentGate {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.started = Some(Instant::now());
        let req = session.req_header();
        ctx.host = request_host(req);
        let config = &self.engine.config;
        let Some(index) = config.site_index(&ctx.host) else {
            self.engine.metrics.unknown_host.inc();
            respond(
                session,
                404,
                "consent-gate: no site is configured for this host\n",
            )
            .await?;
            return Ok(true);
        };
        ctx.site = Some(index);
        let Some(site) = config.sites.get(index) else {
            return Ok(false);
        };
        ctx.mode = Some(site.mode);
        if site.mode == Mode::Off {
            self.engine
                .metrics
                .requests
                .with_label_values(&[&site.name, "off", "none"])
                .inc();
            return Ok(false);
        }
        let rules = self.engine.rules_for(index);
        let headers = &req.headers;
        let jar = Jar::parse(
            headers
                .get_all(header::COOKIE)
                .iter()
                .map(http::HeaderValue::as_bytes),
        );
        let policy = &config.policy;
        let header_value = |name: &Option<http::HeaderName>| {
            name.as_ref()
                .and_then(|n| headers.get(n))
                .map(http::HeaderValue::as_bytes)
        };
        let consent = policy.evaluate(RequestSignals {
            jar: &jar,
            gpc: crate::consent::gpc_enabled(
                headers
                    .get_all("sec-gpc")
                    .iter()
                    .map(http::HeaderValue::as_bytes),
            ),
            country: header_value(&policy.jurisdictions.country_header),
            region: header_value(&policy.jurisdictions.region_header),
        });
        let m = &self.engine.metrics;
        m.requests
            .with_label_values(&[&site.name, mode_label(site.mode), consent.regime.label()])
            .inc();
        m.consent_source
            .with_label_values(&[consent.source.map_or("none", |s| s.label())])
            .inc();
        for f in &consent.failures {
            m.consent_parse_failures
                .with_label_values(&[f.label()])
                .inc();
        }

        if let Some(prefix) = &config.consent_endpoint
            && let Some(rest) = req.uri.path().strip_prefix(prefix.as_str())
        {
            let rest = rest.to_owned();
            self.consent_endpoint(session, &rest, &consent).await?;
            return Ok(true);
        }
        if let Some(rule) = rules.request_path(req.uri.path())
            && !consent.allows_rule(rule)
        {
            let category = self.category_label(Some(rule.category));
            let enforce = site.mode == Mode::Enforce;
            let action = if enforce { "blocked" } else { "would_block" };
            m.paths_blocked
                .with_label_values(&[&site.name, category, action])
                .inc();
            if config.audit_log {
                tracing::info!(target: "audit", site = %site.name, action, category, path = %req.uri.path(), rule = %rules.origin(rule));
            }
            if enforce {
                respond_with(session, 204, &[], Vec::new()).await?;
                return Ok(true);
            }
        }
        let filtered =
            cookies::filter_request(&jar, &rules, policy, site.unknown_cookies, &consent);
        let action = if site.mode == Mode::Enforce && site.strip_request_cookies {
            "stripped"
        } else {
            "would_strip"
        };
        for s in &filtered.stripped {
            let category = self.category_label(s.category);
            m.request_cookies_stripped
                .with_label_values(&[&site.name, category, action])
                .inc();
            if config.audit_log {
                tracing::info!(target: "audit", site = %site.name, action = if action == "stripped" { "strip_request_cookie" } else { "would_strip_request_cookie" }, cookie = %s.name, category, rule = s.rule.as_deref().unwrap_or_default());
            }
        }
        if site.mode == Mode::Enforce {
            if site.strip_request_cookies {
                ctx.new_cookie_header = filtered.header;
                ctx.request_cookies_stripped = filtered.stripped.len();
            }
            ctx.withdraw = filtered
                .stripped
                .into_iter()
                .map(|s| (s.name, s.category))
                .collect();
        }
        ctx.accept_encoding = headers
            .get(header::ACCEPT_ENCODING)
            .map(|v| v.as_bytes().to_vec());
        ctx.wants_document = wants_document(headers);
        ctx.consent = Some(consent);
        ctx.rules = Some(rules);
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let (Some(site), Some(index)) = (self.site(ctx), ctx.site) else {
            return Err(Error::explain(ErrorType::InternalError, "no site selected"));
        };
        let turn = self
            .round_robin
            .get(index)
            .map_or(0, |c| c.fetch_add(1, Ordering::Relaxed));
        let Some(addr) = site.upstreams.get(turn % site.upstreams.len().max(1)) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "site has no upstream",
            ));
        };
        let mut peer = HttpPeer::new(*addr, site.tls, site.sni.clone());
        peer.options.connection_timeout = Some(site.connect_timeout);
        peer.options.read_timeout = Some(site.read_timeout);
        peer.options.write_timeout = Some(site.write_timeout);
        peer.options.verify_cert = site.verify_upstream_cert;
        peer.options.verify_hostname = site.verify_upstream_cert;
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(cookie) = ctx.new_cookie_header.take() {
            upstream.remove_header(&header::COOKIE);
            if !cookie.is_empty() {
                upstream.insert_header(header::COOKIE, cookie)?;
            }
        }
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            let ip = addr.ip().to_string();
            let value = match upstream
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip,
            };
            upstream.insert_header("x-forwarded-for", value)?;
        }
        ctx.upstream_sent = Some(Instant::now());
        // A page we may have to rewrite should arrive uncompressed (saves decoding it).
        if ctx.wants_document && ctx.mode == Some(Mode::Enforce) && Self::denies_blockable(ctx) {
            upstream.insert_header(header::ACCEPT_ENCODING, "identity")?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if resp.status.is_informational() {
            return Ok(());
        }
        if let Some(sent) = ctx.upstream_sent {
            let took = sent.elapsed();
            ctx.upstream_time = Some(took);
            let site = self.site_label(ctx);
            self.engine
                .metrics
                .upstream_seconds
                .with_label_values(&[site])
                .observe(took.as_secs_f64());
        }
        if ctx.mode.is_none() || ctx.mode == Some(Mode::Off) {
            return Ok(());
        }
        self.enforce_set_cookies(resp, ctx)?;
        self.enforce_link_header(resp, ctx)?;
        self.prepare_rewrite(session, resp, ctx)?;
        if ctx.pipeline.is_none() {
            self.record_neutralized(ctx);
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        // Report-only: the pipeline observes and counts; the original bytes go out.
        let observe_only = ctx.mode == Some(Mode::ReportOnly);
        let Some(pipeline) = ctx.pipeline.as_mut() else {
            return Ok(None);
        };
        let pipeline = pipeline
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let input = body.as_deref().unwrap_or_default();
        ctx.html_bytes += input.len() as u64;
        let result = if end_of_stream {
            pipeline.end(input)
        } else {
            pipeline.write(input)
        };
        ctx.rewrite_time += started.elapsed();
        let failed_open = pipeline.take_failed_open();
        let site = self.site(ctx).map_or("", |s| s.name.as_str());
        let m = &self.engine.metrics;
        if let Some(detail) = failed_open {
            m.rewrite_failures
                .with_label_values(&[site, "rewrite"])
                .inc();
            tracing::error!(site = %site, error = %detail, "HTML rewrite failed; passing the rest of the page unmodified (on_error = fail-open)");
            ctx.rewrite_failed = Some("rewrite");
        }
        match result {
            Ok(out) => {
                if !observe_only {
                    *body = Some(out);
                }
                if end_of_stream {
                    self.record_neutralized(ctx);
                }
                Ok(None)
            }
            Err(e) => {
                m.rewrite_failures
                    .with_label_values(&[site, e.reason()])
                    .inc();
                tracing::error!(site = %site, error = %e, "HTML pipeline failed");
                ctx.rewrite_failed = Some(e.reason());
                if observe_only {
                    ctx.pipeline = None;
                    return Ok(None);
                }
                // Fail closed: the rest of the page would load what consent denied.
                Err(pipeline_failure("HTML rewrite failed, response aborted", e))
            }
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let m = &self.engine.metrics;
        let site = self.site_label(ctx).to_owned();
        if let Some(err) = e
            && err.esource() == &ErrorSource::Upstream
        {
            m.upstream_errors.with_label_values(&[&site]).inc();
        }
        let neutralized = self.record_neutralized(ctx);
        let req = session.req_header();
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let denied = ctx.consent.as_ref().map_or(String::new(), |c| {
            self.engine.config.policy.categories.join(
                c.denied.difference(CategorySet::only(Category::NECESSARY)),
                ",",
            )
        });
        tracing::info!(
            target: "access",
            site = %site,
            method = %req.method,
            path = %req.uri.path(),
            status,
            mode = ctx.mode.map_or("none", mode_label),
            consent_source = ctx.consent.as_ref().and_then(|c| c.source).map_or("none", |s| s.label()),
            denied = %denied,
            request_cookies_stripped = ctx.request_cookies_stripped,
            set_cookies_stripped = ctx.set_cookies_stripped,
            withdrawals = ctx.withdrawal_lines,
            neutralized,
            rewrite_failed = ctx.rewrite_failed.unwrap_or(""),
            bytes_sent = session.body_bytes_sent(),
            duration_ms = ctx.started.map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0),
            upstream_ms = ctx.upstream_time.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            error = e.map(ToString::to_string),
        );
    }
}
