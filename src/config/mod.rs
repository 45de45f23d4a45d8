//! The server configuration: one TOML file, validated completely at start-up so that a mistake
//! is refused with `file:line:column` before any traffic is served.

pub mod raw;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::html::response::CachePrivacy;
pub use raw::Mode;

use crate::category::{Categories, Category, CategorySet};
use crate::consent::{Jurisdictions, Policy, Precedence, Regime, SourceKind, tcf};
use crate::cookies::UnknownCookies;
use crate::html;
use crate::position::{Position, toml_error};

/// A configuration error, with its position when it has one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A problem at a position in the file.
    #[error("{pos}: {message}")]
    At {
        /// Where.
        pos: Position,
        /// What.
        message: String,
    },
}

/// One site behind the proxy.
#[derive(Debug, Clone)]
pub struct Site {
    /// Name, used as the `site` metric label.
    pub name: String,
    /// Lower-case host names routed to this site.
    pub hosts: Vec<String>,
    /// Upstreams as configured (`host:port`); each must resolve at start, and host names are
    /// resolved again every `pool.resolve_interval`.
    pub upstreams: Vec<String>,
    /// Health checks, ejection and re-resolution of the upstreams.
    pub pool: Pool,
    /// TLS to the upstream.
    pub tls: bool,
    /// SNI and certificate name for TLS upstreams.
    pub sni: String,
    /// Verify the upstream certificate.
    pub verify_upstream_cert: bool,
    /// enforce, report-only or off.
    pub mode: Mode,
    /// Remove non-consented cookies from requests.
    pub strip_request_cookies: bool,
    /// Put the client guard in rewritten pages (enforce mode only).
    pub guard: bool,
    /// Put consent-gate's own banner in rewritten pages.
    pub banner: bool,
    /// Treatment of cookies no rule knows.
    pub unknown_cookies: UnknownCookies,
    /// How rewritten responses are kept out of shared caches.
    pub cache_privacy: CachePrivacy,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Upstream read timeout.
    pub read_timeout: Duration,
    /// Upstream write timeout.
    pub write_timeout: Duration,
    /// Site-specific rule changes, if any.
    pub overlay: Option<crate::rules::Overlay>,
}

/// How a site's upstreams are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// No active check: an upstream is only ejected after failed connects.
    None,
    /// A TCP connect (and TLS handshake for TLS upstreams).
    Tcp,
    /// `GET` of a path, healthy on status 200.
    Http(String),
}

/// A site's upstream pool settings.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The active check.
    pub health_check: HealthCheck,
    /// Time between checks; also how long a failed connect ejects an upstream.
    pub interval: Duration,
    /// Consecutive successful checks before an unhealthy upstream serves again.
    pub healthy_after: usize,
    /// Consecutive failed checks before a healthy upstream is ejected.
    pub unhealthy_after: usize,
    /// Time between resolutions of the upstreams' host names.
    pub resolve_interval: Duration,
}

/// Process-level settings handed to Pingora.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Proxy listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Worker threads.
    pub threads: usize,
    /// Seconds to keep serving after SIGTERM before shutting down.
    pub grace_period_seconds: u64,
    /// Seconds allowed for services to stop after the grace period.
    pub graceful_shutdown_timeout_seconds: u64,
    /// PID file.
    pub pid_file: String,
    /// Socket used to hand listeners over on upgrade.
    pub upgrade_sock: String,
    /// Extra CA bundle (PEM) trusted for TLS upstreams, besides the system roots.
    pub upstream_ca_file: Option<PathBuf>,
    /// HTTPS listeners.
    pub tls: Vec<TlsListener>,
    /// Time a client has to send a request's headers (from the connection's start, or from
    /// the end of the idle wait on a kept-alive connection).
    pub header_timeout: std::time::Duration,
    /// Time a kept-alive client connection may sit idle between requests.
    pub idle_timeout_seconds: u64,
    /// Most open client connections (HTTP/1) or streams (HTTP/2); more are closed at once.
    pub max_connections: usize,
}

/// An HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Address.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Offer HTTP/2 through ALPN.
    pub h2: bool,
}

/// Limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most `Set-Cookie` headers accepted from an upstream response.
    pub max_set_cookie_headers: usize,
    /// HTML rewriting limits and options.
    pub html: html::RewriteLimits,
    /// Decoding limits for compressed HTML from origins.
    pub decode: html::codec::DecodeLimits,
}

/// How rewritten HTML is encoded for the client.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// Compress rewritten HTML per the client's `Accept-Encoding` (otherwise identity).
    pub enabled: bool,
    /// Level: 1 is fastest.
    pub level: u32,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Process settings.
    pub server: ServerSettings,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Rule files, resolved against the config file's directory.
    pub rule_files: Vec<PathBuf>,
    /// Consent evaluation.
    pub policy: Policy,
    /// Sites.
    pub sites: Vec<Site>,
    /// Index of the site serving unknown hosts.
    pub default_site: Option<usize>,
    /// Limits.
    pub limits: Limits,
    /// Encoding of rewritten HTML.
    pub compression: Compression,
    /// Remembered rewrites (`[html] memo`), or `None` when off.
    pub memo: Option<html::memo::MemoSettings>,
    /// Log one line per action (stripped cookie, neutralized element) with its rule.
    pub audit_log: bool,
    /// Path prefix of the consent endpoint (`None`: disabled).
    pub consent_endpoint: Option<String>,
    /// Google Consent Mode v2: consent type -> the categories it needs (`None`: off).
    pub consent_mode: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// consent-gate's own banner (shown on sites with `banner = true`).
    pub banner: html::banner::Banner,
}

/// The default Consent Mode v2 mapping: advertising types need marketing, analytics storage
/// needs analytics, functionality and personalization need functional; security storage is
/// always granted.
pub fn default_consent_mode() -> std::collections::BTreeMap<String, Vec<String>> {
    [
        ("ad_storage", &["marketing"][..]),
        ("ad_user_data", &["marketing"]),
        ("ad_personalization", &["marketing"]),
        ("analytics_storage", &["analytics"]),
        ("functionality_storage", &["functional"]),
        ("personalization_storage", &["functional"]),
        ("security_storage", &[]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|c| (*c).to_owned()).collect()))
    .collect()
}

/// Validates the raw file, turning every problem into an error at its key's position.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    /// The config file's directory: relative paths in the file are relative to it.
    base: &'a Path,
    /// Look host names up (DNS); when false only literal `ip:port` addresses are accepted.
    resolve: bool,
}

impl Checker<'_> {
    fn err<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError::At {
            pos: Position::of_span(self.path, self.text, span),
            message: message.into(),
        })
    }

    fn category(
        &self,
        categories: &Categories,
        name: &toml::Spanned<String>,
    ) -> Result<Category, ConfigError> {
        categories.lookup(name.get_ref()).map_or_else(
            || {
                let known: Vec<&str> = categories.iter().map(|(_, n)| n).collect();
                self.err(
                    name.span(),
                    format!(
                        "unknown category {:?} (known: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                )
            },
            Ok,
        )
    }

    /// Each `name -> category` entry of a mapping, added to `into`.
    fn category_map(
        &self,
        categories: &Categories,
        entries: &std::collections::BTreeMap<String, toml::Spanned<String>>,
        into: &mut HashMap<String, Category>,
    ) -> Result<(), ConfigError> {
        for (key, category) in entries {
            into.insert(key.clone(), self.category(categories, category)?);
        }
        Ok(())
    }

    fn addr(&self, raw: &toml::Spanned<String>) -> Result<SocketAddr, ConfigError> {
        if !self.resolve {
            return raw.get_ref().parse().or_else(|_| {
                self.err(
                    raw.span(),
                    format!(
                        "{:?} is not an ip:port address (host names are not looked up here)",
                        raw.get_ref()
                    ),
                )
            });
        }
        match raw.get_ref().to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(a)) => Ok(a),
            Ok(None) => self.err(
                raw.span(),
                format!("{:?} resolves to no address", raw.get_ref()),
            ),
            Err(e) => self.err(
                raw.span(),
                format!("{:?} is not a host:port address: {e}", raw.get_ref()),
            ),
        }
    }

    fn header(
        &self,
        raw: &Option<toml::Spanned<String>>,
    ) -> Result<Option<http::HeaderName>, ConfigError> {
        match raw {
            None => Ok(None),
            Some(h) if h.get_ref().is_empty() => Ok(None),
            Some(h) => http::HeaderName::from_bytes(h.get_ref().as_bytes())
                .map(Some)
                .or_else(|_| {
                    self.err(
                        h.span(),
                        format!("{:?} is not a valid header name", h.get_ref()),
                    )
                }),
        }
    }

    /// A path relative to the config file that must exist.
    fn existing_file(&self, raw: &toml::Spanned<String>) -> Result<PathBuf, ConfigError> {
        let p = self.base.join(raw.get_ref());
        match std::fs::metadata(&p) {
            Ok(_) => Ok(p),
            Err(e) => self.err(raw.span(), format!("{}: {e}", p.display())),
        }
    }

    /// `[server]` and the `[[tls]]` listeners.
    fn server(
        &self,
        s: raw::Server,
        tls: &[toml::Spanned<raw::Tls>],
    ) -> Result<ServerSettings, ConfigError> {
        let mut listen = Vec::new();
        for l in s.listen.get_ref() {
            listen.push(self.addr(l)?);
        }
        if listen.is_empty() {
            return self.err(
                s.listen.span(),
                "[server] listen needs at least one address",
            );
        }
        if *s.threads.get_ref() == 0 {
            return self.err(s.threads.span(), "[server] threads must be at least 1");
        }
        let mut listeners = Vec::new();
        for t in tls {
            let t = t.get_ref();
            listeners.push(TlsListener {
                cert: self.existing_file(&t.cert)?,
                key: self.existing_file(&t.key)?,
                listen: self.addr(&t.listen)?,
                h2: t.h2,
            });
        }
        let upstream_ca_file = match &s.upstream_ca_file {
            Some(f) => Some(self.existing_file(f)?),
            None => None,
        };
        for (key, value) in [
            ("header_timeout_seconds", &s.header_timeout_seconds),
            ("idle_timeout_seconds", &s.idle_timeout_seconds),
        ] {
            if *value.get_ref() == 0 {
                return self.err(value.span(), format!("[server] {key} must be at least 1"));
            }
        }
        if *s.max_connections.get_ref() == 0 {
            return self.err(
                s.max_connections.span(),
                "[server] max_connections must be at least 1",
            );
        }
        Ok(ServerSettings {
            listen,
            threads: *s.threads.get_ref(),
            grace_period_seconds: s.grace_period_seconds,
            graceful_shutdown_timeout_seconds: s.graceful_shutdown_timeout_seconds,
            pid_file: s.pid_file,
            upgrade_sock: s.upgrade_sock,
            upstream_ca_file,
            tls: listeners,
            header_timeout: std::time::Duration::from_secs(*s.header_timeout_seconds.get_ref()),
            idle_timeout_seconds: *s.idle_timeout_seconds.get_ref(),
            max_connections: *s.max_connections.get_ref(),
        })
    }

    /// The configured categories: the built-in ones and `[consent] categories`.
    fn categories(&self, c: &raw::Consent) -> Result<Categories, ConfigError> {
        let extra: Vec<&str> = c.categories.iter().map(|c| c.get_ref().as_str()).collect();
        Categories::with_extra(&extra).or_else(|e| {
            let span = c.categories.first().map_or(0..0, toml::Spanned::span);
            self.err(span, e.to_string())
        })
    }

    /// `[consent] sources`, in priority order.
    fn sources(&self, c: &raw::Consent) -> Result<Vec<SourceKind>, ConfigError> {
        let mut sources = Vec::new();
        for s in &c.sources {
            let Some(kind) = SourceKind::from_label(s.get_ref()) else {
                let known: Vec<&str> = SourceKind::all().map(SourceKind::label).collect();
                return self.err(
                    s.span(),
                    format!(
                        "unknown consent source {:?} (known: {})",
                        s.get_ref(),
                        known.join(", ")
                    ),
                );
            };
            if sources.contains(&kind) {
                return self.err(
                    s.span(),
                    format!("consent source {:?} listed twice", s.get_ref()),
                );
            }
            sources.push(kind);
        }
        Ok(sources)
    }

    /// `[jurisdiction]`: regimes by country and region.
    fn jurisdictions(&self, j: &raw::Jurisdiction) -> Result<Jurisdictions, ConfigError> {
        let regime = |r: raw::Regime| match r {
            raw::Regime::OptIn => Regime::OptIn,
            raw::Regime::OptOut => Regime::OptOut,
        };
        Ok(Jurisdictions {
            country_header: self.header(&j.country_header)?,
            region_header: self.header(&j.region_header)?,
            regimes: j
                .regions
                .iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), regime(*v)))
                .collect(),
            default: regime(j.default),
        })
    }

    /// `[consent.tcf.purposes]`, or the default requirements.
    fn tcf_requirements(
        &self,
        categories: &Categories,
        tcf: &raw::Tcf,
    ) -> Result<Vec<tcf::Requirement>, ConfigError> {
        let mut requirements = Vec::new();
        for (name, purposes) in &tcf.purposes {
            let Some(category) = categories.lookup(name) else {
                return self.err(
                    purposes.span(),
                    format!("unknown category {name:?} in [consent.tcf.purposes]"),
                );
            };
            let p = purposes.get_ref();
            if p.all.iter().chain(&p.any).any(|n| !(1..=24).contains(n)) {
                return self.err(purposes.span(), "TCF purposes are numbered 1 to 24");
            }
            requirements.push(tcf::Requirement {
                category,
                all: p.all.clone(),
                any: p.any.clone(),
            });
        }
        if requirements.is_empty() {
            requirements = tcf::default_requirements();
        }
        Ok(requirements)
    }

    /// `[consent]` and `[jurisdiction]` as a consent policy.
    fn policy(&self, c: &raw::Consent, j: &raw::Jurisdiction) -> Result<Policy, ConfigError> {
        let categories = self.categories(c)?;
        if *c.max_cookie_bytes.get_ref() == 0 {
            return self.err(
                c.max_cookie_bytes.span(),
                "[consent] max_cookie_bytes must be positive",
            );
        }
        let mut policy = Policy {
            sources: self.sources(c)?,
            precedence: match c.precedence {
                raw::Precedence::FirstDecides => Precedence::FirstDecides,
                raw::Precedence::MostRestrictive => Precedence::MostRestrictive,
            },
            max_cookie_bytes: *c.max_cookie_bytes.get_ref(),
            cookiebot_honor_no_consent_required: c.cookiebot.honor_no_consent_required,
            onetrust_use_geolocation: c.onetrust.use_geolocation,
            tcf_requirements: self.tcf_requirements(&categories, &c.tcf)?,
            tcf_require_vendor_consent: c.tcf.require_vendor_consent,
            jurisdictions: self.jurisdictions(j)?,
            gpc_in_opt_in: j.gpc_in_opt_in,
            ..Policy::default()
        };
        // Renamed cookies, by source and position in the source's cookie list.
        let renamed = [
            (SourceKind::ConsentGate, 0, &c.cookie),
            (SourceKind::OneTrust, 0, &c.onetrust.cookie),
            (SourceKind::Cookiebot, 0, &c.cookiebot.cookie),
            (SourceKind::Tcf, 0, &c.tcf.cookie),
            (SourceKind::Gpp, 0, &c.gpp.cookie),
            (SourceKind::Gpp, 1, &c.gpp.sid_cookie),
            (SourceKind::UsPrivacy, 0, &c.usprivacy.cookie),
            (SourceKind::Klaro, 0, &c.klaro.cookie),
            (SourceKind::CookieConsent, 0, &c.cookieconsent.cookie),
        ];
        for (kind, i, name) in renamed {
            if let Some(name) = name
                && let Some(slot) = policy
                    .cookies
                    .get_mut(kind as usize)
                    .and_then(|names| names.get_mut(i))
            {
                name.clone_into(slot);
            }
        }
        if let Some(groups) = &c.onetrust.groups {
            policy.onetrust_groups.clear();
            self.category_map(&categories, groups, &mut policy.onetrust_groups)?;
        }
        self.category_map(&categories, &c.klaro.services, &mut policy.klaro_services)?;
        self.category_map(
            &categories,
            &c.cookieconsent.categories,
            &mut policy.cc_categories,
        )?;
        policy.gpc_denies = CategorySet::EMPTY;
        for c in &j.gpc_denies {
            policy.gpc_denies.insert(self.category(&categories, c)?);
        }
        policy.categories = categories;
        Ok(policy)
    }

    /// `[consent_mode]`: the mapping, with every category checked.
    fn consent_mode(
        &self,
        m: &raw::ConsentMode,
        categories: &Categories,
    ) -> Result<Option<std::collections::BTreeMap<String, Vec<String>>>, ConfigError> {
        if !m.enabled {
            return Ok(None);
        }
        let Some(mapping) = &m.mapping else {
            return Ok(Some(default_consent_mode()));
        };
        let mut out = std::collections::BTreeMap::new();
        for (kind, cats) in mapping {
            let mut names = Vec::new();
            for c in cats {
                let category = self.category(categories, c)?;
                names.push(categories.name(category).to_owned());
            }
            out.insert(kind.clone(), names);
        }
        Ok(Some(out))
    }

    /// `[consent] endpoint`: a path prefix, or empty to disable the endpoint.
    fn endpoint(&self, raw: &toml::Spanned<String>) -> Result<Option<String>, ConfigError> {
        let e = raw.get_ref().trim();
        if e.is_empty() {
            Ok(None)
        } else if !e.starts_with('/') || !e.ends_with('/') {
            self.err(
                raw.span(),
                format!("[consent] endpoint {e:?} must start and end with '/'"),
            )
        } else {
            Ok(Some(e.to_owned()))
        }
    }

    /// The `[[site]]` tables, and which one (if any) serves unknown hosts.
    fn sites(
        &self,
        raw_sites: &[toml::Spanned<raw::Site>],
        categories: &Categories,
    ) -> Result<(Vec<Site>, Option<usize>), ConfigError> {
        let mut sites = Vec::new();
        let mut default_site = None;
        let mut seen_hosts: HashMap<String, String> = HashMap::new();
        for spanned in raw_sites {
            let s = spanned.get_ref();
            let name = self.site_name(s, &sites)?;
            let mut hosts = Vec::new();
            for h in &s.hosts {
                let host = h.get_ref().trim_end_matches('.').to_ascii_lowercase();
                if !valid_host(&host) {
                    return self.err(h.span(), format!("{:?} is not a host name", h.get_ref()));
                }
                if let Some(other) = seen_hosts.insert(host.clone(), name.clone()) {
                    return self.err(
                        h.span(),
                        format!("host {host:?} is already served by site {other:?}"),
                    );
                }
                hosts.push(host);
            }
            if s.default {
                if default_site.is_some() {
                    return self.err(spanned.span(), "only one site can be the default");
                }
                default_site = Some(sites.len());
            }
            if hosts.is_empty() && !s.default {
                return self.err(
                    spanned.span(),
                    format!("site {name:?} needs hosts or default = true"),
                );
            }
            sites.push(self.site(spanned, name, hosts, categories)?);
        }
        Ok((sites, default_site))
    }

    fn site_name(&self, s: &raw::Site, earlier: &[Site]) -> Result<String, ConfigError> {
        let name = s.name.get_ref().clone();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return self.err(
                s.name.span(),
                format!("site name {name:?} must use only a-z, 0-9, '-' and '_'"),
            );
        }
        if earlier.iter().any(|x| x.name == name) {
            return self.err(s.name.span(), format!("site {name:?} is defined twice"));
        }
        Ok(name)
    }

    fn site(
        &self,
        spanned: &toml::Spanned<raw::Site>,
        name: String,
        hosts: Vec<String>,
        categories: &Categories,
    ) -> Result<Site, ConfigError> {
        let s = spanned.get_ref();
        if s.upstreams.is_empty() {
            return self.err(
                spanned.span(),
                format!("site {name:?} needs at least one upstream"),
            );
        }
        let mut upstreams = Vec::new();
        for u in &s.upstreams {
            self.addr(u)?;
            upstreams.push(u.get_ref().clone());
        }
        let pool = self.pool(s)?;
        let unknown_cookies = match s.unknown_cookies.get_ref().as_str() {
            "allow" => UnknownCookies::Allow,
            _ => UnknownCookies::As(self.category(categories, &s.unknown_cookies)?),
        };
        let sni = s
            .sni
            .clone()
            .or_else(|| hosts.first().cloned())
            .unwrap_or_default();
        let overlay = crate::rules::Overlay {
            files: s
                .rules
                .iter()
                .map(|f| self.base.join(f.get_ref()))
                .collect(),
            allow_hosts: s.allow_hosts.clone(),
            allow_cookies: s.allow_cookies.clone(),
            disable: s.disable_rules.clone(),
        };
        Ok(Site {
            name,
            hosts,
            upstreams,
            pool,
            tls: s.tls,
            sni,
            verify_upstream_cert: s.verify_upstream_cert,
            mode: s.mode,
            strip_request_cookies: s.strip_request_cookies,
            guard: s.guard,
            banner: s.banner,
            unknown_cookies,
            cache_privacy: match s.cache_privacy {
                raw::CachePrivacy::Vary => CachePrivacy::Vary,
                raw::CachePrivacy::Private => CachePrivacy::Private,
            },
            connect_timeout: Duration::from_millis(s.connect_timeout_ms),
            read_timeout: Duration::from_millis(s.read_timeout_ms),
            write_timeout: Duration::from_millis(s.write_timeout_ms),
            overlay: (overlay != crate::rules::Overlay::default()).then_some(overlay),
        })
    }
}

impl Checker<'_> {
    /// A site's health-check, ejection and resolution settings.
    fn pool(&self, s: &raw::Site) -> Result<Pool, ConfigError> {
        let health_check = match s.health_check.get_ref().as_str() {
            "none" => HealthCheck::None,
            "tcp" => HealthCheck::Tcp,
            "http" => {
                let path = s.health_check_path.get_ref();
                if !path.starts_with('/')
                    || http::uri::PathAndQuery::try_from(path.as_str()).is_err()
                {
                    return self.err(
                        s.health_check_path.span(),
                        format!("health_check_path {path:?} must be a path starting with /"),
                    );
                }
                HealthCheck::Http(path.clone())
            }
            other => {
                return self.err(
                    s.health_check.span(),
                    format!("health_check {other:?} is not one of \"tcp\", \"http\", \"none\""),
                );
            }
        };
        for (key, value, span) in [
            (
                "health_check_interval_ms",
                *s.health_check_interval_ms.get_ref(),
                s.health_check_interval_ms.span(),
            ),
            (
                "resolve_interval_seconds",
                *s.resolve_interval_seconds.get_ref(),
                s.resolve_interval_seconds.span(),
            ),
        ] {
            if value == 0 {
                return self.err(span, format!("{key} must be at least 1"));
            }
        }
        for (key, value) in [
            ("healthy_after", &s.healthy_after),
            ("unhealthy_after", &s.unhealthy_after),
        ] {
            if *value.get_ref() == 0 {
                return self.err(value.span(), format!("{key} must be at least 1"));
            }
        }
        Ok(Pool {
            health_check,
            interval: Duration::from_millis(*s.health_check_interval_ms.get_ref()),
            healthy_after: *s.healthy_after.get_ref(),
            unhealthy_after: *s.unhealthy_after.get_ref(),
            resolve_interval: Duration::from_secs(*s.resolve_interval_seconds.get_ref()),
        })
    }
}

/// `[banner]` over the built-in texts and colours.
fn banner(raw: raw::Banner) -> html::banner::Banner {
    let mut b = html::banner::Banner::default();
    let c = &mut b.colours;
    for (slot, value) in [
        (&mut c.background, raw.background),
        (&mut c.text, raw.text_colour),
        (&mut c.button, raw.button),
        (&mut c.button_text, raw.button_text),
    ] {
        if let Some(v) = value {
            *slot = v;
        }
    }
    if let Some(hosts) = raw.tool_hosts {
        b.tool_hosts = hosts;
    }
    for (lang, t) in raw.text {
        let texts = b
            .texts
            .entry(lang.to_ascii_lowercase())
            .or_insert_with(html::banner::english);
        for (slot, value) in [
            (&mut texts.title, t.title),
            (&mut texts.body, t.body),
            (&mut texts.accept, t.accept),
            (&mut texts.reject, t.reject),
            (&mut texts.save, t.save),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
        for (name, cat) in t.categories {
            texts.categories.insert(name, (cat.label, cat.description));
        }
    }
    b
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        })
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Validates config text read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Self::parse_with(path, text, true)
    }

    /// Validates config text without any network lookup: host names in addresses are refused
    /// instead of resolved (for fuzzing and offline checks).
    pub fn parse_offline(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Self::parse_with(path, text, false)
    }

    fn parse_with(path: &Path, text: &str, resolve: bool) -> Result<Config, ConfigError> {
        let file: raw::File = toml::from_str(text).map_err(|e| {
            let (pos, message) = toml_error(path, text, &e);
            ConfigError::At { pos, message }
        })?;
        let cx = Checker {
            path,
            text,
            base: path.parent().unwrap_or(Path::new(".")),
            resolve,
        };
        let server = cx.server(file.server, &file.tls)?;
        let admin_listen = cx.addr(&file.admin.listen)?;
        let rule_files = file
            .rules
            .files
            .iter()
            .map(|f| cx.base.join(f.get_ref()))
            .collect();
        let policy = cx.policy(&file.consent, &file.jurisdiction)?;
        let consent_endpoint = cx.endpoint(&file.consent.endpoint)?;
        let consent_mode = cx.consent_mode(&file.consent_mode, &policy.categories)?;
        let banner = banner(file.banner);
        let (sites, default_site) = cx.sites(&file.site, &policy.categories)?;
        if sites.is_empty() {
            return cx.err(text.len()..text.len(), "at least one [[site]] is required");
        }
        Ok(Config {
            path: path.to_owned(),
            server,
            admin_listen,
            rule_files,
            policy,
            sites,
            default_site,
            limits: Limits {
                max_set_cookie_headers: file.limits.max_set_cookie_headers,
                html: html::RewriteLimits {
                    max_parser_memory: file.limits.max_html_parser_memory_bytes,
                    max_inline_script: file.limits.max_inline_script_bytes,
                    iframe_placeholder: file.html.iframe_placeholder,
                    fail_open: file.html.on_error == raw::OnError::FailOpen,
                },
                decode: html::codec::DecodeLimits {
                    max_bytes: file.limits.max_decompressed_bytes,
                    max_ratio: file.limits.max_decompression_ratio.max(1),
                },
            },
            compression: Compression {
                enabled: file.html.compress,
                level: file.html.compression_level,
            },
            memo: (file.html.memo && file.html.memo_max_bytes > 0).then_some(
                html::memo::MemoSettings {
                    max_bytes: file.html.memo_max_bytes,
                    max_body_bytes: file.html.memo_max_body_bytes,
                },
            ),
            audit_log: file.logging.audit,
            consent_endpoint,
            consent_mode,
            banner,
        })
    }

    /// The site for a request's host (lower-case, port removed), or the default site.
    pub fn site_index(&self, host: &str) -> Option<usize> {
        self.sites
            .iter()
            .position(|s| s.hosts.iter().any(|h| h == host))
            .or(self.default_site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = ["127.0.0.1:0"]

[rules]
files = ["rules.toml"]

[consent.onetrust.groups]
C0001 = "necessary"
C0002 = "analytics"

[jurisdiction]
country_header = "CF-IPCountry"
regions = { US = "opt-out" }

[[site]]
name = "legacy"
hosts = ["www.example.com"]
default = true
upstreams = ["127.0.0.1:8081"]
mode = "report-only"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/cg/config.toml"), text)
    }

    #[test]
    fn a_good_config_loads_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.rule_files, [PathBuf::from("/etc/cg/rules.toml")]);
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9901");
        assert_eq!(c.sites[0].mode, Mode::ReportOnly);
        assert_eq!(c.sites[0].sni, "www.example.com");
        assert_eq!(c.policy.onetrust_groups.len(), 2);
        assert_eq!(
            c.policy.jurisdictions.regimes.get("US"),
            Some(&Regime::OptOut)
        );
        assert_eq!(c.site_index("www.example.com"), Some(0));
        assert_eq!(c.site_index("other"), Some(0));
    }

    #[test]
    fn errors_point_at_file_line_and_column() {
        let typo = GOOD.replace("country_header", "countryheader");
        let e = parse(&typo).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/cg/config.toml:13:1: unknown field `countryheader`"),
            "{e}"
        );
        let bad_mode = GOOD.replace("report-only", "report");
        let e = parse(&bad_mode).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/cg/config.toml:21:8: unknown variant `report`"),
            "{e}"
        );
        let bad_cat = GOOD.replace("\"analytics\"", "\"stats\"");
        let e = parse(&bad_cat).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/cg/config.toml:10:9: unknown category \"stats\""),
            "{e}"
        );
        let bad_addr = GOOD.replace("127.0.0.1:8081", "nowhere");
        let e = parse(&bad_addr).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/cg/config.toml:20:14: \"nowhere\" is not a host:port address"),
            "{e}"
        );
        // Values that parse but make no sense point at their key's value too.
        for (from, to, want) in [
            (
                "[server]\n",
                "[server]\nthreads = 0\n",
                "3:11: [server] threads must be at least 1",
            ),
            (
                "listen = [\"127.0.0.1:0\"]",
                "listen = []",
                "3:10: [server] listen needs at least one",
            ),
            (
                "[rules]",
                "[consent]\nmax_cookie_bytes = 0\n\n[rules]",
                "6:20: [consent] max_cookie_bytes must be positive",
            ),
            (
                "[rules]",
                "[consent]\nendpoint = \"consent\"\n\n[rules]",
                "6:12: [consent] endpoint \"consent\" must start",
            ),
        ] {
            let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("/etc/cg/config.toml:{want}")), "{e}");
        }
    }

    #[test]
    fn sites_are_checked() {
        let e = parse("[[site]]\nname = \"a\"\nupstreams = [\"127.0.0.1:1\"]\n").unwrap_err();
        assert!(
            e.to_string().contains("needs hosts or default = true"),
            "{e}"
        );
        let e = parse("").unwrap_err();
        assert!(e.to_string().contains("at least one [[site]]"), "{e}");
        let two = "[[site]]\nname = \"a\"\nhosts=[\"x\"]\nupstreams = [\"127.0.0.1:1\"]\n[[site]]\nname = \"b\"\nhosts=[\"X\"]\nupstreams = [\"127.0.0.1:1\"]\n";
        let e = parse(two).unwrap_err();
        assert!(
            e.to_string()
                .contains(":7:8: host \"x\" is already served by site \"a\""),
            "{e}"
        );
    }
}
