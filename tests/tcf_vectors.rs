//! The TC string decoder against the 35 public test vectors: every record decodes to exactly the
//! reference decoder's fields (iabtcf-core 1.5.21), or fails where it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use consent_gate::consent::tcf::{self, TcString};
use serde_json::{Value, json};

fn as_json(tc: &TcString) -> Value {
    let restrictions: serde_json::Map<String, Value> = tc
        .publisher_restrictions
        .iter()
        .map(|((p, t), v)| (format!("{p}-{t}"), json!(v)))
        .collect();
    json!({
        "version": tc.version,
        "created": tcf::iso8601(tc.created_ms),
        "lastUpdated": tcf::iso8601(tc.last_updated_ms),
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "consentScreen": tc.consent_screen,
        "consentLanguage": tc.consent_language,
        "vendorListVersion": tc.vendor_list_version,
        "policyVersion": tc.policy_version,
        "isServiceSpecific": tc.is_service_specific,
        "useNonStandardTexts": tc.use_non_standard_texts,
        "specialFeatureOptins": tc.special_feature_optins,
        "purposeConsents": tc.purpose_consents,
        "purposeLegitimateInterests": tc.purpose_legitimate_interests,
        "purposeOneTreatment": tc.purpose_one_treatment,
        "publisherCountryCode": tc.publisher_cc,
        "vendorConsents": tc.vendor_consents,
        "vendorLegitimateInterests": tc.vendor_legitimate_interests,
        "publisherRestrictions_purposeId_restrictionType_to_vendors": restrictions,
        "vendorsDisclosed": tc.vendors_disclosed,
        "vendorsAllowed": tc.vendors_allowed,
        "publisherConsents": tc.publisher_consents,
        "publisherLegitimateInterests": tc.publisher_legitimate_interests,
        "numCustomPurposes": tc.num_custom_purposes,
        "publisherCustomConsents": tc.publisher_custom_consents,
        "publisherCustomLegitimateInterests": tc.publisher_custom_legitimate_interests,
    })
}

#[test]
fn every_vector_matches_the_reference_decoder() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tcf_vectors.json"
    ))
    .unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(records.len(), 35);
    let (mut ok, mut failed) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let s = r["string"].as_str().unwrap();
        let oracle = &r["oracle_iabtcf_core_1_5_21"];
        let ours = tcf::decode(s);
        if oracle["ok"].as_bool().unwrap() {
            let tc = ours.unwrap_or_else(|e| {
                panic!("record {i} ({s}): we fail ({e}) where the reference decodes")
            });
            let got = as_json(&tc);
            let want = &oracle["decoded"];
            for (k, v) in want.as_object().unwrap() {
                assert_eq!(&got[k], v, "record {i} field {k} ({s})");
            }
            ok += 1;
        } else {
            assert!(
                ours.is_err(),
                "record {i} ({s}): the reference fails ({}) but we decode",
                oracle["error"]
            );
            failed += 1;
        }
    }
    assert_eq!((ok, failed), (31, 4));
}

#[test]
fn hostile_ranges_are_bounded() {
    // A vendor section of 4,095 ranges each covering 1..=65535: merged, not expanded 4,095 times.
    use std::fmt::Write;
    let mut bits = String::new();
    let push = |bits: &mut String, v: u64, n: usize| {
        for i in (0..n).rev() {
            bits.push(if v >> i & 1 == 1 { '1' } else { '0' });
        }
    };
    push(&mut bits, 2, 6); // version
    for n in [36, 36, 12, 12, 6, 12, 12] {
        push(&mut bits, 0, n);
    }
    push(&mut bits, 4, 6); // policy version
    for n in [1, 1, 12, 24, 24, 1, 12] {
        push(&mut bits, 0, n);
    }
    push(&mut bits, 65535, 16); // max vendor id
    push(&mut bits, 1, 1); // range encoding
    push(&mut bits, 4095, 12);
    for _ in 0..4095 {
        push(&mut bits, 1, 1);
        push(&mut bits, 1, 16);
        push(&mut bits, 65535, 16);
    }
    for n in [16, 1, 12] {
        push(&mut bits, 0, n);
    }
    while !bits.len().is_multiple_of(6) {
        bits.push('0');
    }
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for chunk in bits.as_bytes().chunks(6) {
        let v = chunk
            .iter()
            .fold(0usize, |a, b| a * 2 + usize::from(*b == b'1'));
        s.write_char(char::from(alphabet[v])).unwrap();
    }
    let start = std::time::Instant::now();
    let tc = tcf::decode(&s).unwrap();
    assert_eq!(tc.vendor_consents.len(), 65535);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
