//! Every consent source's cookie parser, directly and through the whole evaluation: any value
//! of any source's cookie is read without panicking, and necessary is always allowed.
#![no_main]

use consent_gate::category::Category;
use consent_gate::consent::{Policy, RequestSignals, SOURCES};
use consent_gate::wire::cookie_header::Jar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let source = &SOURCES[usize::from(which) % SOURCES.len()];
    let policy = Policy::default();
    let value = String::from_utf8_lossy(rest);
    let empty = Jar::parse(std::iter::empty::<&[u8]>());
    let _ = (source.read)(&policy, &value, &empty);
    let mut header = Vec::new();
    for name in source.cookies {
        header.extend_from_slice(name.as_bytes());
        header.push(b'=');
        header.extend_from_slice(rest);
        header.extend_from_slice(b"; ");
    }
    let jar = Jar::parse([header.as_slice()]);
    let consent = policy.evaluate(RequestSignals {
        jar: &jar,
        gpc: which & 1 == 1,
        country: Some(b"DE"),
        region: None,
    });
    assert!(consent.allows(Category::NECESSARY));
});
