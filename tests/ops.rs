//! Operations: the metrics catalogue and the Grafana dashboard match what is exported, JSON and
//! audit logs, TLS (HTTP/1.1 and HTTP/2 downstream, verified TLS upstream), graceful shutdown
//! and zero-downtime upgrade.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{Origin, Proxy, Reply, config_text, curated_rules, eventually, get, request};

const SITE: &str =
    "[[site]]\nname = \"shop\"\nhosts = [\"www.example.com\"]\nupstreams = [\"{origin}\"]\n";
const PAGE: &str = r#"<html><head><script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script><script>fbq('init','1')</script></head><body><iframe src="https://www.youtube.com/embed/x"></iframe></body></html>"#;

fn origin() -> Origin {
    Origin::start(|req| match req.path.as_str() {
        "/slow" => {
            thread::sleep(Duration::from_millis(1500));
            Reply::ok("text/plain", "slow done")
        }
        "/json" => Reply::ok("application/json", "{}").header("Set-Cookie", "sid=1; Path=/"),
        _ => Reply::ok("text/html", PAGE)
            .header("Set-Cookie", "_ga=1; Path=/")
            .header("Set-Cookie", "_fbp=1; Path=/")
            .header("Set-Cookie", "mystery=1; Path=/"),
    })
}

fn start(origin: &Origin, extra: &str, args: &[&str], filter: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), curated_rules()).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], extra, SITE);
    Proxy::start_raw_with(dir, &config, args, filter)
}

/// Metric family names in a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn documented_and_dashboard_metrics_are_all_exported_with_the_expected_values() {
    let origin = origin();
    let p = start(&origin, "", &[], "warn");
    // A scripted mix of traffic.
    p.get("/", &[("Cookie", "_ga=1; sid=2; OptanonConsent=%FF")]);
    p.get("/json", &[("Cookie", "consent_gate=v1.analytics:1")]);
    get(p.addr, "/", &[("Host", "unknown.example.net")]);
    assert_eq!(request(p.admin, "POST", "/reload", &[]).status, 200);
    let m = p.metrics();
    let names = exported(&m);

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let documented: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `consent_gate_"))
        .filter_map(|l| l.split('`').next())
        .map(|n| format!("consent_gate_{n}"))
        .collect();
    assert!(documented.len() >= 18, "{documented:?}");
    for name in &documented {
        assert!(
            names.contains(name),
            "{name} is documented but not exported"
        );
    }
    for name in names.iter().filter(|n| n.starts_with("consent_gate_")) {
        assert!(
            documented.contains(name),
            "{name} is exported but not documented in the README"
        );
    }

    let dashboard = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/grafana/consent-gate.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut queried = BTreeSet::new();
    for panel in json["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("consent_gate_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .fold(name.clone(), |n, s| {
                        n.strip_suffix(s).map_or(n.clone(), str::to_owned)
                    });
                queried.insert(base);
            }
        }
    }
    assert!(queried.len() >= 15, "{queried:?}");
    for name in &queried {
        assert!(
            names.contains(name),
            "the dashboard queries {name}, which is not exported"
        );
    }

    let v = |name: &str, labels: &[(&str, &str)]| common::metric_value(&m, name, labels);
    assert_eq!(
        v(
            "consent_gate_requests_total",
            &[("site", "shop"), ("mode", "enforce")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "consent_gate_set_cookie_total",
            &[("category", "analytics"), ("action", "stripped")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_set_cookie_total",
            &[("category", "marketing"), ("action", "stripped")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_set_cookie_total",
            &[("category", "unknown"), ("action", "kept")]
        ),
        2.0
    );
    assert_eq!(
        v("consent_gate_unknown_cookies_total", &[("site", "shop")]),
        2.0
    );
    assert_eq!(
        v(
            "consent_gate_request_cookies_stripped_total",
            &[("category", "analytics")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_withdrawals_total",
            &[("category", "analytics")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_elements_neutralized_total",
            &[("kind", "script")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_elements_neutralized_total",
            &[("kind", "inline_script")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_elements_neutralized_total",
            &[("kind", "iframe")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_consent_parse_failures_total",
            &[("source", "onetrust")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_gate_consent_source_total",
            &[("source", "consent-gate")]
        ),
        1.0
    );
    assert_eq!(
        v("consent_gate_consent_source_total", &[("source", "none")]),
        1.0
    );
    assert_eq!(v("consent_gate_unknown_host_requests_total", &[]), 1.0);
    assert_eq!(
        v("consent_gate_rule_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(v("consent_gate_rules_generation", &[]), 2.0);
    assert_eq!(v("consent_gate_html_rewrite_seconds_count", &[]), 1.0);
    assert_eq!(
        v("consent_gate_html_bytes_total", &[("site", "shop")]),
        PAGE.len() as f64
    );
    assert_eq!(
        v(
            "consent_gate_upstream_response_seconds_count",
            &[("site", "shop")]
        ),
        2.0
    );
    assert!(v("consent_gate_rules_loaded_timestamp_seconds", &[]) > 1.7e9);
    // No label value comes from the wire.
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("mystery") && !line.contains("example"),
            "unbounded label: {line}"
        );
    }
}

#[test]
fn json_access_and_audit_logs_name_the_rule() {
    let origin = origin();
    let p = start(
        &origin,
        "[logging]\naudit = true\n",
        &["--log-format", "json"],
        "info",
    );
    p.get("/", &[("Cookie", "_ga=1")]);
    let lines = eventually("the access line is logged", || {
        let lines: Vec<serde_json::Value> = p
            .logs()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        lines
            .iter()
            .any(|l| l["target"] == "access")
            .then_some(lines)
    });
    let access = lines
        .iter()
        .find(|l| l["target"] == "access")
        .expect("an access line");
    assert_eq!(access["site"], "shop");
    assert_eq!(access["status"], 200);
    assert_eq!(access["consent_source"], "none");
    assert_eq!(access["denied"], "functional,analytics,marketing");
    assert_eq!(access["set_cookies_stripped"], 2);
    assert_eq!(access["neutralized"], 3);
    assert!(access["duration_ms"].as_f64().unwrap() > 0.0);
    let audit: Vec<&serde_json::Value> = lines.iter().filter(|l| l["target"] == "audit").collect();
    let strip = audit
        .iter()
        .find(|l| l["action"] == "strip_request_cookie")
        .expect("request cookie audit");
    assert_eq!(strip["cookie"], "_ga");
    assert!(
        strip["rule"].as_str().unwrap().contains("rules.toml:"),
        "{strip}"
    );
    assert!(
        audit
            .iter()
            .any(|l| l["action"] == "strip_set_cookie" && l["cookie"] == "_fbp")
    );
    assert!(audit.iter().any(|l| l["action"] == "neutralized"
        && l["kind"] == "iframe"
        && l["vendor"] == "YouTube"));
}

/// A CA and a certificate for `localhost` / 127.0.0.1 signed by it, written as PEM files.
fn certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "consent-gate test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is needed for the TLS test");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_listener_speaks_http1_and_h2_and_tls_upstreams_are_verified() {
    let origin = origin();
    // Front: plain origin behind a TLS listener.
    let front_dir = tempfile::tempdir().unwrap();
    certificates(front_dir.path());
    std::fs::write(front_dir.path().join("rules.toml"), curated_rules()).unwrap();
    let tls_addr = common::free_addr();
    let tls = format!("[[tls]]\nlisten = \"{tls_addr}\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    let ca = front_dir.path().join("ca.pem");
    let config = config_text(front_dir.path(), origin.addr, &["rules.toml"], &tls, SITE);
    let front = Proxy::start_raw(front_dir, &config);
    // The harness moves a listener whose port was taken meanwhile: read back where it is.
    let written = std::fs::read_to_string(front.dir.path().join("config.toml")).unwrap();
    let tls_addr: std::net::SocketAddr = written
        .split("[[tls]]\nlisten = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("https://www.example.com:{}/", tls_addr.port());
    let resolve = format!("www.example.com:{}:127.0.0.1", tls_addr.port());
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (ok, body, err) = curl(&[
            flag,
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_version}",
            &url,
        ]);
        // The certificate names localhost and 127.0.0.1; connect by IP with the Host header set.
        let (ok, body) = if ok {
            (ok, body)
        } else {
            let ip_url = format!("https://127.0.0.1:{}/", tls_addr.port());
            let (ok2, body2, err2) = curl(&[
                flag,
                "--cacert",
                ca.to_str().unwrap(),
                "-H",
                "Host: www.example.com",
                "-w",
                "\n%{http_version}",
                &ip_url,
            ]);
            assert!(ok2, "curl {flag}: {err} / {err2}");
            (ok2, body2)
        };
        assert!(ok);
        assert!(body.ends_with(&format!("\n{version}")), "{flag}: {body}");
        assert!(
            body.contains("data-consent-src=\"https://www.googletagmanager.com"),
            "{flag}: {body}"
        );
    }

    // Back: a second proxy whose upstream is the TLS listener, verified against the test CA.
    let back_dir = tempfile::tempdir().unwrap();
    std::fs::write(back_dir.path().join("rules.toml"), curated_rules()).unwrap();
    std::fs::copy(&ca, back_dir.path().join("ca.pem")).unwrap();
    let tls_site = format!(
        "[[site]]\nname = \"shop\"\nhosts = [\"www.example.com\"]\nupstreams = [\"{tls_addr}\"]\ntls = true\nsni = \"localhost\"\n"
    );
    let extra = "[server]\n";
    let _ = extra;
    let mut config = config_text(back_dir.path(), origin.addr, &["rules.toml"], "", &tls_site);
    config = config.replace(
        "upgrade_sock",
        "upstream_ca_file = \"ca.pem\"\nupgrade_sock",
    );
    let back = Proxy::start_raw(back_dir, &config);
    let r = back.get("/json", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "{}");

    // Without the CA the upstream certificate is refused: 502, never an unverified connection.
    let untrusting_dir = tempfile::tempdir().unwrap();
    std::fs::write(untrusting_dir.path().join("rules.toml"), curated_rules()).unwrap();
    let config = config_text(
        untrusting_dir.path(),
        origin.addr,
        &["rules.toml"],
        "",
        &tls_site,
    );
    let untrusting = Proxy::start_raw(untrusting_dir, &config);
    assert_eq!(untrusting.get("/json", &[]).status, 502);
    drop(front);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), curated_rules()).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", SITE)
        .replace("grace_period_seconds = 0", "grace_period_seconds = 4");
    let p = Proxy::start_raw(dir, &config);
    let addr = p.addr;
    let slow = thread::spawn(move || request(addr, "GET", "/slow", &[]));
    eventually("the slow request reaches the origin", || {
        origin
            .requests()
            .iter()
            .any(|r| r.path == "/slow")
            .then_some(())
    });
    assert_eq!(get(p.admin, "/readyz", &[]).status, 200);
    p.signal("TERM");
    // From the signal until the process exits, probes get 503 (never a refused connection),
    // so a load balancer drains the proxy while in-flight requests finish.
    eventually("readiness turns 503 at SIGTERM", || {
        (get(p.admin, "/readyz", &[]).status == 503).then_some(())
    });
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "slow done");
    assert_eq!(
        get(p.admin, "/readyz", &[]).status,
        503,
        "still answering, not ready, in the grace period"
    );
    assert!(
        get(p.admin, "/metrics", &[])
            .text()
            .contains("consent_gate_requests_total")
    );
    let mut p = p;
    eventually("the proxy exits after SIGTERM", || {
        (!p.is_running()).then_some(())
    });
}

#[test]
fn upgrade_hands_listeners_over_without_a_failed_request() {
    let origin = origin();
    // The old process drains in-flight requests for the grace period after handing over its
    // listeners (production default 10 s; 2 s here).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), curated_rules()).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", SITE)
        .replace("grace_period_seconds = 0", "grace_period_seconds = 2");
    let p = Proxy::start_raw(dir, &config);
    let dir = p.config_dir().to_owned();
    let addr = p.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && sent.load(Ordering::Relaxed) < 50_000 {
                let ok = std::panic::catch_unwind(|| request(addr, "GET", "/json", &[]))
                    .is_ok_and(|r| r.status == 200);
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    eventually("the load is running", || {
        (sent.load(Ordering::Relaxed) >= 10).then_some(())
    });
    // The new process waits for the listeners; SIGQUIT makes the old one hand them over.
    let log = std::fs::File::create(dir.join("new.log")).unwrap();
    let mut new = Command::new(common::binary())
        .args(["run", "--upgrade", "--config"])
        .arg(dir.join("config.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // The new process listens on the upgrade socket once it is ready to receive (the old one
    // retries the handover while the socket is not accepting yet).
    eventually("the new process opens the upgrade socket", || {
        dir.join("upgrade.sock").exists().then_some(())
    });
    p.signal("QUIT");
    let mut old = p;
    eventually("the old process exits", || {
        (!old.is_running()).then_some(())
    });
    let before = sent.load(Ordering::Relaxed);
    eventually("the new process serves after the old one exited", || {
        (sent.load(Ordering::Relaxed) >= before + 20).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let total = sent.load(Ordering::Relaxed);
    assert!(
        total > before,
        "the new process serves after the old one exited"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} of {total} requests failed during the upgrade",
        failed.load(Ordering::Relaxed)
    );
    eventually("the new process took the admin listener too", || {
        (std::panic::catch_unwind(|| get(old.admin, "/readyz", &[]).status).ok() == Some(200))
            .then_some(())
    });
    let _ = new.kill();
    let _ = new.wait();
}
