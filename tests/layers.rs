//! The layering of ARCHITECTURE.md, checked on the source: a module imports only from layers
//! below it, a route imports neither storage nor another route, and the modules inside one
//! layer import each other without cycles. Reads `src/` as text, so it fails on the commit
//! that breaks the rule, whatever else the commit does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first. A module may import only from a lower number.
const LAYERS: &[(&str, u32)] = &[
    ("domain", 0),
    ("console", 1),
    ("settings", 1),
    ("metrics", 1),
    ("storage", 2),
    ("tokens", 3),
    ("accounts", 4),
    ("oauth", 5),
    ("admin", 6),
    ("telemetry", 7),
    ("web", 7),
    ("routes", 8),
    ("startup", 9),
    ("cli", 10),
];

/// Fails with every finding, named relative to the package.
fn assert_none(what: &str, found: Vec<String>) {
    let found: Vec<String> = found
        .iter()
        .map(|f| f.replace(concat!(env!("CARGO_MANIFEST_DIR"), "/"), ""))
        .collect();
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// A source file: its module path (`["oauth", "client_auth"]`) and its text without the
/// unit tests (which may reach anywhere).
struct Source {
    path: PathBuf,
    module: Vec<String>,
    is_mod_file: bool,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap();
            let mut module: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let is_mod_file = module.last().is_some_and(|m| m == "mod");
            if is_mod_file {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            out.push(Source {
                path,
                module,
                is_mod_file,
                text,
            });
        }
    }
    out
}

/// Every `crate::a::b` and `super::b` path the text names, as module paths (at most two
/// levels: `["oauth", "registrar"]`), with `crate::{a::x, b}` groups expanded.
fn references(source: &Source) -> BTreeSet<Vec<String>> {
    let mut refs = BTreeSet::new();
    let parent: Vec<String> = if source.is_mod_file {
        source.module.clone()
    } else {
        source.module[..source.module.len() - 1].to_vec()
    };
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = source.text.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut paths = Vec::new();
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    paths.push(item.trim().to_owned());
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                paths.push(rest[..end].to_owned());
            }
            for path in paths {
                let mut full = base.clone();
                for part in path.split("::").take(2) {
                    let part = part.trim();
                    // Module names are lower case; a type or function ends the path.
                    if part.is_empty() || !part.starts_with(|c: char| c.is_ascii_lowercase()) {
                        break;
                    }
                    full.push(part.to_owned());
                }
                full.truncate(2);
                if !full.is_empty() {
                    refs.insert(full);
                }
            }
        }
    }
    refs
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    assert_none("imports against the layering", layer_violations(&sources()));
}

fn layer_violations(sources: &[Source]) -> Vec<String> {
    let mut wrong = Vec::new();
    for source in sources {
        let own = &source.module[0];
        let own_layer = layer(own).unwrap_or_else(|| panic!("{own} has no layer in LAYERS"));
        for r in references(source) {
            let target = &r[0];
            if target == own {
                continue;
            }
            match layer(target) {
                Some(l) if l < own_layer => {}
                _ => wrong.push(format!(
                    "{} imports {}",
                    source.path.display(),
                    r.join("::")
                )),
            }
        }
    }
    wrong
}

#[test]
fn routes_import_neither_storage_nor_each_other() {
    assert_none(
        "routes reaching sideways or down",
        route_violations(&sources()),
    );
}

fn route_violations(sources: &[Source]) -> Vec<String> {
    let mut wrong = Vec::new();
    for source in sources.iter().filter(|s| s.module[0] == "routes") {
        for r in references(source) {
            let into_storage = r[0] == "storage";
            let into_other_route = r[0] == "routes"
                && r.len() > 1
                && !source.is_mod_file
                && r.get(1) != source.module.get(1);
            if into_storage || into_other_route {
                wrong.push(format!(
                    "{} imports {}",
                    source.path.display(),
                    r.join("::")
                ));
            }
        }
    }
    wrong
}

#[test]
fn modules_within_a_layer_import_each_other_without_cycles() {
    assert_none("import cycles", cycles(&sources()));
}

fn cycles(sources: &[Source]) -> Vec<String> {
    // module -> the sibling modules (same top-level module) it names
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in sources.iter().filter(|s| s.module.len() == 2) {
        let siblings = references(source)
            .into_iter()
            .filter(|r| r.len() == 2 && r[0] == source.module[0] && r != &source.module)
            .collect();
        graph.insert(source.module.clone(), siblings);
    }
    let mut cycles = Vec::new();
    for start in graph.keys() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start.clone(), vec![start.join("::")])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    cycles.push(format!("{} -> {}", trail.join(" -> "), start.join("::")));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.join("::"));
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    cycles
}
