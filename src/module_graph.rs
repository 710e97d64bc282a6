//! Checks that the top-level modules depend on each other without cycles, by reading every
//! `crate::` path in `src/` (a lower layer that must tell a higher one something returns or
//! buffers it: see the crate's layout). Test-only; reads the sources with std::fs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules whose dependencies must form a DAG.
const MODULES: &[&str] = &[
    "protocol", "shard", "command", "server", "pubsub", "acl", "rdb", "config", "state", "glob",
    "handoff", "tracking", "service", "cluster",
];

/// The top-level modules named by `crate::` paths in `text` (`crate::x::y`, `crate::{x, y::z}`),
/// comments excluded.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of a group: those at nesting depth 0, before each comma.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        found.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the other listed modules it names.
fn dependencies() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut files = Vec::new();
    sources(&src, &mut files);
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a component");
        let name = first.as_os_str().to_string_lossy();
        let Some(&module) = MODULES
            .iter()
            .find(|m| name == **m || name == format!("{m}.rs"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        let deps = graph.entry(module).or_default();
        for named in crate_paths(&text) {
            if let Some(&dep) = MODULES.iter().find(|m| **m == named) {
                if dep != module {
                    deps.insert(dep);
                }
            }
        }
    }
    graph
}

/// A cycle through the graph, as the list of modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<&'static str, BTreeSet<&'static str>>) -> Option<Vec<&'static str>> {
    fn visit(
        node: &'static str,
        graph: &BTreeMap<&'static str, BTreeSet<&'static str>>,
        path: &mut Vec<&'static str>,
        done: &mut BTreeSet<&'static str>,
    ) -> Option<Vec<&'static str>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for &next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|&node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn paths_are_read_from_uses_groups_and_expressions() {
    let text = "use crate::shard::{Shard, db};\nuse crate::{glob, protocol::Reply};\n\
                // crate::server in a comment\nlet x = crate::config::get();";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["config", "glob", "protocol", "shard"]);
}

#[test]
fn a_cycle_is_found() {
    let graph = BTreeMap::from([
        ("a", BTreeSet::from(["b"])),
        ("b", BTreeSet::from(["c"])),
        ("c", BTreeSet::from(["a"])),
    ]);
    assert_eq!(find_cycle(&graph), Some(vec!["a", "b", "c", "a"]));
    let graph = BTreeMap::from([("a", BTreeSet::from(["b"])), ("b", BTreeSet::new())]);
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn top_level_modules_have_no_cycles() {
    let graph = dependencies();
    // The reader found the layering at all: the command layer sits on the shard and protocol.
    assert!(graph["command"].contains("shard") && graph["command"].contains("protocol"));
    assert!(graph["server"].contains("command"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}\n{graph:#?}", cycle.join(" -> "));
    }
}
