//! What a page is and what its visitor consented to: the per-URL blocking decision the
//! rewriter, the `Link` header filter and `explain` share, and the record of what was done.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::url;
use crate::category::{Category, CategorySet};
use crate::rules::{RuleInfo, Rules, Verdict, loads_near};

/// What kind of element was neutralized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `<script src>`
    Script,
    /// inline `<script>`
    InlineScript,
    /// `<iframe src>`
    Iframe,
    /// `<img>` / `<source>` (pixels)
    Img,
    /// `<link rel=preconnect|...>`
    Link,
    /// `<noscript>` with a tracker inside
    Noscript,
    /// An entry of a `Link:` response header
    LinkHeader,
    /// An inline event handler (`onload=...`) or `javascript:` URL
    InlineHandler,
    /// A `url()` or `@import` in CSS, or a `<link rel=stylesheet>`
    Css,
}

impl Kind {
    /// Every kind, for metrics documentation and tests.
    pub const ALL: [Kind; 9] = [
        Kind::Script,
        Kind::InlineScript,
        Kind::Iframe,
        Kind::Img,
        Kind::Link,
        Kind::Noscript,
        Kind::LinkHeader,
        Kind::InlineHandler,
        Kind::Css,
    ];

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::InlineScript => "inline_script",
            Kind::Iframe => "iframe",
            Kind::Img => "img",
            Kind::Link => "link",
            Kind::Noscript => "noscript",
            Kind::LinkHeader => "link_header",
            Kind::InlineHandler => "inline_handler",
            Kind::Css => "css",
        }
    }
}

/// One neutralization, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Element kind.
    pub kind: Kind,
    /// Category denied.
    pub category: Category,
    /// Vendor of the rule.
    pub vendor: String,
    /// `file:line` of the rule.
    pub rule: String,
    /// The URL, or the signature for inline scripts.
    pub target: String,
}

/// Most actions kept per response for the audit log; counts are always complete.
pub const MAX_AUDITED_ACTIONS: usize = 256;

/// What a rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Count by kind and category.
    pub counts: BTreeMap<(Kind, Category), u64>,
    /// The first [`MAX_AUDITED_ACTIONS`] actions.
    pub actions: Vec<Action>,
}

impl Stats {
    /// Records one action.
    pub fn record(&mut self, action: Action) {
        *self
            .counts
            .entry((action.kind, action.category))
            .or_default() += 1;
        if self.actions.len() < MAX_AUDITED_ACTIONS {
            self.actions.push(action);
        }
    }

    /// Total elements neutralized.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Adds another set of stats.
    pub fn merge(&mut self, other: Stats) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        for a in other.actions {
            if self.actions.len() < MAX_AUDITED_ACTIONS {
                self.actions.push(a);
            }
        }
    }
}

/// What the page is and what its visitor consented to.
#[derive(Debug, Clone)]
pub struct Page {
    /// The rules snapshot of the request.
    pub rules: Arc<Rules>,
    /// Categories the visitor allows.
    pub allowed: CategorySet,
    /// Registrable domain of the page (first party).
    pub site: String,
    /// Count only, change nothing.
    pub report_only: bool,
    /// Vendors consented in the deciding TC string, when rules naming a TCF vendor need it.
    pub tcf_vendors: Option<Arc<[u32]>>,
}

impl Page {
    /// Whether what `rule` classifies may load: its category is allowed and, when required, its
    /// TCF vendor has consent.
    pub fn permits(&self, rule: &RuleInfo) -> bool {
        rule.permitted(self.allowed, self.tcf_vendors.as_deref())
    }

    /// The rule that blocks a URL on this page, if any. First-party URLs are blocked only by a
    /// rule that names a host below the site's registrable domain (e.g. `metrics.example.com`).
    pub fn blocking_rule(&self, raw_url: &str) -> Option<&RuleInfo> {
        let target = url::target(raw_url)?;
        self.blocking_host(&target.host, &target.path)
    }

    /// The rule that blocks fetching `path` from `host` (lower-case) on this page, if any.
    pub fn blocking_host(&self, host: &str, path: &str) -> Option<&RuleInfo> {
        let Verdict::Classified(rule) = self.rules.resource(host, path) else {
            return None;
        };
        if self.permits(rule) {
            return None;
        }
        if url::site_of(host) == self.site {
            let rule_host = rule.pattern.split('/').next().unwrap_or_default();
            if rule_host.len() <= self.site.len() {
                return None;
            }
        }
        Some(rule)
    }

    /// A page of `example.com` under rules compiled from `rules` (unit tests).
    #[cfg(test)]
    pub(crate) fn for_test(rules: &str, allowed: CategorySet) -> Page {
        let categories = crate::category::Categories::default();
        let rules = Rules::compile(&[("rules.toml", rules)], &categories)
            .unwrap_or_else(|e| unreachable!("test rules: {e}"));
        Page {
            rules: Arc::new(rules),
            allowed: allowed.union(CategorySet::only(Category::NECESSARY)),
            site: "example.com".into(),
            report_only: false,
            tcf_vendors: None,
        }
    }

    /// Why executable inline code (a script, an event handler, a `javascript:` URL) must not
    /// run: a denied signature, or else the first host of a denied resource rule it names near
    /// a construct that fetches (the vendors' loader snippets build their script URL from it
    /// and insert it; a share link that only names the host is left alone). Returns the rule
    /// and what matched (the signature, or the host and path).
    pub fn inline_rule(&self, code: &str) -> Option<(&RuleInfo, String)> {
        if let Some(rule) = self.signature(code) {
            return Some((rule, rule.pattern.to_string()));
        }
        self.rules.host_mentions(code).find_map(|m| {
            if !loads_near(code, m.at) && !names_script(code, &m) {
                return None;
            }
            let path = if m.path.is_empty() { "/" } else { m.path };
            self.blocking_host(&m.host, path)
                .map(|rule| (rule, format!("{}{}", m.host, m.path)))
        })
    }

    /// The first denied signature in an inline script.
    pub fn signature(&self, text: &str) -> Option<&RuleInfo> {
        self.rules.signature(text).filter(|r| !self.permits(r))
    }

    /// The rule blocking any candidate of a `srcset` value.
    pub fn srcset_rule(&self, srcset: &str) -> Option<&RuleInfo> {
        srcset
            .split(',')
            .filter_map(|candidate| candidate.split_whitespace().next())
            .find_map(|u| self.blocking_rule(u))
    }
}

/// Whether a host mention is the URL of a script (`//host/path/x.js`, any scheme, slashes
/// escaped or not): written in a page's configuration for a first-party loader to insert.
fn names_script(code: &str, m: &crate::rules::Mention<'_>) -> bool {
    let before = code.get(..m.at).unwrap_or_default();
    let after = code.get(m.at + m.host.len()..).unwrap_or_default();
    let end = after
        .find(|c: char| {
            matches!(c, '"' | '\'' | '`' | '?' | '#' | ')' | ',' | ';') || c.is_whitespace()
        })
        .unwrap_or(after.len());
    let path = &after[..end];
    (before.ends_with("//") || before.ends_with("\\/\\/"))
        && (path.starts_with('/') || path.starts_with("\\/"))
        && path.ends_with(".js")
}
