//! Where CSS fetches from: `url(...)` values (backgrounds, fonts, cursors, `@import url(...)`)
//! and `@import "..."` strings, found in `<style>` blocks and `style` attributes so that those
//! pointing at a denied host can be neutralized while every other byte stays as it was.

use std::ops::Range;

/// What a neutralized URL becomes: a URL the browser never fetches.
pub const INERT_URL: &str = "about:invalid#consent-gate";

/// One URL in a style sheet: where its text is (without quotes) and what it says once CSS
/// escapes are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CssUrl {
    /// Byte range of the URL text in the style sheet (inside the quotes, if any).
    pub span: Range<usize>,
    /// The URL with CSS escapes resolved.
    pub url: String,
}

/// Resolves CSS escapes: `\2f ` is `/`, `\/` is `/`.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 {
            match chars.peek() {
                Some(h) if h.is_ascii_hexdigit() => {
                    hex.push(*h);
                    chars.next();
                }
                _ => break,
            }
        }
        if hex.is_empty() {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            if chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                chars.next();
            }
            let c = u32::from_str_radix(&hex, 16)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            out.push(c);
        }
    }
    out
}

/// The end of a quoted string starting after its opening `quote` at `start`.
fn string_end(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            c if c == quote || c == b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// A URL token or string at `i`: its span (inside quotes) and where it ends.
fn url_at(css: &str, i: usize, bare_until: u8) -> Option<(CssUrl, usize)> {
    let b = css.as_bytes();
    let i = skip_space(b, i);
    let (start, end, next) = match b.get(i)? {
        &q @ (b'"' | b'\'') => {
            let end = string_end(b, i + 1, q);
            (i + 1, end, end + 1)
        }
        _ if bare_until == 0 => return None,
        _ => {
            let mut end = i;
            while let Some(&c) = b.get(end) {
                if c == bare_until {
                    break;
                }
                end += if c == b'\\' { 2 } else { 1 };
            }
            let end = end.min(b.len());
            let trimmed = css.get(i..end)?.trim_end().len();
            (i, i + trimmed, end)
        }
    };
    let raw = css.get(start..end)?;
    Some((
        CssUrl {
            span: start..end,
            url: unescape(raw),
        },
        next,
    ))
}

/// What, written in a `style` attribute (character references not yet decoded), can make its
/// declarations fetch: a `url(`, `src(` or `@import`, an `image-set()` (whose strings are
/// URLs), a CSS escape (`u\72 l(` is a `url(`) or a character reference (`u&#114;l(`).
/// Compared ignoring ASCII case.
pub const ATTRIBUTE_FETCH_MARKS: [&str; 6] = ["url(", "src(", "@import", "image-set", "\\", "&"];

/// Whether the value of a `style` attribute could fetch (see [`ATTRIBUTE_FETCH_MARKS`]).
pub fn attribute_may_fetch(value: &[u8]) -> bool {
    ATTRIBUTE_FETCH_MARKS.iter().any(|m| {
        let m = m.as_bytes();
        value.windows(m.len()).any(|w| w.eq_ignore_ascii_case(m))
    })
}

/// Whether `c` can be part of a CSS name (an escape aside).
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c >= 0x80
}

/// The end of the CSS name (identifier) starting at `i`, escapes included, and whether it has
/// any escape.
fn name_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut escaped = false;
    while let Some(&c) = b.get(i) {
        if is_name_byte(c) {
            i += 1;
        } else if c == b'\\' && b.get(i + 1).is_some_and(|&n| n != b'\n') {
            escaped = true;
            let hex = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit);
            i += 2;
            if hex {
                // A hex escape runs up to 6 digits and takes one whitespace after it.
                let mut digits = 1;
                while digits < 6 && b.get(i).is_some_and(u8::is_ascii_hexdigit) {
                    digits += 1;
                    i += 1;
                }
                if b.get(i).is_some_and(u8::is_ascii_whitespace) {
                    i += 1;
                }
            }
        } else {
            break;
        }
    }
    (i, escaped)
}

/// Whether the name `css[from..to]` is `expected` (lowercase) once its escapes are resolved.
fn name_is(css: &str, from: usize, to: usize, escaped: bool, expected: &str) -> bool {
    let raw = css.get(from..to).unwrap_or_default();
    if escaped {
        unescape(raw).eq_ignore_ascii_case(expected)
    } else {
        raw.eq_ignore_ascii_case(expected)
    }
}

/// Every URL a style sheet (or a `style` attribute's declarations) may fetch, in order: read as
/// a browser tokenizes CSS, so that names spelled with escapes (`u\72 l(`, `@\69mport`) count.
/// Over-approximates: a `url(` inside a string is taken as one too.
pub fn urls(css: &str) -> Vec<CssUrl> {
    let b = css.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    // Parenthesis depth, and the depths at which the enclosing `image-set(`s opened.
    let mut depth = 0usize;
    let mut image_sets: Vec<usize> = Vec::new();
    while let Some(&c) = b.get(i) {
        match c {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Comments fetch nothing; skip them whole.
                i = css
                    .get(i + 2..)
                    .and_then(|r| r.find("*/"))
                    .map_or(b.len(), |e| i + 2 + e + 2);
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                if image_sets.last() == Some(&depth) {
                    image_sets.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' | b'\'' if !image_sets.is_empty() => match url_at(css, i, 0) {
                Some((u, next)) => {
                    found.push(u);
                    i = next.max(i + 1);
                }
                None => i += 1,
            },
            b'@' => {
                let (end, escaped) = name_end(b, i + 1);
                if name_is(css, i + 1, end, escaped, "import")
                    && let Some((u, next)) = url_at(css, end, 0)
                {
                    found.push(u);
                    i = next.max(end);
                    continue;
                }
                i = end.max(i + 1);
            }
            c if is_name_byte(c) || c == b'\\' => {
                let (end, escaped) = name_end(b, i);
                if end == i {
                    // A lone backslash.
                    i += 1;
                    continue;
                }
                if b.get(end) != Some(&b'(') {
                    i = end;
                    continue;
                }
                depth += 1;
                let is = |name| name_is(css, i, end, escaped, name);
                let url = if is("url") {
                    url_at(css, end + 1, b')')
                } else if is("src") {
                    url_at(css, end + 1, 0)
                } else {
                    if is("image-set") || is("-webkit-image-set") {
                        image_sets.push(depth);
                    }
                    None
                };
                i = match url {
                    Some((u, next)) => {
                        found.push(u);
                        next.max(end + 1)
                    }
                    None => end + 1,
                };
            }
            _ => i += 1,
        }
    }
    found
}

/// Replaces the URLs `blocked` says no to with [`INERT_URL`], keeping every other byte. Returns
/// the new text (when anything changed) and what was replaced, as `(url, T)` for whatever
/// `blocked` returned.
pub fn neutralize<T>(
    css: &str,
    mut blocked: impl FnMut(&str) -> Option<T>,
) -> (Option<String>, Vec<(String, T)>) {
    let mut hits = Vec::new();
    let mut out = String::new();
    let mut copied = 0;
    for u in urls(css) {
        if let Some(why) = blocked(&u.url) {
            out.push_str(css.get(copied..u.span.start).unwrap_or_default());
            out.push_str(INERT_URL);
            copied = u.span.end;
            hits.push((u.url, why));
        }
    }
    if hits.is_empty() {
        return (None, hits);
    }
    out.push_str(css.get(copied..).unwrap_or_default());
    (Some(out), hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_url_is_found() {
        let css = r#"
.a { background: url(//cdn.taboola.com/static/a.png) no-repeat; }
.b { background-image: URL( "https://images.taboola.com/x.jpg" ); }
@import url("https://widgets.outbrain.com/x.css");
@import 'https://cdn.taboola.com/y.css' screen;
@font-face { src: url(https://static.criteo.net/font.woff2) format("woff2"); }
/* url(https://commented.example/never.png) */
.c { background: url(https\:\2f\2f esc.example/e.png); }
.d { background: url(/img/ok.png); }
"#;
        let got: Vec<String> = urls(css).into_iter().map(|u| u.url).collect();
        assert_eq!(
            got,
            [
                "//cdn.taboola.com/static/a.png",
                "https://images.taboola.com/x.jpg",
                "https://widgets.outbrain.com/x.css",
                "https://cdn.taboola.com/y.css",
                "https://static.criteo.net/font.woff2",
                "https://esc.example/e.png",
                "/img/ok.png",
            ]
        );
    }

    /// A browser resolves CSS escapes in names as in URLs: `u\72 l(` is `url(`, `@\69mport` is
    /// `@import`; and the strings of an `image-set()` and a `src()` are URLs it fetches.
    #[test]
    fn names_spelled_with_escapes_and_image_set_strings_are_found() {
        let css = r#"
.a { background: u\72 l(https://t.example/a.png); }
.b { background: \75\52\4c(https://t.example/b.png); }
@\69mport "https://t.example/c.css";
@IMPOR\54  url(https://t.example/d.css);
.e { background-image: image-set("https://t.example/e.png" 1x, url(https://t.example/f.png) 2x); }
.g { background-image: -webkit-image-set('https://t.example/g.png' 1x); }
.h { background-image: IMAGE-SET(url("https://t.example/h.png") type("image/png")); }
@font-face { src: src("https://t.example/i.woff2"); }
.j { content: "not a url"; background: xurl(https://t.example/never.png); }
.k { background: u\rl(https://t.example/k.png); }
"#;
        let got: Vec<String> = urls(css).into_iter().map(|u| u.url).collect();
        assert_eq!(
            got,
            [
                "https://t.example/a.png",
                "https://t.example/b.png",
                "https://t.example/c.css",
                "https://t.example/d.css",
                "https://t.example/e.png",
                "https://t.example/f.png",
                "https://t.example/g.png",
                "https://t.example/h.png",
                "image/png",
                "https://t.example/i.woff2",
                "https://t.example/k.png",
            ]
        );
        let (out, hits) = neutralize(css, |u| u.contains("t.example").then_some(()));
        assert_eq!(hits.len(), 10);
        let out = out.unwrap();
        assert_eq!(out.matches("t.example").count(), 1, "{out}");
        for value in [
            &b"background:u\\72 l(x)"[..],
            b"background-image:Image-Set('x' 1x)",
            b"src:SRC('x')",
            b"background:u&#114;l(x)",
            b"@IMPORT 'x'",
        ] {
            assert!(
                attribute_may_fetch(value),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        assert!(!attribute_may_fetch(b"color: red; width: 10px"));
    }

    #[test]
    fn only_blocked_urls_change_and_the_rest_is_byte_identical() {
        let css = ".a{background:url('//t.example/a.png')} .b{background:url(/ok.png)} @import \"https://t.example/x.css\";";
        let (out, hits) = neutralize(css, |u| u.contains("t.example").then_some(()));
        assert_eq!(
            out.as_deref(),
            Some(
                ".a{background:url('about:invalid#consent-gate')} .b{background:url(/ok.png)} @import \"about:invalid#consent-gate\";"
            )
        );
        assert_eq!(hits.len(), 2);
        let (out, hits) = neutralize(css, |_| None::<()>);
        assert_eq!(out, None);
        assert!(hits.is_empty());
    }

    #[test]
    fn hostile_css_does_not_panic() {
        for css in [
            "url(",
            "url('",
            "@import",
            "@import '",
            "/*",
            "url(\\",
            "\\",
            "url(\"\\",
            "é url(é)",
            "u\\",
            "u\\72",
            "@\\",
            "image-set(",
            "image-set(\"",
            "image-set('x' 1x",
            "))))image-set(((\"x\"",
            "\\\n(",
            "src(",
        ] {
            let _ = urls(css);
            let _ = neutralize(css, |_| Some(()));
        }
    }
}
