use std::sync::Arc;

use super::*;
use crate::category::{Categories, Category, CategorySet};

const RULES: &str = r#"
[[resource]]
host = "googletagmanager.com"
category = "analytics"
vendor = "Google Tag Manager"

[[resource]]
host = "connect.facebook.net"
category = "marketing"
vendor = "Meta Pixel"

[[resource]]
host = "metrics.example.com"
category = "analytics"
vendor = "Own metrics"

[[resource]]
host = "example.com"
category = "marketing"
vendor = "Too broad"

[[resource]]
host = "youtube.com"
category = "marketing"
vendor = "YouTube"

[[resource]]
host = "facebook.com"
path = "/tr"
category = "marketing"
vendor = "Meta Pixel"

[[signature]]
text = "fbq("
category = "marketing"
vendor = "Meta Pixel"

[[allow]]
host = "cdn.cookielaw.org"
vendor = "OneTrust"
"#;

/// A page of `example.com` under the test rules (also used by the rewriter's own tests).
pub(in crate::html) fn page(allowed: CategorySet) -> Page {
    Page::for_test(RULES, allowed)
}

fn selectors() -> Arc<Selectors> {
    Arc::new(Selectors::new().unwrap())
}

fn rewrite(page: Page, html: &str) -> (String, Stats) {
    let (out, stats) = rewrite_all(page, &selectors(), html.as_bytes()).unwrap();
    (String::from_utf8(out).unwrap(), stats)
}

/// Feeds `html` split at the given points and returns the output.
fn rewrite_split(page: Page, html: &[u8], cuts: &[usize]) -> Vec<u8> {
    rewrite_split_with(page, html, cuts, RewriteLimits::default()).unwrap()
}

/// [`rewrite_split`] under `limits`, errors returned.
fn rewrite_split_with(
    page: Page,
    html: &[u8],
    cuts: &[usize],
    limits: RewriteLimits,
) -> Result<Vec<u8>, HtmlError> {
    let mut r = Rewriter::new(page, &selectors(), encoding_rs::UTF_8, false, limits)?;
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&html.len())) {
        out.extend_from_slice(&r.write(&html[start..cut])?);
        start = cut;
    }
    out.extend_from_slice(&r.end()?);
    Ok(out)
}

const PAGE: &str = r#"<!doctype html><html><head>
<script src="https://cdn.cookielaw.org/scripttemplates/otSDKStub.js" data-domain-script="abc"></script>
<script async nonce="n0nce" src="https://www.googletagmanager.com/gtag/js?id=G-1&amp;l=dl"></script>
<script type="module" src="//connect.facebook.net/en_US/fbevents.js"></script>
<script type="application/ld+json">{"@context":"https://schema.org","fbq(":"x"}</script>
<script nonce="n0nce">!function(f){f.fbq=function(){};}(window);fbq('init','123');</script>
<script>console.log("plain")</script>
<script src="/js/app.js"></script>
<script src="https://www.example.com/lib.js"></script>
<script src="https://metrics.example.com/m.js"></script>
</head><body>fbq( in text is not a script</body></html>"#;

#[test]
fn denied_scripts_become_inert_and_everything_else_is_untouched() {
    let (out, stats) = rewrite(page(CategorySet::EMPTY), PAGE);
    assert!(out.contains(
        r#"<script async nonce="n0nce" data-consent-src="https://www.googletagmanager.com/gtag/js?id=G-1&amp;l=dl" type="text/plain" data-consent-category="analytics" data-consent-vendor="Google Tag Manager"></script>"#
    ), "{out}");
    assert!(out.contains(
        r#"<script type="text/plain" data-consent-src="//connect.facebook.net/en_US/fbevents.js" data-consent-type="module" data-consent-category="marketing" data-consent-vendor="Meta Pixel"></script>"#
    ), "{out}");
    // The inline pixel is emptied and its text moved into an inert copy that keeps the nonce.
    assert!(out.contains(
        r#"<script nonce="n0nce"></script><script type="text/plain" nonce="n0nce" data-consent-category="marketing" data-consent-vendor="Meta Pixel">!function(f){f.fbq=function(){};}(window);fbq('init','123');</script>"#
    ), "{out}");
    // Consent tool, JSON-LD, plain inline, first-party scripts: byte for byte.
    for kept in [
        r#"<script src="https://cdn.cookielaw.org/scripttemplates/otSDKStub.js" data-domain-script="abc"></script>"#,
        r#"<script type="application/ld+json">{"@context":"https://schema.org","fbq(":"x"}</script>"#,
        r#"<script>console.log("plain")</script>"#,
        r#"<script src="/js/app.js"></script>"#,
        r#"<script src="https://www.example.com/lib.js"></script>"#,
        "fbq( in text is not a script",
    ] {
        assert!(out.contains(kept), "{kept} missing from {out}");
    }
    // A first-party host named explicitly by a rule is blocked.
    assert!(
        out.contains(r#"data-consent-src="https://metrics.example.com/m.js""#),
        "{out}"
    );
    assert_eq!(
        stats.counts.get(&(Kind::Script, Category::ANALYTICS)),
        Some(&2)
    );
    assert_eq!(
        stats.counts.get(&(Kind::Script, Category::MARKETING)),
        Some(&1)
    );
    assert_eq!(
        stats.counts.get(&(Kind::InlineScript, Category::MARKETING)),
        Some(&1)
    );
    assert_eq!(stats.actions[0].rule, "rules.toml:2");
}

#[test]
fn full_consent_changes_nothing() {
    let all = Categories::default().all();
    let (out, stats) = rewrite(page(all), PAGE);
    assert_eq!(out, PAGE);
    assert_eq!(stats.total(), 0);
}

#[test]
fn report_only_counts_but_changes_nothing() {
    let mut p = page(CategorySet::EMPTY);
    p.report_only = true;
    let (out, stats) = rewrite(p, PAGE);
    assert_eq!(out, PAGE);
    assert_eq!(stats.total(), 4);
}

#[test]
fn output_is_identical_at_every_split_point() {
    let whole = rewrite_split(page(CategorySet::EMPTY), PAGE.as_bytes(), &[]);
    for cut in 0..=PAGE.len() {
        let split = rewrite_split(page(CategorySet::EMPTY), PAGE.as_bytes(), &[cut]);
        assert_eq!(split, whole, "split at byte {cut}");
    }
    let every_byte: Vec<usize> = (1..PAGE.len()).collect();
    assert_eq!(
        rewrite_split(page(CategorySet::EMPTY), PAGE.as_bytes(), &every_byte),
        whole
    );
}

#[test]
fn truncated_document_keeps_an_open_inline_script() {
    let (out, _) = rewrite(page(CategorySet::EMPTY), "<p>x</p><script>var a = 1;");
    assert_eq!(out, "<p>x</p><script>var a = 1;");
    let (out, _) = rewrite(page(CategorySet::EMPTY), "<script>fbq('track')");
    assert!(
        out.contains("data-consent-vendor=\"Meta Pixel\">fbq('track')</script>"),
        "{out}"
    );
    assert!(!out.starts_with("<script>fbq"), "{out}");
}

#[test]
fn oversized_inline_script_is_an_error() {
    let mut r = Rewriter::new(
        page(CategorySet::EMPTY),
        &selectors(),
        encoding_rs::UTF_8,
        false,
        RewriteLimits {
            max_inline_script: 16,
            ..RewriteLimits::default()
        },
    )
    .unwrap();
    let res = r
        .write(b"<script>0123456789abcdefghij</script>")
        .and_then(|_| r.end());
    assert!(res.is_err());
}

#[test]
fn javascript_types() {
    for t in [None, Some(""), Some(" text/JavaScript "), Some("module")] {
        assert!(is_javascript(t), "{t:?}");
    }
    for t in [
        Some("application/ld+json"),
        Some("text/plain"),
        Some("importmap"),
        Some("speculationrules"),
    ] {
        assert!(!is_javascript(t), "{t:?}");
    }
}

const VECTORS: &str = r#"<head>
<link rel="preconnect" href="https://connect.facebook.net" crossorigin>
<link rel="dns-prefetch" href="//www.googletagmanager.com">
<link rel="PRELOAD modulepreload" as="script" href="https://www.googletagmanager.com/gtm.js">
<link rel="stylesheet" href="https://connect.facebook.net/style.css">
<link rel="preconnect" href="https://cdn.cookielaw.org">
</head><body>
<iframe width="560" src="https://www.youtube.com/embed/x?a=1&amp;b=2" allowfullscreen></iframe>
<iframe src="/local/frame.html"></iframe>
<img height="1" width="1" src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">
<img src="/logo.png" srcset="/logo2x.png 2x, https://www.facebook.com/tr?id=2 3x">
<picture><source srcset="https://www.facebook.com/tr?id=3"><img src="/a.png"></picture>
<img src="/cat.jpg" alt="a cat">
<noscript><img height="1" width="1" style="display:none" src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1"/></noscript>
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-1" height="0" width="0"></iframe></noscript>
<noscript><p>Please enable JavaScript</p></noscript>
</body>"#;

#[test]
fn frames_pixels_hints_and_noscript_are_neutralized() {
    let (out, stats) = rewrite(page(CategorySet::EMPTY), VECTORS);
    // Hints to denied hosts are gone; a stylesheet from one is parked; the consent tool's hint
    // stays.
    assert!(
        !out.contains("rel=\"preconnect\" href=\"https://connect.facebook.net\""),
        "{out}"
    );
    assert!(!out.contains("dns-prefetch"), "{out}");
    assert!(!out.contains("gtm.js"), "{out}");
    assert!(
        out.contains(r#"<link rel="stylesheet" data-consent-href="https://connect.facebook.net/style.css" data-consent-category="marketing" data-consent-vendor="Meta Pixel">"#),
        "{out}"
    );
    assert!(
        out.contains(r#"<link rel="preconnect" href="https://cdn.cookielaw.org">"#),
        "{out}"
    );
    // The YouTube frame keeps its markup, loses its src, and explains itself.
    assert!(
        out.contains(r#"data-consent-src="https://www.youtube.com/embed/x?a=1&amp;b=2""#),
        "{out}"
    );
    assert!(!out.contains(r#" src="https://www.youtube.com"#), "{out}");
    assert!(out.contains("srcdoc=\"&lt;p style="), "{out}");
    assert!(
        out.contains(r#"<iframe src="/local/frame.html"></iframe>"#),
        "{out}"
    );
    // Pixels: src and srcset parked; first-party images untouched.
    assert!(out.contains(r#"<img height="1" width="1" alt="" data-consent-src="https://www.facebook.com/tr?id=1&amp;ev=PageView" data-consent-category="marketing" data-consent-vendor="Meta Pixel">"#), "{out}");
    assert!(
        out.contains(
            r#"data-consent-srcset="/logo2x.png 2x, https://www.facebook.com/tr?id=2 3x""#
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"<source data-consent-srcset="https://www.facebook.com/tr?id=3""#),
        "{out}"
    );
    assert!(out.contains(r#"<img src="/cat.jpg" alt="a cat">"#), "{out}");
    // Noscript with trackers emptied, others untouched.
    assert_eq!(out.matches("<noscript></noscript>").count(), 2, "{out}");
    assert!(
        out.contains("<noscript><p>Please enable JavaScript</p></noscript>"),
        "{out}"
    );
    let count = |k| {
        stats
            .counts
            .iter()
            .filter(|((kind, _), _)| *kind == k)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    assert_eq!(count(Kind::Link), 3);
    assert_eq!(count(Kind::Iframe), 1);
    assert_eq!(count(Kind::Img), 3);
    assert_eq!(count(Kind::Noscript), 2);
    // Everything is the same at every split point.
    let whole = rewrite_split(page(CategorySet::EMPTY), VECTORS.as_bytes(), &[]);
    for cut in 0..=VECTORS.len() {
        assert_eq!(
            rewrite_split(page(CategorySet::EMPTY), VECTORS.as_bytes(), &[cut]),
            whole,
            "split at {cut}"
        );
    }
}

#[test]
fn full_consent_leaves_every_vector_alone() {
    let (out, stats) = rewrite(page(Categories::default().all()), VECTORS);
    assert_eq!(out, VECTORS);
    assert_eq!(stats.total(), 0);
}

#[test]
fn random_splits_are_identical_with_a_replayable_seed() {
    let doc = format!("{PAGE}{VECTORS}");
    let whole = rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &[]);
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
    for round in 0..200 {
        let mut cuts: Vec<usize> = (0..(next() % 40))
            .map(|_| (next() as usize) % doc.len())
            .collect();
        cuts.sort_unstable();
        let out = rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &cuts);
        assert!(
            out == whole,
            "round {round} differs; replay with SPLIT_SEED={seed} (cuts {cuts:?})"
        );
    }
}

#[test]
fn empty_and_attribute_only_scripts_survive_intact() {
    let doc =
        r#"<script></script><script async defer id="x"></script><script type="module"></script>"#;
    let (out, stats) = rewrite(page(CategorySet::EMPTY), doc);
    assert_eq!(out, doc);
    assert_eq!(stats.total(), 0);
}

/// Loader snippets as vendors publish them name their host in many shapes; each is caught by the
/// resource rules alone, with no signature.
#[test]
fn inline_loaders_naming_a_denied_host_are_neutralized() {
    const LOADER_RULES: &str = r#"
[[resource]]
host = "chartbeat.com"
category = "analytics"
vendor = "Chartbeat"

[[resource]]
host = "scorecardresearch.com"
category = "analytics"
vendor = "comScore"

[[resource]]
host = "quantserve.com"
category = "marketing"
vendor = "Quantcast"

[[resource]]
host = "facebook.com"
path = "/tr"
category = "marketing"
vendor = "Meta Pixel"

[[resource]]
host = "metrics.example.com"
category = "analytics"
vendor = "Own metrics"

[[resource]]
host = "cookielaw.org"
category = "marketing"
vendor = "Never"

[[allow]]
host = "cdn.cookielaw.org"
vendor = "OneTrust"
"#;
    let loaders = [
        (
            "full URL",
            "var s=document.createElement('script');s.src='https://sb.scorecardresearch.com/beacon.js';document.head.appendChild(s);",
            "sb.scorecardresearch.com/beacon.js",
        ),
        (
            "protocol-relative",
            "e.src = '//static.chartbeat.com/js/chartbeat.js';",
            "static.chartbeat.com/js/chartbeat.js",
        ),
        (
            "bare host",
            "var cfg = {domain: 'static.chartbeat.com'}; load(cfg);",
            "static.chartbeat.com",
        ),
        (
            "split by concatenation",
            "elem.src = (document.location.protocol == 'https:' ? 'https://secure' : 'http://edge') + '.quantserve.com/quant.js';",
            "quantserve.com/quant.js",
        ),
        (
            "document.write",
            "document.write('<scr'+'ipt src=\"HTTPS://Sb.ScorecardResearch.com/beacon.js\"></scr'+'ipt>');",
            "sb.scorecardresearch.com/beacon.js",
        ),
        (
            "escaped slashes",
            "var cfg={\"beacon\":\"https:\\/\\/sb.scorecardresearch.com\\/beacon.js\"};",
            "sb.scorecardresearch.com",
        ),
        (
            "path rule",
            "new Image().src='https://www.facebook.com/tr?id=1&ev=PageView';",
            "www.facebook.com/tr?id=1&ev=PageView",
        ),
        (
            "own subdomain named by a rule",
            "fetch('https://metrics.example.com/collect');",
            "metrics.example.com/collect",
        ),
    ];
    let page = Page::for_test(LOADER_RULES, CategorySet::EMPTY);
    for (shape, code, target) in loaders {
        let (rule, found) = page
            .inline_rule(code)
            .unwrap_or_else(|| panic!("{shape}: not caught: {code}"));
        assert_eq!(found, target, "{shape}");
        let doc = format!("<script>{code}</script>");
        let (out, stats) = rewrite(page.clone(), &doc);
        assert_eq!(stats.total(), 1, "{shape}: {out}");
        assert!(
            out.starts_with("<script></script><script type=\"text/plain\""),
            "{shape}: {out}"
        );
        assert!(
            out.contains(&format!("data-consent-vendor=\"{}\"", rule.vendor)),
            "{shape}: {out}"
        );
    }
    let innocent = [
        "var host = 'notchartbeat.com';",
        "var x = 'chartbeat.company.io';",
        "location.href = 'https://www.facebook.com/ourpage';",
        "loadScript('https://cdn.cookielaw.org/scripttemplates/otSDKStub.js');",
        "fetch('/api/chartbeat');",
        "var s = 'www.example.com/quantserve';",
        // Named, not fetched: a share link and a page's settings.
        "share.href = 'https://static.chartbeat.com/share?u=' + encodeURIComponent(location.href);",
        "window.open('https://sb.scorecardresearch.com/about', '_blank');",
        "var site = {partners: ['quantserve.com', 'chartbeat.com'], theme: 'dark'};",
    ];
    for code in innocent {
        assert!(page.inline_rule(code).is_none(), "{code}");
        let doc = format!("<script>{code}</script>");
        assert_eq!(rewrite(page.clone(), &doc).0, doc);
    }
    // Data blocks never run and are never touched; consented hosts are left alone.
    let json = r#"<script type="application/ld+json">{"sameAs":"https://static.chartbeat.com/x"}</script>"#;
    assert_eq!(rewrite(page.clone(), json).0, json);
    let all = Page::for_test(LOADER_RULES, Categories::default().all());
    let doc = "<script>e.src='//static.chartbeat.com/js/chartbeat.js'</script>";
    assert_eq!(rewrite(all, doc).0, doc);
}

#[test]
fn css_and_inline_handlers_that_fetch_from_denied_hosts_are_neutralized() {
    const CSS_RULES: &str = r#"
[[resource]]
host = "taboola.com"
category = "marketing"
vendor = "Taboola"

[[resource]]
host = "outbrain.com"
category = "marketing"
vendor = "Outbrain"

[[resource]]
host = "scorecardresearch.com"
category = "analytics"
vendor = "comScore"
"#;
    let doc = r#"<html><head><style>
.a { background: url(//cdn.taboola.com/static/a.png) no-repeat; }
@import url("https://widgets.outbrain.com/x.css");
.ok { background: url(/img/ok.png); }
</style>
<link rel="stylesheet" href="https://widgets.outbrain.com/outbrain.css">
<link rel="stylesheet" href="/css/site.css">
</head><body>
<div style="background-image: url(&quot;http://images.taboola.com/y.jpg&quot;); color: red">w</div>
<div style="background: url(/img/fine.png)">f</div>
<img src="/logo.png" onload="var i=new Image();i.src='https://sb.scorecardresearch.com/p?c1=2'">
<a href="javascript:void(document.write('<script src=//cdn.taboola.com/x.js></scr'+'ipt>'))">t</a>
<a href="/next" onclick="track('/next')">n</a>
</body></html>"#;
    let page = Page::for_test(CSS_RULES, CategorySet::EMPTY);
    let (out, stats) = rewrite(page.clone(), doc);
    for gone in [
        "//cdn.taboola.com/static/a.png",
        "https://widgets.outbrain.com/x.css",
        "http://images.taboola.com/y.jpg",
    ] {
        assert!(!out.contains(gone), "{gone} still in\n{out}");
    }
    assert!(
        out.contains(".a { background: url(about:invalid#consent-gate) no-repeat; }"),
        "{out}"
    );
    assert!(
        out.contains(".ok { background: url(/img/ok.png); }"),
        "{out}"
    );
    assert!(out.contains(r#"<link rel="stylesheet" data-consent-href="https://widgets.outbrain.com/outbrain.css" data-consent-category="marketing" data-consent-vendor="Outbrain">"#), "{out}");
    assert!(
        out.contains(r#"<link rel="stylesheet" href="/css/site.css">"#),
        "{out}"
    );
    assert!(out.contains("color: red"), "{out}");
    assert!(
        out.contains(r#"<div style="background: url(/img/fine.png)">f</div>"#),
        "{out}"
    );
    assert!(out.contains(r#"data-consent-onload="var i=new Image();i.src='https://sb.scorecardresearch.com/p?c1=2'""#), "{out}");
    assert!(!out.contains(" onload="), "{out}");
    assert!(out.contains("data-consent-href=\"javascript:"), "{out}");
    assert!(
        out.contains(r#"<a href="/next" onclick="track('/next')">n</a>"#),
        "{out}"
    );
    assert_eq!(
        stats.counts.get(&(Kind::Css, Category::MARKETING)),
        Some(&4)
    );
    assert_eq!(
        stats
            .counts
            .get(&(Kind::InlineHandler, Category::MARKETING)),
        Some(&1)
    );
    assert_eq!(
        stats
            .counts
            .get(&(Kind::InlineHandler, Category::ANALYTICS)),
        Some(&1)
    );
    // Whatever the chunking, the same bytes.
    let every_byte: Vec<usize> = (1..doc.len()).collect();
    assert_eq!(
        rewrite_split(page, doc.as_bytes(), &every_byte),
        out.as_bytes()
    );
    // With consent nothing changes.
    let all = Page::for_test(CSS_RULES, Categories::default().all());
    assert_eq!(rewrite(all, doc).0, doc);
}

#[test]
fn a_document_needs_only_the_attribute_checks_its_bytes_can_trigger() {
    use crate::html::Needs;
    let plain = Needs::of(
        b"<p class=x style=\"color:red\"><a href=\"/a\">a</a><img src=\"/i.png\"></p><script>img.onload = f; el.style.color = 'x'; var s = 'onclick';</script><style>.a{background:url(/x.png)}</style>",
    );
    assert_eq!(plain, Needs::of(b""));
    assert_ne!(plain, Needs::ALL);
    for doc in [
        &b"<a href=\"javascript:x()\">"[..],
        b"<a href=\"java&#115;cript&#x3A;x()\">",
        b"<a href=\"javascript&colon;x()\">",
        b"<a href=\"javascript&#0058;x()\">",
        b"<img ONERROR=\"x()\">",
        b"<img/onload = x()>",
        b"<a href=\"x\"onclick='y()'>",
        b"<div style=\"background:URL(//t.example/x)\">",
        b"<div style='background:url&#40;//t.example/x)'>",
        b"<div STYLE = background:url(//t.example/x)>",
        b"<div style=\"background:u\\72 l(//t.example/x)\">",
        b"<div style='background-image:image-set(\"//t.example/x\" 1x)'>",
        b"<x onreadystatechange=f()>",
        b"<x\nonload\n\n=f()>",
        b"<x style\t=\tbackground:url(//t.example/x)>",
    ] {
        assert_ne!(Needs::of(doc), plain, "{}", String::from_utf8_lossy(doc));
    }
    // Longer names, and names glued to what comes before, are other attributes.
    for doc in [
        &b"<x aonreadystatechange=f()>"[..],
        b"<x data-onload=f()>",
        b"onload=f()",
        b"<x xstyle=background:url(//t.example/x)>",
    ] {
        assert_eq!(Needs::of(doc), plain, "{}", String::from_utf8_lossy(doc));
    }
}

/// A start tag whose last attribute is `name=` with no value (`<style a=>`) still switches the
/// parser to raw text in a browser, so a comment opened inside `<style>` cannot hide what follows
/// `</style>` from the rewriter: the tracker after it runs in the browser and must be blocked.
#[test]
fn an_attribute_without_a_value_does_not_hide_what_follows_a_raw_text_element() {
    let tracker = r#"<script src="https://www.googletagmanager.com/gtm.js"></script>"#;
    for name in [
        "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title", "script",
    ] {
        for end in ["a=>", "a =>", "a= >", "b=1 a=>"] {
            let doc =
                format!("<!doctype html><body><{name} {end}<!--</{name}>{tracker}--><p>after</p>");
            let (whole, _) = rewrite(page(CategorySet::EMPTY), &doc);
            assert!(
                !whole.contains(tracker) && whole.contains("data-consent-src"),
                "{doc} -> {whole}"
            );
            for cut in 0..=doc.len() {
                let split = rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &[cut]);
                assert_eq!(split, whole.as_bytes(), "{doc} split at byte {cut}");
            }
        }
    }
    // In plaintext nothing after the tag is markup: no tracker is loaded and nothing is changed.
    let doc = format!("<body><plaintext a=>{tracker}");
    assert_eq!(rewrite(page(CategorySet::EMPTY), &doc).0, doc);
}

/// A `javascript:` URL is read as a browser reads it: whatever character references, tabs,
/// newlines or percent-encoding spell the scheme or the code, one that loads a denied host is
/// neutralized, streamed or whole.
#[test]
fn javascript_urls_are_read_as_a_browser_reads_them() {
    let code = "document.write('<script src=//connect.facebook.net/x.js></scr'+'ipt>')";
    let pct = "document.write('<script src=//connect%2Efacebook%2Enet/x.js></scr'+'ipt>')";
    for url in [
        format!("javascript:{code}"),
        format!("java&#115;cript:{code}"),
        format!("java&#0000000000115;cript:{code}"),
        format!("javascript&colon;{code}"),
        format!("&#x6A;avascript:{code}"),
        format!("java\tscr\nipt:{code}"),
        format!("java&Tab;script&NewLine;:{code}"),
        format!("\x01 javascript:{code}"),
        format!("JAVASCRIPT:{pct}"),
    ] {
        let doc = format!("<!doctype html><body><p>x</p><a href=\"{url}\">go</a></body>");
        let (out, _) = rewrite(page(CategorySet::EMPTY), &doc);
        assert!(
            out.contains("data-consent-href=") && !out.contains(" href="),
            "{url:?} -> {out}"
        );
        let streamed = rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &[7]);
        assert_eq!(streamed, out.as_bytes(), "{url:?}");
    }
    // Links that only look alike are left alone.
    for url in [
        "/javascript/intro?a=1&amp;b=2",
        "https://example.org/x?q=java&#115;",
        "#script:top",
    ] {
        let doc = format!("<body><a href=\"{url}\">go</a></body>");
        assert_eq!(rewrite(page(CategorySet::EMPTY), &doc).0, doc);
    }
}

/// Markup whose nesting a streaming parser cannot be sure of fails the rewrite closed; failing
/// open, the whole page still arrives (nothing cut out of the middle) and what the parser reads
/// as a tracker is still blocked.
#[test]
fn ambiguous_nesting_fails_closed_or_arrives_whole_when_failing_open() {
    let text = "<p>Some text of the article.</p>".repeat(200);
    let doc = format!(
        "<!doctype html><body>{text}<select><template><script src=\"/a.js\"></script></template></select>{text}<script src=\"https://www.googletagmanager.com/gtm.js\"></script><p>end</p></body>"
    );
    let run = |fail_open: bool, cuts: &[usize]| {
        let limits = RewriteLimits {
            fail_open,
            ..RewriteLimits::default()
        };
        rewrite_split_with(page(CategorySet::EMPTY), doc.as_bytes(), cuts, limits)
    };
    assert!(matches!(
        run(false, &[]),
        Err(HtmlError::Rewriting(
            lol_html::errors::RewritingError::ParsingAmbiguity(_)
        ))
    ));
    let open = String::from_utf8(run(true, &[]).unwrap()).unwrap();
    assert_eq!(open.matches("Some text of the article.").count(), 400);
    assert!(open.ends_with("<p>end</p></body>"), "{open}");
    assert!(
        !open.contains("<script src=\"https://www.googletagmanager.com"),
        "{open}"
    );
    assert_eq!(
        run(true, &[doc.len() / 2, doc.len() / 2 + 7]).unwrap(),
        open.as_bytes()
    );
    // A page held whole gives the same.
    let mut r = Rewriter::for_whole(
        page(CategorySet::EMPTY),
        &selectors(),
        doc.as_bytes(),
        encoding_rs::UTF_8,
        false,
        RewriteLimits {
            fail_open: true,
            ..RewriteLimits::default()
        },
    )
    .unwrap();
    let mut whole = r.write_whole(doc.as_bytes()).unwrap().to_vec();
    whole.extend_from_slice(&r.end().unwrap());
    assert_eq!(whole, open.as_bytes());
}

/// Character references and escapes that spell a fetch or a scheme are read as a browser reads
/// them on a page held whole (only the checks it needs) as on a streamed one (every check).
#[test]
fn references_that_spell_a_fetch_are_caught_whole_or_streamed() {
    for (attr, gone) in [
        (
            "href=\"javas&#13;cript:document.write('<script src=//connect.facebook.net/x.js></scr'+'ipt>')\"",
            " href=",
        ),
        ("href=\"java&#x0D;script:fbq&lpar;'init')\"", " href="),
        ("href=\"javascript:fbq&lpar;'init')\"", " href="),
        (
            "style=\"background:u&#114;l(https://connect.facebook.net/tr)\"",
            "connect.facebook.net",
        ),
        // CSS escapes spell names as references do; `image-set()` strings are URLs.
        (
            "style=\"background:u\\72 l(https://connect.facebook.net/tr)\"",
            "connect.facebook.net",
        ),
        (
            "style='background-image:image-set(\"https://connect.facebook.net/tr\" 1x)'",
            "connect.facebook.net",
        ),
    ] {
        let doc = format!("<!doctype html><body><p>x</p><a {attr}>go</a></body>");
        let (whole, _) = rewrite(page(CategorySet::EMPTY), &doc);
        assert!(!whole.contains(gone), "{attr} -> {whole}");
        let streamed = rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &[]);
        assert_eq!(streamed, whole.as_bytes(), "{attr}");
    }
}

/// A `<base href>` on a denied host would send every relative URL after it there.
#[test]
fn a_base_url_on_a_denied_host_is_parked() {
    let doc = "<!doctype html><head><base href=\"https://www.googletagmanager.com/\"><script src=\"gtm.js?id=GTM-1\"></script></head><body><p>x</p></body>";
    let (out, _) = rewrite(page(CategorySet::EMPTY), doc);
    assert!(
        out.contains("<base data-consent-href=\"https://www.googletagmanager.com/\""),
        "{out}"
    );
    assert!(!out.contains(" href="), "{out}");
    assert_eq!(
        rewrite_split(page(CategorySet::EMPTY), doc.as_bytes(), &[40]),
        out.as_bytes()
    );
    // A base on the site's own or an unlisted host stays.
    for kept in [
        "<base href=\"https://cdn.example.org/\"><script src=\"a.js\"></script>",
        "<base href=\"/app/\"><p>x</p>",
    ] {
        assert_eq!(rewrite(page(CategorySet::EMPTY), kept).0, kept);
    }
}

/// The proxy keeps one set of selectors for its lifetime, and lol_html's matching program for
/// them is compiled once per encoding and charset sniffing, then shared by every rewriter. A
/// rewriter taking a shared program must rewrite exactly as one compiling its own: pages that
/// need different checks, with and without `<meta charset>` sniffing, in several encodings,
/// interleaved, streamed and whole.
#[test]
fn rewriters_sharing_compiled_selectors_rewrite_as_if_compiled_alone() {
    let docs: [&[u8]; 5] = [
        b"<html><head><meta charset=\"windows-1252\"><script src=\"https://www.googletagmanager.com/gtm.js\"></script></head><body><p>caf\xe9</p></body></html>",
        b"<p onclick=\"fbq('track')\">x</p><img src=\"https://connect.facebook.net/tr.gif\" onerror=\"x()\">",
        b"<div style=\"background:url(https://metrics.example.com/p.gif)\"><a href=\"java&#115;cript:fbq(1)\">a</a></div>",
        b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><iframe src=\"https://www.youtube.com/embed/x\"></iframe><noscript><img src=\"https://facebook.com/tr?id=1\"></noscript>",
        b"<link rel=\"preload\" href=\"https://www.googletagmanager.com/gtag/js\"><style>@import url(https://metrics.example.com/x.css);</style><body>hi</body>",
    ];
    let encodings = [
        encoding_rs::UTF_8,
        encoding_rs::WINDOWS_1252,
        encoding_rs::SHIFT_JIS,
    ];
    let shared = selectors();
    let rewrite_with = |selectors: &Arc<Selectors>, doc: &[u8], encoding, sniff, whole: bool| {
        let limits = RewriteLimits::default();
        let page = page(CategorySet::only(Category::NECESSARY));
        let mut r = if whole {
            Rewriter::for_whole(page, selectors, doc, encoding, sniff, limits)
        } else {
            Rewriter::new(page, selectors, encoding, sniff, limits)
        }
        .unwrap();
        let mut out = if whole {
            r.write_whole(doc).unwrap().to_vec()
        } else {
            r.write(doc).unwrap().to_vec()
        };
        out.extend_from_slice(&r.end().unwrap());
        (out, r.stats())
    };
    for round in 0..3 {
        for (i, doc) in docs.iter().enumerate() {
            for (e, &encoding) in encodings.iter().enumerate() {
                for sniff in [false, true] {
                    let whole = (round + i + e) % 2 == 0;
                    let alone = rewrite_with(&selectors(), doc, encoding, sniff, whole);
                    let sharing = rewrite_with(&shared, doc, encoding, sniff, whole);
                    assert_eq!(
                        alone,
                        sharing,
                        "round {round}, page {i}, {}, sniffing {sniff}, whole {whole}",
                        encoding.name()
                    );
                    assert!(!alone.1.actions.is_empty(), "page {i} blocks something");
                }
            }
        }
    }
}

/// The client guard's URL is relative to the site. A `<base href>` on another host (a CDN)
/// before the first script would send it there, where it does not exist, and run-time trackers
/// would go unguarded: the guard then goes before the `<base>`, where it resolves on the site.
#[test]
fn the_guard_goes_before_a_base_url_that_precedes_the_first_script() {
    const GUARD: &str = "<script src=\"/.consent-gate/guard/g.js\"></script>";
    let with_guard = |doc: &str| {
        let mut r = Rewriter::new(
            page(CategorySet::only(Category::NECESSARY)),
            &selectors(),
            encoding_rs::UTF_8,
            false,
            RewriteLimits::default(),
        )
        .unwrap();
        r.inject_before_first_script(GUARD.to_owned());
        let mut out = r.write(doc.as_bytes()).unwrap().to_vec();
        out.extend_from_slice(&r.end().unwrap());
        String::from_utf8(out).unwrap()
    };
    let out = with_guard(
        "<head><base href=\"https://cdn.example.net/\"><script src=\"app.js\"></script></head>",
    );
    assert_eq!(
        out,
        format!(
            "<head>{GUARD}<base href=\"https://cdn.example.net/\"><script src=\"app.js\"></script></head>"
        )
    );
    // A script first: the guard before it, once.
    let out = with_guard(
        "<head><script src=\"/a.js\"></script><base href=\"https://cdn.example.net/\"></head>",
    );
    assert_eq!(
        out,
        format!(
            "<head>{GUARD}<script src=\"/a.js\"></script><base href=\"https://cdn.example.net/\"></head>"
        )
    );
}
