//! A file-level import graph of a crate's `src/`, read from its source text: which file's code
//! names which other file's module (`crate::a::b`, `super::x`, a child module `m::x`).
//!
//! Why not `cargo modules`: it needs a rust-analyzer build of its own (minutes on a fresh
//! machine) to answer a question the source text answers. Comments are skipped, so doc links
//! (`[`crate::x`]`) are not imports; everything else that names a module path is, because it
//! is a compile-time dependency whether it sits in a `use` or in an expression.

#![allow(clippy::unwrap_used)] // a test helper: a source that cannot be read fails the test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`core::plan::types`) and what it imports.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// Path relative to `src/`.
    pub path: String,
    /// The module path, `""` for the crate root.
    pub module: Vec<String>,
    /// Module paths of the files it depends on.
    pub imports: BTreeSet<Vec<String>>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of `text` without comments: `//` to the end of a line (outside strings) and
/// `/* */` blocks.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_str, mut block) = (false, 0usize);
    while let Some(c) = chars.next() {
        if block > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                block += 1;
            }
            continue;
        }
        if in_str {
            out.push(c);
            if c == '\\' {
                out.extend(chars.next());
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                block = 1;
            }
            ('"', _) => {
                in_str = true;
                out.push(c);
            }
            // A char literal holding a quote must not open a string.
            ('\'', Some('"')) => {
                out.push(c);
                out.extend(chars.next());
            }
            _ => out.push(c),
        }
    }
    out
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts at `start` in `code`, expanded over `{a, b::c}` groups: the segments
/// after the prefix (the prefix itself is resolved by the caller).
fn paths_after(code: &str, start: usize) -> Vec<Vec<String>> {
    let rest = &code[start..];
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = i;
                break;
            }
        }
        let inner = &group[..end];
        let mut items = Vec::new();
        let (mut depth, mut from) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[from..i]);
                    from = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[from..]);
        return items
            .into_iter()
            .flat_map(|item| {
                let item = item.trim();
                paths_after(item, 0)
            })
            .collect();
    }
    let mut segments = Vec::new();
    let mut at = 0;
    loop {
        let seg: String = rest[at..].chars().take_while(|c| ident_char(*c)).collect();
        if seg.is_empty() {
            break;
        }
        at += seg.len();
        segments.push(seg);
        if rest[at..].starts_with("::") {
            at += 2;
            if rest[at..].starts_with('{') {
                let mut group = paths_after(rest, at);
                for g in &mut group {
                    let mut full = segments.clone();
                    full.append(g);
                    *g = full;
                }
                return group;
            }
        } else {
            break;
        }
    }
    vec![segments]
}

/// Start offsets of the word `word` followed by `::` in `code`, not part of a longer path.
fn occurrences(code: &str, word: &str) -> Vec<usize> {
    let needle = format!("{word}::");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(&needle) {
        let at = from + i;
        let before = code[..at].chars().next_back();
        let standalone = before.is_none_or(|c| !ident_char(c) && c != ':' && c != '$');
        if standalone {
            out.push(at + needle.len());
        }
        from = at + needle.len();
    }
    out
}

/// The import graph of the crate whose sources are in `src`.
pub(crate) fn graph(src: &Path) -> Vec<File> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let modules: BTreeSet<Vec<String>> = paths
        .iter()
        .map(|p| module_of(p.strip_prefix(src).unwrap()))
        .collect();
    // The longest module prefix of `path`: the file that defines what it names.
    let resolve = |path: &[String]| -> Vec<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
            .unwrap_or_default()
    };
    let mut files = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(src).unwrap();
        let module = module_of(rel);
        let is_dir_module = rel
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` also `a`.
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let source = std::fs::read_to_string(path).unwrap();
        // Unit tests sit at the end of a file in an inline module whose `super` is the file.
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        let text = code(source);
        let mut imports = BTreeSet::new();
        for at in occurrences(&text, "crate") {
            for p in paths_after(&text, at) {
                imports.insert(resolve(&p));
            }
        }
        for at in occurrences(&text, "super") {
            for p in paths_after(&text, at) {
                let mut full = parent.clone();
                full.extend(p);
                imports.insert(resolve(&full));
            }
        }
        for at in occurrences(&text, "self") {
            for p in paths_after(&text, at) {
                let mut full = module.clone();
                full.extend(p);
                imports.insert(resolve(&full));
            }
        }
        // A child module named without `self::` (`use types::X;` in `plan/mod.rs`).
        if is_dir_module {
            let children: BTreeSet<&String> = modules
                .iter()
                .filter(|m| m.len() == module.len() + 1 && m.starts_with(&module))
                .filter_map(|m| m.last())
                .collect();
            for child in children {
                for at in occurrences(&text, child) {
                    for p in paths_after(&text, at) {
                        let mut full = module.clone();
                        full.push(child.clone());
                        full.extend(p);
                        imports.insert(resolve(&full));
                    }
                }
            }
        }
        imports.remove(&module);
        files.push(File {
            path: rel.display().to_string(),
            module,
            imports,
        });
    }
    files
}

/// The import cycles among `files`: each strongly connected component of more than one file,
/// as the files' paths.
pub(crate) fn cycles(files: &[File]) -> Vec<Vec<String>> {
    let index: BTreeMap<&Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (&f.module, i))
        .collect();
    let edges: Vec<Vec<usize>> = files
        .iter()
        .map(|f| {
            f.imports
                .iter()
                .filter_map(|m| index.get(m).copied())
                .collect()
        })
        .collect();
    // Reachability by depth-first search from each file: small graphs, plain code.
    let reach = |from: usize| -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = edges[from].clone();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(&edges[n]);
            }
        }
        seen
    };
    let reaches: Vec<BTreeSet<usize>> = (0..files.len()).map(reach).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for i in 0..files.len() {
        if done.contains(&i) || !reaches[i].contains(&i) {
            continue;
        }
        let component: Vec<usize> = (0..files.len())
            .filter(|j| reaches[i].contains(j) && reaches[*j].contains(&i))
            .collect();
        done.extend(component.iter().copied());
        out.push(component.iter().map(|j| files[*j].path.clone()).collect());
    }
    out
}
