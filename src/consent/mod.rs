//! Reading a visitor's consent: every configured source, the jurisdiction policy that settles
//! what no source decided, and Global Privacy Control on top.
//!
//! The result is a [`Consent`]: the set of categories the request may use. Nothing here does
//! I/O; a malformed or oversized consent cookie is "no decision" from that source, recorded in
//! [`Consent::failures`], never an error.

pub mod bits;
pub mod cookiebot;
pub mod endpoint;
pub mod onetrust;
pub mod own;
pub mod tcf;
pub mod tools;
pub mod us;

use std::collections::HashMap;
use std::sync::Arc;

use crate::category::{Categories, Category, CategorySet};
use crate::wire::cookie_header::Jar;

/// A consent source that can be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// consent-gate's own cookie.
    ConsentGate,
    /// OneTrust `OptanonConsent`.
    OneTrust,
    /// Cookiebot `CookieConsent`.
    Cookiebot,
    /// IAB TCF v2.2 `euconsent-v2`.
    Tcf,
    /// IAB GPP `__gpp` (with `__gpp_sid`).
    Gpp,
    /// IAB CCPA `usprivacy`.
    UsPrivacy,
    /// Klaro `klaro`.
    Klaro,
    /// orestbida cookieconsent `cc_cookie`.
    CookieConsent,
    /// The `Sec-GPC: 1` request header.
    Gpc,
}

impl SourceKind {
    /// Every source, in the default priority order (the order of [`SOURCES`]).
    pub fn all() -> impl Iterator<Item = SourceKind> {
        SOURCES.iter().map(|d| d.kind)
    }

    /// This source's row of [`SOURCES`].
    pub fn def(self) -> &'static SourceDef {
        // The table lists every kind in declaration order (a unit test checks it).
        SOURCES.get(self as usize).unwrap_or(&GPC)
    }

    /// The name used in config, logs and metric labels.
    pub fn label(self) -> &'static str {
        self.def().label
    }

    /// The source with this config name.
    pub fn from_label(s: &str) -> Option<Self> {
        SOURCES.iter().find(|d| d.label == s).map(|d| d.kind)
    }
}

/// One consent source: how it is named, which cookies carry it, and how they are read.
#[derive(Debug)]
pub struct SourceDef {
    /// The source.
    pub kind: SourceKind,
    /// Name in config, logs and metric labels.
    pub label: &'static str,
    /// Default names of its cookies: the consent cookie first, then any companion cookie (GPP's
    /// applicable sections). Each can be renamed in the config.
    pub cookies: &'static [&'static str],
    /// Reads one value of the consent cookie; the jar gives access to companion cookies.
    pub read: fn(&Policy, &str, &Jar<'_>) -> Reading,
}

/// What reading one consent cookie value gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The decision.
    pub outcome: Outcome,
    /// Vendors with consent, when the source is a TC string and vendor consent is required.
    pub tcf_vendors: Option<Arc<[u32]>>,
}

impl From<Outcome> for Reading {
    fn from(outcome: Outcome) -> Self {
        Reading {
            outcome,
            tcf_vendors: None,
        }
    }
}

const GPC: SourceDef = SourceDef {
    kind: SourceKind::Gpc,
    label: "gpc",
    cookies: &[],
    // A header, applied on top of the combined decision by `Policy::evaluate`.
    read: |_, _, _| Outcome::Absent.into(),
};

/// Every source, one row each, in [`SourceKind`] declaration order. Adding a source is a module
/// with its parser and one row here.
pub static SOURCES: [SourceDef; 9] = [
    SourceDef {
        kind: SourceKind::ConsentGate,
        label: "consent-gate",
        cookies: &[own::DEFAULT_COOKIE],
        read: |p, v, _| own::parse(v, &p.categories).into(),
    },
    SourceDef {
        kind: SourceKind::OneTrust,
        label: "onetrust",
        cookies: &["OptanonConsent"],
        read: |p, v, _| onetrust::parse(v, &p.onetrust_groups).into(),
    },
    SourceDef {
        kind: SourceKind::Cookiebot,
        label: "cookiebot",
        cookies: &["CookieConsent"],
        read: |p, v, _| cookiebot::parse(v, p.cookiebot_honor_no_consent_required).into(),
    },
    SourceDef {
        kind: SourceKind::Tcf,
        label: "tcf",
        cookies: &["euconsent-v2"],
        read: |p, v, _| {
            let (outcome, tc) = tcf::parse(v, &p.tcf_requirements);
            let tcf_vendors = tc
                .filter(|_| p.tcf_require_vendor_consent)
                .map(|tc| tc.vendor_consents.into());
            Reading {
                outcome,
                tcf_vendors,
            }
        },
    },
    SourceDef {
        kind: SourceKind::Gpp,
        label: "gpp",
        cookies: &["__gpp", "__gpp_sid"],
        read: |p, v, jar| {
            let sid = p
                .cookie_names(SourceKind::Gpp)
                .get(1)
                .and_then(|name| jar.get(name))
                .and_then(|s| std::str::from_utf8(s).ok());
            us::parse_gpp(v, sid, &p.tcf_requirements).into()
        },
    },
    SourceDef {
        kind: SourceKind::UsPrivacy,
        label: "usprivacy",
        cookies: &["usprivacy"],
        read: |_, v, _| us::parse_usp(v).into(),
    },
    SourceDef {
        kind: SourceKind::Klaro,
        label: "klaro",
        cookies: &["klaro"],
        read: |p, v, _| tools::parse_klaro(v, &p.klaro_services).into(),
    },
    SourceDef {
        kind: SourceKind::CookieConsent,
        label: "cookieconsent",
        cookies: &["cc_cookie"],
        read: |p, v, _| tools::parse_cc_cookie(v, &p.cc_categories).into(),
    },
    GPC,
];

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
    /// Cookie names per source (indexed by [`SourceKind`]), defaults from [`SOURCES`].
    pub cookies: Vec<Vec<String>>,
    /// OneTrust group id -> category.
    pub onetrust_groups: HashMap<String, Category>,
    /// Whether Cookiebot's `-1` (no consent required here) grants everything.
    pub cookiebot_honor_no_consent_required: bool,
    /// Use OneTrust's `geolocation` as the visitor's country when no country header is set.
    pub onetrust_use_geolocation: bool,
    /// TCF purposes each category needs.
    pub tcf_requirements: Vec<tcf::Requirement>,
    /// Rules naming a TCF vendor also need that vendor's consent in the TC string.
    pub tcf_require_vendor_consent: bool,
    /// Klaro service -> category.
    pub klaro_services: HashMap<String, Category>,
    /// cookieconsent category name -> category.
    pub cc_categories: HashMap<String, Category>,
    /// Country/region -> regime.
    pub jurisdictions: Jurisdictions,
    /// Categories `Sec-GPC: 1` denies.
    pub gpc_denies: CategorySet,
    /// Whether GPC also applies in opt-in regions (over an explicit grant).
    pub gpc_in_opt_in: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            categories: Categories::default(),
            sources: SourceKind::all().collect(),
            precedence: Precedence::FirstDecides,
            max_cookie_bytes: DEFAULT_MAX_COOKIE_BYTES,
            cookies: SOURCES
                .iter()
                .map(|d| d.cookies.iter().map(|&c| c.to_owned()).collect())
                .collect(),
            onetrust_groups: onetrust::default_groups(),
            cookiebot_honor_no_consent_required: false,
            onetrust_use_geolocation: false,
            tcf_requirements: tcf::default_requirements(),
            tcf_require_vendor_consent: false,
            klaro_services: tools::default_klaro_services(),
            cc_categories: tools::default_cc_categories(),
            jurisdictions: Jurisdictions::default(),
            gpc_denies: CategorySet::only(Category::MARKETING),
            gpc_in_opt_in: false,
        }
    }
}

/// Consent cookies larger than this are "no decision" unless configured otherwise.
pub const DEFAULT_MAX_COOKIE_BYTES: usize = 4096;

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
    /// Vendors consented in a TC string that decided (sorted), when vendor consent is required.
    pub tcf_vendors: Option<std::sync::Arc<[u32]>>,
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
            tcf_vendors: None,
        }
    }

    /// Whether a rule's target may be used: its category is allowed and, when a TC string
    /// decided and vendor consent is required, the rule's TCF vendor has consent.
    pub fn allows_rule(&self, rule: &crate::rules::RuleInfo) -> bool {
        rule.permitted(self.allowed, self.tcf_vendors.as_deref())
    }
}

impl Policy {
    /// The cookie names of a source: its consent cookie first, then companions.
    pub fn cookie_names(&self, kind: SourceKind) -> &[String] {
        self.cookies.get(kind as usize).map_or(&[], Vec::as_slice)
    }

    /// The name of a source's consent cookie.
    pub fn cookie_name(&self, kind: SourceKind) -> &str {
        self.cookie_names(kind).first().map_or("", String::as_str)
    }

    /// Whether `name` is the cookie of a configured consent source: those are never stripped,
    /// or the visitor's choice would be lost.
    pub fn is_consent_cookie(&self, name: &[u8]) -> bool {
        self.sources
            .iter()
            .any(|&s| self.cookie_names(s).iter().any(|n| n.as_bytes() == name))
    }

    /// Reads one source. A consent cookie sent more than once (a stale copy on a parent domain
    /// or another path) is read in every copy, and the most restrictive reading wins: a category
    /// is granted only if every copy that decides grants it.
    fn read(&self, source: SourceKind, jar: &Jar<'_>) -> Reading {
        let def = source.def();
        let name = self.cookie_name(source);
        let mut readings = jar.get_all(name).map(|raw| {
            if raw.len() > self.max_cookie_bytes {
                return Outcome::Failed.into();
            }
            match std::str::from_utf8(raw) {
                Ok(v) => (def.read)(self, v, jar),
                Err(_) => Outcome::Failed.into(),
            }
        });
        let Some(first) = readings.next() else {
            return Outcome::Absent.into();
        };
        readings.fold(first, most_restrictive)
    }

    /// Evaluates consent for one request.
    pub fn evaluate(&self, req: RequestSignals<'_, '_>) -> Consent {
        let mut granted = CategorySet::EMPTY;
        let mut denied = CategorySet::EMPTY;
        let mut source = None;
        let mut failures = Vec::new();
        let mut tcf_vendors = None;
        for &kind in &self.sources {
            let reading = self.read(kind, req.jar);
            match reading.outcome {
                Outcome::Absent => {}
                Outcome::Failed => failures.push(kind),
                Outcome::Decided(s) => {
                    source.get_or_insert(kind);
                    if tcf_vendors.is_none() {
                        tcf_vendors = reading.tcf_vendors;
                    }
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
        let geolocation;
        let country = match req.country {
            None if self.onetrust_use_geolocation => {
                geolocation = self.onetrust_geolocation(req.jar);
                geolocation.as_deref().map(str::as_bytes)
            }
            c => c,
        };
        let regime = self.jurisdictions.regime(country, req.region);
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
            tcf_vendors,
        }
    }

    /// The country OneTrust recorded (`geolocation=JP;13`), if configured to be used.
    fn onetrust_geolocation(&self, jar: &Jar<'_>) -> Option<String> {
        let raw = std::str::from_utf8(jar.get(self.cookie_name(SourceKind::OneTrust))?).ok()?;
        let geo = raw
            .split('&')
            .find_map(|f| f.strip_prefix("geolocation="))?;
        let geo = crate::wire::percent::form_decode(geo)?;
        let country = geo.split(';').next()?.trim().to_owned();
        (!country.is_empty()).then_some(country)
    }
}

/// Two readings of copies of one consent cookie combined: a category is granted only when every
/// copy that decides grants it; one that any copy refuses, or that only some grant, is refused.
/// A broken copy does not void a readable one.
fn most_restrictive(a: Reading, b: Reading) -> Reading {
    let outcome = match (a.outcome, b.outcome) {
        (Outcome::Decided(x), Outcome::Decided(y)) => {
            let granted = x.granted.intersection(y.granted);
            let contested = x.granted.union(y.granted).difference(granted);
            Outcome::Decided(Signal {
                granted,
                denied: x.denied.union(y.denied).union(contested),
            })
        }
        (Outcome::Decided(x), _) | (_, Outcome::Decided(x)) => Outcome::Decided(x),
        (Outcome::Failed, _) | (_, Outcome::Failed) => Outcome::Failed,
        (Outcome::Absent, Outcome::Absent) => Outcome::Absent,
    };
    let tcf_vendors = match (a.tcf_vendors, b.tcf_vendors) {
        (Some(x), Some(y)) => Some(
            x.iter()
                .filter(|v| y.binary_search(v).is_ok())
                .copied()
                .collect(),
        ),
        (x, y) => x.or(y),
    };
    Reading {
        outcome,
        tcf_vendors,
    }
}

/// The decision of an outcome that must have one (parser tests).
#[cfg(test)]
pub(crate) fn decided(o: Outcome) -> Signal {
    match o {
        Outcome::Decided(s) => s,
        other => panic!("expected a decision, got {other:?}"),
    }
}

/// Whether a set of `Sec-GPC` field values means "GPC on": at least one is exactly `1`.
pub fn gpc_enabled<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().any(|v| v == b"1")
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
    fn the_source_table_lists_every_kind_in_order() {
        assert_eq!(SourceKind::all().count(), SOURCES.len());
        for (i, kind) in SourceKind::all().enumerate() {
            assert_eq!(kind as usize, i);
            assert_eq!(SOURCES[i].kind, kind);
            assert_eq!(SourceKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(
            Policy::default().cookie_names(SourceKind::Gpp),
            ["__gpp", "__gpp_sid"]
        );
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

    /// Real-shaped values of every source: (cookie header fields, categories allowed besides
    /// necessary, the deciding source, the sources that failed).
    #[test]
    fn every_source_table() {
        use Category as C;
        let tc_all = tcf::encode(&tcf::TcString {
            version: 2,
            policy_version: 5,
            purpose_consents: (1..=11).collect(),
            consent_language: "EN".into(),
            publisher_cc: "DE".into(),
            ..tcf::TcString::default()
        });
        let tc_analytics = tcf::encode(&tcf::TcString {
            version: 2,
            policy_version: 4,
            purpose_consents: vec![1, 9],
            consent_language: "FR".into(),
            publisher_cc: "FR".into(),
            ..tcf::TcString::default()
        });
        let tc_v20 = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA";
        let big = "x".repeat(5000);
        let own_all = "consent_gate=v1.functional:1.analytics:1.marketing:1";
        type Case = (
            Vec<String>,
            Vec<Category>,
            Option<SourceKind>,
            Vec<SourceKind>,
        );
        let cases: Vec<Case> = vec![
            // consent-gate's own cookie
            (vec![own_all.into()], vec![C::FUNCTIONAL, C::ANALYTICS, C::MARKETING], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.functional:0.analytics:0.marketing:0".into()], vec![], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.analytics:1".into()], vec![C::ANALYTICS], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.analytics:maybe".into()], vec![], None, vec![SourceKind::ConsentGate]),
            (vec![format!("consent_gate=v1.{big}")], vec![], None, vec![SourceKind::ConsentGate]),
            // duplicated cookie with conflicting values: the most restrictive reading wins, in
            // whichever order the copies arrive; agreeing copies decide as one
            (vec!["consent_gate=v1.analytics:1; consent_gate=v1.analytics:0".into()], vec![], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.analytics:0".into(), "consent_gate=v1.analytics:1.marketing:1".into()], vec![], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.analytics:1.marketing:1; consent_gate=v1.analytics:1".into()], vec![C::ANALYTICS], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=v1.analytics:1; consent_gate=v1.analytics:1".into()], vec![C::ANALYTICS], Some(SourceKind::ConsentGate), vec![]),
            (vec!["consent_gate=garbage; consent_gate=v1.analytics:1".into()], vec![C::ANALYTICS], Some(SourceKind::ConsentGate), vec![]),
            (vec!["OptanonConsent=groups=C0002%3A1%2CC0004%3A1; OptanonConsent=groups=C0002%3A0%2CC0004%3A1".into()], vec![C::MARKETING], Some(SourceKind::OneTrust), vec![]),
            // OneTrust
            (vec!["OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A1".into()], vec![C::FUNCTIONAL, C::ANALYTICS, C::MARKETING], Some(SourceKind::OneTrust), vec![]),
            (vec!["OptanonConsent=groups=C0001%3A1%2CC0002%3A0%2CC0003%3A0%2CC0004%3A0".into()], vec![], Some(SourceKind::OneTrust), vec![]),
            (vec!["OptanonConsent=isGpcEnabled=0&groups=C0001%3A1%2CC0003%3A1".into()], vec![C::FUNCTIONAL], Some(SourceKind::OneTrust), vec![]),
            (vec!["OptanonConsent=groups=C0002".into()], vec![], None, vec![SourceKind::OneTrust]),
            // Cookiebot
            (vec!["CookieConsent={stamp:%27a+b%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true}".into()], vec![C::FUNCTIONAL, C::ANALYTICS, C::MARKETING], Some(SourceKind::Cookiebot), vec![]),
            (vec!["CookieConsent=0".into()], vec![], Some(SourceKind::Cookiebot), vec![]),
            (vec!["CookieConsent={necessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false}".into()], vec![C::ANALYTICS], Some(SourceKind::Cookiebot), vec![]),
            (vec!["CookieConsent={statistics:".into()], vec![], None, vec![SourceKind::Cookiebot]),
            // TCF
            (vec![format!("euconsent-v2={tc_all}")], vec![C::FUNCTIONAL, C::ANALYTICS, C::MARKETING], Some(SourceKind::Tcf), vec![]),
            (vec![format!("euconsent-v2={tc_analytics}")], vec![C::ANALYTICS], Some(SourceKind::Tcf), vec![]),
            (vec![format!("euconsent-v2={tc_v20}")], vec![], None, vec![SourceKind::Tcf]),
            (vec!["euconsent-v2=CO%%".into()], vec![], None, vec![SourceKind::Tcf]),
            // GPP and usprivacy only ever deny (marketing)
            (vec!["__gpp=DBABLA~BVQaAAAAAgA.QA; __gpp_sid=7".into(), own_all.into()], vec![C::FUNCTIONAL, C::ANALYTICS, C::MARKETING], Some(SourceKind::ConsentGate), vec![]),
            (vec!["usprivacy=1YYN".into()], vec![], Some(SourceKind::UsPrivacy), vec![]),
            (vec!["usprivacy=bogus".into()], vec![], None, vec![SourceKind::UsPrivacy]),
            // Klaro and cookieconsent
            (vec!["klaro=%7B%22matomo%22%3Atrue%2C%22youtube%22%3Atrue%7D".into()], vec![C::ANALYTICS, C::MARKETING], Some(SourceKind::Klaro), vec![]),
            (vec!["klaro={broken".into()], vec![], None, vec![SourceKind::Klaro]),
            (vec![r#"cc_cookie={"categories":["necessary","analytics"]}"#.into()], vec![C::ANALYTICS], Some(SourceKind::CookieConsent), vec![]),
            (vec![r#"cc_cookie={"categories":"all"}"#.into()], vec![], None, vec![SourceKind::CookieConsent]),
            // split header fields are all read; first source in priority order decides
            (vec!["sid=1".into(), "OptanonConsent=groups=C0002%3A1".into(), format!("euconsent-v2={tc_all}")], vec![C::ANALYTICS, C::FUNCTIONAL, C::MARKETING], Some(SourceKind::OneTrust), vec![]),
        ];
        let p = Policy::default();
        for (i, (fields, allowed, source, failures)) in cases.iter().enumerate() {
            let jar = Jar::parse(fields.iter().map(|f| f.as_bytes()));
            let c = p.evaluate(RequestSignals {
                jar: &jar,
                gpc: false,
                country: None,
                region: None,
            });
            let mut want = CategorySet::only(C::NECESSARY);
            for a in allowed {
                want.insert(*a);
            }
            assert_eq!(c.allowed, want, "case {i}: {fields:?}");
            assert_eq!(c.source, *source, "case {i}: {fields:?}");
            assert_eq!(&c.failures, failures, "case {i}: {fields:?}");
        }
        // GPP's opt-out of sale denies marketing even when another source granted it later in
        // priority, under most-restrictive precedence.
        let strict = Policy {
            precedence: Precedence::MostRestrictive,
            ..Policy::default()
        };
        let jar = Jar::parse([own_all.as_bytes(), b"__gpp=DBABLA~BVQaAAAAAgA.QA"]);
        let c = strict.evaluate(RequestSignals {
            jar: &jar,
            gpc: false,
            country: None,
            region: None,
        });
        assert!(!c.allows(C::MARKETING) && c.allows(C::ANALYTICS));
    }

    #[test]
    fn onetrust_geolocation_only_when_configured() {
        let mut p = Policy::default();
        p.jurisdictions.regimes.insert("US".into(), Regime::OptOut);
        let jar = Jar::parse([&b"OptanonConsent=groups=C0004%3A0&geolocation=US%3BCA"[..]]);
        let eval = |p: &Policy| {
            p.evaluate(RequestSignals {
                jar: &jar,
                gpc: false,
                country: None,
                region: None,
            })
        };
        assert_eq!(eval(&p).regime, Regime::OptIn);
        p.onetrust_use_geolocation = true;
        let c = eval(&p);
        assert_eq!(c.regime, Regime::OptOut);
        assert!(c.allows(Category::ANALYTICS) && !c.allows(Category::MARKETING));
    }

    #[test]
    fn vendor_consent_gates_rules_naming_a_vendor() {
        let p = Policy {
            tcf_require_vendor_consent: true,
            ..Policy::default()
        };
        let tc = tcf::encode(&tcf::TcString {
            version: 2,
            policy_version: 5,
            purpose_consents: (1..=11).collect(),
            vendor_consents: vec![755],
            consent_language: "EN".into(),
            publisher_cc: "DE".into(),
            ..tcf::TcString::default()
        });
        let header = format!("euconsent-v2={tc}");
        let jar = Jar::parse([header.as_bytes()]);
        let c = p.evaluate(RequestSignals {
            jar: &jar,
            gpc: false,
            country: None,
            region: None,
        });
        let rules = crate::rules::Rules::compile(
            &[("r.toml", "[[cookie]]\nname = \"a\"\ncategory = \"marketing\"\nvendor = \"Google\"\ntcf_vendor = 755\n\n[[cookie]]\nname = \"b\"\ncategory = \"marketing\"\nvendor = \"Other\"\ntcf_vendor = 1\n")],
            &Categories::default(),
        )
        .unwrap();
        assert!(c.allows_rule(rules.cookie("a").rule().unwrap()));
        assert!(
            !c.allows_rule(rules.cookie("b").rule().unwrap()),
            "vendor 1 has no consent"
        );
    }
}
