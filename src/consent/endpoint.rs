//! consent-gate's consent endpoint, for sites without a consent tool: `GET` returns the
//! visitor's consent as JSON; `POST` (a plain HTML form works, no JavaScript needed) sets
//! consent-gate's own cookie and redirects back, or answers JSON to a `fetch`.
//!
//! Form fields: `accept=all`, `reject=all`, or one `CATEGORY=1` per accepted category (the others
//! are refused); `return=/path` (a same-site path) for the redirect; `token` for browsers that
//! send neither `Sec-Fetch-Site` nor `Origin`.
//!
//! Consent must be the visitor's own act: a write from another site is refused
//! ([`write_allowed`]), or any site could grant consent on a visitor's behalf with a hidden form.

use super::{Consent, own};
use crate::category::{Categories, Category, CategorySet};
use crate::wire::percent::form_decode;

/// What a `POST` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Categories granted (necessary excluded).
    pub granted: CategorySet,
    /// Where to send the visitor back (a validated same-site path).
    pub return_to: String,
}

/// A same-site path to redirect to: starts with one `/`, no backslash, no control character;
/// anything else becomes `/` (never an open redirect).
pub fn safe_return(path: &str) -> String {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= 2048
        && !path.chars().any(char::is_control);
    if ok { path.to_owned() } else { "/".to_owned() }
}

/// Name of the cookie holding the anti-forgery token (`SameSite=Strict`: never sent with a
/// request another site starts).
pub const TOKEN_COOKIE: &str = "consent_gate_token";

/// Why a consent write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Sec-Fetch-Site: cross-site` (or a value browsers do not send).
    FetchMetadata,
    /// An `Origin` of another site, or `null`.
    Origin,
    /// Neither header, and no token matching the visitor's token cookie.
    Token,
}

impl Refusal {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::FetchMetadata => "sec_fetch_site",
            Refusal::Origin => "origin",
            Refusal::Token => "token",
        }
    }
}

/// The registrable domain of a host (the host itself for IPs and single labels).
fn site_of(host: &str) -> String {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    crate::wire::host::registrable_domain(&host).unwrap_or(host)
}

/// Whether a consent write (a `POST` to the endpoint) comes from the site itself: Fetch
/// Metadata first (`same-origin`, `same-site` or `none`), then `Origin` (same registrable domain
/// as `host`), then, for browsers that send neither, a form `token` equal to the visitor's
/// [`TOKEN_COOKIE`].
pub fn write_allowed(
    fetch_site: Option<&str>,
    origin: Option<&str>,
    host: &str,
    token: Option<&str>,
    token_cookie: Option<&str>,
) -> Result<(), Refusal> {
    if let Some(site) = fetch_site {
        return match site.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "same-site" | "none" => Ok(()),
            _ => Err(Refusal::FetchMetadata),
        };
    }
    if let Some(origin) = origin {
        let origin_host = origin
            .trim()
            .split_once("://")
            .map(|(_, rest)| rest)
            .map(|rest| crate::wire::host::strip_port(rest.split('/').next().unwrap_or_default()));
        return match origin_host {
            Some(h)
                if !h.is_empty() && site_of(h) == site_of(crate::wire::host::strip_port(host)) =>
            {
                Ok(())
            }
            _ => Err(Refusal::Origin),
        };
    }
    match (token, token_cookie) {
        (Some(t), Some(c)) if !t.is_empty() && t == c => Ok(()),
        _ => Err(Refusal::Token),
    }
}

/// A fresh anti-forgery token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // The system's random source; on the (theoretical) failure the token is still unguessable
    // enough to be unique, and a zero token never matches a write.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a choice compares to the categories on offer, for the decisions metric.
pub fn decision_label(choice: &Choice, categories: &Categories) -> &'static str {
    let all = categories
        .all()
        .difference(CategorySet::only(Category::NECESSARY));
    if choice.granted == all {
        "accept_all"
    } else if choice.granted.is_empty() {
        "reject_all"
    } else {
        "custom"
    }
}

/// The form's `token` field, if any.
pub fn form_token(body: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (form_decode(k)? == "token")
            .then(|| form_decode(v))
            .flatten()
    })
}

/// Reads a form-encoded body.
pub fn parse_form(body: &str, categories: &Categories) -> Choice {
    let mut granted = CategorySet::EMPTY;
    let mut return_to = "/".to_owned();
    let all = categories
        .all()
        .difference(CategorySet::only(Category::NECESSARY));
    for pair in body.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
            continue;
        };
        match (k.as_str(), v.as_str()) {
            ("accept", "all") => granted = all,
            ("reject", "all") => granted = CategorySet::EMPTY,
            ("return", path) => return_to = safe_return(path),
            (name, "1" | "on" | "true") => {
                if let Some(c) = categories
                    .lookup(name)
                    .filter(|c| *c != Category::NECESSARY)
                {
                    granted.insert(c);
                }
            }
            _ => {}
        }
    }
    Choice { granted, return_to }
}

/// The `Set-Cookie` value that records a choice (180 days; `Secure` on HTTPS).
pub fn cookie(name: &str, choice: &Choice, categories: &Categories, secure: bool) -> String {
    format!(
        "{name}={}; Path=/; Max-Age=15552000; SameSite=Lax{}",
        own::format(choice.granted, categories),
        if secure { "; Secure" } else { "" }
    )
}

/// The visitor's consent as JSON.
pub fn state_json(consent: &Consent, categories: &Categories) -> String {
    let mut cats = serde_json::Map::new();
    for (c, name) in categories.iter() {
        let state = if consent.allows(c) {
            "allowed"
        } else {
            "denied"
        };
        cats.insert(name.to_owned(), serde_json::Value::from(state));
    }
    serde_json::json!({
        "jurisdiction": consent.regime.label(),
        "source": consent.source.map(super::SourceKind::label),
        "gpc": consent.gpc,
        "categories": cats,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_site_itself_may_write_consent() {
        let host = "www.example.com";
        let ok = |fs: Option<&str>, o: Option<&str>, t: Option<&str>, c: Option<&str>| {
            write_allowed(fs, o, host, t, c)
        };
        assert_eq!(ok(Some("same-origin"), None, None, None), Ok(()));
        assert_eq!(
            ok(
                Some("same-site"),
                Some("https://shop.example.com"),
                None,
                None
            ),
            Ok(())
        );
        assert_eq!(ok(Some("none"), None, None, None), Ok(()));
        assert_eq!(
            ok(
                Some("cross-site"),
                Some("https://www.example.com"),
                None,
                None
            ),
            Err(Refusal::FetchMetadata)
        );
        assert_eq!(
            ok(Some("bogus"), None, None, None),
            Err(Refusal::FetchMetadata)
        );
        assert_eq!(
            ok(None, Some("https://www.example.com"), None, None),
            Ok(())
        );
        assert_eq!(
            ok(None, Some("http://example.com:8080"), None, None),
            Ok(())
        );
        assert_eq!(
            ok(None, Some("https://evil.example"), None, None),
            Err(Refusal::Origin)
        );
        assert_eq!(
            ok(None, Some("https://example.com.evil.example"), None, None),
            Err(Refusal::Origin)
        );
        assert_eq!(ok(None, Some("null"), None, None), Err(Refusal::Origin));
        assert_eq!(ok(None, None, Some("abc"), Some("abc")), Ok(()));
        assert_eq!(
            ok(None, None, Some("abc"), Some("abd")),
            Err(Refusal::Token)
        );
        assert_eq!(ok(None, None, None, Some("abc")), Err(Refusal::Token));
        assert_eq!(ok(None, None, Some(""), Some("")), Err(Refusal::Token));
        // Loopback hosts with ports compare by host.
        assert_eq!(
            write_allowed(
                None,
                Some("http://127.0.0.1:8080"),
                "127.0.0.1:8080",
                None,
                None
            ),
            Ok(())
        );
        assert_eq!(form_token("accept=all&token=a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn forms_and_redirects() {
        let t = Categories::default();
        let c = parse_form(
            "analytics=1&marketing=on&necessary=1&bogus=1&return=%2Fshop%3Fa%3D1",
            &t,
        );
        assert_eq!(c.granted.iter().count(), 2);
        assert!(
            c.granted.contains(Category::ANALYTICS) && !c.granted.contains(Category::NECESSARY)
        );
        assert_eq!(c.return_to, "/shop?a=1");
        assert_eq!(parse_form("accept=all", &t).granted.iter().count(), 3);
        assert!(parse_form("accept=all&reject=all", &t).granted.is_empty());
        for evil in [
            "https://evil.com",
            "//evil.com",
            "/\\evil.com",
            "/a\r\nSet-Cookie: x=1",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_return(evil), "/", "{evil:?}");
        }
        let v = cookie("consent_gate", &parse_form("analytics=1", &t), &t, true);
        assert_eq!(
            v,
            "consent_gate=v1.functional:0.analytics:1.marketing:0; Path=/; Max-Age=15552000; SameSite=Lax; Secure"
        );
    }
}
