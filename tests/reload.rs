//! Rules reload without a restart: atomic file replacement, a ConfigMap-style symlink swap,
//! SIGHUP and `POST /reload`, under load with no failed request; a broken file never replaces
//! good rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{Origin, Proxy, Reply, config_text, eventually, get, request};

const SITE: &str =
    "[[site]]\nname = \"s\"\nhosts = [\"www.example.com\"]\nupstreams = [\"{origin}\"]\n";

fn rules(extra_cookie: Option<&str>) -> String {
    let mut r = String::from(
        "[[cookie]]\nname = \"_ga\"\ncategory = \"analytics\"\nvendor = \"Google Analytics\"\n",
    );
    if let Some(name) = extra_cookie {
        r.push_str(&format!(
            "\n[[cookie]]\nname = \"{name}\"\ncategory = \"marketing\"\nvendor = \"New tracker\"\n"
        ));
    }
    r
}

fn origin() -> Origin {
    Origin::start(|_| {
        Reply::ok("application/json", "{}")
            .header("Set-Cookie", "_ga=1; Path=/")
            .header("Set-Cookie", "new_tracker=1; Path=/")
            .header("Set-Cookie", "sid=1; Path=/")
    })
}

/// Atomic replacement: write a temporary file, rename it over the old one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Bounded background load; returns (stop flag, sent, failed).
fn load(
    addr: std::net::SocketAddr,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
    thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (s, n, f) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
    let handle = thread::spawn(move || {
        while !s.load(Ordering::Relaxed) && n.load(Ordering::Relaxed) < 20_000 {
            let r = request(addr, "GET", "/", &[]);
            n.fetch_add(1, Ordering::Relaxed);
            if r.status != 200 || !r.complete {
                f.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (stop, sent, failed, handle)
}

fn strips_new_tracker(p: &Proxy) -> bool {
    !p.get("/", &[])
        .cookies_set()
        .contains(&"new_tracker".to_owned())
}

#[test]
fn replaced_files_take_effect_quickly_and_broken_ones_never_do() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rules(None)).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", SITE);
    let p = Proxy::start_raw(dir, &config);
    assert!(!strips_new_tracker(&p));
    let (stop, sent, failed, handle) = load(p.addr);

    replace(&path, &rules(Some("new_tracker")));
    let took = p.wait_until(Duration::from_secs(1), || strips_new_tracker(&p));
    assert!(
        took.is_some(),
        "the replaced file did not take effect within a second"
    );
    assert_eq!(p.metric("consent_gate_rules_generation", &[]), 2.0);

    // A broken file (bad regex, then an unknown category) is refused; the old rules keep working.
    let broken = format!(
        "{}\n[[cookie]]\nregex = \"(unclosed\"\ncategory = \"marketing\"\nvendor = \"x\"\n",
        rules(Some("new_tracker"))
    );
    replace(&path, &broken);
    assert!(
        p.wait_until(Duration::from_secs(2), || p
            .metric("consent_gate_rule_reloads_total", &[("result", "error")])
            >= 1.0)
            .is_some()
    );
    assert!(
        strips_new_tracker(&p),
        "old rules must stay after a failed reload"
    );
    let r = request(p.admin, "POST", "/reload", &[]);
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains("rules.toml:12:9: bad regex"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("unclosed group"), "{}", r.text());
    replace(
        &path,
        &rules(Some("new_tracker")).replace("\"marketing\"", "\"advertising\""),
    );
    assert!(
        p.wait_until(Duration::from_secs(2), || p
            .metric("consent_gate_rule_reloads_total", &[("result", "error")])
            >= 3.0)
            .is_some()
    );
    assert!(strips_new_tracker(&p));
    assert_eq!(p.metric("consent_gate_rules_generation", &[]), 2.0);

    // SIGHUP reloads too, even when the files did not change: the watcher reloads the first
    // rules back, then SIGHUP makes one more generation.
    std::fs::write(&path, rules(None)).unwrap();
    let generation = eventually("the watcher reloads the first rules", || {
        let g = p.metric("consent_gate_rules_generation", &[]);
        (g >= 3.0 && !strips_new_tracker(&p)).then_some(g)
    });
    p.signal("HUP");
    eventually("SIGHUP reloads the rules", || {
        (p.metric("consent_gate_rules_generation", &[]) > generation).then_some(())
    });
    assert!(!strips_new_tracker(&p));

    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert!(sent.load(Ordering::Relaxed) > 20, "the load ran");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request may fail during reloads"
    );
    let rules_json = get(p.admin, "/rules", &[]).text();
    assert!(rules_json.contains("rules.toml"), "{rules_json}");
}

#[test]
fn a_configmap_symlink_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let cm = dir.path().join("rules");
    std::fs::create_dir_all(cm.join("..2026_01")).unwrap();
    std::fs::write(cm.join("..2026_01/rules.toml"), rules(None)).unwrap();
    symlink("..2026_01", cm.join("..data")).unwrap();
    symlink("..data/rules.toml", cm.join("rules.toml")).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules/rules.toml"], "", SITE);
    let p = Proxy::start_raw(dir, &config);
    assert!(!strips_new_tracker(&p));
    let (stop, sent, failed, handle) = load(p.addr);

    // What the kubelet does: a new timestamped directory, then an atomic swap of `..data`.
    std::fs::create_dir_all(cm.join("..2026_02")).unwrap();
    std::fs::write(cm.join("..2026_02/rules.toml"), rules(Some("new_tracker"))).unwrap();
    symlink("..2026_02", cm.join("..data_tmp")).unwrap();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    std::fs::remove_dir_all(cm.join("..2026_01")).unwrap();
    assert!(
        p.wait_until(Duration::from_secs(1), || strips_new_tracker(&p))
            .is_some(),
        "symlink swap not seen within a second"
    );

    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(failed.load(Ordering::Relaxed), 0);
}

#[test]
fn sites_can_add_allow_and_disable_rules() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), rules(None)).unwrap();
    std::fs::write(
        dir.path().join("shop.toml"),
        "[[cookie]]\nname = \"sid\"\ncategory = \"functional\"\nvendor = \"Shop\"\n",
    )
    .unwrap();
    let sites = format!(
        "{SITE}\n[[site]]\nname = \"shop\"\nhosts = [\"shop.example.com\"]\nupstreams = [\"{{origin}}\"]\nrules = [\"shop.toml\"]\nallow_cookies = [\"new_tracker\"]\n\n\
         [[site]]\nname = \"blog\"\nhosts = [\"blog.example.com\"]\nupstreams = [\"{{origin}}\"]\ndisable_rules = [\"_ga\"]\n"
    );
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", &sites);
    let p = Proxy::start_raw(dir, &config);
    let cookies = |host: &str| get(p.addr, "/", &[("Host", host)]).cookies_set();
    assert_eq!(cookies("www.example.com"), ["new_tracker", "sid"]);
    assert_eq!(
        cookies("shop.example.com"),
        ["new_tracker"],
        "site rule strips sid; allow keeps new_tracker"
    );
    assert_eq!(
        cookies("blog.example.com"),
        ["_ga", "new_tracker", "sid"],
        "_ga rule disabled on the blog"
    );
    // Site rule files reload too.
    replace(
        &p.config_dir().join("shop.toml"),
        "[[cookie]]\nname = \"other\"\ncategory = \"functional\"\nvendor = \"Shop\"\n",
    );
    assert!(
        p.wait_until(Duration::from_secs(1), || cookies("shop.example.com")
            == ["new_tracker", "sid"])
            .is_some()
    );
}

/// A file rewritten while reloads run: whatever interleaving of writes, watcher events and
/// `POST /reload`, once the writes stop the proxy runs exactly the rules the file holds.
#[test]
fn reloads_racing_writes_converge_on_what_the_file_holds() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rules(None)).unwrap();
    let config = config_text(dir.path(), origin.addr, &["rules.toml"], "", SITE);
    let p = Proxy::start_raw(dir, &config);
    let with = rules(Some("new_tracker"));
    let without = rules(None);
    for round in 0..12 {
        let stop = Arc::new(AtomicBool::new(false));
        let admin = p.admin;
        let reloader = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    request(admin, "POST", "/reload", &[]);
                }
            })
        };
        // In-place writes (truncate, then write) as editors and config tools do, a few ms
        // apart, so reads land between and inside writes.
        for i in 0..60 {
            std::fs::write(&path, if i % 2 == 0 { &with } else { &without }).unwrap();
            thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        reloader.join().unwrap();
        let last_strips = round % 2 == 0;
        std::fs::write(&path, if last_strips { &with } else { &without }).unwrap();
        eventually(
            &format!("round {round}: the rules the file holds are in force"),
            || (strips_new_tracker(&p) == last_strips).then_some(()),
        );
    }
}
