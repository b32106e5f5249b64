#!/usr/bin/env bash
# Run every remits test on this machine, setting up a fresh Debian machine first (idempotent).
# This is the command README.md gives and the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

START=$SECONDS
# Each phase line gives the wall time and the CPU time (user+system, this script's children) spent
# so far: CPU seconds compare across runs even when the machine is shared; wall seconds do not.
# (`times` must run in this shell, not a subshell, to see the children.)
TIMES_FILE="$(mktemp)"
CURRENT_PHASE=""
FAILED_PHASES=""
# Marks the current phase failed; the summary names every failed phase.
fail() {
  status=1
  FAILED_PHASES="$FAILED_PHASES${FAILED_PHASES:+, }$CURRENT_PHASE"
}
phase() {
  CURRENT_PHASE="$1"
  times >"$TIMES_FILE"
  printf '== %s (at %d s, %s CPU s)\n' "$1" "$((SECONDS - START))" \
    "$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$TIMES_FILE")"
}

phase "setup"
bash scripts/setup.sh

export REMITS_VENV="${REMITS_VENV:-$HOME/.cache/remits-venv}"
export PATH="$REMITS_VENV/bin:$PATH"          # jwcrypto, sev-snp-measure
export REMITS_TESTDATA="${REMITS_TESTDATA:-$(cd .. && pwd)/shared/testdata}"
export CARGO_TERM_COLOR=never
# Line tables are enough for test backtraces; full debug info for every (optimised) dependency
# roughly doubles link time and disk use on a 2-core CI machine.
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
# A clean CI build gains nothing from incremental compilation; it only writes more to disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

phase "format"
cargo fmt --all -- --check

phase "lint"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# Dependencies declared but not used, in every Cargo.toml of the repository (the workspace,
# fuzz/ and smoke/; false positives are listed, with the reason, under
# [package.metadata.cargo-machete] in the crate's Cargo.toml).
phase "lint: unused dependencies (cargo machete)"
cargo machete --skip-target-dir

phase "tests"
mkdir -p target
status=0
# remits-benches holds only criterion benchmarks (no tests): clippy above type-checks them, and
# leaving it out here spares building criterion and the `sev` peer crate in the test profile.
cargo test --workspace --exclude remits-benches --no-fail-fast > target/test-output.txt 2>&1 || fail
grep -v -E '^test .* \.\.\. ok$' target/test-output.txt || true

# The workspace build unifies features: the binaries turn on `aws-lc` in remits-snp, -verify,
# -kbs, -sim and -measure. Their tests then run both implementations on the same inputs (SNP
# vectors through both signature backends, tokens and JWEs across both, the measure hash
# backend against `sha2` at every block boundary). What only the default (pure-Rust) build
# compiles is linted here, as users get it: remits-store without its backends (`redb`,
# `postgres`), remits-policy without the extra Rego builtins (`rego-builtins`), which the
# workspace build also turns on through the binaries.
# The fuzzing build (feature `fuzzing`: SNP signatures accepted) is never part of the workspace
# build; its one test runs evidence past the signatures into the shipped policies. It is
# selected from the whole workspace (not `-p remits-verify`) so that every third-party crate
# keeps the workspace's feature set and is reused: only the remits crates above remits-snp are
# compiled again (on a fresh 2-core machine about 25 CPU s instead of about 250).
phase "tests: fuzzing build (evidence past the signatures into the shipped policies)"
cargo test --workspace --exclude remits-benches --features remits-verify/fuzzing --test fuzz_policy \
  > target/test-output-fuzzing.txt 2>&1 \
  || { fail; cat target/test-output-fuzzing.txt; }
grep -E '^test result' target/test-output-fuzzing.txt || true

phase "lint: default pure-Rust builds"
cargo clippy -p remits-snp -p remits-measure -p remits-verify -p remits-kbs -p remits-sim \
  -p remits-store -p remits-policy -p remits-manifest --lib \
  -- -D warnings > target/test-output-default.txt 2>&1 || { fail; cat target/test-output-default.txt; }

# Docs that cannot drift (the snippet, link, architecture and CLI-flag checks are tests above).
# rustdoc reuses the dependency metadata the lint phase checked; only the remits crates are
# documented.
phase "docs: rustdoc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude remits-benches --quiet \
  > target/doc-output.txt 2>&1 || { fail; cat target/doc-output.txt; }

# smoke/ is an embedding project outside the workspace: it depends on the crates by path and
# runs the documentation's examples on the real vectors. With the workspace's lock file and
# target directory (and, in smoke/Cargo.toml, its profiles and feature sets) it reuses every
# compiled third-party crate and compiles only the remits crates it uses.
phase "docs: smoke crate outside the workspace"
cp Cargo.lock smoke/Cargo.lock
if CARGO_TARGET_DIR="$PWD/target" cargo build --offline --manifest-path smoke/Cargo.toml \
  > target/smoke-build.txt 2>&1; then
  echo "smoke: compiled $(grep -c '^ *Compiling' target/smoke-build.txt || true) crates" \
    "($(grep -E '^ *Compiling' target/smoke-build.txt | grep -vc ' (/' || true) third-party)"
  target/debug/remits-smoke || fail
else
  fail
  cat target/smoke-build.txt
fi

passed=$(cat target/test-output.txt | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(cat target/test-output.txt | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
phase "done"
echo "slowest test binaries (seconds):"
grep -E '^     Running |finished in' target/test-output.txt \
  | awk '/Running/ {name=$2" "$3" "$4} /finished in/ {sub(/s$/, "", $NF); print $NF, name}' \
  | sort -rn | head -8 || true
echo "remits: $passed passed, $failed failed"
if [ "$status" -ne 0 ]; then
  echo "remits: FAILED phases: $FAILED_PHASES"
else
  echo "remits: every phase passed"
fi
exit "$status"
