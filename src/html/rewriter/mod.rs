//! The streaming rewriter: lol_html with one handler per fetching element kind, sharing a
//! [`State`] that records what was neutralized.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lol_html::html_content::{ContentType, TextChunk};
use lol_html::send::{ElementContentHandlers, HtmlRewriter, Settings};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, MemorySettings, Selector,
    SelectorProgramCache,
};

mod inert;
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
    styled: Option<Selector>,
    body: Selector,
    handlers: Option<Selector>,
    /// Variants for documents seen whole, by what they need.
    narrowed: Mutex<std::collections::HashMap<Needs, Arc<Selectors>>>,
    /// lol_html's matching programs for these selectors (one per encoding and charset
    /// sniffing, and one for the `<noscript>` content check), compiled once instead of for
    /// every rewriter.
    programs: SelectorProgramCache,
}

/// Attributes through which inline code runs: event handlers, and URL attributes that can hold
/// `javascript:`. Handlers not listed here are rare on real pages; the client guard covers code
/// added at run time.
/// Event-handler attributes through which inline code runs.
const HANDLER_ATTRIBUTES: [&str; 19] = [
    "onload",
    "onerror",
    "onclick",
    "onmouseover",
    "onmousedown",
    "onmouseup",
    "onfocus",
    "onblur",
    "onsubmit",
    "onchange",
    "oninput",
    "onkeydown",
    "onkeyup",
    "onbeforeunload",
    "onunload",
    "onpageshow",
    "onanimationstart",
    "ontransitionend",
    "onreadystatechange",
];

/// URL attributes that can hold a `javascript:` URL.
const URL_ATTRIBUTES: [&str; 4] = ["href", "src", "action", "formaction"];

/// What a document can contain that an element-wide attribute check must look at: one bit per
/// event-handler attribute, one for `script:` URLs, one for CSS in `style` attributes. The
/// attribute checks run lol_html's selector machine on every element, so a document known to
/// hold none of them is rewritten without them (see [`Needs::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Needs(u32);

const SCRIPT_URLS: u32 = 1 << HANDLER_ATTRIBUTES.len();
const STYLE_URLS: u32 = SCRIPT_URLS << 1;

impl Needs {
    /// Every check: for a document not seen whole (streamed).
    pub const ALL: Needs = Needs((STYLE_URLS << 1) - 1);

    /// The checks a whole document needs. Over-approximates, never under: an event-handler
    /// or `style` attribute is recognised by its name after an attribute separator and before
    /// `=` (so `el.onload = f` in a script does not count, `<img/ONLOAD = "...">` does); a
    /// `style` value counts when it could fetch (`css::attribute_may_fetch`); and the
    /// URL check is on when `script:` appears anywhere, read as a browser reads a URL (tabs and
    /// newlines inside it dropped: `java<TAB>scr<LF>ipt:`), or a character reference spells a
    /// letter of `javascript`, a colon, a tab or a newline (`java&#115;cript&colon;`).
    pub fn of(document: &[u8]) -> Needs {
        let doc = document;
        let mut bits = 0u32;
        // Attributes: every `=`, with the name written before it. Only names of 5 to
        // `LONGEST_NAME` bytes can count, so the name is looked for in the bytes just before
        // the `=` (and whitespace): a longer run of name bytes is no name of ours.
        for eq in memchr::memchr_iter(b'=', doc) {
            let before = doc.get(..eq).unwrap_or_default();
            let end = before
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |p| p + 1);
            let window = doc
                .get(end.saturating_sub(LONGEST_NAME + 1)..end)
                .unwrap_or_default();
            let len = window
                .iter()
                .rev()
                .position(|&b| !NAME_BYTES.get(usize::from(b)).copied().unwrap_or(false))
                .unwrap_or(window.len());
            if !(5..=LONGEST_NAME).contains(&len) {
                continue;
            }
            let start = end - len;
            let separated = start
                .checked_sub(1)
                .and_then(|p| doc.get(p))
                .is_some_and(|&b| b.is_ascii_whitespace() || matches!(b, b'/' | b'"' | b'\''));
            let Some(name) = doc.get(start..end).filter(|_| separated) else {
                continue;
            };
            if name.len() >= 6 && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"on")) {
                if let Some(i) = HANDLER_ATTRIBUTES
                    .iter()
                    .position(|h| h.as_bytes().eq_ignore_ascii_case(name))
                {
                    bits |= 1 << i;
                }
            } else if name.eq_ignore_ascii_case(b"style")
                && attribute_value(doc, end).is_some_and(crate::html::css::attribute_may_fetch)
            {
                bits |= STYLE_URLS;
            }
        }
        let script_url = memchr::memchr_iter(b':', doc).any(|c| spells_script_before(doc, c))
            || memchr::memchr_iter(b'&', doc).any(|a| reference_can_spell_a_script_url(doc, a));
        if script_url {
            bits |= SCRIPT_URLS;
        }
        Needs(bits)
    }

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// Bytes [`Needs::of`] reads as part of an attribute name, as a table (the test runs on every
/// byte of the names before every `=` of a page).
// Indexing in a constant is checked when it is evaluated, at compile time.
#[allow(clippy::indexing_slicing)]
const NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if b == u8::MAX {
            break table;
        }
        b += 1;
    }
};

/// The longest attribute name [`Needs::of`] looks for.
const LONGEST_NAME: usize = {
    let mut longest = "style".len();
    let mut rest: &[&str] = &HANDLER_ATTRIBUTES;
    while let [first, tail @ ..] = rest {
        if first.len() > longest {
            longest = first.len();
        }
        rest = tail;
    }
    longest
};

/// Whether `script` ends just before `at`, in any case, with tabs and newlines between its
/// letters skipped (as a browser drops them from a URL).
fn spells_script_before(doc: &[u8], at: usize) -> bool {
    let mut letters = b"script".iter().rev();
    let mut want = letters.next();
    let mut i = at;
    while let Some(&w) = want {
        let Some(b) = i.checked_sub(1).and_then(|p| doc.get(p)) else {
            return false;
        };
        i -= 1;
        if matches!(b, b'\t' | b'\n' | b'\r') {
            continue;
        }
        if !b.eq_ignore_ascii_case(&w) {
            return false;
        }
        want = letters.next();
    }
    true
}

/// Whether the character reference at `amp` can help spell a `javascript:` URL: it stands for
/// a letter of `javascript`, a colon, or a control character or space (tabs and newlines are
/// dropped inside a URL, the others around it).
fn reference_can_spell_a_script_url(doc: &[u8], amp: usize) -> bool {
    // The reference runs up to the first byte that is not `#`, `;` or alphanumeric.
    let rest = doc.get(amp + 1..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'#' || b == b';'))
        .unwrap_or(rest.len());
    let text =
        std::str::from_utf8(doc.get(amp..amp + 1 + len).unwrap_or_default()).unwrap_or_default();
    matches!(
        crate::html::url::reference(text),
        Some(c) if c == ':' || c <= ' ' || "javascript".contains(c.to_ascii_lowercase())
    )
}

/// The value of an attribute whose name ends at `at`, when `=` follows (after optional
/// whitespace): quoted, or unquoted up to whitespace or `>`. `None` when no `=` follows.
fn attribute_value(doc: &[u8], at: usize) -> Option<&[u8]> {
    let rest = doc.get(at..)?;
    let skip = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest.get(skip..)?;
    let rest = rest.strip_prefix(b"=")?;
    let skip = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let rest = rest.get(skip..)?;
    Some(match rest.first() {
        Some(&q @ (b'"' | b'\'')) => {
            let body = rest.get(1..)?;
            let end = body.iter().position(|&b| b == q).unwrap_or(body.len());
            body.get(..end)?
        }
        _ => {
            let end = rest
                .iter()
                .position(|&b| b.is_ascii_whitespace() || b == b'>')
                .unwrap_or(rest.len());
            rest.get(..end)?
        }
    })
}

impl Selectors {
    /// Parses the selectors the neutralizer uses.
    pub fn new() -> Result<Self, lol_html::errors::SelectorError> {
        Self::with_needs(Needs::ALL)
    }

    /// Selectors with only the element-wide attribute checks `needs` asks for.
    pub fn with_needs(needs: Needs) -> Result<Self, lol_html::errors::SelectorError> {
        let mut code: Vec<String> = HANDLER_ATTRIBUTES
            .iter()
            .enumerate()
            .filter(|(i, _)| needs.has(1 << i))
            .map(|(_, a)| format!("[{a}]"))
            .collect();
        if needs.has(SCRIPT_URLS) {
            // `script:` as written, or a URL whose scheme a character reference, a tab or a
            // newline could hide: the handler reads those as a browser does.
            for a in URL_ATTRIBUTES {
                for part in [
                    r#""script:" i"#,
                    r#""&""#,
                    r#""\9 ""#,
                    r#""\a ""#,
                    r#""\d ""#,
                ] {
                    code.push(format!("[{a}*={part}]"));
                }
            }
        }
        Ok(Selectors {
            script: "script".parse()?,
            iframe: "iframe[src]".parse()?,
            img: "img".parse()?,
            source: "source".parse()?,
            // `<base href>` too: relative URLs after it resolve against it.
            link: "link[href][rel],base[href]".parse()?,
            noscript: "noscript".parse()?,
            style: "style".parse()?,
            body: "body".parse()?,
            styled: if needs.has(STYLE_URLS) {
                // Character references and CSS escapes can spell `url(` (`u&#114;l(`,
                // `u\72 l(`): the handler resolves them.
                let marks: Vec<String> = crate::html::css::ATTRIBUTE_FETCH_MARKS
                    .iter()
                    .map(|m| format!("[style*=\"{}\" i]", m.replace('\\', "\\\\")))
                    .collect();
                Some(marks.join(",").parse()?)
            } else {
                None
            },
            handlers: if code.is_empty() {
                None
            } else {
                Some(code.join(",").parse()?)
            },
            narrowed: Mutex::new(std::collections::HashMap::new()),
            programs: SelectorProgramCache::new(),
        })
    }

    /// The element selectors, without the attribute checks (for measuring lol_html's own cost
    /// with the same selectors).
    pub fn elements(&self) -> [&Selector; 8] {
        [
            &self.script,
            &self.iframe,
            &self.img,
            &self.source,
            &self.link,
            &self.noscript,
            &self.style,
            &self.body,
        ]
    }

    /// The selectors for a document whose whole bytes are known: only the attribute checks it
    /// can need. Variants are built once and kept (a few dozen at most in practice; past 256
    /// the full set is used).
    pub fn narrowed(self: &Arc<Self>, document: &[u8]) -> Arc<Selectors> {
        self.with_only(Needs::of(document))
    }

    /// The selectors with only the attribute checks `needs` asks for (built once, kept).
    fn with_only(self: &Arc<Self>, needs: Needs) -> Arc<Selectors> {
        if needs == Needs::ALL {
            return Arc::clone(self);
        }
        let mut cache = lock(&self.narrowed);
        if let Some(s) = cache.get(&needs) {
            return Arc::clone(s);
        }
        if cache.len() >= 256 {
            return Arc::clone(self);
        }
        match Selectors::with_needs(needs) {
            Ok(s) => {
                let s = Arc::new(s);
                cache.insert(needs, Arc::clone(&s));
                s
            }
            Err(_) => Arc::clone(self),
        }
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
            // At most 512 characters: a target of at most 512 bytes is copied whole.
            target: if target.len() <= 512 {
                target.to_owned()
            } else {
                target.chars().take(512).collect()
            },
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
    /// For a whole document: the stretches to copy past lol_html, found when the rewriter was
    /// made for it.
    stretches: Option<WholeDocument>,
}

/// The document a rewriter was made for (address and length, to know it again) and its
/// stretches.
struct WholeDocument {
    seen: (usize, usize),
    stretches: Vec<std::ops::Range<usize>>,
}

/// The stretches of a whole document that the rewrite for `page` copies unchanged (see
/// [`inert`]): in order, each a run of whole tokens.
pub fn inert_stretches(page: &Page, doc: &[u8]) -> Vec<std::ops::Range<usize>> {
    stretches_for(page, doc, Needs::of(doc))
}

/// [`inert_stretches`] for a document that needs at most the attribute checks `needs` (the
/// URL check off: no URL attribute can hold a `javascript:` URL, so none stops a stretch).
fn stretches_for(page: &Page, doc: &[u8], needs: Needs) -> Vec<std::ops::Range<usize>> {
    inert::spans(doc, needs.has(SCRIPT_URLS), |kind, url| match kind {
        inert::ImageUrl::Src => page.blocking_rule(url).is_some(),
        inert::ImageUrl::Srcset => page.srcset_rule(url).is_some(),
    })
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
        let mut settings = Settings::new_send()
            .append_element_content_handler((Borrowed(&selectors.script), script))
            .append_element_content_handler((Borrowed(&selectors.iframe), iframe))
            .append_element_content_handler((Borrowed(&selectors.img), img))
            .append_element_content_handler((Borrowed(&selectors.source), source))
            .append_element_content_handler((Borrowed(&selectors.link), link))
            .append_element_content_handler((Borrowed(&selectors.noscript), noscript))
            .append_element_content_handler((Borrowed(&selectors.style), style));
        if let Some(sel) = &selectors.styled {
            settings = settings.append_element_content_handler((Borrowed(sel), styled));
        }
        if let Some(sel) = &selectors.handlers {
            settings = settings.append_element_content_handler((Borrowed(sel), handlers));
        }
        let settings = settings
            .append_element_content_handler((Borrowed(&selectors.body), body))
            .append_document_content_handler(document_end)
            .with_encoding(encoding)
            .with_adjust_charset_on_meta_tag(sniff_meta)
            .with_selector_program_cache(&selectors.programs)
            .with_graceful_bail_out_on_content_handler_error(limits.fail_open)
            // Where lol_html cannot be sure how a browser nests a tag (a raw-text start tag
            // inside `<select>` or after `<frameset>`) it stops, without flushing what it held:
            // failing closed, that is what we want. Failing open, it goes on with its best
            // reading instead, which still blocks all it sees, rather than cut the page short.
            .with_strict(!limits.fail_open)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(limits.max_parser_memory)
                    .with_graceful_bail_out_on_memory_limit_exceeded(limits.fail_open),
            );
        Ok(Rewriter {
            inner: Some(HtmlRewriter::new(settings, Sink(Arc::clone(&output)))),
            output,
            state,
            stretches: None,
        })
    }

    /// Starts the rewrite of a whole document, `doc`, which must then be given, the same slice,
    /// to [`Rewriter::write_whole`] (the checks are chosen for it): the stretches it copies past
    /// lol_html are found first, and lol_html runs only the attribute checks the rest can need.
    pub fn for_whole(
        page: Page,
        selectors: &Arc<Selectors>,
        doc: &[u8],
        encoding: &'static encoding_rs::Encoding,
        sniff_meta: bool,
        limits: RewriteLimits,
    ) -> Result<Self, HtmlError> {
        let needs = Needs::of(doc);
        let stretches = stretches_for(&page, doc, needs);
        // The checks the whole page needs, as when lol_html reads it all: its parser mode, which
        // the checks decide, must be the same either way.
        let selectors = selectors.with_only(needs);
        let mut rewriter = Rewriter::new(page, &selectors, encoding, sniff_meta, limits)?;
        rewriter.stretches = Some(WholeDocument {
            seen: (doc.as_ptr() as usize, doc.len()),
            stretches,
        });
        Ok(rewriter)
    }

    /// Puts `tag` (the client guard's `<script>`) right before the page's first executable
    /// script, so it runs before any other, or before a `<base href>` that comes first (so that
    /// its URL resolves on the site); a page with neither does not get it.
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

    /// Makes room for `bytes` of output ahead (a whole document's rewrite).
    pub fn reserve_output(&self, bytes: usize) {
        lock(&self.output).reserve(bytes);
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

    /// Feeds a whole document (its every byte known, the end included) and returns the output
    /// so far. Stretches the rewrite would copy unchanged (see [`inert`]) go straight to the
    /// output; lol_html parses the rest, in order. After an error the rewriter is finished;
    /// with `fail_open` the output holds the unmodified rest of the document, as with
    /// [`Rewriter::write`].
    pub fn write_whole(&mut self, doc: &[u8]) -> Result<Bytes, HtmlError> {
        let spans = match self.stretches.take() {
            Some(w) if w.seen == (doc.as_ptr() as usize, doc.len()) => w.stretches,
            // Not the document the rewriter was made for: every check counts.
            _ => stretches_for(&lock(&self.state).page, doc, Needs::ALL),
        };
        let mut at = 0;
        for span in spans {
            self.feed(doc, at, span.start)?;
            lock(&self.output).extend_from_slice(doc.get(span.clone()).unwrap_or_default());
            at = span.end;
        }
        self.feed(doc, at, doc.len())?;
        Ok(self.take_output())
    }

    /// Feeds `doc[from..to]` to lol_html, part of a whole document.
    fn feed(&mut self, doc: &[u8], from: usize, to: usize) -> Result<(), HtmlError> {
        let inner = self.inner.as_mut().ok_or(HtmlError::Finished)?;
        let Err(e) = inner.write(doc.get(from..to).unwrap_or_default()) else {
            return Ok(());
        };
        self.inner = None;
        // Where lol_html bails out gracefully it has flushed the rest of this part unmodified;
        // the rest of the document follows (what one write of the whole document gives).
        let flushed = !matches!(e, lol_html::errors::RewritingError::ParsingAmbiguity(_));
        if flushed && lock(&self.state).limits.fail_open {
            lock(&self.output).extend_from_slice(doc.get(to..).unwrap_or_default());
        }
        Err(e.into())
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
    let mut r = Rewriter::for_whole(
        page,
        selectors,
        html,
        encoding_rs::UTF_8,
        false,
        RewriteLimits::default(),
    )?;
    let mut out = r.write_whole(html)?.to_vec();
    out.extend_from_slice(&r.end()?);
    Ok((out, r.stats()))
}
