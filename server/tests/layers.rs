//! The layer rule (ARCHITECTURE.md, "Layers"), where no crate boundary
//! enforces it yet: the server's core — the tick and its timer, the net
//! layer, the store, metrics, secrets, shutdown — imports no feature and
//! nothing of the HTTP side. A `crate::` path in a core source file may
//! name only core modules.

use std::path::{Path, PathBuf};

/// The core's top-level modules (files or folders under `server/src`).
const CORE: &[&str] = &["tick", "net", "store", "metrics", "secrets", "shutdown"];

fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The first segment of every `crate::` path in `text` (`crate::{a, b::c}` gives `a`, `b`).
fn crate_paths(text: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(inner.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
        } else {
            found.push(ident(rest));
        }
    }
    found
}

#[test]
fn the_core_imports_no_feature_and_no_http_side() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in CORE {
        let dir = src.join(module);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            files.push(file);
        }
    }
    assert!(files.len() > 20, "the core's sources were found: {files:?}");
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for path in crate_paths(&text) {
            if !CORE.contains(&path.as_str()) {
                offences.push(format!("{}: crate::{path}", file.strip_prefix(&src).unwrap().display()));
            }
        }
    }
    assert!(offences.is_empty(), "core modules import outside the core:\n{}", offences.join("\n"));
}

#[test]
fn the_scan_sees_grouped_and_plain_paths() {
    let text = "use crate::store::X;\nuse crate::{cluster::Y, net};\nlet _ = crate::game::z();";
    assert_eq!(crate_paths(text), ["store", "cluster", "net", "game"]);
}
