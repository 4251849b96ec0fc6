//! The layer rules of docs/architecture.md, checked on the source: a `crate::X` path in
//! a layer's files must name a module that layer may import.

use std::collections::BTreeSet;
use std::path::Path;

/// (layer, modules it may import).
const RULES: &[(&str, &[&str])] = &[
    (
        "jobs",
        &["connect", "ops", "files", "firmware", "report", "error"],
    ),
    (
        "connect",
        &[
            "transport",
            "sim",
            "chips",
            "clock",
            "files",
            "report",
            "error",
            "inference",
        ],
    ),
    (
        "ops",
        &[
            "connect",
            "mtk",
            "plan",
            "firmware",
            "files",
            "chips",
            "transport",
            "inference",
            "interrupt",
            "report",
            "error",
        ],
    ),
    (
        "mtk",
        &[
            "transport",
            "chips",
            "firmware",
            "inference",
            "clock",
            "report",
        ],
    ),
    ("transport", &["clock", "interrupt"]),
    (
        "sim",
        &[
            "transport",
            "chips",
            "firmware",
            "inference",
            "clock",
            "rng",
            "bus_timing",
            "interrupt",
        ],
    ),
    ("plan", &["chips", "firmware", "inference"]),
    ("firmware", &["inference", "rng"]),
    ("chips", &[]),
    ("limit", &["bus_timing", "chips", "inference", "plan"]),
    ("bus_timing", &[]),
    ("inference", &["firmware"]),
    ("report", &["chips", "error"]),
    ("files", &["error", "firmware"]),
    ("error", &[]),
];

fn sources(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            sources(&e.unwrap().path(), out);
        }
    } else if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The modules a file names as `crate::X`, or inside `crate::{X, Y::Z}`.
fn imports(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            continue;
        }
        out.insert(ident(rest));
    }
    out.remove("");
    out
}

#[test]
fn every_layer_imports_only_what_docs_architecture_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (layer, allowed) in RULES {
        let mut files = Vec::new();
        sources(&src.join(layer), &mut files);
        sources(&src.join(format!("{layer}.rs")), &mut files);
        assert!(!files.is_empty(), "no sources for {layer}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for m in imports(&text) {
                if m != *layer && !allowed.contains(&m.as_str()) {
                    bad.push(format!("{} imports crate::{m}", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layer rules broken:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    let found = imports("use crate::sim::store;\nfn f() { crate::cli::main_os(vec![]); }");
    assert!(found.contains("sim") && found.contains("cli"));
    let grouped = imports("use crate::{jobs, ops::{self, x}, sim::store::{A, B}};");
    let want: BTreeSet<String> = ["jobs", "ops", "sim"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(grouped, want);
}
