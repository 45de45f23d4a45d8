//! `consent-gate explain` against the running proxy: for the same config, rules and request, what
//! explain says is what the proxy does (collector paths answered 204, cookies kept from the
//! origin, Set-Cookie lines delivered, withdrawal lines added).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{Origin, Proxy, Reply, binary, curated_rules};

const SITE: &str = r#"
[[site]]
name = "shop"
hosts = ["www.example.com"]
upstreams = ["{origin}"]
"#;

const SET_COOKIES: [&str; 3] = [
    "_ga=GA1.1.123.456; Path=/; Max-Age=63072000",
    "sid=s3ss10n; Path=/; HttpOnly",
    "_fbp=fb.1.1.2; Path=/; Domain=.example.com",
];

fn origin() -> Origin {
    Origin::start(|_| {
        let mut reply = Reply::ok("text/plain", "ok");
        for c in SET_COOKIES {
            reply = reply.header("Set-Cookie", c);
        }
        reply
    })
}

/// Runs `explain` with the proxy's own config for `path` and a Cookie header.
fn explain(proxy: &Proxy, path: &str, cookie: &str) -> String {
    let mut cmd = Command::new(binary());
    cmd.arg("explain")
        .arg("--config")
        .arg(proxy.dir.path().join("config.toml"))
        .arg(format!("https://www.example.com{path}"));
    if !cookie.is_empty() {
        cmd.args(["--cookie", cookie]);
    }
    for c in SET_COOKIES {
        cmd.args(["--set-cookie", c]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Set-Cookie lines explain says the client gets: kept origin lines and added lines.
fn explained_set_cookies(text: &str) -> BTreeSet<String> {
    let mut section = "";
    let mut lines = BTreeSet::new();
    for l in text.lines() {
        if !l.starts_with(' ') {
            section = l;
            continue;
        }
        let l = l.trim();
        if let Some(added) = l.strip_prefix("response adds Set-Cookie: ") {
            lines.insert(added.to_owned());
        } else if section.starts_with("response Set-Cookie")
            && let Some((name, rest)) = l.split_once(": ")
            && rest.starts_with("keep")
        {
            let full = SET_COOKIES
                .iter()
                .find(|c| c.starts_with(&format!("{name}=")))
                .unwrap();
            lines.insert((*full).to_owned());
        }
    }
    lines
}

/// Cookies explain says reach the origin.
fn explained_request_cookies(text: &str) -> BTreeSet<String> {
    let mut in_section = false;
    let mut kept = BTreeSet::new();
    for l in text.lines() {
        if !l.starts_with(' ') {
            in_section = l.starts_with("request cookies");
            continue;
        }
        if in_section
            && let Some((name, rest)) = l.trim().split_once(": ")
            && rest.starts_with("keep")
        {
            kept.insert(name.to_owned());
        }
    }
    kept
}

#[test]
fn explain_shows_what_the_proxy_does() {
    let origin = origin();
    let rules = curated_rules();
    let proxy = Proxy::start(origin.addr, SITE, "", &[("rules.toml", &rules)]);
    let cases = [
        ("/matomo.php?idsite=1&rec=1", ""),
        ("/matomo.php?idsite=1&rec=1", "consent_gate=v1.analytics:1"),
        (
            "/shop",
            "_ga=GA1.1.9; sid=abc; _fbp=fb.1.9; theme=dark; _hjSessionUser_1=x",
        ),
        ("/shop", "_ga=GA1.1.9; sid=abc; consent_gate=v1.analytics:1"),
        (
            "/",
            "OptanonConsent=groups=C0001%3A1%2CC0002%3A1%2CC0004%3A1; _fbp=fb.1; _ga=GA1.2",
        ),
    ];
    let mut withdrawals = 0;
    for (path, cookie) in cases {
        let before = origin.requests().len();
        let mut headers = Vec::new();
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie));
        }
        let r = proxy.get(path, &headers);
        let text = explain(&proxy, path, cookie);
        let case = format!("{path} with {cookie:?}:\n{text}");
        let blocked = text.contains("BLOCKED: answered 204 No Content");
        assert_eq!(r.status == 204, blocked, "{case}");
        let reached = origin.requests().len() > before;
        assert_eq!(reached, !blocked, "{case}");
        if blocked {
            assert!(text.contains("by path rule"), "{case}");
            assert!(text.contains("rules.toml:"), "{case}");
            continue;
        }
        let sent: BTreeSet<String> = origin
            .last_request()
            .header("cookie")
            .unwrap_or_default()
            .split("; ")
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap().to_owned())
            .collect();
        assert_eq!(sent, explained_request_cookies(&text), "{case}");
        let delivered: BTreeSet<String> = r
            .headers_named("set-cookie")
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(delivered, explained_set_cookies(&text), "{case}");
        withdrawals += delivered.iter().filter(|c| c.contains("Max-Age=0")).count();
    }
    assert!(withdrawals >= 2, "no case exercised withdrawal lines");
}

#[test]
fn explain_shows_report_only_path_rules_as_would_block() {
    let origin = origin();
    let rules = curated_rules();
    let site = SITE.replace("upstreams", "mode = \"report-only\"\nupstreams");
    let proxy = Proxy::start(origin.addr, &site, "", &[("rules.toml", &rules)]);
    let r = proxy.get("/matomo.php", &[]);
    assert_eq!(r.status, 200);
    let text = explain(&proxy, "/matomo.php", "");
    assert!(
        text.contains("request /matomo.php: would be BLOCKED (report-only: sent to the origin); analytics by path rule"),
        "{text}"
    );
}
