//! Streaming HTML neutralizer: makes denied third-party elements inert while the page streams
//! through, so the browser never fetches or runs them.
//!
//! The inert markup is the contract with consent tools (and consent-gate's own banner), which
//! re-activate elements after consent without a reload:
//!
//! * `<script src>` of a denied resource: `src` moves to `data-consent-src`, `type` becomes
//!   `text/plain` (the original `type`, if any, is kept in `data-consent-type`), and
//!   `data-consent-category` / `data-consent-vendor` say why. Every other attribute (`nonce`,
//!   `async`, `id`, ...) is left as it was.
//! * inline `<script>` whose text carries a denied signature: the original element is emptied
//!   (its start tag is already on the wire when its text arrives) and the text follows it in a
//!   `<script type="text/plain" data-consent-category=… data-consent-vendor=…>` with the original
//!   attributes, `type` kept in `data-consent-type` as above.
//!
//! To re-activate, create a new `<script>` with the element's attributes, `src` from
//! `data-consent-src` (or the element's text), `type` from `data-consent-type` (or none), and
//! the page's nonce, then insert it.

pub mod url;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lol_html::html_content::{ContentType, EndTag, TextChunk};
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
}

impl Kind {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::InlineScript => "inline_script",
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
    fn record(&mut self, action: Action) {
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

/// A handler error: an inline script exceeded the configured buffer.
#[derive(Debug, thiserror::Error)]
#[error("inline script larger than max_inline_script_bytes={0}")]
struct InlineScriptTooLarge(usize);

/// CSS selectors, parsed once at start-up.
#[derive(Debug)]
pub struct Selectors {
    script: Selector,
}

impl Selectors {
    /// Parses the selectors the neutralizer uses.
    pub fn new() -> Result<Self, lol_html::errors::SelectorError> {
        Ok(Selectors {
            script: "script".parse()?,
        })
    }
}

/// Limits for one rewrite.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// lol_html's parser memory cap, bytes.
    pub max_parser_memory: usize,
    /// Largest inline script buffered to look for signatures, bytes.
    pub max_inline_script: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parser_memory: 4 << 20,
            max_inline_script: 4 << 20,
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
}

impl Page {
    /// The rule that blocks a URL on this page, if any. First-party URLs are blocked only by a
    /// rule that names a host below the site's registrable domain (e.g. `metrics.example.com`).
    pub fn blocking_rule(&self, raw_url: &str) -> Option<&RuleInfo> {
        let target = url::target(raw_url)?;
        let Verdict::Classified(rule) = self.rules.resource(&target.host, &target.path) else {
            return None;
        };
        if self.allowed.contains(rule.category) {
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

    fn signature(&self, text: &str) -> Option<&RuleInfo> {
        self.rules
            .signature(text)
            .filter(|r| !self.allowed.contains(r.category))
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

/// An inline script being buffered until its end tag decides its fate.
#[derive(Debug)]
struct PendingScript {
    /// Original attributes, `(name, raw value)`.
    attributes: Vec<(String, Option<String>)>,
    text: String,
}

impl PendingScript {
    /// The inert copy that carries the script's text.
    fn inert(&self, rule: &RuleInfo, category: &str) -> String {
        let mut out = String::from("<script type=\"text/plain\"");
        for (name, value) in &self.attributes {
            let name = if name == "type" {
                "data-consent-type"
            } else {
                name
            };
            out.push(' ');
            out.push_str(name);
            if let Some(v) = value {
                // lol_html gives values with their character references still encoded.
                out.push_str("=\"");
                out.push_str(&v.replace('"', "&quot;"));
                out.push('"');
            }
        }
        out.push_str(&format!(
            " data-consent-category=\"{}\" data-consent-vendor=\"{}\">",
            escape(category),
            escape(&rule.vendor)
        ));
        out.push_str(&self.text);
        out.push_str("</script>");
        out
    }
}

struct State {
    page: Page,
    limits: Limits,
    stats: Stats,
    pending: Option<PendingScript>,
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

    /// Decides a buffered inline script at its end tag (or the end of the document): returns
    /// the markup to emit in its place.
    fn settle(&mut self) -> Option<(String, bool)> {
        let pending = self.pending.take()?;
        let Some(rule) = self.page.signature(&pending.text).cloned() else {
            return Some((pending.text, false));
        };
        self.action(Kind::InlineScript, &rule, &rule.pattern.clone());
        if self.page.report_only {
            return Some((pending.text, false));
        }
        let category = self.page.rules.categories().name(rule.category).to_owned();
        Some((pending.inert(&rule, &category), true))
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

/// A streaming rewrite of one HTML response.
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

fn script_element(
    state: &Arc<Mutex<State>>,
    el: &mut lol_html::send::Element<'_, '_>,
) -> lol_html::HandlerResult {
    let type_attr = el.get_attribute("type");
    if !is_javascript(type_attr.as_deref()) {
        return Ok(());
    }
    if let Some(src) = el.get_attribute("src") {
        let mut st = lock(state);
        let Some(rule) = st.page.blocking_rule(&src).cloned() else {
            return Ok(());
        };
        st.action(Kind::Script, &rule, &src);
        if st.page.report_only {
            return Ok(());
        }
        let category = st.page.rules.categories().name(rule.category).to_owned();
        drop(st);
        el.remove_attribute("src");
        el.set_attribute("data-consent-src", &src)?;
        if let Some(t) = &type_attr {
            el.set_attribute("data-consent-type", t)?;
        }
        el.set_attribute("type", "text/plain")?;
        el.set_attribute("data-consent-category", &escape(&category))?;
        el.set_attribute("data-consent-vendor", &escape(&rule.vendor))?;
        return Ok(());
    }
    // Inline script: hold its text back until the end tag shows whether it carries a signature.
    let attributes = el
        .attributes()
        .iter()
        .map(|a| (a.name(), Some(a.value())))
        .collect();
    lock(state).pending = Some(PendingScript {
        attributes,
        text: String::new(),
    });
    let st = Arc::clone(state);
    if let Some(handlers) = el.end_tag_handlers() {
        handlers.push(Box::new(move |end: &mut EndTag<'_>| {
            match lock(&st).settle() {
                Some((text, false)) => end.before(&text, ContentType::Html),
                Some((inert, true)) => end.after(&inert, ContentType::Html),
                None => {}
            }
            Ok(())
        }));
    }
    Ok(())
}

fn script_text(state: &Arc<Mutex<State>>, chunk: &mut TextChunk<'_>) -> lol_html::HandlerResult {
    let mut st = lock(state);
    let max = st.limits.max_inline_script;
    if let Some(pending) = st.pending.as_mut() {
        if pending.text.len() + chunk.as_str().len() > max {
            return Err(Box::new(InlineScriptTooLarge(max)));
        }
        pending.text.push_str(chunk.as_str());
        chunk.remove();
    }
    Ok(())
}

impl Rewriter {
    /// Starts a rewrite of a page in `encoding` (from Content-Type, default UTF-8).
    pub fn new(
        page: Page,
        selectors: &Selectors,
        encoding: &'static encoding_rs::Encoding,
        limits: Limits,
    ) -> Result<Self, HtmlError> {
        let encoding = AsciiCompatibleEncoding::new(encoding)
            .ok_or_else(|| HtmlError::Encoding(encoding.name().to_owned()))?;
        let state = Arc::new(Mutex::new(State {
            page,
            limits,
            stats: Stats::default(),
            pending: None,
        }));
        let output: Output = Arc::default();
        let sink = Sink(Arc::clone(&output));

        let (s_el, s_text, s_end) = (Arc::clone(&state), Arc::clone(&state), Arc::clone(&state));
        let script_handlers = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| script_element(&s_el, el))
            .text(move |chunk: &mut TextChunk<'_>| script_text(&s_text, chunk));
        let document_end = DocumentContentHandlers::default().end(
            move |end: &mut lol_html::html_content::DocumentEnd<'_>| {
                // A script left open by a truncated document still gets its text back.
                if let Some((text, _)) = lock(&s_end).settle() {
                    end.append(&text, ContentType::Html);
                }
                Ok(())
            },
        );
        let settings = Settings::new_send()
            .append_element_content_handler((
                std::borrow::Cow::Borrowed(&selectors.script),
                script_handlers,
            ))
            .append_document_content_handler(document_end)
            .with_encoding(encoding)
            .with_memory_settings(
                MemorySettings::new().with_max_allowed_memory_usage(limits.max_parser_memory),
            );
        Ok(Rewriter {
            inner: Some(HtmlRewriter::new(settings, sink)),
            output,
            state,
        })
    }

    fn take_output(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *lock(&self.output)))
    }

    /// Feeds a chunk; returns the output ready so far (possibly empty).
    pub fn write(&mut self, chunk: &[u8]) -> Result<Bytes, HtmlError> {
        self.inner
            .as_mut()
            .ok_or(HtmlError::Finished)?
            .write(chunk)?;
        Ok(self.take_output())
    }

    /// Ends the document; returns the remaining output.
    pub fn end(&mut self) -> Result<Bytes, HtmlError> {
        self.inner.take().ok_or(HtmlError::Finished)?.end()?;
        Ok(self.take_output())
    }

    /// What the rewrite has done so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats.clone()
    }
}

/// Rewrites a whole document in one call (tests, `explain`).
pub fn rewrite_all(
    page: Page,
    selectors: &Selectors,
    html: &[u8],
) -> Result<(Vec<u8>, Stats), HtmlError> {
    let mut r = Rewriter::new(page, selectors, encoding_rs::UTF_8, Limits::default())?;
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

/// The encoding named by a `Content-Type` charset parameter (UTF-8 when absent), or `Err` with
/// the label when it is unknown.
pub fn charset(content_type: Option<&[u8]>) -> Result<&'static encoding_rs::Encoding, String> {
    let ct = content_type
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    for param in ct.split(';').skip(1) {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let label = v.trim().trim_matches('"');
            return encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| label.to_owned());
        }
    }
    Ok(encoding_rs::UTF_8)
}
