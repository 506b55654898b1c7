//! The operator is a stack of layers, each importing only the layers below it, and no two files
//! of a crate import each other, directly or around a loop.
//!
//! ```text
//!  run      controller wiring, arguments, reconcile, triggers, metrics and health endpoints
//!  cluster  watches, caches and their projections, observing, executing plans, events, Lease
//!  core     pure: rendering, pod health, the plan, the rollout state machine
//!  kinds    the one view over every kind, and what a revision is
//!  error    the error type every layer with I/O returns
//! ```

mod layers_support;

use std::path::Path;

use layers_support::{cycles, graph};

const LAYERS: [&str; 5] = ["error", "kinds", "core", "cluster", "run"];

fn layer(module: &[String]) -> usize {
    match module.first() {
        // The crate root declares the layers; nothing imports it.
        None => LAYERS.len(),
        Some(top) => LAYERS
            .iter()
            .position(|l| l == top)
            .unwrap_or_else(|| panic!("module {top} is in no layer: put it in one of {LAYERS:?}")),
    }
}

fn src(krate: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

#[test]
fn every_import_points_down() {
    let files = graph(&src("controller"));
    assert!(files.len() > 20, "the graph reads the sources");
    let mut wrong = Vec::new();
    for file in &files {
        if file.path == "main.rs" {
            continue;
        }
        for import in &file.imports {
            if layer(import) > layer(&file.module) {
                wrong.push(format!("{} imports {}", file.path, import.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_crate_has_an_import_cycle() {
    for krate in ["controller", "crd", "fake-api", "kubectl-lockstep"] {
        let found = cycles(&graph(&src(krate)));
        assert!(
            found.is_empty(),
            "{krate}: files that import each other: {found:#?}"
        );
    }
}

/// The checker finds what it must: a cycle through a `use super::` and a grouped `crate::{}`
/// import, child modules named without `self::`, and it skips comments and strings.
#[test]
fn the_checker_sees_cycles_and_skips_comments() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write(
        "a/mod.rs",
        "mod inner;\nuse inner::X;\n// crate::b::Y is only a comment\n",
    );
    write("a/inner.rs", "use crate::{b::Y, a};\n");
    write(
        "b.rs",
        "pub fn f() { let s = \"crate::a::Z\"; super::a::g(); }\n#[cfg(test)]\nmod tests { use super::*; use crate::a; }\n",
    );
    let files = graph(dir.path());
    let imports = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .unwrap()
            .imports
            .iter()
            .map(|m| m.join("::"))
            .collect::<Vec<_>>()
    };
    assert_eq!(imports("a/mod.rs"), ["a::inner"]);
    assert_eq!(imports("a/inner.rs"), ["a", "b"]);
    assert_eq!(
        imports("b.rs"),
        ["a"],
        "strings and test modules are not imports"
    );
    let found = cycles(&files);
    assert_eq!(
        found,
        [vec![
            "a/inner.rs".to_owned(),
            "a/mod.rs".to_owned(),
            "b.rs".to_owned()
        ]]
    );
}
