//! Vendors' official embed snippets: with no consent nothing of a denied vendor can be fetched
//! or run; with full consent the page is unchanged; consent tools and JSON-LD are never touched.
//! Checked on the library and through the proxy with compressed origins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use consent_gate::category::{Categories, Category, CategorySet};
use consent_gate::html::{self, Page, Selectors};
use consent_gate::rules::Rules;
use lol_html::html_content::{Element, TextChunk};
use lol_html::{ElementContentHandlers, RewriteStrSettings, Selector};

const JSON_LD: &str = r#"<script type="application/ld+json">{"@context":"https://schema.org","@type":"WebSite","url":"https://www.example.com/","potentialAction":"https://connect.facebook.net/fbq("}</script>"#;
const CONSENT_TOOLS: [&str; 2] = ["onetrust.html", "cookiebot.html"];

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendors");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 15, "one fixture per vendor");
    out
}

fn wrap(fragment: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>t</title>{JSON_LD}\n{}\n</head><body><p>Caf\u{e9}</p>\n{fragment}\n</body></html>",
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendors/onetrust.html")
        )
        .unwrap()
    )
}

fn rules() -> Arc<Rules> {
    Arc::new(
        Rules::compile(
            &[("curated.toml", common::curated_rules())],
            &Categories::default(),
        )
        .unwrap(),
    )
}

fn page(allowed: CategorySet) -> Page {
    Page {
        rules: rules(),
        allowed: allowed.union(CategorySet::only(Category::NECESSARY)),
        site: "example.com".into(),
        report_only: false,
        tcf_vendors: None,
    }
}

/// Every URL the browser would fetch and every inline script it would run.
#[derive(Default, Debug)]
struct Fetchable {
    urls: Vec<String>,
    inline_scripts: Vec<String>,
    noscript: Vec<String>,
}

fn scan(html: &str) -> Fetchable {
    let found = RefCell::new(Fetchable::default());
    let current_script = RefCell::new(None::<String>);
    let sel = |s: &str| -> Selector { s.parse().unwrap() };
    let (script, iframe, img, link, noscript) = (
        sel("script"),
        sel("iframe"),
        sel("img, source"),
        sel("link"),
        sel("noscript"),
    );
    let settings = RewriteStrSettings::new()
        .append_element_content_handler((
            std::borrow::Cow::Borrowed(&script),
            ElementContentHandlers::default()
                .element(|el: &mut Element<'_, '_>| {
                    let runs = html::is_javascript(el.get_attribute("type").as_deref());
                    if let Some(src) = el.get_attribute("src").filter(|_| runs) {
                        found.borrow_mut().urls.push(src);
                    }
                    *current_script.borrow_mut() = runs.then(String::new);
                    Ok(())
                })
                .text(|t: &mut TextChunk<'_>| {
                    if let Some(s) = current_script.borrow_mut().as_mut() {
                        s.push_str(t.as_str());
                        if t.last_in_text_node() {
                            found.borrow_mut().inline_scripts.push(std::mem::take(s));
                        }
                    }
                    Ok(())
                }),
        ))
        .append_element_content_handler((
            std::borrow::Cow::Borrowed(&iframe),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                if el.get_attribute("srcdoc").is_none() {
                    found.borrow_mut().urls.extend(el.get_attribute("src"));
                }
                Ok(())
            }),
        ))
        .append_element_content_handler((
            std::borrow::Cow::Borrowed(&img),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                let mut f = found.borrow_mut();
                f.urls.extend(el.get_attribute("src"));
                for c in el.get_attribute("srcset").unwrap_or_default().split(',') {
                    f.urls
                        .extend(c.split_whitespace().next().map(str::to_owned));
                }
                Ok(())
            }),
        ))
        .append_element_content_handler((
            std::borrow::Cow::Borrowed(&link),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                found.borrow_mut().urls.extend(el.get_attribute("href"));
                Ok(())
            }),
        ))
        .append_element_content_handler((
            std::borrow::Cow::Borrowed(&noscript),
            ElementContentHandlers::default().text(|t: &mut TextChunk<'_>| {
                found.borrow_mut().noscript.push(t.as_str().to_owned());
                Ok(())
            }),
        ));
    lol_html::rewrite_str(html, settings).unwrap();
    found.into_inner()
}

/// Panics if anything of a denied vendor is still fetchable or executable.
fn assert_nothing_denied_left(name: &str, out: &str, page: &Page) {
    let f = scan(out);
    for url in &f.urls {
        assert!(
            page.blocking_rule(url).is_none(),
            "{name}: {url} is still fetchable in\n{out}"
        );
    }
    for s in &f.inline_scripts {
        assert!(
            page.signature(s).is_none(),
            "{name}: executable inline script with a denied signature:\n{s}"
        );
    }
    for text in f.noscript.iter() {
        for (i, _) in text.match_indices("//") {
            let url = &text[i..];
            let url = url.split(['"', '\'', ' ', '>']).next().unwrap();
            assert!(
                page.blocking_rule(url).is_none(),
                "{name}: noscript still holds {url}"
            );
        }
    }
}

#[test]
fn no_consent_leaves_nothing_of_denied_vendors_and_full_consent_changes_nothing() {
    let selectors = Arc::new(Selectors::new().unwrap());
    let onetrust = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendors/onetrust.html"),
    )
    .unwrap();
    for (name, fragment) in fixtures() {
        let doc = wrap(&fragment);
        let denied = page(CategorySet::EMPTY);
        let (out, stats) = html::rewrite_all(denied.clone(), &selectors, doc.as_bytes()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_nothing_denied_left(&name, &out, &denied);
        assert!(out.contains(JSON_LD), "{name}: JSON-LD changed");
        assert!(
            out.contains(onetrust.trim()),
            "{name}: the consent tool changed"
        );
        if CONSENT_TOOLS.contains(&name.as_str()) {
            assert_eq!(out, doc, "{name}: consent tools are never touched");
        } else {
            assert!(stats.total() > 0, "{name}: nothing was neutralized");
            // The scan is not vacuous: the original page does have denied parts.
            let original =
                std::panic::catch_unwind(|| assert_nothing_denied_left(&name, &doc, &denied));
            assert!(
                original.is_err(),
                "{name}: the fixture has nothing to neutralize"
            );
        }
        let all = page(Categories::default().all());
        let (out, stats) = html::rewrite_all(all, &selectors, doc.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            doc,
            "{name}: full consent must not change the page"
        );
        assert_eq!(stats.total(), 0);
    }
}

/// Rewrites `doc` fed in pieces cut at `cuts` (sorted).
fn rewrite_split(page: Page, doc: &[u8], cuts: &[usize]) -> Vec<u8> {
    let selectors = Arc::new(Selectors::new().unwrap());
    let mut r = html::Rewriter::new(
        page,
        &selectors,
        encoding_rs::UTF_8,
        false,
        html::RewriteLimits::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&doc.len())) {
        out.extend_from_slice(&r.write(&doc[start..cut]).unwrap());
        start = cut;
    }
    out.extend_from_slice(&r.end().unwrap());
    out
}

#[test]
fn vendor_pages_rewrite_the_same_however_they_are_split() {
    let seed: u64 = std::env::var("SPLIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, fragment) in fixtures() {
        let doc = wrap(&fragment);
        let bytes = doc.as_bytes();
        let whole = rewrite_split(page(CategorySet::EMPTY), bytes, &[]);
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        assert!(
            rewrite_split(page(CategorySet::EMPTY), bytes, &every_byte) == whole,
            "{name}: output differs when fed one byte at a time"
        );
        for round in 0..20 {
            let mut cuts: Vec<usize> = (0..(next() % 12))
                .map(|_| (next() as usize) % bytes.len())
                .collect();
            cuts.sort_unstable();
            assert!(
                rewrite_split(page(CategorySet::EMPTY), bytes, &cuts) == whole,
                "{name}: round {round} differs; replay with SPLIT_SEED={seed} (cuts {cuts:?})"
            );
        }
    }
}

#[test]
fn compressed_origins_give_the_same_page_as_identity() {
    use common::{Origin, Proxy, Reply, get};
    use consent_gate::html::codec::{Coding, Encoder};
    let all_fixtures: String = fixtures()
        .into_iter()
        .map(|(_, f)| f)
        .collect::<Vec<_>>()
        .join("\n");
    let doc = wrap(&all_fixtures);
    let served = doc.clone();
    let origin = Origin::start(move |req| {
        let coding = match req.path.as_str() {
            "/gzip" => Some(Coding::Gzip),
            "/deflate" => Some(Coding::Deflate),
            "/br" => Some(Coding::Brotli),
            "/zstd" => Some(Coding::Zstd),
            _ => None,
        };
        let reply = Reply::ok("text/html; charset=utf-8", "");
        match coding {
            Some(c) => {
                let mut e = Encoder::new(c, 6).unwrap();
                let mut body = e.write(served.as_bytes()).unwrap();
                body.extend(e.finish().unwrap());
                reply.header("Content-Encoding", c.token()).body(body)
            }
            None => reply.body(served.clone()),
        }
    });
    let sites =
        "[[site]]\nname = \"s\"\nhosts = [\"www.example.com\"]\nupstreams = [\"{origin}\"]\n";
    let proxy = Proxy::start(
        origin.addr,
        sites,
        "[html]\ncompress = false\n",
        &[("rules.toml", &common::curated_rules())],
    );
    let identity = get(proxy.addr, "/identity", &[]);
    assert_eq!(identity.status, 200);
    assert!(identity.text().contains("data-consent-src"));
    assert_nothing_denied_left("identity", &identity.text(), &page(CategorySet::EMPTY));
    for path in ["/gzip", "/deflate", "/br", "/zstd"] {
        let r = get(proxy.addr, path, &[("Accept-Encoding", "gzip, br, zstd")]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-encoding"),
            None,
            "{path}: compress = false sends identity"
        );
        assert_eq!(r.text(), identity.text(), "{path}");
    }
    // With compression on, the client gets its preferred coding and the same page.
    drop(proxy);
    let proxy = Proxy::start(
        origin.addr,
        sites,
        "",
        &[("rules.toml", &common::curated_rules())],
    );
    for (accept, coding) in [
        ("gzip", Coding::Gzip),
        ("br", Coding::Brotli),
        ("zstd", Coding::Zstd),
    ] {
        let r = get(proxy.addr, "/gzip", &[("Accept-Encoding", accept)]);
        assert_eq!(r.header("content-encoding"), Some(coding.token()));
        let mut d = consent_gate::html::codec::Decoder::new(coding, Default::default()).unwrap();
        let mut body = d.write(&r.body).unwrap();
        body.extend(d.finish().unwrap());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            identity.text(),
            "{accept}"
        );
        assert!(
            r.headers_named("vary")
                .iter()
                .any(|v| v.contains("Accept-Encoding"))
        );
    }
}
