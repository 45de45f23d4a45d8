//! consent-gate's own consent cookie, for sites without a consent tool.
//!
//! Format: `v1` followed by `.category:1` (granted) or `.category:0` (denied) for each decided
//! category, e.g. `v1.functional:1.analytics:0.marketing:0`. Every character is a valid cookie
//! octet, so the value needs no quoting or encoding. Categories not listed are undecided;
//! unknown category names are ignored so that a cookie written under an older configuration
//! still reads.

use super::{Outcome, Signal};
use crate::category::{Categories, CategorySet};

/// Default cookie name.
pub const DEFAULT_COOKIE: &str = "consent_gate";

/// Reads a cookie value.
pub fn parse(value: &str, categories: &Categories) -> Outcome {
    let mut parts = value.trim_matches('"').split('.');
    if parts.next() != Some("v1") {
        return Outcome::Failed;
    }
    let mut signal = Signal::default();
    for part in parts {
        let Some((name, flag)) = part.split_once(':') else {
            return Outcome::Failed;
        };
        let granted = match flag {
            "1" => true,
            "0" => false,
            _ => return Outcome::Failed,
        };
        if let Some(c) = categories.lookup(name) {
            signal.record(c, granted);
        }
    }
    signal.into_outcome()
}

/// Writes a cookie value granting `granted` and denying every other non-necessary category.
pub fn format(granted: CategorySet, categories: &Categories) -> String {
    let mut out = String::from("v1");
    for (c, name) in categories.iter().skip(1) {
        out.push('.');
        out.push_str(name);
        out.push_str(if granted.contains(c) { ":1" } else { ":0" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    #[test]
    fn round_trip() {
        let t = Categories::default();
        let v = format(CategorySet::only(Category::ANALYTICS), &t);
        assert_eq!(v, "v1.functional:0.analytics:1.marketing:0");
        match parse(&v, &t) {
            Outcome::Decided(s) => {
                assert_eq!(s.granted, CategorySet::only(Category::ANALYTICS));
                assert_eq!(s.denied.iter().count(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_categories_are_ignored_and_garbage_fails() {
        let t = Categories::default();
        assert!(matches!(parse("v1.social:1", &t), Outcome::Absent));
        assert!(matches!(parse("v1", &t), Outcome::Absent));
        for v in [
            "",
            "v2.analytics:1",
            "v1.analytics",
            "v1.analytics:yes",
            "v1..x",
        ] {
            assert!(matches!(parse(v, &t), Outcome::Failed), "{v}");
        }
    }
}
