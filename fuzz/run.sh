#!/usr/bin/env bash
# fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...] — what a security reviewer runs first.
#
# Installs cargo-fuzz if missing, builds every target (or the ones named) with AddressSanitizer,
# writes seeds at run time (the real vectors of $REMITS_TESTDATA, default ../shared/testdata,
# plus disks, PE files, layers, manifests, KBS messages, CRLs... built by the crates' own
# `write_fuzz_seeds` tests), runs each target for SECONDS_PER_TARGET (default 300) with
#   -malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=10
# and prints one table: target, execs, exec/s, coverage, corpus size, findings.
# REMITS_FUZZ_JOBS=N runs N targets at a time (default 1).
#
# Nothing is written into the repository: corpora, seeds, findings and logs go under
# $REMITS_FUZZ_WORK (default target/fuzz-run/), the build under fuzz/target/ (ignored by git).
# The corpus of a target is kept between runs. Exit status: 0 when no target found anything,
# 1 otherwise (the findings are in $REMITS_FUZZ_WORK/artifacts/TARGET/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${1:-300}"
[ $# -gt 0 ] && shift
case "$secs" in '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac
testdata="${REMITS_TESTDATA:-$root/../shared/testdata}"
work="${REMITS_FUZZ_WORK:-$root/target/fuzz-run}"
export REMITS_TESTDATA="$testdata"
# cargo-fuzz passes -Z flags (-Zsanitizer=address); this lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
export CARGO_INCREMENTAL=0

say() { printf '\n== %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

all_targets=$(cd fuzz && cargo fuzz list)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets <<<"$all_targets"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "unknown target $t (known: $(echo $all_targets))" >&2; exit 2; }
done

t0=$(date +%s)
say "building ${#targets[@]} targets (AddressSanitizer, release with debug assertions)"
# `cargo fuzz build` takes one target or all: build the named ones one by one when a subset.
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do (cd fuzz && cargo fuzz build "$t" >/dev/null); done
else
  (cd fuzz && cargo fuzz build)
fi
t1=$(date +%s)

say "writing seeds (from $testdata and the crates' seed builders)"
seeds="$work/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"
export REMITS_FUZZ_SEEDS="$seeds"
for pt in remits-measure:fuzzing remits-snp:fuzzing remits-sev:fuzzing remits-tpm:fuzz_vectors \
  remits-verify:fuzz_entry remits-kbs:fuzz_entry remits-evidence:fuzz_entry; do
  # Without RUSTC_BOOTSTRAP (it changes every fingerprint): the seed builders reuse the normal
  # test build instead of rebuilding the whole dependency tree.
  env -u RUSTC_BOOTSTRAP cargo test -q -p "${pt%%:*}" --test "${pt##*:}" -- --ignored --exact write_fuzz_seeds >/dev/null
done
if [ -d "$testdata/measure" ]; then
  mkdir -p "$seeds/measure_ovmf"
  for f in "$testdata"/measure/*.bin "$testdata"/measure/*.fd; do
    [ -f "$f" ] && cp "$f" "$seeds/measure_ovmf/"
  done
fi
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] && cp /usr/share/OVMF/OVMF_CODE_4M.fd "$seeds/measure_ovmf/"
for t in "${targets[@]}"; do
  mkdir -p "$seeds/$t"
  [ -n "$(ls -A "$seeds/$t")" ] || echo "warning: no seeds for $t" >&2
done
t2=$(date +%s)

table="$work/table.md"
{
  echo "| target | execs | exec/s | coverage (edges / features) | corpus | findings |"
  echo "|---|---:|---:|---:|---:|---|"
} >"$table"
# One target: fuzz it, then write its table row to $work/rows/TARGET.
fuzz_one() {
  local t="$1" corpus="$work/corpus/$1" art="$work/artifacts/$1" log="$work/logs/$1.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")" "$work/rows"
  local extra=()
  case "$t" in
    # Whole firmware images and disks: libFuzzer would otherwise cut inputs at 1 MiB.
    measure_ovmf | measure_gpt) extra+=(-max_len=8388608) ;;
  esac
  say "fuzzing $t for ${secs}s"
  local status=0
  (cd fuzz && cargo fuzz run "$t" "$corpus" "$seeds/$t" -- \
    -max_total_time="$secs" -malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$art/" -print_final_stats=1 "${extra[@]}") >"$log" 2>&1 || status=$?
  local execs rate cov size findings what
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | awk '{print $2 " / " $4}' || true)
  size=$(find "$corpus" -type f | wc -l)
  findings=$(find "$art" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' -o -name 'slow-unit-*' -o -name 'malloc-*' \) | wc -l)
  what="$findings"
  if [ "$findings" -gt 0 ]; then
    what="$findings: $(find "$art" -type f -printf '%f\n' | sed 's/-.*//' | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"
  elif [ "$status" -ne 0 ]; then
    what="exit $status (see $log)"
  fi
  echo "| $t | ${execs:-?} | ${rate:-?} | ${cov:-?} | $size | $what |" >"$work/rows/$t"
}

# REMITS_FUZZ_JOBS targets at a time (default 1): 2 on a 2-core machine halves the wall time.
jobs="${REMITS_FUZZ_JOBS:-1}"
case "$jobs" in '' | *[!0-9]* | 0) echo "REMITS_FUZZ_JOBS must be a positive integer" >&2; exit 2 ;; esac
rm -rf "$work/rows"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait || true
found=0
for t in "${targets[@]}"; do
  row=$(cat "$work/rows/$t" 2>/dev/null || echo "| $t | ? | ? | ? | ? | no result |")
  echo "$row" >>"$table"
  case "$row" in *"| 0 |") ;; *) found=1 ;; esac
done
t3=$(date +%s)

echo
echo "remits fuzzing: ${#targets[@]} targets, ${secs}s each, $jobs at a time; build $((t1 - t0))s, seeds $((t2 - t1))s, fuzzing $((t3 - t2))s"
echo "(-malloc_limit_mb=512 -rss_limit_mb=2048 -timeout=10; work dir $work)"
echo
cat "$table"
exit "$found"
