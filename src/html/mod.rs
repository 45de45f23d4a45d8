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

pub mod codec;
pub mod link_header;
mod neutralize;
pub mod pipeline;
pub mod url;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lol_html::html_content::{ContentType, TextChunk};
use lol_html::send::{ElementContentHandlers, HtmlRewriter, Settings};
use lol_html::{AsciiCompatibleEncoding, DocumentContentHandlers, MemorySettings, Selector};

use crate::category::{Category, CategorySet};
use crate::rules::{RuleInfo, Rules, Verdict};

/// What kind of element was neutralized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `<script src>`
    Script,
    /// inline `<script>`
    InlineScript,
    /// `<iframe src>`
    Iframe,
    /// `<img>` / `<source>` (pixels)
    Img,
    /// `<link rel=preconnect|...>`
    Link,
    /// `<noscript>` with a tracker inside
    Noscript,
    /// An entry of a `Link:` response header
    LinkHeader,
}

impl Kind {
    /// Every kind, for metrics documentation and tests.
    pub const ALL: [Kind; 7] = [
        Kind::Script,
        Kind::InlineScript,
        Kind::Iframe,
        Kind::Img,
        Kind::Link,
        Kind::Noscript,
        Kind::LinkHeader,
    ];

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::InlineScript => "inline_script",
            Kind::Iframe => "iframe",
            Kind::Img => "img",
            Kind::Link => "link",
            Kind::Noscript => "noscript",
            Kind::LinkHeader => "link_header",
        }
    }
}

/// One neutralization, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Element kind.
    pub kind: Kind,
    /// Category denied.
    pub category: Category,
    /// Vendor of the rule.
    pub vendor: String,
    /// `file:line` of the rule.
    pub rule: String,
    /// The URL, or the signature for inline scripts.
    pub target: String,
}

/// Most actions kept per response for the audit log; counts are always complete.
pub const MAX_AUDITED_ACTIONS: usize = 256;

/// What a rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Count by kind and category.
    pub counts: BTreeMap<(Kind, Category), u64>,
    /// The first [`MAX_AUDITED_ACTIONS`] actions.
    pub actions: Vec<Action>,
}

impl Stats {
    /// Records one action.
    pub fn record(&mut self, action: Action) {
        *self
            .counts
            .entry((action.kind, action.category))
            .or_default() += 1;
        if self.actions.len() < MAX_AUDITED_ACTIONS {
            self.actions.push(action);
        }
    }

    /// Total elements neutralized.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Adds another set of stats.
    pub fn merge(&mut self, other: Stats) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        for a in other.actions {
            if self.actions.len() < MAX_AUDITED_ACTIONS {
                self.actions.push(a);
            }
        }
    }
}

/// Why a rewrite failed.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// lol_html refused the document (memory limit, parsing ambiguity, handler error).
    #[error("HTML rewriting failed: {0}")]
    Rewriting(#[from] lol_html::errors::RewritingError),
    /// The document's encoding cannot be rewritten safely.
    #[error("charset {0} cannot be rewritten safely")]
    Encoding(String),
    /// Data was written after the end of the document.
    #[error("HTML rewriter already finished")]
    Finished,
}

/// A handler error: an inline script or noscript exceeded the configured buffer.
#[derive(Debug, thiserror::Error)]
#[error("inline script or noscript larger than max_inline_script_bytes={0}")]
struct RawTextTooLarge(usize);

/// CSS selectors, parsed once at start-up (never through lol_html's panicking macros).
#[derive(Debug)]
pub struct Selectors {
    script: Selector,
    iframe: Selector,
    img: Selector,
    source: Selector,
    link: Selector,
    noscript: Selector,
}

impl Selectors {
    /// Parses the selectors the neutralizer uses.
    pub fn new() -> Result<Self, lol_html::errors::SelectorError> {
        Ok(Selectors {
            script: "script".parse()?,
            iframe: "iframe[src]".parse()?,
            img: "img".parse()?,
            source: "source".parse()?,
            link: "link[href][rel]".parse()?,
            noscript: "noscript".parse()?,
        })
    }
}

/// Limits and options for one rewrite.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// lol_html's parser memory cap, bytes.
    pub max_parser_memory: usize,
    /// Largest inline script or noscript buffered to be inspected, bytes.
    pub max_inline_script: usize,
    /// Show a placeholder (via `srcdoc`) in neutralized iframes.
    pub iframe_placeholder: bool,
    /// On a rewriting error, pass the rest of the page through unmodified instead of aborting.
    pub fail_open: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parser_memory: 4 << 20,
            max_inline_script: 4 << 20,
            iframe_placeholder: true,
            fail_open: false,
        }
    }
}

/// What the page is and what its visitor consented to.
#[derive(Debug, Clone)]
pub struct Page {
    /// The rules snapshot of the request.
    pub rules: Arc<Rules>,
    /// Categories the visitor allows.
    pub allowed: CategorySet,
    /// Registrable domain of the page (first party).
    pub site: String,
    /// Count only, change nothing.
    pub report_only: bool,
    /// Vendors consented in the deciding TC string, when rules naming a TCF vendor need it.
    pub tcf_vendors: Option<Arc<[u32]>>,
}

impl Page {
    /// Whether what `rule` classifies may load: its category is allowed and, when required, its
    /// TCF vendor has consent.
    pub fn permits(&self, rule: &RuleInfo) -> bool {
        self.allowed.contains(rule.category)
            && match (&self.tcf_vendors, rule.tcf_vendor) {
                (Some(v), Some(id)) => v.binary_search(&id).is_ok(),
                _ => true,
            }
    }

    /// The rule that blocks a URL on this page, if any. First-party URLs are blocked only by a
    /// rule that names a host below the site's registrable domain (e.g. `metrics.example.com`).
    pub fn blocking_rule(&self, raw_url: &str) -> Option<&RuleInfo> {
        let target = url::target(raw_url)?;
        let Verdict::Classified(rule) = self.rules.resource(&target.host, &target.path) else {
            return None;
        };
        if self.permits(rule) {
            return None;
        }
        if url::site_of(&target.host) == self.site {
            let rule_host = rule.pattern.split('/').next().unwrap_or_default();
            if rule_host.len() <= self.site.len() {
                return None;
            }
        }
        Some(rule)
    }

    /// The first denied signature in an inline script.
    pub fn signature(&self, text: &str) -> Option<&RuleInfo> {
        self.rules.signature(text).filter(|r| !self.permits(r))
    }

    /// The rule blocking any candidate of a `srcset` value.
    pub fn srcset_rule(&self, srcset: &str) -> Option<&RuleInfo> {
        srcset
            .split(',')
            .filter_map(|candidate| candidate.split_whitespace().next())
            .find_map(|u| self.blocking_rule(u))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a `<script type>` value denotes JavaScript (or a module), which browsers run.
pub fn is_javascript(type_attr: Option<&str>) -> bool {
    let Some(t) = type_attr else { return true };
    let t = t.trim().to_ascii_lowercase();
    matches!(
        t.as_str(),
        "" | "module"
            | "application/ecmascript"
            | "application/javascript"
            | "application/x-ecmascript"
            | "application/x-javascript"
            | "text/ecmascript"
            | "text/javascript"
            | "text/javascript1.0"
            | "text/javascript1.1"
            | "text/javascript1.2"
            | "text/javascript1.3"
            | "text/javascript1.4"
            | "text/javascript1.5"
            | "text/jscript"
            | "text/livescript"
            | "text/x-ecmascript"
            | "text/x-javascript"
    )
}

/// Escapes text for a double-quoted attribute value or element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text of a raw-text element (inline script, noscript) held back until its end tag.
#[derive(Debug)]
struct Pending {
    /// Original attributes, `(name, raw value)`.
    attributes: Vec<(String, String)>,
    text: String,
}

/// State shared by the handlers of one rewrite.
struct State {
    page: Page,
    limits: Limits,
    stats: Stats,
    script: Option<Pending>,
    noscript: Option<String>,
    selectors: Arc<Selectors>,
}

impl State {
    fn action(&mut self, kind: Kind, rule: &RuleInfo, target: &str) {
        let origin = self.page.rules.origin(rule);
        self.stats.record(Action {
            kind,
            category: rule.category,
            vendor: rule.vendor.to_string(),
            rule: origin,
            target: target.chars().take(512).collect(),
        });
    }

    fn category_name(&self, rule: &RuleInfo) -> String {
        self.page.rules.categories().name(rule.category).to_owned()
    }
}

type Output = Arc<Mutex<Vec<u8>>>;

/// Collects lol_html's output until the body filter takes it.
struct Sink(Output);

impl lol_html::OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        lock(&self.0).extend_from_slice(chunk);
    }
}

/// A streaming rewrite of one HTML document.
pub struct Rewriter {
    inner: Option<HtmlRewriter<'static, Sink>>,
    output: Output,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Rewriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewriter").finish_non_exhaustive()
    }
}

type Shared = Arc<Mutex<State>>;

fn raw_text_chunk(
    buf: &mut String,
    chunk: &mut TextChunk<'_>,
    max: usize,
) -> lol_html::HandlerResult {
    if buf.len() + chunk.as_str().len() > max {
        return Err(Box::new(RawTextTooLarge(max)));
    }
    buf.push_str(chunk.as_str());
    chunk.remove();
    Ok(())
}

impl Rewriter {
    /// Starts a rewrite of a page in `encoding`; with `sniff_meta`, a `<meta charset>` in the
    /// document switches the encoding (when neither the header nor a BOM named one).
    pub fn new(
        page: Page,
        selectors: &Arc<Selectors>,
        encoding: &'static encoding_rs::Encoding,
        sniff_meta: bool,
        limits: Limits,
    ) -> Result<Self, HtmlError> {
        let encoding = AsciiCompatibleEncoding::new(encoding)
            .ok_or_else(|| HtmlError::Encoding(encoding.name().to_owned()))?;
        let state: Shared = Arc::new(Mutex::new(State {
            page,
            limits,
            stats: Stats::default(),
            script: None,
            noscript: None,
            selectors: Arc::clone(selectors),
        }));
        let output: Output = Arc::default();

        let (s1, s2) = (Arc::clone(&state), Arc::clone(&state));
        let script = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::script(&s1, el))
            .text(move |chunk: &mut TextChunk<'_>| {
                let mut st = lock(&s2);
                let max = st.limits.max_inline_script;
                match st.script.as_mut() {
                    Some(p) => raw_text_chunk(&mut p.text, chunk, max),
                    None => Ok(()),
                }
            });
        let s = Arc::clone(&state);
        let iframe = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::iframe(&s, el));
        let s = Arc::clone(&state);
        let img = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::image(&s, el));
        let s = Arc::clone(&state);
        let source = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::image(&s, el));
        let s = Arc::clone(&state);
        let link = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::link(&s, el));
        let (s1, s2) = (Arc::clone(&state), Arc::clone(&state));
        let noscript = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::noscript(&s1, el))
            .text(move |chunk: &mut TextChunk<'_>| {
                let mut st = lock(&s2);
                let max = st.limits.max_inline_script;
                match st.noscript.as_mut() {
                    Some(buf) => raw_text_chunk(buf, chunk, max),
                    None => Ok(()),
                }
            });
        let s_end = Arc::clone(&state);
        let document_end = DocumentContentHandlers::default().end(
            move |end: &mut lol_html::html_content::DocumentEnd<'_>| {
                // A raw-text element left open by a truncated document still gets its text back.
                let mut st = lock(&s_end);
                if let Some(text) = neutralize::settle_script(&mut st) {
                    end.append(&text.0, ContentType::Html);
                }
                if let Some(text) = neutralize::settle_noscript(&mut st) {
                    end.append(&text, ContentType::Html);
                }
                Ok(())
            },
        );
        use std::borrow::Cow::Borrowed;
        let settings = Settings::new_send()
            .append_element_content_handler((Borrowed(&selectors.script), script))
            .append_element_content_handler((Borrowed(&selectors.iframe), iframe))
            .append_element_content_handler((Borrowed(&selectors.img), img))
            .append_element_content_handler((Borrowed(&selectors.source), source))
            .append_element_content_handler((Borrowed(&selectors.link), link))
            .append_element_content_handler((Borrowed(&selectors.noscript), noscript))
            .append_document_content_handler(document_end)
            .with_encoding(encoding)
            .with_adjust_charset_on_meta_tag(sniff_meta)
            .with_graceful_bail_out_on_content_handler_error(limits.fail_open)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(limits.max_parser_memory)
                    .with_graceful_bail_out_on_memory_limit_exceeded(limits.fail_open),
            );
        Ok(Rewriter {
            inner: Some(HtmlRewriter::new(settings, Sink(Arc::clone(&output)))),
            output,
            state,
        })
    }

    fn take_output(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *lock(&self.output)))
    }

    /// Feeds a chunk; returns the output ready so far (possibly empty). After an error the
    /// rewriter is finished; with `fail_open`, the output already holds the unmodified rest of
    /// what was written and [`Rewriter::take_failed_output`] returns it.
    pub fn write(&mut self, chunk: &[u8]) -> Result<Bytes, HtmlError> {
        let inner = self.inner.as_mut().ok_or(HtmlError::Finished)?;
        if let Err(e) = inner.write(chunk) {
            self.inner = None;
            return Err(e.into());
        }
        Ok(self.take_output())
    }

    /// Ends the document; returns the remaining output.
    pub fn end(&mut self) -> Result<Bytes, HtmlError> {
        self.inner.take().ok_or(HtmlError::Finished)?.end()?;
        Ok(self.take_output())
    }

    /// After a failed write or end: what the rewriter emitted before giving up (with
    /// `fail_open`, the rest of the input, unmodified).
    pub fn take_failed_output(&self) -> Bytes {
        self.take_output()
    }

    /// What the rewrite has done so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats.clone()
    }
}

/// Rewrites a whole UTF-8 document in one call (tests, `explain`).
pub fn rewrite_all(
    page: Page,
    selectors: &Arc<Selectors>,
    html: &[u8],
) -> Result<(Vec<u8>, Stats), HtmlError> {
    let mut r = Rewriter::new(
        page,
        selectors,
        encoding_rs::UTF_8,
        false,
        Limits::default(),
    )?;
    let mut out = r.write(html)?.to_vec();
    out.extend_from_slice(&r.end()?);
    Ok((out, r.stats()))
}

#[cfg(test)]
mod tests;

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
