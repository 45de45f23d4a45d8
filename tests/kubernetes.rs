//! The Kubernetes manifests in `conf/kubernetes/` parse, fit together, and use the binary's real
//! flags, ports and admin paths; the configuration they ship is valid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn load(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    let doc = docs.remove(0);
    assert!(
        doc["apiVersion"].as_str().is_some() && doc["kind"].as_str().is_some(),
        "{name}: apiVersion and kind"
    );
    assert!(
        doc["metadata"]["name"].as_str().is_some(),
        "{name}: metadata.name"
    );
    doc
}

#[test]
fn manifests_fit_together_and_match_the_binary() {
    let cm = load("configmap.yaml");
    let deploy = load("deployment.yaml");
    let svc = load("service.yaml");
    let pm = load("podmonitor.yaml");
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(deploy["kind"].as_str(), Some("Deployment"));
    assert_eq!(svc["kind"].as_str(), Some("Service"));
    assert_eq!(pm["kind"].as_str(), Some("PodMonitor"));

    // The shipped config is valid (rules are checked separately: they come from conf/rules).
    // The upstream is a cluster DNS name, resolved at start-up in the cluster; here it is
    // replaced by an address so the rest of the config can be checked.
    let config_text = cm["data"]["config.toml"]
        .as_str()
        .unwrap()
        .replace("legacy-site.default.svc.cluster.local", "127.0.0.1");
    let config =
        consent_gate::config::Config::parse(Path::new("configmap.yaml"), &config_text).unwrap();
    let listen_port = config.server.listen[0].port();
    let admin_port = config.admin_listen.port();
    for f in &config.rule_files {
        let name = f.file_name().unwrap();
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("conf/rules")
                .join(name)
                .exists(),
            "{f:?} is not in conf/rules"
        );
    }

    let pod = &deploy["spec"]["template"];
    let labels = &deploy["spec"]["selector"]["matchLabels"];
    assert_eq!(&pod["metadata"]["labels"], labels);
    assert_eq!(&svc["spec"]["selector"], labels);
    assert_eq!(&pm["spec"]["selector"]["matchLabels"], labels);
    let c = &pod["spec"]["containers"][0];
    let port = |name: &str| {
        c["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap()["containerPort"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(port("http"), i64::from(listen_port));
    assert_eq!(port("admin"), i64::from(admin_port));
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some(admin_port.to_string().as_str())
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["port"].as_str(),
        Some("admin")
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"].as_str(), Some("http"));
    assert_eq!(
        pm["spec"]["podMetricsEndpoints"][0]["port"].as_str(),
        Some("admin")
    );
    assert_eq!(
        pm["spec"]["podMetricsEndpoints"][0]["path"].as_str(),
        Some("/metrics")
    );
    assert!(c["resources"]["requests"]["cpu"].as_str().is_some());
    // Shutdown fits: drain time below the pod's grace period.
    let drain =
        config.server.grace_period_seconds + config.server.graceful_shutdown_timeout_seconds + 5;
    assert!(
        pod["spec"]["terminationGracePeriodSeconds"]
            .as_i64()
            .unwrap()
            > i64::try_from(drain).unwrap()
    );

    // The mounts put the config where the args say, and the rules where the config says.
    let args: Vec<&str> = c["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &args[..3],
        ["run", "--config", "/etc/consent-gate/config.toml"]
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/etc/consent-gate"));
    for f in &config.rule_files {
        assert!(
            mounts
                .iter()
                .any(|m| f.starts_with(m) && *m != "/etc/consent-gate"),
            "{f:?} is not under a rules mount"
        );
    }
    // Every flag the manifest passes exists: the binary accepts them (parsing stops at the
    // missing config file, after the flags were accepted).
    let out = Command::new(common::binary())
        .args(&args)
        .args(["--help"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(flag),
            "{flag} is not a flag of `consent-gate run`:\n{help}"
        );
    }
}
