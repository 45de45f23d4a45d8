//! The cookies a request carries, read from every `cookie` header field (HTTP/2 browsers may
//! split them), without copying.

/// One `name=value` pair as sent, as raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair<'a> {
    /// Cookie name, surrounding whitespace removed.
    pub name: &'a [u8],
    /// Cookie value, surrounding whitespace removed (quotes kept).
    pub value: &'a [u8],
}

impl<'a> Pair<'a> {
    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }

    /// The value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// All cookies of a request, in the order sent.
#[derive(Debug, Default, Clone)]
pub struct Jar<'a> {
    pairs: Vec<Pair<'a>>,
    bytes: usize,
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

impl<'a> Jar<'a> {
    /// Parses the given `cookie` header values. Pieces without `=` are kept as nameless values,
    /// as browsers do; empty pieces are skipped.
    pub fn parse<I: IntoIterator<Item = &'a [u8]>>(headers: I) -> Self {
        let mut jar = Jar::default();
        for header in headers {
            jar.bytes += header.len();
            for piece in header.split(|&b| b == b';') {
                let piece = trim(piece);
                if piece.is_empty() {
                    continue;
                }
                let (name, value) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => {
                        let (n, v) = piece.split_at(eq);
                        (trim(n), trim(v.get(1..).unwrap_or_default()))
                    }
                    None => (&b""[..], piece),
                };
                jar.pairs.push(Pair { name, value });
            }
        }
        jar
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[Pair<'a>] {
        &self.pairs
    }

    /// Total size of the header values read.
    pub fn header_bytes(&self) -> usize {
        self.bytes
    }

    /// The first cookie called `name` (browsers send the most specific path first).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.pairs
            .iter()
            .find(|p| p.name == name.as_bytes())
            .map(|p| p.value)
    }

    /// Every value of cookies called `name`, in the order sent (a cookie set on several paths
    /// or domains arrives once per copy).
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n, '_> {
        self.pairs
            .iter()
            .filter(move |p| p.name == name.as_bytes())
            .map(|p| p.value)
    }

    /// Whether no cookie was sent.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Writes a `cookie` header value from pairs, `; `-separated.
pub fn serialize<'a>(pairs: impl Iterator<Item = &'a Pair<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pairs {
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        // A nameless value containing `=` keeps its leading `=`: written bare it would read
        // back as a cookie named by its first part. A bare `=` stays too (written empty it
        // would vanish).
        if !p.name.is_empty() || p.value.is_empty() || p.value.contains(&b'=') {
            out.extend_from_slice(p.name);
            out.push(b'=');
        }
        out.extend_from_slice(p.value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nameless_value_with_an_equals_sign_reads_back_nameless() {
        // Found by the cookie_header fuzz target.
        let jar = Jar::parse([&b"=x=y; a=1; flag; ="[..]]);
        let bytes = serialize(jar.pairs().iter());
        assert_eq!(bytes, b"=x=y; a=1; flag; =");
        assert_eq!(Jar::parse([bytes.as_slice()]).pairs(), jar.pairs());
    }

    #[test]
    fn reads_every_header_field() {
        let jar = Jar::parse([&b"a=1; b = 2 ;;"[..], b"c=x=y", b"flag"]);
        let names: Vec<&[u8]> = jar.pairs().iter().map(|p| p.name).collect();
        assert_eq!(names, [&b"a"[..], b"b", b"c", b""]);
        assert_eq!(jar.get("b"), Some(&b"2"[..]));
        assert_eq!(jar.get("c"), Some(&b"x=y"[..]));
        assert_eq!(serialize(jar.pairs().iter()), b"a=1; b=2; c=x=y; flag");
    }

    #[test]
    fn first_duplicate_wins_and_garbage_does_not_panic() {
        let jar = Jar::parse([&b"a=1; a=2"[..], b"\xff\xfe=\x00; =; ;="]);
        assert_eq!(jar.get("a"), Some(&b"1"[..]));
        assert_eq!(jar.get_all("a").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(jar.pairs().len(), 5);
        assert!(jar.pairs()[2].name_str().is_none());
    }
}
