//! HTML enforcement through the real proxy: charsets, framing on raw sockets, failures, bombs
//! and bounded memory on large streams.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Origin, Proxy, Reply, curated_rules, get, get_streaming, read_response, request};

const SITE: &str =
    "[[site]]\nname = \"s\"\nhosts = [\"www.example.com\"]\nupstreams = [\"{origin}\"]\n";
const TRACKER: &str =
    r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>"#;

fn proxy(origin: &Origin, extra: &str) -> Proxy {
    Proxy::start(
        origin.addr,
        SITE,
        extra,
        &[("rules.toml", &curated_rules())],
    )
}

fn page() -> String {
    format!("<html><head>{TRACKER}</head><body>hello</body></html>")
}

#[test]
fn non_utf8_pages_keep_their_text_and_lose_their_trackers() {
    let text = "こんにちは、世界。ご利用ありがとうございます";
    let inline = format!("<script>var greeting = '{text}'; fbq('init', '1');</script>");
    let sjis_page = format!(
        "<html><head><meta charset=\"Shift_JIS\">{TRACKER}{inline}</head><body><p>{text}</p></body></html>"
    );
    let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(&sjis_page);
    assert!(!bad);
    let latin = "<html><head><script src=\"https://connect.facebook.net/en_US/fbevents.js\"></script></head><body><p>Caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e \u{20ac}5</p></body></html>";
    let (cp1252, _, bad) = encoding_rs::WINDOWS_1252.encode(latin);
    assert!(!bad);
    let (sjis, cp1252) = (sjis.into_owned(), cp1252.into_owned());
    let (s2, c2) = (sjis.clone(), cp1252.clone());
    let origin = Origin::start(move |req| match req.path.as_str() {
        // Charset only in <meta>.
        "/sjis-meta" => Reply::ok("text/html", s2.clone()),
        // Charset in the header.
        "/sjis-header" => Reply::ok("text/html; charset=Shift_JIS", s2.clone()),
        "/cp1252" => Reply::ok("text/html; charset=windows-1252", c2.clone()),
        "/utf16" => Reply::ok("text/html", b"\xFF\xFE<\x00h\x00>\x00".to_vec()),
        _ => Reply::new(404),
    });
    let p = proxy(&origin, "");
    for path in ["/sjis-meta", "/sjis-header"] {
        let r = p.get(path, &[]);
        let (decoded, _, _) = encoding_rs::SHIFT_JIS.decode(&r.body);
        assert!(
            decoded.contains(&format!("<p>{text}</p>")),
            "{path}: {decoded}"
        );
        assert!(
            decoded.contains("data-consent-src=\"https://www.googletagmanager.com"),
            "{path}: {decoded}"
        );
        // The inline script moved into an inert copy with its Japanese text intact.
        assert!(decoded.contains(&format!("data-consent-vendor=\"Meta Pixel\">var greeting = '{text}'; fbq('init', '1');</script>")), "{path}: {decoded}");
        // Bytes outside the changed elements are the origin's bytes.
        let tail = format!("<body><p>{text}</p></body></html>");
        let (body_sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&tail);
        assert!(r.body.ends_with(&body_sjis), "{path}");
    }
    let r = p.get("/cp1252", &[]);
    let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(&r.body);
    assert!(decoded.contains("Café crème brûlée €5"), "{decoded}");
    assert!(
        decoded.contains("data-consent-src=\"https://connect.facebook.net"),
        "{decoded}"
    );
    // A UTF-16 page cannot be rewritten safely: fail closed.
    let r = p.get("/utf16", &[]);
    assert!(
        !r.complete || r.status == 502,
        "UTF-16 must not pass unmodified: {r:?}"
    );
    assert_eq!(
        p.metric(
            "consent_gate_rewrite_failures_total",
            &[("reason", "charset")]
        ),
        1.0
    );
}

#[test]
fn framing_head_204_304_206_and_keep_alive() {
    let origin = Origin::start(|req| match (req.method.as_str(), req.path.as_str()) {
        (_, "/empty") => Reply::new(204).header("Content-Type", "text/html"),
        (_, "/cached") => Reply::new(304)
            .header("Content-Type", "text/html")
            .header("ETag", "\"x\""),
        (_, "/range") => Reply::new(206)
            .header("Content-Type", "text/html")
            .header("Content-Range", "bytes 0-9/100")
            .body(page()[..10].to_owned()),
        _ => Reply::ok("text/html", page())
            .header("ETag", "\"v\"")
            .header("Accept-Ranges", "bytes"),
    });
    let p = proxy(&origin, "");
    let mut conn = TcpStream::connect(p.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut send = |method: &str, path: &str| {
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
        )
        .unwrap();
    };
    // A rewritten response is chunked; the connection stays usable for the next requests.
    send("GET", "/");
    let r = read_response(&mut reader, false).unwrap();
    assert!(r.complete);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("accept-ranges"), None);
    assert_eq!(r.header("etag"), Some("W/\"v\""));
    assert!(r.text().contains("data-consent-src"));
    send("HEAD", "/");
    let r = read_response(&mut reader, true).unwrap();
    assert_eq!(r.status, 200);
    send("GET", "/empty");
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!(r.status, 204);
    send("GET", "/cached");
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!(r.status, 304);
    send("GET", "/range");
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(
        r.body,
        &page().as_bytes()[..10],
        "a range is never rewritten"
    );
    assert_eq!(r.header("content-range"), Some("bytes 0-9/100"));
    send("GET", "/");
    let r = read_response(&mut reader, false).unwrap();
    assert!(
        r.complete && r.text().contains("data-consent-src"),
        "second rewritten response on the same connection"
    );
    assert_eq!(origin.requests().len(), 6);
}

#[test]
fn link_headers_lose_hints_to_denied_hosts() {
    let origin = Origin::start(|_| {
        Reply::ok("application/json", "{}")
            .header(
                "Link",
                "<https://connect.facebook.net>; rel=preconnect, </app.css>; rel=preload; as=style",
            )
            .header(
                "Link",
                "<https://www.googletagmanager.com/gtm.js>; rel=preload; as=script",
            )
    });
    let p = proxy(&origin, "");
    let r = p.get("/", &[]);
    assert_eq!(
        r.headers_named("link"),
        ["</app.css>; rel=preload; as=style"]
    );
    assert_eq!(r.text(), "{}");
    assert_eq!(
        p.metric(
            "consent_gate_elements_neutralized_total",
            &[("kind", "link_header")]
        ),
        2.0
    );
    let all = "consent_gate=v1.functional:1.analytics:1.marketing:1";
    let r = p.get("/", &[("Cookie", all)]);
    assert_eq!(r.headers_named("link").len(), 2);
}

#[test]
fn a_rewrite_failure_aborts_the_response_unless_fail_open() {
    let big_inline = format!(
        "<html><head>{TRACKER}<script>{}</script></head><body>end</body></html>",
        "x".repeat(64 * 1024)
    );
    let served = big_inline.clone();
    let origin = Origin::start(move |_| Reply::ok("text/html", served.clone()).chunked());
    let p = proxy(&origin, "[limits]\nmax_inline_script_bytes = 1024\n");
    let r = p.get("/", &[]);
    assert!(
        !r.complete || r.status == 502,
        "the response must be refused or aborted, not completed unmodified"
    );
    assert!(
        !r.text().contains("src=\"https://www.googletagmanager.com"),
        "nothing after the failure may leak"
    );
    assert_eq!(
        p.metric(
            "consent_gate_rewrite_failures_total",
            &[("reason", "rewrite")]
        ),
        1.0
    );
    assert_eq!(get(p.admin, "/healthz", &[]).status, 200);
    assert_eq!(
        p.get(
            "/",
            &[(
                "Cookie",
                "consent_gate=v1.functional:1.analytics:1.marketing:1"
            )]
        )
        .status,
        200
    );

    let open = proxy(
        &origin,
        "[limits]\nmax_inline_script_bytes = 1024\n\n[html]\non_error = \"fail-open\"\n",
    );
    let r = open.get("/", &[]);
    assert!(r.complete);
    assert!(
        r.text().ends_with("<body>end</body></html>"),
        "fail-open passes the rest through"
    );
    assert_eq!(
        open.metric(
            "consent_gate_rewrite_failures_total",
            &[("reason", "rewrite")]
        ),
        1.0
    );
}

#[test]
fn a_gzip_bomb_is_refused_with_bounded_memory() {
    use flate2::{Compression, write::GzEncoder};
    // 1 GiB of zeros after a small HTML prefix, ~1 MB compressed.
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(page().as_bytes()).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 4 << 20, "bomb is {} bytes", bomb.len());
    let origin = Origin::start(move |_| {
        Reply::ok("text/html", bomb.clone()).header("Content-Encoding", "gzip")
    });
    let p = proxy(&origin, "");
    let r = request(p.addr, "GET", "/", &[("Accept-Encoding", "identity")]);
    assert!(
        !r.complete || r.status == 502,
        "the bomb must not be served"
    );
    assert!(r.body.len() < 512 << 20);
    assert_eq!(
        p.metric(
            "consent_gate_rewrite_failures_total",
            &[("reason", "decompression_limit")]
        ),
        1.0
    );
    let peak = p.peak_rss();
    assert!(peak < 256 << 20, "proxy peak RSS {} MiB", peak >> 20);
    assert_eq!(get(p.admin, "/healthz", &[]).status, 200);
}

#[test]
fn a_multi_hundred_megabyte_page_streams_in_bounded_memory() {
    // 300 MiB of HTML, each 64 KiB chunk carrying one tracker to neutralize.
    let mut chunk = format!("<div>{TRACKER}</div>");
    while chunk.len() < 64 * 1024 {
        chunk.push_str("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n");
    }
    let chunks = 300 * 1024 * 1024 / chunk.len();
    let served = chunk.clone();
    let origin = Origin::start(move |_| Reply::ok("text/html", served.clone()).repeated(chunks));
    let p = proxy(&origin, "");
    let mut leaked = false;
    let (resp, total, complete) = get_streaming(p.addr, "/", &[], &mut |c| {
        leaked |= c.windows(12).any(|w| w == b" src=\"https:");
    });
    assert_eq!(resp.status, 200);
    assert!(complete);
    assert!(total > 300 * 1000 * 1000, "streamed {total} bytes");
    assert!(!leaked, "a tracker src survived");
    assert_eq!(
        p.metric(
            "consent_gate_elements_neutralized_total",
            &[("kind", "script")]
        ),
        chunks as f64
    );
    let peak = p.peak_rss();
    assert!(
        peak < 128 << 20,
        "proxy peak RSS {} MiB while streaming 300 MiB",
        peak >> 20
    );
}

/// A repeated page is served from the memo with the same bytes; a changed body, other consent
/// or new rules never get remembered bytes.
#[test]
fn repeated_pages_come_from_the_memo_and_never_a_wrong_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let counter = std::sync::Arc::new(AtomicUsize::new(0));
    let c = std::sync::Arc::clone(&counter);
    let both = format!(
        "<html><head>{TRACKER}<script src=\"https://connect.facebook.net/en_US/fbevents.js\"></script></head><body>hello</body></html>"
    );
    let origin = Origin::start(move |req| match req.path.as_str() {
        "/same" => Reply::ok("text/html", both.clone()),
        "/changing" => {
            let n = c.fetch_add(1, Ordering::Relaxed);
            Reply::ok(
                "text/html",
                format!("<html><head>{TRACKER}</head><body>visit {n}</body></html>"),
            )
        }
        _ => Reply::new(404),
    });
    let p = proxy(&origin, "");
    let hits = |p: &Proxy| {
        p.metric(
            "consent_gate_memo_lookups_total",
            &[("site", "s"), ("result", "hit")],
        )
    };
    let misses = |p: &Proxy| {
        p.metric(
            "consent_gate_memo_lookups_total",
            &[("site", "s"), ("result", "miss")],
        )
    };

    // The first sighting of a body only notes it; the second stores the rewrite; the third
    // is served from the memo.
    let first = p.get("/same", &[]);
    assert_eq!(first.status, 200);
    assert!(first.text().contains("data-consent-src"));
    assert_eq!(p.metric("consent_gate_memo_entries", &[]), 0.0);
    assert_eq!(p.get("/same", &[]).body, first.body);
    assert_eq!(p.metric("consent_gate_memo_entries", &[]), 1.0);
    let third = p.get("/same", &[]);
    assert_eq!(third.body, first.body, "the same bytes from the memo");
    assert_eq!((misses(&p), hits(&p)), (2.0, 1.0));
    // A hit counts the same neutralizations as a rewrite.
    let counted = p.metric(
        "consent_gate_elements_neutralized_total",
        &[
            ("site", "s"),
            ("kind", "script"),
            ("category", "analytics"),
            ("action", "neutralized"),
        ],
    );
    assert_eq!(
        counted, 3.0,
        "every response counted its neutralized script"
    );

    // Other consent: another rewrite (analytics allowed, marketing still denied).
    let analytics = p.get("/same", &[("Cookie", "consent_gate=v1.analytics:1")]);
    assert_ne!(analytics.body, first.body);
    assert!(
        analytics
            .text()
            .contains("googletagmanager.com/gtag/js?id=G-1\"></script>")
    );
    assert_eq!(misses(&p), 3.0);

    // A body that changes on every request never hits, each visitor gets their own body, and
    // none of them takes room in the memo.
    let a = p.get("/changing", &[]).text();
    let b = p.get("/changing", &[]).text();
    let c = p.get("/changing", &[]).text();
    assert!(
        a.contains("visit 0") && b.contains("visit 1") && c.contains("visit 2"),
        "{a}\n{b}\n{c}"
    );
    assert_eq!((misses(&p), hits(&p)), (6.0, 1.0));
    assert_eq!(p.metric("consent_gate_memo_entries", &[]), 1.0);

    // New rules: the memo starts empty.
    assert_eq!(request(p.admin, "POST", "/reload", &[]).status, 200);
    assert_eq!(p.get("/same", &[]).body, first.body);
    assert_eq!(p.get("/same", &[]).body, first.body);
    assert_eq!((misses(&p), hits(&p)), (8.0, 1.0));
}

/// A page the origin sends slowly reaches the visitor as it comes: the head and the first part,
/// rewritten, arrive while the origin is still working on the rest (memo off, so nothing is
/// held back; also a plain pass-through stream).
#[test]
fn a_slow_page_reaches_the_visitor_as_it_comes() {
    use std::io::{BufRead, Read};
    use std::sync::mpsc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            if !head.ends_with(b"\r\n\r\n") {
                continue; // a health check's connection: no request
            }
            let first = format!("<html><head>{TRACKER}</head><body><p>first part</p>");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n{:X}\r\n{first}\r\n",
                first.len()
            );
            let _ = s.flush();
            // The rest only once the visitor has the first part (or the test gave up).
            let _ = released.recv();
            let rest = "<p>second part</p></body></html>";
            let _ = write!(s, "{:X}\r\n{rest}\r\n0\r\n\r\n", rest.len());
            let _ = s.flush();
            return;
        }
    });
    let p = Proxy::start(
        addr,
        SITE,
        "[html]\nmemo = false\n",
        &[("rules.toml", &curated_rules())],
    );
    let mut client = TcpStream::connect(p.addr).unwrap();
    client.set_read_timeout(Some(common::patience())).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(client);
    let mut seen = String::new();
    while !seen.contains("first part") {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .expect("the first part arrives while the origin holds the rest");
        assert!(n > 0, "connection closed early: {seen}");
        seen.push_str(&line);
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.contains("data-consent-src=\"https://www.googletagmanager.com/gtag/js?id=G-1\""),
        "the first part is rewritten: {seen}"
    );
    release.send(()).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("second part"), "{rest}");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the body ends properly: {rest:?}"
    );
}
