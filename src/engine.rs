//! State shared by every request: the configuration, the current rules snapshot, metrics and the
//! parsed HTML selectors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::html::Selectors;
use crate::html::guard::{self, Guard, GuardCache};
use crate::metrics::Metrics;
use crate::rules::{Overlay, Rules, RulesError};
use crate::upstreams::Upstreams;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The rules do not load.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTML selectors did not parse.
    #[error("HTML selectors: {0}")]
    Selectors(#[from] lol_html::errors::SelectorError),
    /// An upstream pool could not be set up.
    #[error("upstreams: {0}")]
    Upstreams(#[from] std::io::Error),
}

/// Where the rules come from.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// The files named by the config (and the sites' overlays).
    Files,
    /// Rule texts built into the binary (the demo).
    Embedded(&'static [(&'static str, &'static str)]),
}

/// The rules of one generation: the shared set, and a set per site with overrides.
#[derive(Debug)]
pub struct RuleSet {
    /// Rules for sites without overrides.
    pub shared: Arc<Rules>,
    /// Per site (config order): its own compiled rules when it has an overlay.
    pub sites: Vec<Option<Arc<Rules>>>,
}

impl RuleSet {
    /// The ids of every compiled set in it.
    fn ids(&self) -> Vec<u64> {
        std::iter::once(&self.shared)
            .chain(self.sites.iter().flatten())
            .map(|r| r.id())
            .collect()
    }
}

/// Everything requests share.
#[derive(Debug)]
pub struct Engine {
    /// The validated configuration.
    pub config: Config,
    source: RuleSource,
    rules: ArcSwap<RuleSet>,
    generation: AtomicU64,
    /// Serializes reloads and remembers what the loaded files contained.
    reload_lock: Mutex<u64>,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Selectors for the HTML neutralizer.
    pub selectors: Arc<Selectors>,
    /// Rules loaded and every proxy listener accepting; false again once shutdown begins.
    ready: AtomicBool,
    /// Client guards built for the current rules.
    pub guards: GuardCache,
    /// What the client guard needs besides the rules.
    guard_settings: guard::Settings,
    /// Each site's upstream pool.
    pub upstreams: Upstreams,
    /// Remembered rewrites, when `[html] memo` is on.
    pub memo: Option<Arc<crate::html::memo::Memo>>,
}

/// How a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A rule file (or its directory) changed; reloads only if the contents differ.
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /reload`.
    Admin,
}

impl Engine {
    /// Loads the rules named by the config and sets up metrics.
    pub fn new(config: Config) -> Result<Self, StartError> {
        Self::build(config, RuleSource::Files)
    }

    /// An engine whose rules are built into the binary (the demo).
    pub fn with_embedded_rules(
        config: Config,
        rules: &'static [(&'static str, &'static str)],
    ) -> Result<Self, StartError> {
        Self::build(config, RuleSource::Embedded(rules))
    }

    fn build(config: Config, source: RuleSource) -> Result<Self, StartError> {
        let files = Snapshot::read(&config, &source);
        let set = compile_all(&config, &source, &files)?;
        let config_ref = config.clone();
        let fingerprint = files.fingerprint();
        let metrics = Metrics::new()?;
        let upstreams = Upstreams::new(&config.sites, &metrics)?;
        let memo = config
            .memo
            .map(|m| Arc::new(crate::html::memo::Memo::new(m)));
        let engine = Engine {
            config,
            source,
            rules: ArcSwap::from_pointee(set),
            generation: AtomicU64::new(1),
            reload_lock: Mutex::new(fingerprint),
            memo,
            metrics,
            upstreams,
            selectors: Arc::new(Selectors::new()?),
            ready: AtomicBool::new(false),
            guards: GuardCache::default(),
            guard_settings: guard_settings(&config_ref),
        };
        engine.publish_rule_metrics();
        engine.initialise_metrics();
        engine.warm_guards(&engine.rules.load());
        Ok(engine)
    }

    /// Creates every labelled series of the bounded label sets at zero, so dashboards and
    /// `rate()` see them before the first event.
    fn initialise_metrics(&self) {
        use crate::html::Kind;
        let m = &self.metrics;
        let policy = &self.config.policy;
        let mut categories: Vec<&str> = policy.categories.iter().map(|(_, n)| n).collect();
        categories.push("unknown");
        for source in crate::consent::SourceKind::all() {
            m.consent_source.with_label_values(&[source.label()]);
            m.consent_parse_failures
                .with_label_values(&[source.label()]);
        }
        m.consent_source.with_label_values(&["none"]);
        for reason in ["header_timeout", "idle_timeout", "connection_limit"] {
            m.downstream_closed.with_label_values(&[reason]);
        }
        for result in ["success", "error"] {
            m.rule_reloads.with_label_values(&[result]);
        }
        for site in &self.config.sites {
            let s = site.name.as_str();
            let mode = site.mode.label();
            for j in ["opt-in", "opt-out"] {
                m.requests.with_label_values(&[s, mode, j]);
            }
            for c in &categories {
                for action in ["kept", "stripped", "would_strip"] {
                    m.set_cookie.with_label_values(&[s, c, action]);
                }
                for action in ["stripped", "would_strip"] {
                    m.request_cookies_stripped
                        .with_label_values(&[s, c, action]);
                }
                m.withdrawals.with_label_values(&[s, c]);
                for action in ["blocked", "would_block"] {
                    m.paths_blocked.with_label_values(&[s, c, action]);
                }
                for kind in Kind::ALL {
                    for action in ["neutralized", "would_neutralize"] {
                        m.elements_neutralized
                            .with_label_values(&[s, kind.label(), c, action]);
                    }
                }
            }
            for reason in [
                "rewrite",
                "charset",
                "encoding",
                "decode",
                "decompression_limit",
                "encode",
            ] {
                m.rewrite_failures.with_label_values(&[s, reason]);
            }
            m.html_bytes.with_label_values(&[s]);
            m.upstream_errors.with_label_values(&[s]);
            m.upstream_ejections.with_label_values(&[s]);
            for result in ["hit", "miss", "bypass"] {
                m.memo_lookups.with_label_values(&[s, result]);
            }
            m.limit_exceeded
                .with_label_values(&[s, "max_set_cookie_headers"]);
            m.unknown_cookies.with_label_values(&[s]);
            m.upstream_seconds.with_label_values(&[s]);
            for decision in ["accept_all", "reject_all", "custom"] {
                m.consent_decisions.with_label_values(&[s, decision]);
            }
            for reason in ["sec_fetch_site", "origin", "token"] {
                m.consent_writes_refused.with_label_values(&[s, reason]);
            }
        }
    }

    /// The shared rules; a request holds its snapshot for its whole life.
    pub fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.load().shared)
    }

    /// The rules that apply to site `index` (its overlay's set, or the shared one).
    pub fn rules_for(&self, index: usize) -> Arc<Rules> {
        let set = self.rules.load();
        match set.sites.get(index) {
            Some(Some(r)) => Arc::clone(r),
            _ => Arc::clone(&set.shared),
        }
    }

    /// The client guard for `rules` (a snapshot of this engine's rules).
    pub fn guard(&self, rules: &Rules) -> Arc<Guard> {
        self.guards.get(rules, &self.guard_settings)
    }

    /// Builds the client guards of a rule set ahead of the first page that needs one (tens of
    /// milliseconds with the default rules, which would otherwise land on a visitor's request
    /// after every start and reload).
    fn warm_guards(&self, set: &RuleSet) {
        if self.config.consent_endpoint.is_none() {
            return;
        }
        let mut shared = false;
        for (site, overlay) in self.config.sites.iter().zip(&set.sites) {
            match overlay {
                _ if !site.guard => {}
                Some(rules) => {
                    self.guard(rules);
                }
                None => shared = true,
            }
        }
        if shared {
            self.guard(&set.shared);
        }
    }

    /// Whether the proxy should receive traffic (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the proxy ready (listeners up) or not (shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Generation of the current rules (1 at start, +1 per successful reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every rule file the engine reads (shared and per site).
    pub fn rule_files(&self) -> Vec<PathBuf> {
        all_files(&self.config)
    }

    /// Reloads the rules: every set is compiled completely before any replaces the old ones; on
    /// error the old rules stay and the error is returned (and counted). A `Watch` trigger
    /// whose files did not change does nothing and returns `Ok(None)`.
    pub fn reload(&self, trigger: Trigger) -> Result<Option<u64>, RulesError> {
        let mut loaded = self
            .reload_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let files = Snapshot::read(&self.config, &self.source);
        let now = files.fingerprint();
        if trigger == Trigger::Watch && now == *loaded {
            return Ok(None);
        }
        match compile_all(&self.config, &self.source, &files) {
            Ok(set) => {
                // The new guards are built before the new rules are published, so no request
                // waits for one; then the old ones go.
                self.warm_guards(&set);
                let keep = set.ids();
                self.rules.store(Arc::new(set));
                self.guards.keep_only(&keep);
                if let Some(memo) = &self.memo {
                    memo.clear();
                    self.metrics.memo_bytes.set(0);
                    self.metrics.memo_entries.set(0);
                }
                *loaded = now;
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                self.metrics
                    .rule_reloads
                    .with_label_values(&["success"])
                    .inc();
                self.publish_rule_metrics();
                tracing::info!(generation, ?trigger, "rules reloaded");
                Ok(Some(generation))
            }
            Err(e) => {
                // Remember the broken contents so a watcher does not retry them in a loop.
                *loaded = now;
                self.metrics
                    .rule_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(error = %e, ?trigger, "rules reload failed, keeping the current rules");
                Err(e)
            }
        }
    }

    fn publish_rule_metrics(&self) {
        let rules = self.rules();
        let m = &self.metrics;
        m.rules_generation
            .set(i64::try_from(self.generation()).unwrap_or(i64::MAX));
        let loaded = rules
            .loaded_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        m.rules_loaded_timestamp.set(loaded);
        let c = rules.counts();
        for (kind, n) in [
            ("path", c.paths),
            ("cookie", c.cookies),
            ("resource", c.resources),
            ("signature", c.signatures),
            ("allow", c.allows),
        ] {
            m.rules
                .with_label_values(&[kind])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// The client guard's settings: consent cookies, the endpoint, the consent tools' vocabularies
/// and the Consent Mode mapping.
fn guard_settings(config: &Config) -> guard::Settings {
    use crate::consent::SourceKind;
    let policy = &config.policy;
    let cats = &policy.categories;
    let names = |map: &std::collections::HashMap<String, crate::category::Category>| {
        map.iter()
            .map(|(k, c)| (k.clone(), serde_json::Value::from(cats.name(*c))))
            .collect::<serde_json::Map<_, _>>()
    };
    let tcf: Vec<serde_json::Value> = policy
        .tcf_requirements
        .iter()
        .map(|r| serde_json::json!([cats.name(r.category), r.all, r.any]))
        .collect();
    let configured = |s: SourceKind| policy.sources.contains(&s);
    let mut tools = serde_json::Map::new();
    if configured(SourceKind::OneTrust) {
        tools.insert("onetrust".into(), names(&policy.onetrust_groups).into());
    }
    if configured(SourceKind::Cookiebot) {
        tools.insert(
            "cookiebot".into(),
            serde_json::json!({"preferences": cats.name(crate::category::Category::FUNCTIONAL), "statistics": cats.name(crate::category::Category::ANALYTICS), "marketing": cats.name(crate::category::Category::MARKETING)}),
        );
    }
    if configured(SourceKind::Klaro) {
        tools.insert("klaro".into(), names(&policy.klaro_services).into());
    }
    if configured(SourceKind::CookieConsent) {
        tools.insert("cookieconsent".into(), names(&policy.cc_categories).into());
    }
    if configured(SourceKind::Tcf) {
        tools.insert("tcf".into(), tcf.into());
    }
    guard::Settings {
        keep_cookies: policy
            .sources
            .iter()
            .flat_map(|s| policy.cookie_names(*s).iter().cloned())
            .collect(),
        endpoint: config.consent_endpoint.clone(),
        tools: serde_json::Value::Object(tools),
        consent_mode: config.consent_mode.clone(),
    }
}

fn all_files(config: &Config) -> Vec<PathBuf> {
    let mut files = config.rule_files.clone();
    for site in &config.sites {
        if let Some(o) = &site.overlay {
            files.extend(o.files.iter().cloned());
        }
    }
    files
}

/// The rule files' contents, each file read once per load: the fingerprint a reload
/// remembers is always that of the bytes it compiled, so a file rewritten between two reads
/// can never leave rules in force that no file holds.
struct Snapshot {
    files: Vec<(PathBuf, std::io::Result<String>)>,
}

impl Snapshot {
    fn read(config: &Config, source: &RuleSource) -> Self {
        let mut files: Vec<(PathBuf, std::io::Result<String>)> = Vec::new();
        if let RuleSource::Files = source {
            for f in all_files(config) {
                if !files.iter().any(|(p, _)| *p == f) {
                    let text = std::fs::read_to_string(&f);
                    files.push((f, text));
                }
            }
        }
        Snapshot { files }
    }

    /// A hash of the contents (a file that could not be read hashes as its error kind).
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (path, text) in &self.files {
            path.hash(&mut h);
            match text {
                Ok(t) => t.hash(&mut h),
                Err(e) => format!("{:?}", e.kind()).hash(&mut h),
            }
        }
        h.finish()
    }

    /// The texts of `paths`, in order, as read.
    fn sources<'a>(
        &'a self,
        paths: impl Iterator<Item = &'a PathBuf>,
    ) -> Result<Vec<(&'a Path, &'a str)>, RulesError> {
        paths
            .map(|path| {
                let read = self.files.iter().find(|(p, _)| p == path).map(|(_, t)| t);
                match read {
                    Some(Ok(text)) => Ok((path.as_path(), text.as_str())),
                    Some(Err(e)) => Err(RulesError::Io {
                        path: path.clone(),
                        source: std::io::Error::new(e.kind(), e.to_string()),
                    }),
                    None => Err(RulesError::Io {
                        path: path.clone(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    }),
                }
            })
            .collect()
    }
}

fn compile_all(
    config: &Config,
    source: &RuleSource,
    files: &Snapshot,
) -> Result<RuleSet, RulesError> {
    let categories = &config.policy.categories;
    let none = Overlay::default();
    let compile = |overlay: &Overlay| match source {
        RuleSource::Files => Rules::compile_with(
            &files.sources(config.rule_files.iter().chain(&overlay.files))?,
            overlay,
            categories,
        ),
        RuleSource::Embedded(t) => Rules::compile_with(t, overlay, categories),
    };
    let shared = compile(&none)?;
    let mut sites = Vec::with_capacity(config.sites.len());
    for site in &config.sites {
        sites.push(match &site.overlay {
            None => None,
            Some(o) => Some(Arc::new(compile(o)?)),
        });
    }
    Ok(RuleSet {
        shared: Arc::new(shared),
        sites,
    })
}
