//! consent-gate: a reverse proxy that enforces each visitor's cookie consent at the HTTP layer.
//!
//! A request passes through these stages, each a module with no I/O of its own:
//!
//! 1. [`consent`]: read the visitor's consent from the configured sources (consent-gate's own
//!    cookie, OneTrust, Cookiebot, `Sec-GPC`) and settle undecided categories by jurisdiction.
//! 2. [`rules`]: the compiled rule set says what each cookie, host and inline script is.
//! 3. [`cookies`]: non-consented cookies are removed from the request before it reaches the
//!    origin; on the response, non-consented `Set-Cookie` lines are removed and cookies whose
//!    consent is missing get expiring lines.
//! 4. [`html`]: HTML bodies stream through lol_html, which makes denied third-party scripts
//!    inert so the browser never fetches them. Responses that need no rewriting pass through
//!    untouched, Content-Length included.
//! 5. [`admin`]: metrics, health and rule management on a separate (loopback) listener.
//!
//! [`proxy`] is the thin Pingora adapter that calls these stages from Pingora's request and
//! response phases; [`server`] assembles the process; [`demo`] is a self-contained demo.

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
pub mod wire;
