//! The HTML rewriter: any bytes, cut into chunks at positions the input chooses, rewrite to
//! exactly what one-shot rewriting gives (or fail the same way).
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

fn rewrite(html: &[u8], cuts: &[usize]) -> Result<Vec<u8>, String> {
    let (rules, selectors) = fixtures();
    let page = Page {
        rules: Arc::clone(rules),
        allowed: CategorySet::only(Category::NECESSARY),
        site: "example.com".into(),
        report_only: false,
        tcf_vendors: None,
    };
    let mut r = Rewriter::new(
        page,
        selectors,
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

fuzz_target!(|data: &[u8]| {
    let Some((&seed, html)) = data.split_first() else {
        return;
    };
    let step = usize::from(seed).max(1);
    let cuts: Vec<usize> = (step..html.len()).step_by(step).collect();
    assert_eq!(rewrite(html, &[]), rewrite(html, &cuts));
});
