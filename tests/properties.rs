//! Property tests over every parser consent-gate owns, with generated hostile input: nothing
//! panics, and the HTML rewriter's output does not depend on how the input is split.
//! Bounded (a few hundred cases each) so they run in CI; `PROPTEST_CASES` raises the count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use consent_gate::category::{Categories, Category, CategorySet};
use consent_gate::consent::{Policy, RequestSignals, tcf};
use consent_gate::cookies;
use consent_gate::html::codec::{Coding, DecodeLimits, Decoder};
use consent_gate::html::{Page, RewriteLimits, Rewriter, Selectors, rewrite_all};
use consent_gate::rules::Rules;
use consent_gate::wire::cookie_header::Jar;
use proptest::prelude::*;

const RULES: &str = r#"
[[resource]]
host = "tracker.example"
category = "marketing"
vendor = "T"

[[signature]]
text = "track("
category = "analytics"
vendor = "S"

[[cookie]]
prefix = "_t"
category = "marketing"
vendor = "T"
"#;

fn page() -> Page {
    Page {
        rules: Arc::new(Rules::compile(&[("r.toml", RULES)], &Categories::default()).unwrap()),
        allowed: CategorySet::only(Category::NECESSARY),
        site: "example.com".into(),
        report_only: false,
        tcf_vendors: None,
    }
}

fn rewrite(html: &[u8], cuts: &[usize]) -> Result<Vec<u8>, String> {
    let selectors = Arc::new(Selectors::new().unwrap());
    let mut r = Rewriter::new(
        page(),
        &selectors,
        encoding_rs::UTF_8,
        false,
        RewriteLimits::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&html.len())) {
        let cut = cut.clamp(start, html.len());
        out.extend_from_slice(&r.write(&html[start..cut]).map_err(|e| e.to_string())?);
        start = cut;
    }
    out.extend_from_slice(&r.end().map_err(|e| e.to_string())?);
    Ok(out)
}

/// HTML made of the pieces the neutralizer cares about, in any order and nesting.
fn html_pieces() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<script src=\"https://tracker.example/a.js\"></script>".to_owned()),
        Just("<script>track('x')</script>".to_owned()),
        Just("<script>var a = '</scr' + 'ipt>';</script>".to_owned()),
        Just("<script type=\"application/ld+json\">{\"track(\":1}</script>".to_owned()),
        Just("<noscript><img src=\"//tracker.example/p.gif\"></noscript>".to_owned()),
        Just("<iframe src=\"https://tracker.example/f\"></iframe>".to_owned()),
        Just("<img srcset=\"/a.png 1x, https://tracker.example/p 2x\">".to_owned()),
        Just("<link rel=preconnect href=//tracker.example>".to_owned()),
        Just("<p>text &amp; more</p>".to_owned()),
        Just("<svg><script>track(1)</script></svg>".to_owned()),
        Just("<!-- <script> -->".to_owned()),
        Just("<img src=\"/a.png\" onerror=\"new Image().src='//tracker.example/p'\">".to_owned()),
        Just("<a href=\"javascript:track(1)\">x</a>".to_owned()),
        Just("<a href=\"java&#115;cript&#58;track(1)\">x</a>".to_owned()),
        Just("<a href=\"JavaScript&colon;track(1)\">x</a>".to_owned()),
        Just("<div style=\"background:url(//tracker.example/b.png)\">s</div>".to_owned()),
        Just("<div style=\"background:url&#40;//tracker.example/b.png)\">s</div>".to_owned()),
        Just("<body onload=\"track(2)\">".to_owned()),
        Just("<p onclick=\"x()\">ok</p>".to_owned()),
        "[a-z<>/=\"' &;]{0,20}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rewriting_does_not_depend_on_chunking(html in html_pieces(), mut cuts in prop::collection::vec(0usize..400, 0..10)) {
        cuts.sort_unstable();
        let whole = rewrite(html.as_bytes(), &[]);
        let split = rewrite(html.as_bytes(), &cuts);
        prop_assert_eq!(whole, split);
    }

    /// A document seen whole is rewritten with only the attribute checks its bytes can need:
    /// the same output as with every check.
    #[test]
    fn narrowed_checks_rewrite_exactly_like_all_checks(html in html_pieces()) {
        let all = rewrite(html.as_bytes(), &[]);
        let narrowed = rewrite_all(page(), &Arc::new(Selectors::new().unwrap()), html.as_bytes())
            .map(|(out, _)| out)
            .map_err(|e| e.to_string());
        prop_assert_eq!(all, narrowed);
    }

    #[test]
    fn rewriting_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = rewrite(&bytes, &[bytes.len() / 2]);
    }

    #[test]
    fn consent_evaluation_never_panics(
        headers in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..4),
        known in prop::sample::select(vec!["consent_gate", "OptanonConsent", "CookieConsent", "euconsent-v2", "__gpp", "usprivacy", "klaro", "cc_cookie"]),
        value in "[ -~]{0,120}",
        gpc in any::<bool>(),
        country in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
    ) {
        let policy = Policy::default();
        let own = format!("{known}={value}");
        let mut fields: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        fields.push(own.as_bytes());
        let jar = Jar::parse(fields);
        let c = policy.evaluate(RequestSignals { jar: &jar, gpc, country: country.as_deref(), region: None });
        prop_assert!(c.allows(Category::NECESSARY));
        let rules = Rules::compile(&[("r.toml", RULES)], &Categories::default()).unwrap();
        let f = cookies::filter_request(&jar, &rules, &policy, cookies::UnknownCookies::Allow, &c);
        if let Some(h) = f.header {
            prop_assert!(!h.windows(3).any(|w| w == b"_t="));
        }
    }

    #[test]
    fn tc_strings_never_panic(s in "[A-Za-z0-9_.-]{0,300}") {
        let _ = tcf::decode(&s);
        let _ = tcf::parse(&s, &tcf::default_requirements());
    }

    #[test]
    fn truncated_and_mutated_real_tc_strings_never_panic(cut in 0usize..200, flip in 0usize..200, c in "[A-Za-z0-9_-]") {
        let real = "CQd924AQd924AASACCENCNFsAP_gAEIAACiQL6QBAAGAAOANmAcAF9IAIADgAA.YIAAAAAAAAAA";
        let mut s: Vec<char> = real.chars().collect();
        if flip < s.len() {
            s[flip] = c.chars().next().unwrap();
        }
        let s: String = s.into_iter().take(cut).collect();
        let _ = tcf::decode(&s);
    }

    #[test]
    fn set_cookie_names_never_panic(v in prop::collection::vec(any::<u8>(), 0..200)) {
        let name = cookies::set_cookie_name(&v);
        prop_assert!(name.len() <= v.len());
    }

    #[test]
    fn decoders_never_panic_on_garbage(data in prop::collection::vec(any::<u8>(), 0..2000), which in 0usize..4) {
        let coding = [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd][which];
        let mut d = Decoder::new(coding, DecodeLimits { max_bytes: 1 << 20, max_ratio: 100 }).unwrap();
        let _ = d.write(&data).and_then(|_| d.finish());
    }
}
