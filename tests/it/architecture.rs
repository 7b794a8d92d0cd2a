//! The layering ARCHITECTURE.md promises, checked on the source: no import cycle between
//! the library's modules, no level number outside `compare`, no writer in `lookup`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::util::root;

/// Module name → the crate modules its non-test code names (comments skipped).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("cmd/") || rel == "main.rs" || rel == "lib.rs" {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let text = fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = out.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
                // `use crate::{a, b::c}`
                if let Some(list) = rest.strip_prefix('{') {
                    for part in list.split([',', '}']) {
                        let n: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        if !n.is_empty() && n != module && part.trim().contains("::") {
                            deps.insert(n);
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_library_modules_have_no_import_cycle() {
    let graph = imports();
    fn reaches(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for d in g.get(&m).into_iter().flatten() {
                if d == to {
                    return true;
                }
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        false
    }
    let mut cycles = Vec::new();
    for (m, deps) in &graph {
        for d in deps {
            if graph.contains_key(d) && reaches(&graph, d, m) {
                cycles.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
    assert!(graph["config"].contains("export") && !graph["config"].contains("ingest"));
}

#[test]
fn level_numbers_stay_in_compare_and_lookup_writes_nothing() {
    // Code only: doc comments may name other modules.
    let read = |f: &str| -> String {
        fs::read_to_string(root().join("src").join(f))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cluster = read("cluster.rs");
    for banned in ["levels[", "MISSING", "SPECS", "crate::model"] {
        assert!(!cluster.contains(banned), "cluster.rs mentions {banned}");
    }
    let lookup = read("lookup.rs");
    for banned in ["crate::output", "outdir", "write_"] {
        assert!(!lookup.contains(banned), "lookup.rs mentions {banned}");
    }
    // The desk serves what lookup reads: no store, index or file of its own.
    let graph = imports();
    let desk: Vec<&String> = graph["desk"]
        .iter()
        .filter(|m| !["lookup", "attention", "error"].contains(&m.as_str()))
        .collect();
    assert!(desk.is_empty(), "desk imports {desk:?}");
    for banned in ["std::fs", "File::", "outdir"] {
        assert!(
            !read("desk.rs").contains(banned),
            "desk.rs mentions {banned}"
        );
    }
}
