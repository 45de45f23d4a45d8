//! HTML rewriting over a realistic page (~120 KB with the usual tracker embeds): the neutralizer
//! against a plain copy of the same bytes, and lol_html with no handlers, measured side by side;
//! and the rewrite with the client guard's tag, as the proxy does it; whole pages (the runs of
//! content markup copied past lol_html, only the attribute checks the rest can need) and
//! streamed ones (every byte through lol_html, every check); the scans; and the fixed cost.
//! Run: `cargo bench --bench html`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use consent_gate::category::{Categories, Category, CategorySet};
use consent_gate::html::codec::{Coding, Encoder};
use consent_gate::html::{Page, RewriteLimits, Rewriter, Selectors, rewrite_all};
use consent_gate::rules::Rules;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn page() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendors");
    let mut head = String::new();
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "html") {
            head.push_str(&std::fs::read_to_string(p).expect("fixture"));
        }
    }
    let mut body = String::new();
    while body.len() < 110_000 {
        body.push_str("<article><h2>Product</h2><p>Lorem ipsum dolor sit amet, <a href=\"/p/1\">consectetur</a> adipiscing elit.</p><img src=\"/img/p1.jpg\" alt=\"\"></article>\n");
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{head}</head><body>{body}</body></html>"
    )
}

fn bench(c: &mut Criterion) {
    let html = page();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rules");
    let files: Vec<_> = [
        "open-cookie-database.toml",
        "adguard-trackers.toml",
        "curated.toml",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let rules = Arc::new(Rules::load(&files, &Categories::default()).expect("rules"));
    let selectors = Arc::new(Selectors::new().expect("selectors"));
    let page = Page {
        rules,
        allowed: CategorySet::only(Category::NECESSARY),
        site: "example.com".into(),
        report_only: false,
        tcf_vendors: None,
    };
    let mut g = c.benchmark_group("html page");
    g.throughput(Throughput::Bytes(html.len() as u64));
    g.bench_function("copy (pass-through)", |b| {
        b.iter(|| black_box(html.as_bytes().to_vec()))
    });
    g.bench_function("lol_html, no handlers", |b| {
        b.iter(|| {
            black_box(
                lol_html::rewrite_str(&html, lol_html::RewriteStrSettings::new()).expect("rewrite"),
            )
        })
    });
    // lol_html's own cost once element selectors exist: the neutralizer's element selectors
    // with handlers that do nothing (the parser then tokenizes every tag and tracks open
    // elements). The neutralizer's real work is what it adds to this.
    g.bench_function(
        "lol_html, the neutralizer's selectors, empty handlers",
        |b| {
            use lol_html::ElementContentHandlers;
            let elements = selectors.elements();
            b.iter(|| {
                let mut settings = lol_html::Settings::new();
                for sel in elements {
                    settings = settings.append_element_content_handler((
                        std::borrow::Cow::Borrowed(sel),
                        ElementContentHandlers::default()
                            .element(|_: &mut lol_html::html_content::Element<'_, '_>| Ok(())),
                    ));
                }
                let mut out = Vec::with_capacity(html.len() + 4096);
                let mut rewriter =
                    lol_html::HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
                rewriter.write(html.as_bytes()).expect("write");
                rewriter.end().expect("end");
                black_box(out)
            })
        },
    );
    // The whole page known (a body the memo held back, or explain): the stretches of content
    // markup are copied past lol_html, which runs only the attribute checks the rest can need.
    g.bench_function("neutralize, nothing consented", |b| {
        b.iter(|| {
            black_box(rewrite_all(page.clone(), &selectors, html.as_bytes()).expect("rewrite"))
        })
    });
    // Streamed (a body larger than the memo holds back): every attribute check runs.
    g.bench_function("neutralize streamed, every check", |b| {
        b.iter(|| {
            let mut r = Rewriter::new(
                page.clone(),
                &selectors,
                encoding_rs::UTF_8,
                false,
                RewriteLimits::default(),
            )
            .expect("rewriter");
            let mut out = r.write(html.as_bytes()).expect("write").to_vec();
            out.extend_from_slice(&r.end().expect("end"));
            black_box(out)
        })
    });
    // The scan that picks the checks for a whole page.
    g.bench_function("scan for the checks a page needs", |b| {
        b.iter(|| black_box(consent_gate::html::Needs::of(html.as_bytes())))
    });
    // The scan for the stretches a whole page's rewrite copies past lol_html.
    g.bench_function("scan for the stretches to copy", |b| {
        b.iter(|| black_box(consent_gate::html::inert_stretches(&page, html.as_bytes())))
    });
    // Fixed cost: a one-element page.
    g.bench_function("neutralize, 30-byte page (fixed cost)", |b| {
        b.iter(|| {
            black_box(
                rewrite_all(page.clone(), &selectors, b"<html><body>hi</body></html>")
                    .expect("rewrite"),
            )
        })
    });
    // What a rewritten page costs in the proxy: the rewrite plus the client guard's tag before
    // the first script (the guard itself is built once per rule set and category set).
    let tag = r#"<script src="/.consent-gate/guard/e-0123456789abcdef.js" data-consent-gate-site="example.com"></script>"#;
    // A held page rewritten as the proxy does it: whole, with the guard tag.
    let as_proxy = |doc: &[u8], encoding, sniff_meta| {
        let mut r = Rewriter::for_whole(
            page.clone(),
            &selectors,
            doc,
            encoding,
            sniff_meta,
            RewriteLimits::default(),
        )
        .expect("rewriter");
        r.inject_before_first_script(tag.to_owned());
        let mut out = r.write_whole(doc).expect("write").to_vec();
        out.extend_from_slice(&r.end().expect("end"));
        out
    };
    g.bench_function("neutralize + guard tag, nothing consented", |b| {
        b.iter(|| black_box(as_proxy(html.as_bytes(), encoding_rs::UTF_8, false)))
    });
    g.finish();

    // A small page as the proxy rewrites it (whole, guard tag, charset read from `<meta>`): one
    // analytics tag and a paragraph, as error pages and redirect targets are. Its cost is
    // mostly the fixed cost of a rewrite.
    let small = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>small</title>\n<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-XXXX\"></script>\n</head><body><h1>Hello</h1><p>A small page with one analytics tag and a little text.</p><p>{}</p></body></html>",
        "x".repeat(500)
    );
    let mut g = c.benchmark_group("html small page");
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("neutralize + guard tag, 1 KB page", |b| {
        b.iter(|| black_box(as_proxy(small.as_bytes(), encoding_rs::WINDOWS_1252, true)))
    });
    g.finish();

    // Compressing a rewritten page for the client, per coding and level (the data behind the
    // default `compression_level = 1`): time per page, and the size it gives.
    let rewritten = rewrite_all(page.clone(), &selectors, html.as_bytes())
        .expect("rewrite")
        .0;
    let mut g = c.benchmark_group("compress rewritten page");
    g.throughput(Throughput::Bytes(rewritten.len() as u64));
    for (coding, levels) in [
        (Coding::Gzip, &[1u32, 4, 6][..]),
        (Coding::Brotli, &[1, 4, 6][..]),
        (Coding::Zstd, &[1, 3, 6][..]),
    ] {
        for &level in levels {
            let size = compress(coding, level, &rewritten).len();
            g.bench_function(
                format!(
                    "{} level {level} ({} -> {size} bytes)",
                    coding.token(),
                    rewritten.len()
                ),
                |b| b.iter(|| black_box(compress(coding, level, &rewritten))),
            );
        }
    }
    g.finish();
}

/// The whole body through the proxy's streaming encoder (64 KB chunks, as bodies arrive).
fn compress(coding: Coding, level: u32, body: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new(coding, level).expect("encoder");
    let mut out = Vec::new();
    for chunk in body.chunks(64 << 10) {
        out.extend(e.write(chunk).expect("encode"));
    }
    out.extend(e.finish().expect("finish"));
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
