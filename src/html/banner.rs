//! consent-gate's own consent banner, for sites with no consent tool: rendered by the proxy into
//! the page (no external fetch, no framework), a plain form posting to the consent endpoint, so
//! it works without JavaScript; with the client guard present a choice applies in place.
//!
//! Accessible by construction: a labelled, described dialog; native form controls in reading
//! order (so Tab, Enter and Space work and the focus is visible); "Accept all" and "Reject all"
//! side by side with the same size and weight; a layout that reflows down to 320 px.

use std::collections::BTreeMap;

use super::escape;
use crate::category::{Categories, Category, CategorySet};

/// The texts of one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    /// Dialog title.
    pub title: String,
    /// What the visitor is asked.
    pub body: String,
    /// "Accept all".
    pub accept: String,
    /// "Reject all".
    pub reject: String,
    /// "Save choices".
    pub save: String,
    /// Category -> (label, description); categories without an entry use their name.
    pub categories: BTreeMap<String, (String, String)>,
}

/// Colours (CSS values); the defaults meet WCAG AA contrast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colours {
    /// Dialog background.
    pub background: String,
    /// Text.
    pub text: String,
    /// Button background.
    pub button: String,
    /// Button text.
    pub button_text: String,
}

impl Default for Colours {
    fn default() -> Self {
        Colours {
            background: "#ffffff".into(),
            text: "#1a1a1a".into(),
            button: "#1a1a1a".into(),
            button_text: "#ffffff".into(),
        }
    }
}

/// The banner's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// Language tag -> texts; `en` always present.
    pub texts: BTreeMap<String, Texts>,
    /// Colours.
    pub colours: Colours,
    /// Hosts of consent tools: a page loading a script from one gets no banner.
    pub tool_hosts: Vec<String>,
}

fn cat(label: &str, description: &str) -> (String, String) {
    (label.to_owned(), description.to_owned())
}

/// English texts.
pub fn english() -> Texts {
    Texts {
        title: "Your privacy choices".into(),
        body: "We use cookies and similar technologies. Necessary ones keep the site working; the others are used only if you agree. You can change your choice at any time.".into(),
        accept: "Accept all".into(),
        reject: "Reject all".into(),
        save: "Save choices".into(),
        categories: [
            ("necessary", cat("Necessary", "Needed for the site to work. Always on.")),
            ("functional", cat("Functional", "Remember your preferences and enable embedded content.")),
            ("analytics", cat("Statistics", "Help us understand how the site is used.")),
            ("marketing", cat("Marketing", "Used by advertising partners to show relevant ads.")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    }
}

/// German texts.
pub fn german() -> Texts {
    Texts {
        title: "Ihre Datenschutz-Einstellungen".into(),
        body: "Wir verwenden Cookies und ähnliche Technologien. Notwendige halten die Website in Betrieb; alle anderen nur mit Ihrer Einwilligung. Sie können Ihre Wahl jederzeit ändern.".into(),
        accept: "Alle akzeptieren".into(),
        reject: "Alle ablehnen".into(),
        save: "Auswahl speichern".into(),
        categories: [
            ("necessary", cat("Notwendig", "Für den Betrieb der Website erforderlich. Immer aktiv.")),
            ("functional", cat("Funktional", "Speichern Ihre Einstellungen und ermöglichen eingebettete Inhalte.")),
            ("analytics", cat("Statistik", "Helfen uns zu verstehen, wie die Website genutzt wird.")),
            ("marketing", cat("Marketing", "Werden von Werbepartnern für passende Werbung genutzt.")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    }
}

/// Consent tools' script hosts.
pub fn default_tool_hosts() -> Vec<String> {
    [
        "cookielaw.org",
        "onetrust.com",
        "cookiebot.com",
        "consensu.org",
        "usercentrics.eu",
        "trustarc.com",
        "privacy-center.org",
        "iubenda.com",
        "osano.com",
        "cdn-cookieyes.com",
        "cookie-script.com",
        "termly.io",
        "hs-banner.com",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

impl Default for Banner {
    fn default() -> Self {
        Banner {
            texts: [("en".to_owned(), english()), ("de".to_owned(), german())].into(),
            colours: Colours::default(),
            tool_hosts: default_tool_hosts(),
        }
    }
}

impl Banner {
    /// The language to use for an `Accept-Language` value: the first listed (by quality) that
    /// the banner has texts for, else `en`.
    pub fn language(&self, accept_language: Option<&str>) -> &str {
        let mut wanted: Vec<(f32, &str)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        wanted
            .iter()
            .find_map(|(_, tag)| {
                let primary = tag
                    .split('-')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                self.texts
                    .keys()
                    .find(|k| **k == primary)
                    .map(String::as_str)
            })
            .unwrap_or("en")
    }

    /// The banner's markup for a visitor allowing `allowed`; `visible` while the visitor has not
    /// decided (otherwise it is in the page, hidden, for `consentGate.show()`). `return_to` is
    /// the page to come back to after a form post.
    pub fn render(
        &self,
        language: &str,
        categories: &Categories,
        allowed: CategorySet,
        endpoint: &str,
        return_to: &str,
        visible: bool,
    ) -> String {
        let english = english();
        let t = self
            .texts
            .get(language)
            .or_else(|| self.texts.get("en"))
            .unwrap_or(&english);
        let label = |name: &str| {
            t.categories
                .get(name)
                .cloned()
                .unwrap_or_else(|| (name.to_owned(), String::new()))
        };
        let mut rows = String::new();
        for (c, name) in categories.iter() {
            let (text, description) = label(name);
            let (attrs, field) = if c == Category::NECESSARY {
                (" checked disabled".to_owned(), String::new())
            } else {
                (
                    if allowed.contains(c) { " checked" } else { "" }.to_owned(),
                    format!(" name=\"{}\" value=\"1\"", escape(name)),
                )
            };
            rows.push_str(&format!(
                "<label class=\"cg-row\"><input type=\"checkbox\"{field}{attrs}><span><strong>{}</strong> <span class=\"cg-desc\">{}</span></span></label>",
                escape(&text),
                escape(&description)
            ));
        }
        let c = &self.colours;
        format!(
            concat!(
                "<div data-consent-gate-banner class=\"cg-banner\" role=\"dialog\" aria-modal=\"false\" aria-labelledby=\"cg-title\" aria-describedby=\"cg-body\" lang=\"{lang}\"{hidden}>",
                "<style>{css}</style>",
                "<form method=\"post\" action=\"{endpoint}consent\" data-consent-gate-form>",
                "<input type=\"hidden\" name=\"return\" value=\"{ret}\">",
                "<h2 id=\"cg-title\">{title}</h2><p id=\"cg-body\">{body}</p>",
                "<fieldset><legend class=\"cg-hidden\">{title}</legend>{rows}</fieldset>",
                "<div class=\"cg-actions\">",
                "<button type=\"submit\" name=\"reject\" value=\"all\">{reject}</button>",
                "<button type=\"submit\" name=\"accept\" value=\"all\">{accept}</button>",
                "<button type=\"submit\" name=\"save\" value=\"1\" class=\"cg-save\">{save}</button>",
                "</div></form></div>"
            ),
            lang = escape(language),
            hidden = if visible { "" } else { " hidden" },
            css = css(c),
            endpoint = escape(endpoint),
            ret = escape(return_to),
            title = escape(&t.title),
            body = escape(&t.body),
            rows = rows,
            reject = escape(&t.reject),
            accept = escape(&t.accept),
            save = escape(&t.save),
        )
    }
}

/// A CSS colour value safe to put in a style sheet: no characters that end a declaration.
fn colour(v: &str) -> String {
    v.chars()
        .filter(|ch| {
            ch.is_ascii_alphanumeric() || matches!(ch, '#' | '(' | ')' | ',' | '.' | '%' | ' ')
        })
        .collect()
}

fn css(c: &Colours) -> String {
    let (bg, fg, btn, btn_fg) = (
        colour(&c.background),
        colour(&c.text),
        colour(&c.button),
        colour(&c.button_text),
    );
    format!(
        concat!(
            ".cg-banner{{position:fixed;z-index:2147483647;left:0;right:0;bottom:0;box-sizing:border-box;max-height:100vh;overflow:auto;",
            "background:{bg};color:{fg};border-top:2px solid {fg};padding:16px;font:16px/1.5 system-ui,sans-serif;overflow-wrap:anywhere}}",
            ".cg-banner[hidden]{{display:none}}",
            ".cg-banner form{{max-width:60rem;margin:0 auto}}",
            ".cg-banner h2{{font-size:1.25rem;margin:0 0 8px}}",
            ".cg-banner p{{margin:0 0 8px}}",
            ".cg-banner fieldset{{border:0;margin:0 0 8px;padding:0;min-width:0}}",
            ".cg-row{{display:flex;gap:8px;align-items:flex-start;margin:4px 0}}",
            ".cg-row input{{width:20px;height:20px;margin:2px 0 0;flex:none}}",
            ".cg-desc{{display:block;font-size:.9rem}}",
            ".cg-hidden{{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}}",
            ".cg-actions{{display:flex;flex-wrap:wrap;gap:8px}}",
            ".cg-actions button{{flex:1 1 10rem;min-width:0;min-height:44px;padding:8px 16px;font:inherit;font-weight:600;",
            "background:{btn};color:{btn_fg};border:2px solid {btn};border-radius:4px;cursor:pointer}}",
            ".cg-actions .cg-save{{background:{bg};color:{fg};border-color:{fg}}}",
            ".cg-banner :focus-visible{{outline:3px solid {fg};outline-offset:2px;box-shadow:0 0 0 5px {bg}}}"
        ),
        bg = bg,
        fg = fg,
        btn = btn,
        btn_fg = btn_fg
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_follow_accept_language() {
        let b = Banner::default();
        assert_eq!(b.language(None), "en");
        assert_eq!(b.language(Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(b.language(Some("fr-FR, en;q=0.5, de;q=0.7")), "de");
        assert_eq!(b.language(Some("fr, es")), "en");
        assert_eq!(b.language(Some("de;q=0")), "en");
    }

    #[test]
    fn the_banner_is_a_form_with_equal_choices_and_escaped_texts() {
        let mut b = Banner::default();
        if let Some(en) = b.texts.get_mut("en") {
            en.title = "<Ours & yours>".into();
        }
        b.colours.button = "red;}body{display:none".into();
        let cats = Categories::default();
        let html = b.render(
            "en",
            &cats,
            CategorySet::only(Category::ANALYTICS),
            "/.consent-gate/",
            "/a?b=\"c\"",
            true,
        );
        assert!(html.contains("role=\"dialog\" aria-modal=\"false\" aria-labelledby=\"cg-title\" aria-describedby=\"cg-body\""));
        assert!(html.contains("<form method=\"post\" action=\"/.consent-gate/consent\""));
        assert!(html.contains("<h2 id=\"cg-title\">&lt;Ours &amp; yours&gt;</h2>"));
        assert!(html.contains("value=\"/a?b=&quot;c&quot;\""));
        assert!(html.contains("name=\"analytics\" value=\"1\" checked"));
        assert!(html.contains("name=\"marketing\" value=\"1\">"));
        assert!(html.contains("<input type=\"checkbox\" checked disabled>"));
        assert!(
            html.contains("name=\"reject\" value=\"all\"")
                && html.contains("name=\"accept\" value=\"all\"")
        );
        assert!(
            !html.contains("display:none}body"),
            "colours cannot inject CSS"
        );
        assert!(!html.contains(" hidden>"));
        let hidden = b.render(
            "de",
            &cats,
            CategorySet::EMPTY,
            "/.consent-gate/",
            "/",
            false,
        );
        assert!(hidden.contains(" hidden>") && hidden.contains("Alle ablehnen"));
    }
}
