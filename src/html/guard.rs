//! The client guard: `guard.js` (built into the binary) with the rules it needs, served as a
//! first-party script under the consent endpoint.
//!
//! The guard carries the rules of every category a visitor decides, and learns the visitor's
//! allowed categories from its tag; so its content is the same for every visitor of a rule set.
//! Its name is a hash of its content (`guard/<hash>.js`), so it is cached `immutable`: repeat
//! views add no round trip. It is built once per rule set and kept until the rules change.

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

/// What the guard needs besides the rules, from the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Cookies never blocked (the consent cookies of the configured sources).
    pub keep_cookies: Vec<String>,
    /// The consent endpoint prefix, where choices are saved.
    pub endpoint: Option<String>,
    /// The consent tools' vocabularies: `{onetrust: {group: category}, cookiebot: {...},
    /// klaro: {...}, cookieconsent: {...}, tcf: [[category, [all], [any]]]}`.
    pub tools: serde_json::Value,
    /// Google Consent Mode v2: consent type -> the categories it needs (`None`: off).
    pub consent_mode: Option<BTreeMap<String, Vec<String>>>,
}

/// Builds the guard for `rules`.
pub fn build(rules: &Rules, settings: &Settings) -> Guard {
    let allowed = CategorySet::only(crate::category::Category::NECESSARY);
    let keep_cookies = &settings.keep_cookies;
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
    let decided: Vec<&str> = rules
        .categories()
        .iter()
        .filter(|(c, _)| *c != crate::category::Category::NECESSARY)
        .map(|(_, name)| name)
        .collect();
    let config = serde_json::json!({
        "r": r, "a": allow_hosts, "k": k, "ka": keep, "c": decided,
        "e": settings.endpoint, "t": settings.tools, "m": settings.consent_mode,
        "l": crate::rules::LOADER_TOKENS, "lr": crate::rules::LOADER_REACH,
    });
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
    let gzip = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = e.write_all(body.as_bytes());
        e.finish().unwrap_or_default()
    };
    Guard {
        name: format!("{hash}.js"),
        sha256: format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        ),
        body: body.into(),
        gzip: gzip.into(),
    }
}

/// Guards built so far, by rule set and by name.
#[derive(Debug, Default)]
pub struct GuardCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// Rule set id -> guard.
    by_key: HashMap<u64, Arc<Guard>>,
    by_name: HashMap<String, Arc<Guard>>,
}

impl GuardCache {
    /// The guard for `rules`, built on first use.
    pub fn get(&self, rules: &Rules, settings: &Settings) -> Arc<Guard> {
        let key = rules.id();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(g) = inner.by_key.get(&key) {
            return Arc::clone(g);
        }
        let guard = Arc::new(build(rules, settings));
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

    /// Forgets the guards of every rule set but those with the given ids (the rules changed;
    /// the new sets' guards were built ahead).
    pub fn keep_only(&self, ids: &[u64]) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let CacheInner { by_key, by_name } = &mut *inner;
        by_key.retain(|id, _| ids.contains(id));
        by_name.retain(|_, g| by_key.values().any(|k| Arc::ptr_eq(k, g)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Categories;

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

[[resource]]
host = "cdn.example.net"
category = "necessary"
vendor = "CDN"

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

    fn settings() -> Settings {
        Settings {
            keep_cookies: vec!["consent_gate".into()],
            endpoint: Some("/.consent-gate/".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn the_guard_carries_every_decidable_rule_and_is_named_by_content() {
        let rules = Rules::compile(&[("r.toml", RULES)], &Categories::default()).unwrap();
        let g = build(&rules, &settings());
        assert!(g.body.contains(r#"["marketing","Meta","facebook.com/tr"]"#));
        assert!(
            g.body
                .contains(r#"["analytics","Chartbeat","chartbeat.com"]"#)
        );
        assert!(
            !g.body.contains("cdn.example.net"),
            "necessary rules are never blocked"
        );
        assert!(g.body.contains(r#"["analytics","GA",["_ga"],[],[]]"#));
        assert!(g.body.contains(r#"["analytics","Hotjar",[],["_hj"],[]]"#));
        assert!(g.body.contains(r#""a":["cdn.cookielaw.org"]"#));
        assert!(g.body.contains(r#""ka":["consent_gate"]"#));
        assert!(
            g.body
                .contains(r#""c":["functional","analytics","marketing"]"#)
        );
        assert!(g.body.contains(r#""e":"/.consent-gate/""#));
        assert!(!g.body.contains(PLACEHOLDER));
        assert!(g.name.ends_with(".js") && g.name.len() == 16 + 3);
        assert!(g.sha256.starts_with("sha256-") && g.sha256.len() == 7 + 44);
        assert_eq!(build(&rules, &settings()), g);
        let other = Settings {
            consent_mode: Some([("ad_storage".to_owned(), vec!["marketing".to_owned()])].into()),
            ..settings()
        };
        let g2 = build(&rules, &other);
        assert_ne!(g2.name, g.name);
        assert!(g2.body.contains(r#""m":{"ad_storage":["marketing"]}"#));
    }

    #[test]
    fn the_guard_does_not_depend_on_the_order_rules_were_loaded_in() {
        // Rule tables are hash maps: the same rules must still give the same bytes (replicas
        // and restarts serve the same guard name), however often they are compiled.
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rules/curated.toml"),
        )
        .unwrap();
        let compile =
            || Rules::compile(&[("curated.toml", &text)], &Categories::default()).unwrap();
        let first = build(&compile(), &settings());
        for _ in 0..3 {
            assert_eq!(build(&compile(), &settings()).body, first.body);
        }
    }
}
