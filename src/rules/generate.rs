//! The generator of the default rule set from third-party data, run with
//! `consent-gate generate-rules` (README, "Default rule set"). Output is deterministic: the same
//! data and curated file always give byte-identical rule files.
//!
//! * Open Cookie Database (Apache-2.0) -> `open-cookie-database.toml`: cookie names and
//!   prefixes. OCD's categories map as [`ocd_category`] says. Names the curated file already
//!   classifies are left out (curated wins), as are generic names (see [`is_generic`]) in
//!   blockable categories: OCD lists them for cookies on vendors' own domains, which a site's
//!   first-party cookie of the same name (`token`, `pid`, `c`) must not be mistaken for.
//! * AdGuard companies database (CC BY-SA 4.0) -> `adguard-trackers.toml`: tracker domains, by
//!   [`adguard_category`]; consent tools become allow rules; essential, CDN and hosting domains
//!   become `necessary` rules, so they are never blocked; uncategorised ones produce no rule.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{Rules, Verdict, normalize_rule_host, valid_cookie_name};

/// A generation failure.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The CSV could not be read.
    #[error("Open Cookie Database CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The JSON could not be read.
    #[error("AdGuard trackers.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// OCD category -> consent-gate category. OCD's "Functional" means needed for the site to work
/// (sessions, load balancers, CSRF tokens, consent state), hence necessary; "Personalization"
/// is the preference kind consent-gate calls functional.
pub fn ocd_category(ocd: &str) -> Option<&'static str> {
    match ocd {
        "Functional" | "Security" | "Necessary" => Some("necessary"),
        "Personalization" => Some("functional"),
        "Analytics" => Some("analytics"),
        "Marketing" => Some("marketing"),
        _ => None,
    }
}

/// AdGuard category -> consent-gate category (`None`: no rule). Essential, CDN and hosting
/// domains become `necessary` rules: never blocked, even below a blocked parent domain
/// (`cloud.google.com` under `google.com`).
pub fn adguard_category(adguard: &str) -> Option<&'static str> {
    match adguard {
        "essential" | "cdn" | "hosting" => Some("necessary"),
        "advertising" | "pornvertising" | "social_media" => Some("marketing"),
        "site_analytics" | "mobile_analytics" | "telemetry" => Some("analytics"),
        // Embedded players, chat and support widgets, comment systems: features the visitor
        // uses, that set cookies of their own.
        "audio_video_player" | "customer_interaction" | "comments" => Some("functional"),
        _ => None,
    }
}

/// Names too generic to block on OCD's word: three characters or fewer, or a common word.
pub fn is_generic(name: &str) -> bool {
    const WORDS: [&str; 24] = [
        "token",
        "session",
        "sessionid",
        "sid",
        "id",
        "uid",
        "user",
        "userid",
        "lang",
        "language",
        "locale",
        "test",
        "consent",
        "country",
        "currency",
        "cart",
        "auth",
        "csrf",
        "state",
        "visitor",
        "optout",
        "opt_out",
        "data",
        "cookie",
    ];
    name.len() <= 3 || WORDS.iter().any(|w| name.eq_ignore_ascii_case(w))
}

fn restrictiveness(category: &str) -> u8 {
    match category {
        "marketing" => 3,
        "analytics" => 2,
        "functional" => 1,
        _ => 0,
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How one OCD row is treated: the decision the default set must show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowTreatment {
    /// Generated as a rule of this category.
    Generated(&'static str),
    /// Left to the curated rules, which classify the name already.
    Curated,
    /// Not a usable cookie name, unknown category, or a generic name in a blockable category.
    Excluded(&'static str),
}

/// One OCD row as the generator reads it.
#[derive(Debug, Clone)]
pub struct OcdRow {
    /// Cookie name or prefix.
    pub name: String,
    /// Whether `name` is a prefix.
    pub prefix: bool,
    /// OCD category.
    pub category: String,
    /// OCD platform (vendor).
    pub vendor: String,
}

/// Reads the OCD CSV.
pub fn ocd_rows(csv_text: &str) -> Result<Vec<OcdRow>, GenerateError> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(platform), Some(category), Some(cookie), Some(wildcard)) = (
        col("Platform"),
        col("Category"),
        col("Cookie / Data Key name"),
        col("Wildcard match"),
    ) else {
        return Err(GenerateError::Csv(csv::Error::from(std::io::Error::other(
            "missing columns Platform, Category, Cookie / Data Key name or Wildcard match",
        ))));
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record?;
        let get = |i: usize| r.get(i).unwrap_or_default().trim().to_owned();
        rows.push(OcdRow {
            name: get(cookie),
            prefix: get(wildcard) == "1",
            category: get(category),
            vendor: get(platform),
        });
    }
    Ok(rows)
}

/// How a row is treated, given the curated rules.
pub fn treat(row: &OcdRow, curated: &Rules) -> RowTreatment {
    if !valid_cookie_name(&row.name) {
        return RowTreatment::Excluded("not a valid cookie name");
    }
    if !matches!(curated.cookie(&row.name), Verdict::Unknown) {
        return RowTreatment::Curated;
    }
    let Some(category) = ocd_category(&row.category) else {
        return RowTreatment::Excluded("unknown OCD category");
    };
    if category != "necessary" && is_generic(&row.name) {
        return RowTreatment::Excluded("generic name");
    }
    RowTreatment::Generated(category)
}

/// The `open-cookie-database.toml` text.
pub fn cookie_rules(csv_text: &str, curated: &Rules) -> Result<String, GenerateError> {
    // (is_prefix, name) -> (category, vendors)
    let mut merged: BTreeMap<(bool, String), (&'static str, Vec<String>)> = BTreeMap::new();
    for row in ocd_rows(csv_text)? {
        let RowTreatment::Generated(category) = treat(&row, curated) else {
            continue;
        };
        let entry = merged
            .entry((row.prefix, row.name.clone()))
            .or_insert((category, Vec::new()));
        // A name listed under several vendors takes the most restrictive category.
        if restrictiveness(category) > restrictiveness(entry.0) {
            entry.0 = category;
        }
        if !entry.1.contains(&row.vendor) {
            entry.1.push(row.vendor.clone());
        }
    }
    let mut out = String::from(
        "# Generated by `consent-gate generate-rules` from the Open Cookie Database\n\
         # (https://github.com/jkwakman/Open-Cookie-Database, Apache-2.0; see NOTICE).\n\
         # Do not edit: change conf/rules/curated.toml or the generator and regenerate.\n\n",
    );
    for ((prefix, name), (category, vendors)) in merged {
        let key = if prefix { "prefix" } else { "name" };
        let _ = write!(
            out,
            "[[cookie]]\n{key} = {}\ncategory = \"{category}\"\nvendor = {}\n\n",
            quote(&name),
            quote(&vendors.join(" / "))
        );
    }
    Ok(out)
}

#[derive(Deserialize)]
struct AdGuard {
    categories: BTreeMap<String, String>,
    trackers: BTreeMap<String, Tracker>,
    #[serde(rename = "trackerDomains")]
    tracker_domains: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Tracker {
    name: String,
    #[serde(rename = "categoryId")]
    category_id: Option<u32>,
}

/// The `adguard-trackers.toml` text.
pub fn tracker_rules(json_text: &str) -> Result<String, GenerateError> {
    let db: AdGuard = serde_json::from_str(json_text)?;
    let mut out = String::from(
        "# Generated by `consent-gate generate-rules` from the AdGuard companies database\n\
         # (https://github.com/AdguardTeam/companiesdb), licensed CC BY-SA 4.0\n\
         # (https://creativecommons.org/licenses/by-sa/4.0/). This file is an adaptation of that\n\
         # database and is itself licensed CC BY-SA 4.0; see NOTICE.\n\
         # Do not edit: change conf/rules/curated.toml or the generator and regenerate.\n\n",
    );
    let mut allows = String::new();
    for (domain, tracker_id) in &db.tracker_domains {
        let Some(tracker) = db.trackers.get(tracker_id) else {
            continue;
        };
        let Some(adguard) = tracker
            .category_id
            .and_then(|id| db.categories.get(&id.to_string()))
        else {
            continue;
        };
        let Ok(host) = normalize_rule_host(domain) else {
            continue;
        };
        if adguard == "consent" {
            let _ = write!(
                allows,
                "[[allow]]\nhost = {}\nvendor = {}\n\n",
                quote(&host),
                quote(&tracker.name)
            );
            continue;
        }
        let Some(category) = adguard_category(adguard) else {
            continue;
        };
        let _ = write!(
            out,
            "[[resource]]\nhost = {}\ncategory = \"{category}\"\nvendor = {}\n\n",
            quote(&host),
            quote(&tracker.name)
        );
    }
    out.push_str(&allows);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Categories;

    #[test]
    fn quoting_is_valid_toml() {
        let text = format!("a = {}\n", quote("x\"y\\z\u{1}é"));
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["a"].as_str(), Some("x\"y\\z\u{1}é"));
    }

    #[test]
    fn rows_are_merged_most_restrictive_and_curated_wins() {
        let curated = Rules::compile(
            &[(
                "c.toml",
                "[[cookie]]\nprefix = \"_hj\"\ncategory = \"analytics\"\nvendor = \"Hotjar\"\n",
            )],
            &Categories::default(),
        )
        .unwrap();
        let csv = "ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,Data Controller,User Privacy & GDPR Rights Portals,Wildcard match\n\
            1,A,Functional,dup_name,,d,1y,A,x,0\n\
            2,B,Marketing,dup_name,,d,1y,B,x,0\n\
            3,Hotjar,Functional,_hjSessionUser_,,d,1y,H,x,1\n\
            4,X,Marketing,token,,d,1y,X,x,0\n\
            5,Y,Analytics,Site History,,d,1y,Y,x,0\n\
            6,PHP,Functional,PHPSESSID,,d,s,P,x,0\n";
        let text = cookie_rules(csv, &curated).unwrap();
        let rules = Rules::compile(&[("g.toml", text.as_str())], &Categories::default()).unwrap();
        let v = rules.cookie("dup_name").rule().unwrap();
        assert_eq!(rules.categories().name(v.category), "marketing");
        assert_eq!(&*v.vendor, "A / B");
        assert!(
            matches!(rules.cookie("_hjSessionUser_1"), Verdict::Unknown),
            "left to curated"
        );
        assert!(matches!(rules.cookie("token"), Verdict::Unknown), "generic");
        assert_eq!(
            rules
                .categories()
                .name(rules.cookie("PHPSESSID").rule().unwrap().category),
            "necessary"
        );
        assert_eq!(rules.counts().cookies, 2);
    }
}
