//! Every `remits-* <subcommand> --flag` that README.md and docs/*.md show exists.
//!
//! Shared by `bins/*/tests/docs_cli.rs` (each checks its own binary, built by cargo for the
//! test). Commands are read from code blocks and inline code (not prose); a line continued
//! with `\` is one command. The subcommand path is followed through the binary's `--help`
//! ("Commands:"), and each `--flag` must appear in the help of that subcommand or of one of its
//! parents; a flag missing from the help (a hidden alias) is accepted if clap accepts it
//! (`BIN SUB... --flag --help` does not fail with "unexpected argument").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    let mut md: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    md.retain(|p| p.extension().is_some_and(|x| x == "md"));
    md.sort();
    out.extend(md);
    out
}

/// Command-like text of a markdown file: code-block lines (continuations joined) and inline
/// code spans, each with its line number.
fn code_texts(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            let (n, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
            let l = line.trim();
            if let Some(head) = l.strip_suffix('\\') {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((n, acc));
            } else {
                acc.push_str(l);
                out.push((n, acc));
            }
        } else {
            for span in line.split('`').skip(1).step_by(2) {
                out.push((i + 1, span.to_string()));
            }
        }
    }
    out
}

/// The checker for one binary.
pub(crate) struct Cli {
    name: &'static str,
    exe: &'static str,
    help: HashMap<Vec<String>, String>,
}

impl Cli {
    /// `name` as the documents spell it, `exe` the path cargo built.
    pub(crate) fn new(name: &'static str, exe: &'static str) -> Self {
        Cli {
            name,
            exe,
            help: HashMap::new(),
        }
    }

    fn help(&mut self, path: &[String]) -> String {
        if let Some(h) = self.help.get(path) {
            return h.clone();
        }
        let out = Command::new(self.exe)
            .args(path)
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("{} {path:?} --help: {e}", self.exe));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        self.help.insert(path.to_vec(), text.clone());
        text
    }

    fn subcommands(&mut self, path: &[String]) -> Vec<String> {
        let help = self.help(path);
        let mut out = Vec::new();
        let mut in_commands = false;
        for line in help.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
            } else if in_commands && line.trim().is_empty() {
                in_commands = false;
            } else if in_commands {
                if let Some(w) = line.split_whitespace().next() {
                    out.extend(w.split(',').map(str::to_string));
                }
            }
        }
        out
    }

    fn has_flag(&mut self, path: &[String], flag: &str) -> bool {
        for depth in (0..=path.len()).rev() {
            let prefix = path.get(..depth).unwrap_or(&[]);
            let help = self.help(prefix);
            let found = help
                .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .any(|w| w == flag);
            if found {
                return true;
            }
        }
        // A hidden alias: clap knows it if it does not call it unexpected.
        let out = Command::new(self.exe)
            .args(path)
            .args([flag, "--help"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} {path:?} {flag}: {e}", self.exe));
        !String::from_utf8_lossy(&out.stderr).contains("unexpected argument")
    }

    /// Check every mention of this binary; returns the number of flags checked.
    pub(crate) fn check_docs(&mut self) -> usize {
        let mut problems = Vec::new();
        let mut checked = 0;
        for doc in documents() {
            let text = std::fs::read_to_string(&doc).unwrap_or_default();
            let rel = doc
                .strip_prefix(root())
                .unwrap_or(&doc)
                .display()
                .to_string();
            for (line, code) in code_texts(&text) {
                let tokens: Vec<&str> = code.split_whitespace().collect();
                for (i, t) in tokens.iter().enumerate() {
                    let prog = t.rsplit('/').next().unwrap_or(t);
                    // `cargo test -p remits-x`, `journalctl -u remits-x`: a name, not a run.
                    let named = i
                        .checked_sub(1)
                        .and_then(|p| tokens.get(p))
                        .is_some_and(|p| p.starts_with('-'));
                    if prog != self.name || named {
                        continue;
                    }
                    let mut path: Vec<String> = Vec::new();
                    let mut prev_flag = false;
                    for &arg in tokens.get(i + 1..).unwrap_or(&[]) {
                        if ["|", "&&", "||", ";", ">", "2>", "#", "&"].contains(&arg)
                            || arg.starts_with('#')
                            || arg.contains("$(")
                        {
                            break;
                        }
                        if let Some(flag) = arg.strip_prefix("--") {
                            let flag = flag.split('=').next().unwrap_or("");
                            let flag = flag.trim_end_matches(|c: char| !c.is_alphanumeric());
                            prev_flag = !arg.contains('=');
                            if flag.is_empty() || flag == "help" || flag == "version" {
                                continue;
                            }
                            checked += 1;
                            let flag = format!("--{flag}");
                            if !self.has_flag(&path, &flag) {
                                problems.push(format!(
                                    "{rel}:{line}: `{} {} {flag}`: no such flag",
                                    self.name,
                                    path.join(" ")
                                ));
                            }
                            continue;
                        }
                        if !prev_flag && self.subcommands(&path).iter().any(|s| s == arg) {
                            path.push(arg.to_string());
                        }
                        prev_flag = false;
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        checked
    }
}
