//! The layer rule (ARCHITECTURE.md, "Layers"), where no crate boundary
//! enforces it yet:
//!
//! - the core — the tick and its phases, the net layer, the store, metrics,
//!   secrets, shutdown, readiness — imports no feature and nothing of the
//!   HTTP side;
//! - the features (players, chat, replication, the game, the cluster,
//!   recording, operator orders) import the core and each other, never the
//!   HTTP side or the process's assembly;
//! - no two modules import each other, directly or round a circle;
//! - the engine never names a game: each game is a crate under `games/`
//!   built on `tickforge-api` (never on this crate, which the crate
//!   boundary then enforces), and only the registry (`games.rs`) names them.
//!
//! Paths are read from code, not comments: a doc link is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The core's top-level modules (files or folders under `server/src`);
/// `api` is the game API, which games and features build on.
const CORE: &[&str] = &["tick", "net", "store", "metrics", "secrets", "shutdown", "readiness", "api"];

/// The features' top-level modules.
const FEATURES: &[&str] = &["game", "cluster", "record", "operator"];

fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// `text` without `//` comments (doc comments included).
fn code(text: &str) -> String {
    text.lines().map(|line| line.find("//").map_or(line, |at| &line[..at])).collect::<Vec<_>>().join("\n")
}

/// The module path (`game::players`) of a source file under `src`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every `crate::` and `super::` path in `text`, as segments, from the
/// file whose module is `module` (`crate::{a, b::c}` gives `[a]`, `[b, c]`).
fn paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect::<String>();
    let split = |p: &str| p.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        for (at, _) in text.match_indices(prefix) {
            if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &text[at + prefix.len()..];
            let tails: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => {
                    group[..group.find('}').unwrap_or(group.len())].split(',').map(|p| ident(p.trim())).collect()
                }
                None => vec![ident(rest)],
            };
            for tail in tails.iter().filter(|t| !t.is_empty()) {
                found.push(base.iter().cloned().chain(split(tail)).collect());
            }
        }
    }
    found
}

/// Each module's imports of other modules (as deep as `depth` segments).
fn graph(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| !m.is_empty())
        .map(|m| m[..m.len().min(depth)].join("::"))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if module.is_empty() {
            continue;
        }
        let from = module[..module.len().min(depth)].join("::");
        let text = code(&std::fs::read_to_string(file).unwrap());
        for path in paths(&text, &module) {
            let to = (1..=path.len().min(depth)).rev().map(|k| path[..k].join("::")).find(|m| modules.contains(m));
            if let Some(to) = to.filter(|to| *to != from) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn the_core_imports_no_feature_and_no_http_side() {
    let edges = graph(1);
    assert!(edges.contains_key("game") && edges.contains_key("store"), "the sources were read: {edges:?}");
    let offences: Vec<String> = edges
        .iter()
        .filter(|(from, _)| CORE.contains(&from.as_str()))
        .flat_map(|(from, to)| to.iter().filter(|t| !CORE.contains(&t.as_str())).map(move |t| format!("{from} -> {t}")))
        .collect();
    assert!(offences.is_empty(), "core modules import outside the core:\n{}", offences.join("\n"));
}

#[test]
fn features_import_only_the_core_and_features() {
    let edges = graph(1);
    let offences: Vec<String> = edges
        .iter()
        .filter(|(from, _)| FEATURES.contains(&from.as_str()))
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|t| !CORE.contains(&t.as_str()) && !FEATURES.contains(&t.as_str()))
                .map(move |t| format!("{from} -> {t}"))
        })
        .collect();
    assert!(offences.is_empty(), "features import the HTTP side or the assembly:\n{}", offences.join("\n"));
}

/// A circle in `edges`, if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            return Some(stack[at..].iter().cloned().chain([node.to_owned()]).collect());
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn no_modules_import_each_other_round_a_circle() {
    for depth in [1, 2] {
        // A module's own children may name it (its types, its doc links);
        // what must not happen is a circle between sibling modules.
        let edges: BTreeMap<String, BTreeSet<String>> = graph(depth)
            .into_iter()
            .map(|(from, to)| {
                let to = to.into_iter().filter(|t| !from.starts_with(&format!("{t}::")) && top(t) != "lib").collect();
                (from, to)
            })
            .collect();
        assert_eq!(circle(&edges), None, "modules import each other round a circle (depth {depth})");
    }
}

/// The game crates of the workspace: (folder, crate name as code names it).
fn game_crates() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let mut games = Vec::new();
    for entry in std::fs::read_dir(root.join("games")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("a game's manifest names its crate");
        games.push((dir, name.replace('-', "_")));
    }
    games
}

#[test]
fn games_build_on_the_api_and_only_the_registry_names_them() {
    let games = game_crates();
    assert!(games.iter().any(|(_, name)| name == "tickforge_arena"), "the games were found: {games:?}");
    for (dir, name) in &games {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            !manifest.lines().any(|l| l.trim_start().starts_with("tickforge-server")),
            "{name} depends on the engine's internals (tickforge-server) rather than tickforge-api"
        );
    }
    let offences = naming_games(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), Some("games.rs"), &games);
    assert!(offences.is_empty(), "the engine names a game outside its registry:\n{}", offences.join("\n"));
}

/// Files under `dir` (but `except`) whose code names one of `games`.
fn naming_games(dir: &Path, except: Option<&str>, games: &[(PathBuf, String)]) -> Vec<String> {
    let mut files = Vec::new();
    sources(dir, &mut files);
    assert!(!files.is_empty(), "{} has sources", dir.display());
    files
        .iter()
        .filter(|f| f.file_name().and_then(|n| n.to_str()) != except)
        .flat_map(|f| {
            let text = code(&std::fs::read_to_string(f).unwrap());
            games
                .iter()
                .filter(move |(_, name)| text.contains(name.as_str()))
                .map(move |(_, name)| format!("{} names {name}", f.display()))
        })
        .collect()
}

#[test]
fn the_client_names_games_only_in_its_registry_and_its_core_names_none() {
    let games = game_crates();
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("client");
    let offences = naming_games(&client.join("src"), Some("games.rs"), &games);
    assert!(offences.is_empty(), "the client names a game outside its registry:\n{}", offences.join("\n"));
    let offences = naming_games(&client.join("core/src"), None, &games);
    assert!(offences.is_empty(), "the client core names a game:\n{}", offences.join("\n"));
    let manifest = std::fs::read_to_string(client.join("core/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("tickforge-arena") && !manifest.contains("tickforge-skirmish"),
        "the core depends on a game"
    );
}

#[test]
fn the_page_names_games_only_in_its_registry() {
    let games = game_crates();
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("web");
    let offences = naming_games(&web.join("src"), Some("games.rs"), &games);
    assert!(offences.is_empty(), "the page names a game outside its registry:\n{}", offences.join("\n"));
}

#[test]
fn the_scan_sees_grouped_plain_and_parent_paths_but_not_comments() {
    let text = "use crate::store::X;\nuse crate::{cluster::Y, net};\nlet _ = crate::game::z();\n/// [`crate::auth`]\nuse super::chat::C;";
    let module = ["game".to_owned(), "players".to_owned()];
    let found: Vec<String> = paths(&code(text), &module).iter().map(|p| p.join("::")).collect();
    assert_eq!(found, ["store::X", "cluster::Y", "net", "game::z", "game::chat::C"]);
    let ring: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(f, t)| (f.to_owned(), BTreeSet::from([t.to_owned()])))
        .collect();
    assert_eq!(circle(&ring), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
