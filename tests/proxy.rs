//! End to end: the real proxy between a raw HTTP client and a scripted origin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Origin, Proxy, Reply, curated_rules, get, metric_value};

const SITE: &str = r#"
[[site]]
name = "shop"
hosts = ["www.example.com"]
upstreams = ["{origin}"]
"#;

const JURISDICTION: &str = r#"
[jurisdiction]
country_header = "CF-IPCountry"
regions = { US = "opt-out" }
"#;

const GTAG: &str =
    r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>"#;
const ONETRUST: &str = r#"<script src="https://cdn.cookielaw.org/scripttemplates/otSDKStub.js" data-domain-script="x"></script>"#;

fn page() -> String {
    format!(
        "<!doctype html><html><head>{ONETRUST}\n{GTAG}\n</head><body><p>Hello</p></body></html>"
    )
}

/// An origin that sets `_ga`, `_fbp` and a session cookie on an HTML page, and serves JSON and
/// an image.
fn origin() -> Origin {
    Origin::start(|req| match req.path.as_str() {
        "/api.json" => Reply::ok(
            "application/json",
            r#"{"fbq(":"https://www.googletagmanager.com/gtag/js"}"#,
        ),
        "/pixel.png" => Reply::ok("image/png", vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3]),
        "/redirect" => Reply::new(302)
            .header("Location", "/")
            .header("Set-Cookie", "_ga=GA1.1.1; Path=/")
            .header("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
        _ => Reply::ok("text/html; charset=utf-8", page())
            .header("Set-Cookie", "_ga=GA1.1.123.456; Path=/; Max-Age=63072000")
            .header("Set-Cookie", "sid=s3ss10n; Path=/; HttpOnly; SameSite=Lax")
            .header("Set-Cookie", "_fbp=fb.1.1.2; Path=/; Domain=.example.com")
            .header("ETag", "\"v1\""),
    })
}

fn start(origin: &Origin, sites: &str) -> Proxy {
    Proxy::start(
        origin.addr,
        sites,
        JURISDICTION,
        &[("rules.toml", &curated_rules())],
    )
}

#[test]
fn without_consent_only_the_session_cookie_survives() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.cookies_set(), ["sid"]);
    // Kept lines are byte-identical.
    assert_eq!(
        r.headers_named("set-cookie"),
        ["sid=s3ss10n; Path=/; HttpOnly; SameSite=Lax"]
    );
    // Redirects are enforced too.
    let r = proxy.get("/redirect", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.cookies_set(), ["sid"]);
    assert_eq!(
        proxy.metric(
            "consent_gate_set_cookie_total",
            &[("category", "analytics"), ("action", "stripped")]
        ),
        2.0
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_set_cookie_total",
            &[("category", "marketing"), ("action", "stripped")]
        ),
        1.0
    );
}

#[test]
fn onetrust_and_cookiebot_analytics_consent_keep_ga_but_not_fbp() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let onetrust = "OptanonConsent=isGpcEnabled=0&datestamp=Sat+Aug+16+2025&groups=C0001%3A1%2CC0002%3A1%2CC0004%3A0";
    let r = proxy.get("/", &[("Cookie", onetrust)]);
    assert_eq!(r.cookies_set(), ["_ga", "sid"]);
    let cookiebot = "CookieConsent={stamp:%27abc+def%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1}";
    let r = proxy.get("/", &[("Cookie", cookiebot)]);
    assert_eq!(r.cookies_set(), ["_ga", "sid"]);
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_source_total",
            &[("source", "onetrust")]
        ),
        1.0
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_source_total",
            &[("source", "cookiebot")]
        ),
        1.0
    );
}

#[test]
fn opt_out_region_keeps_everything_unless_gpc() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/", &[("CF-IPCountry", "US")]);
    assert_eq!(r.cookies_set(), ["_ga", "sid", "_fbp"]);
    assert_eq!(
        r.text(),
        page(),
        "nothing is denied, so the page is untouched"
    );
    let r = proxy.get("/", &[("CF-IPCountry", "US"), ("Sec-GPC", "1")]);
    assert_eq!(r.cookies_set(), ["_ga", "sid"]);
    // The origin still sees the visitor's GPC signal.
    assert_eq!(origin.last_request().header("sec-gpc"), Some("1"));
    // In an opt-in country the same visitor gets the opt-in default.
    let r = proxy.get("/", &[("CF-IPCountry", "DE")]);
    assert_eq!(r.cookies_set(), ["sid"]);
    assert_eq!(
        proxy.metric(
            "consent_gate_requests_total",
            &[("jurisdiction", "opt-out")]
        ),
        2.0
    );
}

#[test]
fn request_cookies_without_consent_never_reach_the_origin_and_are_withdrawn() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/api.json", &[("Cookie", "_ga=1; sid=2")]);
    let seen = origin.last_request();
    assert_eq!(seen.headers_named("cookie"), ["sid=2"]);
    let set = r.headers_named("set-cookie");
    assert!(
        set.contains(&"_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"),
        "{set:?}"
    );
    assert!(
        set.contains(
            &"_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Domain=example.com"
        ),
        "{set:?}"
    );
    assert!(!set.iter().any(|l| l.starts_with("sid=")), "{set:?}");
    // Split cookie header fields (as HTTP/2 browsers send them) are all read.
    let split = [
        ("Cookie", "sid=2"),
        ("Cookie", "_fbp=x; _ga=y"),
        ("Cookie", "OptanonConsent=groups=C0004%3A1"),
    ];
    proxy.get("/api.json", &split);
    assert_eq!(
        origin.last_request().headers_named("cookie"),
        ["sid=2; _fbp=x; OptanonConsent=groups=C0004%3A1"]
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_request_cookies_stripped_total",
            &[("category", "analytics")]
        ),
        2.0
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_withdrawals_total",
            &[("category", "analytics")]
        ),
        2.0
    );
}

#[test]
fn gtag_is_inert_without_consent_and_the_page_is_identical_with_it() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/", &[]);
    let html = r.text();
    assert!(
        !html.contains(r#" src="https://www.googletagmanager.com"#),
        "{html}"
    );
    assert!(html.contains(r#"data-consent-src="https://www.googletagmanager.com/gtag/js?id=G-1" type="text/plain" data-consent-category="analytics""#), "{html}");
    assert!(
        html.contains(ONETRUST),
        "the consent tool is untouched: {html}"
    );
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("etag"), Some("W/\"v1\""));
    assert_eq!(r.header("vary"), Some("Cookie"));
    assert_eq!(
        origin.last_request().header("accept-encoding"),
        Some("identity")
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_elements_neutralized_total",
            &[("kind", "script"), ("category", "analytics")]
        ),
        1.0
    );

    let all = "consent_gate=v1.functional:1.analytics:1.marketing:1";
    let r = proxy.get("/", &[("Cookie", all), ("Accept-Encoding", "gzip")]);
    assert_eq!(r.text(), page());
    assert_eq!(
        r.header("content-length"),
        Some(page().len().to_string().as_str())
    );
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(
        origin.last_request().header("accept-encoding"),
        Some("gzip")
    );
}

#[test]
fn json_and_images_pass_through_byte_identical() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/api.json", &[]);
    assert_eq!(
        r.text(),
        r#"{"fbq(":"https://www.googletagmanager.com/gtag/js"}"#
    );
    assert_eq!(r.header("content-length"), Some("51"));
    let r = proxy.get("/pixel.png", &[]);
    assert_eq!(r.body, [0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
    assert_eq!(r.header("content-length"), Some("8"));
    assert_eq!(r.header("transfer-encoding"), None);
}

#[test]
fn report_only_changes_nothing_but_counts() {
    let origin = origin();
    let site = SITE.replace("upstreams", "mode = \"report-only\"\nupstreams");
    let proxy = start(&origin, &site);
    let r = proxy.get("/", &[("Cookie", "_ga=1; sid=2")]);
    assert_eq!(r.text(), page());
    assert_eq!(r.cookies_set(), ["_ga", "sid", "_fbp"]);
    assert_eq!(
        r.header("content-length"),
        Some(page().len().to_string().as_str())
    );
    assert_eq!(
        origin.last_request().headers_named("cookie"),
        ["_ga=1; sid=2"]
    );
    let m = proxy.metrics();
    assert_eq!(
        metric_value(
            &m,
            "consent_gate_set_cookie_total",
            &[("action", "would_strip")]
        ),
        2.0
    );
    assert_eq!(
        metric_value(
            &m,
            "consent_gate_request_cookies_stripped_total",
            &[("action", "would_strip")]
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &m,
            "consent_gate_elements_neutralized_total",
            &[("action", "would_neutralize")]
        ),
        1.0
    );
    assert_eq!(metric_value(&m, "consent_gate_withdrawals_total", &[]), 0.0);
}

#[test]
fn mode_off_is_a_plain_proxy() {
    let origin = origin();
    let site = SITE.replace("upstreams", "mode = \"off\"\nupstreams");
    let proxy = start(&origin, &site);
    let r = proxy.get("/", &[("Cookie", "_ga=1; sid=2")]);
    assert_eq!(r.text(), page());
    assert_eq!(r.cookies_set(), ["_ga", "sid", "_fbp"]);
    assert_eq!(
        origin.last_request().headers_named("cookie"),
        ["_ga=1; sid=2"]
    );
    // The origin learns who asked: the client's own list, then the address it came from.
    assert_eq!(
        origin.last_request().headers_named("x-forwarded-for"),
        ["127.0.0.1"]
    );
    proxy.get("/", &[("X-Forwarded-For", "203.0.113.7, 10.1.2.3")]);
    assert_eq!(
        origin.last_request().headers_named("x-forwarded-for"),
        ["203.0.113.7, 10.1.2.3, 127.0.0.1"]
    );
}

#[test]
fn unknown_hosts_get_404_without_a_default_site_and_bad_consent_never_5xx() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = get(proxy.addr, "/", &[("Host", "other.example.net")]);
    assert_eq!(r.status, 404);
    assert!(
        origin.requests().is_empty(),
        "an unknown host must not reach any upstream"
    );
    let huge = format!("OptanonConsent=groups={}", "C0002%3A1%2C".repeat(1000));
    for cookie in [
        huge.as_str(),
        "CookieConsent={statistics:",
        "consent_gate=v9",
        "OptanonConsent=%FF%FE",
    ] {
        let r = proxy.get("/", &[("Cookie", cookie)]);
        assert_eq!(r.status, 200, "{cookie}");
        assert_eq!(
            r.cookies_set(),
            ["sid"],
            "a broken consent cookie is no consent: {cookie}"
        );
    }
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_parse_failures_total",
            &[("source", "onetrust")]
        ),
        2.0
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_parse_failures_total",
            &[("source", "cookiebot")]
        ),
        1.0
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_parse_failures_total",
            &[("source", "consent-gate")]
        ),
        1.0
    );
}

#[test]
fn admin_serves_health_metrics_and_rules() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    assert_eq!(get(proxy.admin, "/healthz", &[]).status, 200);
    assert_eq!(get(proxy.admin, "/readyz", &[]).status, 200);
    let rules = get(proxy.admin, "/rules", &[]).text();
    assert!(rules.contains("\"generation\":1"), "{rules}");
    proxy.get("/", &[]);
    let m = proxy.metrics();
    assert_eq!(
        metric_value(
            &m,
            "consent_gate_requests_total",
            &[
                ("site", "shop"),
                ("mode", "enforce"),
                ("jurisdiction", "opt-in")
            ]
        ),
        1.0
    );
    assert!(metric_value(&m, "consent_gate_rules", &[("kind", "cookie")]) > 20.0);
    assert_eq!(get(proxy.admin, "/nope", &[]).status, 404);
}

#[test]
fn jurisdiction_and_gpc_change_scripts_and_cookies_for_the_same_visitor() {
    const PIXEL: &str = r#"<script src="https://connect.facebook.net/en_US/fbevents.js"></script>"#;
    let html = format!("<html><head>{GTAG}{PIXEL}</head><body></body></html>");
    let served = html.clone();
    let origin = Origin::start(move |_| {
        Reply::ok("text/html", served.clone())
            .header("Set-Cookie", "_ga=1; Path=/")
            .header("Set-Cookie", "_fbp=1; Path=/")
    });
    let regions = "[jurisdiction]\ncountry_header = \"CF-IPCountry\"\nregion_header = \"CF-Region\"\nregions = { \"US-CA\" = \"opt-out\" }\n";
    let proxy = Proxy::start(
        origin.addr,
        SITE,
        regions,
        &[("rules.toml", &curated_rules())],
    );
    let inert = |text: &str, url: &str| text.contains(&format!("data-consent-src=\"{url}"));
    let gtag = "https://www.googletagmanager.com/gtag/js";
    let pixel = "https://connect.facebook.net/en_US/fbevents.js";

    // California: opt-out, nothing denied, the page is untouched.
    let r = proxy.get("/", &[("CF-IPCountry", "US"), ("CF-Region", "CA")]);
    assert_eq!(r.text(), html);
    assert_eq!(r.cookies_set(), ["_ga", "_fbp"]);
    // California with GPC: marketing off, analytics still on.
    let r = proxy.get(
        "/",
        &[
            ("CF-IPCountry", "US"),
            ("CF-Region", "CA"),
            ("Sec-GPC", "1"),
        ],
    );
    assert!(
        inert(&r.text(), pixel) && !inert(&r.text(), gtag),
        "{}",
        r.text()
    );
    assert_eq!(r.cookies_set(), ["_ga"]);
    // Another US state is not listed: opt-in default, everything denied.
    let r = proxy.get("/", &[("CF-IPCountry", "US"), ("CF-Region", "TX")]);
    assert!(inert(&r.text(), pixel) && inert(&r.text(), gtag));
    assert!(r.cookies_set().is_empty());
    // The same visitor with a TCF v2.2 consent to analytics purposes only (1 and 8).
    let tc = consent_gate::consent::tcf::encode(&consent_gate::consent::tcf::TcString {
        version: 2,
        policy_version: 5,
        purpose_consents: vec![1, 8],
        consent_language: "EN".into(),
        publisher_cc: "DE".into(),
        ..Default::default()
    });
    let cookie = format!("euconsent-v2={tc}");
    let r = proxy.get("/", &[("CF-IPCountry", "DE"), ("Cookie", &cookie)]);
    assert!(
        inert(&r.text(), pixel) && !inert(&r.text(), gtag),
        "{}",
        r.text()
    );
    assert_eq!(r.cookies_set(), ["_ga"]);
    assert_eq!(
        proxy.metric("consent_gate_consent_source_total", &[("source", "tcf")]),
        1.0
    );
    assert_eq!(
        proxy.metric("consent_gate_consent_source_total", &[("source", "gpc")]),
        1.0
    );
}

#[test]
fn the_consent_endpoint_records_choices_without_javascript() {
    use common::request_with_body;
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/.consent-gate/consent", &[]);
    assert_eq!(r.status, 200);
    let state: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(state["categories"]["analytics"], "denied");
    assert_eq!(state["jurisdiction"], "opt-in");

    // A plain HTML form post: cookie set, redirect back to a same-site path only.
    let form = "analytics=1&return=%2Fproducts%3Fid%3D7";
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let same_origin = ("Origin", "http://www.example.com");
    let r = request_with_body(
        proxy.addr,
        "POST",
        "/.consent-gate/consent",
        &[form_type, same_origin],
        form.as_bytes(),
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/products?id=7"));
    let set = r.header("set-cookie").unwrap().to_owned();
    assert!(
        set.starts_with("consent_gate=v1.functional:0.analytics:1.marketing:0; Path=/"),
        "{set}"
    );
    let r = request_with_body(
        proxy.addr,
        "POST",
        "/.consent-gate/consent",
        &[form_type, ("Sec-Fetch-Site", "same-origin")],
        b"accept=all&return=https%3A%2F%2Fevil.example%2F",
    );
    assert_eq!(r.header("location"), Some("/"), "never an open redirect");

    // The cookie it set is honoured.
    let cookie = set.split(';').next().unwrap();
    let r = proxy.get("/", &[("Cookie", cookie)]);
    assert_eq!(r.cookies_set(), ["_ga", "sid"]);
    let r = proxy.get("/.consent-gate/consent", &[("Cookie", cookie)]);
    assert!(
        r.text().contains("\"analytics\":\"allowed\""),
        "{}",
        r.text()
    );

    // A script gets JSON instead of a redirect; oversized forms are refused.
    let r = request_with_body(
        proxy.addr,
        "POST",
        "/.consent-gate/consent",
        &[form_type, ("Accept", "application/json"), same_origin],
        b"reject=all",
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("\"saved\":true"));
    let big = vec![b'a'; 20_000];
    assert_eq!(
        request_with_body(
            proxy.addr,
            "POST",
            "/.consent-gate/consent",
            &[form_type],
            &big
        )
        .status,
        413
    );
    assert_eq!(proxy.get("/.consent-gate/other", &[]).status, 404);
    let decisions =
        |d: &str| proxy.metric("consent_gate_consent_decisions_total", &[("decision", d)]);
    assert_eq!(
        (
            decisions("custom"),
            decisions("accept_all"),
            decisions("reject_all")
        ),
        (1.0, 1.0, 1.0)
    );
    assert!(
        origin
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/.consent-gate/")),
        "the endpoint never reaches the origin"
    );
}

#[test]
fn first_party_collectors_get_204_without_consent() {
    let origin = origin();
    let proxy = start(&origin, SITE);
    let r = proxy.get("/matomo.php?idsite=1&rec=1", &[]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("content-length"), None);
    assert!(
        origin.requests().is_empty(),
        "the collector must not be reached"
    );
    assert_eq!(
        proxy.metric(
            "consent_gate_paths_blocked_total",
            &[("category", "analytics"), ("action", "blocked")]
        ),
        1.0
    );
    let r = proxy.get(
        "/matomo.php?idsite=1&rec=1",
        &[("Cookie", "consent_gate=v1.analytics:1")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(origin.last_request().path, "/matomo.php?idsite=1&rec=1");
    // Report-only: counted, not blocked.
    let origin2 = origin_for_report();
    let site = SITE.replace("upstreams", "mode = \"report-only\"\nupstreams");
    let report = start(&origin2, &site);
    assert_eq!(report.get("/piwik.php", &[]).status, 200);
    assert_eq!(
        report.metric(
            "consent_gate_paths_blocked_total",
            &[("action", "would_block")]
        ),
        1.0
    );
}

#[test]
fn consent_is_never_written_from_another_site() {
    use common::request_with_body;
    let origin = origin();
    let proxy = start(&origin, SITE);
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let post = |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![form_type];
        all.extend_from_slice(headers);
        request_with_body(
            proxy.addr,
            "POST",
            "/.consent-gate/consent",
            &all,
            body.as_bytes(),
        )
    };
    // A hidden form on another site, a fetch from one, a sandboxed frame, and an old browser
    // without a token: refused, nothing set, counted.
    let mut counted = std::collections::HashMap::new();
    for (headers, reason) in [
        (
            vec![
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            "sec_fetch_site",
        ),
        (
            vec![
                ("Origin", "https://evil.example"),
                ("Accept", "application/json"),
            ],
            "origin",
        ),
        (vec![("Origin", "null")], "origin"),
        (vec![], "token"),
    ] {
        let r = post(&headers, "accept=all");
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(r.header("set-cookie").is_none(), "{headers:?}");
        let n = counted.entry(reason).or_insert(0.0);
        *n += 1.0;
        assert_eq!(
            proxy.metric(
                "consent_gate_consent_writes_refused_total",
                &[("reason", reason)]
            ),
            *n,
            "{reason}"
        );
    }
    assert_eq!(
        proxy.metric(
            "consent_gate_consent_decisions_total",
            &[("decision", "accept_all")]
        ),
        0.0
    );
    // Same site: a sibling subdomain's form, and an old browser with the token from GET.
    let r = post(&[("Origin", "https://shop.example.com")], "accept=all");
    assert_eq!(r.status, 303);
    let state = proxy.get("/.consent-gate/consent", &[]);
    let token_cookie = state
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        token_cookie.starts_with("consent_gate_token="),
        "{token_cookie}"
    );
    let token = serde_json::from_str::<serde_json::Value>(&state.text()).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_cookie, format!("consent_gate_token={token}"));
    let r = post(
        &[("Cookie", &token_cookie)],
        &format!("reject=all&token={token}"),
    );
    assert_eq!(r.status, 303);
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("consent_gate=v1.functional:0")
    );
    let r = post(&[("Cookie", &token_cookie)], "accept=all&token=guessed");
    assert_eq!(r.status, 403);
    // The token cookie is never stripped on its way to the origin.
    proxy.get("/", &[("Cookie", &token_cookie)]);
    assert_eq!(
        origin.last_request().header("cookie"),
        Some(token_cookie.as_str())
    );
}

fn origin_for_report() -> Origin {
    origin()
}
