//! OneTrust `OptanonConsent`: a form-encoded `k=v&...` value whose `groups` field lists
//! `GROUPID:1|0` pairs; which group means which category is site configuration.

use std::collections::HashMap;

use super::{Outcome, Signal};
use crate::category::Category;
use crate::wire::percent::form_decode;

/// Reads the decisions of an `OptanonConsent` value. Several groups may map to one category
/// (C0004 and C0005 are both marketing by default); a category is granted only if none of its
/// groups is denied.
pub fn parse(value: &str, groups: &HashMap<String, Category>) -> Outcome {
    let Some(raw) = value
        .split('&')
        .find_map(|field| field.strip_prefix("groups="))
    else {
        return Outcome::Failed;
    };
    let Some(list) = form_decode(raw) else {
        return Outcome::Failed;
    };
    let mut signal = Signal::default();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, flag)) = entry.split_once(':') else {
            return Outcome::Failed;
        };
        let granted = match flag {
            "1" => true,
            "0" => false,
            _ => return Outcome::Failed,
        };
        if let Some(&category) = groups.get(id) {
            signal.record(category, granted);
        }
    }
    signal.into_outcome()
}

/// The default OneTrust group ids: OneTrust's standard C0001-C0005 groups.
pub fn default_groups() -> HashMap<String, Category> {
    [
        ("C0001", Category::NECESSARY),
        ("C0002", Category::ANALYTICS),
        ("C0003", Category::FUNCTIONAL),
        ("C0004", Category::MARKETING),
        ("C0005", Category::MARKETING),
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
    fn real_value_from_a_japanese_site() {
        let v = "isGpcEnabled=0&datestamp=Sat+Aug+16+2025+00%3A34%3A39+GMT%2B0900+(JST)&version=202403.1.0&groups=C0001%3A1%2CC0003%3A1%2CC0002%3A1%2CC0004%3A0&geolocation=JP%3B13&AwaitingReconsent=false";
        let s = signal(parse(v, &default_groups()));
        assert!(s.granted.contains(Category::ANALYTICS));
        assert!(s.granted.contains(Category::FUNCTIONAL));
        assert_eq!(s.denied, CategorySet::only(Category::MARKETING));
    }

    #[test]
    fn any_denied_group_denies_its_category() {
        let s = signal(parse("groups=C0004%3A1%2CC0005%3A0", &default_groups()));
        assert_eq!(s.denied, CategorySet::only(Category::MARKETING));
        assert!(!s.granted.contains(Category::MARKETING));
    }

    #[test]
    fn unmapped_groups_are_ignored_and_empty_lists_decide_nothing() {
        assert!(matches!(
            parse("groups=STACK42%3A1", &default_groups()),
            Outcome::Absent
        ));
        assert!(matches!(
            parse("groups=", &default_groups()),
            Outcome::Absent
        ));
    }

    #[test]
    fn malformed_values_fail() {
        for v in [
            "",
            "isGpcEnabled=0",
            "groups=C0002",
            "groups=C0002%3Ayes",
            "groups=%ZZ",
            "groups=C0002:1,%FF",
        ] {
            assert!(
                matches!(parse(v, &default_groups()), Outcome::Failed),
                "{v}"
            );
        }
    }
}
