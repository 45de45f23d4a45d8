//! The command line: `check` reports precise errors, `demo` serves its page through the proxy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{binary, free_addr, get};

fn check(dir: &std::path::Path, config: &str, rules: &str) -> (bool, String, String) {
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("rules.toml"), rules).unwrap();
    let out = Command::new(binary())
        .args(["check", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CONFIG: &str = "[rules]\nfiles = [\"rules.toml\"]\n\n[[site]]\nname = \"a\"\ndefault = true\nupstreams = [\"127.0.0.1:9\"]\n";
const RULES: &str = "[[cookie]]\nname = \"_ga\"\ncategory = \"analytics\"\nvendor = \"Google\"\n";

#[test]
fn check_accepts_a_good_config_and_points_at_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = check(dir.path(), CONFIG, RULES);
    assert!(ok);
    assert!(
        out.contains("OK: 1 site(s), 1 rule file(s): 1 cookie"),
        "{out}"
    );

    let typo = CONFIG.replace("upstreams", "upstream");
    let (ok, _, err) = check(dir.path(), &typo, RULES);
    assert!(!ok);
    let expected = format!(
        "{}:7:1: unknown field `upstream`",
        dir.path().join("config.toml").display()
    );
    assert!(err.contains(&expected), "{err}");

    let broken = RULES.replace("analytics", "analytix");
    let (ok, _, err) = check(dir.path(), CONFIG, &broken);
    assert!(!ok);
    let expected = format!(
        "{}:3:12: unknown category \"analytix\"",
        dir.path().join("rules.toml").display()
    );
    assert!(err.contains(&expected), "{err}");

    let (ok, _, err) = check(
        dir.path(),
        CONFIG,
        "[[cookie]]\nregex = \"_ga(\"\ncategory = \"analytics\"\nvendor = \"G\"\n",
    );
    assert!(!ok);
    assert!(err.contains("rules.toml:2:9: bad regex"), "{err}");
}

#[test]
fn the_shipped_rules_pass_check() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rules/curated.toml");
    let out = Command::new(binary())
        .args(["check", "--rules"])
        .arg(rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_prints_urls_that_serve_the_page_through_the_proxy() {
    let listen = free_addr();
    let admin = free_addr();
    let mut child = Command::new(binary())
        .args([
            "demo",
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let url = format!("http://{listen}/");
    assert!(banner.contains(&url), "{banner}");
    // The proxy may listen a moment before the demo origin does.
    let r = common::eventually("the demo serves its page", || {
        std::net::TcpStream::connect(listen).ok()?;
        let r = get(listen, "/", &[("Host", &listen.to_string())]);
        (r.status == 200).then_some(r)
    });
    let html = r.text();
    assert!(html.contains("Acme Widgets"), "{html}");
    assert!(
        html.contains("data-consent-src=\"https://www.googletagmanager.com/gtag/js"),
        "{html}"
    );
    assert!(
        html.contains("cdn.cookielaw.org/scripttemplates/otSDKStub.js\" type=\"text/javascript\""),
        "{html}"
    );
    assert_eq!(r.cookies_set(), ["sid"]);
    let all = "consent_gate=v1.functional:1.analytics:1.marketing:1";
    let r = get(
        listen,
        "/",
        &[("Host", &listen.to_string()), ("Cookie", all)],
    );
    assert_eq!(r.text(), consent_gate::demo::PAGE);
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn explain_names_the_rule_behind_every_decision() {
    let out = Command::new(binary())
        .args([
            "explain",
            "https://www.example.com/shop",
            "--cookie",
            "_ga=GA1.1; _fbp=fb.1; _hjSessionUser_123=x; sid=1",
            "--set-cookie",
            "_fbp=fb.1.2; Path=/",
            "--resource",
            "https://connect.facebook.net/en_US/fbevents.js",
            "--resource",
            "https://www.googletagmanager.com/gtag/js?id=G-1",
            "--resource",
            "/js/app.js",
            "--resource",
            "https://cdn.cookielaw.org/scripttemplates/otSDKStub.js",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line for {prefix} in\n{text}"))
            .to_owned()
    };
    assert!(
        line("_ga:").contains("STRIP: analytics by conf/rules/curated.toml:"),
        "{text}"
    );
    assert!(
        line("_fbp:").contains("STRIP: marketing by conf/rules/curated.toml:"),
        "{text}"
    );
    assert!(
        line("_hjSessionUser_123:").contains("CookiePrefix \"_hj\""),
        "{text}"
    );
    assert!(line("sid:").contains("keep"), "{text}");
    assert!(
        text.contains(
            "_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Domain=example.com"
        ),
        "{text}"
    );
    assert!(
        line("https://connect.facebook.net")
            .contains("BLOCKED (marketing) by conf/rules/curated.toml:"),
        "{text}"
    );
    assert!(
        line("https://www.googletagmanager.com").contains("BLOCKED (analytics)"),
        "{text}"
    );
    assert!(
        line("/js/app.js").contains("allowed: relative or non-network URL (first party)"),
        "{text}"
    );
    assert!(
        line("https://cdn.cookielaw.org")
            .contains("allowed by allow rule conf/rules/curated.toml:"),
        "{text}"
    );

    // With OneTrust analytics consent, gtag.js and _ga are allowed; an HTML snippet is explained.
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("page.html");
    std::fs::write(&html, "<script src=\"https://connect.facebook.net/en_US/fbevents.js\"></script><script src=\"https://www.googletagmanager.com/gtag/js\"></script>").unwrap();
    let out = Command::new(binary())
        .args([
            "explain",
            "https://www.example.com/",
            "--cookie",
            "OptanonConsent=groups=C0002%3A1%2CC0004%3A0",
            "--html",
        ])
        .arg(&html)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("consent: source onetrust"), "{text}");
    assert!(text.contains("  analytics: allowed"), "{text}");
    assert!(text.contains("html: 1 element(s) neutralized"), "{text}");
    assert!(text.contains("script (marketing, Meta Pixel): https://connect.facebook.net/en_US/fbevents.js by conf/rules/curated.toml:"), "{text}");
    assert!(
        text.contains("<script src=\"https://www.googletagmanager.com/gtag/js\"></script>"),
        "{text}"
    );
}

#[test]
fn run_refuses_to_start_when_its_proxy_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), RULES).unwrap();
    let config = common::config_text(
        dir.path(),
        "127.0.0.1:9".parse().unwrap(),
        &["rules.toml"],
        "",
        "[[site]]\nname = \"a\"\ndefault = true\nupstreams = [\"{origin}\"]\n",
    );
    let listen: std::net::SocketAddr = config
        .lines()
        .find_map(|l| l.strip_prefix("listen = [\""))
        .and_then(|l| l.strip_suffix("\"]"))
        .unwrap()
        .parse()
        .unwrap();
    // Another program already serves on the proxy's address.
    let _taken = std::net::TcpListener::bind(listen).unwrap();
    std::fs::write(dir.path().join("config.toml"), &config).unwrap();
    let child = Command::new(binary())
        .args(["run", "--config"])
        .arg(dir.path().join("config.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if it does not exit in time.
    let mut child = common::KillOnDrop(Some(child));
    let status = common::eventually("consent-gate exits", || child.get().try_wait().unwrap());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.get().stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains(&format!("proxy listener {listen}: Address already in use")),
        "{err}"
    );
}
