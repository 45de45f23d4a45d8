//! Rule files: any text compiles or is refused with an error, never a panic; compiled rules
//! answer lookups.
#![no_main]

use consent_gate::category::Categories;
use consent_gate::rules::Rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = Rules::compile(&[("fuzz.toml", text)], &Categories::default()) {
        let _ = rules.host_mentions(text).count();
        let _ = rules.signature(text);
        let _ = rules.request_path(text);
    }
});
