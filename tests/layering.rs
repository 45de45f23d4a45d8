//! Every import points down: each top-level module of `src/` may use only modules of lower
//! layers (and itself). A new arrow upwards fails here, with the file and the import.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// Layers from the bottom up. A module may import modules of its own layer only where listed
/// in the same inner slice and earlier in it.
const LAYERS: &[&[&str]] = &[
    &["wire", "position", "category", "metrics"],
    &["rules"],
    &["consent"],
    &["cookies"],
    &["html"],
    &["config"],
    &["upstreams"],
    &["engine"],
    &["plan"],
    &["explain", "proxy", "admin", "readiness", "reload"],
    &["server"],
    &["demo"],
];

fn rank(module: &str) -> Option<(usize, usize)> {
    LAYERS
        .iter()
        .enumerate()
        .find_map(|(layer, mods)| mods.iter().position(|m| *m == module).map(|i| (layer, i)))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` occurrences in a file (imports and paths alike).
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        refs.push(name);
    }
    refs
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = rank(&top) else {
            violations.push(format!("{}: module {top} is in no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_refs(&text) {
            if used == top {
                continue;
            }
            match rank(&used) {
                None => violations.push(format!("{}: crate::{used} is in no layer", rel.display())),
                Some(r) if r.0 > own.0 || (r.0 == own.0 && r.1 > own.1) => {
                    violations.push(format!(
                        "{}: {top} uses crate::{used}, which is above it",
                        rel.display()
                    ));
                }
                Some(_) => {}
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
