//! Which responses are rewritten, and how the headers of a rewritten response change.
//!
//! Both are pure: [`plan_body`] looks at the response's status, type and codings and says
//! whether the body goes through the rewriting pipeline; [`rewritten_header_edits`] lists the
//! header edits that make a rewritten body safe to deliver (no stale length, range or digest,
//! a weak validator, and caches told that the body varies by visitor).

use http::HeaderMap;
use http::header::{self, HeaderName};

use super::codec::{self, Coding, DecodeLimits};
use super::pipeline::Plan;
use super::rewriter::RewriteLimits;

/// How shared caches are kept from serving one visitor's rewritten page to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePrivacy {
    /// `Vary: Cookie`: caches keep one copy per cookie header.
    #[default]
    Vary,
    /// `Cache-Control: private, no-store`: shared caches keep nothing.
    Private,
}

/// The parts of a response that decide whether its body is rewritten.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInfo<'a> {
    /// The request was HEAD.
    pub head: bool,
    /// Response status.
    pub status: u16,
    /// `Content-Type` value.
    pub content_type: Option<&'a [u8]>,
}

/// Whether a response carries an HTML body that can be rewritten: not HEAD, not 1xx/204/304,
/// not a 206 range, and `text/html` or `application/xhtml+xml`.
pub fn is_html_body(r: ResponseInfo<'_>) -> bool {
    if r.head || r.status < 200 || matches!(r.status, 204 | 206 | 304) {
        return false;
    }
    let Some(ct) = r.content_type.and_then(|c| std::str::from_utf8(c).ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The encoding named by a `Content-Type` charset parameter (`None` when absent), or `Err` with
/// the label when it is unknown.
pub fn charset(
    content_type: Option<&[u8]>,
) -> Result<Option<&'static encoding_rs::Encoding>, String> {
    let ct = content_type
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    for param in ct.split(';').skip(1) {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let label = v.trim().trim_matches('"');
            return encoding_rs::Encoding::for_label(label.as_bytes())
                .map(Some)
                .ok_or_else(|| label.to_owned());
        }
    }
    Ok(None)
}

/// Settings that shape a rewrite, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodySettings {
    /// Re-compress rewritten pages for clients that accept it, at this level.
    pub compression_level: Option<u32>,
    /// Rewriting limits.
    pub limits: RewriteLimits,
    /// Decompression limits.
    pub decode_limits: DecodeLimits,
}

/// What happens to a response body.
#[derive(Debug, Clone)]
pub enum BodyPlan {
    /// Not an HTML body: it passes through untouched, `Content-Length` kept.
    Untouched,
    /// An HTML body that cannot be rewritten safely (unknown charset or coding).
    Unrewritable {
        /// Metric label.
        reason: &'static str,
        /// What was wrong, for the log.
        detail: String,
    },
    /// The body goes through the pipeline.
    Rewrite(Plan),
}

/// Decides what happens to a response body, given the response, the client's
/// `Accept-Encoding`, and whether the rewrite only observes (report-only: the origin's bytes
/// go out, so nothing is re-encoded).
pub fn plan_body(
    info: ResponseInfo<'_>,
    content_encoding: Option<&[u8]>,
    accept_encoding: Option<&[u8]>,
    observe_only: bool,
    settings: BodySettings,
) -> BodyPlan {
    if !is_html_body(info) {
        return BodyPlan::Untouched;
    }
    let charset = match charset(info.content_type) {
        Ok(c) => c,
        Err(label) => {
            return BodyPlan::Unrewritable {
                reason: "charset",
                detail: format!("unknown charset {label:?}"),
            };
        }
    };
    let decode = match content_encoding.map(Coding::from_content_encoding) {
        None => None,
        Some(Ok(c)) => c,
        Some(Err(other)) => {
            return BodyPlan::Unrewritable {
                reason: "encoding",
                detail: format!("unsupported Content-Encoding {other:?}"),
            };
        }
    };
    let encode = settings
        .compression_level
        .filter(|_| !observe_only)
        .and_then(|level| codec::negotiate(accept_encoding, decode).map(|c| (c, level)));
    BodyPlan::Rewrite(Plan {
        decode,
        encode,
        charset,
        limits: settings.limits,
        decode_limits: settings.decode_limits,
    })
}

/// One change to a response's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    /// Remove every field of this name.
    Remove(HeaderName),
    /// Replace every field of this name with one value.
    Insert(HeaderName, Vec<u8>),
    /// Add a field.
    Append(HeaderName, Vec<u8>),
}

/// Digests of the origin's bytes, wrong once the body changes.
const DIGESTS: [&str; 4] = ["content-md5", "digest", "repr-digest", "content-digest"];

/// The header edits of a response whose body is rewritten under `plan`: no `Content-Length`
/// (the body goes out chunked), no `Accept-Ranges` or digests, the `Content-Encoding` of the
/// new body, a weak `ETag` (the bytes differ from the origin's), and `Vary`
/// (`Accept-Encoding` when codings are involved, `Cookie` with [`CachePrivacy::Vary`]) or
/// `Cache-Control: private, no-store`.
pub fn rewritten_header_edits(
    headers: &HeaderMap,
    plan: &Plan,
    privacy: CachePrivacy,
) -> Vec<HeaderEdit> {
    let mut edits = vec![
        HeaderEdit::Remove(header::CONTENT_LENGTH),
        HeaderEdit::Remove(header::ACCEPT_RANGES),
    ];
    edits.extend(DIGESTS.map(|h| HeaderEdit::Remove(HeaderName::from_static(h))));
    edits.push(match plan.encode {
        Some((c, _)) => HeaderEdit::Insert(header::CONTENT_ENCODING, c.token().into()),
        None => HeaderEdit::Remove(header::CONTENT_ENCODING),
    });
    if let Some(etag) = headers.get(header::ETAG)
        && !etag.as_bytes().starts_with(b"W/")
    {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag.as_bytes());
        edits.push(HeaderEdit::Insert(header::ETAG, weak));
    }
    let mut vary = Vec::new();
    if plan.encode.is_some() || plan.decode.is_some() {
        vary.push("Accept-Encoding");
    }
    match privacy {
        CachePrivacy::Vary => vary.push("Cookie"),
        CachePrivacy::Private => edits.push(HeaderEdit::Insert(
            header::CACHE_CONTROL,
            b"private, no-store".to_vec(),
        )),
    }
    let existing: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    if !existing.iter().any(|t| t == "*") {
        for token in vary {
            if !existing.iter().any(|t| t.eq_ignore_ascii_case(token)) {
                edits.push(HeaderEdit::Append(header::VARY, token.into()));
            }
        }
    }
    edits
}

/// How the client guard's `<script>` gets past the page's Content-Security-Policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardAdmission {
    /// Give the tag this nonce (the page's own).
    pub nonce: Option<String>,
    /// Give the tag this `integrity` (a hash source was added for it).
    pub integrity: Option<String>,
    /// The policies, changed to admit the guard (`None`: unchanged).
    pub policies: Option<Vec<String>>,
    /// A policy allows no script at all: the page runs none, so it needs no guard.
    pub skip: bool,
}

/// The directive that governs `<script>` elements in one policy, by name and index.
fn script_directive(directives: &[(String, Vec<String>)]) -> Option<usize> {
    ["script-src-elem", "script-src", "default-src"]
        .iter()
        .find_map(|name| directives.iter().position(|(n, _)| n == name))
}

/// Whether a source list already admits a same-origin script at `host` (with port, as in the
/// `Host` header).
fn admits_same_origin(sources: &[String], host: &str) -> bool {
    sources.iter().any(|s| {
        let s = s.to_ascii_lowercase();
        s == "'self'"
            || s == "*"
            || s == "http:"
            || s == "https:"
            || s.trim_start_matches("https://")
                .trim_start_matches("http://")
                == host
    })
}

/// Decides how the guard at `path` (served from `host`, the request's `Host` header value) with
/// content hash `sha256` (`sha256-...`) passes the page's `Content-Security-Policy` header values:
/// the page's nonce when it has one; otherwise, only where a policy would block it, its hash
/// (under `'strict-dynamic'`, where host sources do not count; the tag then carries
/// `integrity`) or its exact URL is added to the policy's script directive. Nothing else in a
/// policy changes, so none is weakened beyond this one script.
pub fn admit_guard(policies: &[&str], host: &str, path: &str, sha256: &str) -> GuardAdmission {
    let mut out = GuardAdmission::default();
    let mut changed = false;
    let mut rewritten = Vec::new();
    for header in policies {
        for policy in header.split(',') {
            let mut directives: Vec<(String, Vec<String>)> = policy
                .split(';')
                .filter_map(|d| {
                    let mut parts = d.split_ascii_whitespace();
                    let name = parts.next()?.to_ascii_lowercase();
                    Some((name, parts.map(str::to_owned).collect()))
                })
                .collect();
            let Some(i) = script_directive(&directives) else {
                rewritten.push(policy.trim().to_owned());
                continue;
            };
            let (name, sources) = directives.get(i).cloned().unwrap_or_default();
            if sources.iter().any(|s| s.eq_ignore_ascii_case("'none'")) {
                out.skip = true;
            }
            let nonce = sources.iter().find_map(|s| {
                s.strip_prefix("'nonce-")
                    .and_then(|n| n.strip_suffix('\''))
                    .map(str::to_owned)
            });
            let strict = sources
                .iter()
                .any(|s| s.eq_ignore_ascii_case("'strict-dynamic'"));
            let addition = match (&nonce, &out.nonce) {
                (Some(n), None) => {
                    out.nonce = Some(n.clone());
                    None
                }
                (Some(n), Some(have)) if n == have => None,
                _ if strict => {
                    out.integrity = Some(sha256.to_owned());
                    Some(format!("'{sha256}'"))
                }
                _ if admits_same_origin(&sources, host) => None,
                _ => Some(format!("{host}{path}")),
            };
            match addition {
                None => rewritten.push(policy.trim().to_owned()),
                Some(source) => {
                    changed = true;
                    if name == "default-src" {
                        // Scripts get their own directive; everything else keeps default-src.
                        let mut own = sources.clone();
                        own.push(source);
                        directives.push(("script-src".to_owned(), own));
                    } else if let Some((_, list)) = directives.get_mut(i) {
                        list.push(source);
                    }
                    let text: Vec<String> = directives
                        .iter()
                        .map(|(n, l)| {
                            if l.is_empty() {
                                n.clone()
                            } else {
                                format!("{n} {}", l.join(" "))
                            }
                        })
                        .collect();
                    rewritten.push(text.join("; "));
                }
            }
        }
    }
    if changed {
        out.policies = Some(rewritten);
    }
    out
}

/// The client guard's tag for a page of site `site` whose visitor allows `allowed` (category
/// names, space-separated).
pub fn guard_tag(src: &str, site: &str, allowed: &str, admission: &GuardAdmission) -> String {
    let mut tag = format!(
        "<script src=\"{}\" data-consent-gate-site=\"{}\" data-consent-gate-allowed=\"{}\"",
        super::escape(src),
        super::escape(site),
        super::escape(allowed)
    );
    if let Some(n) = &admission.nonce {
        tag.push_str(&format!(" nonce=\"{}\"", super::escape(n)));
    }
    if let Some(i) = &admission.integrity {
        tag.push_str(&format!(" integrity=\"{}\"", super::escape(i)));
    }
    tag.push_str("></script>");
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(level: Option<u32>) -> BodySettings {
        BodySettings {
            compression_level: level,
            limits: RewriteLimits::default(),
            decode_limits: DecodeLimits::default(),
        }
    }

    fn info(status: u16, ct: &str) -> ResponseInfo<'_> {
        ResponseInfo {
            head: false,
            status,
            content_type: Some(ct.as_bytes()),
        }
    }

    fn plan_of(p: BodyPlan) -> Plan {
        match p {
            BodyPlan::Rewrite(p) => p,
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }

    fn apply(headers: &mut HeaderMap, edits: Vec<HeaderEdit>) {
        for e in edits {
            match e {
                HeaderEdit::Remove(n) => {
                    headers.remove(n);
                }
                HeaderEdit::Insert(n, v) => {
                    headers.insert(n, v.try_into().unwrap());
                }
                HeaderEdit::Append(n, v) => {
                    headers.append(n, v.try_into().unwrap());
                }
            }
        }
    }

    #[test]
    fn only_html_bodies_are_rewritten() {
        let s = settings(None);
        for (status, ct) in [
            (200, "text/html"),
            (404, "application/xhtml+xml; charset=utf-8"),
        ] {
            assert!(matches!(
                plan_body(info(status, ct), None, None, false, s),
                BodyPlan::Rewrite(_)
            ));
        }
        for (status, ct) in [
            (206, "text/html"),
            (304, "text/html"),
            (204, "text/html"),
            (200, "application/json"),
            (200, "text/htmlx"),
        ] {
            assert!(
                matches!(
                    plan_body(info(status, ct), None, None, false, s),
                    BodyPlan::Untouched
                ),
                "{status} {ct}"
            );
        }
        let head = ResponseInfo {
            head: true,
            ..info(200, "text/html")
        };
        assert!(matches!(
            plan_body(head, None, None, false, s),
            BodyPlan::Untouched
        ));
    }

    #[test]
    fn unknown_charsets_and_codings_are_refused() {
        let s = settings(None);
        let r = plan_body(
            info(200, "text/html; charset=x-klingon"),
            None,
            None,
            false,
            s,
        );
        assert!(matches!(
            r,
            BodyPlan::Unrewritable {
                reason: "charset",
                ..
            }
        ));
        let r = plan_body(info(200, "text/html"), Some(b"compress"), None, false, s);
        assert!(matches!(
            r,
            BodyPlan::Unrewritable {
                reason: "encoding",
                ..
            }
        ));
    }

    #[test]
    fn re_encoding_follows_the_client_and_never_in_report_only() {
        let p = plan_of(plan_body(
            info(200, "text/html"),
            Some(b"gzip"),
            Some(b"gzip, br"),
            false,
            settings(Some(3)),
        ));
        assert_eq!(p.decode, Some(Coding::Gzip));
        assert_eq!(p.encode, Some((Coding::Gzip, 3)));
        let p = plan_of(plan_body(
            info(200, "text/html"),
            Some(b"gzip"),
            Some(b"gzip"),
            true,
            settings(Some(3)),
        ));
        assert_eq!(p.encode, None);
        let p = plan_of(plan_body(
            info(200, "text/html"),
            None,
            Some(b"br"),
            false,
            settings(None),
        ));
        assert_eq!(p.encode, None);
    }

    #[test]
    fn the_guard_passes_every_kind_of_policy_without_weakening_it() {
        let (host, path, sha) = (
            "www.example.com",
            "/.consent-gate/guard/e-1.js",
            "sha256-abc=",
        );
        // No policy, or one that does not restrict scripts, or already admits 'self'.
        for p in [
            vec![],
            vec!["img-src 'self'"],
            vec!["script-src 'self' https://cdn.example"],
        ] {
            assert_eq!(
                admit_guard(&p, host, path, sha),
                GuardAdmission::default(),
                "{p:?}"
            );
        }
        // A nonce-based policy: the page's nonce, the policy unchanged.
        let a = admit_guard(
            &["script-src 'nonce-r4nd' 'strict-dynamic'; object-src 'none'"],
            host,
            path,
            sha,
        );
        assert_eq!(a.nonce.as_deref(), Some("r4nd"));
        assert_eq!(a.policies, None);
        // A hash-based strict policy: the guard's hash, and integrity on the tag.
        let a = admit_guard(
            &["script-src 'sha256-xyz=' 'strict-dynamic'; base-uri 'none'"],
            host,
            path,
            sha,
        );
        assert_eq!(a.integrity.as_deref(), Some(sha));
        assert_eq!(
            a.policies.unwrap(),
            ["script-src 'sha256-xyz=' 'strict-dynamic' 'sha256-abc='; base-uri 'none'"]
        );
        // A host allowlist without 'self': the guard's exact URL, nothing broader.
        let a = admit_guard(
            &["default-src https://cdn.example; img-src *"],
            host,
            path,
            sha,
        );
        assert_eq!(
            a.policies.unwrap(),
            [
                "default-src https://cdn.example; img-src *; script-src https://cdn.example www.example.com/.consent-gate/guard/e-1.js"
            ]
        );
        // A page that may run no script needs no guard.
        assert!(admit_guard(&["script-src 'none'"], host, path, sha).skip);
        let tag = guard_tag(
            path,
            "example.com",
            "analytics functional",
            &GuardAdmission {
                nonce: Some("n\"".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            tag,
            "<script src=\"/.consent-gate/guard/e-1.js\" data-consent-gate-site=\"example.com\" data-consent-gate-allowed=\"analytics functional\" nonce=\"n&quot;\"></script>"
        );
    }

    #[test]
    fn rewritten_headers_are_safe_for_caches() {
        let mut h = HeaderMap::new();
        h.insert("content-length", "123".parse().unwrap());
        h.insert("accept-ranges", "bytes".parse().unwrap());
        h.insert("etag", "\"abc\"".parse().unwrap());
        h.insert("digest", "sha-256=x".parse().unwrap());
        h.insert("content-encoding", "gzip".parse().unwrap());
        h.insert("vary", "Origin, accept-encoding".parse().unwrap());
        let plan = plan_of(plan_body(
            info(200, "text/html"),
            Some(b"gzip"),
            None,
            false,
            settings(Some(1)),
        ));
        let edits = rewritten_header_edits(&h, &plan, CachePrivacy::Vary);
        apply(&mut h, edits);
        assert!(h.get("content-length").is_none() && h.get("accept-ranges").is_none());
        assert!(h.get("digest").is_none() && h.get("content-encoding").is_none());
        assert_eq!(h["etag"], "W/\"abc\"");
        let vary: Vec<_> = h
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vary, ["Origin, accept-encoding", "Cookie"]);

        let mut h = HeaderMap::new();
        h.insert("etag", "W/\"x\"".parse().unwrap());
        h.insert("vary", "*".parse().unwrap());
        let plan = plan_of(plan_body(
            info(200, "text/html"),
            None,
            Some(b"br"),
            false,
            settings(Some(1)),
        ));
        let edits = rewritten_header_edits(&h, &plan, CachePrivacy::Private);
        apply(&mut h, edits);
        assert_eq!(h["etag"], "W/\"x\"");
        assert_eq!(h["content-encoding"], "br");
        assert_eq!(h["cache-control"], "private, no-store");
        assert_eq!(h.get_all("vary").iter().count(), 1);
    }
}
