//! Faults on either side of the proxy, each followed by a health check: clients that hold
//! connections open (slow headers, idle keep-alive, too many connections) and origins that
//! fail in every way an origin can.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Origin, Proxy, Reply, config_text, curated_rules, eventually, get};

const SITE: &str = "[[site]]\nname = \"s\"\nhosts = [\"www.example.com\"]\ndefault = true\nupstreams = [\"{origin}\"]\n";

/// A proxy with short downstream limits: 2 s for headers, 2 s idle, at most `max` connections.
fn limited_proxy(origin: &Origin, max: usize) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), curated_rules()).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", SITE).replace(
        "graceful_shutdown_timeout_seconds = 1",
        &format!(
            "graceful_shutdown_timeout_seconds = 1\nheader_timeout_seconds = 2\nidle_timeout_seconds = 2\nmax_connections = {max}"
        ),
    );
    Proxy::start_raw(dir, &config)
}

fn origin() -> Origin {
    Origin::start(|_| Reply::ok("text/plain", "fine"))
}

/// Whether the peer closed the connection (EOF or reset) before `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_header_clients_are_cut_off_at_the_deadline_while_others_are_served() {
    let origin = origin();
    let p = limited_proxy(&origin, 1000);
    let addr = p.addr;
    // 40 clients send a request line and then one header byte every 300 ms: each byte would
    // reset a per-read timeout, never the header deadline.
    let started = Instant::now();
    let slow: Vec<_> = (0..40)
        .map(|_| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\nX-Slow: ")
                    .unwrap();
                let begun = Instant::now();
                for _ in 0..100 {
                    thread::sleep(Duration::from_millis(300));
                    if s.write_all(b"a").is_err() {
                        return begun.elapsed();
                    }
                    if closed_within(&mut s, Duration::from_millis(1)) {
                        return begun.elapsed();
                    }
                }
                panic!("a slow-header connection stayed open for 30 s");
            })
        })
        .collect();
    // Normal requests go through meanwhile.
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        let r = p.get("/", &[]);
        worst = worst.max(t.elapsed());
        assert_eq!(r.status, 200);
        thread::sleep(Duration::from_millis(20));
    }
    for h in slow {
        let open_for = h.join().unwrap();
        assert!(
            open_for < Duration::from_secs(6),
            "closed after {open_for:?} (deadline 2 s)"
        );
    }
    eprintln!("slowest normal request during the attack: {worst:?}");
    assert!(
        p.metric(
            "consent_gate_downstream_closed_total",
            &[("reason", "header_timeout")]
        ) >= 40.0
    );
    assert_eq!(p.get("/", &[]).status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed_and_counted() {
    let origin = origin();
    let p = limited_proxy(&origin, 1000);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then idle: closed after the idle timeout (2 s), not held forever.
    assert!(
        closed_within(&mut s, Duration::from_secs(8)),
        "idle connection closed"
    );
    eventually("the idle close is counted", || {
        (p.metric(
            "consent_gate_downstream_closed_total",
            &[("reason", "idle_timeout")],
        ) >= 1.0)
            .then_some(())
    });
    assert_eq!(p.get("/", &[]).status, 200);
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once_and_the_cap_frees_up() {
    let origin = origin();
    let p = limited_proxy(&origin, 8);
    // Eight silent connections hold every slot (until their header deadline).
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(p.addr).unwrap())
        .collect();
    eventually("the eight connections are counted", || {
        (p.metric("consent_gate_downstream_connections", &[]) >= 8.0).then_some(())
    });
    let mut extra = TcpStream::connect(p.addr).unwrap();
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert!(
        closed_within(&mut extra, Duration::from_secs(1)),
        "a ninth connection is closed at once"
    );
    assert!(
        p.metric(
            "consent_gate_downstream_closed_total",
            &[("reason", "connection_limit")]
        ) >= 1.0
    );
    drop(held);
    eventually("slots are released when clients close", || {
        (p.metric("consent_gate_downstream_connections", &[]) == 0.0).then_some(())
    });
    assert_eq!(p.get("/", &[]).status, 200);
    assert_eq!(get(p.admin, "/healthz", &[]).status, 200);
}
