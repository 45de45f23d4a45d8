use super::*;
use crate::category::Categories;

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

[[signature]]
text = "fbq("
category = "marketing"
vendor = "Meta Pixel"

[[allow]]
host = "cdn.cookielaw.org"
vendor = "OneTrust"
"#;

fn page(allowed: CategorySet) -> Page {
    let rules = Rules::compile(&[("rules.toml", RULES)], &Categories::default()).unwrap();
    Page {
        rules: Arc::new(rules),
        allowed: allowed.union(CategorySet::only(Category::NECESSARY)),
        site: "example.com".into(),
        report_only: false,
    }
}

fn rewrite(page: Page, html: &str) -> (String, Stats) {
    let (out, stats) = rewrite_all(page, &Selectors::new().unwrap(), html.as_bytes()).unwrap();
    (String::from_utf8(out).unwrap(), stats)
}

/// Feeds `html` split at the given points and returns the output.
fn rewrite_split(page: Page, html: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut r = Rewriter::new(
        page,
        &Selectors::new().unwrap(),
        encoding_rs::UTF_8,
        Limits::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&html.len())) {
        out.extend_from_slice(&r.write(&html[start..cut]).unwrap());
        start = cut;
    }
    out.extend_from_slice(&r.end().unwrap());
    out
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
        &Selectors::new().unwrap(),
        encoding_rs::UTF_8,
        Limits {
            max_inline_script: 16,
            ..Limits::default()
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
