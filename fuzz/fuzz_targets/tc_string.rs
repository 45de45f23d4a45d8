//! IAB TCF v2 TC strings: decoding never panics, and what decodes re-encodes to a string that
//! decodes to the same consent.
#![no_main]

use consent_gate::consent::tcf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tcf::parse(s, &tcf::default_requirements());
    if let Ok(tc) = tcf::decode(s) {
        let again = tcf::decode(&tcf::encode(&tc)).expect("an encoded TC string decodes");
        assert_eq!(tcf::encode(&again), tcf::encode(&tc));
    }
});
