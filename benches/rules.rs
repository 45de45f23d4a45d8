//! Rule lookups with the full default data (5,000+ tracker hosts, 2,000+ cookies) against a
//! 50-rule set: lookups walk host labels and probe hash tables, so both should cost the same
//! within noise. Run: `cargo bench --bench rules`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::Path;

use consent_gate::category::Categories;
use consent_gate::rules::Rules;
use criterion::{Criterion, criterion_group, criterion_main};

fn root(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).expect("data file")
}

/// Every AdGuard tracker domain as a resource rule (5,125 hosts), plus the default cookie rules.
fn full() -> Rules {
    let json: serde_json::Value =
        serde_json::from_str(&root("data/adguard-companiesdb/trackers.json")).expect("json");
    let mut hosts = String::new();
    for (domain, _) in json["trackerDomains"].as_object().expect("trackerDomains") {
        hosts.push_str(&format!(
            "[[resource]]\nhost = {domain:?}\ncategory = \"marketing\"\nvendor = \"v\"\n"
        ));
    }
    let sources = [
        (
            "open-cookie-database.toml",
            root("conf/rules/open-cookie-database.toml"),
        ),
        ("all-hosts.toml", hosts),
        ("curated.toml", root("conf/rules/curated.toml")),
    ];
    let rules = Rules::compile(&sources, &Categories::default()).expect("rules");
    assert!(rules.counts().resources >= 5000 && rules.counts().cookies >= 2000);
    rules
}

/// 50 rules: the ones the full set uses to answer the queries below (so both sets do the same
/// matching work), plus filler.
fn small(full: &Rules) -> Rules {
    use consent_gate::rules::RuleKind;
    let mut text = String::new();
    let mut n = 0;
    let rules = COOKIES
        .iter()
        .filter_map(|c| full.cookie(c).rule())
        .chain(HOSTS.iter().filter_map(|(h, p)| full.resource(h, p).rule()))
        .collect::<Vec<_>>();
    let mut seen = std::collections::HashSet::new();
    for r in rules {
        if !seen.insert((r.kind as u8, r.pattern.clone())) {
            continue;
        }
        let category = full.categories().name(r.category);
        let (table, key, value) = match r.kind {
            RuleKind::CookieExact => ("cookie", "name", r.pattern.to_string()),
            RuleKind::CookiePrefix => ("cookie", "prefix", r.pattern.to_string()),
            RuleKind::CookieRegex => ("cookie", "regex", r.pattern.to_string()),
            RuleKind::AllowCookie => ("allow", "cookie", r.pattern.to_string()),
            RuleKind::AllowHost => ("allow", "host", r.pattern.to_string()),
            RuleKind::Path => ("path", "prefix", r.pattern.to_string()),
            RuleKind::Resource | RuleKind::Signature => (
                "resource",
                "host",
                r.pattern.split('/').next().unwrap_or_default().to_owned(),
            ),
        };
        let category_line = if table == "allow" {
            String::new()
        } else {
            format!("category = \"{category}\"\n")
        };
        text.push_str(&format!(
            "[[{table}]]\n{key} = {value:?}\n{category_line}vendor = \"v\"\n"
        ));
        n += 1;
    }
    for i in n..50 {
        if i % 2 == 0 {
            text.push_str(&format!(
                "[[cookie]]\nname = \"c{i}\"\ncategory = \"analytics\"\nvendor = \"v\"\n"
            ));
        } else {
            text.push_str(&format!("[[resource]]\nhost = \"tracker{i}.com\"\ncategory = \"marketing\"\nvendor = \"v\"\n"));
        }
    }
    let rules = Rules::compile(&[("small.toml", text)], &Categories::default()).expect("rules");
    let c = rules.counts();
    assert_eq!(c.cookies + c.resources + c.allows, 50);
    rules
}

const COOKIES: [&str; 8] = [
    "_ga",
    "_fbp",
    "_hjSessionUser_123456",
    "PHPSESSID",
    "sid",
    "cart_token_9f8e7d",
    "_gcl_au",
    "OptanonConsent",
];
const HOSTS: [(&str, &str); 8] = [
    ("www.googletagmanager.com", "/gtag/js"),
    ("connect.facebook.net", "/en_US/fbevents.js"),
    ("static.hotjar.com", "/c/hotjar-1.js"),
    ("cdn.example.com", "/app.js"),
    ("a.b.c.d.deep.unknown-host.example.org", "/x"),
    ("www.youtube.com", "/embed/x"),
    ("cdn.cookielaw.org", "/otSDKStub.js"),
    ("px.ads.linkedin.com", "/collect"),
];

fn bench(c: &mut Criterion) {
    let full = full();
    let small = small(&full);
    for (label, rules) in [("full", &full), ("50-rules", &small)] {
        c.bench_function(&format!("cookie lookup x8/{label}"), |b| {
            b.iter(|| {
                for name in COOKIES {
                    black_box(rules.cookie(black_box(name)));
                }
            })
        });
        c.bench_function(&format!("host lookup x8/{label}"), |b| {
            b.iter(|| {
                for (host, path) in HOSTS {
                    black_box(rules.resource(black_box(host), black_box(path)));
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
