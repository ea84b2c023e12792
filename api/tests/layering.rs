//! The layering the code map promises, checked on the source text, so a newcomer who adds an
//! import the wrong way round is told at once rather than by a reviewer months later:
//!
//! - no two top-level modules of `almanac-api` or `almanac-domain` import each other, directly
//!   or around a longer loop;
//! - `services` never imports `graphql` or `http` (use cases know no protocol), and `store` never
//!   imports `services`, `graphql` or `http`;
//! - `almanac-domain` depends on no async runtime, database or HTTP crate, and its code never
//!   reads the clock or an RNG ("now" and new ids are its callers' to give).
//!
//! Imports are read as `crate::<module>` paths outside comments: every module here names other
//! modules that way (`super::` stays inside a module).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The one loop left, tolerated explicitly until it is cut: the sync module (`api/src/sync/`)
/// takes the whole `AppState`, which holds the sync runtime. Files under these folders may import
/// that module; nothing else may close a loop.
const TOLERATED: &[(&str, &str)] = &[("sync/", "state")];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("api/ is inside the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc comments included), which may name modules freely.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::x` and `crate::{x, y::…}` in the code: the top-level modules it names.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with('$') || code[..i].ends_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(ident));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// For one crate: each top-level module's imports of other top-level modules, with the file
/// (relative to `src/`) each comes from.
struct ModuleGraph {
    edges: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl ModuleGraph {
    fn of(src: &Path) -> ModuleGraph {
        let modules: BTreeSet<String> = std::fs::read_dir(src)
            .expect("src/ exists")
            .map(|e| e.expect("readable entry").path())
            .filter_map(|p| {
                let name = p.file_stem()?.to_str()?.to_string();
                (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
            })
            .filter(|m| !matches!(m.as_str(), "lib" | "main" | "bin"))
            .collect();
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for file in files {
            let rel = file.strip_prefix(src).expect("under src").to_path_buf();
            let from = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|c| c.trim_end_matches(".rs").to_string())
                .expect("a file name");
            if !modules.contains(&from) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("readable source");
            for to in crate_paths(&code_of(&text)) {
                if to != from && modules.contains(&to) {
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_default()
                        .push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        ModuleGraph { edges }
    }

    fn without_pending(mut self) -> ModuleGraph {
        for targets in self.edges.values_mut() {
            for (to, files) in targets.iter_mut() {
                files.retain(|f| {
                    !TOLERATED
                        .iter()
                        .any(|(folder, target)| f.starts_with(folder) && target == to)
                });
            }
            targets.retain(|_, files| !files.is_empty());
        }
        self
    }

    /// One import loop, as the modules around it, if there is any.
    fn a_cycle(&self) -> Option<Vec<String>> {
        fn visit(
            g: &ModuleGraph,
            m: &str,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == m) {
                let mut cycle = path[i..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            if done.contains(m) {
                return None;
            }
            path.push(m.to_string());
            for to in g.edges.get(m).into_iter().flat_map(|t| t.keys()) {
                if let Some(c) = visit(g, to, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(m.to_string());
            None
        }
        let mut done = BTreeSet::new();
        self.edges
            .keys()
            .find_map(|m| visit(self, m, &mut Vec::new(), &mut done))
    }

    fn files_importing(&self, from: &str, to: &str) -> Vec<String> {
        self.edges
            .get(from)
            .and_then(|t| t.get(to))
            .cloned()
            .unwrap_or_default()
    }

    fn describe(&self, cycle: &[String]) -> String {
        cycle
            .windows(2)
            .map(|w| {
                format!(
                    "{} -> {} (in {})",
                    w[0],
                    w[1],
                    self.files_importing(&w[0], &w[1]).join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[test]
fn the_finder_sees_imports_and_loops() {
    let code = code_of(
        "use crate::store::Store; // crate::graphql in a comment\nuse crate::{auth::Viewer, state};\n$crate::payloads!{}",
    );
    assert_eq!(
        crate_paths(&code),
        ["auth", "state", "store"].map(String::from).into()
    );
    let mut g = ModuleGraph {
        edges: BTreeMap::new(),
    };
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a")] {
        g.edges
            .entry(a.into())
            .or_default()
            .insert(b.into(), vec![format!("{a}.rs")]);
    }
    assert!(g.a_cycle().is_some());
    g.edges.remove("c");
    assert_eq!(g.a_cycle(), None);
}

#[test]
fn top_level_modules_of_the_api_import_each_other_one_way_only() {
    let g = ModuleGraph::of(&workspace().join("api/src")).without_pending();
    if let Some(cycle) = g.a_cycle() {
        panic!(
            "almanac-api modules import each other: {}",
            g.describe(&cycle)
        );
    }
}

#[test]
fn top_level_modules_of_the_domain_import_each_other_one_way_only() {
    let g = ModuleGraph::of(&workspace().join("domain/src"));
    if let Some(cycle) = g.a_cycle() {
        panic!(
            "almanac-domain modules import each other: {}",
            g.describe(&cycle)
        );
    }
}

#[test]
fn services_know_no_protocol_and_the_store_knows_no_use_case() {
    let g = ModuleGraph::of(&workspace().join("api/src")).without_pending();
    for (from, forbidden) in [
        ("services", &["graphql", "http"][..]),
        ("store", &["services", "graphql", "http"][..]),
    ] {
        for to in forbidden {
            let files = g.files_importing(from, to);
            assert!(
                files.is_empty(),
                "{from} must not import {to}, but {} do",
                files.join(", ")
            );
        }
    }
}

/// The names under `[dependencies]` (and target-specific dependency tables) of a manifest.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            let table = line.trim_matches(|c| c == '[' || c == ']');
            in_deps = table == "dependencies" || table.ends_with(".dependencies");
            if let Some(name) = table.strip_prefix("dependencies.") {
                out.push(name.to_string());
                in_deps = false;
            }
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_matches('"');
                if !name.is_empty() && !name.starts_with('#') {
                    out.push(name.split('.').next().unwrap_or(name).to_string());
                }
            }
        }
    }
    out
}

#[test]
fn the_domain_depends_on_no_runtime_database_or_http_crate() {
    assert_eq!(
        dependencies("[package]\nname = \"x\"\n[dependencies]\ntokio.workspace = true\nserde = { version = \"1\" }\n[dev-dependencies]\nsqlx = \"1\"\n[dependencies.reqwest]\nversion = \"1\""),
        ["tokio", "serde", "reqwest"]
    );
    let manifest =
        std::fs::read_to_string(workspace().join("domain/Cargo.toml")).expect("domain manifest");
    let forbidden = [
        "tokio",
        "async-std",
        "sqlx",
        "reqwest",
        "hyper",
        "axum",
        "tower",
        "async-graphql",
        "futures",
        "futures-util",
        "async-trait",
    ];
    let found: Vec<String> = dependencies(&manifest)
        .into_iter()
        .filter(|d| forbidden.contains(&d.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "almanac-domain must stay free of I/O, but depends on {found:?}"
    );
}

#[test]
fn the_domain_never_reads_the_clock_or_an_rng() {
    let mut files = Vec::new();
    rust_files(&workspace().join("domain/src"), &mut files);
    let forbidden = [
        "now_v7",
        "new_v4",
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "rand::",
        "thread_rng",
        "getrandom",
    ];
    let mut found = Vec::new();
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).expect("readable source"));
        for word in forbidden {
            if code.contains(word) {
                found.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
