//! The TOML front-end of rule files: what a security team writes, with the position of every
//! rule kept for error messages, `explain` and the audit log.

use serde::Deserialize;
use toml::Spanned;

/// One rules file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Cookie rules.
    #[serde(default)]
    pub cookie: Vec<Spanned<CookieRule>>,
    /// Third-party resource rules (scripts, frames, pixels, preloads).
    #[serde(default)]
    pub resource: Vec<Spanned<ResourceRule>>,
    /// Inline script signatures.
    #[serde(default)]
    pub signature: Vec<Spanned<SignatureRule>>,
    /// Hosts and cookies that are never blocked.
    #[serde(default)]
    pub allow: Vec<Spanned<AllowRule>>,
    /// First-party tracking endpoints, answered 204 without consent.
    #[serde(default)]
    pub path: Vec<Spanned<PathRule>>,
}

/// `[[path]]`: a request path prefix on the site itself (a self-hosted collector).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    /// Path prefix, starting with `/`.
    pub prefix: Spanned<String>,
    /// Category of what the endpoint collects.
    pub category: Spanned<String>,
    /// Whose collector it is.
    pub vendor: String,
}

/// `[[cookie]]`: exactly one of `name`, `prefix`, `regex`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieRule {
    /// Exact cookie name (case-sensitive, as browsers treat it).
    pub name: Option<Spanned<String>>,
    /// Name prefix: `_hjSession` matches `_hjSession_123`.
    pub prefix: Option<Spanned<String>>,
    /// Regular expression over the name (Rust `regex` syntax; anchor it with `^...$`).
    pub regex: Option<Spanned<String>>,
    /// Category the cookie belongs to.
    pub category: Spanned<String>,
    /// Who sets it (shown in logs and `explain`).
    pub vendor: String,
    /// IAB TCF vendor id (with `require_vendor_consent`, the TC string must consent to it).
    #[serde(default)]
    pub tcf_vendor: Option<u32>,
}

/// `[[resource]]`: a host suffix and optional path prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRule {
    /// Host suffix: `facebook.net` covers `connect.facebook.net`.
    pub host: Spanned<String>,
    /// Optional path prefix, starting with `/`.
    pub path: Option<Spanned<String>>,
    /// Category of what the host serves.
    pub category: Spanned<String>,
    /// Who operates it.
    pub vendor: String,
    /// IAB TCF vendor id (with `require_vendor_consent`, the TC string must consent to it).
    #[serde(default)]
    pub tcf_vendor: Option<u32>,
}

/// `[[signature]]`: a substring that identifies an inline script.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRule {
    /// The substring, matched case-sensitively.
    pub text: Spanned<String>,
    /// Category of the script.
    pub category: Spanned<String>,
    /// Whose snippet it is.
    pub vendor: String,
    /// IAB TCF vendor id (with `require_vendor_consent`, the TC string must consent to it).
    #[serde(default)]
    pub tcf_vendor: Option<u32>,
}

/// `[[allow]]`: exactly one of `host`, `cookie`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// Host suffix never blocked.
    pub host: Option<Spanned<String>>,
    /// Cookie name never stripped.
    pub cookie: Option<Spanned<String>>,
    /// Who it belongs to (documentation only).
    #[serde(default)]
    pub vendor: String,
}
