//! Ad, tag-manager, audience and measurement hosts in the shipped default rule set wait for
//! consent; genuinely necessary hosts (CDNs, fonts, consent tools, payment, captcha) never do.
//!
//! The generated AdGuard rules map "essential", "cdn" and "hosting" to `necessary` and leave
//! "misc"/"unknown" hosts without a rule; `conf/rules/curated.toml` corrects the hosts where that
//! would let trackers through (Google Publisher Tag on `googletagservices.com`, tag managers,
//! affiliate trackers, RUM beacons, ...). These tables pin the result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::path::PathBuf;

use consent_gate::category::{Categories, Category};
use consent_gate::rules::{Rules, Verdict};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped rule files, in the order the default config loads them.
fn default_rules() -> Rules {
    let files: Vec<PathBuf> = [
        "open-cookie-database.toml",
        "adguard-trackers.toml",
        "curated.toml",
    ]
    .iter()
    .map(|f| root().join("conf/rules").join(f))
    .collect();
    Rules::load(&files, &Categories::default()).unwrap()
}

const M: Category = Category::MARKETING;
const A: Category = Category::ANALYTICS;

/// Hosts that must be blocked without consent, with the category that unblocks them.
const BLOCKED: &[(&str, Category)] = &[
    // Seen loading through the proxy without consent on real news pages.
    ("static.chartbeat.com", A),
    ("sb.scorecardresearch.com", A),
    ("secure.quantserve.com", M),
    ("edge.quantserve.com", M),
    ("c.amazon-adsystem.com", M),
    ("cdn.krxd.net", M),
    ("cdn.taboola.com", M),
    ("images.taboola.com", M),
    ("trc.taboola.com", M),
    ("widgets.outbrain.com", M),
    ("securepubads.g.doubleclick.net", M),
    ("www.googletagservices.com", M),
    // Google ad and tag hosts.
    ("googletagservices.com", M),
    ("googlesyndication.com", M),
    ("pagead2.googlesyndication.com", M),
    ("tpc.googlesyndication.com", M),
    ("doubleclick.net", M),
    ("stats.g.doubleclick.net", M),
    ("googleadservices.com", M),
    ("www.googleadservices.com", M),
    ("google-analytics.com", A),
    ("www.google-analytics.com", A),
    ("googletagmanager.com", A),
    ("www.googletagmanager.com", A),
    ("adservice.google.com", M),
    ("imasdk.googleapis.com", M),
    ("s0.2mdn.net", M),
    // Ad exchanges, SSPs, native ads and ad verification.
    ("amazon-adsystem.com", M),
    ("aax.amazon-adsystem.com", M),
    ("rubiconproject.com", M),
    ("fastlane.rubiconproject.com", M),
    ("pubmatic.com", M),
    ("ads.pubmatic.com", M),
    ("openx.net", M),
    ("adnxs.com", M),
    ("acdn.adnxs.com", M),
    ("criteo.com", M),
    ("criteo.net", M),
    ("static.criteo.net", M),
    ("casalemedia.com", M),
    ("indexww.com", M),
    ("js-sec.indexww.com", M),
    ("sharethrough.com", M),
    ("triplelift.com", M),
    ("3lift.com", M),
    ("teads.tv", M),
    ("a.teads.tv", M),
    ("smartadserver.com", M),
    ("yieldmo.com", M),
    ("33across.com", M),
    ("media.net", M),
    ("contextual.media.net", M),
    ("taboola.com", M),
    ("outbrain.com", M),
    ("revcontent.com", M),
    ("mgid.com", M),
    ("lijit.com", M),
    ("ap.lijit.com", M),
    ("bidswitch.net", M),
    ("adsrvr.org", M),
    ("js.adsrvr.org", M),
    ("moatads.com", M),
    ("z.moatads.com", M),
    ("doubleverify.com", M),
    ("adsafeprotected.com", M),
    ("pixel.adsafeprotected.com", M),
    // Audience and measurement vendors.
    ("chartbeat.com", A),
    ("chartbeat.net", A),
    ("ping.chartbeat.net", A),
    ("scorecardresearch.com", A),
    ("quantserve.com", M),
    ("pixel.quantserve.com", M),
    ("quantcount.com", A),
    ("krxd.net", M),
    ("bluekai.com", M),
    ("tags.bluekai.com", M),
    ("demdex.net", M),
    ("omtrdc.net", A),
    ("everesttech.net", M),
    ("parsely.com", A),
    ("cdn.parsely.com", A),
    ("parse.ly", A),
    ("nr-data.net", A),
    ("bam.nr-data.net", A),
    ("js-agent.newrelic.com", A),
    ("static.hotjar.com", A),
    ("cdn.segment.com", A),
    ("api.segment.io", A),
    ("cdn.mxpnl.com", A),
    ("cdn.amplitude.com", A),
    ("cdn.heapanalytics.com", A),
    ("edge.fullstory.com", A),
    ("clarity.ms", A),
    ("www.clarity.ms", A),
    ("scripts.clarity.ms", A),
    ("bat.bing.com", M),
    ("analytics.tiktok.com", M),
    ("px.ads.linkedin.com", M),
    ("snap.licdn.com", M),
    ("connect.facebook.net", M),
    ("static.ads-twitter.com", M),
    ("ct.pinterest.com", M),
    ("www.redditstatic.com", M),
    ("alb.reddit.com", M),
    ("sc-static.net", M),
    ("imrworldwide.com", M),
    ("secure-us.imrworldwide.com", M),
    ("permutive.com", M),
    ("cdn.permutive.com", M),
    ("permutive.app", M),
    ("507b28fb-2ef1-4c34-8bda-ba32030bb199.edge.permutive.app", M),
    ("crwdcntrl.net", M),
    ("tags.crwdcntrl.net", M),
    ("rlcdn.com", M),
    ("id5-sync.com", M),
    ("adform.net", M),
    ("track.adform.net", M),
    ("mc.yandex.ru", A),
    // Tag managers the data calls essential.
    ("tiqcdn.com", A),
    ("tags.tiqcdn.com", A),
    ("tealiumiq.com", A),
    ("collect.tealiumiq.com", A),
    ("tealium.com", A),
    ("tealium.hs.llnwd.net", A),
    ("adobedtm.com", A),
    ("assets.adobedtm.com", A),
    ("ensighten.com", A),
    ("nexus.ensighten.com", A),
    ("commander1.com", A),
    ("tagcommander.com", A),
    ("btstatic.com", A),
    ("thebrighttag.com", A),
    ("signal.co", A),
    ("levexis.com", A),
    ("supert.ag", A),
    // Audience platforms, affiliate trackers and ad networks the data calls essential.
    ("svtrd.com", M),
    ("synovite-scripts.com", M),
    ("tdn.r42tag.com", M),
    ("impactradius.com", M),
    ("impactradius-event.com", M),
    ("impactradius-tag.com", M),
    ("7eer.net", M),
    ("evyy.net", M),
    ("ojrq.net", M),
    ("r7ls.net", M),
    ("d3cxv97fi8q177.cloudfront.net", M),
    ("mb01.com", M),
    ("contaxe.com", M),
    // Measurement, A/B testing and RUM the data calls essential or cdn.
    ("foresee.com", A),
    ("4seeresults.com", A),
    ("dynamicyield.com", A),
    ("cdn.dynamicyield.com", A),
    ("cloudflareinsights.com", A),
    ("static.cloudflareinsights.com", A),
    ("akstat.io", A),
    ("c.akstat.io", A),
    // Ad and measurement companies the data leaves without a rule.
    ("lentainform.com", M),
    ("jsc.lentainform.com", M),
    ("investingchannel.com", M),
    ("movad.de", M),
    ("movad.net", M),
    ("adventori.com", M),
    ("admized.com", M),
    ("avocet.io", M),
    ("webgains.com", M),
    ("belboon.de", M),
    ("eccmp.com", M),
    ("bizo.com", M),
    ("oztam.com.au", A),
];

/// Hosts (and paths) that must never be blocked: consent tools, payment, captcha, fonts,
/// libraries and generic CDNs, including the parents of hosts `BLOCKED` names precisely.
const NEVER_BLOCKED: &[(&str, &str)] = &[
    (
        "cdnjs.cloudflare.com",
        "/ajax/libs/jquery/3.7.1/jquery.min.js",
    ),
    ("fonts.gstatic.com", "/s/roboto/v30/font.woff2"),
    ("www.gstatic.com", "/"),
    ("fonts.googleapis.com", "/css2"),
    (
        "ajax.googleapis.com",
        "/ajax/libs/jquery/3.7.1/jquery.min.js",
    ),
    ("maps.googleapis.com", "/maps/api/js"),
    ("storage.googleapis.com", "/"),
    ("www.google.com", "/recaptcha/api.js"),
    ("www.recaptcha.net", "/recaptcha/api.js"),
    ("js.hcaptcha.com", "/1/api.js"),
    ("cdn.jsdelivr.net", "/npm/x.js"),
    ("unpkg.com", "/react@18/umd/react.production.min.js"),
    ("code.jquery.com", "/jquery-3.7.1.min.js"),
    ("maxcdn.bootstrapcdn.com", "/"),
    ("use.typekit.net", "/abc.css"),
    ("cdn.cookielaw.org", "/scripttemplates/otSDKStub.js"),
    ("fundingchoicesmessages.google.com", "/i/pub-123?ers=1"),
    ("consent.cookiebot.com", "/uc.js"),
    ("consent.trustarc.com", "/notice"),
    ("cdn.iubenda.com", "/cs/iubenda_cs.js"),
    ("js.stripe.com", "/v3/"),
    ("www.paypalobjects.com", "/"),
    ("d111111abcdef8.cloudfront.net", "/app.js"),
    ("s3.amazonaws.com", "/bucket/app.js"),
    ("cdn.example.llnwd.net", "/"),
    ("cdn.ampproject.org", "/v0.js"),
];

fn describe(rules: &Rules, verdict: Verdict<'_>) -> String {
    match verdict {
        Verdict::Unknown => "no rule".to_owned(),
        Verdict::Allowed(r) => format!("allowed by {} ({})", r.pattern, rules.origin(r)),
        Verdict::Classified(r) => format!(
            "{} by {} ({}, {})",
            rules.categories().name(r.category),
            r.pattern,
            r.vendor,
            rules.origin(r)
        ),
    }
}

#[test]
fn tables_have_no_duplicates() {
    let mut seen = HashSet::new();
    for (host, _) in BLOCKED {
        assert!(seen.insert(*host), "{host} is listed twice in BLOCKED");
    }
    let mut seen = HashSet::new();
    for (host, path) in NEVER_BLOCKED {
        assert!(seen.insert((*host, *path)), "{host}{path} is listed twice");
        assert!(
            !BLOCKED.iter().any(|(h, _)| h == host),
            "{host} is in both tables"
        );
    }
}

#[test]
fn ad_tag_and_measurement_hosts_are_classified_and_blockable() {
    let rules = default_rules();
    let mut failures = Vec::new();
    for &(host, expected) in BLOCKED {
        let verdict = rules.resource(host, "/");
        match verdict {
            Verdict::Classified(rule)
                if rule.category != Category::NECESSARY && rule.category == expected => {}
            _ => failures.push(format!(
                "{host}: expected {}, got {}",
                rules.categories().name(expected),
                describe(&rules, verdict)
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Every category these hosts use is one the rule set can block.
    assert!(rules.blockable().contains(Category::MARKETING));
    assert!(rules.blockable().contains(Category::ANALYTICS));
}

#[test]
fn necessary_hosts_are_never_blocked() {
    let rules = default_rules();
    let mut failures = Vec::new();
    for &(host, path) in NEVER_BLOCKED {
        let verdict = rules.resource(host, path);
        let ok = match verdict {
            Verdict::Allowed(_) | Verdict::Unknown => true,
            Verdict::Classified(rule) => rule.category == Category::NECESSARY,
        };
        if !ok {
            failures.push(format!(
                "{host}{path} would be blocked: {}",
                describe(&rules, verdict)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_curated_rule_replaces_the_generated_one_for_the_same_host() {
    // The mechanism: a later file's rule for the same host and path replaces the earlier one.
    let rules = Rules::compile(
        &[
            (
                "adguard-trackers.toml",
                "[[resource]]\nhost = \"googletagservices.com\"\ncategory = \"necessary\"\nvendor = \"Google Tag Manager\"\n",
            ),
            (
                "curated.toml",
                "[[resource]]\nhost = \"googletagservices.com\"\ncategory = \"marketing\"\nvendor = \"Google Publisher Tag\"\n",
            ),
        ],
        &Categories::default(),
    )
    .unwrap();
    let rule = rules
        .resource("www.googletagservices.com", "/tag/js/gpt.js")
        .rule()
        .unwrap();
    assert_eq!(rule.category, Category::MARKETING);
    assert_eq!(&*rule.vendor, "Google Publisher Tag");
    assert_eq!(rule.file, 1);
    assert_eq!(rules.counts().resources, 1);

    // In the shipped set, gpt.js is decided by curated.toml.
    let rules = default_rules();
    let rule = rules
        .resource("www.googletagservices.com", "/tag/js/gpt.js")
        .rule()
        .unwrap();
    assert!(
        rules.files()[rule.file].path.ends_with("curated.toml"),
        "{}",
        rules.origin(rule)
    );
    assert_eq!(rule.category, Category::MARKETING);
}
