//! Streaming HTML neutralizer: makes denied third-party elements inert while the page streams
//! through, so the browser never fetches or runs them.
//!
//! The inert markup is the contract with consent tools (and consent-gate's own banner), which
//! re-activate elements after consent without a reload (README, "Inert markup"):
//!
//! * `<script src>`: `src` moves to `data-consent-src`, `type` becomes `text/plain` (the original
//!   `type`, if any, moves to `data-consent-type`), `data-consent-category` /
//!   `data-consent-vendor` say why;
//! * inline `<script>` with a denied signature: the element is emptied (its start tag is already
//!   on the wire when its text arrives) and followed by an inert copy carrying the text;
//! * `<iframe src>`, `<img src|srcset>`, `<source src|srcset>`: the URL attributes move to
//!   `data-consent-src` / `data-consent-srcset`; iframes optionally get a `srcdoc` placeholder;
//! * `<link rel=preconnect|dns-prefetch|preload|prefetch|modulepreload>`: removed;
//! * `<noscript>` holding a denied pixel or frame: emptied.

pub mod banner;
pub mod codec;
pub mod css;
pub mod guard;
pub mod link_header;
mod markup;
pub mod memo;
mod page;
pub mod pipeline;
pub mod response;
mod rewriter;
pub mod url;

pub use markup::{escape, is_javascript};
pub use page::{Action, Kind, MAX_AUDITED_ACTIONS, Page, Stats};
pub use rewriter::{
    HtmlError, Needs, RewriteLimits, Rewriter, Selectors, inert_stretches, rewrite_all,
};

#[cfg(test)]
mod tests;
