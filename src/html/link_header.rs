//! `Link:` response headers: entries that make the browser preconnect to or preload from a
//! denied host are removed, like their `<link>` counterparts in the page.

use super::Page;
use crate::rules::RuleInfo;

/// Splits a `Link` value into entries at commas outside `<…>` and quoted strings.
fn entries(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut angle, mut quote, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '<' => angle = true,
            '>' => angle = false,
            '"' if !angle => quote = true,
            ',' if !angle => {
                out.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value.get(start..).unwrap_or_default());
    out.into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// The URL and whether `rel` holds a resource hint.
fn parse_entry(entry: &str) -> Option<(&str, bool)> {
    let rest = entry.strip_prefix('<')?;
    let (url, params) = rest.split_once('>')?;
    let hint = params.split(';').any(|p| {
        let Some((k, v)) = p.split_once('=') else {
            return false;
        };
        k.trim().eq_ignore_ascii_case("rel") && super::rewriter::is_hint(v.trim().trim_matches('"'))
    });
    Some((url, hint))
}

/// Filters one `Link` header value: the value to keep (`None`: drop the header) and the
/// entries removed with the rule that removed each.
pub fn filter(value: &str, page: &Page) -> (Option<String>, Vec<(RuleInfo, String)>) {
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for entry in entries(value) {
        let blocked = parse_entry(entry)
            .filter(|(_, hint)| *hint)
            .and_then(|(url, _)| page.blocking_rule(url).map(|r| (r.clone(), url.to_owned())));
        match blocked {
            Some(b) => removed.push(b),
            None => kept.push(entry),
        }
    }
    let value = (!kept.is_empty()).then(|| kept.join(", "));
    (value, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;

    fn page() -> Page {
        Page::for_test(
            "[[resource]]\nhost = \"facebook.net\"\ncategory = \"marketing\"\nvendor = \"Meta\"\n",
            CategorySet::EMPTY,
        )
    }

    #[test]
    fn hint_entries_to_denied_hosts_are_removed() {
        let v = r#"<https://connect.facebook.net>; rel=preconnect, </app.css>; rel="preload"; as=style, <https://connect.facebook.net/a,b.js>; rel="preload modulepreload""#;
        let (kept, removed) = filter(v, &page());
        assert_eq!(
            kept.as_deref(),
            Some(r#"</app.css>; rel="preload"; as=style"#)
        );
        assert_eq!(removed.len(), 2);
        assert_eq!(removed[1].1, "https://connect.facebook.net/a,b.js");
    }

    #[test]
    fn other_relations_and_garbage_are_kept() {
        let v = r#"<https://connect.facebook.net/>; rel=canonical; title="a, b", garbage"#;
        let (kept, removed) = filter(v, &page());
        assert_eq!(kept.as_deref(), Some(v));
        assert!(removed.is_empty());
        let (kept, _) = filter("<https://connect.facebook.net>; rel=dns-prefetch", &page());
        assert_eq!(kept, None);
    }
}
