//! The HTML rewriter: any bytes, cut into chunks at positions the input chooses, rewrite to
//! exactly what one-shot rewriting gives (or fail the same way); and a whole document, whose
//! unchanged stretches are copied past lol_html, rewrites to exactly that too.
#![no_main]

use std::sync::{Arc, OnceLock};

use consent_gate::category::{Categories, Category, CategorySet};
use consent_gate::html::{Page, RewriteLimits, Rewriter, Selectors};
use consent_gate::rules::Rules;
use libfuzzer_sys::fuzz_target;

const RULES: &str = r#"
[[resource]]
host = "tracker.example"
category = "marketing"
vendor = "T"

[[signature]]
text = "track("
category = "analytics"
vendor = "S"
"#;

/// Rules and selectors are compiled once: the target measures the rewriter, not set-up.
fn fixtures() -> &'static (Arc<Rules>, Arc<Selectors>) {
    static ONCE: OnceLock<(Arc<Rules>, Arc<Selectors>)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let rules = Rules::compile(&[("r.toml", RULES)], &Categories::default())
            .expect("fixed rules compile");
        (
            Arc::new(rules),
            Arc::new(Selectors::new().expect("selectors parse")),
        )
    })
}

fn page() -> Page {
    Page {
        rules: Arc::clone(&fixtures().0),
        allowed: CategorySet::only(Category::NECESSARY),
        site: "example.com".into(),
        report_only: false,
        tcf_vendors: None,
    }
}

fn rewriter() -> Result<Rewriter, String> {
    Rewriter::new(
        page(),
        &fixtures().1,
        encoding_rs::UTF_8,
        false,
        RewriteLimits::default(),
    )
    .map_err(|e| e.to_string())
}

/// The whole document at once, as the proxy rewrites a body it held: `for_whole` (only the
/// attribute checks the page can need, stretches copied past lol_html) and `write_whole`. The
/// streamed rewrite runs every check, so the two agree only if the narrowing misses nothing.
fn rewrite_whole(html: &[u8]) -> Result<Vec<u8>, String> {
    let mut r = Rewriter::for_whole(
        page(),
        &fixtures().1,
        html,
        encoding_rs::UTF_8,
        false,
        RewriteLimits::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut out = r.write_whole(html).map_err(|e| e.to_string())?.to_vec();
    out.extend_from_slice(&r.end().map_err(|e| e.to_string())?);
    Ok(out)
}

fn rewrite(html: &[u8], cuts: &[usize]) -> Result<Vec<u8>, String> {
    let mut r = rewriter()?;
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

fuzz_target!(|data: &[u8]| {
    let Some((&seed, html)) = data.split_first() else {
        return;
    };
    let step = usize::from(seed).max(1);
    let cuts: Vec<usize> = (step..html.len()).step_by(step).collect();
    let once = rewrite(html, &[]);
    assert_eq!(once, rewrite(html, &cuts));
    assert_eq!(once, rewrite_whole(html));
});
