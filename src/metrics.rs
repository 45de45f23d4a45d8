//! Prometheus metrics. Label values come only from bounded sets: site names from the config,
//! categories from the config, sources, element kinds, results. Never a cookie name, host or
//! path from the wire.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric consent-gate exports, registered in one registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by site, mode and jurisdiction regime.
    pub requests: IntCounterVec,
    /// Requests by the consent source that decided (or `none`).
    pub consent_source: IntCounterVec,
    /// Consent cookies present but unreadable, by source.
    pub consent_parse_failures: IntCounterVec,
    /// Set-Cookie lines by site, category and action (kept, stripped, would_strip).
    pub set_cookie: IntCounterVec,
    /// First-party tracking endpoints answered 204 without reaching the origin, by site,
    /// category and action (blocked, would_block).
    pub paths_blocked: IntCounterVec,
    /// Request cookies removed before the origin, by site, category and action.
    pub request_cookies_stripped: IntCounterVec,
    /// Expiring Set-Cookie lines added for withdrawn consent, by site and category.
    pub withdrawals: IntCounterVec,
    /// Elements neutralized by site, kind, category and action (neutralized, would_neutralize).
    pub elements_neutralized: IntCounterVec,
    /// HTML bytes passed through the rewriter.
    pub html_bytes: IntCounterVec,
    /// CPU time spent rewriting one response, seconds.
    pub rewrite_seconds: Histogram,
    /// Time from sending the request upstream to its response header, by site.
    pub upstream_seconds: HistogramVec,
    /// Rewrites aborted, by site and reason.
    pub rewrite_failures: IntCounterVec,
    /// Upstream errors by site.
    pub upstream_errors: IntCounterVec,
    /// Responses refused because an upstream exceeded a limit, by site and limit.
    pub limit_exceeded: IntCounterVec,
    /// Rule reloads by result.
    pub rule_reloads: IntCounterVec,
    /// Generation of the active rule set.
    pub rules_generation: IntGauge,
    /// Unix time the active rule set was loaded.
    pub rules_loaded_timestamp: IntGauge,
    /// Active rules by kind.
    pub rules: IntGaugeVec,
    /// Unknown cookies seen (kept under the default policy), by site.
    pub unknown_cookies: IntCounterVec,
    /// Requests answered for a host no site serves.
    pub unknown_host: IntCounter,
    /// Consent choices saved through the consent endpoint, by site and decision (accept_all,
    /// reject_all, custom).
    pub consent_decisions: IntCounterVec,
    /// Consent writes refused as not coming from the site itself, by site and reason.
    pub consent_writes_refused: IntCounterVec,
    /// Client connections (HTTP/1) or streams (HTTP/2) open now.
    pub downstream_connections: IntGauge,
    /// Client connections closed by a downstream limit, by reason (header_timeout,
    /// idle_timeout, connection_limit).
    pub downstream_closed: IntCounterVec,
    /// 1 while an upstream passes its health checks, by site and address.
    pub upstream_healthy: IntGaugeVec,
    /// Upstreams skipped for a check interval after a failed connect, by site.
    pub upstream_ejections: IntCounterVec,
    /// Rewritten responses by what the memo did: hit, miss, bypass (too large).
    pub memo_lookups: IntCounterVec,
    /// Memo entries evicted to stay under the size cap.
    pub memo_evictions: IntCounter,
    /// Bytes the memo holds.
    pub memo_bytes: IntGauge,
    /// Entries the memo holds.
    pub memo_entries: IntGauge,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let rewrite_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "consent_gate_html_rewrite_seconds",
                "CPU time spent rewriting one HTML response",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )?;
        r.register(Box::new(rewrite_seconds.clone()))?;
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "consent_gate_upstream_response_seconds",
                "Time from sending a request upstream to receiving its response header",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["site"],
        )?;
        r.register(Box::new(upstream_seconds.clone()))?;
        let rules_generation = IntGauge::new(
            "consent_gate_rules_generation",
            "Generation of the active rule set (1 = loaded at start)",
        )?;
        r.register(Box::new(rules_generation.clone()))?;
        let rules_loaded_timestamp = IntGauge::new(
            "consent_gate_rules_loaded_timestamp_seconds",
            "Unix time the active rule set was loaded",
        )?;
        r.register(Box::new(rules_loaded_timestamp.clone()))?;
        let rules = IntGaugeVec::new(
            Opts::new("consent_gate_rules", "Active rules by kind"),
            &["kind"],
        )?;
        r.register(Box::new(rules.clone()))?;
        let unknown_host = IntCounter::new(
            "consent_gate_unknown_host_requests_total",
            "Requests for a host no site serves (answered 404)",
        )?;
        r.register(Box::new(unknown_host.clone()))?;
        let downstream_connections = IntGauge::new(
            "consent_gate_downstream_connections",
            "Client connections (HTTP/1) or streams (HTTP/2) open now",
        )?;
        r.register(Box::new(downstream_connections.clone()))?;
        let upstream_healthy = IntGaugeVec::new(
            Opts::new(
                "consent_gate_upstream_healthy",
                "1 while an upstream passes its health checks, 0 while it is ejected",
            ),
            &["site", "upstream"],
        )?;
        r.register(Box::new(upstream_healthy.clone()))?;
        let memo_evictions = IntCounter::new(
            "consent_gate_memo_evictions_total",
            "Remembered rewrites evicted to stay under the memo's size cap",
        )?;
        r.register(Box::new(memo_evictions.clone()))?;
        let memo_bytes = IntGauge::new("consent_gate_memo_bytes", "Bytes the rewrite memo holds")?;
        r.register(Box::new(memo_bytes.clone()))?;
        let memo_entries = IntGauge::new("consent_gate_memo_entries", "Rewrites the memo holds")?;
        r.register(Box::new(memo_entries.clone()))?;
        Ok(Metrics {
            requests: counter(
                &r,
                "consent_gate_requests_total",
                "Requests by site, mode and jurisdiction regime",
                &["site", "mode", "jurisdiction"],
            )?,
            consent_source: counter(
                &r,
                "consent_gate_consent_source_total",
                "Requests by the consent source that decided (none: no source decided)",
                &["source"],
            )?,
            consent_parse_failures: counter(
                &r,
                "consent_gate_consent_parse_failures_total",
                "Consent signals present but malformed, oversized or not UTF-8",
                &["source"],
            )?,
            set_cookie: counter(
                &r,
                "consent_gate_set_cookie_total",
                "Set-Cookie lines from upstreams by category and action",
                &["site", "category", "action"],
            )?,
            request_cookies_stripped: counter(
                &r,
                "consent_gate_request_cookies_stripped_total",
                "Request cookies removed before reaching the origin",
                &["site", "category", "action"],
            )?,
            paths_blocked: counter(
                &r,
                "consent_gate_paths_blocked_total",
                "First-party tracking endpoints answered 204 without reaching the origin",
                &["site", "category", "action"],
            )?,
            withdrawals: counter(
                &r,
                "consent_gate_withdrawals_total",
                "Expiring Set-Cookie lines added for cookies whose consent is missing or withdrawn",
                &["site", "category"],
            )?,
            elements_neutralized: counter(
                &r,
                "consent_gate_elements_neutralized_total",
                "HTML elements made inert",
                &["site", "kind", "category", "action"],
            )?,
            html_bytes: counter(
                &r,
                "consent_gate_html_bytes_total",
                "HTML bytes passed through the rewriter",
                &["site"],
            )?,
            rewrite_seconds,
            upstream_seconds,
            rewrite_failures: counter(
                &r,
                "consent_gate_rewrite_failures_total",
                "HTML rewrites that failed",
                &["site", "reason"],
            )?,
            upstream_errors: counter(
                &r,
                "consent_gate_upstream_errors_total",
                "Requests that failed at the upstream",
                &["site"],
            )?,
            limit_exceeded: counter(
                &r,
                "consent_gate_limit_exceeded_total",
                "Upstream responses refused for exceeding a limit",
                &["site", "limit"],
            )?,
            rule_reloads: counter(
                &r,
                "consent_gate_rule_reloads_total",
                "Rule reloads by result",
                &["result"],
            )?,
            unknown_cookies: counter(
                &r,
                "consent_gate_unknown_cookies_total",
                "Cookies that no rule classifies",
                &["site"],
            )?,
            rules_generation,
            rules_loaded_timestamp,
            rules,
            unknown_host,
            consent_decisions: counter(
                &r,
                "consent_gate_consent_decisions_total",
                "Consent choices saved through the consent endpoint, by decision",
                &["site", "decision"],
            )?,
            consent_writes_refused: counter(
                &r,
                "consent_gate_consent_writes_refused_total",
                "Consent writes refused because another site started them",
                &["site", "reason"],
            )?,
            downstream_connections,
            downstream_closed: counter(
                &r,
                "consent_gate_downstream_closed_total",
                "Client connections closed by a limit: header_timeout, idle_timeout, connection_limit",
                &["reason"],
            )?,
            upstream_healthy,
            upstream_ejections: counter(
                &r,
                "consent_gate_upstream_ejections_total",
                "Upstreams skipped for one check interval after a failed connect",
                &["site"],
            )?,
            memo_lookups: counter(
                &r,
                "consent_gate_memo_lookups_total",
                "Rewritten responses by what the memo did: hit, miss, bypass (body too large)",
                &["site", "result"],
            )?,
            memo_evictions,
            memo_bytes,
            memo_entries,
            registry: r,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}
