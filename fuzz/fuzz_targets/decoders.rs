//! The content decoders with their limits: garbage is an error, and nothing decodes past the
//! byte limit.
#![no_main]

use consent_gate::html::codec::{Coding, DecodeLimits, Decoder};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;
const LIMIT_U64: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let coding =
        [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd][usize::from(which) % 4];
    let Ok(mut d) = Decoder::new(
        coding,
        DecodeLimits {
            max_bytes: LIMIT_U64,
            max_ratio: 100,
        },
    ) else {
        return;
    };
    let mut total = 0;
    for chunk in body.chunks(usize::from(which).max(1)) {
        match d.write(chunk) {
            Ok(out) => total += out.len(),
            Err(_) => return,
        }
        assert!(total <= LIMIT);
    }
    if let Ok(out) = d.finish() {
        assert!(total + out.len() <= LIMIT);
    }
});
