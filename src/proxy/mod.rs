//! The Pingora adapter: moves data between Pingora's phases and the pure core. Every decision is
//! made by [`crate::plan`]; this module only applies it and records its events.
//!
//! * `request_filter`: route by host, compute the request's plan, answer locally when the plan
//!   says so (consent endpoint, blocked collector path).
//! * `upstream_request_filter`: the plan's `Cookie` header; identity encoding when the body may
//!   need rewriting.
//! * `upstream_response_filter`: filter `Set-Cookie`, add withdrawal lines, filter the `Link`
//!   header, decide whether the body is rewritten and edit the headers if so.
//! * `response_body_filter`: stream the body through the rewriting pipeline.
//! * `logging`: access log and the remaining metrics.

pub mod downstream;
mod record;
mod respond;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::category::{Category, CategorySet};
use crate::config::{Mode, Site};
use crate::engine::Engine;
use crate::html::pipeline::Pipeline;
use crate::html::response::{self, BodyPlan, BodySettings, HeaderEdit, ResponseInfo};
use crate::html::{self, Stats};
use crate::plan::{self, Answer, Event, RequestFacts, RequestPlan};
use record::{Summary, record};
use respond::{consent_endpoint, respond, respond_with};

/// The proxy.
#[derive(Debug)]
pub struct ConsentGate {
    engine: Arc<Engine>,
}

impl ConsentGate {
    /// A proxy over a shared engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        ConsentGate { engine }
    }
}

/// What one request carries between Pingora's phases.
#[derive(Default)]
pub struct RequestState {
    /// The plan, once the host picked a site.
    plan: Option<RequestPlan>,
    /// The client's `Accept-Encoding`, for re-encoding a rewritten page.
    accept_encoding: Option<Vec<u8>>,
    /// The request asks for a document (navigation or frame): its body may need rewriting.
    wants_document: bool,
    /// In a mutex only because Pingora needs the context to be `Sync`; never contended. Boxed:
    /// the context lives inside Pingora's per-request future, which is moved as a whole, and
    /// most responses have no pipeline.
    pipeline: Option<Box<std::sync::Mutex<Pipeline>>>,
    /// Neutralizations outside the body (the `Link` header).
    header_stats: Stats,
    rewrite_time: Duration,
    html_bytes: u64,
    rewrite_failed: Option<&'static str>,
    /// Neutralizations are recorded once, as soon as they are known.
    recorded: bool,
    summary: Summary,
    started: Option<Instant>,
    upstream_sent: Option<Instant>,
    upstream_time: Option<Duration>,
    /// The client connection's place under `[server] max_connections`.
    slot: Option<downstream::SharedSlot>,
    /// Upstreams this request tried to connect to, in order.
    tried: Vec<std::net::SocketAddr>,
}

impl RequestState {
    fn mode(&self) -> Option<Mode> {
        self.plan.as_ref().map(|p| p.mode)
    }

    /// The page decision, when consent denies something rules can block.
    fn page(&self) -> Option<&html::Page> {
        self.plan.as_ref().and_then(|p| p.page.as_ref())
    }
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

/// Whether a page gets consent-gate's banner: `Some(true)` shown while the visitor has not
/// decided, `Some(false)` in the page but hidden once they decided through consent-gate (so
/// `consentGate.show()` can reopen it), `None` when a consent tool's cookie is present (the site
/// has its own tool).
fn banner_visibility(consent: &crate::consent::Consent) -> Option<bool> {
    use crate::consent::SourceKind;
    let tool = |s: &SourceKind| !matches!(s, SourceKind::ConsentGate | SourceKind::Gpc);
    if consent.source.as_ref().is_some_and(tool) || consent.failures.iter().any(tool) {
        return None;
    }
    Some(consent.source != Some(SourceKind::ConsentGate))
}

/// A failure of the response pipeline: 502 when nothing was sent yet, otherwise the response
/// is cut short.
fn pipeline_failure(context: &'static str, cause: impl std::fmt::Display) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(502), format!("{context}: {cause}"))
}

fn apply_edits(resp: &mut ResponseHeader, edits: Vec<HeaderEdit>) -> Result<()> {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                resp.remove_header(&name);
            }
            HeaderEdit::Insert(name, value) => resp.insert_header(name, value)?,
            HeaderEdit::Append(name, value) => {
                resp.append_header(name, value)?;
            }
        }
    }
    Ok(())
}

impl ConsentGate {
    fn site(&self, ctx: &RequestState) -> Option<&Site> {
        ctx.plan
            .as_ref()
            .and_then(|p| self.engine.config.sites.get(p.site))
    }

    fn site_label<'a>(&'a self, ctx: &RequestState) -> &'a str {
        self.site(ctx).map_or("", |s| s.name.as_str())
    }

    fn record(&self, ctx: &mut RequestState, events: &[Event]) {
        let site = self.site_label(ctx);
        record(&self.engine, site, events, &mut ctx.summary);
    }

    /// Filters `Set-Cookie` and adds withdrawal lines.
    fn enforce_set_cookies(&self, resp: &mut ResponseHeader, ctx: &mut RequestState) -> Result<()> {
        let Some(plan) = &ctx.plan else {
            return Ok(());
        };
        let values: Vec<http::HeaderValue> = resp
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        let raw: Vec<&[u8]> = values.iter().map(http::HeaderValue::as_bytes).collect();
        let filter = match plan::filter_set_cookies(&self.engine.config, plan, &raw) {
            Ok(f) => f,
            Err(refusal) => {
                self.record(ctx, std::slice::from_ref(&refusal));
                let Event::TooManySetCookies { count, limit } = refusal else {
                    return Err(Error::explain(
                        ErrorType::HTTPStatus(502),
                        "Set-Cookie refused",
                    ));
                };
                let mut e = Error::explain(
                    ErrorType::HTTPStatus(502),
                    format!("Set-Cookie count {count} exceeds max_set_cookie_headers={limit}"),
                );
                e.esource = ErrorSource::Upstream;
                return Err(e);
            }
        };
        if let Some(kept) = &filter.kept {
            resp.remove_header(&header::SET_COOKIE);
            for v in kept.iter().filter_map(|&i| values.get(i)) {
                resp.append_header(header::SET_COOKIE, v.clone())?;
            }
        }
        for line in &filter.added {
            resp.append_header(header::SET_COOKIE, line.as_str())?;
        }
        self.record(ctx, &filter.events);
        Ok(())
    }

    /// Records neutralization metrics and the audit lines once: at the end of the body, so that
    /// a client that has the whole page also sees it counted, or at logging for cut responses.
    /// Returns the number of neutralized elements.
    fn record_neutralized(&self, ctx: &mut RequestState) -> u64 {
        if ctx.recorded {
            return ctx.summary.neutralized;
        }
        ctx.recorded = true;
        let Some(mode) = ctx.mode() else {
            return 0;
        };
        let mut stats = std::mem::take(&mut ctx.header_stats);
        if let Some(pipeline) = ctx.pipeline.as_mut() {
            stats.merge(
                pipeline
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .stats(),
            );
            let m = &self.engine.metrics;
            m.html_bytes
                .with_label_values(&[self.site_label(ctx)])
                .inc_by(ctx.html_bytes);
            m.rewrite_seconds.observe(ctx.rewrite_time.as_secs_f64());
        }
        let events = plan::neutralization_events(stats, mode);
        self.record(ctx, &events);
        ctx.summary.neutralized
    }

    /// Removes `Link` header entries that would preconnect to or preload from denied hosts.
    fn enforce_link_header(&self, resp: &mut ResponseHeader, ctx: &mut RequestState) -> Result<()> {
        let Some(page) = ctx.page() else {
            return Ok(());
        };
        if !resp.headers.contains_key(header::LINK) {
            return Ok(());
        }
        let values: Vec<String> = resp
            .headers
            .get_all(header::LINK)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let mut kept = Vec::new();
        let mut changed = false;
        let mut stats = Stats::default();
        for v in &values {
            let (keep, removed) = html::link_header::filter(v, page);
            for (rule, url) in &removed {
                stats.record(html::Action {
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
        let report_only = page.report_only;
        ctx.header_stats.merge(stats);
        if changed && !report_only {
            resp.remove_header(&header::LINK);
            for v in kept {
                resp.append_header(header::LINK, v)?;
            }
        }
        Ok(())
    }

    /// Counts a rewrite that could not start; in enforce mode with fail-closed, refuses the
    /// response (nothing has been sent yet, so the client gets a clean 502).
    fn refuse(&self, ctx: &mut RequestState, reason: &'static str, detail: String) -> Result<()> {
        let site = self.site_label(ctx).to_owned();
        self.engine
            .metrics
            .rewrite_failures
            .with_label_values(&[&site, reason])
            .inc();
        ctx.rewrite_failed = Some(reason);
        tracing::error!(site = %site, reason, detail = %detail, "HTML response cannot be rewritten");
        let enforce = ctx.mode() == Some(Mode::Enforce);
        if enforce && !self.engine.config.limits.html.fail_open {
            return Err(Error::explain(ErrorType::HTTPStatus(502), detail));
        }
        Ok(())
    }

    /// The client guard's tag for a rewritten page, with the page's CSP adjusted to admit it when
    /// needed; `None` when the consent endpoint (which serves the guard) is off or the page may
    /// run no script at all.
    fn guard_tag(
        &self,
        page: &html::Page,
        host: &str,
        resp: &mut ResponseHeader,
    ) -> Result<Option<String>> {
        let Some(prefix) = &self.engine.config.consent_endpoint else {
            return Ok(None);
        };
        let guard = self.engine.guard(&page.rules);
        let src = format!("{prefix}guard/{}", guard.name);
        let csp = http::HeaderName::from_static("content-security-policy");
        let policies: Vec<&str> = resp
            .headers
            .get_all(&csp)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let admission = response::admit_guard(&policies, host, &src, &guard.sha256);
        if admission.skip {
            return Ok(None);
        }
        if let Some(policies) = &admission.policies {
            resp.remove_header(&csp);
            for p in policies {
                resp.append_header(csp.clone(), p.as_str())?;
            }
        }
        let categories = page.rules.categories();
        let allowed: Vec<&str> = page
            .allowed
            .iter()
            .filter(|c| *c != crate::category::Category::NECESSARY)
            .map(|c| categories.name(c))
            .collect();
        Ok(Some(response::guard_tag(
            &src,
            &page.site,
            &allowed.join(" "),
            &admission,
        )))
    }

    /// Decides whether the body is rewritten and prepares the headers if so.
    fn prepare_rewrite(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestState,
    ) -> Result<()> {
        let (Some(page), Some(site)) = (ctx.page(), self.site(ctx)) else {
            return Ok(());
        };
        let config = &self.engine.config;
        let info = ResponseInfo {
            head: session.req_header().method == http::Method::HEAD,
            status: resp.status.as_u16(),
            content_type: resp
                .headers
                .get(header::CONTENT_TYPE)
                .map(http::HeaderValue::as_bytes),
        };
        let settings = BodySettings {
            compression_level: config
                .compression
                .enabled
                .then_some(config.compression.level),
            limits: config.limits.html,
            decode_limits: config.limits.decode,
        };
        let body_plan = response::plan_body(
            info,
            resp.headers
                .get(header::CONTENT_ENCODING)
                .map(http::HeaderValue::as_bytes),
            ctx.accept_encoding.as_deref(),
            page.report_only,
            settings,
        );
        let plan = match body_plan {
            BodyPlan::Untouched => return Ok(()),
            BodyPlan::Unrewritable { reason, detail } => return self.refuse(ctx, reason, detail),
            BodyPlan::Rewrite(plan) => plan,
        };
        let edits = (!page.report_only)
            .then(|| response::rewritten_header_edits(&resp.headers, &plan, site.cache_privacy));
        let mut pipeline = match Pipeline::new(page.clone(), &self.engine.selectors, plan) {
            Ok(p) => p,
            Err(e) => return self.refuse(ctx, e.reason(), e.to_string()),
        };
        if site.guard && !page.report_only {
            let host = session
                .req_header()
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            if let Some(tag) = self.guard_tag(page, host, resp)? {
                pipeline = pipeline.with_guard(tag);
            }
        }
        if site.banner
            && !page.report_only
            && let (Some(plan), Some(endpoint)) = (&ctx.plan, &self.engine.config.consent_endpoint)
            && let Some(visible) = banner_visibility(&plan.consent)
        {
            let req = session.req_header();
            let config = &self.engine.config;
            let language = config.banner.language(
                req.headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            );
            let return_to = crate::consent::endpoint::safe_return(
                req.uri.path_and_query().map_or("/", |p| p.as_str()),
            );
            let html = config.banner.render(
                language,
                &config.policy.categories,
                plan.consent.allowed,
                endpoint,
                &return_to,
                visible,
            );
            pipeline = pipeline.with_banner(html, config.banner.tool_hosts.clone());
        }
        if !page.report_only
            && let Some(memo) = &self.engine.memo
        {
            pipeline = pipeline.with_memo(Arc::clone(memo));
        }
        ctx.pipeline = Some(Box::new(std::sync::Mutex::new(pipeline)));
        if let Some(edits) = edits {
            apply_edits(resp, edits)?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for ConsentGate {
    type CTX = RequestState;

    fn new_ctx(&self) -> RequestState {
        RequestState::default()
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut RequestState,
        previous: Box<dyn std::any::Any + Send + Sync>,
    ) {
        ctx.slot = downstream::slot_from(previous);
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &RequestState,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        ctx.slot
            .as_ref()
            .map(|s| Box::new(Arc::clone(s)) as Box<dyn std::any::Any + Send + Sync>)
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestState,
    ) -> Result<()> {
        downstream::headers_received();
        session.set_keepalive(Some(self.engine.config.server.idle_timeout_seconds));
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestState) -> Result<bool> {
        ctx.started = Some(Instant::now());
        let config = &self.engine.config;
        let req = session.req_header();
        let host = crate::wire::host::request_host(
            req.headers
                .get(header::HOST)
                .map(http::HeaderValue::as_bytes),
            req.uri.host(),
        );
        let Some(site) = config.site_index(&host) else {
            self.engine.metrics.unknown_host.inc();
            respond(
                session,
                404,
                "consent-gate: no site is configured for this host\n",
            )
            .await?;
            return Ok(true);
        };
        let facts = RequestFacts::from_headers(config, &host, req.uri.path(), &req.headers);
        let plan = plan::plan_request(config, site, self.engine.rules_for(site), &facts);
        ctx.accept_encoding = req
            .headers
            .get(header::ACCEPT_ENCODING)
            .map(|v| v.as_bytes().to_vec());
        ctx.wants_document = wants_document(&req.headers);
        let events = plan.events.clone();
        let answer = plan.answer.clone();
        ctx.plan = Some(plan);
        self.record(ctx, &events);
        match answer {
            None => Ok(false),
            Some(Answer::ConsentEndpoint { rest }) => {
                if let Some(plan) = &ctx.plan {
                    consent_endpoint(&self.engine, session, &rest, plan).await?;
                }
                Ok(true)
            }
            Some(Answer::PathBlocked) => {
                respond_with(session, 204, &[], Vec::new()).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestState,
    ) -> Result<Box<HttpPeer>> {
        let (Some(site), Some(index)) = (self.site(ctx), ctx.plan.as_ref().map(|p| p.site)) else {
            return Err(Error::explain(ErrorType::InternalError, "no site selected"));
        };
        let Some(addr) = self
            .engine
            .upstreams
            .pool(index)
            .and_then(|pool| pool.select(&ctx.tried))
        else {
            // Every upstream is unhealthy, ejected or already tried: answer at once.
            let mut e = Error::explain(ErrorType::HTTPStatus(502), "no healthy upstream");
            e.esource = ErrorSource::Upstream;
            return Err(e);
        };
        ctx.tried.push(addr);
        let mut peer = HttpPeer::new(addr, site.tls, site.sni.clone());
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
        ctx: &mut RequestState,
    ) -> Result<()> {
        if let Some(cookie) = ctx.plan.as_mut().and_then(|p| p.cookie_header.take()) {
            upstream.remove_header(&header::COOKIE);
            if !cookie.is_empty() {
                upstream.insert_header(header::COOKIE, cookie)?;
            }
        }
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            let name = http::HeaderName::from_static("x-forwarded-for");
            let prior = upstream.headers.get(&name).map(http::HeaderValue::as_bytes);
            let value = crate::wire::forwarded::append(prior, addr.ip());
            upstream.insert_header(name, value)?;
        }
        ctx.upstream_sent = Some(Instant::now());
        // A page we may have to rewrite should arrive uncompressed (saves decoding it).
        if ctx.wants_document && ctx.mode() == Some(Mode::Enforce) && ctx.page().is_some() {
            upstream.insert_header(header::ACCEPT_ENCODING, "identity")?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestState,
    ) -> Result<()> {
        if resp.status.is_informational() {
            return Ok(());
        }
        if let Some(sent) = ctx.upstream_sent {
            let took = sent.elapsed();
            ctx.upstream_time = Some(took);
            self.engine
                .metrics
                .upstream_seconds
                .with_label_values(&[self.site_label(ctx)])
                .observe(took.as_secs_f64());
        }
        if matches!(ctx.mode(), None | Some(Mode::Off)) {
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
        ctx: &mut RequestState,
    ) -> Result<Option<Duration>> {
        // Report-only: the pipeline observes and counts; the original bytes go out.
        let observe_only = ctx.mode() == Some(Mode::ReportOnly);
        let Some(pipeline) = ctx.pipeline.as_mut() else {
            return Ok(None);
        };
        let pipeline = pipeline
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let input = body.clone().unwrap_or_default();
        ctx.html_bytes += input.len() as u64;
        let result = if end_of_stream {
            pipeline.end(&input)
        } else {
            pipeline.write(&input)
        };
        ctx.rewrite_time += started.elapsed();
        let failed_open = pipeline.take_failed_open();
        let memo = end_of_stream.then(|| pipeline.memo_outcome()).flatten();
        let site = self.site_label(ctx);
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
                if let Some(outcome) = memo {
                    record::memo(m, site, outcome);
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

    /// Errors answered as Pingora does, except that an upstream that does not answer in time
    /// gets 504 Gateway Timeout (as nginx and the HTTP semantics have it) rather than 502.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        _ctx: &mut RequestState,
    ) -> pingora::proxy::FailToProxy {
        let code = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(code), _) => *code,
            (
                ErrorType::ReadTimedout | ErrorType::WriteTimedout | ErrorType::ConnectTimedout,
                ErrorSource::Upstream,
            ) => 504,
            (_, ErrorSource::Upstream) => 502,
            (
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
                ErrorSource::Downstream,
            ) => 0,
            (_, ErrorSource::Downstream) => 400,
            (_, ErrorSource::Internal | ErrorSource::Unset) => 500,
        };
        if code > 0 {
            // The client may be gone already; nothing more to do then.
            let _ = session.respond_error(code).await;
        }
        pingora::proxy::FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A failed connect ejects the upstream for one check interval; an idempotent request is
    /// retried on another upstream (nothing was sent upstream yet).
    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestState,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let pool = ctx
            .plan
            .as_ref()
            .and_then(|p| self.engine.upstreams.pool(p.site));
        if let (Some(pool), Some(addr)) = (pool, ctx.tried.last()) {
            pool.eject(*addr);
            let idempotent = matches!(
                session.req_header().method,
                http::Method::GET
                    | http::Method::HEAD
                    | http::Method::OPTIONS
                    | http::Method::PUT
                    | http::Method::DELETE
            );
            if idempotent && pool.select(&ctx.tried).is_some() {
                e.set_retry(true);
            }
        }
        e
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestState) {
        let m = &self.engine.metrics;
        if let Some(err) = e
            && err.esource() == &ErrorSource::Upstream
        {
            m.upstream_errors
                .with_label_values(&[self.site_label(ctx)])
                .inc();
        }
        let neutralized = self.record_neutralized(ctx);
        if !tracing::enabled!(target: "access", tracing::Level::INFO) {
            return;
        }
        let site = self.site_label(ctx);
        let req = session.req_header();
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let consent = ctx
            .plan
            .as_ref()
            .filter(|p| p.mode != Mode::Off)
            .map(|p| &p.consent);
        let denied = consent.map_or(String::new(), |c| {
            self.engine.config.policy.categories.join(
                c.denied.difference(CategorySet::only(Category::NECESSARY)),
                ",",
            )
        });
        let s = ctx.summary;
        tracing::info!(
            target: "access",
            site = %site,
            method = %req.method,
            path = %req.uri.path(),
            status,
            mode = ctx.mode().map_or("none", Mode::label),
            consent_source = consent.and_then(|c| c.source).map_or("none", |s| s.label()),
            denied = %denied,
            request_cookies_stripped = s.request_cookies_stripped,
            set_cookies_stripped = s.set_cookies_stripped,
            withdrawals = s.withdrawal_lines,
            neutralized,
            rewrite_failed = ctx.rewrite_failed.unwrap_or(""),
            bytes_sent = session.body_bytes_sent(),
            duration_ms = ctx.started.map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0),
            upstream_ms = ctx.upstream_time.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            error = e.map(ToString::to_string),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pingora keeps the per-request context inside the request's future, which is moved (copied)
    /// as a whole several times per request: a large inline field (the rewriting pipeline is
    /// 2.6 KB) costs every request, rewritten or not, measurably on small pages.
    #[test]
    fn the_per_request_context_stays_small() {
        let size = std::mem::size_of::<RequestState>();
        assert!(
            size <= 640,
            "RequestState is {size} bytes; box what most requests do not use"
        );
    }
}
