//! Reading a visitor's consent: every configured source, the jurisdiction policy that settles
//! what no source decided, and Global Privacy Control on top.
//!
//! The result is a [`Consent`]: the set of categories the request may use. Nothing here does
//! I/O; a malformed or oversized consent cookie is "no decision" from that source, recorded in
//! [`Consent::failures`], never an error.

pub mod cookiebot;
pub mod onetrust;
pub mod own;

use std::collections::HashMap;

use crate::category::{Categories, Category, CategorySet};
use crate::cookies::jar::Jar;

/// A consent source that can be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// consent-gate's own cookie.
    ConsentGate,
    /// OneTrust `OptanonConsent`.
    OneTrust,
    /// Cookiebot `CookieConsent`.
    Cookiebot,
    /// The `Sec-GPC: 1` request header.
    Gpc,
}

impl SourceKind {
    /// Every source, for metrics initialisation.
    pub const ALL: [SourceKind; 4] = [
        SourceKind::ConsentGate,
        SourceKind::OneTrust,
        SourceKind::Cookiebot,
        SourceKind::Gpc,
    ];

    /// The name used in config, logs and metric labels.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::ConsentGate => "consent-gate",
            SourceKind::OneTrust => "onetrust",
            SourceKind::Cookiebot => "cookiebot",
            SourceKind::Gpc => "gpc",
        }
    }

    /// The source with this config name.
    pub fn from_label(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.label() == s)
    }
}

/// What one source said about the categories it knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signal {
    /// Categories the visitor accepted.
    pub granted: CategorySet,
    /// Categories the visitor refused.
    pub denied: CategorySet,
}

impl Signal {
    /// Records one decision; a refusal beats an acceptance of the same category.
    pub fn record(&mut self, c: Category, granted: bool) {
        if c == Category::NECESSARY {
            return;
        }
        if granted {
            if !self.denied.contains(c) {
                self.granted.insert(c);
            }
        } else {
            self.granted.remove(c);
            self.denied.insert(c);
        }
    }

    fn decided(&self) -> CategorySet {
        self.granted.union(self.denied)
    }

    fn into_outcome(self) -> Outcome {
        if self.decided().is_empty() {
            Outcome::Absent
        } else {
            Outcome::Decided(self)
        }
    }
}

/// The result of reading one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The source is not present on the request or decides nothing.
    Absent,
    /// The source decided some categories.
    Decided(Signal),
    /// The source is present but malformed, oversized or not UTF-8.
    Failed,
}

/// Opt-in (undecided = denied) or opt-out (undecided = granted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regime {
    /// GDPR / ePrivacy style: nothing without consent.
    OptIn,
    /// CCPA/CPRA style: allowed until the visitor objects.
    OptOut,
}

impl Regime {
    /// Config and metric label.
    pub fn label(self) -> &'static str {
        match self {
            Regime::OptIn => "opt-in",
            Regime::OptOut => "opt-out",
        }
    }
}

/// How decisions of several sources combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precedence {
    /// For each category, the first source in the configured order that decides it wins.
    #[default]
    FirstDecides,
    /// Any source that denies a category denies it.
    MostRestrictive,
}

/// Maps the visitor's country (and region) to a regime.
#[derive(Debug, Clone)]
pub struct Jurisdictions {
    /// Header holding an ISO 3166-1 country code (e.g. `CF-IPCountry`).
    pub country_header: Option<http::HeaderName>,
    /// Header holding a region code, `CA` or `US-CA`.
    pub region_header: Option<http::HeaderName>,
    /// Upper-case `CC` or `CC-RR` -> regime.
    pub regimes: HashMap<String, Regime>,
    /// Regime when the headers are missing or not listed.
    pub default: Regime,
}

impl Default for Jurisdictions {
    fn default() -> Self {
        Jurisdictions {
            country_header: None,
            region_header: None,
            regimes: HashMap::new(),
            default: Regime::OptIn,
        }
    }
}

fn code(raw: Option<&[u8]>) -> Option<String> {
    let raw = std::str::from_utf8(raw?).ok()?.trim();
    let ok = !raw.is_empty()
        && raw.len() <= 16
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| raw.to_ascii_uppercase())
}

impl Jurisdictions {
    /// The regime for the given header values; bad or unknown codes get the default.
    pub fn regime(&self, country: Option<&[u8]>, region: Option<&[u8]>) -> Regime {
        let country = code(country);
        if let (Some(c), Some(r)) = (&country, code(region)) {
            let key = if r.contains('-') {
                r
            } else {
                format!("{c}-{r}")
            };
            if let Some(&regime) = self.regimes.get(&key) {
                return regime;
            }
        }
        country
            .and_then(|c| self.regimes.get(&c).copied())
            .unwrap_or(self.default)
    }
}

/// Everything needed to evaluate consent, compiled from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Known categories.
    pub categories: Categories,
    /// Sources in priority order.
    pub sources: Vec<SourceKind>,
    /// How sources combine.
    pub precedence: Precedence,
    /// Consent cookies larger than this are ignored (and counted).
    pub max_cookie_bytes: usize,
    /// Name of consent-gate's own cookie.
    pub own_cookie: String,
    /// OneTrust cookie name.
    pub onetrust_cookie: String,
    /// OneTrust group id -> category.
    pub onetrust_groups: HashMap<String, Category>,
    /// Cookiebot cookie name.
    pub cookiebot_cookie: String,
    /// Whether Cookiebot's `-1` (no consent required here) grants everything.
    pub cookiebot_honor_no_consent_required: bool,
    /// Country/region -> regime.
    pub jurisdictions: Jurisdictions,
    /// Categories `Sec-GPC: 1` denies.
    pub gpc_denies: CategorySet,
    /// Whether GPC also applies in opt-in regions (over an explicit grant).
    pub gpc_in_opt_in: bool,
}

impl Default for Policy {
    fn default() -> Self {
        let groups = [
            ("C0001", Category::NECESSARY),
            ("C0002", Category::ANALYTICS),
            ("C0003", Category::FUNCTIONAL),
            ("C0004", Category::MARKETING),
            ("C0005", Category::MARKETING),
        ];
        Policy {
            categories: Categories::default(),
            sources: vec![
                SourceKind::ConsentGate,
                SourceKind::OneTrust,
                SourceKind::Cookiebot,
                SourceKind::Gpc,
            ],
            precedence: Precedence::FirstDecides,
            max_cookie_bytes: 4096,
            own_cookie: own::DEFAULT_COOKIE.to_owned(),
            onetrust_cookie: "OptanonConsent".to_owned(),
            onetrust_groups: groups.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            cookiebot_cookie: "CookieConsent".to_owned(),
            cookiebot_honor_no_consent_required: false,
            jurisdictions: Jurisdictions::default(),
            gpc_denies: CategorySet::only(Category::MARKETING),
            gpc_in_opt_in: false,
        }
    }
}

/// The consent-relevant parts of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestSignals<'a, 'j> {
    /// The request's cookies.
    pub jar: &'j Jar<'a>,
    /// Whether a `Sec-GPC` field is exactly `1`.
    pub gpc: bool,
    /// Country header value.
    pub country: Option<&'a [u8]>,
    /// Region header value.
    pub region: Option<&'a [u8]>,
}

/// The consent that applies to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Categories the request may use (always includes necessary).
    pub allowed: CategorySet,
    /// Categories it may not.
    pub denied: CategorySet,
    /// Jurisdiction regime applied.
    pub regime: Regime,
    /// First source (in priority order) that decided something.
    pub source: Option<SourceKind>,
    /// Whether `Sec-GPC: 1` was sent.
    pub gpc: bool,
    /// Sources present but unreadable.
    pub failures: Vec<SourceKind>,
}

impl Consent {
    /// Whether category `c` may be used.
    pub fn allows(&self, c: Category) -> bool {
        self.allowed.contains(c)
    }

    /// Consent that allows everything (mode `off`).
    pub fn allow_all(categories: &Categories) -> Self {
        Consent {
            allowed: categories.all(),
            denied: CategorySet::EMPTY,
            regime: Regime::OptOut,
            source: None,
            gpc: false,
            failures: Vec::new(),
        }
    }
}

impl Policy {
    /// Whether `name` is the cookie of a configured consent source: those are never stripped,
    /// or the visitor's choice would be lost.
    pub fn is_consent_cookie(&self, name: &[u8]) -> bool {
        self.sources.iter().any(|s| match s {
            SourceKind::ConsentGate => name == self.own_cookie.as_bytes(),
            SourceKind::OneTrust => name == self.onetrust_cookie.as_bytes(),
            SourceKind::Cookiebot => name == self.cookiebot_cookie.as_bytes(),
            SourceKind::Gpc => false,
        })
    }

    fn read_cookie(
        &self,
        jar: &Jar<'_>,
        name: &str,
        parse: impl FnOnce(&str) -> Outcome,
    ) -> Outcome {
        let Some(raw) = jar.get(name) else {
            return Outcome::Absent;
        };
        if raw.len() > self.max_cookie_bytes {
            return Outcome::Failed;
        }
        match std::str::from_utf8(raw) {
            Ok(s) => parse(s),
            Err(_) => Outcome::Failed,
        }
    }

    fn read(&self, source: SourceKind, jar: &Jar<'_>) -> Outcome {
        match source {
            SourceKind::ConsentGate => {
                self.read_cookie(jar, &self.own_cookie, |v| own::parse(v, &self.categories))
            }
            SourceKind::OneTrust => self.read_cookie(jar, &self.onetrust_cookie, |v| {
                onetrust::parse(v, &self.onetrust_groups)
            }),
            SourceKind::Cookiebot => self.read_cookie(jar, &self.cookiebot_cookie, |v| {
                cookiebot::parse(v, self.cookiebot_honor_no_consent_required)
            }),
            // GPC is applied on top of the combined decision, below.
            SourceKind::Gpc => Outcome::Absent,
        }
    }

    /// Evaluates consent for one request.
    pub fn evaluate(&self, req: RequestSignals<'_, '_>) -> Consent {
        let mut granted = CategorySet::EMPTY;
        let mut denied = CategorySet::EMPTY;
        let mut source = None;
        let mut failures = Vec::new();
        for &kind in &self.sources {
            match self.read(kind, req.jar) {
                Outcome::Absent => {}
                Outcome::Failed => failures.push(kind),
                Outcome::Decided(s) => {
                    source.get_or_insert(kind);
                    match self.precedence {
                        Precedence::FirstDecides => {
                            let open = self.categories.all().difference(granted.union(denied));
                            granted = granted.union(s.granted.intersection(open));
                            denied = denied.union(s.denied.intersection(open));
                        }
                        Precedence::MostRestrictive => {
                            denied = denied.union(s.denied);
                            granted = granted.union(s.granted).difference(denied);
                        }
                    }
                }
            }
        }
        let regime = self.jurisdictions.regime(req.country, req.region);
        let undecided = self.categories.all().difference(granted.union(denied));
        let mut allowed = match regime {
            Regime::OptIn => granted,
            Regime::OptOut => granted.union(undecided),
        };
        let gpc_counts = req.gpc && self.sources.contains(&SourceKind::Gpc);
        if gpc_counts && (regime == Regime::OptOut || self.gpc_in_opt_in) {
            allowed = allowed.difference(self.gpc_denies);
            if source.is_none() && !self.gpc_denies.is_empty() {
                source = Some(SourceKind::Gpc);
            }
        }
        allowed.insert(Category::NECESSARY);
        Consent {
            allowed,
            denied: self.categories.all().difference(allowed),
            regime,
            source,
            gpc: req.gpc,
            failures,
        }
    }
}

/// Whether a set of `Sec-GPC` field values means "GPC on": at least one is exactly `1`.
pub fn gpc_enabled<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().any(|v| v == b"1")
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Strict percent-decoding: `None` on a broken escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<String> {
    decode(s, false)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
pub fn form_decode(s: &str) -> Option<String> {
    decode(s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(policy: &Policy, cookies: &str, gpc: bool, country: Option<&str>) -> Consent {
        let jar = Jar::parse([cookies.as_bytes()]);
        policy.evaluate(RequestSignals {
            jar: &jar,
            gpc,
            country: country.map(str::as_bytes),
            region: None,
        })
    }

    fn us_opt_out() -> Policy {
        let mut p = Policy::default();
        p.jurisdictions.country_header = Some(http::HeaderName::from_static("cf-ipcountry"));
        p.jurisdictions.regimes.insert("US".into(), Regime::OptOut);
        p
    }

    #[test]
    fn no_consent_in_opt_in_allows_only_necessary() {
        let c = eval(&Policy::default(), "sid=1", false, None);
        assert_eq!(c.allowed, CategorySet::only(Category::NECESSARY));
        assert_eq!(c.source, None);
        assert!(c.denied.contains(Category::ANALYTICS));
    }

    #[test]
    fn onetrust_partial_consent() {
        let c = eval(
            &Policy::default(),
            "OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0004%3A0",
            false,
            None,
        );
        assert!(c.allows(Category::ANALYTICS));
        assert!(!c.allows(Category::MARKETING));
        assert!(
            !c.allows(Category::FUNCTIONAL),
            "undecided functional stays denied in opt-in"
        );
        assert_eq!(c.source, Some(SourceKind::OneTrust));
    }

    #[test]
    fn opt_out_regions_grant_undecided_and_gpc_denies_marketing() {
        let p = us_opt_out();
        let c = eval(&p, "", false, Some("us"));
        assert_eq!(c.allowed, p.categories.all());
        assert_eq!(c.regime, Regime::OptOut);
        let c = eval(&p, "", true, Some("US"));
        assert!(!c.allows(Category::MARKETING));
        assert!(c.allows(Category::ANALYTICS));
        assert_eq!(c.source, Some(SourceKind::Gpc));
        // Germany is not listed: opt-in default; GPC changes nothing there by default.
        let c = eval(&p, "", true, Some("DE"));
        assert_eq!(c.allowed, CategorySet::only(Category::NECESSARY));
    }

    #[test]
    fn gpc_over_explicit_grant_only_when_configured() {
        let mut p = Policy::default();
        let all = "consent_gate=v1.functional:1.analytics:1.marketing:1";
        assert!(eval(&p, all, true, None).allows(Category::MARKETING));
        p.gpc_in_opt_in = true;
        assert!(!eval(&p, all, true, None).allows(Category::MARKETING));
    }

    #[test]
    fn first_source_decides_each_category_unless_most_restrictive() {
        let mut p = Policy::default();
        let cookies = "consent_gate=v1.analytics:1; CookieConsent={statistics:false,marketing:true,preferences:false}";
        let c = eval(&p, cookies, false, None);
        assert!(c.allows(Category::ANALYTICS), "own cookie comes first");
        assert!(
            c.allows(Category::MARKETING),
            "cookiebot decides what the own cookie left open"
        );
        assert_eq!(c.source, Some(SourceKind::ConsentGate));
        p.precedence = Precedence::MostRestrictive;
        let c = eval(&p, cookies, false, None);
        assert!(!c.allows(Category::ANALYTICS));
        assert!(c.allows(Category::MARKETING));
    }

    #[test]
    fn broken_and_oversized_cookies_are_failures_not_errors() {
        let p = Policy::default();
        let big = format!("OptanonConsent=groups={}", "C0002%3A1%2C".repeat(500));
        let c = eval(&p, &big, false, None);
        assert_eq!(c.failures, [SourceKind::OneTrust]);
        assert_eq!(c.allowed, CategorySet::only(Category::NECESSARY));
        let jar = Jar::parse([&b"CookieConsent=\xff\xfe"[..]]);
        let c = p.evaluate(RequestSignals {
            jar: &jar,
            gpc: false,
            country: None,
            region: None,
        });
        assert_eq!(c.failures, [SourceKind::Cookiebot]);
    }

    #[test]
    fn split_cookie_headers_are_all_read() {
        let p = Policy::default();
        let jar = Jar::parse([&b"sid=1"[..], b"OptanonConsent=groups=C0002%3A1"]);
        let c = p.evaluate(RequestSignals {
            jar: &jar,
            gpc: false,
            country: None,
            region: None,
        });
        assert!(c.allows(Category::ANALYTICS));
    }

    #[test]
    fn regions_and_bad_codes() {
        let mut j = Jurisdictions::default();
        j.regimes.insert("US-CA".into(), Regime::OptOut);
        j.regimes.insert("FR".into(), Regime::OptIn);
        j.default = Regime::OptOut;
        assert_eq!(j.regime(Some(b"US"), Some(b"CA")), Regime::OptOut);
        assert_eq!(j.regime(Some(b"US"), Some(b"us-ca")), Regime::OptOut);
        assert_eq!(j.regime(Some(b"FR"), None), Regime::OptIn);
        assert_eq!(j.regime(Some(b"<script>"), None), Regime::OptOut);
        assert_eq!(j.regime(None, None), Regime::OptOut);
    }

    #[test]
    fn gpc_is_exactly_one() {
        assert!(gpc_enabled([&b"0"[..], b"1"]));
        for v in [&b"1 "[..], b" 1", b"true", b"01", b""] {
            assert!(!gpc_enabled([v]), "{v:?}");
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(form_decode("a+b%2C").as_deref(), Some("a b,"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
