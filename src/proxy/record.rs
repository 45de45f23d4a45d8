//! The one place where decisions become metrics and audit lines.

use crate::category::Category;
use crate::engine::Engine;
use crate::plan::{Event, SetCookieAction};

/// Per-request totals for the access log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Request cookies removed before the origin.
    pub request_cookies_stripped: usize,
    /// `Set-Cookie` lines removed.
    pub set_cookies_stripped: usize,
    /// Expiring `Set-Cookie` lines added.
    pub withdrawal_lines: usize,
    /// Elements neutralized (or, in report-only mode, that would be).
    pub neutralized: u64,
}

fn category_label(engine: &Engine, c: Option<Category>) -> &str {
    c.map_or("unknown", |c| engine.config.policy.categories.name(c))
}

fn would(enforced: bool, done: &'static str, would: &'static str) -> &'static str {
    if enforced { done } else { would }
}

/// Records events of a request to site `site` (its name, the metric label) into metrics and, with
/// `[logging] audit`, the audit log; adds them up in `summary`.
pub fn record(engine: &Engine, site: &str, events: &[Event], summary: &mut Summary) {
    let m = &engine.metrics;
    let audit = engine.config.audit_log;
    for event in events {
        match event {
            Event::Request {
                mode,
                regime,
                source,
            } => {
                let regime = regime.map_or("none", |r| r.label());
                m.requests
                    .with_label_values(&[site, mode.label(), regime])
                    .inc();
                if regime != "none" {
                    m.consent_source
                        .with_label_values(&[source.map_or("none", |s| s.label())])
                        .inc();
                }
            }
            Event::ConsentUnreadable(source) => {
                m.consent_parse_failures
                    .with_label_values(&[source.label()])
                    .inc();
            }
            Event::PathBlocked {
                category,
                path,
                rule,
                enforced,
            } => {
                let category = category_label(engine, Some(*category));
                let action = would(*enforced, "blocked", "would_block");
                m.paths_blocked
                    .with_label_values(&[site, category, action])
                    .inc();
                if audit {
                    tracing::info!(target: "audit", site = %site, action, category, path = %path, rule = %rule);
                }
            }
            Event::RequestCookieStripped {
                name,
                category,
                rule,
                enforced,
            } => {
                let category = category_label(engine, *category);
                let action = would(*enforced, "stripped", "would_strip");
                m.request_cookies_stripped
                    .with_label_values(&[site, category, action])
                    .inc();
                if *enforced {
                    summary.request_cookies_stripped += 1;
                }
                if audit {
                    let action = would(
                        *enforced,
                        "strip_request_cookie",
                        "would_strip_request_cookie",
                    );
                    tracing::info!(target: "audit", site = %site, action, cookie = %name, category, rule = rule.as_deref().unwrap_or_default());
                }
            }
            Event::SetCookie {
                name,
                category,
                rule,
                unknown,
                action,
            } => {
                let category = category_label(engine, *category);
                if *unknown {
                    m.unknown_cookies.with_label_values(&[site]).inc();
                }
                m.set_cookie
                    .with_label_values(&[site, category, action.label()])
                    .inc();
                if *action == SetCookieAction::Stripped {
                    summary.set_cookies_stripped += 1;
                    if audit {
                        tracing::info!(target: "audit", site = %site, action = "strip_set_cookie", cookie = %name, category, rule = rule.as_deref().unwrap_or_default());
                    }
                }
            }
            Event::Withdrawn {
                name,
                category,
                lines,
            } => {
                let category = category_label(engine, *category);
                m.withdrawals.with_label_values(&[site, category]).inc();
                summary.withdrawal_lines += lines;
                if audit {
                    tracing::info!(target: "audit", site = %site, action = "withdraw_cookie", cookie = %name, category);
                }
            }
            Event::TooManySetCookies { .. } => {
                m.limit_exceeded
                    .with_label_values(&[site, "max_set_cookie_headers"])
                    .inc();
            }
            Event::Neutralized {
                kind,
                category,
                count,
                enforced,
            } => {
                let action = would(*enforced, "neutralized", "would_neutralize");
                m.elements_neutralized
                    .with_label_values(&[
                        site,
                        kind.label(),
                        category_label(engine, Some(*category)),
                        action,
                    ])
                    .inc_by(*count);
                summary.neutralized += count;
            }
            Event::NeutralizedElement {
                action: a,
                enforced,
            } => {
                if audit {
                    let action = would(*enforced, "neutralized", "would_neutralize");
                    tracing::info!(target: "audit", site = %site, action, kind = a.kind.label(), category = category_label(engine, Some(a.category)), vendor = %a.vendor, rule = %a.rule, url = %a.target);
                }
            }
        }
    }
}

/// Counts what the memo did for one response.
pub(super) fn memo(
    m: &crate::metrics::Metrics,
    site: &str,
    outcome: crate::html::pipeline::MemoOutcome,
) {
    m.memo_lookups
        .with_label_values(&[site, outcome.label()])
        .inc();
    if let crate::html::pipeline::MemoOutcome::Miss(stored) = outcome {
        m.memo_evictions.inc_by(stored.evicted as u64);
        m.memo_bytes
            .set(i64::try_from(stored.bytes).unwrap_or(i64::MAX));
        m.memo_entries
            .set(i64::try_from(stored.entries).unwrap_or(i64::MAX));
    }
}
