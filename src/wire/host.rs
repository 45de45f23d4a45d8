//! The host a request names, from its `Host` header (or the request target's authority).

/// `host` without a port; `[v6]:port` gives `v6`.
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// The request's host, lower-cased, without port or trailing dot: the `Host` header when it is
/// text, else the authority of the request target.
pub fn request_host(host_header: Option<&[u8]>, authority: Option<&str>) -> String {
    let raw = host_header
        .and_then(|h| std::str::from_utf8(h).ok())
        .filter(|h| h.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .or(authority)
        .unwrap_or_default();
    strip_port(raw.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The registrable domain of a host name (by the public suffix list), when it is a DNS name:
/// `None` for IP addresses, single labels and anything that is not a host name.
pub fn registrable_domain(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && host.parse::<std::net::IpAddr>().is_err();
    if !valid {
        return None;
    }
    psl::domain_str(&host).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_without_ports() {
        assert_eq!(
            request_host(Some(b"WWW.Example.com:8080"), None),
            "www.example.com"
        );
        assert_eq!(request_host(Some(b"example.com."), None), "example.com");
        assert_eq!(request_host(Some(b"[::1]:443"), None), "::1");
        assert_eq!(request_host(None, Some("a.example:1")), "a.example");
        assert_eq!(request_host(Some(b"\xff"), Some("b.example")), "b.example");
        assert_eq!(strip_port("host:notaport"), "host:notaport");
    }
}
