//! Answers the proxy gives itself, without the origin: plain errors, the `204` of a blocked
//! collector path, and the consent endpoint.

use bytes::Bytes;
use http::header;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::engine::Engine;
use crate::plan::RequestPlan;

/// Most bytes read from a consent form.
const MAX_FORM_BYTES: usize = 8 * 1024;

pub(super) async fn respond_with(
    session: &mut Session,
    status: u16,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 2))?;
    for (k, v) in headers {
        resp.append_header(*k, v.as_str())?;
    }
    if status != 204 {
        resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("cache-control"))
    {
        resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    }
    let empty = body.is_empty();
    session.write_response_header(Box::new(resp), empty).await?;
    if !empty {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

pub(super) async fn respond(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
        .await?;
    Ok(())
}

/// Answers the consent endpoint: `GET consent` (state as JSON), `POST consent` (set the own
/// cookie; redirect back for a form, JSON for a script).
pub(super) async fn consent_endpoint(
    engine: &Engine,
    session: &mut Session,
    rest: &str,
    plan: &RequestPlan,
) -> Result<()> {
    let consent = &plan.consent;
    use crate::consent::endpoint;
    let categories = &engine.config.policy.categories;
    let json = "application/json";
    match (session.req_header().method.as_str(), rest) {
        ("GET" | "HEAD", "consent") => {
            // The anti-forgery token for scripts and forms of browsers without Fetch Metadata
            // or Origin: the visitor's own, or a new one.
            let (token, fresh) = match request_cookie(session, endpoint::TOKEN_COOKIE) {
                Some(t) if !t.is_empty() => (t, false),
                _ => (endpoint::new_token(), true),
            };
            let mut state: serde_json::Value =
                serde_json::from_str(&endpoint::state_json(consent, categories))
                    .unwrap_or_default();
            if let Some(fields) = state.as_object_mut() {
                fields.insert("token".to_owned(), serde_json::Value::from(token.clone()));
            }
            let mut headers = vec![("content-type", json.to_owned())];
            if fresh {
                headers.push((
                    "set-cookie",
                    format!(
                        "{}={token}; Path=/; SameSite=Strict; HttpOnly",
                        endpoint::TOKEN_COOKIE
                    ),
                ));
            }
            respond_with(session, 200, &headers, state.to_string().into_bytes()).await
        }
        ("POST", "consent") => {
            let mut form = Vec::new();
            while let Some(chunk) = session.read_request_body().await? {
                if form.len() + chunk.len() > MAX_FORM_BYTES {
                    return respond(session, 413, "consent-gate: consent form too large\n").await;
                }
                form.extend_from_slice(&chunk);
            }
            let form = String::from_utf8_lossy(&form);
            let site = engine
                .config
                .sites
                .get(plan.site)
                .map_or("", |s| s.name.as_str());
            let headers = &session.req_header().headers;
            let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let allowed = endpoint::write_allowed(
                text("sec-fetch-site"),
                text("origin"),
                &plan.host,
                endpoint::form_token(&form).as_deref(),
                request_cookie(session, endpoint::TOKEN_COOKIE).as_deref(),
            );
            if let Err(refusal) = allowed {
                engine
                    .metrics
                    .consent_writes_refused
                    .with_label_values(&[site, refusal.label()])
                    .inc();
                if engine.config.audit_log {
                    tracing::info!(target: "audit", site = %site, action = "refuse_consent_write", reason = refusal.label());
                }
                return respond(
                    session,
                    403,
                    "consent-gate: consent can only be changed from the site itself\n",
                )
                .await;
            }
            let choice = endpoint::parse_form(&form, categories);
            let decision = endpoint::decision_label(&choice, categories);
            engine
                .metrics
                .consent_decisions
                .with_label_values(&[site, decision])
                .inc();
            if engine.config.audit_log {
                tracing::info!(target: "audit", site = %site, action = "consent_decision", decision, granted = %categories.join(choice.granted, ","));
            }
            let secure = session.digest().is_some_and(|d| d.ssl_digest.is_some());
            let cookie = endpoint::cookie(
                engine
                    .config
                    .policy
                    .cookie_name(crate::consent::SourceKind::ConsentGate),
                &choice,
                categories,
                secure,
            );
            let wants_json = session
                .req_header()
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains(json));
            if wants_json {
                let granted = categories.join(choice.granted, ",");
                let body = serde_json::json!({ "saved": true, "granted": granted }).to_string();
                respond_with(
                    session,
                    200,
                    &[("set-cookie", cookie), ("content-type", json.into())],
                    body.into_bytes(),
                )
                .await
            } else {
                respond_with(
                    session,
                    303,
                    &[
                        ("set-cookie", cookie),
                        ("location", choice.return_to),
                        ("content-type", "text/plain".into()),
                    ],
                    b"consent saved\n".to_vec(),
                )
                .await
            }
        }
        ("GET" | "HEAD", "settings") => {
            // A page of its own with the banner, for "cookie settings" links and browsers
            // without JavaScript.
            let req = session.req_header();
            let config = &engine.config;
            let language = config.banner.language(
                req.headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            );
            let return_to = req
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("return=")))
                .and_then(crate::wire::percent::form_decode)
                .map_or_else(|| "/".to_owned(), |r| endpoint::safe_return(&r));
            let prefix = config.consent_endpoint.as_deref().unwrap_or("/");
            let banner = config.banner.render(
                language,
                categories,
                consent.allowed,
                prefix,
                &return_to,
                true,
            );
            let page = format!(
                "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Privacy settings</title></head><body>{banner}</body></html>",
                crate::html::escape(language)
            );
            respond_with(
                session,
                200,
                &[("content-type", "text/html; charset=utf-8".to_owned())],
                page.into_bytes(),
            )
            .await
        }
        ("GET" | "HEAD", guard) if guard.starts_with("guard/") => {
            serve_guard(engine, session, guard.trim_start_matches("guard/"), plan).await
        }
        (_, "consent") => respond(session, 405, "consent-gate: use GET or POST\n").await,
        _ => respond(session, 404, "consent-gate: unknown consent endpoint\n").await,
    }
}

/// Serves a client guard by name. Names carry a content hash, so a guard is cached for good;
/// for a name this process did not build (another replica's, or one from before a reload) it
/// serves the current rules' guard, cached only if it came out the same.
async fn serve_guard(
    engine: &Engine,
    session: &mut Session,
    name: &str,
    plan: &RequestPlan,
) -> Result<()> {
    let g = engine
        .guards
        .by_name(name)
        .unwrap_or_else(|| engine.guard(&plan.rules));
    let cache = if g.name == name {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    let gzip = session
        .req_header()
        .headers
        .get(header::ACCEPT_ENCODING)
        .is_some_and(|v| {
            crate::html::codec::negotiate(
                Some(v.as_bytes()),
                Some(crate::html::codec::Coding::Gzip),
            ) == Some(crate::html::codec::Coding::Gzip)
        });
    let mut headers = vec![
        ("content-type", "text/javascript; charset=utf-8".to_owned()),
        ("x-content-type-options", "nosniff".to_owned()),
        ("cache-control", cache.to_owned()),
        ("vary", "Accept-Encoding".to_owned()),
    ];
    let body = if gzip {
        headers.push(("content-encoding", "gzip".to_owned()));
        g.gzip.to_vec()
    } else {
        g.body.as_bytes().to_vec()
    };
    respond_with(session, 200, &headers, body).await
}

/// The value of a request cookie.
fn request_cookie(session: &Session, name: &str) -> Option<String> {
    let jar = crate::wire::cookie_header::Jar::parse(
        session
            .req_header()
            .headers
            .get_all(header::COOKIE)
            .iter()
            .map(http::HeaderValue::as_bytes),
    );
    jar.get(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
