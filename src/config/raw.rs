//! The configuration file as written. Every key is documented with its default in the README
//! ("Configuration reference"); unknown keys are rejected.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub consent: Consent,
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub html: Html,
    #[serde(default)]
    pub tls: Vec<Spanned<Tls>>,
    #[serde(default)]
    pub logging: Logging,
    #[serde(default)]
    pub consent_mode: ConsentMode,
    #[serde(default)]
    pub banner: Banner,
    #[serde(default)]
    pub site: Vec<Spanned<Site>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub listen: Spanned<String>,
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    #[serde(default = "yes")]
    pub h2: bool,
}

/// `[banner]`: consent-gate's own banner (sites turn it on with `banner = true`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Banner {
    #[serde(default)]
    pub background: Option<String>,
    #[serde(default)]
    pub text_colour: Option<String>,
    #[serde(default)]
    pub button: Option<String>,
    #[serde(default)]
    pub button_text: Option<String>,
    /// Consent tools' script hosts; replaces the defaults when set.
    #[serde(default)]
    pub tool_hosts: Option<Vec<String>>,
    /// Language tag -> texts, over the built-in English and German ones.
    #[serde(default)]
    pub text: BTreeMap<String, BannerTexts>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BannerTexts {
    pub title: Option<String>,
    pub body: Option<String>,
    pub accept: Option<String>,
    pub reject: Option<String>,
    pub save: Option<String>,
    /// Category -> label and description.
    #[serde(default)]
    pub categories: BTreeMap<String, BannerCategory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BannerCategory {
    pub label: String,
    #[serde(default)]
    pub description: String,
}

/// `[consent_mode]`: Google Consent Mode v2 from the client guard.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentMode {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Consent type -> categories it needs; replaces the default mapping when set.
    #[serde(default)]
    pub mapping: Option<BTreeMap<String, Vec<Spanned<String>>>>,
}

impl Default for ConsentMode {
    fn default() -> Self {
        ConsentMode {
            enabled: true,
            mapping: None,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default)]
    pub audit: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(default = "default_listen")]
    pub listen: Spanned<Vec<Spanned<String>>>,
    #[serde(default = "default_threads")]
    pub threads: Spanned<usize>,
    #[serde(default = "default_grace")]
    pub grace_period_seconds: u64,
    #[serde(default = "default_shutdown_timeout")]
    pub graceful_shutdown_timeout_seconds: u64,
    #[serde(default = "default_pid_file")]
    pub pid_file: String,
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: String,
    #[serde(default)]
    pub upstream_ca_file: Option<Spanned<String>>,
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: Spanned<u64>,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: Spanned<u64>,
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<usize>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: default_listen(),
            threads: default_threads(),
            grace_period_seconds: default_grace(),
            graceful_shutdown_timeout_seconds: default_shutdown_timeout(),
            pid_file: default_pid_file(),
            upgrade_sock: default_upgrade_sock(),
            upstream_ca_file: None,
            header_timeout_seconds: default_header_timeout(),
            idle_timeout_seconds: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_header_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 15)
}
fn default_idle_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}
fn default_max_connections() -> Spanned<usize> {
    Spanned::new(0..0, 10_000)
}
fn default_listen() -> Spanned<Vec<Spanned<String>>> {
    Spanned::new(0..0, vec![Spanned::new(0..0, "0.0.0.0:8080".to_owned())])
}
fn default_threads() -> Spanned<usize> {
    Spanned::new(
        0..0,
        std::thread::available_parallelism().map_or(2, usize::from),
    )
}
fn default_grace() -> u64 {
    10
}
fn default_shutdown_timeout() -> u64 {
    5
}
fn default_pid_file() -> String {
    "/tmp/consent-gate.pid".into()
}
fn default_upgrade_sock() -> String {
    "/tmp/consent-gate-upgrade.sock".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    #[serde(default = "default_admin_listen")]
    pub listen: Spanned<String>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: default_admin_listen(),
        }
    }
}

fn default_admin_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9901".to_owned())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Precedence {
    #[default]
    FirstDecides,
    MostRestrictive,
}

/// `[consent]`. Cookie names left out take the defaults of the source table
/// (`crate::consent::SOURCES`); mappings left out take the defaults of each source's module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    #[serde(default = "default_sources")]
    pub sources: Vec<Spanned<String>>,
    #[serde(default)]
    pub precedence: Precedence,
    #[serde(default = "default_max_cookie_bytes")]
    pub max_cookie_bytes: Spanned<usize>,
    #[serde(default)]
    pub categories: Vec<Spanned<String>>,
    /// consent-gate's own cookie.
    #[serde(default)]
    pub cookie: Option<String>,
    #[serde(default = "default_endpoint")]
    pub endpoint: Spanned<String>,
    #[serde(default)]
    pub onetrust: OneTrust,
    #[serde(default)]
    pub cookiebot: Cookiebot,
    #[serde(default)]
    pub tcf: Tcf,
    #[serde(default)]
    pub gpp: Gpp,
    #[serde(default)]
    pub usprivacy: CookieOnly,
    #[serde(default)]
    pub klaro: Klaro,
    #[serde(default)]
    pub cookieconsent: CookieConsentTool,
}

impl Default for Consent {
    fn default() -> Self {
        Consent {
            sources: default_sources(),
            precedence: Precedence::default(),
            max_cookie_bytes: default_max_cookie_bytes(),
            categories: Vec::new(),
            cookie: None,
            endpoint: default_endpoint(),
            onetrust: OneTrust::default(),
            cookiebot: Cookiebot::default(),
            tcf: Tcf::default(),
            gpp: Gpp::default(),
            usprivacy: CookieOnly::default(),
            klaro: Klaro::default(),
            cookieconsent: CookieConsentTool::default(),
        }
    }
}

fn default_sources() -> Vec<Spanned<String>> {
    crate::consent::SourceKind::all()
        .map(|s| Spanned::new(0..0, s.label().to_owned()))
        .collect()
}
fn default_max_cookie_bytes() -> Spanned<usize> {
    Spanned::new(0..0, crate::consent::DEFAULT_MAX_COOKIE_BYTES)
}
fn default_endpoint() -> Spanned<String> {
    Spanned::new(0..0, "/.consent-gate/".into())
}

/// A source with nothing to configure but its cookie name.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CookieOnly {
    #[serde(default)]
    pub cookie: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OneTrust {
    #[serde(default)]
    pub cookie: Option<String>,
    /// Group id -> category; replaces the default groups when set.
    #[serde(default)]
    pub groups: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    pub use_geolocation: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Cookiebot {
    #[serde(default)]
    pub cookie: Option<String>,
    #[serde(default)]
    pub honor_no_consent_required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purposes {
    #[serde(default)]
    pub all: Vec<u32>,
    #[serde(default)]
    pub any: Vec<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tcf {
    #[serde(default)]
    pub cookie: Option<String>,
    #[serde(default)]
    pub require_vendor_consent: bool,
    /// Category -> purposes; replaces the default mapping when set.
    #[serde(default)]
    pub purposes: BTreeMap<String, Spanned<Purposes>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Gpp {
    #[serde(default)]
    pub cookie: Option<String>,
    #[serde(default)]
    pub sid_cookie: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Klaro {
    #[serde(default)]
    pub cookie: Option<String>,
    /// Service -> category; added to (and overriding) the defaults.
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CookieConsentTool {
    #[serde(default)]
    pub cookie: Option<String>,
    /// Tool category -> category; added to (and overriding) the defaults.
    #[serde(default)]
    pub categories: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    #[default]
    OptIn,
    OptOut,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    #[serde(default)]
    pub country_header: Option<Spanned<String>>,
    #[serde(default)]
    pub region_header: Option<Spanned<String>>,
    #[serde(default)]
    pub default: Regime,
    #[serde(default)]
    pub regions: BTreeMap<String, Regime>,
    #[serde(default = "default_gpc_denies")]
    pub gpc_denies: Vec<Spanned<String>>,
    #[serde(default)]
    pub gpc_in_opt_in: bool,
}

impl Default for Jurisdiction {
    fn default() -> Self {
        Jurisdiction {
            country_header: None,
            region_header: None,
            default: Regime::OptIn,
            regions: BTreeMap::new(),
            gpc_denies: default_gpc_denies(),
            gpc_in_opt_in: false,
        }
    }
}

fn default_gpc_denies() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "marketing".to_owned())]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_set_cookie")]
    pub max_set_cookie_headers: usize,
    #[serde(default = "default_max_inline_script")]
    pub max_inline_script_bytes: usize,
    #[serde(default = "default_max_parser_memory")]
    pub max_html_parser_memory_bytes: usize,
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: u64,
    #[serde(default = "default_max_ratio")]
    pub max_decompression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_set_cookie_headers: default_max_set_cookie(),
            max_inline_script_bytes: default_max_inline_script(),
            max_html_parser_memory_bytes: default_max_parser_memory(),
            max_decompressed_bytes: default_max_decompressed(),
            max_decompression_ratio: default_max_ratio(),
        }
    }
}

fn default_max_set_cookie() -> usize {
    256
}
fn default_max_inline_script() -> usize {
    4 << 20
}
fn default_max_parser_memory() -> usize {
    4 << 20
}
fn default_max_decompressed() -> u64 {
    256 << 20
}
fn default_max_ratio() -> u64 {
    200
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    #[default]
    FailClosed,
    FailOpen,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Html {
    #[serde(default = "yes")]
    pub iframe_placeholder: bool,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default = "yes")]
    pub compress: bool,
    #[serde(default = "default_level")]
    pub compression_level: u32,
    #[serde(default = "yes")]
    pub memo: bool,
    #[serde(default = "default_memo_bytes")]
    pub memo_max_bytes: usize,
    #[serde(default = "default_memo_body_bytes")]
    pub memo_max_body_bytes: usize,
}

impl Default for Html {
    fn default() -> Self {
        Html {
            iframe_placeholder: true,
            on_error: OnError::FailClosed,
            compress: true,
            compression_level: default_level(),
            memo: true,
            memo_max_bytes: default_memo_bytes(),
            memo_max_body_bytes: default_memo_body_bytes(),
        }
    }
}

fn default_memo_bytes() -> usize {
    64 << 20
}
fn default_memo_body_bytes() -> usize {
    1 << 20
}

fn default_level() -> u32 {
    1
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    ReportOnly,
    Off,
}

impl Mode {
    /// The name used in the config file, logs and metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::ReportOnly => "report-only",
            Mode::Off => "off",
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CachePrivacy {
    #[default]
    Vary,
    Private,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: Spanned<String>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub default: bool,
    pub upstreams: Vec<Spanned<String>>,
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub sni: Option<String>,
    #[serde(default = "yes")]
    pub verify_upstream_cert: bool,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default = "yes")]
    pub strip_request_cookies: bool,
    #[serde(default = "yes")]
    pub guard: bool,
    #[serde(default)]
    pub banner: bool,
    #[serde(default = "default_unknown")]
    pub unknown_cookies: Spanned<String>,
    #[serde(default)]
    pub cache_privacy: CachePrivacy,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_io_timeout")]
    pub read_timeout_ms: u64,
    #[serde(default = "default_io_timeout")]
    pub write_timeout_ms: u64,
    #[serde(default = "default_health_check")]
    pub health_check: Spanned<String>,
    #[serde(default = "default_health_check_path")]
    pub health_check_path: Spanned<String>,
    #[serde(default = "default_health_check_interval")]
    pub health_check_interval_ms: Spanned<u64>,
    #[serde(default = "one")]
    pub healthy_after: Spanned<usize>,
    #[serde(default = "two")]
    pub unhealthy_after: Spanned<usize>,
    #[serde(default = "default_resolve_interval")]
    pub resolve_interval_seconds: Spanned<u64>,
    #[serde(default)]
    pub rules: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    #[serde(default)]
    pub allow_cookies: Vec<String>,
    #[serde(default)]
    pub disable_rules: Vec<String>,
}

fn yes() -> bool {
    true
}
fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}
fn two() -> Spanned<usize> {
    Spanned::new(0..0, 2)
}
fn default_health_check() -> Spanned<String> {
    Spanned::new(0..0, "tcp".to_owned())
}
fn default_health_check_path() -> Spanned<String> {
    Spanned::new(0..0, "/".to_owned())
}
fn default_health_check_interval() -> Spanned<u64> {
    Spanned::new(0..0, 2_000)
}
fn default_resolve_interval() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_unknown() -> Spanned<String> {
    Spanned::new(0..0, "allow".to_owned())
}
fn default_connect_timeout() -> u64 {
    5_000
}
fn default_io_timeout() -> u64 {
    60_000
}
