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

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s.iter().zip(prefix).all(|(a, b)| a.eq_ignore_ascii_case(b))
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

/// Every URL a style sheet (or a `style` attribute's declarations) may fetch, in order.
pub fn urls(css: &str) -> Vec<CssUrl> {
    let b = css.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let rest = b.get(i..).unwrap_or_default();
        if starts_with_ignore_case(rest, b"url(") {
            if let Some((u, next)) = url_at(css, i + 4, b')') {
                found.push(u);
                i = next.max(i + 4);
                continue;
            }
        } else if starts_with_ignore_case(rest, b"@import") {
            if let Some((u, next)) = url_at(css, i + 7, 0) {
                found.push(u);
                i = next.max(i + 7);
                continue;
            }
        } else if rest.starts_with(b"/*") {
            // Comments fetch nothing; skip them whole.
            i = css
                .get(i + 2..)
                .and_then(|r| r.find("*/"))
                .map_or(b.len(), |e| i + 2 + e + 2);
            continue;
        }
        i += 1;
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
        ] {
            let _ = urls(css);
            let _ = neutralize(css, |_| Some(()));
        }
    }
}
