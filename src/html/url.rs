//! Where a URL in an HTML attribute points, read the way a browser would read it: entities
//! decoded, tabs and newlines dropped, backslashes as slashes, any number of slashes after
//! `http:`/`https:`. When in doubt the answer leans to "third party", which errs towards
//! blocking a tracker rather than letting one through.

/// The host and path a URL fetches from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Lower-case host, without port, userinfo or trailing dot.
    pub host: String,
    /// Path and query (`/` when empty).
    pub path: String,
}

/// Decodes the character references that can change how a URL reads.
pub fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        rest = rest.get(amp..).unwrap_or_default();
        let (decoded, used) = entity(rest);
        match decoded {
            Some(c) => out.push(c),
            None => out.push('&'),
        }
        rest = rest.get(used.max(1)..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The character the reference at the start of `s` (which starts with `&`) stands for, when
/// it is one that can change how a URL reads.
pub fn reference(s: &str) -> Option<char> {
    entity(s).0
}

/// One character reference at the start of `s` (which starts with `&`): the character and
/// how many bytes it used.
fn entity(s: &str) -> (Option<char>, usize) {
    let body = s.get(1..).unwrap_or_default();
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 3),
            None => (num, 10, 2),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return (None, 1);
        }
        // Leading zeros do not count; a number too large for a character is U+FFFD.
        let significant = digits
            .get(..len)
            .unwrap_or_default()
            .trim_start_matches('0');
        let value = Some(significant)
            .filter(|d| d.len() <= 8)
            .and_then(|d| u32::from_str_radix(if d.is_empty() { "0" } else { d }, radix).ok())
            .and_then(char::from_u32)
            .unwrap_or('\u{FFFD}');
        let semi = usize::from(digits.get(len..).is_some_and(|r| r.starts_with(';')));
        return (Some(value), skip + len + semi);
    }
    for &(name, c) in NAMED {
        if body
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(';'))
        {
            return (Some(c), 2 + name.len());
        }
    }
    // The few that also count without `;`, unless a letter, digit or `=` follows (the rule
    // for attribute values).
    for &(name, c) in LEGACY {
        if let Some(rest) = body.strip_prefix(name)
            && !rest
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_alphanumeric() || n == '=')
        {
            return (Some(c), 1 + name.len());
        }
    }
    (None, 1)
}

/// HTML's named character references that stand for an ASCII character (the only ones that can
/// change how a URL or inline code reads), without their `;`.
const NAMED: &[(&str, char)] = &[
    // The most frequent first: every `&` of a page is looked up (`Needs::of`).
    ("amp", '&'),
    ("quot", '"'),
    ("lt", '<'),
    ("gt", '>'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("excl", '!'),
    ("QUOT", '"'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("AMP", '&'),
    ("apos", '\''),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("midast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("sol", '/'),
    ("colon", ':'),
    ("semi", ';'),
    ("LT", '<'),
    ("equals", '='),
    ("GT", '>'),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("lbrack", '['),
    ("bsol", '\\'),
    ("rsqb", ']'),
    ("rbrack", ']'),
    ("Hat", '^'),
    ("lowbar", '_'),
    ("UnderBar", '_'),
    ("grave", '`'),
    ("DiacriticalGrave", '`'),
    ("lcub", '{'),
    ("lbrace", '{'),
    ("verbar", '|'),
    ("vert", '|'),
    ("VerticalLine", '|'),
    ("rcub", '}'),
    ("rbrace", '}'),
];

/// Named references a browser also reads without their `;`.
const LEGACY: &[(&str, char)] = &[
    ("amp", '&'),
    ("AMP", '&'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
];

/// Whether an attribute value (entities undecoded) is surely a relative reference on the page's
/// own site, the cheap test before [`target`]: no colon (scheme), no character reference, no
/// backslash, no `//`, and no tab or newline (browsers drop them, so `/<TAB>/host/x` fetches
/// from `host`).
pub fn is_plain_relative(raw: &[u8]) -> bool {
    // One pass (every image URL of a page comes here): a slash right after a slash is `//`.
    let mut after_slash = false;
    for &b in raw {
        match b {
            b':' | b'&' | b'\\' | b'\t' | b'\n' | b'\r' => return false,
            b'/' if after_slash => return false,
            _ => after_slash = b == b'/',
        }
    }
    true
}

/// Reads an attribute value (entities undecoded, as lol_html gives it). `None` for relative
/// URLs and non-network schemes (first party, or nothing fetched).
pub fn target(raw: &str) -> Option<Target> {
    // Most URLs in a page are plain relative paths: answer those without allocating.
    if is_plain_relative(raw.as_bytes()) {
        return None;
    }
    let decoded = decode_entities(raw);
    let trimmed = decoded.trim_matches(|c: char| c <= ' ');
    // Most URLs hold no tab, newline or backslash: those are read as they are.
    let cleaned: std::borrow::Cow<'_, str> = if trimmed
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\n' | b'\r' | b'\\'))
    {
        trimmed
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .map(|c| if c == '\\' { '/' } else { c })
            .collect::<String>()
            .into()
    } else {
        trimmed.into()
    };
    let after_scheme = if let Some(rest) = cleaned.strip_prefix("//") {
        rest
    } else {
        let colon = cleaned.find(':')?;
        let scheme = cleaned.get(..colon)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        cleaned.get(colon + 1..)?.trim_start_matches('/')
    };
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = after_scheme.get(..end)?;
    let path = after_scheme.get(end..).unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or(host_port)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let host = browser_host(host);
    if host.is_empty() {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Some(Target { host, path })
}

/// A host as a browser looks it up: percent-decoded and mapped the IDNA way (upper case,
/// full-width letters and dots, `。`), without trailing dots.
fn browser_host(raw: &str) -> String {
    let mapped = if raw.is_ascii() && !raw.contains('%') {
        raw.to_ascii_lowercase()
    } else {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        idna::domain_to_ascii(&decoded).unwrap_or_else(|_| decoded.to_lowercase())
    };
    mapped.trim_end_matches('.').to_owned()
}

/// The registrable domain of a host (`www.example.co.uk` -> `example.co.uk`), or the host itself
/// when it has none (an IP address, `localhost`).
pub fn site_of(host: &str) -> &str {
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    psl::domain_str(host).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> Option<String> {
        target(url).map(|t| t.host)
    }

    #[test]
    fn absolute_and_protocol_relative() {
        let t = target("https://www.googletagmanager.com/gtag/js?id=G-1").unwrap();
        assert_eq!(t.host, "www.googletagmanager.com");
        assert_eq!(t.path, "/gtag/js?id=G-1");
        assert_eq!(
            host("//connect.facebook.net/en_US/fbevents.js").as_deref(),
            Some("connect.facebook.net")
        );
        assert_eq!(target("https://Example.COM.:443").unwrap().path, "/");
    }

    #[test]
    fn browser_quirks_are_followed() {
        for url in [
            " HTTPS://evil.com/x",
            "https:\\\\evil.com/x",
            "https:evil.com/x",
            "ht\ntps://ev\til.com/x",
            "https://user:pw@evil.com:8443/x",
            "https:&#x2F;&#x2F;evil&period;com/x",
            "&#104;ttps://evil.com",
            "https:&sol;&sol;evil.com",
            "/\t/evil.com/x",
            "/\n/evil.com/x",
            "\r\n/\r\n/evil.com/x",
            "/&Tab;/evil.com/x",
            "/&NewLine;/evil.com/x",
            "https://evil%2Ecom/x",
            "https://%65vil.com/x",
            "https://ＥＶＩＬ．com/x",
            "https://evil。com./x",
        ] {
            assert_eq!(host(url).as_deref(), Some("evil.com"), "{url:?}");
        }
    }

    #[test]
    fn relative_and_other_schemes_have_no_host() {
        for url in [
            "/js/app.js",
            "app.js",
            "?x=1",
            "data:text/javascript,alert(1)",
            "javascript:void(0)",
            "blob:https://x/1",
            "",
            "https://",
        ] {
            assert_eq!(host(url), None, "{url:?}");
        }
    }

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a&amp;b&#47;&#x2f&bogus;"), "a&b//&bogus;");
        assert_eq!(decode_entities("&#99999999999;"), "\u{FFFD}");
        assert_eq!(decode_entities("&#00000000000058;&#x000000000003A"), "::");
        assert_eq!(
            decode_entities("fbq&lpar;1&rpar;&percnt;2E&lowbar;&amp&ampx&lt=&gt"),
            "fbq(1)%2E_&&ampx&lt=>"
        );
    }

    /// The one-pass test agrees with its definition on every string of up to five bytes made
    /// of the bytes it looks at.
    #[test]
    fn plain_relative_is_exactly_its_definition() {
        let alphabet = b"/a:&\\\t\n\r.";
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = strings.clone();
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            strings.extend(last.iter().cloned());
        }
        for s in strings {
            let definition = !s
                .iter()
                .any(|b| matches!(b, b':' | b'&' | b'\\' | b'\t' | b'\n' | b'\r'))
                && !s.windows(2).any(|w| w == b"//");
            assert_eq!(is_plain_relative(&s), definition, "{s:?}");
        }
    }

    #[test]
    fn registrable_domain() {
        assert_eq!(site_of("www.example.co.uk"), "example.co.uk");
        assert_eq!(site_of("127.0.0.1"), "127.0.0.1");
    }
}
