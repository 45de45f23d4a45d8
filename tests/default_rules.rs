//! The shipped default rule set: reproducible from the data in `data/`, faithful to the Open
//! Cookie Database and AdGuard mappings, corrected by the curated layer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use consent_gate::category::Categories;
use consent_gate::rules::generate::{self, RowTreatment};
use consent_gate::rules::{RuleKind, Rules, Verdict};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap()
}

fn default_rules() -> Rules {
    let files: Vec<PathBuf> = [
        "open-cookie-database.toml",
        "adguard-trackers.toml",
        "curated.toml",
    ]
    .iter()
    .map(|f| root().join("conf/rules").join(f))
    .collect();
    Rules::load(&files, &Categories::default()).unwrap()
}

fn curated() -> Rules {
    Rules::load(
        &[root().join("conf/rules/curated.toml")],
        &Categories::default(),
    )
    .unwrap()
}

#[test]
fn generated_files_are_reproducible_from_the_data() {
    let csv = read("data/open-cookie-database/open-cookie-database.csv");
    let json = read("data/adguard-companiesdb/trackers.json");
    assert_eq!(
        generate::cookie_rules(&csv, &curated()).unwrap(),
        read("conf/rules/open-cookie-database.toml"),
        "conf/rules/open-cookie-database.toml is stale: run `consent-gate generate-rules`"
    );
    assert_eq!(
        generate::tracker_rules(&json).unwrap(),
        read("conf/rules/adguard-trackers.toml"),
        "conf/rules/adguard-trackers.toml is stale: run `consent-gate generate-rules`"
    );
}

#[test]
fn every_open_cookie_database_row_is_classified_as_its_mapping_says() {
    let rules = default_rules();
    let curated = curated();
    let rows =
        generate::ocd_rows(&read("data/open-cookie-database/open-cookie-database.csv")).unwrap();
    assert!(rows.len() > 2200, "{} rows", rows.len());
    let name_of = |c| rules.categories().name(c).to_owned();
    let (mut generated, mut by_curated, mut excluded) = (0, 0, 0);
    for row in &rows {
        // A prefix row is checked with a name that has the prefix.
        let probe = if row.prefix {
            format!("{}x1", row.name)
        } else {
            row.name.clone()
        };
        match generate::treat(row, &curated) {
            RowTreatment::Generated(expected) => {
                generated += 1;
                let rule = rules
                    .cookie(&probe)
                    .rule()
                    .unwrap_or_else(|| panic!("{} is not classified", row.name));
                // Several vendors may list one name: the most restrictive category wins, so the
                // result is never less restrictive than this row's mapping.
                let got = name_of(rule.category);
                let rank = |c: &str| {
                    ["necessary", "functional", "analytics", "marketing"]
                        .iter()
                        .position(|x| *x == c)
                        .unwrap()
                };
                assert!(
                    rank(&got) >= rank(expected),
                    "{}: {got} < {expected}",
                    row.name
                );
                if !row.prefix {
                    assert_eq!(rule.kind, RuleKind::CookieExact, "{}", row.name);
                }
            }
            RowTreatment::Curated => {
                by_curated += 1;
                let want = curated
                    .cookie(&probe)
                    .rule()
                    .map(|r| (r.category, r.vendor.clone()));
                let got = rules
                    .cookie(&probe)
                    .rule()
                    .map(|r| (r.category, r.vendor.clone()));
                assert_eq!(got, want, "{}: the curated rule must decide", row.name);
            }
            RowTreatment::Excluded(_) => {
                excluded += 1;
                // Another row of the same name may generate a necessary rule; nothing blocks it.
                if !row.prefix && consent_gate_valid(&row.name) {
                    let r = rules.cookie(&row.name);
                    assert!(
                        r.rule().is_none_or(|r| !rules.files()[r.file]
                            .path
                            .ends_with("open-cookie-database.toml")
                            || name_of(r.category) == "necessary"),
                        "{} is excluded but a generated rule blocks it",
                        row.name
                    );
                }
            }
        }
    }
    assert!(generated > 1900, "{generated} generated");
    assert!(
        by_curated > 10 && excluded < 200,
        "{by_curated} curated, {excluded} excluded"
    );
}

fn consent_gate_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b";,=\"\\".contains(&b))
}

#[test]
fn adguard_domains_follow_the_category_mapping() {
    let rules = default_rules();
    let json: serde_json::Value =
        serde_json::from_str(&read("data/adguard-companiesdb/trackers.json")).unwrap();
    let cats = &json["categories"];
    let mut checked = 0;
    for (domain, tracker) in json["trackerDomains"].as_object().unwrap() {
        let Some(cat_id) = json["trackers"][tracker.as_str().unwrap()]["categoryId"].as_u64()
        else {
            continue;
        };
        let adguard = cats[cat_id.to_string()].as_str().unwrap();
        let verdict = rules.resource(domain, "/");
        // The curated layer decides its hosts; an allow rule on a parent wins over everything.
        if verdict.rule().is_some_and(|r| r.file == 2)
            || (adguard != "consent" && matches!(verdict, Verdict::Allowed(_)))
        {
            continue;
        }
        match (adguard, generate::adguard_category(adguard)) {
            ("consent", _) => assert!(matches!(verdict, Verdict::Allowed(_)), "{domain}"),
            (_, Some(expected)) => {
                let r = verdict
                    .rule()
                    .unwrap_or_else(|| panic!("{domain} ({adguard}) unclassified"));
                assert_eq!(rules.categories().name(r.category), expected, "{domain}");
            }
            (_, None) => assert!(
                verdict.rule().is_none_or(|r| &*r.pattern != domain),
                "{domain} ({adguard}) has no rule of its own"
            ),
        }
        checked += 1;
    }
    assert!(checked > 5000, "{checked}");
}

#[test]
fn curated_rules_fix_known_data_errors_and_protect_sites() {
    let r = default_rules();
    let cat = |name: &str| {
        r.categories()
            .name(r.cookie(name).rule().unwrap().category)
            .to_owned()
    };
    let vendor = |name: &str| r.cookie(name).rule().unwrap().vendor.to_string();
    assert_eq!(
        (cat("_mkto_trk"), vendor("_mkto_trk")),
        ("marketing".into(), "Marketo Munchkin".into())
    );
    assert_eq!(vendor("ajs_anonymous_id"), "Segment");
    assert_eq!(cat("_ga"), "analytics");
    assert_eq!(cat("_fbp"), "marketing");
    assert_eq!(cat("_hjSessionUser_123"), "analytics");
    // Session cookies of common stacks are necessary, never stripped.
    for session in [
        "PHPSESSID",
        "JSESSIONID",
        "ASP.NET_SessionId",
        "laravel_session",
        "AWSALB",
    ] {
        assert_eq!(cat(session), "necessary", "{session}");
    }
    assert!(matches!(r.cookie("OptanonConsent"), Verdict::Allowed(_)));
    let res = |host: &str, path: &str| r.resource(host, path);
    assert_eq!(
        r.categories().name(
            res("www.googletagmanager.com", "/gtag/js")
                .rule()
                .unwrap()
                .category
        ),
        "analytics"
    );
    assert_eq!(
        r.categories().name(
            res("connect.facebook.net", "/en_US/fbevents.js")
                .rule()
                .unwrap()
                .category
        ),
        "marketing"
    );
    assert_eq!(
        r.categories().name(
            res("www.google.com", "/recaptcha/api.js")
                .rule()
                .unwrap()
                .category
        ),
        "necessary"
    );
    for allowed in [
        "cdn.cookielaw.org",
        "consent.cookiebot.com",
        "js.stripe.com",
        "accounts.google.com",
    ] {
        assert!(
            matches!(res(allowed, "/x.js"), Verdict::Allowed(_)),
            "{allowed}"
        );
    }
    for never in [
        "fonts.googleapis.com",
        "cdn.jsdelivr.net",
        "ajax.googleapis.com",
        "cloud.google.com",
    ] {
        let rule = res(never, "/x").rule().unwrap();
        assert_eq!(
            r.categories().name(rule.category),
            "necessary",
            "{never} must never be blocked"
        );
    }
    let c = r.counts();
    assert!(c.cookies >= 2000 && c.resources >= 4000, "{c:?}");
    assert!(Path::new(&root().join("NOTICE")).exists());
}
