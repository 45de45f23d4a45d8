//! The element handlers: each decides from the page's rules and consent whether an element
//! would fetch or run something denied, and makes it inert (or, in report-only mode, only
//! counts it).

use lol_html::html_content::{ContentType, EndTag};
use lol_html::send::Element;
use lol_html::{HandlerResult, Selector};

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
    let guard = lock(state).guard.take();
    if let Some(tag) = guard {
        el.before(&tag, ContentType::Html);
    }
    if let Some(src) = el.get_attribute("src") {
        {
            // A page with its own consent tool gets no banner.
            let mut st = lock(state);
            if st.banner.is_some() && is_tool_script(&st.banner_tools, &src) {
                st.banner = None;
            }
        }
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
    let Some((rule, target)) = st
        .page
        .inline_rule(&pending.text)
        .map(|(rule, target)| (rule.clone(), target))
    else {
        return Some((pending.text, false));
    };
    st.action(Kind::InlineScript, &rule, &target);
    if st.page.report_only {
        return Some((pending.text, false));
    }
    let category = st.category_name(&rule);
    // The script's text is most of it.
    let mut out = String::with_capacity(pending.text.len() + 256);
    out.push_str("<script type=\"text/plain\"");
    for (name, value) in &pending.attributes {
        let name = if name == "type" {
            "data-consent-type"
        } else {
            name
        };
        // lol_html gives values with their character references still encoded.
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&value.replace('"', "&quot;"));
        out.push('"');
    }
    out.push_str(" data-consent-category=\"");
    out.push_str(&escape(&category));
    out.push_str("\" data-consent-vendor=\"");
    out.push_str(&escape(&rule.vendor));
    out.push_str("\">");
    out.push_str(&pending.text);
    out.push_str("</script>");
    Some((out, true))
}

/// Parks the URL attribute `attribute` (to `data-consent-<attribute>`, labelled) when it
/// points at a blocked resource; the category and rule when it did.
fn park_blocked_url(
    state: &Shared,
    el: &mut Element<'_, '_>,
    attribute: &str,
    kind: Kind,
) -> Result<Option<(String, RuleInfo)>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(url) = el.get_attribute(attribute) else {
        return Ok(None);
    };
    let Some(rule) = lock(state).page.blocking_rule(&url).cloned() else {
        return Ok(None);
    };
    let Some(category) = record_action(state, kind, &rule, &url) else {
        return Ok(None);
    };
    park(el, attribute)?;
    label(el, &category, &rule)?;
    Ok(Some((category, rule)))
}

pub(super) fn iframe(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    if el.has_attribute("srcdoc") {
        return Ok(()); // srcdoc wins over src: nothing is fetched from src.
    }
    let Some((category, rule)) = park_blocked_url(state, el, "src", Kind::Iframe)? else {
        return Ok(());
    };
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

/// `<link>` (hints removed, style sheets parked) and `<base href>` (parked: on a denied host
/// every relative URL after it, `<script src="gtm.js">`, would fetch from there).
pub(super) fn link(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    if el.tag_name().eq_ignore_ascii_case("base") {
        // The guard's URL is relative to the site. Before the `<base>` it resolves against the
        // page's own URL, as a script parsed there does, not against the base (a CDN, say,
        // where it does not exist).
        if let Some(tag) = lock(state).guard.take() {
            el.before(&tag, ContentType::Html);
        }
        park_blocked_url(state, el, "href", Kind::Link)?;
        return Ok(());
    }
    let (Some(rel), Some(href)) = (el.get_attribute("rel"), el.get_attribute("href")) else {
        return Ok(());
    };
    if rel
        .split_ascii_whitespace()
        .any(|t| t.eq_ignore_ascii_case("stylesheet"))
    {
        // Kept in place (and re-activatable) with its URL parked.
        park_blocked_url(state, el, "href", Kind::Css)?;
        return Ok(());
    }
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

/// Inline event handlers and `javascript:` URLs whose code names a denied host or carries a
/// denied signature: moved to `data-consent-<attribute>`, so they never run.
pub(super) fn code_attributes(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    let mut blocked: Vec<(String, RuleInfo, String)> = Vec::new();
    {
        let st = lock(state);
        for attr in el.attributes() {
            let name = attr.name();
            let value = crate::html::url::decode_entities(&attr.value());
            let code = if name.starts_with("on") {
                value
            } else {
                // Read as a browser reads the URL: control characters and spaces around it and
                // tabs and newlines inside it dropped; the code is what follows the scheme,
                // percent-decoded.
                let compact: String = value
                    .trim_matches(|c: char| c <= ' ')
                    .chars()
                    .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                    .collect();
                match compact.get(..11) {
                    Some(p) if p.eq_ignore_ascii_case("javascript:") => {
                        percent_encoding::percent_decode_str(compact.get(11..).unwrap_or_default())
                            .decode_utf8_lossy()
                            .into_owned()
                    }
                    _ => continue,
                }
            };
            if let Some((rule, target)) = st.page.inline_rule(&code) {
                blocked.push((name, rule.clone(), target));
            }
        }
    }
    let mut labelled = None;
    for (name, rule, target) in blocked {
        let Some(category) = record_action(state, Kind::InlineHandler, &rule, &target) else {
            continue;
        };
        park(el, &name)?;
        labelled.get_or_insert((category, rule));
    }
    match labelled {
        Some((category, rule)) => label(el, &category, &rule),
        None => Ok(()),
    }
}

/// Neutralizes the `url()`s and `@import`s of CSS that point at denied hosts; returns the new
/// text when anything changed.
fn neutralize_css(st: &mut State, css: &str) -> Option<String> {
    let (out, hits) = crate::html::css::neutralize(css, |url| st.page.blocking_rule(url).cloned());
    for (url, rule) in &hits {
        st.action(Kind::Css, rule, url);
    }
    if st.page.report_only { None } else { out }
}

/// A `style` attribute that fetches from a denied host.
pub(super) fn style_attribute(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    let Some(value) = el.get_attribute("style") else {
        return Ok(());
    };
    let decoded = crate::html::url::decode_entities(&value);
    if let Some(css) = neutralize_css(&mut lock(state), &decoded) {
        el.set_attribute("style", &css)?;
    }
    Ok(())
}

pub(super) fn style(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    lock(state).style = Some(String::new());
    let st = state.clone();
    if let Some(handlers) = el.end_tag_handlers() {
        handlers.push(Box::new(move |end: &mut EndTag<'_>| {
            if let Some(text) = settle_style(&mut lock(&st)) {
                end.before(&text, ContentType::Html);
            }
            Ok(())
        }));
    }
    Ok(())
}

/// Decides a buffered `<style>` block: its CSS back, with denied URLs made inert.
pub(super) fn settle_style(st: &mut State) -> Option<String> {
    let css = st.style.take()?;
    Some(neutralize_css(st, &css).unwrap_or(css))
}

fn is_tool_script(tool_hosts: &[String], url: &str) -> bool {
    crate::html::url::target(url).is_some_and(|t| {
        crate::rules::host_suffixes(&t.host).any(|h| tool_hosts.iter().any(|x| x == h))
    })
}

/// The end of the body is where the consent banner goes.
pub(super) fn body(state: &Shared, el: &mut Element<'_, '_>) -> HandlerResult {
    if lock(state).banner.is_none() {
        return Ok(());
    }
    let st = state.clone();
    if let Some(handlers) = el.end_tag_handlers() {
        handlers.push(Box::new(move |end: &mut EndTag<'_>| {
            if let Some(banner) = lock(&st).banner.take() {
                end.before(&banner, ContentType::Html);
            }
            Ok(())
        }));
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
    // Its program is compiled once and kept with the page's (the cache tells them apart by
    // their selectors).
    let mut settings = lol_html::Settings::new().with_selector_program_cache(&sel.programs);
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
