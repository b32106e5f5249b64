//! What an embedder pays, kept from growing (issue 15, docs/embedding.md):
//!
//! - the package counts `docs/embedding.md` states are the ones `cargo tree` reports (the exact
//!   command the document gives), and `remits-snp` (default features) stays at most 70,
//!   `remits-verify` (no features) at most 140;
//! - the `[profile.dev.package.*]` lines the document tells embedders to copy are the
//!   workspace's own;
//! - `fuzz/Cargo.toml` (its own workspace, which cannot inherit lints) repeats the workspace's
//!   `[workspace.lints]` table exactly;
//! - every third-party package of the smoke crate (`smoke/`, built by the test command with the
//!   workspace's lock file and target directory) has the feature set the workspace's test build
//!   gives it: otherwise a fresh CI machine compiles it a second time for the smoke phase (17
//!   packages, regorus among them, had drifted when this check was added).
//!
//! Without `cargo` the count check is skipped with a message, unless `CI` is set: then it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Upper bounds of the package counts (default features).
const LIMITS: [(&str, usize); 2] = [("remits-snp", 70), ("remits-verify", 140)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_toml(rel: &str) -> toml::Table {
    read(&root().join(rel))
        .parse()
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A count line of docs/embedding.md: `remits-x: N packages` or
/// `remits-x + feat1, feat2: N packages`.
#[derive(Debug)]
struct Stated {
    krate: String,
    features: Vec<String>,
    count: usize,
}

fn stated_counts(md: &str) -> Vec<Stated> {
    let mut out = Vec::new();
    for line in md.lines().map(str::trim) {
        let Some(rest) = line.strip_suffix(" packages") else {
            continue;
        };
        let Some((who, n)) = rest.rsplit_once(": ") else {
            continue;
        };
        let (Ok(count), true) = (n.parse::<usize>(), who.starts_with("remits-")) else {
            continue;
        };
        let (krate, features) = match who.split_once(" + ") {
            Some((k, f)) => (k, f.split(',').map(|s| s.trim().to_string()).collect()),
            None => (who, Vec::new()),
        };
        out.push(Stated {
            krate: krate.to_string(),
            features,
            count,
        });
    }
    out
}

/// `cargo tree -q --offline -p CRATE -e normal,build --prefix none --target
/// x86_64-unknown-linux-gnu | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u | wc -l`, with
/// `--features` when given. `Err` only when cargo cannot be started.
fn count(cargo: &str, krate: &str, features: &[String]) -> Result<usize, std::io::Error> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["tree", "-q", "--offline", "-p", krate])
        .args(["-e", "normal,build", "--prefix", "none"])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .current_dir(root());
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let out = cmd.output()?;
    assert!(
        out.status.success(),
        "cargo tree -p {krate} {features:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let unique: BTreeSet<String> = text
        .lines()
        .map(|l| l.replacen(" (*)", "", 1).replacen(" (proc-macro)", "", 1))
        .collect();
    Ok(unique.len())
}

#[test]
fn package_counts_are_the_documented_ones_and_within_the_limits() {
    let md = read(&root().join("docs/embedding.md"));
    let stated = stated_counts(&md);
    for (krate, _) in LIMITS {
        assert!(
            stated
                .iter()
                .any(|s| s.krate == krate && s.features.is_empty()),
            "docs/embedding.md states no `{krate}: N packages` line"
        );
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut problems = Vec::new();
    for s in &stated {
        let measured = match count(&cargo, &s.krate, &s.features) {
            Ok(n) => n,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("cargo ({cargo}) cannot be run and CI is set: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: package counts: cargo ({cargo}) cannot be run: {e}");
                return;
            }
        };
        let what = if s.features.is_empty() {
            s.krate.clone()
        } else {
            format!("{} + {}", s.krate, s.features.join(", "))
        };
        if measured != s.count {
            problems.push(format!(
                "docs/embedding.md says `{what}: {} packages`, cargo tree counts {measured}",
                s.count
            ));
        }
        if let Some((_, limit)) = LIMITS
            .iter()
            .find(|(k, _)| *k == s.krate && s.features.is_empty())
        {
            if measured > *limit {
                problems.push(format!(
                    "{what}: {measured} packages, more than the limit of {limit}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn count_lines_parse() {
    let s =
        stated_counts("x\nremits-snp: 64 packages\n  remits-store + redb, postgres: 9 packages\n");
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].krate.as_str(), s[0].count), ("remits-snp", 64));
    assert!(s[0].features.is_empty());
    assert_eq!(s[1].features, ["redb", "postgres"]);
}

#[test]
fn embedder_profile_lines_are_the_workspace_overrides() {
    let md = read(&root().join("docs/embedding.md"));
    let mut blocks = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for line in md.lines() {
        match (open.as_mut(), line.trim_start()) {
            (None, l) if l.starts_with("```toml") => open = Some(Vec::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(open.take()),
            (Some(b), _) => b.push(line),
            (None, _) => {}
        }
    }
    let block = blocks
        .iter()
        .map(|b| b.join("\n"))
        .find(|b| b.contains("[profile.dev.package."))
        .expect("docs/embedding.md has no ```toml block with [profile.dev.package.…] lines");
    let documented: toml::Table = block
        .parse()
        .unwrap_or_else(|e| panic!("docs/embedding.md profile block: {e}"));
    let ws = parse_toml("Cargo.toml");
    let get = |t: &toml::Table| {
        t.get("profile")
            .and_then(|p| p.get("dev"))
            .and_then(|d| d.get("package"))
            .cloned()
    };
    assert!(
        get(&ws).is_some(),
        "Cargo.toml has no [profile.dev.package.*]"
    );
    assert_eq!(
        get(&documented),
        get(&ws),
        "the [profile.dev.package.*] lines of docs/embedding.md differ from Cargo.toml's"
    );
}

#[test]
fn fuzz_crate_repeats_the_workspace_lints() {
    let ws = parse_toml("Cargo.toml");
    let fuzz = parse_toml("fuzz/Cargo.toml");
    let ws_lints = ws
        .get("workspace")
        .and_then(|w| w.get("lints"))
        .expect("Cargo.toml has no [workspace.lints]");
    let fuzz_lints = fuzz.get("lints").expect("fuzz/Cargo.toml has no [lints]");
    assert_eq!(
        fuzz_lints, ws_lints,
        "fuzz/Cargo.toml [lints] must equal Cargo.toml [workspace.lints]"
    );
}

/// `cargo tree` in `manifest_dir` (of the workspace's test build when `workspace`) as a map
/// from each third-party package (`name vX.Y.Z`) to its feature sets (one per build of it).
fn features(
    cargo: &str,
    manifest_dir: &Path,
    workspace: bool,
) -> Result<BTreeMap<String, BTreeSet<String>>, std::io::Error> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["tree", "-q", "--offline"])
        .args(["-e", "normal,build", "--prefix", "none", "-f", "{p}|{f}"])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .current_dir(manifest_dir);
    if workspace {
        // What `cargo test --workspace --exclude remits-benches` (scripts/test.sh) builds.
        cmd.args(["--workspace", "--exclude", "remits-benches", "-e", "dev"]);
    }
    let out = cmd.output()?;
    assert!(
        out.status.success(),
        "cargo tree in {}: {}",
        manifest_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((pkg, feats)) = line.split_once('|') else {
            continue;
        };
        // `name vX.Y.Z (/path)` for path packages (the remits crates and the smoke crate).
        if pkg.contains(" (/") || pkg.is_empty() {
            continue;
        }
        let feats = feats
            .replacen(" (*)", "", 1)
            .replacen(" (proc-macro)", "", 1);
        let name = pkg.replacen(" (*)", "", 1).replacen(" (proc-macro)", "", 1);
        map.entry(name).or_default().insert(feats);
    }
    Ok(map)
}

#[test]
fn smoke_crate_reuses_the_workspace_builds() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The smoke crate is built with the workspace's lock file (scripts/test.sh copies it in;
    // smoke/Cargo.lock is ignored by git).
    let smoke_dir = root().join("smoke");
    std::fs::copy(root().join("Cargo.lock"), smoke_dir.join("Cargo.lock"))
        .unwrap_or_else(|e| panic!("copy Cargo.lock to smoke/: {e}"));
    let (ws, smoke) = match (
        features(&cargo, &root(), true),
        features(&cargo, &smoke_dir, false),
    ) {
        (Ok(w), Ok(s)) => (w, s),
        (Err(e), _) | (_, Err(e)) if std::env::var_os("CI").is_some() => {
            panic!("cargo ({cargo}) cannot be run and CI is set: {e}")
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("SKIPPED: smoke feature sets: cargo ({cargo}) cannot be run: {e}");
            return;
        }
    };
    assert!(
        smoke.len() > 50,
        "cargo tree of smoke/ lists {} packages",
        smoke.len()
    );
    let problems: Vec<String> = smoke
        .iter()
        .filter(|(pkg, feats)| ws.get(*pkg) != Some(*feats))
        .map(|(pkg, feats)| {
            format!(
                "{pkg}: smoke builds it with {feats:?}, the workspace with {:?}",
                ws.get(pkg)
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "smoke/Cargo.toml must give these packages the workspace's features (a feature-set \
         line under [dependencies]), or the smoke phase compiles them again:\n{}",
        problems.join("\n")
    );
}
