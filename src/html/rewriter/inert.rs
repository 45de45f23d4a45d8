//! Stretches of a whole document that the rewrite leaves byte for byte as they are, found by a
//! scan far cheaper than lol_html's: most of a page's body is content markup (`div`, `p`, `a`,
//! first-party images) where no handler acts. The rewriter feeds lol_html everything else and
//! copies these stretches straight to the output.
//!
//! A stretch qualifies only when lol_html would end it in the state it started in, so skipping
//! it changes nothing that follows:
//! - it starts and ends in the data state of HTML content (not inside a tag, comment, raw text
//!   or foreign content such as `<svg>`), and contains only text, comments, doctypes and tags;
//! - its tags are on a fixed list of content elements that no selector of the rewriter names,
//!   that lol_html's tree-builder simulation ignores in HTML content, and that do not switch
//!   the tokenizer to raw text; images (`img`, `source`) qualify when no URL they hold is
//!   blocked on the page;
//! - no attribute is one the element-wide checks look at (`on*` handlers, `style` with `url(` or
//!   `@import`, a URL attribute holding `script:`, a character reference, a tab or a newline);
//! - its elements are balanced: every end tag closes the element opened last inside the stretch,
//!   and none is left open, so lol_html's element stack is the same after it as before.
//!
//! The scan follows lol_html's tokenizer (which follows the HTML standard's) for the tokens it
//! crosses, including the namespace tracking of its tree-builder simulation, so it knows where
//! raw text and foreign content end. Where it cannot be sure (a script holding both `<!--` and
//! `<script`, `<plaintext>`, a truncated token), it stops, and lol_html takes the rest.

use std::ops::Range;

/// Which URL an image attribute holds, for the caller's blocking check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImageUrl {
    /// `src`: one URL.
    Src,
    /// `srcset`: candidate URLs with descriptors.
    Srcset,
}

/// Stretches shorter than this are left to lol_html: each cut costs a call into it.
pub(super) const MIN_SPAN: usize = 256;

/// Content elements a stretch may hold (lower case), with whether they are void (lol_html never
/// pushes them on its element stack). None is named by a rewriter selector except `img` and
/// `source`, whose URLs are checked; none switches lol_html's tokenizer or tree-builder state
/// in HTML content; none is one its parsing-ambiguity guard tracks (`select`, `template`,
/// `input`, `keygen`, `textarea`, `frameset`).
fn content_element(name: &[u8]) -> Option<bool> {
    if name.len() > 7 {
        const LONG: [&[u8]; 6] = [
            b"blockquote",
            b"colgroup",
            b"fieldset",
            b"figcaption",
            b"optgroup",
            b"progress",
        ];
        return LONG
            .iter()
            .any(|l| l.eq_ignore_ascii_case(name))
            .then_some(false);
    }
    // The name's bytes, lower-cased, then its length, as one number: compiled comparisons
    // instead of string compares (each key is listed with its name).
    let key = name.iter().fold(0u64, |key, b| {
        (key << 8) | u64::from(b.to_ascii_lowercase())
    });
    match (key << 8) | name.len() as u64 {
        0x0000000000627202 // br
        | 0x0000000000687202 // hr
        | 0x00000000636f6c03 // col
        | 0x00000000696d6703 // img
        | 0x0000000077627203 // wbr
        | 0x00736f7572636506 // source
        => Some(true),
        0x0000000000006101 // a
        | 0x0000000000006201 // b
        | 0x0000000000006901 // i
        | 0x0000000000007001 // p
        | 0x0000000000007101 // q
        | 0x0000000000007301 // s
        | 0x0000000000007501 // u
        | 0x0000000000646402 // dd
        | 0x0000000000646c02 // dl
        | 0x0000000000647402 // dt
        | 0x0000000000656d02 // em
        | 0x0000000000683102 // h1
        | 0x0000000000683202 // h2
        | 0x0000000000683302 // h3
        | 0x0000000000683402 // h4
        | 0x0000000000683502 // h5
        | 0x0000000000683602 // h6
        | 0x00000000006c6902 // li
        | 0x00000000006f6c02 // ol
        | 0x0000000000727002 // rp
        | 0x0000000000727402 // rt
        | 0x0000000000746402 // td
        | 0x0000000000746802 // th
        | 0x0000000000747202 // tr
        | 0x0000000000747402 // tt
        | 0x0000000000756c02 // ul
        | 0x0000000062646903 // bdi
        | 0x0000000062646f03 // bdo
        | 0x0000000062696703 // big
        | 0x0000000064656c03 // del
        | 0x0000000064666e03 // dfn
        | 0x0000000064697603 // div
        | 0x00000000696e7303 // ins
        | 0x000000006b626403 // kbd
        | 0x000000006e617603 // nav
        | 0x0000000070726503 // pre
        | 0x0000000073756203 // sub
        | 0x0000000073757003 // sup
        | 0x0000000076617203 // var
        | 0x0000006162627204 // abbr
        | 0x0000006369746504 // cite
        | 0x000000636f646504 // code
        | 0x0000006461746104 // data
        | 0x000000666f6e7404 // font
        | 0x000000666f726d04 // form
        | 0x0000006d61696e04 // main
        | 0x0000006d61726b04 // mark
        | 0x0000006d656e7504 // menu
        | 0x0000006e6f627204 // nobr
        | 0x0000007275627904 // ruby
        | 0x00000073616d7004 // samp
        | 0x0000007370616e04 // span
        | 0x00000074696d6504 // time
        | 0x0000617369646505 // aside
        | 0x00006c6162656c05 // label
        | 0x00006d6574657205 // meter
        | 0x0000736d616c6c05 // small
        | 0x00007461626c6505 // table
        | 0x000074626f647905 // tbody
        | 0x000074666f6f7405 // tfoot
        | 0x0000746865616405 // thead
        | 0x00627574746f6e06 // button
        | 0x0063656e74657206 // center
        | 0x0066696775726506 // figure
        | 0x00666f6f74657206 // footer
        | 0x0068656164657206 // header
        | 0x006867726f757006 // hgroup
        | 0x006c6567656e6406 // legend
        | 0x006f7074696f6e06 // option
        | 0x006f757470757406 // output
        | 0x0073656172636806 // search
        | 0x00737472696b6506 // strike
        | 0x007374726f6e6706 // strong
        | 0x6164647265737307 // address
        | 0x61727469636c6507 // article
        | 0x63617074696f6e07 // caption
        | 0x64657461696c7307 // details
        | 0x7069637475726507 // picture
        | 0x73656374696f6e07 // section
        | 0x73756d6d61727907 // summary
        => Some(false),
        _ => None,
    }
}

/// Elements whose content lol_html's tokenizer reads as raw text (in HTML content), with
/// whether it is script data (which has escape states).
fn raw_text_element(name: &[u8]) -> Option<bool> {
    const RAW: [&[u8]; 9] = [
        b"script",
        b"style",
        b"textarea",
        b"title",
        b"xmp",
        b"iframe",
        b"noembed",
        b"noframes",
        b"noscript",
    ];
    RAW.iter()
        .find(|r| r.eq_ignore_ascii_case(name))
        .map(|r| *r == b"script")
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0C')
}

/// Bytes that end a tag name (whitespace, `/`, `>`) and, with `=`, an attribute name.
const ENDS_TAG_NAME: u8 = 1;
const ENDS_ATTRIBUTE_NAME: u8 = 2;
const ENDS_UNQUOTED_VALUE: u8 = 4;

#[inline]
fn class(b: u8) -> u8 {
    match b {
        b' ' | b'\n' | b'\r' | b'\t' | b'\x0C' | b'>' => {
            ENDS_TAG_NAME | ENDS_ATTRIBUTE_NAME | ENDS_UNQUOTED_VALUE
        }
        b'/' => ENDS_TAG_NAME | ENDS_ATTRIBUTE_NAME,
        b'=' => ENDS_ATTRIBUTE_NAME,
        _ => 0,
    }
}

/// The position of the first byte at or after `from` in `class`; `None` at the document's end.
#[inline]
fn skip_to(doc: &[u8], from: usize, class: u8) -> Option<usize> {
    doc.get(from..)?
        .iter()
        .position(|&b| self::class(b) & class != 0)
        .map(|p| from + p)
}

/// The first `needle` in `hay`, as `memchr` finds it. The scan's searches mostly end within a
/// few bytes (an attribute value, the text between two tags), where memchr's setup costs more
/// than the search: the first bytes are tested eight at a time in a word, memchr takes over
/// past them.
#[inline]
fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut at = 0;
    while at < 32 {
        let Some(Ok(word)) = hay.get(at..at + 8).map(<[u8; 8]>::try_from) else {
            break;
        };
        // A zero byte of `x` is a match. The lowest byte flagged here is always a real zero (a
        // borrow only flags bytes above one), and in little-endian order it comes first.
        let x = u64::from_le_bytes(word) ^ pattern;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr::memchr(needle, hay.get(at..)?).map(|p| at + p)
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    // Only where the first byte occurs, in either case, is the rest compared.
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay).any(|p| {
        hay.get(p + 1..p + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// Namespaces of lol_html's tree-builder simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Html,
    Svg,
    MathMl,
}

/// An attribute as the tag holds it: `(name, value)`; a value is empty when missing.
type Attribute<'a> = (&'a [u8], &'a [u8]);

/// One tag as lol_html's tokenizer reads it. Small and plain, so that it lives in registers:
/// its attributes stay in the scan's list.
#[derive(Clone, Copy)]
struct Tag<'a, 'l> {
    name: &'a [u8],
    attributes: &'l [Attribute<'a>],
    self_closing: bool,
    /// Just past the `>`.
    end: usize,
}

impl Tag<'_, '_> {
    fn attribute(&self, name: &[u8]) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Reads the tag (start or end) whose name starts at `at` (just past `<` or `</`), its
/// attributes into `attributes` (emptied first, kept to be used again); `None` when the
/// document ends inside it.
#[inline(always)]
fn read_tag<'a, 'l>(
    doc: &'a [u8],
    at: usize,
    attributes: &'l mut Vec<Attribute<'a>>,
) -> Option<Tag<'a, 'l>> {
    attributes.clear();
    let mut i = skip_to(doc, at, ENDS_TAG_NAME)?;
    let name = doc.get(at..i)?;
    let mut self_closing = false;
    // Before an attribute name.
    loop {
        let b = *doc.get(i)?;
        i += 1;
        match b {
            _ if is_space(b) => continue,
            b'>' => break,
            b'/' => {
                // Self-closing start tag state: `>` ends, anything else is read again as the
                // start of an attribute.
                if *doc.get(i)? == b'>' {
                    self_closing = true;
                    i += 1;
                    break;
                }
                continue;
            }
            _ => {}
        }
        // Attribute name (its first character may be anything, `=` included).
        let name_start = i - 1;
        i = skip_to(doc, i, ENDS_ATTRIBUTE_NAME)?;
        let name = doc.get(name_start..i)?;
        // After the name.
        while is_space(*doc.get(i)?) {
            i += 1;
        }
        if *doc.get(i)? != b'=' {
            attributes.push((name, &[]));
            continue;
        }
        i += 1;
        // Before the value.
        while is_space(*doc.get(i)?) {
            i += 1;
        }
        let value = match *doc.get(i)? {
            b'>' => {
                attributes.push((name, &[]));
                i += 1;
                break;
            }
            q @ (b'"' | b'\'') => {
                let start = i + 1;
                let len = find_byte(q, doc.get(start..)?)?;
                i = start + len + 1;
                doc.get(start..start + len)?
            }
            _ => {
                let start = i;
                i = skip_to(doc, i, ENDS_UNQUOTED_VALUE)?;
                doc.get(start..i)?
            }
        };
        attributes.push((name, value));
        if attributes.len() > MAX_ATTRIBUTES || i - at > MAX_TAG_BYTES {
            return None;
        }
    }
    if i - at > MAX_TAG_BYTES {
        return None;
    }
    Some(Tag {
        name,
        attributes,
        self_closing,
        end: i,
    })
}

/// The largest tag, and the most attributes in one, the scan reads: past them it stops and
/// lol_html takes the rest, within its own memory limit (the scan's attribute list stays small).
const MAX_TAG_BYTES: usize = 64 << 10;
const MAX_ATTRIBUTES: usize = 256;

/// Reads an end tag whose name starts at `at`, like [`read_tag`], quickly when it is just a
/// name and `>`.
#[inline]
fn read_end_tag<'a, 'l>(
    doc: &'a [u8],
    at: usize,
    attributes: &'l mut Vec<Attribute<'a>>,
) -> Option<Tag<'a, 'l>> {
    let name_end = skip_to(doc, at, ENDS_TAG_NAME)?;
    if doc.get(name_end) == Some(&b'>') {
        return Some(Tag {
            name: doc.get(at..name_end)?,
            attributes: &[],
            self_closing: false,
            end: name_end + 1,
        });
    }
    read_tag(doc, at, attributes)
}

/// The end of a comment whose `<!--` ends at `at`.
fn comment_end(doc: &[u8], at: usize) -> Option<usize> {
    let rest = doc.get(at..)?;
    if rest.first() == Some(&b'>') {
        return Some(at + 1);
    }
    if rest.starts_with(b"->") {
        return Some(at + 2);
    }
    // The first `--` followed by `>` or `!>` ends it (one pass, whatever follows).
    let mut from = 0;
    loop {
        let p = from + memchr::memmem::find(rest.get(from..)?, b"--")?;
        match rest.get(p + 2) {
            Some(b'>') => return Some(at + p + 3),
            Some(b'!') if rest.get(p + 3) == Some(&b'>') => return Some(at + p + 4),
            _ => from = p + 1,
        }
    }
}

/// Where the raw text of element `name` (started at `at`) ends: the start of its end tag,
/// `</name` followed by a space, `/` or `>`. `None` when the document ends first, or when
/// script data holds both `<!--` and `<script` (its escape states could move the end).
fn raw_text_end(doc: &[u8], at: usize, name: &[u8], script: bool) -> Option<usize> {
    let mut from = at;
    let end = loop {
        let rest = doc.get(from..)?;
        let p = from + memchr::memmem::find(rest, b"</")?;
        let after = p + 2 + name.len();
        let matches = doc
            .get(p + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && doc
                .get(after)
                .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>');
        if matches {
            break p;
        }
        from = p + 2;
    };
    if script {
        let text = doc.get(at..end)?;
        if memchr::memmem::find(text, b"<!--").is_some() && contains_ci(text, b"<script") {
            return None;
        }
    }
    Some(end)
}

/// Elements lol_html never keeps open in HTML content (void elements, its list).
fn void_in_lol_html(name: &[u8]) -> bool {
    const VOID: [&[u8]; 17] = [
        b"area",
        b"base",
        b"basefont",
        b"bgsound",
        b"br",
        b"col",
        b"embed",
        b"hr",
        b"img",
        b"input",
        b"keygen",
        b"link",
        b"meta",
        b"param",
        b"source",
        b"track",
        b"wbr",
    ];
    VOID.iter().any(|v| v.eq_ignore_ascii_case(name))
}

/// Elements whose handlers act on their content or end (hold text back, remove the element
/// with its content): while one is open, lol_html's output depends on what follows, so no
/// stretch may start. In HTML content each closes at once (void or raw text); in foreign
/// content (`<svg><style>`) they can stay open.
fn handled_element(name: &[u8]) -> bool {
    const HANDLED: [&[u8]; 7] = [
        b"script",
        b"style",
        b"link",
        b"img",
        b"source",
        b"iframe",
        b"noscript",
    ];
    HANDLED.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The scan's state: the namespace stack of lol_html's tree-builder simulation, a copy of its
/// element stack, and the stretch being grown.
struct Scan<'a, F> {
    doc: &'a [u8],
    ns: Vec<Ns>,
    /// lol_html's open elements: name, and whether its handlers act on its content.
    open: Vec<(&'a [u8], bool)>,
    /// How many of `open` are handled elements.
    handled_open: usize,
    guard: Guard,
    /// Attribute list of the last tag read, kept for the next.
    attributes: Vec<Attribute<'a>>,
    spans: Vec<Range<usize>>,
    /// The stretch being grown (HTML content, data state).
    stretch: Option<Stretch>,
    /// Whether the document can hold a `javascript:` URL (the URL check is on).
    script_urls: bool,
    image_blocked: F,
}

/// A stretch being grown. Elements it opens may stay open (`<p>` and `<li>` often do), so it
/// keeps, for each depth it has reached, where that depth began and the last point at that
/// depth: each such pair bounds a balanced stretch.
struct Stretch {
    /// Depth of lol_html's element stack where the stretch began.
    base: usize,
    /// `(since, last)` per depth above `base`, the current one last.
    levels: Vec<(usize, usize)>,
}

/// lol_html's parsing-ambiguity guard: in a `<select>` (or after a `<frameset>`) it refuses
/// tags that switch to raw text. Stretches grow only in its default state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Default,
    InSelect,
    InTemplateInSelect(usize),
    InOrAfterFrameset,
}

/// Deepest nesting inside one stretch.
const MAX_OPEN: usize = 128;

/// Most open elements the scan follows (end tags search them); past it, lol_html takes the rest.
const MAX_TRACKED: usize = 512;

impl<'a, F: FnMut(ImageUrl, &str) -> bool> Scan<'a, F> {
    /// At the top level of HTML content (not inside foreign content at all).
    fn in_html(&self) -> bool {
        self.ns.len() == 1
    }

    fn current(&self) -> Ns {
        self.ns.last().copied().unwrap_or(Ns::Html)
    }

    /// Elements opened inside the stretch being grown and still open.
    fn opened_in_stretch(&self) -> usize {
        self.stretch
            .as_ref()
            .map_or(0, |s| self.open.len().saturating_sub(s.base))
    }

    /// The stretch has reached `at` at its current depth (after text, a comment, a doctype, a
    /// void element, or before a tag that opens or ends something).
    fn reach(&mut self, at: usize) {
        if let Some(level) = self.stretch.as_mut().and_then(|s| s.levels.last_mut()) {
            level.1 = at;
        }
    }

    /// Ends the stretch being grown where the token starting at `at` begins.
    fn cut(&mut self, at: usize) {
        self.reach(at);
        self.close();
    }

    /// Ends the stretch being grown: each depth's balanced part is a span.
    fn close(&mut self) {
        if let Some(stretch) = self.stretch.take() {
            for (since, last) in stretch.levels {
                if last >= since + MIN_SPAN {
                    self.spans.push(since..last);
                }
            }
        }
    }

    /// Starts a stretch at `at` where none is being grown: only at the top level of HTML
    /// content, with no handled element open and the ambiguity guard in its default state.
    fn resume(&mut self, at: usize) {
        if self.stretch.is_none()
            && self.in_html()
            && self.handled_open == 0
            && self.guard == Guard::Default
        {
            self.stretch = Some(Stretch {
                base: self.open.len(),
                levels: vec![(at, at)],
            });
        }
    }

    /// lol_html's ambiguity guard on a start tag. `false` where it fails the document.
    fn guard_start(&mut self, name: &[u8]) -> bool {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let switches = || raw_text_element(name).is_some() || is(b"plaintext");
        match self.guard {
            Guard::Default if is(b"select") => self.guard = Guard::InSelect,
            Guard::Default if is(b"frameset") => self.guard = Guard::InOrAfterFrameset,
            Guard::Default => {}
            Guard::InSelect => {
                if is(b"select") || is(b"textarea") || is(b"input") || is(b"keygen") {
                    self.guard = Guard::Default;
                } else if is(b"template") {
                    self.guard = Guard::InTemplateInSelect(1);
                } else if !is(b"script") && switches() {
                    return false;
                }
            }
            Guard::InTemplateInSelect(depth) => {
                if is(b"template") {
                    self.guard = Guard::InTemplateInSelect(depth + 1);
                } else if switches() {
                    return false;
                }
            }
            Guard::InOrAfterFrameset => {
                if !is(b"noframes") && switches() {
                    return false;
                }
            }
        }
        true
    }

    /// lol_html's ambiguity guard on an end tag.
    fn guard_end(&mut self, name: &[u8]) {
        match self.guard {
            Guard::InSelect if name.eq_ignore_ascii_case(b"select") => {
                self.guard = Guard::Default;
            }
            Guard::InTemplateInSelect(depth) if name.eq_ignore_ascii_case(b"template") => {
                self.guard = if depth == 1 {
                    Guard::InSelect
                } else {
                    Guard::InTemplateInSelect(depth - 1)
                };
            }
            _ => {}
        }
    }

    /// Whether a URL in an image attribute leaves the image handler nothing to do.
    fn image_url_inert(&mut self, kind: ImageUrl, value: &[u8]) -> bool {
        if crate::html::url::is_plain_relative(value) {
            return true;
        }
        // Only ASCII is read the same in every encoding the rewriter accepts.
        value.is_ascii() && std::str::from_utf8(value).is_ok_and(|v| !(self.image_blocked)(kind, v))
    }

    /// Whether a start tag in HTML content leaves every handler and check idle; `Some(void)`.
    fn inert_start(&mut self, tag: &Tag<'_, '_>) -> Option<bool> {
        let void = content_element(tag.name)?;
        for &(name, value) in tag.attributes {
            let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
            let checked = match name.first().map(u8::to_ascii_lowercase) {
                // Event handlers (any `on*`).
                Some(b'o') if name.get(1).is_some_and(|b| b.eq_ignore_ascii_case(&b'n')) => {
                    return None;
                }
                Some(b's') if is(b"style") => crate::html::css::attribute_may_fetch(value),
                Some(b'h' | b's' | b'a' | b'f')
                    if is(b"href") || is(b"src") || is(b"action") || is(b"formaction") =>
                {
                    // As the URL-check selectors read it (see `Selectors::with_needs`), when the
                    // document can hold a `javascript:` URL at all.
                    self.script_urls
                        && (contains_ci(value, b"script:")
                            || value
                                .iter()
                                .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r')))
                }
                _ => false,
            };
            if checked {
                return None;
            }
        }
        let image =
            tag.name.eq_ignore_ascii_case(b"img") || tag.name.eq_ignore_ascii_case(b"source");
        if image {
            for value in tag.attribute(b"src") {
                if !self.image_url_inert(ImageUrl::Src, value) {
                    return None;
                }
            }
            for value in tag.attribute(b"srcset") {
                if !self.image_url_inert(ImageUrl::Srcset, value) {
                    return None;
                }
            }
        }
        Some(void)
    }

    /// Pushes a start tag on the copy of lol_html's element stack, as lol_html does (in the
    /// namespace the tag leaves the simulation in).
    fn push(&mut self, tag: &Tag<'a, '_>) {
        let keep = if self.current() == Ns::Html {
            !void_in_lol_html(tag.name)
        } else {
            !tag.self_closing
        };
        if keep {
            let handled = handled_element(tag.name);
            self.handled_open += usize::from(handled);
            self.open.push((tag.name, handled));
        }
    }

    /// An end tag on the copy of lol_html's element stack: closes the innermost open element
    /// of that name and every element opened after it.
    fn pop(&mut self, name: &[u8]) {
        if let Some(i) = self
            .open
            .iter()
            .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            let closed = self.open.get(i..).unwrap_or_default();
            self.handled_open -= closed.iter().filter(|(_, handled)| *handled).count();
            self.open.truncate(i);
        }
    }

    /// A start tag: grows the stretch when inert, else cuts it. Returns where scanning goes on
    /// (past raw text), or `None` to stop.
    fn start_tag(&mut self, lt: usize, tag: &Tag<'a, '_>) -> Option<usize> {
        let growing = self.in_html()
            && self.stretch.is_some()
            && self.opened_in_stretch() < MAX_OPEN
            && self.open.len() < MAX_TRACKED;
        if growing && let Some(void) = self.inert_start(tag) {
            if void {
                self.reach(tag.end);
            } else {
                self.reach(lt);
                // A content element: never void or handled in lol_html's eyes.
                self.open.push((tag.name, false));
                if let Some(s) = self.stretch.as_mut() {
                    s.levels.push((tag.end, tag.end));
                }
            }
            return Some(tag.end);
        }
        self.cut(lt);
        if !self.guard_start(tag.name) {
            // lol_html fails the document here.
            return None;
        }
        if self.open.len() >= MAX_TRACKED {
            // Past this depth the copy of lol_html's stack costs too much to keep: stop.
            return None;
        }
        // lol_html switches to raw text only for a tag read in HTML content: a tag that enters
        // HTML content (`<svg><title>`) gets no switch.
        let was_html = self.current() == Ns::Html;
        self.simulate_start(tag);
        self.push(tag);
        if !was_html || self.current() != Ns::Html {
            self.resume(tag.end);
            return Some(tag.end);
        }
        let Some(script) = raw_text_element(tag.name) else {
            if tag.name.eq_ignore_ascii_case(b"plaintext") {
                return None;
            }
            self.resume(tag.end);
            return Some(tag.end);
        };
        let end_lt = raw_text_end(self.doc, tag.end, tag.name, script)?;
        let mut attributes = Vec::new();
        let end = read_tag(self.doc, end_lt + 2, &mut attributes)?;
        self.end_tag(end_lt, &end);
        Some(end.end)
    }

    /// An end tag: closes the stretch's innermost element, or cuts the stretch.
    fn end_tag(&mut self, lt: usize, tag: &Tag<'_, '_>) {
        let closes_innermost = self.opened_in_stretch() > 0
            && self
                .open
                .last()
                .is_some_and(|(top, _)| top.eq_ignore_ascii_case(tag.name));
        if self.in_html() && closes_innermost {
            // The innermost element is a content element, never a handled one.
            self.open.pop();
            if let Some(s) = self.stretch.as_mut() {
                s.levels.pop();
            }
            self.reach(tag.end);
            return;
        }
        self.cut(lt);
        self.guard_end(tag.name);
        self.simulate_end(tag);
        self.pop(tag.name);
        self.resume(tag.end);
    }

    /// lol_html's tree-builder simulation of a start tag (namespaces only; raw text is handled
    /// by the caller).
    fn simulate_start(&mut self, tag: &Tag<'_, '_>) {
        let name = tag.name;
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let current = self.current();
        if is(b"svg") {
            self.ns.push(Ns::Svg);
        } else if is(b"math") {
            self.ns.push(Ns::MathMl);
        } else if current != Ns::Html {
            const EXIT: [&[u8]; 45] = [
                b"b",
                b"big",
                b"blockquote",
                b"body",
                b"br",
                b"center",
                b"code",
                b"dd",
                b"div",
                b"dl",
                b"dt",
                b"em",
                b"embed",
                b"h1",
                b"h2",
                b"h3",
                b"h4",
                b"h5",
                b"h6",
                b"head",
                b"hr",
                b"i",
                b"img",
                b"li",
                b"listing",
                b"menu",
                b"meta",
                b"nobr",
                b"ol",
                b"p",
                b"pre",
                b"ruby",
                b"s",
                b"small",
                b"span",
                b"strong",
                b"strike",
                b"sub",
                b"sup",
                b"table",
                b"tt",
                b"u",
                b"ul",
                b"var",
                b"font",
            ];
            // `font` leaves only with a color, size or face attribute.
            if EXIT.iter().any(|e| is(e))
                && (!is(b"font")
                    || tag.attributes.iter().any(|(n, _)| {
                        [&b"color"[..], b"size", b"face"]
                            .iter()
                            .any(|a| n.eq_ignore_ascii_case(a))
                    }))
            {
                self.leave_ns();
            } else if self.integration_point(current, name) {
                if !tag.self_closing {
                    self.ns.push(Ns::Html);
                }
            } else if current == Ns::MathMl && is(b"annotation-xml") && !tag.self_closing {
                let html = tag.attribute(b"encoding").any(|v| {
                    v.eq_ignore_ascii_case(b"text/html")
                        || v.eq_ignore_ascii_case(b"application/xhtml+xml")
                });
                if html {
                    self.ns.push(Ns::Html);
                }
            }
        }
    }

    fn integration_point(&self, ns: Ns, name: &[u8]) -> bool {
        let svg: [&[u8]; 3] = [b"desc", b"title", b"foreignobject"];
        let math: [&[u8]; 5] = [b"mi", b"mo", b"mn", b"ms", b"mtext"];
        match ns {
            Ns::Svg => svg.iter().any(|n| n.eq_ignore_ascii_case(name)),
            Ns::MathMl => math.iter().any(|n| n.eq_ignore_ascii_case(name)),
            Ns::Html => false,
        }
    }

    /// lol_html's tree-builder simulation of an end tag.
    fn simulate_end(&mut self, tag: &Tag<'_, '_>) {
        let name = tag.name;
        let current = self.current();
        if current == Ns::Html {
            let Some(&previous) = self.ns.len().checked_sub(2).and_then(|i| self.ns.get(i)) else {
                return;
            };
            if self.integration_point(previous, name)
                || (previous == Ns::MathMl && name.eq_ignore_ascii_case(b"annotation-xml"))
            {
                self.leave_ns();
            }
        } else if (current == Ns::Svg && name.eq_ignore_ascii_case(b"svg"))
            || (current == Ns::MathMl && name.eq_ignore_ascii_case(b"math"))
            || name.eq_ignore_ascii_case(b"p")
            || name.eq_ignore_ascii_case(b"br")
        {
            self.leave_ns();
        }
    }

    fn leave_ns(&mut self) {
        if self.ns.len() > 1 {
            self.ns.pop();
        }
    }

    /// A token other than a tag (comment, doctype, CDATA) from `lt` to `end`.
    fn other(&mut self, lt: usize, end: usize, inert: bool) {
        if inert && self.in_html() {
            self.reach(end);
        } else {
            self.cut(lt);
            self.resume(end);
        }
    }

    fn run(mut self) -> Vec<Range<usize>> {
        let doc = self.doc;
        let mut pos = 0;
        self.resume(0);
        loop {
            let Some(lt) = find_byte(b'<', doc.get(pos..).unwrap_or_default()).map(|p| pos + p)
            else {
                self.reach(doc.len());
                break;
            };
            let next = match doc.get(lt + 1) {
                Some(b) if b.is_ascii_alphabetic() => {
                    let mut attributes = std::mem::take(&mut self.attributes);
                    let Some(tag) = read_tag(doc, lt + 1, &mut attributes) else {
                        break;
                    };
                    let next = self.start_tag(lt, &tag);
                    self.attributes = attributes;
                    match next {
                        Some(n) => n,
                        None => break,
                    }
                }
                Some(b'/') => match doc.get(lt + 2) {
                    Some(b) if b.is_ascii_alphabetic() => {
                        let mut attributes = std::mem::take(&mut self.attributes);
                        let Some(tag) = read_end_tag(doc, lt + 2, &mut attributes) else {
                            break;
                        };
                        self.end_tag(lt, &tag);
                        let end = tag.end;
                        self.attributes = attributes;
                        end
                    }
                    // `</>` is dropped by the tokenizer: a stretch cannot hold it.
                    Some(b'>') => {
                        self.other(lt, lt + 3, false);
                        lt + 3
                    }
                    Some(_) => {
                        let Some(gt) = memchr::memchr(b'>', doc.get(lt..).unwrap_or_default())
                        else {
                            break;
                        };
                        self.other(lt, lt + gt + 1, true);
                        lt + gt + 1
                    }
                    None => break,
                },
                Some(b'!') => {
                    let rest = doc.get(lt + 2..).unwrap_or_default();
                    if rest.starts_with(b"--") {
                        let Some(end) = comment_end(doc, lt + 4) else {
                            break;
                        };
                        self.other(lt, end, true);
                        end
                    } else if rest.starts_with(b"[CDATA[") && self.current() != Ns::Html {
                        let Some(p) = memchr::memmem::find(rest, b"]]>") else {
                            break;
                        };
                        let end = lt + 2 + p + 3;
                        self.other(lt, end, false);
                        end
                    } else {
                        // A doctype or bogus comment: up to the first `>`.
                        let Some(gt) = memchr::memchr(b'>', rest) else {
                            break;
                        };
                        let end = lt + 2 + gt + 1;
                        self.other(lt, end, true);
                        end
                    }
                }
                Some(b'?') => {
                    let Some(gt) = memchr::memchr(b'>', doc.get(lt..).unwrap_or_default()) else {
                        break;
                    };
                    self.other(lt, lt + gt + 1, true);
                    lt + gt + 1
                }
                // A `<` that starts no tag is text.
                _ => {
                    self.reach(lt + 1);
                    lt + 1
                }
            };
            pos = next;
        }
        self.close();
        self.spans
    }
}

/// The stretches of `doc` (a whole document) the rewrite would copy unchanged; in order, not
/// overlapping, each at least [`MIN_SPAN`] bytes. `image_blocked(kind, url)` says whether an
/// image URL (`src`, or a `srcset` list) is blocked on the page.
pub(super) fn spans(
    doc: &[u8],
    script_urls: bool,
    image_blocked: impl FnMut(ImageUrl, &str) -> bool,
) -> Vec<Range<usize>> {
    Scan {
        doc,
        script_urls,
        ns: vec![Ns::Html],
        open: Vec::new(),
        handled_open: 0,
        guard: Guard::Default,
        attributes: Vec::new(),
        spans: Vec::new(),
        stretch: None,
        image_blocked,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::category::{Category, CategorySet};
    use crate::html::page::Page;
    use crate::html::rewriter::{HtmlError, RewriteLimits, Rewriter, Selectors};
    use lol_html::errors::RewritingError;

    /// Content markup longer than a stretch's minimum, with nothing for the rewriter.
    const TEASER: &str = "<article class=\"teaser\"><h2><a href=\"/news/a-long-headline\">A long headline about something</a></h2><p class=\"lede\">Lorem ipsum dolor sit amet, <a href=\"https://example.com/p/1\">consectetur</a> adipiscing elit, sed do eiusmod tempor.</p><img src=\"/img/p1.jpg\" srcset=\"/img/p1@2x.jpg 2x\" alt=\"\" width=\"320\"></article>\n";

    fn page() -> Page {
        crate::html::tests::page(CategorySet::only(Category::NECESSARY))
    }

    /// The stretches as the rewriter finds them (the URL check on only where the page needs it).
    fn scan(doc: impl AsRef<[u8]>) -> Vec<Range<usize>> {
        crate::html::inert_stretches(&page(), doc.as_ref())
    }

    /// The rewrite of `doc` fed to lol_html whole, and started with `for_whole` and fed
    /// through `write_whole`: output, or the error's text.
    fn both_ways(
        doc: &[u8],
        fail_open: bool,
    ) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
        let all = Arc::new(Selectors::new().unwrap());
        let selectors = all.narrowed(doc);
        let limits = RewriteLimits {
            fail_open,
            ..RewriteLimits::default()
        };
        let run = |whole: bool| -> Result<Vec<u8>, String> {
            let mut r = if whole {
                Rewriter::for_whole(page(), &all, doc, encoding_rs::UTF_8, false, limits)
            } else {
                Rewriter::new(page(), &selectors, encoding_rs::UTF_8, false, limits)
            }
            .map_err(|e| e.to_string())?;
            r.inject_before_first_script("<script src=\"/guard.js\"></script>".into());
            r.inject_banner("<div id=\"banner\"></div>".into(), vec![]);
            let first = if whole {
                r.write_whole(doc)
            } else {
                r.write(doc)
            };
            let mut out = match first {
                Ok(b) => b.to_vec(),
                // lol_html stops on a parsing ambiguity without flushing what it held, so the
                // output so far is cut at no defined point, with or without stretches.
                Err(e @ HtmlError::Rewriting(RewritingError::ParsingAmbiguity(_))) => {
                    return Err(e.to_string());
                }
                Err(e) if fail_open => {
                    let mut out = r.take_failed_output().to_vec();
                    out.extend_from_slice(format!("<!--failed: {e}-->").as_bytes());
                    return Ok(out);
                }
                Err(e) => return Err(e.to_string()),
            };
            out.extend_from_slice(&r.end().map_err(|e| e.to_string())?);
            out.extend_from_slice(format!("{:?}", r.stats()).as_bytes());
            Ok(out)
        };
        (run(false), run(true))
    }

    #[test]
    fn content_elements_are_known_by_name_in_any_case() {
        for (name, void) in [
            (&b"div"[..], Some(false)),
            (b"DIV", Some(false)),
            (b"a", Some(false)),
            (b"Article", Some(false)),
            (b"blockquote", Some(false)),
            (b"FigCaption", Some(false)),
            (b"h6", Some(false)),
            (b"img", Some(true)),
            (b"SOURCE", Some(true)),
            (b"br", Some(true)),
            (b"script", None),
            (b"style", None),
            (b"link", None),
            (b"body", None),
            (b"svg", None),
            (b"select", None),
            (b"input", None),
            (b"h7", None),
            (b"\0a", None),
            (b"a\0", None),
            (b"divx", None),
            (b"blockquotes", None),
            (b"", None),
        ] {
            assert_eq!(
                content_element(name),
                void,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn a_body_of_content_markup_is_one_stretch() {
        let body = TEASER.repeat(20);
        let doc = format!(
            "<!doctype html><html><head><script src=\"https://www.googletagmanager.com/gtm.js\"></script></head><body>{body}</body></html>"
        );
        let spans = scan(&doc);
        let start = doc.find("<article").unwrap();
        let end = doc.find("</body>").unwrap();
        assert_eq!(spans, vec![start..end], "the teasers, and nothing else");
        let (full, whole) = both_ways(doc.as_bytes(), false);
        assert_eq!(full, whole);
    }

    #[test]
    fn what_the_rewriter_acts_on_splits_a_stretch() {
        let half = TEASER.repeat(4);
        for middle in [
            "<img src=\"https://connect.facebook.net/tr.gif\">",
            "<img srcset=\"/a.png 1x, //connect.facebook.net/b.png 2x\">",
            "<script>fbq('init')</script>",
            "<iframe src=\"https://youtube.com/embed/x\"></iframe>",
            "<div onclick=\"go()\">x</div>",
            "<a href=\"javascript:go()\">x</a>",
            "<p style=\"background: URL(https://connect.facebook.net/x.png)\">x</p>",
            "<noscript><img src=\"https://connect.facebook.net/tr\"></noscript>",
            "<svg><path d=\"M0 0\"/></svg>",
            "<style>p{}</style>",
            "<link rel=\"stylesheet\" href=\"/site.css\">",
        ] {
            let doc = format!("<body>{half}{middle}{half}</body>");
            let spans = scan(&doc);
            let at = doc.find(middle).unwrap();
            assert!(
                spans
                    .iter()
                    .all(|s| s.end <= at || s.start >= at + middle.len()),
                "{middle}: {spans:?} (at {at})"
            );
            assert_eq!(
                spans.len(),
                2,
                "{middle}: both halves are stretches: {spans:?}"
            );
            let (full, whole) = both_ways(doc.as_bytes(), false);
            assert_eq!(full, whole, "{middle}");
        }
    }

    #[test]
    fn an_image_from_an_allowed_host_stays_in_the_stretch() {
        let doc = format!(
            "<body>{}<img src=\"https://cdn.example.org/a.png\" srcset=\"https://cdn.example.org/b.png 2x\">{}</body>",
            TEASER.repeat(2),
            TEASER.repeat(2)
        );
        assert_eq!(scan(&doc).len(), 1);
    }

    #[test]
    fn raw_text_and_foreign_content_are_crossed_exactly() {
        // Markup-like text inside raw text, CDATA and comments must not end or start anything.
        let tricky = [
            "<script>var s = '<div>'; if (a</b) {}</script>",
            "<script><!-- document.write('<script></script>') --></script>",
            "<textarea></div><img src=//connect.facebook.net/x></textarea>",
            "<title>a</title >",
            "<xmp><b></xmp>",
            "<svg><style>p{}</style><![CDATA[ </svg><div> ]]></svg>",
            "<svg><foreignObject><style></svg></style></foreignObject></svg>",
            "<math><mi><svg></svg></mi></math>",
            "<!-- </div> <img src=//connect.facebook.net/x> -->",
            "<!--x--!>",
            "<!-->",
            "<?php echo 1 ?>",
            "</ >",
            "<div title='a>b' data-x=\"</div>\">in</div>",
            "<select><option>x</select>",
            "<svg><title><style></title></svg>p{background:url(https://connect.facebook.net/x)}</style>",
            "<svg><title><script></title></svg>fbq(3)</script>",
        ];
        for t in tricky {
            let doc = format!("<body>{}{t}{}</body>", TEASER.repeat(3), TEASER.repeat(3));
            let (full, whole) = both_ways(doc.as_bytes(), false);
            assert_eq!(full, whole, "{t}");
            assert!(
                !scan(&doc).is_empty(),
                "{t}: the teasers before it are a stretch"
            );
        }
    }

    /// Every page and vendor snippet in the test fixtures (real tags as vendors publish them),
    /// between runs of content markup and on its own: the same rewrite both ways.
    #[test]
    fn the_fixture_pages_rewrite_the_same_both_ways() {
        fn html_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    html_files(&path, out);
                } else if path.extension().is_some_and(|e| e == "html") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        html_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut files,
        );
        assert!(files.len() > 20, "fixtures found: {}", files.len());
        let mut copied = 0;
        for file in files {
            let page = std::fs::read(&file).unwrap();
            let teasers = TEASER.repeat(3);
            let mut wrapped = format!("<body>{teasers}").into_bytes();
            wrapped.extend_from_slice(&page);
            wrapped.extend_from_slice(format!("{teasers}</body>").as_bytes());
            for doc in [&page, &wrapped] {
                let (full, whole) = both_ways(doc, false);
                assert_eq!(full, whole, "{}", file.display());
            }
            copied += scan(&wrapped).len();
        }
        assert!(copied > 0);
    }

    /// A raw-text start tag ending right after `=` (`<xmp a=>`) switches to raw text as any
    /// other does (third_party/lol_html/PATCH.md): the stretches around it are still copied.
    #[test]
    fn a_raw_text_tag_ending_after_equals_is_raw_text_as_any_other() {
        let text =
            "<p>Never paste javascript: URLs into the address bar, it is a scam.</p>".repeat(5);
        for raw in [
            "<xmp a=><img src=https://connect.facebook.net/tr></xmp>",
            "<style a=><!--</style>",
        ] {
            let doc = format!(
                "<body>{text}{raw}{text}<img src=\"https://connect.facebook.net/tr\">-->{text}</body>"
            );
            assert_eq!(scan(&doc).len(), 3, "{doc}");
            let (full, whole) = both_ways(doc.as_bytes(), false);
            assert_eq!(full, whole);
            let out = String::from_utf8(whole.unwrap()).unwrap();
            assert!(out.contains(raw), "{out}");
            assert!(
                !out.contains("<img src=\"https://connect.facebook.net/tr\">"),
                "{out}"
            );
        }
    }

    /// Deep nesting and runs of unterminated comment ends are scanned in linear time.
    #[test]
    fn hostile_nesting_and_comments_stay_linear() {
        let deep = format!("{}{}", "<div>".repeat(100_000), "</x>".repeat(100_000));
        let _ = scan(&deep);
        let comments = "<!--x--!>".repeat(100_000);
        assert!(scan(&comments).len() <= 1);
        // A tag with a huge number of attributes, or a huge one, ends the scan before it.
        let before = TEASER.repeat(3);
        for tag in [
            format!("<div {}>", "a ".repeat(100_000)),
            format!("<div title=\"{}\">", "x".repeat(100_000)),
        ] {
            let doc = format!("<body>{before}{tag}{before}</div></body>");
            let spans = scan(&doc);
            assert!(
                spans.iter().all(|s| s.end <= doc.find(&tag).unwrap()),
                "{spans:?}"
            );
            let (full, whole) = both_ways(doc.as_bytes(), false);
            assert_eq!(full, whole);
        }
    }

    #[test]
    fn the_scan_stops_where_it_cannot_be_sure() {
        let after = TEASER.repeat(3);
        for stop in [
            "<plaintext>",
            "<script><!--<script>x</script>--></script>",
            "<div title='unterminated",
        ] {
            let doc = format!("<body>{stop}{after}");
            assert!(scan(&doc).is_empty(), "{stop}");
            let (full, whole) = both_ways(doc.as_bytes(), false);
            assert_eq!(full, whole, "{stop}");
        }
    }

    /// Pieces of documents: content markup, everything the rewriter acts on, and the tokenizer's
    /// corner cases.
    const PIECES: &[&str] = &[
        TEASER,
        TEASER,
        TEASER,
        "<div>",
        "</div>",
        "<p class=x>",
        "</p>",
        "<span title='a>b'>",
        "</span>",
        "<DIV>",
        "</DIV >",
        "<div/>",
        "<br>",
        "</br>",
        "text & more ",
        "a < b ",
        "<3 ",
        "<!-- c -->",
        "<!---->",
        "<!-->",
        "<!--x--!>",
        "<!doctype html>",
        "<?pi x?>",
        "</>",
        "</ x>",
        "<img src=\"https://connect.facebook.net/tr.gif\">",
        "<img srcset=\"//connect.facebook.net/tr 1x\">",
        "<img src=\"https://cdn.example.org/a.png\">",
        "<img src=\"&#47;&#47;connect.facebook.net/x\">",
        "<source srcset=\"https://connect.facebook.net/x.png\">",
        "<script src=\"https://www.googletagmanager.com/gtm.js\"></script>",
        "<script>fbq('init')</script>",
        "<script>var a = '</div>';</script>",
        "<script><!--\n<script>x</script>\n--></script>",
        "<script a=>fbq(2)</script>",
        "<style>a{}</style>",
        "<style>a{background:url(//connect.facebook.net/x)}</style>",
        "<iframe src=\"https://youtube.com/embed/x\"></iframe>",
        "<noscript><img src=\"https://connect.facebook.net/tr?id=1\"></noscript>",
        "<div onclick=\"x()\">",
        "<a href=\"javascript:void(0)\">",
        "<a href=\"/p?a=1&amp;b=2\">",
        "<a href=\"java&#115;cript&colon;fbq(1)\">",
        "<a href=\"java\tscript:fbq(1)\">",
        "</a>",
        "<div style=\"background:url(https://connect.facebook.net/p)\">",
        "<p style=\"color: red\">",
        "<svg>",
        "</svg>",
        "<svg/>",
        "<math>",
        "</math>",
        "<mi>",
        "</mi>",
        "<foreignObject>",
        "</foreignObject>",
        "<svg><script>fbq(1)</script></svg>",
        "<![CDATA[ </svg> ]]>",
        "<font color=red>",
        "<textarea></div></textarea>",
        "<title>x</title>",
        "<body>",
        "</body>",
        "<head>",
        "<select>",
        "</select>",
        "<template>",
        "</template>",
        "<table>",
        "<li>",
        "<link rel=\"preconnect\" href=\"https://www.googletagmanager.com\">",
        "<xmp><img src=//connect.facebook.net/tr></xmp>",
        "<meta charset=\"utf-8\">",
        "<xmp a=><img src=//connect.facebook.net/tr></xmp>",
        "<style a=><!--</style>",
        "<title a =>x</title>",
        "<plaintext a=>",
        "<svg><title><style>",
        "<svg><title><script>",
        "</title>",
        "</style>",
        "<p>Never paste javascript: URLs, or onclick= handlers.</p>",
        "<div title=\"",
        "\"",
        "<",
        "<!--",
    ];

    const NEEDLES: &[&[u8]] = &[b"script:", b"<script", b"s", b"Ss"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever the document, copying the inert stretches gives exactly what lol_html gives
        /// on its own: the same bytes, the same record of what was neutralized, the same errors.
        #[test]
        fn copying_stretches_changes_nothing(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..40),
            fail_open in any::<bool>(),
        ) {
            let doc = pieces.concat();
            let (full, whole) = both_ways(doc.as_bytes(), fail_open);
            prop_assert_eq!(full, whole, "{}", doc);
        }

        /// The word-at-a-time search finds the same first byte as memchr, wherever it is.
        #[test]
        fn finding_a_byte_agrees_with_memchr(
            hay in proptest::collection::vec(proptest::sample::select(&b"aaaaaaaaaaaaaaaa<>\"'\x00\x01\x80\xff"[..]), 0..100),
            needle in proptest::sample::select(&b"<\"\x00\x01\x80"[..]),
        ) {
            prop_assert_eq!(find_byte(needle, &hay), memchr::memchr(needle, &hay));
        }

        /// The search for a needle in any case finds it exactly where comparing every window
        /// of the haystack would.
        #[test]
        fn finding_a_needle_in_any_case_agrees_with_comparing_every_window(
            hay in proptest::collection::vec(proptest::sample::select(&b"sSCcRrIiPpTt:<!- x"[..]), 0..40),
            needle in proptest::sample::select(NEEDLES),
        ) {
            let every_window = hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
            prop_assert_eq!(contains_ci(&hay, needle), every_window);
        }
    }
}
