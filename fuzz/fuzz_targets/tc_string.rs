//! IAB TCF TC strings: decoding never panics, and a v2 string that decodes re-encodes to a
//! string that decodes to the same consent.
#![no_main]

use consent_gate::consent::tcf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tcf::parse(s, &tcf::default_requirements());
    // `encode` writes the v2 core string: v2 strings round-trip (v1 strings only decode).
    if let Ok(tc) = tcf::decode(s)
        && tc.version == 2
    {
        let again = tcf::decode(&tcf::encode(&tc)).expect("an encoded TC string decodes");
        assert_eq!(tcf::encode(&again), tcf::encode(&tc));
    }
});
