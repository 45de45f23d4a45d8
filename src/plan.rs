//! The decision path: from the facts of a request to everything consent-gate will do with it.
//!
//! [`plan_request`] is one pure function from the request's facts (host, path, cookies,
//! `Sec-GPC`, jurisdiction headers) to a [`RequestPlan`]: the consent that applies, whether the
//! proxy answers itself (consent endpoint, blocked collector path), the `Cookie` header the
//! origin gets, the cookies to withdraw, and the [`Page`] that decides HTML and `Link` headers.
//! [`filter_set_cookies`] is the pure response-side counterpart for `Set-Cookie`. Both report
//! what they did as typed [`Event`]s; the Pingora adapter turns events into metrics and audit
//! lines in one place, and `consent-gate explain` calls the same two functions, so what it shows
//! is what the proxy does.

use std::sync::Arc;

use http::HeaderMap;

use crate::category::Category;
use crate::config::{Config, Mode, Site};
use crate::consent::{Consent, Regime, RequestSignals, SourceKind, gpc_enabled};
use crate::cookies;
use crate::html::{self, Kind, Page, Stats};
use crate::rules::Rules;
use crate::wire::cookie_header::Jar;

/// What consent-gate needs to know about a request.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    /// Host, lower-case, without port.
    pub host: &'a str,
    /// Path, without the query.
    pub path: &'a str,
    /// Every `Cookie` header field (HTTP/2 browsers may send several).
    pub cookie_headers: Vec<&'a [u8]>,
    /// Whether a `Sec-GPC` field is exactly `1`.
    pub gpc: bool,
    /// The configured country header's value.
    pub country: Option<&'a [u8]>,
    /// The configured region header's value.
    pub region: Option<&'a [u8]>,
}

impl<'a> RequestFacts<'a> {
    /// The facts of a request with these headers, reading the country and region headers the
    /// configuration names.
    pub fn from_headers(
        config: &Config,
        host: &'a str,
        path: &'a str,
        headers: &'a HeaderMap,
    ) -> Self {
        let named = |name: &Option<http::HeaderName>| {
            name.as_ref()
                .and_then(|n| headers.get(n))
                .map(http::HeaderValue::as_bytes)
        };
        let jurisdictions = &config.policy.jurisdictions;
        RequestFacts {
            host,
            path,
            cookie_headers: headers
                .get_all(http::header::COOKIE)
                .iter()
                .map(http::HeaderValue::as_bytes)
                .collect(),
            gpc: gpc_enabled(
                headers
                    .get_all("sec-gpc")
                    .iter()
                    .map(http::HeaderValue::as_bytes),
            ),
            country: named(&jurisdictions.country_header),
            region: named(&jurisdictions.region_header),
        }
    }
}

/// A request the proxy answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The consent endpoint; `rest` is the path after its prefix (`consent`).
    ConsentEndpoint {
        /// Path below the endpoint prefix.
        rest: String,
    },
    /// A first-party collector path without consent: `204 No Content`, the origin never sees it.
    PathBlocked,
}

/// A request cookie whose consent is gone: the response expires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// Cookie name.
    pub name: String,
    /// Its category.
    pub category: Option<Category>,
}

/// What happened to one `Set-Cookie` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCookieAction {
    /// Delivered.
    Kept,
    /// Removed.
    Stripped,
    /// Delivered, but would be removed in enforce mode (report-only).
    WouldStrip,
}

impl SetCookieAction {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            SetCookieAction::Kept => "kept",
            SetCookieAction::Stripped => "stripped",
            SetCookieAction::WouldStrip => "would_strip",
        }
    }
}

/// Something consent-gate did (or, in report-only mode, would do), for metrics and the audit
/// log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request for a site, with its mode and jurisdiction (none in mode `off`).
    Request {
        /// Site mode.
        mode: Mode,
        /// Jurisdiction regime applied.
        regime: Option<Regime>,
        /// First source that decided.
        source: Option<SourceKind>,
    },
    /// A consent cookie was present but unreadable: no decision from that source.
    ConsentUnreadable(SourceKind),
    /// A first-party path rule matched a request without consent.
    PathBlocked {
        /// Category the rule needs.
        category: Category,
        /// The request path.
        path: String,
        /// `file:line` of the rule.
        rule: String,
        /// Answered 204 (enforce) or only counted (report-only).
        enforced: bool,
    },
    /// A request cookie kept from the origin.
    RequestCookieStripped {
        /// Cookie name.
        name: String,
        /// Its category.
        category: Option<Category>,
        /// `file:line` of the deciding rule.
        rule: Option<String>,
        /// Removed (enforce) or only counted.
        enforced: bool,
    },
    /// A `Set-Cookie` line was classified.
    SetCookie {
        /// Cookie name (lossy UTF-8).
        name: String,
        /// Its category.
        category: Option<Category>,
        /// `file:line` of the deciding rule.
        rule: Option<String>,
        /// Whether no rule knew it.
        unknown: bool,
        /// What happened to it.
        action: SetCookieAction,
    },
    /// Expiring `Set-Cookie` lines were added for a cookie whose consent is gone.
    Withdrawn {
        /// Cookie name.
        name: String,
        /// Its category.
        category: Option<Category>,
        /// Lines added.
        lines: usize,
    },
    /// The origin sent more `Set-Cookie` lines than allowed: the response is refused (502).
    TooManySetCookies {
        /// Lines sent.
        count: usize,
        /// `max_set_cookie_headers`.
        limit: usize,
    },
    /// Elements of one kind and category were neutralized (or would be).
    Neutralized {
        /// Element kind.
        kind: Kind,
        /// Category denied.
        category: Category,
        /// How many.
        count: u64,
        /// Changed (enforce) or only counted.
        enforced: bool,
    },
    /// One neutralization, for the audit log.
    NeutralizedElement {
        /// What was done, by which rule.
        action: html::Action,
        /// Changed (enforce) or only counted.
        enforced: bool,
    },
}

/// Everything consent-gate will do with one request.
#[derive(Debug, Clone)]
pub struct RequestPlan {
    /// Index of the site in the configuration.
    pub site: usize,
    /// The site's mode.
    pub mode: Mode,
    /// The request's host.
    pub host: String,
    /// The rules snapshot the request uses for its whole life.
    pub rules: Arc<Rules>,
    /// The consent that applies (everything allowed in mode `off`).
    pub consent: Consent,
    /// Set when the proxy answers the request itself.
    pub answer: Option<Answer>,
    /// The `Cookie` header for the origin when cookies were removed (`Some(empty)`: none).
    pub cookie_header: Option<Vec<u8>>,
    /// Cookies the response expires.
    pub withdrawals: Vec<Withdrawal>,
    /// Present when consent denies a category that resource or signature rules can block:
    /// only then can an HTML body or a `Link` header need changes.
    pub page: Option<Page>,
    /// What was decided, for metrics and the audit log.
    pub events: Vec<Event>,
}

impl RequestPlan {
    /// Whether the site enforces (not report-only, not off).
    pub fn enforces(&self) -> bool {
        self.mode == Mode::Enforce
    }
}

/// Decides everything about a request to site `site` (an index into `config.sites`), with the
/// rules snapshot `rules`.
pub fn plan_request(
    config: &Config,
    site: usize,
    rules: Arc<Rules>,
    facts: &RequestFacts<'_>,
) -> RequestPlan {
    let mode = config.sites.get(site).map_or(Mode::Off, |s| s.mode);
    let mut plan = RequestPlan {
        site,
        mode,
        host: facts.host.to_owned(),
        consent: Consent::allow_all(&config.policy.categories),
        rules,
        answer: None,
        cookie_header: None,
        withdrawals: Vec::new(),
        page: None,
        events: Vec::new(),
    };
    let Some(site_config) = config.sites.get(site).filter(|_| mode != Mode::Off) else {
        plan.events.push(Event::Request {
            mode,
            regime: None,
            source: None,
        });
        return plan;
    };
    let jar = Jar::parse(facts.cookie_headers.iter().copied());
    let consent = config.policy.evaluate(RequestSignals {
        jar: &jar,
        gpc: facts.gpc,
        country: facts.country,
        region: facts.region,
    });
    plan.events.push(Event::Request {
        mode,
        regime: Some(consent.regime),
        source: consent.source,
    });
    plan.events.extend(
        consent
            .failures
            .iter()
            .map(|&s| Event::ConsentUnreadable(s)),
    );
    plan.consent = consent;

    if let Some(prefix) = &config.consent_endpoint
        && let Some(rest) = facts.path.strip_prefix(prefix.as_str())
    {
        plan.answer = Some(Answer::ConsentEndpoint {
            rest: rest.to_owned(),
        });
        return plan;
    }
    if let Some(rule) = plan.rules.request_path(facts.path)
        && !plan.consent.allows_rule(rule)
    {
        plan.events.push(Event::PathBlocked {
            category: rule.category,
            path: facts.path.to_owned(),
            rule: plan.rules.origin(rule),
            enforced: plan.enforces(),
        });
        if plan.enforces() {
            plan.answer = Some(Answer::PathBlocked);
            return plan;
        }
    }
    filter_request_cookies(config, site_config, &jar, &mut plan);
    if !plan
        .consent
        .denied
        .intersection(plan.rules.blockable())
        .is_empty()
    {
        plan.page = Some(Page {
            rules: Arc::clone(&plan.rules),
            allowed: plan.consent.allowed,
            site: html::url::site_of(facts.host).to_owned(),
            report_only: mode == Mode::ReportOnly,
            tcf_vendors: plan.consent.tcf_vendors.clone(),
        });
    }
    plan
}

/// The request side of cookie enforcement: the origin's `Cookie` header and the withdrawals.
fn filter_request_cookies(config: &Config, site: &Site, jar: &Jar<'_>, plan: &mut RequestPlan) {
    let filtered = cookies::filter_request(
        jar,
        &plan.rules,
        &config.policy,
        site.unknown_cookies,
        &plan.consent,
    );
    let strips = plan.enforces() && site.strip_request_cookies;
    plan.events.extend(
        filtered
            .stripped
            .iter()
            .map(|s| Event::RequestCookieStripped {
                name: s.name.clone(),
                category: s.category,
                rule: s.rule.clone(),
                enforced: strips,
            }),
    );
    if plan.enforces() {
        if strips {
            plan.cookie_header = filtered.header;
        }
        plan.withdrawals = filtered
            .stripped
            .into_iter()
            .map(|s| Withdrawal {
                name: s.name,
                category: s.category,
            })
            .collect();
    }
}

/// The outcome of filtering a response's `Set-Cookie` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetCookieFilter {
    /// Indices of the lines delivered, in order, when some were removed (`None`: all, unchanged).
    pub kept: Option<Vec<usize>>,
    /// Expiring lines to append (withdrawals).
    pub added: Vec<String>,
    /// What was decided.
    pub events: Vec<Event>,
}

/// Filters a response's `Set-Cookie` values under a request's plan, and adds the withdrawal
/// lines of cookies the request carried without consent (unless the response sets them
/// itself). More lines than `max_set_cookie_headers` is an error: the response is refused.
pub fn filter_set_cookies(
    config: &Config,
    plan: &RequestPlan,
    values: &[&[u8]],
) -> Result<SetCookieFilter, Event> {
    let mut out = SetCookieFilter::default();
    let Some(site) = config
        .sites
        .get(plan.site)
        .filter(|_| plan.mode != Mode::Off)
    else {
        return Ok(out);
    };
    let limit = config.limits.max_set_cookie_headers;
    if values.len() > limit {
        return Err(Event::TooManySetCookies {
            count: values.len(),
            limit,
        });
    }
    let mut kept = Vec::with_capacity(values.len());
    let mut names: Vec<&[u8]> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let name = cookies::set_cookie_name(value);
        let d = cookies::decide(
            name,
            &plan.rules,
            &config.policy,
            site.unknown_cookies,
            &plan.consent,
        );
        let action = match (d.keep, plan.enforces()) {
            (true, _) => SetCookieAction::Kept,
            (false, true) => SetCookieAction::Stripped,
            (false, false) => SetCookieAction::WouldStrip,
        };
        if action != SetCookieAction::Stripped {
            kept.push(i);
            names.push(name);
        }
        out.events.push(Event::SetCookie {
            name: String::from_utf8_lossy(name).into_owned(),
            category: d.category,
            rule: d.rule.map(|r| plan.rules.origin(r)),
            unknown: d.rule.is_none() && d.category.is_none(),
            action,
        });
    }
    if kept.len() != values.len() {
        out.kept = Some(kept);
    }
    // The host's registrable domain, looked up only when a cookie is withdrawn.
    let domain = if plan.withdrawals.is_empty() {
        None
    } else {
        cookies::cookie_domain(&plan.host)
    };
    let mut done: Vec<&str> = Vec::new();
    for w in &plan.withdrawals {
        if done.contains(&w.name.as_str()) || names.contains(&w.name.as_bytes()) {
            continue;
        }
        done.push(&w.name);
        let lines = cookies::withdrawal_lines(&w.name, domain.as_deref(), &[]);
        out.events.push(Event::Withdrawn {
            name: w.name.clone(),
            category: w.category,
            lines: lines.len(),
        });
        out.added.extend(lines);
    }
    Ok(out)
}

/// The events of a finished rewrite (or `Link` header filter).
pub fn neutralization_events(stats: Stats, mode: Mode) -> Vec<Event> {
    let enforced = mode == Mode::Enforce;
    let counts = stats
        .counts
        .into_iter()
        .map(|((kind, category), count)| Event::Neutralized {
            kind,
            category,
            count,
            enforced,
        });
    let actions = stats
        .actions
        .into_iter()
        .map(|action| Event::NeutralizedElement { action, enforced });
    counts.chain(actions).collect()
}
