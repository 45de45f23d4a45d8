//! The element handlers: each decides from the page's rules and consent whether an element
//! would fetch or run something denied, and makes it inert (or, in report-only mode, only
//! counts it).

use lol_html::html_content::{ContentType, EndTag};
use lol_html::send::Element;
use lol_html::{HandlerResult, RewriteStrSettings, Selector};

use super::{Kind, Pending, Shared, State, lock};
use crate::html::{escape, is_javascript};
use crate::rules::RuleInfo;

/// Marks an element as neutralized: category and vendor attributes.
fn label(el: &mut Element<'_, '_>, category: &str, rule: &RuleInfo) -> HandlerResult {
    el.set_attribute("data-consent-category", &escape(category))?;
    el.set_attribute("data-consent-vendor", &escape(&rule.vendor))?;
    Ok(())
}

/// Moves a URL attribute to its `data-consent-` twin so nothing is fetched.
fn park(el: &mut Element<'_, '_>, attr: &str) -> HandlerResult {
    if let Some(value) = el.get_attribute(attr) {
        el.remove_attribute(attr);
        el.set_attribute(&format!("data-consent-{attr}"), &value)?;
    }
    Ok(())
}

/// Records the action; returns the category name if the element must be changed.
fn record_action(state: &Shared, kind: Kind, rule: &RuleInfo, target: &str) -> Option<String> {
    let mut st = lock(state);
    st.action(kind, rule, target);
    (!st.page.report_only).then(|| st.category_name(rule))
}

pub(super) fn script(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    let type_attr = el.get_attribute("type");
    if !is_javascript(type_attr.as_deref()) {
        return Ok(());
    }
    if let Some(src) = el.get_attribute("src") {
        let Some(rule) = lock(state).page.blocking_rule(&src).cloned() else {
            return Ok(());
        };
        let Some(category) = record_action(state, Kind::Script, &rule, &src) else {
            return Ok(());
        };
        park(el, "src")?;
        if let Some(t) = &type_attr {
            el.set_attribute("data-consent-type", t)?;
        }
        el.set_attribute("type", "text/plain")?;
        return label(el, &category, &rule);
    }
    // Inline script: hold its text back until the end tag shows whether it carries a signature.
    let attributes = el
        .attributes()
        .iter()
        .map(|a| (a.name(), a.value()))
        .collect();
    lock(state).script = Some(Pending {
        attributes,
        text: String::new(),
    });
    let st = state.clone();
    if let Some(handlers) = el.end_tag_handlers() {
        handlers.push(Box::new(move |end: &mut EndTag<'_>| {
            match settle_script(&mut lock(&st)) {
                Some((text, false)) => end.before(&text, ContentType::Html),
                Some((inert, true)) => end.after(&inert, ContentType::Html),
                None => {}
            }
            Ok(())
        }));
    }
    Ok(())
}

/// Decides a buffered inline script: its text to put back (`false`), or the inert copy to
/// emit after the emptied element (`true`).
pub(super) fn settle_script(st: &mut State) -> Option<(String, bool)> {
    let pending = st.script.take()?;
    let Some(rule) = st.page.signature(&pending.text).cloned() else {
        return Some((pending.text, false));
    };
    st.action(Kind::InlineScript, &rule, &rule.pattern);
    if st.page.report_only {
        return Some((pending.text, false));
    }
    let category = st.category_name(&rule);
    let mut out = String::from("<script type=\"text/plain\"");
    for (name, value) in &pending.attributes {
        let name = if name == "type" {
            "data-consent-type"
        } else {
            name
        };
        // lol_html gives values with their character references still encoded.
        out.push_str(&format!(" {name}=\"{}\"", value.replace('"', "&quot;")));
    }
    out.push_str(&format!(
        " data-consent-category=\"{}\" data-consent-vendor=\"{}\">",
        escape(&category),
        escape(&rule.vendor)
    ));
    out.push_str(&pending.text);
    out.push_str("</script>");
    Some((out, true))
}

pub(super) fn iframe(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    if el.has_attribute("srcdoc") {
        return Ok(()); // srcdoc wins over src: nothing is fetched from src.
    }
    let Some(src) = el.get_attribute("src") else {
        return Ok(());
    };
    let Some(rule) = lock(state).page.blocking_rule(&src).cloned() else {
        return Ok(());
    };
    let Some(category) = record_action(state, Kind::Iframe, &rule, &src) else {
        return Ok(());
    };
    park(el, "src")?;
    label(el, &category, &rule)?;
    if lock(state).limits.iframe_placeholder {
        // srcdoc renders without any fetch; a consent tool removes it when re-activating.
        let note = format!(
            "<p style=\"font:14px/1.4 system-ui,sans-serif;margin:1em\">This {} content is blocked because {} cookies were not accepted.</p>",
            escape(&rule.vendor),
            escape(&category)
        );
        el.set_attribute("srcdoc", &escape(&note))?;
        el.set_attribute("data-consent-placeholder", "")?;
    }
    Ok(())
}

pub(super) fn image(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    let (src, srcset) = (el.get_attribute("src"), el.get_attribute("srcset"));
    let rule = {
        let st = lock(state);
        src.as_deref()
            .and_then(|s| st.page.blocking_rule(s))
            .or_else(|| srcset.as_deref().and_then(|s| st.page.srcset_rule(s)))
            .cloned()
    };
    let Some(rule) = rule else {
        return Ok(());
    };
    let target = src.or(srcset).unwrap_or_default();
    let Some(category) = record_action(state, Kind::Img, &rule, &target) else {
        return Ok(());
    };
    park(el, "src")?;
    park(el, "srcset")?;
    label(el, &category, &rule)
}

/// `rel` tokens that make the browser contact a host ahead of use.
pub(in crate::html) fn is_hint(rel: &str) -> bool {
    rel.split_ascii_whitespace().any(|t| {
        [
            "preconnect",
            "dns-prefetch",
            "preload",
            "prefetch",
            "modulepreload",
        ]
        .iter()
        .any(|h| t.eq_ignore_ascii_case(h))
    })
}

pub(super) fn link(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    let (Some(rel), Some(href)) = (el.get_attribute("rel"), el.get_attribute("href")) else {
        return Ok(());
    };
    if !is_hint(&rel) {
        return Ok(());
    }
    let Some(rule) = lock(state).page.blocking_rule(&href).cloned() else {
        return Ok(());
    };
    if record_action(state, Kind::Link, &rule, &href).is_some() {
        el.remove();
    }
    Ok(())
}

pub(super) fn noscript(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    lock(state).noscript = Some(String::new());
    let st = state.clone();
    if let Some(handlers) = el.end_tag_handlers() {
        handlers.push(Box::new(move |end: &mut EndTag<'_>| {
            if let Some(text) = settle_noscript(&mut lock(&st)) {
                end.before(&text, ContentType::Html);
            }
            Ok(())
        }));
    }
    Ok(())
}

/// Decides a buffered `<noscript>`: its content back, or nothing when it holds a denied
/// pixel, frame, script or hint.
pub(super) fn settle_noscript(st: &mut State) -> Option<String> {
    let text = st.noscript.take()?;
    let Some((rule, target)) = first_blocked_in_fragment(st, &text) else {
        return Some(text);
    };
    st.action(Kind::Noscript, &rule, &target);
    if st.page.report_only {
        Some(text)
    } else {
        Some(String::new())
    }
}

/// Parses noscript content (raw text to lol_html) as HTML and finds the first element that
/// would fetch something denied.
fn first_blocked_in_fragment(st: &State, fragment: &str) -> Option<(RuleInfo, String)> {
    if !fragment.contains('<') {
        return None;
    }
    let found: std::cell::RefCell<Option<(RuleInfo, String)>> = std::cell::RefCell::new(None);
    let page = &st.page;
    let check = |url: Option<String>, srcset: bool| {
        if found.borrow().is_some() {
            return;
        }
        if let Some(u) = url {
            let rule = if srcset {
                page.srcset_rule(&u)
            } else {
                page.blocking_rule(&u)
            };
            if let Some(rule) = rule {
                *found.borrow_mut() = Some((rule.clone(), u));
            }
        }
    };
    let sel = &st.selectors;
    // Each element kind and the attributes through which it fetches.
    let fetching: [(&Selector, &[&str]); 5] = [
        (&sel.img, &["src", "srcset"]),
        (&sel.source, &["src", "srcset"]),
        (&sel.iframe, &["src"]),
        (&sel.script, &["src"]),
        (&sel.link, &["href"]),
    ];
    let check = &check;
    let mut settings = RewriteStrSettings::new();
    for (selector, attributes) in fetching {
        settings = settings.append_element_content_handler((
            std::borrow::Cow::Borrowed(selector),
            lol_html::ElementContentHandlers::default().element(
                move |el: &mut lol_html::html_content::Element<'_, '_>| {
                    for attr in attributes {
                        check(el.get_attribute(attr), *attr == "srcset");
                    }
                    Ok(())
                },
            ),
        ));
    }
    // A fragment lol_html cannot parse is treated as holding a tracker: fail closed.
    if lol_html::rewrite_str(fragment, settings).is_err() && found.borrow().is_none() {
        let rule = st.page.rules.signature(fragment).cloned()?;
        return Some((rule, "<noscript>".into()));
    }
    found.into_inner()
}
