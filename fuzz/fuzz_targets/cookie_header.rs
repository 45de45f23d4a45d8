//! The Cookie header parser: any bytes, split into several header fields; what it serializes
//! parses back to the same pairs.
#![no_main]

use consent_gate::wire::cookie_header::{Jar, serialize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fields: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let jar = Jar::parse(fields.iter().copied());
    let bytes = serialize(jar.pairs().iter());
    let again = Jar::parse([bytes.as_slice()]);
    let names = |j: &Jar<'_>| {
        j.pairs()
            .iter()
            .map(|p| {
                (
                    p.name_str().map(str::to_owned),
                    p.value_str().map(str::to_owned),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&again), names(&jar));
});
