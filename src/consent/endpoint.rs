//! consent-gate's consent endpoint, for sites without a consent tool: `GET` returns the
//! visitor's consent as JSON; `POST` (a plain HTML form works, no JavaScript needed) sets
//! consent-gate's own cookie and redirects back, or answers JSON to a `fetch`.
//!
//! Form fields: `accept=all`, `reject=all`, or one `CATEGORY=1` per accepted category (the others
//! are refused); `return=/path` (a same-site path) for the redirect.

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
