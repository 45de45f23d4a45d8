//! `consent-gate explain`: what consent-gate would do with a request and its response, and
//! which rule (`file:line`) decided each action. Nothing here touches the network: the query
//! goes through the same [`crate::plan`] functions the proxy calls, so the answer is what the
//! proxy would do.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::category::{Category, CategorySet};
use crate::config::{Config, Mode};
use crate::consent::{Consent, SourceKind};
use crate::cookies;
use crate::engine::Engine;
use crate::html::{self, Page};
use crate::plan::{self, Answer, Event, RequestFacts, RequestPlan, SetCookieAction};
use crate::rules::{RuleInfo, Rules, Verdict};
use crate::wire::cookie_header::Jar;

/// What to explain (also the `consent-gate explain` arguments).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Query {
    /// The page URL, e.g. https://www.example.com/products (its host picks the site and defines
    /// first party).
    pub url: String,
    /// The request's Cookie header (consent cookies included).
    #[arg(long)]
    pub cookie: Option<String>,
    /// Send Sec-GPC: 1.
    #[arg(long)]
    pub gpc: bool,
    /// Value of the country header (e.g. US).
    #[arg(long)]
    pub country: Option<String>,
    /// Value of the region header (e.g. CA).
    #[arg(long)]
    pub region: Option<String>,
    /// A response Set-Cookie value (repeatable).
    #[arg(long = "set-cookie")]
    pub set_cookies: Vec<String>,
    /// A script, frame or pixel URL on the page (repeatable).
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// An HTML snippet or page to rewrite (the command reads it from `--html FILE`).
    #[arg(skip)]
    pub html: Option<String>,
}

fn rule_ref(rules: &Rules, r: &RuleInfo) -> String {
    format!(
        "{} ({:?} {:?}, vendor {:?})",
        rules.origin(r),
        r.kind,
        &*r.pattern,
        &*r.vendor
    )
}

fn describe_consent(out: &mut String, rules: &Rules, consent: &Consent) {
    let cats = rules.categories();
    let source = consent.source.map_or("none", SourceKind::label);
    let _ = writeln!(
        out,
        "consent: source {source}, jurisdiction {}, Sec-GPC {}",
        consent.regime.label(),
        if consent.gpc { "1" } else { "absent" }
    );
    for f in &consent.failures {
        let _ = writeln!(
            out,
            "  ! {} consent cookie present but unreadable: treated as no decision",
            f.label()
        );
    }
    for (c, name) in cats.iter() {
        let state = if c == Category::NECESSARY {
            "allowed (always)"
        } else if consent.allows(c) {
            "allowed"
        } else {
            "DENIED"
        };
        let _ = writeln!(out, "  {name}: {state}");
    }
}

/// Classifies one resource URL on a page.
fn describe_resource(out: &mut String, page: &Page, url: &str) {
    let rules = &page.rules;
    let cats = rules.categories();
    let Some(target) = html::url::target(url) else {
        let _ = writeln!(
            out,
            "  {url}: allowed: relative or non-network URL (first party)"
        );
        return;
    };
    match rules.resource(&target.host, &target.path) {
        Verdict::Allowed(r) => {
            let _ = writeln!(out, "  {url}: allowed by allow rule {}", rule_ref(rules, r));
        }
        Verdict::Unknown => {
            let _ = writeln!(out, "  {url}: allowed: no rule matches {}", target.host);
        }
        Verdict::Classified(r) => {
            let category = cats.name(r.category);
            if page.blocking_rule(url).is_some() {
                let _ = writeln!(
                    out,
                    "  {url}: BLOCKED ({category}) by {}",
                    rule_ref(rules, r)
                );
            } else if page.allowed.contains(r.category) {
                let _ = writeln!(
                    out,
                    "  {url}: allowed: {category} is allowed; rule {}",
                    rule_ref(rules, r)
                );
            } else {
                let _ = writeln!(
                    out,
                    "  {url}: allowed: first party (same registrable domain as the page, {}); rule {} names only its parent domain",
                    page.site,
                    rule_ref(rules, r)
                );
            }
        }
    }
}

/// Why a request cookie is kept or stripped, in words.
fn cookie_reason(rules: &Rules, config: &Config, plan: &RequestPlan, name: &[u8]) -> String {
    let cats = rules.categories();
    let unknown = config
        .sites
        .get(plan.site)
        .map(|s| s.unknown_cookies)
        .unwrap_or_default();
    let d = cookies::decide(name, rules, &config.policy, unknown, &plan.consent);
    match (d.rule, d.category) {
        (Some(r), _) => format!(
            "{} by {}",
            d.category.map_or("allow", |c| cats.name(c)),
            rule_ref(rules, r)
        ),
        (None, Some(Category::NECESSARY)) => "consent cookie of a configured source".to_owned(),
        (None, Some(c)) => format!(
            "unknown cookie treated as {} (unknown_cookies)",
            cats.name(c)
        ),
        (None, None) => "unknown cookie, kept (unknown_cookies = allow)".to_owned(),
    }
}

/// The request cookies, each kept or stripped as the plan says.
fn describe_request_cookies(out: &mut String, config: &Config, plan: &RequestPlan, jar: &Jar<'_>) {
    let _ = writeln!(out, "request cookies (sent to the origin only if kept):");
    for pair in jar.pairs() {
        let name = String::from_utf8_lossy(pair.name);
        let stripped = plan
            .events
            .iter()
            .any(|e| matches!(e, Event::RequestCookieStripped { name: n, .. } if *n == name));
        let verb = match (stripped, plan.enforces()) {
            (false, _) => "keep",
            (true, true) => "STRIP",
            (true, false) => "would STRIP (report-only)",
        };
        let why = cookie_reason(&plan.rules, config, plan, pair.name);
        let _ = writeln!(out, "  {name}: {verb}: {why}");
    }
}

/// The `Set-Cookie` lines of the response, and the withdrawal lines it gets.
fn describe_response_cookies(
    out: &mut String,
    config: &Config,
    plan: &RequestPlan,
    set_cookies: &[String],
) {
    let raw: Vec<&[u8]> = set_cookies.iter().map(String::as_bytes).collect();
    let filter = match plan::filter_set_cookies(config, plan, &raw) {
        Ok(f) => f,
        Err(Event::TooManySetCookies { count, limit }) => {
            let _ = writeln!(
                out,
                "response: refused with 502: {count} Set-Cookie lines exceed max_set_cookie_headers={limit}"
            );
            return;
        }
        Err(_) => return,
    };
    let cats = plan.rules.categories();
    if !set_cookies.is_empty() {
        let _ = writeln!(out, "response Set-Cookie:");
    }
    for e in &filter.events {
        if let Event::SetCookie {
            name,
            category,
            rule,
            action,
            ..
        } = e
        {
            let verb = match action {
                SetCookieAction::Kept => "keep",
                SetCookieAction::Stripped => "STRIP",
                SetCookieAction::WouldStrip => "would STRIP (report-only)",
            };
            let why = match rule {
                Some(r) => format!("{} by {r}", category.map_or("allow", |c| cats.name(c))),
                None => "no rule (unknown_cookies policy)".to_owned(),
            };
            let _ = writeln!(out, "  {name}: {verb}: {why}");
        }
    }
    if !filter.added.is_empty() {
        let _ = writeln!(
            out,
            "withdrawals (cookies sent without consent are expired):"
        );
        for line in &filter.added {
            let _ = writeln!(out, "  response adds Set-Cookie: {line}");
        }
    }
}

/// What happens to the request itself: answered by the proxy, or passed to the origin.
fn describe_answer(out: &mut String, plan: &RequestPlan, path: &str) -> bool {
    let cats = plan.rules.categories();
    for e in &plan.events {
        if let Event::PathBlocked {
            category,
            rule,
            enforced,
            ..
        } = e
        {
            let verb = if *enforced {
                "BLOCKED: answered 204 No Content, never sent to the origin"
            } else {
                "would be BLOCKED (report-only: sent to the origin)"
            };
            let _ = writeln!(
                out,
                "request {path}: {verb}; {} by path rule {rule}",
                cats.name(*category)
            );
        }
    }
    match &plan.answer {
        Some(Answer::ConsentEndpoint { rest }) => {
            let _ = writeln!(
                out,
                "request {path}: answered by the consent endpoint ({rest}); never sent to the origin"
            );
            true
        }
        Some(Answer::PathBlocked) => true,
        None => false,
    }
}

/// Explains a query against an engine's configuration and rules.
pub fn explain(engine: &Engine, q: &Query) -> String {
    let mut out = String::new();
    let config = &engine.config;
    let Some(target) = html::url::target(&q.url) else {
        return format!("{}: not an absolute http(s) URL\n", q.url);
    };
    let Some(index) = config.site_index(&target.host) else {
        return format!(
            "{}: no site serves host {} (the proxy answers 404)\n",
            q.url, target.host
        );
    };
    let Some(site) = config.sites.get(index) else {
        return String::new();
    };
    let mode = match site.mode {
        Mode::Enforce => "enforce",
        Mode::ReportOnly => "report-only (nothing is changed; actions are counted as would_*)",
        Mode::Off => "off (plain proxy: nothing below applies)",
    };
    let _ = writeln!(
        out,
        "site {} (mode {mode}), rules generation {}",
        site.name,
        engine.generation()
    );
    if site.mode == Mode::Off {
        return out;
    }
    let path = target.path.split(['?', '#']).next().unwrap_or("/");
    let cookie = q.cookie.clone().unwrap_or_default();
    let facts = RequestFacts {
        host: &target.host,
        path,
        cookie_headers: vec![cookie.as_bytes()],
        gpc: q.gpc,
        country: q.country.as_deref().map(str::as_bytes),
        region: q.region.as_deref().map(str::as_bytes),
    };
    let plan = plan::plan_request(config, index, engine.rules_for(index), &facts);
    let rules = Arc::clone(&plan.rules);
    describe_consent(&mut out, &rules, &plan.consent);
    if describe_answer(&mut out, &plan, path) {
        return out;
    }
    let jar = Jar::parse([cookie.as_bytes()]);
    if !jar.is_empty() {
        describe_request_cookies(&mut out, config, &plan, &jar);
    }
    describe_response_cookies(&mut out, config, &plan, &q.set_cookies);
    let page = plan.page.clone().unwrap_or_else(|| Page {
        rules: Arc::clone(&rules),
        allowed: plan.consent.allowed,
        site: html::url::site_of(&target.host).to_owned(),
        report_only: site.mode == Mode::ReportOnly,
        tcf_vendors: plan.consent.tcf_vendors.clone(),
    });
    if !q.resources.is_empty() {
        let _ = writeln!(out, "resources on this page:");
        for r in &q.resources {
            describe_resource(&mut out, &page, r);
        }
    }
    if let Some(doc) = &q.html {
        describe_html(&mut out, engine, &plan, doc);
    }
    let denied = plan
        .consent
        .denied
        .difference(CategorySet::only(Category::NECESSARY));
    if denied.is_empty() {
        let _ = writeln!(
            out,
            "nothing is denied: every response passes through untouched"
        );
    }
    out
}

/// The rewrite of an HTML document under the plan.
fn describe_html(out: &mut String, engine: &Engine, plan: &RequestPlan, doc: &str) {
    let Some(page) = plan.page.clone() else {
        let _ = writeln!(
            out,
            "html: passed through untouched (consent denies no category that rules can block)"
        );
        return;
    };
    let cats = plan.rules.categories();
    match html::rewrite_all(page, &engine.selectors, doc.as_bytes()) {
        Ok((rewritten, stats)) => {
            let _ = writeln!(out, "html: {} element(s) neutralized", stats.total());
            for a in &stats.actions {
                let _ = writeln!(
                    out,
                    "  {} ({}, {}): {} by {}",
                    a.kind.label(),
                    cats.name(a.category),
                    a.vendor,
                    a.target,
                    a.rule
                );
            }
            let _ = writeln!(
                out,
                "--- rewritten html ---\n{}",
                String::from_utf8_lossy(&rewritten)
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "html: rewriting fails ({e}); the response would be aborted (on_error)"
            );
        }
    }
}
