//! The `X-Forwarded-For` value the origin receives: the client's list, if any, with the
//! address the request came from appended. Built on every proxied request, so without the
//! formatting machinery: an IPv4 address (the common case) is written digit by digit.

use std::net::IpAddr;

/// `prior` (the client's `X-Forwarded-For`, when it sent one) followed by `client`.
pub fn append(prior: Option<&[u8]>, client: IpAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(prior.map_or(0, |p| p.len() + 2) + 15);
    if let Some(p) = prior {
        out.extend_from_slice(p);
        out.extend_from_slice(b", ");
    }
    match client {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(&mut out, octet);
            }
        }
        IpAddr::V6(v6) => out.extend_from_slice(v6.to_string().as_bytes()),
    }
    out
}

fn push_decimal(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
    }
    if n >= 10 {
        out.push(b'0' + n / 10 % 10);
    }
    out.push(b'0' + n % 10);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ipv4_octet_is_written_as_the_standard_library_writes_it() {
        for n in 0..=255u8 {
            for ip in [[n, 0, 10, 255], [127, n, 1, 9], [1, 100, 99, n]] {
                let ip = IpAddr::from(ip);
                assert_eq!(append(None, ip), ip.to_string().into_bytes());
            }
        }
    }

    #[test]
    fn the_client_list_comes_first_and_ipv6_is_written_in_canonical_form() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            append(Some(b"203.0.113.7, 10.0.0.1"), IpAddr::from([127, 0, 0, 1])),
            b"203.0.113.7, 10.0.0.1, 127.0.0.1".to_vec()
        );
        assert_eq!(
            append(Some(b"198.51.100.2"), v6),
            b"198.51.100.2, 2001:db8::1".to_vec()
        );
    }
}
