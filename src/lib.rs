//! consent-gate: a reverse proxy that enforces each visitor's cookie consent at the HTTP layer.
//!
//! # The pipeline
//!
//! A request to a configured site goes through these stages; each is a module with no I/O of
//! its own, so unit tests, property tests and `explain` drive them directly:
//!
//! 1. [`consent`]: read the visitor's consent from the configured sources, in priority order,
//!    and settle undecided categories by jurisdiction (opt-in or opt-out by country/region).
//!    The sources, one row each in [`consent::SOURCES`]: consent-gate's own cookie
//!    (`consent_gate`), OneTrust (`OptanonConsent`), Cookiebot (`CookieConsent`), IAB TCF v2.2
//!    (`euconsent-v2`), IAB GPP (`__gpp`, `__gpp_sid`), IAB CCPA (`usprivacy`), Klaro (`klaro`),
//!    orestbida cookieconsent (`cc_cookie`), and Global Privacy Control (`Sec-GPC: 1`) on top.
//! 2. [`rules`]: the compiled, immutable rule set says what each cookie, host, request path and
//!    inline script is (category, vendor, the `file:line` that says so).
//! 3. [`cookies`]: which cookies a request may carry to the origin, which `Set-Cookie` lines a
//!    response may deliver, and the expiring lines that withdraw cookies whose consent is gone.
//! 4. [`html`]: which responses are rewritten ([`html::response`]), and the streaming rewrite
//!    (lol_html) that makes denied third-party scripts, frames, pixels and preloads inert, so
//!    the browser never fetches them. Every other response passes through untouched.
//!
//! [`plan`] ties the stages together: one pure function from a request's facts to everything
//! consent-gate will do with it ([`plan::plan_request`]), one for the response's `Set-Cookie`
//! lines ([`plan::filter_set_cookies`]), each returning typed events. Where consent is enforced:
//!
//! * request phase: collector paths answered `204`, the consent endpoint, the `Cookie` header
//!   the origin sees;
//! * response header phase: `Set-Cookie` filtering and withdrawals, the `Link` header, and the
//!   headers of a rewritten body;
//! * response body phase: the HTML rewrite, failing closed.
//!
//! # The process
//!
//! [`proxy`] is the thin Pingora adapter that applies plans in Pingora's phases and records their
//! events as metrics and audit lines; [`explain`] renders the same plans as text. [`engine`]
//! holds what requests share (configuration, the current rules snapshot, metrics), [`reload`]
//! swaps rules atomically, [`readiness`] tracks `/readyz`, [`admin`] serves the admin listener,
//! [`server`] assembles the process, and [`demo`] is a self-contained demo. Below everything:
//! [`wire`] (the `Cookie` and `Host` headers, percent-encoding), [`category`], [`position`]
//! (`file:line:column` for errors) and [`metrics`].

pub mod admin;
pub mod category;
pub mod config;
pub mod consent;
pub mod cookies;
pub mod demo;
pub mod engine;
pub mod explain;
pub mod html;
pub mod metrics;
pub mod plan;
pub mod position;
pub mod proxy;
pub mod readiness;
pub mod reload;
pub mod rules;
pub mod server;
pub mod upstreams;
pub mod wire;
