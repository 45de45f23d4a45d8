//! Open-source consent tools: Klaro (`klaro` cookie: URL-encoded JSON of service -> bool) and
//! orestbida cookieconsent (`cc_cookie`: JSON with the accepted `categories`).

use std::collections::HashMap;

use super::{Outcome, Signal};
use crate::category::Category;
use crate::wire::percent::decode as percent_decode;

fn json_of(value: &str) -> Option<serde_json::Value> {
    let text = value.trim();
    let decoded;
    let text = if text.starts_with('{') {
        text
    } else {
        decoded = percent_decode(text)?;
        decoded.as_str()
    };
    serde_json::from_str(text).ok()
}

/// A Klaro cookie. Services map to categories through `services`; a category is granted only
/// if every mapped service of it is accepted.
pub fn parse_klaro(value: &str, services: &HashMap<String, Category>) -> Outcome {
    let Some(serde_json::Value::Object(map)) = json_of(value) else {
        return Outcome::Failed;
    };
    let mut signal = Signal::default();
    for (service, accepted) in &map {
        let Some(accepted) = accepted.as_bool() else {
            return Outcome::Failed;
        };
        if let Some(&c) = services.get(service) {
            signal.record(c, accepted);
        }
    }
    signal.into_outcome()
}

/// A `cc_cookie` (cookieconsent v2 and v3). Listed categories are accepted; every mapped
/// category none of whose names is listed is refused. Releases up to 2.8 write only
/// `{"level": [...]}`; 2.9 and later write `categories` (and a copy in `level`), which wins.
pub fn parse_cc_cookie(value: &str, categories: &HashMap<String, Category>) -> Outcome {
    let Some(json) = json_of(value) else {
        return Outcome::Failed;
    };
    let list = json
        .get("categories")
        .or_else(|| json.get("level"))
        .and_then(|c| c.as_array());
    let Some(list) = list else {
        return Outcome::Failed;
    };
    let mut accepted = Vec::with_capacity(list.len());
    for item in list {
        match item.as_str() {
            Some(s) => accepted.push(s),
            None => return Outcome::Failed,
        }
    }
    // Several names may mean one category (`analytics`, `performance`): any accepted name
    // grants it.
    let mut signal = Signal::default();
    let mut granted = crate::category::CategorySet::EMPTY;
    let mut known = crate::category::CategorySet::EMPTY;
    for (name, &c) in categories {
        known.insert(c);
        if accepted.contains(&name.as_str()) {
            granted.insert(c);
        }
    }
    for c in known.iter() {
        signal.record(c, granted.contains(c));
    }
    signal.into_outcome()
}

/// Default Klaro service names -> categories (the names Klaro's examples and common setups use).
pub fn default_klaro_services() -> HashMap<String, Category> {
    [
        ("google-analytics", Category::ANALYTICS),
        ("googleAnalytics", Category::ANALYTICS),
        ("google-tag-manager", Category::ANALYTICS),
        ("matomo", Category::ANALYTICS),
        ("hotjar", Category::ANALYTICS),
        ("facebook-pixel", Category::MARKETING),
        ("meta-pixel", Category::MARKETING),
        ("google-ads", Category::MARKETING),
        ("youtube", Category::MARKETING),
        ("vimeo", Category::FUNCTIONAL),
        ("intercom", Category::FUNCTIONAL),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Default cookieconsent category names -> categories.
pub fn default_cc_categories() -> HashMap<String, Category> {
    [
        ("functionality", Category::FUNCTIONAL),
        ("preferences", Category::FUNCTIONAL),
        ("analytics", Category::ANALYTICS),
        ("performance", Category::ANALYTICS),
        ("marketing", Category::MARKETING),
        ("targeting", Category::MARKETING),
        ("ads", Category::MARKETING),
        ("advertisement", Category::MARKETING),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;
    use crate::consent::decided as signal;

    #[test]
    fn klaro_values_as_klaro_writes_them() {
        let s = signal(parse_klaro(
            "%7B%22google-analytics%22%3Atrue%2C%22youtube%22%3Afalse%2C%22klaro%22%3Atrue%7D",
            &default_klaro_services(),
        ));
        assert_eq!(s.granted, CategorySet::only(Category::ANALYTICS));
        assert_eq!(s.denied, CategorySet::only(Category::MARKETING));
        // Two analytics services, one refused: analytics is refused.
        let s = signal(parse_klaro(
            r#"{"matomo":true,"hotjar":false}"#,
            &default_klaro_services(),
        ));
        assert_eq!(s.denied, CategorySet::only(Category::ANALYTICS));
        assert!(matches!(
            parse_klaro(r#"{"unknown":true}"#, &default_klaro_services()),
            Outcome::Absent
        ));
        for bad in ["", "%7B", "[true]", r#"{"matomo":"yes"}"#, "%ZZ"] {
            assert!(
                matches!(parse_klaro(bad, &default_klaro_services()), Outcome::Failed),
                "{bad}"
            );
        }
    }

    #[test]
    fn cookieconsent_v2_and_v3() {
        let v3 = "%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision%22%3A0%2C%22data%22%3Anull%2C%22consentTimestamp%22%3A%222024-01-01T00%3A00%3A00.000Z%22%2C%22consentId%22%3A%22a1%22%2C%22services%22%3A%7B%22necessary%22%3A%5B%5D%2C%22analytics%22%3A%5B%5D%7D%7D";
        let s = signal(parse_cc_cookie(v3, &default_cc_categories()));
        assert!(s.granted.contains(Category::ANALYTICS));
        assert!(s.denied.contains(Category::MARKETING) && s.denied.contains(Category::FUNCTIONAL));
        let v2 = r#"{"level":["necessary"],"categories":["necessary","marketing"],"revision":0}"#;
        let s = signal(parse_cc_cookie(v2, &default_cc_categories()));
        assert!(s.granted.contains(Category::MARKETING) && s.denied.contains(Category::ANALYTICS));
        // Releases up to 2.8: only `level`.
        let v28 = "%7B%22level%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision%22%3A0%2C%22data%22%3Anull%2C%22rfc_cookie%22%3Afalse%7D";
        let s = signal(parse_cc_cookie(v28, &default_cc_categories()));
        assert_eq!(s.granted, CategorySet::only(Category::ANALYTICS));
        assert!(s.denied.contains(Category::MARKETING) && s.denied.contains(Category::FUNCTIONAL));
        let s = signal(parse_cc_cookie(
            r#"{"level":["necessary"]}"#,
            &default_cc_categories(),
        ));
        assert_eq!(s.granted, CategorySet::EMPTY);
        for bad in [
            "",
            "{}",
            r#"{"level":"all"}"#,
            r#"{"categories":"all"}"#,
            r#"{"categories":[1]}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_cc_cookie(bad, &default_cc_categories()),
                    Outcome::Failed
                ),
                "{bad}"
            );
        }
    }
}
