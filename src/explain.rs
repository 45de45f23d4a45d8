//! `consent-gate explain`: what consent-gate would do with a request and its response, and
//! which rule (`file:line`) decided each action. Nothing here touches the network.

use std::fmt::Write as _;

use crate::category::{Category, CategorySet};
use crate::config::Mode;
use crate::consent::{Consent, RequestSignals, SourceKind};
use crate::cookies::{self, jar::Jar};
use crate::engine::Engine;
use crate::html::{self, Page};
use crate::rules::{RuleInfo, Rules, Verdict};

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
    let rules = engine.rules_for(index);
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
    let cookie = q.cookie.clone().unwrap_or_default();
    let jar = Jar::parse([cookie.as_bytes()]);
    let consent = config.policy.evaluate(RequestSignals {
        jar: &jar,
        gpc: q.gpc,
        country: q.country.as_deref().map(str::as_bytes),
        region: q.region.as_deref().map(str::as_bytes),
    });
    describe_consent(&mut out, &rules, &consent);
    let cats = rules.categories();
    let policy = &config.policy;

    if !jar.is_empty() {
        let _ = writeln!(out, "request cookies (sent to the origin only if kept):");
        for pair in jar.pairs() {
            let name = String::from_utf8_lossy(pair.name);
            let d = cookies::decide(pair.name, &rules, policy, site.unknown_cookies, &consent);
            let why = match (d.rule, d.category) {
                (Some(r), _) => format!(
                    "{} by {}",
                    d.category.map_or("allow", |c| cats.name(c)),
                    rule_ref(&rules, r)
                ),
                (None, Some(Category::NECESSARY)) => {
                    "consent cookie of a configured source".to_owned()
                }
                (None, Some(c)) => format!(
                    "unknown cookie treated as {} (unknown_cookies)",
                    cats.name(c)
                ),
                (None, None) => "unknown cookie, kept (unknown_cookies = allow)".to_owned(),
            };
            let verb = if d.keep { "keep" } else { "STRIP" };
            let _ = writeln!(out, "  {name}: {verb}: {why}");
            if !d.keep {
                let domain = cookies::cookie_domain(&target.host);
                for line in cookies::withdrawal_lines(&name, domain.as_deref(), &[]) {
                    let _ = writeln!(out, "      response adds Set-Cookie: {line}");
                }
            }
        }
    }
    if !q.set_cookies.is_empty() {
        let _ = writeln!(out, "response Set-Cookie:");
        for v in &q.set_cookies {
            let name = cookies::set_cookie_name(v.as_bytes());
            let d = cookies::decide(name, &rules, policy, site.unknown_cookies, &consent);
            let why = match d.rule {
                Some(r) => format!(
                    "{} by {}",
                    d.category.map_or("allow", |c| cats.name(c)),
                    rule_ref(&rules, r)
                ),
                None => "no rule (unknown_cookies policy)".to_owned(),
            };
            let verb = if d.keep { "keep" } else { "STRIP" };
            let _ = writeln!(out, "  {}: {verb}: {why}", String::from_utf8_lossy(name));
        }
    }
    let page = Page {
        rules: rules.clone(),
        allowed: consent.allowed,
        site: html::url::site_of(&target.host).to_owned(),
        report_only: false,
        tcf_vendors: consent.tcf_vendors.clone(),
    };
    if !q.resources.is_empty() {
        let _ = writeln!(out, "resources on this page:");
        for r in &q.resources {
            describe_resource(&mut out, &page, r);
        }
    }
    if let Some(doc) = &q.html {
        let rewrites = !consent.denied.intersection(rules.blockable()).is_empty();
        if !rewrites {
            let _ = writeln!(
                out,
                "html: passed through untouched (consent denies no category that rules can block)"
            );
        } else {
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
    }
    let denied = consent
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
