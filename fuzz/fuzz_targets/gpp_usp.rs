//! GPP strings (with and without an applicable-sections value) and US Privacy strings.
#![no_main]

use consent_gate::consent::{tcf, us};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (gpp, sid) = s
        .split_once('\n')
        .map_or((s, None), |(g, sid)| (g, Some(sid)));
    let _ = us::parse_gpp(gpp, sid, &tcf::default_requirements());
    let _ = us::parse_usp(s);
});
