//! Cookiebot `CookieConsent`: `0` (declined), `-1` (no consent required in the visitor's region)
//! or a percent-encoded JavaScript object literal such as
//! `{stamp:'…',necessary:true,preferences:false,statistics:true,marketing:false,…}`.

use super::{Outcome, Signal};
use crate::category::Category;
use crate::wire::percent::decode as percent_decode;

/// Reads a `CookieConsent` value. `-1` grants everything only when `honor_no_consent_required`
/// is set; otherwise it decides nothing and the jurisdiction policy applies.
pub fn parse(value: &str, honor_no_consent_required: bool) -> Outcome {
    // A literal '+' (inside `stamp`) is a plus, not a space: plain percent-decoding.
    let Some(decoded) = percent_decode(value) else {
        return Outcome::Failed;
    };
    let decoded = decoded.trim();
    match decoded {
        "0" => {
            let mut s = Signal::default();
            for c in [
                Category::FUNCTIONAL,
                Category::ANALYTICS,
                Category::MARKETING,
            ] {
                s.record(c, false);
            }
            return Outcome::Decided(s);
        }
        "-1" if honor_no_consent_required => {
            let mut s = Signal::default();
            for c in [
                Category::FUNCTIONAL,
                Category::ANALYTICS,
                Category::MARKETING,
            ] {
                s.record(c, true);
            }
            return Outcome::Decided(s);
        }
        "-1" => return Outcome::Absent,
        _ => {}
    }
    let Some(fields) = object_literal(decoded) else {
        return Outcome::Failed;
    };
    let mut signal = Signal::default();
    let mut seen = false;
    for (key, value) in fields {
        let category = match key {
            "preferences" => Category::FUNCTIONAL,
            "statistics" => Category::ANALYTICS,
            "marketing" => Category::MARKETING,
            _ => continue,
        };
        let granted = match value {
            "true" => true,
            "false" => false,
            _ => return Outcome::Failed,
        };
        seen = true;
        signal.record(category, granted);
    }
    if seen {
        Outcome::Decided(signal)
    } else {
        Outcome::Failed
    }
}

/// Splits `{key:value,key:'str',…}` into `(key, raw value)` pairs; quoted values are returned
/// without their quotes. `None` if the text is not such an object.
fn object_literal(text: &str) -> Option<Vec<(&str, &str)>> {
    let body = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let colon = rest.find(':')?;
        let key = rest.get(..colon)?.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        {
            return None;
        }
        rest = rest.get(colon + 1..)?.trim_start();
        let value;
        if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let inner = rest.get(1..)?;
            let end = inner.find(quote)?;
            value = inner.get(..end)?;
            rest = inner.get(end + 1..)?.trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest.get(..end)?.trim();
            rest = rest.get(end..)?;
        }
        out.push((key, value));
        match rest.strip_prefix(',') {
            Some(r) => rest = r,
            None if rest.trim().is_empty() => break,
            None => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;
    use crate::consent::decided as signal;

    #[test]
    fn real_value_statistics_only() {
        let v = "{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:false%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1695456095624%2Cregion:%27de%27}";
        let s = signal(parse(v, false));
        assert_eq!(s.granted, CategorySet::only(Category::FUNCTIONAL));
        assert!(s.denied.contains(Category::ANALYTICS) && s.denied.contains(Category::MARKETING));
    }

    #[test]
    fn plus_in_stamp_is_literal_and_unencoded_values_work() {
        let v = "{stamp:'ab+c/d==',necessary:true,preferences:false,statistics:true,marketing:false,method:'implied',ver:2}";
        let s = signal(parse(v, false));
        assert_eq!(s.granted, CategorySet::only(Category::ANALYTICS));
    }

    #[test]
    fn declined_and_region_exemption() {
        let s = signal(parse("0", false));
        assert_eq!(s.denied.iter().count(), 3);
        assert!(matches!(parse("-1", false), Outcome::Absent));
        assert_eq!(signal(parse("-1", true)).granted.iter().count(), 3);
    }

    #[test]
    fn malformed_values_fail() {
        for v in [
            "",
            "1",
            "{",
            "{necessary:true}",
            "{statistics:maybe}",
            "{stamp:'x}",
            "%E0%A4%A",
            "{a b:1}",
            "{statistics:true marketing:false}",
        ] {
            assert!(matches!(parse(v, false), Outcome::Failed), "{v}");
        }
    }
}
