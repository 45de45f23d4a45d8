//! URL, host and entity handling on attribute values and request headers.
#![no_main]

use consent_gate::html::url;
use consent_gate::wire::{host, percent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = host::request_host(Some(data), None);
    let _ = host::registrable_domain(&h);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = host::request_host(None, Some(s));
    let _ = host::strip_port(s);
    let decoded = url::decode_entities(s);
    if let Some(t) = url::target(&decoded) {
        let _ = url::site_of(&t.host);
    }
    let _ = percent::decode(s);
    let _ = percent::form_decode(s);
});
