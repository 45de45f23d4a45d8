//! The streaming rewriter: lol_html with one handler per fetching element kind, sharing a
//! [`State`] that records what was neutralized.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lol_html::html_content::{ContentType, TextChunk};
use lol_html::send::{ElementContentHandlers, HtmlRewriter, Settings};
use lol_html::{AsciiCompatibleEncoding, DocumentContentHandlers, MemorySettings, Selector};

mod neutralize;
pub(in crate::html) use neutralize::is_hint;

use super::page::{Action, Kind, Page, Stats};
use crate::rules::RuleInfo;

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
    style: Selector,
    styled: Selector,
    body: Selector,
    handlers: Selector,
}

/// Attributes through which inline code runs: event handlers, and URL attributes that can hold
/// `javascript:`. Handlers not listed here are rare on real pages; the client guard covers code
/// added at run time.
const CODE_ATTRIBUTES: &str = "[onload],[onerror],[onclick],[onmouseover],[onmousedown],[onmouseup],[onfocus],[onblur],[onsubmit],[onchange],[oninput],[onkeydown],[onkeyup],[onbeforeunload],[onunload],[onpageshow],[onanimationstart],[ontransitionend],[onreadystatechange],[href*=\"script:\" i],[src*=\"script:\" i],[action*=\"script:\" i],[formaction*=\"script:\" i]";

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
            style: "style".parse()?,
            body: "body".parse()?,
            styled: "[style*=\"url(\" i],[style*=\"@import\" i]".parse()?,
            handlers: CODE_ATTRIBUTES.parse()?,
        })
    }
}

/// Limits and options for one rewrite.
#[derive(Debug, Clone, Copy)]
pub struct RewriteLimits {
    /// lol_html's parser memory cap, bytes.
    pub max_parser_memory: usize,
    /// Largest inline script or noscript buffered to be inspected, bytes.
    pub max_inline_script: usize,
    /// Show a placeholder (via `srcdoc`) in neutralized iframes.
    pub iframe_placeholder: bool,
    /// On a rewriting error, pass the rest of the page through unmodified instead of aborting.
    pub fail_open: bool,
}

impl Default for RewriteLimits {
    fn default() -> Self {
        RewriteLimits {
            max_parser_memory: 4 << 20,
            max_inline_script: 4 << 20,
            iframe_placeholder: true,
            fail_open: false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    limits: RewriteLimits,
    stats: Stats,
    script: Option<Pending>,
    noscript: Option<String>,
    style: Option<String>,
    /// The client guard's tag, until it is put before the first executable script.
    guard: Option<String>,
    /// The consent banner's markup, until the end of the body; dropped when the page loads a
    /// consent tool's script (hosts in `banner_tools`).
    banner: Option<String>,
    banner_tools: Vec<String>,
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
        limits: RewriteLimits,
    ) -> Result<Self, HtmlError> {
        let encoding = AsciiCompatibleEncoding::new(encoding)
            .ok_or_else(|| HtmlError::Encoding(encoding.name().to_owned()))?;
        let state: Shared = Arc::new(Mutex::new(State {
            page,
            limits,
            stats: Stats::default(),
            script: None,
            noscript: None,
            style: None,
            guard: None,
            banner: None,
            banner_tools: Vec::new(),
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
        let (s1, s2) = (Arc::clone(&state), Arc::clone(&state));
        let style = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::style(&s1, el))
            .text(move |chunk: &mut TextChunk<'_>| {
                let mut st = lock(&s2);
                let max = st.limits.max_inline_script;
                match st.style.as_mut() {
                    Some(buf) => raw_text_chunk(buf, chunk, max),
                    None => Ok(()),
                }
            });
        let s = Arc::clone(&state);
        let styled = ElementContentHandlers::default().element(
            move |el: &mut lol_html::send::Element<'_, '_>| neutralize::style_attribute(&s, el),
        );
        let s = Arc::clone(&state);
        let handlers = ElementContentHandlers::default().element(
            move |el: &mut lol_html::send::Element<'_, '_>| neutralize::code_attributes(&s, el),
        );
        let s = Arc::clone(&state);
        let body = ElementContentHandlers::default()
            .element(move |el: &mut lol_html::send::Element<'_, '_>| neutralize::body(&s, el));
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
                if let Some(text) = neutralize::settle_style(&mut st) {
                    end.append(&text, ContentType::Html);
                }
                if let Some(banner) = st.banner.take() {
                    end.append(&banner, ContentType::Html);
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
            .append_element_content_handler((Borrowed(&selectors.style), style))
            .append_element_content_handler((Borrowed(&selectors.styled), styled))
            .append_element_content_handler((Borrowed(&selectors.handlers), handlers))
            .append_element_content_handler((Borrowed(&selectors.body), body))
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

    /// Puts `tag` (the client guard's `<script>`) right before the page's first executable
    /// script, so it runs before any other; a page without scripts does not get it.
    pub fn inject_before_first_script(&self, tag: String) {
        lock(&self.state).guard = Some(tag);
    }

    /// Puts `html` (the consent banner) at the end of the body, unless the page loads a script
    /// from one of `tool_hosts` (a consent tool) before then.
    pub fn inject_banner(&self, html: String, tool_hosts: Vec<String>) {
        let mut st = lock(&self.state);
        st.banner = Some(html);
        st.banner_tools = tool_hosts;
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
        RewriteLimits::default(),
    )?;
    let mut out = r.write(html)?.to_vec();
    out.extend_from_slice(&r.end()?);
    Ok((out, r.stats()))
}
