//! Docs that cannot drift: workspace-wide checks of `README.md` and `docs/*.md` against the code.
//!
//! They live in `remits-evidence` because it depends on no other remits crate (it builds first and
//! this test binary links only `std`, `serde_json` and `toml`). Each check reads files only; the
//! CLI flags the documents mention are checked by `tests/docs_cli.rs` of each binary.
//!
//! - every ` ```rust ` block is a marked region of a compiled example (`<!-- snippet: PATH#NAME -->`
//!   on the line before the block; the region between `// snippet-start: NAME` and
//!   `// snippet-end: NAME` in PATH, de-indented, must equal the block);
//! - every relative link and every repository path in backticks points to an existing file
//!   (and heading anchor), and every `docs/….md` named in a Rust source exists;
//! - the crate table of `docs/architecture.md` lists exactly the remits→remits normal
//!   dependencies `cargo metadata` reports, and its diagram has every crate once, each above
//!   the crates it depends on;
//! - `smoke/Cargo.toml` builds with the workspace's profile settings (so it reuses the
//!   workspace's compiled dependencies).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and docs/*.md, relative to the repository root.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("README.md")];
    let docs = root().join("docs");
    let mut md: Vec<PathBuf> = std::fs::read_dir(&docs)
        .unwrap_or_else(|e| panic!("{}: {e}", docs.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter_map(|p| p.file_name().map(|n| Path::new("docs").join(n)))
        .collect();
    md.sort();
    out.extend(md);
    out
}

/// A fenced code block: its info string, first line number (1-based) and its lines.
struct Fence {
    info: String,
    line: usize,
    body: Vec<String>,
}

/// The fenced blocks of a markdown text, and its lines outside them (with line numbers).
fn split_fences(text: &str) -> (Vec<Fence>, Vec<(usize, String)>) {
    let mut fences = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<Fence> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match open.take() {
            Some(f) if t.starts_with("```") => fences.push(f),
            Some(mut f) => {
                f.body.push(line.to_string());
                open = Some(f);
            }
            None if t.starts_with("```") => {
                open = Some(Fence {
                    info: t.trim_start_matches('`').trim().to_string(),
                    line: i + 1,
                    body: Vec::new(),
                })
            }
            None => prose.push((i + 1, line.to_string())),
        }
    }
    assert!(open.is_none(), "unclosed code fence");
    (fences, prose)
}

/// The lines between `// snippet-start: name` and `// snippet-end: name`, de-indented.
fn region(source: &str, name: &str) -> Option<Vec<String>> {
    let start = format!("// snippet-start: {name}");
    let end = format!("// snippet-end: {name}");
    let lines: Vec<&str> = source.lines().collect();
    let a = lines.iter().position(|l| l.trim() == start)?;
    let b = a + lines.get(a..)?.iter().position(|l| l.trim() == end)?;
    let body = lines.get(a + 1..b)?;
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Some(
        body.iter()
            .map(|l| l.get(indent..).unwrap_or("").trim_end().to_string())
            .collect(),
    )
}

#[test]
fn rust_snippets_are_compiled_examples() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&root().join(&doc));
        let lines: Vec<&str> = text.lines().collect();
        let (fences, _) = split_fences(&text);
        for f in fences.iter().filter(|f| f.info.starts_with("rust")) {
            let at = format!("{}:{}", doc.display(), f.line);
            // The marker is the line right before the fence.
            let marker = f
                .line
                .checked_sub(2)
                .and_then(|i| lines.get(i))
                .map(|l| l.trim())
                .and_then(|l| l.strip_prefix("<!-- snippet: "))
                .and_then(|l| l.strip_suffix(" -->"));
            let Some((path, name)) = marker.and_then(|m| m.split_once('#')) else {
                problems.push(format!(
                    "{at}: a Rust block must be a compiled example's region: put \
                     `<!-- snippet: crates/x/examples/y.rs#name -->` on the line before it"
                ));
                continue;
            };
            let source = read(&root().join(path));
            let Some(want) = region(&source, name) else {
                problems.push(format!("{at}: {path} has no region `{name}`"));
                continue;
            };
            let got: Vec<String> = f.body.iter().map(|l| l.trim_end().to_string()).collect();
            if got != want {
                problems.push(format!(
                    "{at}: differs from {path}#{name}; the example is the source, the block \
                     should read:\n{}",
                    want.join("\n")
                ));
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(checked >= 5, "only {checked} Rust blocks found");
}

/// GitHub's anchor for a heading text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(md: &str) -> BTreeSet<String> {
    let (_, prose) = split_fences(md);
    prose
        .iter()
        .filter_map(|(_, l)| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}

/// Remove inline code spans (their text is not a link).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// The targets of inline links `[text](target)` and reference definitions `[x]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let text = without_code(line);
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        let after = rest.get(i + 2..).unwrap_or("");
        let end = after.find(')').unwrap_or(after.len());
        let target = after.get(..end).unwrap_or("");
        let target = target.split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
        rest = after.get(end..).unwrap_or("");
    }
    let t = text.trim_start();
    if t.starts_with('[') {
        if let Some((_, target)) = t.split_once("]: ") {
            out.push(target.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    out
}

/// Repository paths written in backticks (`docs/x.md`, `crates/snp/examples/y.rs`, ...).
fn code_paths(line: &str) -> Vec<String> {
    const TOP: [&str; 8] = [
        "docs/", "crates/", "bins/", "scripts/", "deploy/", "benches/", "fuzz/", "smoke/",
    ];
    line.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| TOP.iter().any(|t| s.starts_with(t)))
        .filter(|s| s.chars().all(|c| c.is_alphanumeric() || "/._-".contains(c)))
        .map(str::to_string)
        .collect()
}

#[test]
fn relative_links_and_paths_resolve() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&root.join(&doc));
        let dir = doc.parent().unwrap_or(Path::new(""));
        let (_, prose) = split_fences(&text);
        for (n, line) in &prose {
            let at = format!("{}:{n}", doc.display());
            for target in link_targets(line) {
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target.as_str(), None),
                };
                let path = if file.is_empty() {
                    doc.clone()
                } else {
                    dir.join(file)
                };
                checked += 1;
                if !root.join(&path).exists() {
                    problems.push(format!("{at}: link to missing {}", path.display()));
                    continue;
                }
                if let Some(a) = anchor {
                    let is_md = path.extension().is_some_and(|x| x == "md");
                    if is_md && !anchors(&read(&root.join(&path))).contains(a) {
                        problems.push(format!("{at}: no heading #{a} in {}", path.display()));
                    }
                }
            }
            for p in code_paths(line) {
                checked += 1;
                let trimmed = p.trim_end_matches('/');
                if !root.join(trimmed).exists() && !root.join(dir).join(trimmed).exists() {
                    problems.push(format!("{at}: `{p}` does not exist"));
                }
            }
        }
    }
    // `docs/….md` named in Rust sources (module docs, --help texts).
    for top in ["crates", "bins"] {
        rust_sources(&root.join(top), &mut |path, text| {
            if path.ends_with("evidence/tests/docs.rs") {
                return; // this file's own examples
            }
            for (n, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(i) = rest.find("docs/") {
                    let tail = rest.get(i..).unwrap_or("");
                    let end = tail
                        .find(|c: char| !(c.is_alphanumeric() || "/._-".contains(c)))
                        .unwrap_or(tail.len());
                    let name = tail.get(..end).unwrap_or("").trim_end_matches('.');
                    if name.ends_with(".md") {
                        checked += 1;
                        if !root.join(name).exists() {
                            problems.push(format!("{}:{}: {name} does not exist", path, n + 1));
                        }
                    }
                    rest = tail.get(end.max(1)..).unwrap_or("");
                }
            }
        });
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 50, "only {checked} links checked");
}

fn rust_sources(dir: &Path, f: &mut dyn FnMut(&str, &str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() && !p.ends_with("target") {
            rust_sources(&p, f);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
            f(&rel, &read(&p));
        }
    }
}

/// remits crate → the remits crates it depends on (normal dependencies), from `cargo metadata`.
fn manifest_edges() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata: {e}"));
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut edges = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        if !name.starts_with("remits-") || name == "remits-benches" {
            continue;
        }
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("remits-"))
            .map(str::to_string)
            .collect();
        edges.insert(name.to_string(), deps);
    }
    edges
}

/// The dependency table of docs/architecture.md: `| `remits-x` | `remits-a`, `remits-b` |`.
fn documented_edges(md: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for line in md.lines().filter(|l| l.starts_with("| `remits-")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .filter(|s| s.starts_with("remits-"))
                .map(str::to_string)
                .collect()
        };
        let (Some(krate), Some(deps)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        if let Some(k) = names(krate).into_iter().next() {
            edges.insert(k, names(deps));
        }
    }
    edges
}

#[test]
fn architecture_matches_manifests() {
    let md = read(&root().join("docs/architecture.md"));
    let want = manifest_edges();
    let got = documented_edges(&md);
    let mut problems = Vec::new();
    for (k, deps) in &want {
        match got.get(k) {
            None => problems.push(format!("{k}: missing from the table")),
            Some(d) => {
                for x in deps.difference(d) {
                    problems.push(format!("{k} → {x}: in Cargo.toml, not in the table"));
                }
                for x in d.difference(deps) {
                    problems.push(format!("{k} → {x}: in the table, not in Cargo.toml"));
                }
            }
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("{k}: in the table, not a workspace crate"));
    }
    // The diagram (the first code block) has each crate once, in rows; every dependency points
    // to a lower row. Text after `│` is commentary.
    let (fences, _) = split_fences(&md);
    let mut row_of: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (row, line) in fences
        .first()
        .map(|f| f.body.clone())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let crates = line.split('│').next().unwrap_or("");
        for word in crates.split_whitespace() {
            let full = if word.starts_with("remits-") {
                word.to_string()
            } else {
                format!("remits-{word}")
            };
            if want.contains_key(&full) {
                row_of.entry(full).or_default().push(row);
            }
        }
    }
    for k in want.keys() {
        match row_of.get(k).map(Vec::as_slice) {
            Some([_]) => {}
            None | Some([]) => problems.push(format!("{k}: not in the diagram")),
            Some(_) => problems.push(format!("{k}: more than once in the diagram")),
        }
    }
    let row = |k: &str| row_of.get(k).and_then(|r| r.first()).copied();
    for (k, deps) in &want {
        for d in deps {
            if let (Some(a), Some(b)) = (row(k), row(d)) {
                if a >= b {
                    problems.push(format!(
                        "{k} → {d}: the diagram must put {d} in a lower row"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md disagrees with the manifests:\n{}",
        problems.join("\n")
    );
}

#[test]
fn smoke_crate_uses_the_workspace_profiles() {
    let parse = |p: &str| -> toml::Table {
        read(&root().join(p))
            .parse()
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let ws = parse("Cargo.toml");
    let smoke = parse("smoke/Cargo.toml");
    assert!(
        smoke
            .get("workspace")
            .is_some_and(|w| w.as_table().is_some_and(|t| t.is_empty())),
        "smoke/Cargo.toml needs an empty [workspace] table (it must not join the workspace)"
    );
    let empty = toml::Table::new();
    let ws_profile = ws
        .get("profile")
        .and_then(|p| p.as_table())
        .unwrap_or(&empty);
    let smoke_profile = smoke
        .get("profile")
        .and_then(|p| p.as_table())
        .unwrap_or(&empty);
    // Every workspace profile setting is in smoke/Cargo.toml, identical: otherwise the smoke
    // build compiles every dependency a second time.
    fn check(path: &str, ws: &toml::Value, smoke: Option<&toml::Value>, out: &mut Vec<String>) {
        match (ws, smoke) {
            (toml::Value::Table(w), Some(toml::Value::Table(s))) => {
                for (k, v) in w {
                    check(&format!("{path}.{k}"), v, s.get(k), out);
                }
            }
            (w, Some(s)) if w == s => {}
            (w, s) => out.push(format!("{path}: workspace {w}, smoke {s:?}")),
        }
    }
    let mut problems = Vec::new();
    for (k, v) in ws_profile {
        let Some(w) = v.as_table() else { continue };
        for (k2, v2) in w {
            if k2 != "package" {
                let path = format!("profile.{k}.{k2}");
                let smoke_v = smoke_profile.get(k).and_then(|p| p.get(k2));
                check(&path, v2, smoke_v, &mut problems);
                continue;
            }
            // Package overrides: only the third-party ones decide reuse (the smoke build
            // compiles the remits crates itself, with settings of its own).
            for (pkg, pv) in v2.as_table().into_iter().flatten() {
                if !pkg.starts_with("remits-") {
                    let smoke_v = smoke_profile
                        .get(k)
                        .and_then(|p| p.get("package"))
                        .and_then(|p| p.get(pkg));
                    check(
                        &format!("profile.{k}.package.{pkg}"),
                        pv,
                        smoke_v,
                        &mut problems,
                    );
                }
            }
        }
    }
    // Extra settings only for the remits crates (which the smoke build compiles anyway).
    let ws_dev = ws_profile.get("dev").and_then(|d| d.get("package"));
    if let Some(pkgs) = smoke_profile
        .get("dev")
        .and_then(|d| d.get("package"))
        .and_then(|p| p.as_table())
    {
        for k in pkgs.keys() {
            if ws_dev.and_then(|d| d.get(k)).is_none() && !k.starts_with("remits-") {
                problems.push(format!("profile.dev.package.{k}: not in the workspace"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "smoke/Cargo.toml: {}",
        problems.join("\n")
    );
}
