//! US privacy signals: the IAB `usprivacy` string (CCPA) and the US sections of an IAB GPP
//! string (`__gpp` with `__gpp_sid`). Their opt-outs of sale, sharing or targeted advertising
//! deny marketing; they grant nothing (the jurisdiction settles the rest).

use super::bits::Bits;
use super::{Outcome, Signal, tcf};
use crate::category::Category;

fn deny_marketing() -> Outcome {
    let mut s = Signal::default();
    s.record(Category::MARKETING, false);
    Outcome::Decided(s)
}

/// A `usprivacy` value such as `1YYN`: version 1, notice, opt-out of sale, LSPA.
pub fn parse_usp(value: &str) -> Outcome {
    let b = value.trim().as_bytes();
    let valid = b.len() == 4
        && b.first() == Some(&b'1')
        && b.iter()
            .skip(1)
            .all(|c| matches!(c, b'Y' | b'N' | b'-' | b'y' | b'n'));
    if !valid {
        return Outcome::Failed;
    }
    match b.get(2) {
        Some(b'Y' | b'y') => deny_marketing(),
        _ => Outcome::Absent,
    }
}

/// Offsets (in 2-bit fields after the 6-bit version) of the opt-out fields of each US section.
fn opt_out_fields(section: u64) -> Option<&'static [usize]> {
    // Sale, sharing and targeted-advertising opt-outs, by section layout (GPP US sections).
    match section {
        7 => Some(&[6, 7, 8]), // usnat: 6 notices, then SaleOptOut, SharingOptOut, TargetedAdvertisingOptOut
        8 => Some(&[3, 4]),    // usca: 3 notices, then SaleOptOut, SharingOptOut
        9 | 10 | 12 => Some(&[3, 4]), // usva, usco, usct: 3 notices, SaleOptOut, TargetedAdvertisingOptOut
        11 => Some(&[4, 5]),          // usut: 4 notices, SaleOptOut, TargetedAdvertisingOptOut
        _ => None,
    }
}

/// Section ids from the GPP header: type 3, version, then a Fibonacci-coded id range list.
fn header_sections(header: &str) -> Option<Vec<u64>> {
    let mut b = Bits::from_base64url(header).ok()?;
    if b.int(6).ok()? != 3 {
        return None;
    }
    let _version = b.int(6).ok()?;
    let entries = b.int(12).ok()?;
    let mut ids = Vec::new();
    let mut last = 0u64;
    for _ in 0..entries.min(64) {
        let is_range = b.bool().ok()?;
        let start = last.checked_add(b.fibonacci().ok()?)?;
        let end = if is_range {
            start.checked_add(b.fibonacci().ok()?)?
        } else {
            start
        };
        if end > start + 64 {
            return None;
        }
        ids.extend(start..=end);
        last = end;
    }
    Some(ids)
}

/// A GPP string and the applicable section ids (`__gpp_sid`, e.g. `7` or `2,8`).
pub fn parse_gpp(value: &str, sid: Option<&str>, tcf_requirements: &[tcf::Requirement]) -> Outcome {
    let mut parts = value.trim().split('~');
    let Some(ids) = parts.next().and_then(header_sections) else {
        return Outcome::Failed;
    };
    let sections: Vec<&str> = parts.collect();
    if sections.len() != ids.len() {
        return Outcome::Failed;
    }
    let applicable: Option<Vec<u64>> = sid.map(|s| {
        s.split([',', '_'])
            .filter_map(|x| x.trim().parse().ok())
            .collect()
    });
    let mut signal = Signal::default();
    let mut decided = false;
    for (id, text) in ids.iter().zip(sections) {
        if applicable.as_ref().is_some_and(|a| !a.contains(id)) {
            continue;
        }
        match id {
            2 => {
                if let (Outcome::Decided(s), _) = tcf::parse(text, tcf_requirements) {
                    for c in s.granted.iter() {
                        signal.record(c, true);
                    }
                    for c in s.denied.iter() {
                        signal.record(c, false);
                    }
                    decided = true;
                }
            }
            6 => {
                if let Outcome::Decided(_) = parse_usp(text) {
                    signal.record(Category::MARKETING, false);
                    decided = true;
                }
            }
            id => {
                let Some(fields) = opt_out_fields(*id) else {
                    continue;
                };
                let core = text.split('.').next().unwrap_or_default();
                let Ok(mut b) = Bits::from_base64url(core) else {
                    return Outcome::Failed;
                };
                if b.int(6).is_err() {
                    return Outcome::Failed;
                }
                let mut values = Vec::new();
                for _ in 0..=fields.iter().copied().max().unwrap_or(0) {
                    match b.int(2) {
                        Ok(v) => values.push(v),
                        Err(_) => return Outcome::Failed,
                    }
                }
                // 1 = opted out, 2 = did not opt out, 0 = not applicable.
                if fields.iter().any(|&f| values.get(f) == Some(&1)) {
                    signal.record(Category::MARKETING, false);
                    decided = true;
                }
            }
        }
    }
    if decided {
        Outcome::Decided(signal)
    } else {
        Outcome::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denies_marketing(o: Outcome) -> bool {
        matches!(o, Outcome::Decided(s) if s.denied.contains(Category::MARKETING))
    }

    #[test]
    fn usprivacy() {
        assert!(denies_marketing(parse_usp("1YYN")));
        assert!(matches!(parse_usp("1YNN"), Outcome::Absent));
        assert!(matches!(parse_usp("1---"), Outcome::Absent));
        for bad in ["", "2YYN", "1YY", "1YYNN", "1XYZ"] {
            assert!(matches!(parse_usp(bad), Outcome::Failed), "{bad}");
        }
    }

    #[test]
    fn gpp_header_sections() {
        assert_eq!(header_sections("DBABMA"), Some(vec![2]));
        assert_eq!(header_sections("DBABLA"), Some(vec![7]));
        assert_eq!(header_sections("DBACNYA"), Some(vec![2, 6]));
        assert_eq!(header_sections("xx"), None);
    }

    #[test]
    fn gpp_us_national_opt_outs() {
        // usnat v1: notices given, sale / sharing / targeted advertising "did not opt out" (2).
        assert!(matches!(
            parse_gpp(
                "DBABLA~BVQqAAAAAgA.QA",
                Some("7"),
                &tcf::default_requirements()
            ),
            Outcome::Absent
        ));
        // Same with SaleOptOut = 1 (opted out): "BVQaAAAAAgA" has 01 in the sale field.
        assert!(denies_marketing(parse_gpp(
            "DBABLA~BVQaAAAAAgA.QA",
            Some("7"),
            &tcf::default_requirements()
        )));
        // Sections not listed in __gpp_sid are ignored.
        assert!(matches!(
            parse_gpp(
                "DBABLA~BVQaAAAAAgA.QA",
                Some("8"),
                &tcf::default_requirements()
            ),
            Outcome::Absent
        ));
        // A usp section inside GPP.
        assert!(denies_marketing(parse_gpp(
            "DBACNYA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YYN",
            None,
            &tcf::default_requirements()
        )));
        for bad in ["", "DBABLA", "DBABLA~!!", "DBABLA~B", "AAAA~x"] {
            assert!(
                matches!(
                    parse_gpp(bad, None, &tcf::default_requirements()),
                    Outcome::Failed
                ),
                "{bad}"
            );
        }
    }
}
