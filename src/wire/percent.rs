//! Strict percent-decoding for consent cookie values and forms: a broken escape (`%4`, `%ZZ`)
//! or a result that is not UTF-8 is an error, never guessed at, so a malformed consent cookie
//! reads as "no decision".

use percent_encoding::percent_decode_str;

/// Whether every `%` starts a two-digit hex escape.
fn escapes_are_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            )
    })
}

/// Percent-decoding (`+` stays a plus): `None` on a broken escape or a non-UTF-8 result.
pub fn decode(s: &str) -> Option<String> {
    if !escapes_are_valid(s) {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space), as strict as [`decode`].
pub fn form_decode(s: &str) -> Option<String> {
    if s.contains('+') {
        decode(&s.replace('+', " "))
    } else {
        decode(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding() {
        assert_eq!(form_decode("a+b%2C%2B").as_deref(), Some("a b,+"));
        assert_eq!(decode("a+b%20").as_deref(), Some("a+b "));
        for bad in ["%4", "%", "%ZZ", "a%4x", "%FF", "%C3%28"] {
            assert_eq!(decode(bad), None, "{bad}");
            assert_eq!(form_decode(bad), None, "{bad}");
        }
    }
}
