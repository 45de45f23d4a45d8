//! The client guard: `guard.js` (built into the binary) with the decisions it needs for one rule
//! set and one set of allowed categories, served as a first-party script under the consent
//! endpoint.
//!
//! The script's name carries the denied categories and a hash of its content
//! (`guard/<bits>-<hash>.js`), so it is cached `immutable`: repeat views add no round trip. Its
//! content is the same for every visitor with the same categories, so it is built once per rule
//! set and category set and kept until the rules change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::category::CategorySet;
use crate::rules::{RuleInfo, RuleKind, Rules};

/// The guard's code; the placeholder is replaced by the decisions.
const SOURCE: &str = include_str!("guard.js");
const PLACEHOLDER: &str = "__CONSENT_GATE_CONFIG__";

/// One built guard script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// File name under `<endpoint>guard/`: `<denied bits, hex>-<content hash>.js`.
    pub name: String,
    /// The script.
    pub body: Arc<str>,
    /// `sha256-<base64>` of the body, for `integrity` and a CSP hash source.
    pub sha256: String,
    /// The body gzip-compressed (best compression: built once, served many times).
    pub gzip: Arc<[u8]>,
}

/// Denied rules grouped by (category, vendor): `[category, vendor, pattern...]`.
type Groups = BTreeMap<(String, String), Vec<String>>;

/// The (category, vendor) a denied rule is grouped under.
fn group_key(rules: &Rules, rule: &RuleInfo) -> (String, String) {
    (
        rules.categories().name(rule.category).to_owned(),
        rule.vendor.to_string(),
    )
}

/// Builds the guard for visitors who allow `allowed` under `rules`. `keep_cookies` are never
/// blocked (consent cookies of the configured sources).
pub fn build(rules: &Rules, allowed: CategorySet, keep_cookies: &[String]) -> Guard {
    let mut resources: Groups = BTreeMap::new();
    let mut allow_hosts: Vec<&str> = Vec::new();
    // (category, vendor) -> (names, prefixes, regexes)
    let mut cookies: BTreeMap<(String, String), [Vec<&str>; 3]> = BTreeMap::new();
    let mut keep: Vec<&str> = keep_cookies.iter().map(String::as_str).collect();
    for rule in rules.active() {
        let denied = !allowed.contains(rule.category);
        match rule.kind {
            RuleKind::AllowHost => allow_hosts.push(&rule.pattern),
            RuleKind::AllowCookie => keep.push(&rule.pattern),
            RuleKind::Resource if denied => {
                resources
                    .entry(group_key(rules, rule))
                    .or_default()
                    .push(rule.pattern.to_string());
            }
            RuleKind::CookieExact | RuleKind::CookiePrefix | RuleKind::CookieRegex if denied => {
                let key = group_key(rules, rule);
                let slot = match rule.kind {
                    RuleKind::CookieExact => 0,
                    RuleKind::CookiePrefix => 1,
                    _ => 2,
                };
                if let Some(list) = cookies.entry(key).or_default().get_mut(slot) {
                    list.push(&rule.pattern);
                }
            }
            _ => {}
        }
    }
    allow_hosts.sort_unstable();
    keep.sort_unstable();
    keep.dedup();
    let r: Vec<serde_json::Value> = resources
        .into_iter()
        .map(|((c, v), mut hosts)| {
            hosts.sort();
            let mut row = vec![serde_json::Value::from(c), serde_json::Value::from(v)];
            row.extend(hosts.into_iter().map(serde_json::Value::from));
            serde_json::Value::Array(row)
        })
        .collect();
    let k: Vec<serde_json::Value> = cookies
        .into_iter()
        .map(|((c, v), mut lists)| {
            for list in &mut lists {
                list.sort_unstable();
            }
            serde_json::json!([c, v, lists[0], lists[1], lists[2]])
        })
        .collect();
    let config = serde_json::json!({ "r": r, "a": allow_hosts, "k": k, "ka": keep });
    // `</` cannot appear in JSON strings here in a way that matters (the script is served as a
    // file), but escape it anyway so the script could be inlined safely.
    let config = config.to_string().replace("</", "<\\/");
    let body = SOURCE.replacen(PLACEHOLDER, &config, 1);
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let hash = digest
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let denied = rules.categories().all().difference(allowed).bits();
    let gzip = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = e.write_all(body.as_bytes());
        e.finish().unwrap_or_default()
    };
    Guard {
        name: format!("{denied:x}-{hash}.js"),
        sha256: format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        ),
        body: body.into(),
        gzip: gzip.into(),
    }
}

/// The denied-category bits a guard name starts with.
pub fn denied_bits(name: &str) -> Option<u32> {
    let (bits, _) = name.strip_suffix(".js")?.split_once('-')?;
    u32::from_str_radix(bits, 16).ok()
}

/// Guards built so far for one rule set, by allowed categories and by name.
#[derive(Debug, Default)]
pub struct GuardCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// (rule set id, allowed bits) -> guard.
    by_key: HashMap<(u64, u32), Arc<Guard>>,
    by_name: HashMap<String, Arc<Guard>>,
}

impl GuardCache {
    /// The guard for `allowed` under `rules`, built on first use.
    pub fn get(&self, rules: &Rules, allowed: CategorySet, keep: &[String]) -> Arc<Guard> {
        let key = (rules.id(), allowed.bits());
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(g) = inner.by_key.get(&key) {
            return Arc::clone(g);
        }
        let guard = Arc::new(build(rules, allowed, keep));
        inner.by_key.insert(key, Arc::clone(&guard));
        inner.by_name.insert(guard.name.clone(), Arc::clone(&guard));
        guard
    }

    /// A guard built earlier, by name.
    pub fn by_name(&self, name: &str) -> Option<Arc<Guard>> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.by_name.get(name).cloned()
    }

    /// Forgets every guard (the rules changed).
    pub fn clear(&self) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.by_key.clear();
        inner.by_name.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::{Categories, Category};

    const RULES: &str = r#"
[[resource]]
host = "chartbeat.com"
category = "analytics"
vendor = "Chartbeat"

[[resource]]
host = "facebook.com"
path = "/tr"
category = "marketing"
vendor = "Meta"

[[allow]]
host = "cdn.cookielaw.org"

[[cookie]]
name = "_ga"
category = "analytics"
vendor = "GA"

[[cookie]]
prefix = "_hj"
category = "analytics"
vendor = "Hotjar"
"#;

    #[test]
    fn the_guard_does_not_depend_on_the_order_rules_were_loaded_in() {
        // Rule tables are hash maps: the same rules must still give the same bytes (replicas
        // and restarts serve the same guard name), however often they are compiled.
        let rules = crate::rules::Rules::load(
            &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rules/curated.toml")],
            &Categories::default(),
        )
        .unwrap();
        let first = build(&rules, CategorySet::only(Category::NECESSARY), &[]);
        for _ in 0..3 {
            let again = Rules::compile(
                &[(
                    "curated.toml",
                    std::fs::read_to_string(
                        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join("conf/rules/curated.toml"),
                    )
                    .unwrap(),
                )],
                &Categories::default(),
            )
            .unwrap();
            assert_eq!(
                build(&again, CategorySet::only(Category::NECESSARY), &[]).body,
                first.body
            );
        }
    }

    #[test]
    fn the_guard_carries_only_denied_rules_and_is_named_by_content() {
        let rules = Rules::compile(&[("r.toml", RULES)], &Categories::default()).unwrap();
        let mut allowed = CategorySet::only(Category::NECESSARY);
        allowed.insert(Category::ANALYTICS);
        let g = build(&rules, allowed, &["consent_gate".into()]);
        assert!(
            g.body.contains(r#"["marketing","Meta","facebook.com/tr"]"#),
            "{}",
            &g.body[g.body.len() - 400..]
        );
        assert!(!g.body.contains("chartbeat.com"));
        assert!(!g.body.contains("\"_ga\""));
        assert!(g.body.contains(r#""a":["cdn.cookielaw.org"]"#));
        assert!(g.body.contains(r#""ka":["consent_gate"]"#));
        assert!(!g.body.contains(PLACEHOLDER));
        assert_eq!(denied_bits(&g.name), Some(0b1010));
        assert!(g.sha256.starts_with("sha256-") && g.sha256.len() == 7 + 44);
        let none = build(&rules, CategorySet::only(Category::NECESSARY), &[]);
        assert!(
            none.body
                .contains(r#"["analytics","Chartbeat","chartbeat.com"]"#)
        );
        assert!(none.body.contains(r#"["analytics","GA",["_ga"],[],[]]"#));
        assert!(
            none.body
                .contains(r#"["analytics","Hotjar",[],["_hj"],[]]"#)
        );
        assert_ne!(none.name, g.name);
        assert_eq!(build(&rules, allowed, &["consent_gate".into()]), g);
    }
}
