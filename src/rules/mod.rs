//! Rules: what each cookie, third-party host and inline script is, compiled once into an
//! immutable [`Rules`] value that every request reads through one snapshot.
//!
//! Files are front-ends ([`file`]); [`Rules::compile`] parses, validates and compiles them in one
//! fallible step, so a value of this type is always complete and a broken file never replaces a
//! good set. Lookups cost a few hash probes whatever the size of the set: hosts are matched by
//! walking their labels, cookie names by exact and prefix tables before a `RegexSet`, inline
//! scripts by one Aho-Corasick automaton.

pub mod file;
pub mod generate;

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aho_corasick::AhoCorasick;
use regex::RegexSet;
use toml::Spanned;

use crate::category::{Categories, Category, CategorySet};
use crate::position::{LineIndex, Position, toml_error};

/// What kind of rule decided something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `[[cookie]] name = ...`
    CookieExact,
    /// `[[cookie]] prefix = ...`
    CookiePrefix,
    /// `[[cookie]] regex = ...`
    CookieRegex,
    /// `[[resource]]`
    Resource,
    /// `[[signature]]`
    Signature,
    /// `[[allow]] host = ...`
    AllowHost,
    /// `[[allow]] cookie = ...`
    AllowCookie,
    /// `[[path]]`
    Path,
}

/// One compiled rule, with where it came from.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Kind of rule.
    pub kind: RuleKind,
    /// The name, prefix, regex, host(/path), signature text as written.
    pub pattern: Box<str>,
    /// Category (necessary for allow rules).
    pub category: Category,
    /// Vendor as written.
    pub vendor: Box<str>,
    /// Index of the file in [`Rules::files`].
    pub file: usize,
    /// Line in that file.
    pub line: usize,
    /// IAB TCF vendor id, when the rule names one.
    pub tcf_vendor: Option<u32>,
}

impl RuleInfo {
    /// Whether what this rule classifies may be used when `allowed` categories are consented
    /// and, when a TC string decided and vendor consent is required, `tcf_vendors` (sorted)
    /// have consent.
    pub fn permitted(&self, allowed: CategorySet, tcf_vendors: Option<&[u32]>) -> bool {
        allowed.contains(self.category)
            && match (tcf_vendors, self.tcf_vendor) {
                (Some(vendors), Some(v)) => vendors.binary_search(&v).is_ok(),
                _ => true,
            }
    }
}

/// A loaded rules file.
#[derive(Debug, Clone)]
pub struct RuleFileInfo {
    /// Path as configured.
    pub path: PathBuf,
    /// Number of rules it contributed.
    pub rules: usize,
    /// The path as `file:line` origins show it, made once: an origin is built for every
    /// cookie and element a request decides on.
    pub shown: Box<str>,
}

/// How a lookup came out.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'r> {
    /// An allow rule matched: never blocked.
    Allowed(&'r RuleInfo),
    /// A rule classified it.
    Classified(&'r RuleInfo),
    /// No rule knows it.
    Unknown,
}

impl<'r> Verdict<'r> {
    /// The rule that decided, if any.
    pub fn rule(self) -> Option<&'r RuleInfo> {
        match self {
            Verdict::Allowed(r) | Verdict::Classified(r) => Some(r),
            Verdict::Unknown => None,
        }
    }
}

/// Counts of rules by kind, for `/rules` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// First-party path rules.
    pub paths: usize,
    /// Cookie rules (exact, prefix, regex).
    pub cookies: usize,
    /// Resource rules.
    pub resources: usize,
    /// Inline script signatures.
    pub signatures: usize,
    /// Allow rules.
    pub allows: usize,
}

/// An error in a rules file, with its position.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("{path}: cannot read rules file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a wrong type.
    #[error("{pos}: {message}")]
    Syntax {
        /// Where.
        pos: Position,
        /// What.
        message: String,
    },
    /// A rule is well-formed TOML but makes no sense.
    #[error("{pos}: {message}")]
    Invalid {
        /// Where.
        pos: Position,
        /// What.
        message: String,
    },
}

type RuleId = usize;

/// A site's changes to the shared rules: more files, extra allow rules, and rules switched off
/// (by their pattern: a cookie name, prefix or regex, `host` or `host/path`, or a signature).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// Rule files loaded after the shared ones.
    pub files: Vec<PathBuf>,
    /// Hosts never blocked on this site.
    pub allow_hosts: Vec<String>,
    /// Cookies never stripped on this site.
    pub allow_cookies: Vec<String>,
    /// Patterns of rules that do not apply on this site.
    pub disable: Vec<String>,
}

impl Overlay {
    /// The overlay's allow rules as a rules file.
    fn allow_file(&self) -> String {
        let q = |v: &str| format!("{v:?}");
        let mut out = String::new();
        for h in &self.allow_hosts {
            out.push_str(&format!(
                "[[allow]]\nhost = {}\nvendor = \"site override\"\n",
                q(h)
            ));
        }
        for c in &self.allow_cookies {
            out.push_str(&format!(
                "[[allow]]\ncookie = {}\nvendor = \"site override\"\n",
                q(c)
            ));
        }
        out
    }
}

/// A compiled, validated, immutable rule set.
#[derive(Debug)]
pub struct Rules {
    categories: Categories,
    infos: Vec<RuleInfo>,
    files: Vec<RuleFileInfo>,
    /// Cookie name -> (allow rule, exact rule): one probe for both.
    cookie_names: StrTable<(Option<RuleId>, Option<RuleId>)>,
    /// Cookie prefixes, matched anchored at the start, longest first.
    cookie_prefixes: Option<AhoCorasick>,
    cookie_prefix_ids: Vec<RuleId>,
    cookie_regex: RegexSet,
    cookie_regex_ids: Vec<RuleId>,
    /// Host suffix -> its allow rule and its rules (longest path prefix first): one probe per
    /// label of the host.
    hosts: HostTable,
    signatures: Option<AhoCorasick>,
    signature_ids: Vec<RuleId>,
    /// Every host of a resource rule, to find where a script's text names one.
    mentions: Option<AhoCorasick>,
    /// First-party path prefixes, longest first.
    paths: Vec<(Box<str>, RuleId)>,
    blockable: CategorySet,
    counts: RuleCounts,
    loaded_at: SystemTime,
    /// Unique in the process: what is derived from this set can be cached under it.
    id: u64,
}

/// Source of [`Rules::id`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The rules on one host suffix.
#[derive(Debug, Default, Clone)]
struct HostEntry {
    allow: Option<RuleId>,
    paths: Vec<(Box<str>, RuleId)>,
}

/// String -> value, keyed by the string's 64-bit hash: a probe compares integers, and the text
/// is compared once, on a hit. Thousands of rules then cost what fifty do.
#[derive(Debug)]
struct StrTable<T> {
    by_hash: FxHashMap<u64, u32>,
    /// (key, value, next entry with the same hash).
    entries: Vec<(Box<str>, T, Option<u32>)>,
}

impl<T> Default for StrTable<T> {
    fn default() -> Self {
        StrTable {
            by_hash: FxHashMap::default(),
            entries: Vec::new(),
        }
    }
}

fn str_hash(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

type HostTable = StrTable<HostEntry>;

impl<T> StrTable<T> {
    fn insert(&mut self, key: &str, value: T) {
        let Ok(index) = u32::try_from(self.entries.len()) else {
            return;
        };
        let previous = self.by_hash.insert(str_hash(key), index);
        self.entries.push((key.into(), value, previous));
    }

    fn get(&self, key: &str) -> Option<&T> {
        let mut next = self.by_hash.get(&str_hash(key)).copied();
        while let Some(i) = next {
            let (stored, value, chained) = self.entries.get(usize::try_from(i).ok()?)?;
            if **stored == *key {
                return Some(value);
            }
            next = *chained;
        }
        None
    }
}

/// Builds a [`Rules`] value file by file.
struct Compiler<'c> {
    categories: &'c Categories,
    infos: Vec<RuleInfo>,
    files: Vec<RuleFileInfo>,
    cookie_exact: HashMap<Box<str>, RuleId>,
    cookie_prefix: HashMap<Box<str>, RuleId>,
    regexes: Vec<(String, RuleId)>,
    hosts: HashMap<Box<str>, Vec<(Box<str>, RuleId)>>,
    signatures: Vec<(String, RuleId)>,
    allow_hosts: HashMap<Box<str>, RuleId>,
    allow_cookies: HashMap<Box<str>, RuleId>,
    disabled: std::collections::HashSet<String>,
    paths: Vec<(String, RuleId)>,
}

/// The file a rule being compiled comes from: positions for error messages, and the rules
/// already seen in it (a duplicate inside one file is a mistake; a later file overriding an
/// earlier one is how curated rules win over generated ones).
struct InFile<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
    /// Index of the file in [`Rules::files`].
    index: usize,
    /// Duplicate key -> line of its first rule.
    seen: HashMap<String, usize>,
}

impl InFile<'_> {
    fn invalid<T>(&self, span: std::ops::Range<usize>, message: String) -> Result<T, RulesError> {
        Err(RulesError::Invalid {
            pos: Position::of_span(self.path, self.text, span),
            message,
        })
    }

    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.lines.line(span.start)
    }
}

/// What every kind of rule records, checked and ready to be indexed.
struct Draft<'r> {
    kind: RuleKind,
    pattern: String,
    category: Category,
    vendor: &'r str,
    tcf_vendor: Option<u32>,
    /// The whole rule (its line is the rule's line).
    rule_span: std::ops::Range<usize>,
    /// Where a duplicate is reported.
    key_span: std::ops::Range<usize>,
}

/// Lower-cases a host suffix from a rule and checks it is a plain DNS name.
pub(crate) fn normalize_rule_host(raw: &str) -> Result<String, String> {
    let host = raw
        .trim()
        .trim_start_matches("*.")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "host {raw:?} is not a host name (write a domain such as \"facebook.net\", without scheme, port or path)"
        ))
    }
}

pub(crate) fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b';' | b',' | b'"' | b'\\'))
}

impl<'c> Compiler<'c> {
    fn new(categories: &'c Categories) -> Self {
        Compiler {
            categories,
            infos: Vec::new(),
            files: Vec::new(),
            cookie_exact: HashMap::new(),
            cookie_prefix: HashMap::new(),
            regexes: Vec::new(),
            hosts: HashMap::new(),
            signatures: Vec::new(),
            allow_hosts: HashMap::new(),
            allow_cookies: HashMap::new(),
            disabled: std::collections::HashSet::new(),
            paths: Vec::new(),
        }
    }

    fn category(&self, f: &InFile<'_>, raw: &Spanned<String>) -> Result<Category, RulesError> {
        match self.categories.lookup(raw.get_ref()) {
            Some(c) => Ok(c),
            None => {
                let known: Vec<&str> = self.categories.iter().map(|(_, n)| n).collect();
                f.invalid(
                    raw.span(),
                    format!(
                        "unknown category {:?} (known: {})",
                        raw.get_ref(),
                        known.join(", ")
                    ),
                )
            }
        }
    }

    /// Records a checked rule: skipped when a site overlay disables its pattern (allow rules
    /// cannot be disabled), refused when the file already has the same rule.
    fn record(&mut self, f: &mut InFile<'_>, d: Draft<'_>) -> Result<Option<RuleId>, RulesError> {
        let allow = matches!(d.kind, RuleKind::AllowHost | RuleKind::AllowCookie);
        if !allow && self.disabled.contains(&d.pattern) {
            return Ok(None);
        }
        let key = format!("{:?} {:?}", d.kind, d.pattern);
        let line = f.line(d.key_span.clone());
        if let Some(first) = f.seen.insert(key.clone(), line) {
            return f.invalid(
                d.key_span,
                format!("duplicate rule {key} (first at line {first})"),
            );
        }
        self.infos.push(RuleInfo {
            kind: d.kind,
            pattern: d.pattern.into(),
            category: d.category,
            vendor: d.vendor.into(),
            file: f.index,
            line: f.line(d.rule_span),
            tcf_vendor: d.tcf_vendor,
        });
        Ok(Some(self.infos.len() - 1))
    }

    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), RulesError> {
        let parsed: file::RulesFile = toml::from_str(text).map_err(|e| {
            let (pos, message) = toml_error(path, text, &e);
            RulesError::Syntax { pos, message }
        })?;
        let before = self.infos.len();
        let mut f = InFile {
            path,
            text,
            lines: LineIndex::new(text),
            index: self.files.len(),
            seen: HashMap::new(),
        };
        for rule in &parsed.cookie {
            self.add_cookie(&mut f, rule)?;
        }
        for rule in &parsed.resource {
            self.add_resource(&mut f, rule)?;
        }
        for rule in &parsed.signature {
            self.add_signature(&mut f, rule)?;
        }
        for rule in &parsed.path {
            self.add_path(&mut f, rule)?;
        }
        for rule in &parsed.allow {
            self.add_allow(&mut f, rule)?;
        }
        self.files.push(RuleFileInfo {
            path: path.to_owned(),
            rules: self.infos.len() - before,
            shown: path.display().to_string().into_boxed_str(),
        });
        Ok(())
    }

    fn add_cookie(
        &mut self,
        f: &mut InFile<'_>,
        rule: &Spanned<file::CookieRule>,
    ) -> Result<(), RulesError> {
        let r = rule.get_ref();
        let (kind, pattern) = match (&r.name, &r.prefix, &r.regex) {
            (Some(n), None, None) => (RuleKind::CookieExact, n),
            (None, Some(p), None) => (RuleKind::CookiePrefix, p),
            (None, None, Some(x)) => (RuleKind::CookieRegex, x),
            _ => {
                return f.invalid(
                    rule.span(),
                    "a [[cookie]] rule needs exactly one of name, prefix or regex".into(),
                );
            }
        };
        let text = pattern.get_ref();
        if kind == RuleKind::CookieRegex {
            if let Err(e) = regex::Regex::new(text) {
                let full = e.to_string();
                let msg = full
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(&full)
                    .to_owned();
                return f.invalid(pattern.span(), format!("bad regex {text:?}: {msg}"));
            }
        } else if !valid_cookie_name(text) {
            return f.invalid(
                pattern.span(),
                format!("{text:?} is not a valid cookie name"),
            );
        }
        let draft = Draft {
            kind,
            pattern: text.clone(),
            category: self.category(f, &r.category)?,
            vendor: &r.vendor,
            tcf_vendor: r.tcf_vendor,
            rule_span: rule.span(),
            key_span: pattern.span(),
        };
        let Some(id) = self.record(f, draft)? else {
            return Ok(());
        };
        match kind {
            RuleKind::CookieExact => {
                self.cookie_exact.insert(text.as_str().into(), id);
            }
            RuleKind::CookiePrefix => {
                self.cookie_prefix.insert(text.as_str().into(), id);
            }
            _ => self.regexes.push((text.clone(), id)),
        }
        Ok(())
    }

    fn add_resource(
        &mut self,
        f: &mut InFile<'_>,
        rule: &Spanned<file::ResourceRule>,
    ) -> Result<(), RulesError> {
        let r = rule.get_ref();
        let host = match normalize_rule_host(r.host.get_ref()) {
            Ok(h) => h,
            Err(m) => return f.invalid(r.host.span(), m),
        };
        let path = match &r.path {
            Some(p) if !p.get_ref().starts_with('/') => {
                return f.invalid(
                    p.span(),
                    format!("path {:?} must start with '/'", p.get_ref()),
                );
            }
            Some(p) => p.get_ref().clone(),
            None => String::new(),
        };
        let draft = Draft {
            kind: RuleKind::Resource,
            pattern: format!("{host}{path}"),
            category: self.category(f, &r.category)?,
            vendor: &r.vendor,
            tcf_vendor: r.tcf_vendor,
            rule_span: rule.span(),
            key_span: r.host.span(),
        };
        let Some(id) = self.record(f, draft)? else {
            return Ok(());
        };
        let entries = self.hosts.entry(host.into()).or_default();
        // A later file overrides an earlier rule for the same host and path.
        entries.retain(|(p, _)| **p != *path);
        entries.push((path.into(), id));
        entries.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        Ok(())
    }

    fn add_signature(
        &mut self,
        f: &mut InFile<'_>,
        rule: &Spanned<file::SignatureRule>,
    ) -> Result<(), RulesError> {
        let r = rule.get_ref();
        let text = r.text.get_ref();
        if text.len() < 3 {
            return f.invalid(
                r.text.span(),
                format!("signature {text:?} is too short to be specific (3 bytes at least)"),
            );
        }
        let draft = Draft {
            kind: RuleKind::Signature,
            pattern: text.clone(),
            category: self.category(f, &r.category)?,
            vendor: &r.vendor,
            tcf_vendor: r.tcf_vendor,
            rule_span: rule.span(),
            key_span: r.text.span(),
        };
        if let Some(id) = self.record(f, draft)? {
            self.signatures.retain(|(t, _)| t != text);
            self.signatures.push((text.clone(), id));
        }
        Ok(())
    }

    fn add_path(
        &mut self,
        f: &mut InFile<'_>,
        rule: &Spanned<file::PathRule>,
    ) -> Result<(), RulesError> {
        let r = rule.get_ref();
        let prefix = r.prefix.get_ref();
        if !prefix.starts_with('/') || prefix.len() < 2 {
            return f.invalid(
                r.prefix.span(),
                format!("path prefix {prefix:?} must start with '/' and name more than the root"),
            );
        }
        let draft = Draft {
            kind: RuleKind::Path,
            pattern: prefix.clone(),
            category: self.category(f, &r.category)?,
            vendor: &r.vendor,
            tcf_vendor: None,
            rule_span: rule.span(),
            key_span: r.prefix.span(),
        };
        if let Some(id) = self.record(f, draft)? {
            self.paths.retain(|(p, _)| p != prefix);
            self.paths.push((prefix.clone(), id));
        }
        Ok(())
    }

    fn add_allow(
        &mut self,
        f: &mut InFile<'_>,
        rule: &Spanned<file::AllowRule>,
    ) -> Result<(), RulesError> {
        let r = rule.get_ref();
        let (kind, pattern) = match (&r.host, &r.cookie) {
            (Some(h), None) => match normalize_rule_host(h.get_ref()) {
                Ok(host) => (RuleKind::AllowHost, host),
                Err(m) => return f.invalid(h.span(), m),
            },
            (None, Some(c)) if valid_cookie_name(c.get_ref()) => {
                (RuleKind::AllowCookie, c.get_ref().clone())
            }
            (None, Some(c)) => {
                return f.invalid(
                    c.span(),
                    format!("{:?} is not a valid cookie name", c.get_ref()),
                );
            }
            _ => {
                return f.invalid(
                    rule.span(),
                    "an [[allow]] rule needs exactly one of host or cookie".into(),
                );
            }
        };
        let draft = Draft {
            kind,
            pattern: pattern.clone(),
            category: Category::NECESSARY,
            vendor: &r.vendor,
            tcf_vendor: None,
            rule_span: rule.span(),
            key_span: rule.span(),
        };
        if let Some(id) = self.record(f, draft)? {
            let table = if kind == RuleKind::AllowHost {
                &mut self.allow_hosts
            } else {
                &mut self.allow_cookies
            };
            table.insert(pattern.into(), id);
        }
        Ok(())
    }

    /// Builds the lookup structures: one compiled value, or an error.
    fn finish(self) -> Result<Rules, RulesError> {
        // A later file overrides an earlier regex with the same text.
        let mut regexes = self.regexes.clone();
        let mut seen = std::collections::HashSet::new();
        regexes.reverse();
        regexes.retain(|(r, _)| seen.insert(r.clone()));
        regexes.reverse();
        let cookie_regex = RegexSet::new(regexes.iter().map(|(r, _)| r))
            .map_err(|e| internal(format!("cookie regexes cannot be compiled together: {e}")))?;
        let (cookie_prefixes, cookie_prefix_ids) = self.prefix_automaton()?;
        let signatures = self.signature_automaton()?;
        let mentions = self.mention_automaton()?;
        let mut paths: Vec<(Box<str>, RuleId)> = self
            .paths
            .iter()
            .map(|(p, id)| (p.as_str().into(), *id))
            .collect();
        paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let counts = RuleCounts {
            paths: paths.len(),
            cookies: self.cookie_exact.len() + self.cookie_prefix.len() + regexes.len(),
            resources: self.hosts.values().map(Vec::len).sum(),
            signatures: self.signatures.len(),
            allows: self.allow_hosts.len() + self.allow_cookies.len(),
        };
        Ok(Rules {
            cookie_names: self.cookie_table(),
            hosts: self.host_table(),
            blockable: self.blockable(),
            categories: self.categories.clone(),
            cookie_prefixes,
            cookie_prefix_ids,
            cookie_regex,
            cookie_regex_ids: regexes.into_iter().map(|(_, id)| id).collect(),
            signature_ids: self.signatures.iter().map(|(_, id)| *id).collect(),
            signatures,
            mentions,
            paths,
            counts,
            infos: self.infos,
            files: self.files,
            loaded_at: SystemTime::now(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Cookie prefixes as one anchored, longest-match automaton, and the rule of each pattern.
    fn prefix_automaton(&self) -> Result<(Option<AhoCorasick>, Vec<RuleId>), RulesError> {
        let mut prefixes: Vec<(&Box<str>, &RuleId)> = self.cookie_prefix.iter().collect();
        prefixes.sort();
        if prefixes.is_empty() {
            return Ok((None, Vec::new()));
        }
        let automaton = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .start_kind(aho_corasick::StartKind::Anchored)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(prefixes.iter().map(|(p, _)| p.as_bytes()))
            .map_err(|e| internal(format!("cookie prefixes cannot be compiled: {e}")))?;
        Ok((
            Some(automaton),
            prefixes.iter().map(|(_, id)| **id).collect(),
        ))
    }

    /// Inline script signatures as one automaton (`None` without signatures).
    fn signature_automaton(&self) -> Result<Option<AhoCorasick>, RulesError> {
        if self.signatures.is_empty() {
            return Ok(None);
        }
        AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(self.signatures.iter().map(|(t, _)| t))
            .map(Some)
            .map_err(|e| internal(format!("inline signatures cannot be compiled: {e}")))
    }

    /// The hosts of resource rules as one case-insensitive automaton (`None` without resource
    /// rules). It only finds candidates: [`Rules::host_mentions`] reads the whole host name
    /// around each one, and the host lookup decides.
    fn mention_automaton(&self) -> Result<Option<AhoCorasick>, RulesError> {
        let mut hosts: Vec<&str> = self.hosts.keys().map(|h| &**h).collect();
        if hosts.is_empty() {
            return Ok(None);
        }
        hosts.sort_unstable();
        AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .ascii_case_insensitive(true)
            .build(hosts)
            .map(Some)
            .map_err(|e| internal(format!("resource hosts cannot be compiled: {e}")))
    }

    /// Cookie name -> (allow rule, exact rule).
    fn cookie_table(&self) -> StrTable<(Option<RuleId>, Option<RuleId>)> {
        let mut names: FxHashMap<Box<str>, (Option<RuleId>, Option<RuleId>)> = FxHashMap::default();
        for (name, id) in &self.allow_cookies {
            names.entry(name.clone()).or_default().0 = Some(*id);
        }
        for (name, id) in &self.cookie_exact {
            names.entry(name.clone()).or_default().1 = Some(*id);
        }
        let mut table = StrTable::default();
        for (name, entry) in names {
            table.insert(&name, entry);
        }
        table
    }

    /// Host suffix -> its allow rule and its resource rules.
    fn host_table(&self) -> HostTable {
        let mut by_host: FxHashMap<Box<str>, HostEntry> = FxHashMap::default();
        for (host, id) in &self.allow_hosts {
            by_host.entry(host.clone()).or_default().allow = Some(*id);
        }
        for (host, paths) in &self.hosts {
            by_host.entry(host.clone()).or_default().paths = paths.clone();
        }
        let mut table = HostTable::default();
        for (host, entry) in by_host {
            table.insert(&host, entry);
        }
        table
    }

    /// Categories some resource or signature rule can block.
    fn blockable(&self) -> CategorySet {
        let resources = self.hosts.values().flatten().map(|(_, id)| id);
        let signatures = self.signatures.iter().map(|(_, id)| id);
        let mut blockable = CategorySet::EMPTY;
        for id in resources.chain(signatures) {
            if let Some(info) = self.infos.get(*id) {
                blockable.insert(info.category);
            }
        }
        blockable.remove(Category::NECESSARY);
        blockable
    }
}

/// An error of the rule set as a whole (no single rule to point at).
fn internal(message: String) -> RulesError {
    RulesError::Invalid {
        pos: Position {
            file: PathBuf::from("<rules>"),
            line: 0,
            column: 0,
        },
        message,
    }
}

impl Rules {
    /// Compiles rule files given as `(path, text)`, later files overriding earlier ones.
    pub fn compile<P: AsRef<Path>, T: AsRef<str>>(
        sources: &[(P, T)],
        categories: &Categories,
    ) -> Result<Rules, RulesError> {
        let mut compiler = Compiler::new(categories);
        for (path, text) in sources {
            compiler.add_file(path.as_ref(), text.as_ref())?;
        }
        compiler.finish()
    }

    /// Reads and compiles rule files.
    pub fn load(paths: &[PathBuf], categories: &Categories) -> Result<Rules, RulesError> {
        Self::load_with(paths, &Overlay::default(), categories)
    }

    /// Reads rule files, then compiles them with a site's overlay.
    pub fn load_with(
        paths: &[PathBuf],
        overlay: &Overlay,
        categories: &Categories,
    ) -> Result<Rules, RulesError> {
        let mut sources = Vec::with_capacity(paths.len() + overlay.files.len());
        for path in paths.iter().chain(&overlay.files) {
            let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
                path: path.clone(),
                source,
            })?;
            sources.push((path.clone(), text));
        }
        Self::compile_with(&sources, overlay, categories)
    }

    /// Compiles `(path, text)` sources (shared files, then the overlay's files) with an
    /// overlay's allow and disable lists.
    pub fn compile_with<P: AsRef<Path>, T: AsRef<str>>(
        sources: &[(P, T)],
        overlay: &Overlay,
        categories: &Categories,
    ) -> Result<Rules, RulesError> {
        let mut compiler = Compiler::new(categories);
        compiler.disabled = overlay.disable.iter().cloned().collect();
        for (path, text) in sources {
            compiler.add_file(path.as_ref(), text.as_ref())?;
        }
        let allows = overlay.allow_file();
        if !allows.is_empty() {
            compiler.add_file(Path::new("<site overrides>"), &allows)?;
        }
        compiler.finish()
    }

    /// The category table the rules were compiled against.
    pub fn categories(&self) -> &Categories {
        &self.categories
    }

    /// The files, in load order.
    pub fn files(&self) -> &[RuleFileInfo] {
        &self.files
    }

    /// Counts by kind.
    pub fn counts(&self) -> RuleCounts {
        self.counts
    }

    /// An id no other rule set of this process has.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When this set was compiled.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// Categories that at least one resource or signature rule can block: HTML only needs
    /// rewriting when consent denies one of these.
    pub fn blockable(&self) -> CategorySet {
        self.blockable
    }

    /// `file:line` of a rule, for logs and `explain`.
    pub fn origin(&self, rule: &RuleInfo) -> String {
        use std::fmt::Write;
        let file = self.files.get(rule.file).map_or("<rules>", |f| &f.shown);
        let mut out = String::with_capacity(file.len() + 8);
        out.push_str(file);
        let _ = write!(out, ":{}", rule.line);
        out
    }

    fn info(&self, id: RuleId) -> Option<&RuleInfo> {
        self.infos.get(id)
    }

    /// Every rule in effect (rules overridden by a later file or disabled by a site are not),
    /// each once, in no particular order.
    pub fn active(&self) -> impl Iterator<Item = &RuleInfo> {
        let hosts = self
            .hosts
            .entries
            .iter()
            .flat_map(|(_, e, _)| e.allow.into_iter().chain(e.paths.iter().map(|(_, id)| *id)));
        let names = self
            .cookie_names
            .entries
            .iter()
            .flat_map(|(_, (allow, exact), _)| allow.iter().chain(exact.iter()).copied());
        let lists = self
            .cookie_prefix_ids
            .iter()
            .chain(&self.cookie_regex_ids)
            .chain(&self.signature_ids)
            .chain(self.paths.iter().map(|(_, id)| id))
            .copied();
        hosts
            .chain(names)
            .chain(lists)
            .filter_map(|id| self.info(id))
    }

    /// Classifies a cookie name: allow rules first, then exact, longest prefix, regex.
    pub fn cookie(&self, name: &str) -> Verdict<'_> {
        if let Some(&(allow, exact)) = self.cookie_names.get(name) {
            if let Some(info) = allow.and_then(|id| self.info(id)) {
                return Verdict::Allowed(info);
            }
            if let Some(info) = exact.and_then(|id| self.info(id)) {
                return Verdict::Classified(info);
            }
        }
        if let Some(ac) = &self.cookie_prefixes {
            let input = aho_corasick::Input::new(name).anchored(aho_corasick::Anchored::Yes);
            if let Some(m) = ac.find(input)
                && let Some(info) = self
                    .cookie_prefix_ids
                    .get(m.pattern().as_usize())
                    .and_then(|&id| self.info(id))
            {
                return Verdict::Classified(info);
            }
        }
        if !self.cookie_regex_ids.is_empty()
            && let Some(first) = self.cookie_regex.matches(name).iter().next()
            && let Some(info) = self
                .cookie_regex_ids
                .get(first)
                .and_then(|&id| self.info(id))
        {
            return Verdict::Classified(info);
        }
        Verdict::Unknown
    }

    /// Classifies a resource by host (lower-case, no port) and path. The most specific host
    /// suffix wins, and on it the longest path prefix; an allow rule on any suffix wins over all.
    pub fn resource(&self, host: &str, path: &str) -> Verdict<'_> {
        let mut found = None;
        for suffix in host_suffixes(host) {
            let Some(entry) = self.hosts.get(suffix) else {
                continue;
            };
            if let Some(info) = entry.allow.and_then(|id| self.info(id)) {
                return Verdict::Allowed(info);
            }
            if found.is_none() {
                found = entry
                    .paths
                    .iter()
                    .find(|(prefix, _)| path.starts_with(&**prefix))
                    .and_then(|(_, id)| self.info(*id));
            }
        }
        found.map_or(Verdict::Unknown, Verdict::Classified)
    }

    /// The path rule covering a request path on the site itself, if any (longest prefix).
    pub fn request_path(&self, path: &str) -> Option<&RuleInfo> {
        self.paths
            .iter()
            .find(|(prefix, _)| path.starts_with(&**prefix))
            .and_then(|(_, id)| self.info(*id))
    }

    /// Host names that a text (an inline script, an event handler) writes and that a resource
    /// rule's host could cover, in order. A candidate is the whole run of host characters
    /// around an occurrence of a rule's host, so `notchartbeat.com` is the host
    /// `notchartbeat.com` (which a `chartbeat.com` rule does not cover), and the host of a URL
    /// split by concatenation (`'https://secure' + '.quantserve.com/quant.js'`) is the part
    /// written whole.
    pub fn host_mentions<'t>(&'t self, text: &'t str) -> impl Iterator<Item = Mention<'t>> + 't {
        let bytes = text.as_bytes();
        let mut resume = 0;
        self.mentions
            .iter()
            .flat_map(move |ac| ac.find_iter(text))
            .filter_map(move |m| {
                if m.start() < resume {
                    return None;
                }
                let start = bytes
                    .get(..m.start())
                    .and_then(|b| b.iter().rposition(|&c| !is_host_byte(c)))
                    .map_or(0, |p| p + 1);
                let end = bytes
                    .get(m.end()..)
                    .and_then(|b| b.iter().position(|&c| !is_host_byte(c)))
                    .map_or(bytes.len(), |p| m.end() + p);
                resume = end;
                let host = text.get(start..end)?.trim_matches('.').to_ascii_lowercase();
                let path = if bytes.get(end) == Some(&b'/') {
                    let len = bytes
                        .get(end..)
                        .and_then(|b| b.iter().position(|&c| ends_path(c)))
                        .unwrap_or(bytes.len() - end);
                    text.get(end..end + len).unwrap_or_default()
                } else {
                    ""
                };
                (host.contains('.')).then_some(Mention {
                    host,
                    path,
                    at: start,
                })
            })
    }

    /// The first signature found in an inline script, if any.
    pub fn signature(&self, script: &str) -> Option<&RuleInfo> {
        let ac = self.signatures.as_ref()?;
        let m = ac.find(script)?;
        self.signature_ids
            .get(m.pattern().as_usize())
            .and_then(|&id| self.info(id))
    }
}

/// A byte that can be part of a host name as scripts write it.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'
}

/// A byte that ends a URL path in script text.
fn ends_path(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'\'' | b'`' | b')' | b'(' | b'<' | b'>' | b',' | b';' | b'\\' | b'{' | b'}'
    ) || b.is_ascii_whitespace()
}

/// A host name written in a script's text, and the path that follows it (empty when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention<'t> {
    /// The host, lower-case, without leading or trailing dots: `static.chartbeat.com`, or
    /// `quantserve.com` from `'http://edge' + '.quantserve.com/quant.js'`.
    pub host: String,
    /// The path written right after the host (`/js/chartbeat.js`), or empty.
    pub path: &'t str,
    /// Where the host starts in the text.
    pub at: usize,
}

/// How far from a host mention (in bytes, either side) a fetching construct makes it a
/// loader. Vendor snippets keep the two within a few hundred bytes.
pub const LOADER_REACH: usize = 2048;

/// Constructs through which script text makes the browser fetch something: creating or
/// inserting elements, writing markup, setting a `src`, requests and workers, and the usual
/// site helpers (`loadScript(`, `load(`, `$.getScript(`). Navigation (`.href =`, `window.open(`) is not
/// among them: a share link names a tracker's host without fetching from it.
pub const LOADER_TOKENS: &[&str] = &[
    "createElement",
    ".src",
    "'src'",
    "\"src\"",
    "src=",
    "srcset",
    "write(",
    "writeln(",
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "appendChild",
    "insertBefore",
    "append(",
    "prepend(",
    "replaceWith(",
    "after(",
    "before(",
    "setAttribute",
    "fetch(",
    "XMLHttpRequest",
    "sendBeacon",
    "Image(",
    "import(",
    "importScripts",
    "Script(",
    "ajax(",
    "load(",
    "Worker(",
    "EventSource",
    "WebSocket",
    "url(",
    "iframe",
];

/// Whether a fetching construct appears within [`LOADER_REACH`] of position `at` in `text`.
pub fn loads_near(text: &str, at: usize) -> bool {
    static LOADERS: std::sync::LazyLock<Option<AhoCorasick>> =
        std::sync::LazyLock::new(|| AhoCorasick::new(LOADER_TOKENS).ok());
    let mut from = at.saturating_sub(LOADER_REACH);
    let mut to = at.saturating_add(LOADER_REACH).min(text.len());
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    while !text.is_char_boundary(to) {
        to += 1;
    }
    text.get(from..to).is_some_and(|window| match &*LOADERS {
        Some(ac) => ac.is_match(window),
        None => LOADER_TOKENS.iter().any(|t| window.contains(t)),
    })
}

/// `a.b.example.com`, `b.example.com`, `example.com`, `com`.
pub fn host_suffixes(host: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(host);
    std::iter::from_fn(move || {
        let current = next?;
        next = current
            .split_once('.')
            .map(|(_, rest)| rest)
            .filter(|r| !r.is_empty());
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Rules, RulesError> {
        Rules::compile(&[("rules.toml", text)], &Categories::default())
    }

    const SAMPLE: &str = r#"
[[cookie]]
name = "_ga"
category = "analytics"
vendor = "Google Analytics"

[[cookie]]
prefix = "_ga_"
category = "analytics"
vendor = "Google Analytics 4"

[[cookie]]
prefix = "_g"
category = "marketing"
vendor = "Broad"

[[cookie]]
regex = "^_hjSession(User)?_[0-9]+$"
category = "analytics"
vendor = "Hotjar"

[[resource]]
host = "google-analytics.com"
category = "analytics"
vendor = "Google Analytics"

[[resource]]
host = "facebook.com"
path = "/tr"
category = "marketing"
vendor = "Meta"

[[resource]]
host = "facebook.com"
category = "functional"
vendor = "Meta"

[[signature]]
text = "fbq("
category = "marketing"
vendor = "Meta"

[[allow]]
host = "cdn.cookielaw.org"
vendor = "OneTrust"

[[allow]]
cookie = "OptanonConsent"
"#;

    #[test]
    fn cookie_specificity_exact_then_longest_prefix_then_regex() {
        let r = compile(SAMPLE).unwrap();
        let v = r.cookie("_ga").rule().unwrap();
        assert_eq!(
            (v.kind, &*v.vendor),
            (RuleKind::CookieExact, "Google Analytics")
        );
        let v = r.cookie("_ga_XYZ").rule().unwrap();
        assert_eq!(&*v.vendor, "Google Analytics 4");
        let v = r.cookie("_gid").rule().unwrap();
        assert_eq!(&*v.vendor, "Broad");
        let v = r.cookie("_hjSessionUser_123").rule().unwrap();
        assert_eq!((v.kind, v.line), (RuleKind::CookieRegex, 17));
        assert!(matches!(r.cookie("sid"), Verdict::Unknown));
        assert!(matches!(r.cookie("OptanonConsent"), Verdict::Allowed(_)));
    }

    #[test]
    fn hosts_match_by_suffix_and_path_prefix() {
        let r = compile(SAMPLE).unwrap();
        let v = r
            .resource("www.google-analytics.com", "/analytics.js")
            .rule()
            .unwrap();
        assert_eq!(v.category, Category::ANALYTICS);
        assert_eq!(
            r.resource("www.facebook.com", "/tr?id=1")
                .rule()
                .unwrap()
                .category,
            Category::MARKETING
        );
        assert_eq!(
            r.resource("www.facebook.com", "/plugins")
                .rule()
                .unwrap()
                .category,
            Category::FUNCTIONAL
        );
        assert!(matches!(
            r.resource("notgoogle-analytics.com", "/"),
            Verdict::Unknown
        ));
        assert!(matches!(
            r.resource("cdn.cookielaw.org", "/x.js"),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            r.resource("cookielaw.org", "/x.js"),
            Verdict::Unknown
        ));
    }

    #[test]
    fn signatures_and_blockable_categories() {
        let r = compile(SAMPLE).unwrap();
        assert_eq!(
            &*r.signature("!function(){fbq('init','1')}").unwrap().vendor,
            "Meta"
        );
        assert!(r.signature("console.log(1)").is_none());
        assert!(r.blockable().contains(Category::MARKETING));
        assert!(!r.blockable().contains(Category::NECESSARY));
        assert_eq!(
            r.counts(),
            RuleCounts {
                paths: 0,
                cookies: 4,
                resources: 3,
                signatures: 1,
                allows: 2
            }
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = compile("[[cookie]]\nname = \"_ga\"\ncategory = \"analytic\"\nvendor = \"G\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rules.toml:3:12: unknown category \"analytic\" (known: necessary, functional, analytics, marketing)"
        );
        let e = compile("[[cookie]]\nregex = \"(\"\ncategory = \"analytics\"\nvendor = \"G\"\n")
            .unwrap_err();
        assert!(
            e.to_string().starts_with("rules.toml:2:9: bad regex"),
            "{e}"
        );
        let e =
            compile("[[resource]]\nhost = \"x.com\"\ncategory = \"analytics\"\nvendr = \"G\"\n")
                .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("rules.toml:4:1: unknown field `vendr`"),
            "{e}"
        );
        let e = compile(
            "[[cookie]]\nname = \"a\"\nprefix = \"b\"\ncategory = \"analytics\"\nvendor = \"G\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("exactly one of name, prefix or regex"),
            "{e}"
        );
        let e = compile(
            "[[resource]]\nhost = \"https://x.com/\"\ncategory = \"analytics\"\nvendor = \"G\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("rules.toml:2:8: host"), "{e}");
        let dup = "[[cookie]]\nname = \"a\"\ncategory = \"analytics\"\nvendor = \"G\"\n";
        let e = compile(&format!("{dup}{dup}")).unwrap_err();
        assert!(e.to_string().contains("first at line 2"), "{e}");
        let e = compile("[[cookie\n").unwrap_err();
        assert!(e.to_string().starts_with("rules.toml:1:"), "{e}");
    }

    #[test]
    fn later_files_override_earlier_ones() {
        let a = "[[cookie]]\nname = \"x\"\ncategory = \"marketing\"\nvendor = \"A\"\n";
        let b = "[[cookie]]\nname = \"x\"\ncategory = \"analytics\"\nvendor = \"B\"\n";
        let r = Rules::compile(&[("a.toml", a), ("b.toml", b)], &Categories::default()).unwrap();
        let v = r.cookie("x").rule().unwrap();
        assert_eq!(&*v.vendor, "B");
        assert_eq!(r.origin(v), "b.toml:1");
    }

    #[test]
    fn overlays_add_allow_and_disable() {
        let extra =
            "[[cookie]]\nname = \"site_ab\"\ncategory = \"analytics\"\nvendor = \"Own A/B\"\n";
        let overlay = Overlay {
            files: vec![],
            allow_hosts: vec!["www.google-analytics.com".into()],
            allow_cookies: vec!["_fbp".into()],
            disable: vec!["_ga".into(), "facebook.com/tr".into(), "fbq(".into()],
        };
        let r = Rules::compile_with(
            &[("a.toml", SAMPLE), ("site.toml", extra)],
            &overlay,
            &Categories::default(),
        )
        .unwrap();
        assert!(
            matches!(r.cookie("_ga"), Verdict::Classified(v) if &*v.vendor == "Broad"),
            "exact _ga disabled, prefix _g applies"
        );
        assert!(r.cookie("site_ab").rule().is_some());
        assert!(matches!(
            r.resource("www.google-analytics.com", "/"),
            Verdict::Allowed(_)
        ));
        assert_eq!(
            r.resource("www.facebook.com", "/tr")
                .rule()
                .unwrap()
                .category,
            Category::FUNCTIONAL
        );
        assert!(r.signature("fbq('init')").is_none());
        let bad = Overlay {
            allow_hosts: vec!["https://x/".into()],
            ..Overlay::default()
        };
        let e =
            Rules::compile_with(&[("a.toml", SAMPLE)], &bad, &Categories::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("<site overrides>:2:8: host"),
            "{e}"
        );
    }

    #[test]
    fn string_tables_chain_equal_hashes() {
        let mut t = StrTable::default();
        t.insert("a", 1);
        t.insert("b", 2);
        // Force a chain: a second entry under the hash of "a".
        let i = u32::try_from(t.entries.len()).unwrap();
        let prev = t.by_hash.insert(str_hash("a"), i);
        t.entries.push(("zz".into(), 3, prev));
        assert_eq!(t.get("a"), Some(&1));
        assert_eq!(t.get("b"), Some(&2));
        assert_eq!(t.get("c"), None);
    }

    #[test]
    fn suffix_walk() {
        let s: Vec<&str> = host_suffixes("a.b.com").collect();
        assert_eq!(s, ["a.b.com", "b.com", "com"]);
        assert_eq!(host_suffixes("").count(), 1);
    }
}
