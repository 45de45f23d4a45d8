//! Hostile traffic, named by attack. Each ends by checking that the proxy still serves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Origin, Proxy, Reply, curated_rules, get, read_response};

const SITE: &str = "[[site]]\nname = \"s\"\nhosts = [\"www.example.com\"]\ndefault = true\nupstreams = [\"{origin}\"]\n";

fn origin() -> Origin {
    Origin::start(|req| match req.path.as_str() {
        "/many-cookies" => (0..200).fold(Reply::ok("text/plain", "x"), |r, i| {
            r.header("Set-Cookie", &format!("c{i}=1"))
        }),
        "/too-many-headers" => (0..300).fold(Reply::ok("text/plain", "x"), |r, i| {
            r.header("Set-Cookie", &format!("c{i}=1"))
        }),
        _ => Reply::ok(
            "text/html",
            "<html><script src=\"https://connect.facebook.net/x.js\"></script></html>",
        )
        .header("Set-Cookie", "_fbp=1; Path=/"),
    })
}

fn proxy(origin: &Origin) -> Proxy {
    Proxy::start(
        origin.addr,
        SITE,
        "[limits]\nmax_set_cookie_headers = 100\n",
        &[("rules.toml", &curated_rules())],
    )
}

fn healthy(p: &Proxy) {
    assert_eq!(get(p.admin, "/healthz", &[]).status, 200);
    let r = p.get("/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("data-consent-src"));
}

fn raw(p: &Proxy, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn set_cookie_flood_from_the_origin_is_refused() {
    let origin = origin();
    let p = proxy(&origin);
    let r = p.get("/many-cookies", &[]);
    assert_eq!(r.status, 502);
    assert_eq!(
        p.metric(
            "consent_gate_limit_exceeded_total",
            &[("limit", "max_set_cookie_headers")]
        ),
        1.0
    );
    // Past the HTTP parser's own header limit the response is refused as well.
    assert_eq!(p.get("/too-many-headers", &[]).status, 502);
    healthy(&p);
}

#[test]
fn cookie_header_flood_gets_an_answer_not_a_crash() {
    let origin = origin();
    let p = proxy(&origin);
    let huge: String = (0..3000).map(|i| format!("_ga{i}=x; ")).collect();
    let r = p.get("/", &[("Cookie", &huge)]);
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "{}",
        r.status
    );
    let many: Vec<(&str, &str)> = (0..100).map(|_| ("Cookie", "_fbp=1; sid=2")).collect();
    let r = p.get("/", &many);
    assert!(r.status == 200 || (400..500).contains(&r.status));
    healthy(&p);
}

#[test]
fn host_header_injection_cannot_shape_withdrawal_lines() {
    let origin = origin();
    let p = proxy(&origin);
    let r = p.get(
        "/",
        &[
            ("Host", "evil.com; Domain=victim.com"),
            ("Cookie", "_fbp=1"),
        ],
    );
    for line in r.headers_named("set-cookie") {
        assert!(!line.contains("victim") && !line.contains("evil"), "{line}");
    }
    healthy(&p);
}

#[test]
fn cookie_names_with_separators_are_never_echoed_into_set_cookie() {
    let origin = origin();
    let p = proxy(&origin);
    let r = p.get("/", &[("Cookie", "_fbp=1; _fb\"p=2; _fbp,Domain=x=3")]);
    for line in r.headers_named("set-cookie") {
        assert!(!line.contains('"') && !line.contains(",Domain"), "{line}");
    }
    healthy(&p);
}

#[test]
fn request_smuggling_with_both_length_headers_is_rejected() {
    let origin = origin();
    let p = proxy(&origin);
    let resp = raw(&p, b"POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert!(!resp.is_empty(), "the connection must get an answer");
    assert!(
        origin.requests().iter().all(|r| r.path != "/smuggled"),
        "smuggled request reached the origin"
    );
    healthy(&p);
}

#[test]
fn garbage_and_truncated_requests_do_not_hang() {
    let origin = origin();
    let p = proxy(&origin);
    let resp = raw(&p, b"\x00\x01\x02 NOT HTTP\r\n\r\n");
    assert!(resp.is_empty() || resp.starts_with("HTTP/1.1 4"), "{resp}");
    // A header past the 1 MiB header limit: refused at once, not held open.
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\nX-Long: ")
        .unwrap();
    let big = vec![b'a'; 1_100_000];
    let _ = s.write_all(&big);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut reader = BufReader::new(s);
    let r = read_response(&mut reader, false);
    assert!(
        r.is_none_or(|r| r.status >= 400),
        "an oversized header must not be proxied"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the connection was held open"
    );
    healthy(&p);
}

#[test]
fn consent_cookie_bombs_are_no_decision() {
    let origin = origin();
    let p = proxy(&origin);
    let tc = format!("euconsent-v2=C{}", "_".repeat(3500));
    let gpp = format!("__gpp=DBAB{}~x", "_".repeat(3000));
    let klaro = format!("klaro={}", "%7B".repeat(1200));
    for cookie in [
        tc.as_str(),
        gpp.as_str(),
        klaro.as_str(),
        "cc_cookie=%FF%FE",
        "OptanonConsent=groups=",
    ] {
        let r = p.get("/", &[("Cookie", cookie)]);
        assert_eq!(r.status, 200, "{cookie}");
        assert!(
            r.cookies_set().is_empty(),
            "no consent means _fbp is stripped: {cookie}"
        );
    }
    healthy(&p);
}
