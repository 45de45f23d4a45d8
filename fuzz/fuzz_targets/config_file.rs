//! Config files: any text is accepted or refused with a positioned error, never a panic. No
//! host name is looked up.
#![no_main]

use consent_gate::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse_offline(std::path::Path::new("/nonexistent/fuzz.toml"), text) {
        let _ = e.to_string();
    }
});
