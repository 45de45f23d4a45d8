//! Cookie enforcement: which cookies a request may carry to the origin, which `Set-Cookie`
//! lines a response may deliver, and the expiring lines that withdraw cookies whose consent is
//! gone.

use crate::category::Category;
use crate::consent::{Consent, Policy};
use crate::rules::{RuleInfo, Rules, Verdict};
use crate::wire::cookie_header::{self as jar, Jar, Pair};

/// What happens to cookies no rule knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownCookies {
    /// Kept (and counted): a legacy site's session cookies keep working.
    #[default]
    Allow,
    /// Treated as belonging to this category.
    As(Category),
}

/// The decision about one cookie.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'r> {
    /// Whether the cookie may pass.
    pub keep: bool,
    /// Its category, if known.
    pub category: Option<Category>,
    /// The rule that decided, if any.
    pub rule: Option<&'r RuleInfo>,
}

/// Decides one cookie name.
pub fn decide<'r>(
    name: &[u8],
    rules: &'r Rules,
    policy: &Policy,
    unknown: UnknownCookies,
    consent: &Consent,
) -> Decision<'r> {
    if policy.is_consent_cookie(name) {
        return Decision {
            keep: true,
            category: Some(Category::NECESSARY),
            rule: None,
        };
    }
    let verdict = std::str::from_utf8(name).map_or(Verdict::Unknown, |n| rules.cookie(n));
    match verdict {
        Verdict::Allowed(rule) => Decision {
            keep: true,
            category: Some(Category::NECESSARY),
            rule: Some(rule),
        },
        Verdict::Classified(rule) => Decision {
            keep: consent.allows_rule(rule),
            category: Some(rule.category),
            rule: Some(rule),
        },
        Verdict::Unknown => match unknown {
            UnknownCookies::Allow => Decision {
                keep: true,
                category: None,
                rule: None,
            },
            UnknownCookies::As(c) => Decision {
                keep: consent.allows(c),
                category: Some(c),
                rule: None,
            },
        },
    }
}

/// A request cookie that was (or in report-only mode would be) removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// Cookie name (lossy UTF-8).
    pub name: String,
    /// Its category.
    pub category: Option<Category>,
    /// `file:line` of the deciding rule.
    pub rule: Option<String>,
}

/// The outcome of filtering a request's cookies.
#[derive(Debug, Default)]
pub struct RequestFilter {
    /// The new `Cookie` header, when anything was removed (`Some(empty)`: drop the header).
    pub header: Option<Vec<u8>>,
    /// What was removed.
    pub stripped: Vec<Stripped>,
}

/// Filters the cookies of a request.
pub fn filter_request(
    jar: &Jar<'_>,
    rules: &Rules,
    policy: &Policy,
    unknown: UnknownCookies,
    consent: &Consent,
) -> RequestFilter {
    let mut kept: Vec<&Pair<'_>> = Vec::with_capacity(jar.pairs().len());
    let mut stripped = Vec::new();
    for pair in jar.pairs() {
        let d = decide(pair.name, rules, policy, unknown, consent);
        if d.keep {
            kept.push(pair);
        } else {
            stripped.push(Stripped {
                name: String::from_utf8_lossy(pair.name).into_owned(),
                category: d.category,
                rule: d.rule.map(|r| rules.origin(r)),
            });
        }
    }
    let header = (!stripped.is_empty()).then(|| jar::serialize(kept.into_iter()));
    RequestFilter { header, stripped }
}

/// The cookie name of a `Set-Cookie` value: the bytes before the first `=` of the first
/// `;`-separated piece, trimmed (empty for a nameless cookie).
pub fn set_cookie_name(value: &[u8]) -> &[u8] {
    let first = value.split(|&b| b == b';').next().unwrap_or_default();
    match first.iter().position(|&b| b == b'=') {
        Some(eq) => trim(first.get(..eq).unwrap_or_default()),
        None => b"",
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Whether a name is an RFC 6265 token, safe to write back into a `Set-Cookie` line.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

const EXPIRED: &str = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";

/// Expiring `Set-Cookie` values for `name`: host-only and for the registrable `domain` (when
/// known and different from an IP), on `/` and on each extra path. `__Host-` cookies can only
/// exist host-only on `/` with `Secure`; `__Secure-` ones need `Secure`.
pub fn withdrawal_lines(name: &str, domain: Option<&str>, extra_paths: &[&str]) -> Vec<String> {
    if !is_token(name) {
        return Vec::new();
    }
    if name.starts_with("__Host-") {
        return vec![format!("{name}=; {EXPIRED}; Path=/; Secure")];
    }
    let secure = if name.starts_with("__Secure-") {
        "; Secure"
    } else {
        ""
    };
    // Whatever the callers pass, nothing but a plain domain and plain paths reaches the header.
    let domain = domain.filter(|d| {
        !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    });
    let plain_path = |p: &&str| {
        p.starts_with('/')
            && p.bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    };
    let mut lines = Vec::new();
    for path in std::iter::once("/").chain(extra_paths.iter().copied().filter(plain_path)) {
        lines.push(format!("{name}=; {EXPIRED}; Path={path}{secure}"));
        if let Some(d) = domain {
            lines.push(format!(
                "{name}=; {EXPIRED}; Path={path}; Domain={d}{secure}"
            ));
        }
    }
    lines
}

/// The registrable domain of a `Host` header value, when it is a DNS name that may carry a
/// `Domain` cookie attribute.
pub fn cookie_domain(host: &str) -> Option<String> {
    crate::wire::host::registrable_domain(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Categories;
    use crate::consent::RequestSignals;

    const RULES: &str = r#"
[[cookie]]
name = "_ga"
category = "analytics"
vendor = "Google Analytics"

[[cookie]]
name = "_fbp"
category = "marketing"
vendor = "Meta"

[[allow]]
cookie = "PHPSESSID"
"#;

    fn rules() -> Rules {
        Rules::compile(&[("r.toml", RULES)], &Categories::default()).unwrap()
    }

    fn consent(policy: &Policy, cookies: &str) -> Consent {
        let jar = Jar::parse([cookies.as_bytes()]);
        policy.evaluate(RequestSignals {
            jar: &jar,
            gpc: false,
            country: None,
            region: None,
        })
    }

    #[test]
    fn request_cookies_without_consent_are_removed() {
        let (rules, policy) = (rules(), Policy::default());
        let header = "_ga=GA1.1.1; sid=2; _fbp=fb.1; OptanonConsent=groups=C0002%3A0";
        let jar = Jar::parse([header.as_bytes()]);
        let c = consent(&policy, header);
        let f = filter_request(&jar, &rules, &policy, UnknownCookies::Allow, &c);
        assert_eq!(
            f.header.as_deref(),
            Some(&b"sid=2; OptanonConsent=groups=C0002%3A0"[..])
        );
        let names: Vec<&str> = f.stripped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["_ga", "_fbp"]);
        assert_eq!(f.stripped[0].rule.as_deref(), Some("r.toml:2"));
    }

    #[test]
    fn nothing_removed_means_header_untouched() {
        let (rules, policy) = (rules(), Policy::default());
        let jar = Jar::parse([&b"sid=2;  x=1"[..]]);
        let c = consent(&policy, "");
        assert!(
            filter_request(&jar, &rules, &policy, UnknownCookies::Allow, &c)
                .header
                .is_none()
        );
        let f = filter_request(
            &jar,
            &rules,
            &policy,
            UnknownCookies::As(Category::FUNCTIONAL),
            &c,
        );
        assert_eq!(f.header.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn set_cookie_names() {
        assert_eq!(set_cookie_name(b"_ga=GA1.2; Path=/; Domain=.x.com"), b"_ga");
        assert_eq!(set_cookie_name(b" sid = 1"), b"sid");
        assert_eq!(set_cookie_name(b"novalue"), b"");
        assert_eq!(set_cookie_name(b"=x; a=b"), b"");
        assert_eq!(set_cookie_name(b""), b"");
    }

    #[test]
    fn withdrawal_covers_host_and_registrable_domain() {
        let lines = withdrawal_lines(
            "_ga",
            cookie_domain("www.shop.example.co.uk").as_deref(),
            &[],
        );
        assert_eq!(
            lines,
            [
                "_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
                "_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Domain=example.co.uk",
            ]
        );
        assert_eq!(withdrawal_lines("__Host-id", Some("x.com"), &[]).len(), 1);
        assert!(withdrawal_lines("__Secure-id", None, &[])[0].ends_with("; Secure"));
        assert!(withdrawal_lines("a;b", None, &[]).is_empty());
        assert!(withdrawal_lines("a b", None, &[]).is_empty());
        // Found by the set_cookie fuzz target: a domain or path that could break the header
        // line is left out, the rest of the withdrawal stays.
        let lines = withdrawal_lines("x", Some("\0a\nb.com"), &["/ok", "/a;b", "/c\r\n"]);
        assert_eq!(
            lines,
            [
                "x=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
                "x=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/ok"
            ]
        );
        assert_eq!(withdrawal_lines("x", None, &["/shop"]).len(), 2);
    }

    #[test]
    fn cookie_domains_only_for_dns_names() {
        assert_eq!(cookie_domain("example.com").as_deref(), Some("example.com"));
        assert_eq!(cookie_domain("127.0.0.1"), None);
        assert_eq!(cookie_domain("localhost"), None);
        assert_eq!(cookie_domain("evil.com; Path=/"), None);
    }
}
