//! Set-Cookie lines: the name is found without panicking and is part of the line, and the
//! withdrawal lines built for any name and domain never break the header.
#![no_main]

use consent_gate::cookies;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = cookies::set_cookie_name(data);
    assert!(name.len() <= data.len());
    if let Ok(text) = std::str::from_utf8(data) {
        let (name, domain) = text
            .split_once('\n')
            .map_or((text, None), |(n, d)| (n, Some(d)));
        for line in cookies::withdrawal_lines(name, domain, &["/"]) {
            assert!(!line.contains('\r') && !line.contains('\n'), "{line:?}");
        }
        let _ = cookies::cookie_domain(text);
    }
});
