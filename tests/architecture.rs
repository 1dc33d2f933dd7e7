//! Guards on the shape of `src/` (docs/architecture.md, "Layers"): file size, where actix may
//! be imported, and no import cycle between the top-level modules. They read the source
//! text only; nothing here links the crate.
//!
//! The intended direction of dependencies, lowest first:
//!
//! ```text
//! domain  <-  storage  <-  services  <-  routes / web  <-  startup, main
//!                         (accounts, catalog, registration, issuance, distribution,
//!                          verification, published, render, documents, backup, demo)
//! ```
//!
//! `domain` knows nothing else of the crate; `storage` only the domain; services use storage,
//! the domain and each other without cycles; `routes/` and `web/` (the HTTP layer, the only
//! place with actix and status codes besides start-up) use services; `web/` may use
//! `routes/`' extractors, never the reverse. `agent/` is a separate program in the same
//! crate: it shares the domain and the verification code, never the server's services.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// No file under `src/` is longer than this (the aim is 600).
const MAX_LINES: usize = 700;

/// Top-level modules tolerated in import cycles: none since issue 17 (a cycle made only of
/// these would be tolerated; a cycle through any other module fails). Nothing may be added
/// here.
const PENDING_CYCLE_MODULES: &[&str] = &[];

/// Where actix may be imported: the HTTP layer and start-up.
const ACTIX_ALLOWED: &[&str] = &[
    "src/routes/",
    "src/web/",
    "src/startup.rs",
    "src/tls.rs",
    "src/main.rs",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as (path relative to the crate, text).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src_dir(), &mut files);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {rel}: {e}"));
            (rel, text)
        })
        .collect()
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter_map(|(path, text)| {
            let n = text.lines().count();
            (n > MAX_LINES).then(|| format!("{path}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them along their sections, see docs/architecture.md):\n{}",
        long.join("\n")
    );
}

/// The code of a file without comments, string and char literals (replaced by spaces), so
/// that words in docs and messages are not taken for imports.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"..." / r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < b.len() {
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 3..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // Multi-byte UTF-8 char literal, or a lifetime.
                let s = &text[i + 1..];
                let mut chars = s.char_indices();
                match (chars.next(), chars.next()) {
                    (Some(_), Some((n, '\''))) => Some(i + 1 + n),
                    _ => None,
                }
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            // Copy one whole UTF-8 character.
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `code` without its `#[cfg(test)]` items (test modules may reach across layers).
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // Skip the item: to the end of its block, or of its `;` if it has none.
        let open = after.find('{');
        let semi = after.find(';');
        match (open, semi) {
            (Some(o), s) if s.is_none_or(|s| o < s) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (k, ch) in after[o..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            (_, Some(s)) => rest = &after[s + 1..],
            _ => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// A test-only file: `tests.rs`, `*_tests.rs`, or anything under a `tests/` folder.
fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.ends_with("_tests.rs") || path.contains("/tests/")
}

#[test]
fn actix_is_imported_only_by_the_http_layer_and_start_up() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !ACTIX_ALLOWED.iter().any(|a| path.starts_with(a)))
        .filter(|(_, text)| {
            let code = code_only(text);
            let found = words(&code).any(|w| w == "actix_web" || w.starts_with("actix_"));
            found
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        bad.is_empty(),
        "actix outside routes/, web/ and start-up (services stay HTTP-free):\n{}",
        bad.join("\n")
    );
}

fn words(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The top-level module a file of `src/` belongs to (`src/storage/jobs.rs` -> `storage`).
fn top_module(path: &str) -> String {
    let rel = path.strip_prefix("src/").unwrap_or(path);
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file's code names through `crate::X` (also in `use crate::{X, Y}`).
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `mycrate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::b, c, d::{e, f}}`: the first segment of each top-level entry.
            let mut depth = 0usize;
            let mut entry_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => entry_start = true,
                    c if c.is_whitespace() => {}
                    _ if entry_start && depth == 0 => {
                        let name: String = group[k..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            found.insert(name);
                        }
                        entry_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found.remove("self");
    found
}

/// The module graph: module -> module -> the files that make the edge.
fn module_graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (path, text) in sources() {
        let from = top_module(&path);
        if from == "lib" || from == "main" || is_test_file(&path) {
            continue;
        }
        let code = without_tests(&code_only(&text));
        let edges = graph.entry(from.clone()).or_default();
        for to in crate_references(&code) {
            if to != from {
                edges.entry(to).or_default().insert(path.clone());
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            if let Some(edges) = self.graph.get(v) {
                for w in edges.keys() {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).unwrap();
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).unwrap();
                        *lv = (*lv).min(iw);
                    }
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// One cycle through the component, spelled out with the files that make each step.
fn describe(
    comp: &[String],
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> String {
    let mut lines = vec![format!("cycle between {}:", comp.join(", "))];
    for from in comp {
        for (to, files) in &graph[from] {
            if comp.contains(to) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                lines.push(format!("  {from} -> {to}  ({})", files.join(", ")));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    let found: Vec<String> = cycles(&graph)
        .into_iter()
        .filter(|comp| {
            !comp
                .iter()
                .all(|m| PENDING_CYCLE_MODULES.contains(&m.as_str()))
        })
        .map(|comp| describe(&comp, &graph))
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of src/ (intended: domain <- storage <- \
         services <- routes/web; see the head of this file):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_and_storage_sit_at_the_bottom() {
    let graph = module_graph();
    let of = |m: &str| -> Vec<String> {
        graph
            .get(m)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        of("domain"),
        Vec::<String>::new(),
        "domain imports nothing of the crate"
    );
    assert_eq!(
        of("storage"),
        vec!["domain".to_string()],
        "storage imports only the domain"
    );
}

#[test]
fn the_reference_parser_reads_groups_and_skips_comments_strings_and_tests() {
    let code = code_only(
        "use crate::{storage::jobs, domain::{job, role}, clock};\n\
         // crate::web in a comment\n\
         let s = \"crate::routes\";\n\
         let c = '{';\n\
         fn f<'a>(x: &'a str) { crate::render::x(); }\n\
         #[cfg(test)]\nmod tests { use crate::startup; fn g() { let _ = \"}\"; } }\n\
         fn h() { crate::catalog::y(); }\n",
    );
    let refs = crate_references(&without_tests(&code));
    let names: Vec<&str> = refs.iter().map(String::as_str).collect();
    assert_eq!(names, ["catalog", "clock", "domain", "render", "storage"]);
}
