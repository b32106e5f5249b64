#!/usr/bin/env bash
# The main job, end to end on this machine, no hardware, loopback only:
#   1. a development broker (`remits-broker serve --dev`) with its generated SNP SIMULATOR chain,
#   2. a secret put with the admin CLI (signed admin JWT),
#   3. `remits-attester run --tee sim-snp` attests (KBS protocol), receives the secret and starts a
#      workload that prints the secret's SHA-256,
#   4. `remits-verifier snp` accepts the simulator's evidence ONLY with the simulator ARK as an
#      explicit trust anchor, and rejects it with AMD's roots alone,
#   5. a denial: reference values that do not match the (simulated) launch measurement make the
#      broker refuse; the attester exits non-zero, the workload is not started, no secret file is
#      left behind.
# Everything started here is stopped on exit. Exit status 0 only if every step did what it should.
#
# Environment: REMITS_DEMO_PROFILE=debug|release (default debug), REMITS_DEMO_KEEP=1 keeps the
# temporary directory, REMITS_DEMO_NO_BUILD=1 uses already-built binaries (in
# REMITS_DEMO_BIN_DIR, default target/<profile>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PROFILE=${REMITS_DEMO_PROFILE:-debug}
step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
    printf 'demo-e2e: FAILED: %s\n' "$*" >&2
    exit 1
}

step "build remits-broker, remits-attester, remits-verifier ($PROFILE)"
if [[ -z "${REMITS_DEMO_NO_BUILD:-}" ]]; then
    flags=(--quiet -p remits-broker -p remits-attester -p remits-verifier)
    [[ "$PROFILE" == release ]] && flags+=(--release)
    cargo build "${flags[@]}"
fi
BIN="${REMITS_DEMO_BIN_DIR:-$ROOT/target/$PROFILE}"
for b in remits-broker remits-attester remits-verifier; do
    [[ -x "$BIN/$b" ]] || fail "$BIN/$b was not built"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/remits-demo.XXXXXX")
BROKER_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f "$TMP/broker.log" ]]; then
        echo "--- broker log (last 20 lines)" >&2
        tail -n 20 "$TMP/broker.log" >&2 || true
    fi
    if [[ -n "${REMITS_DEMO_KEEP:-}" ]]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
DEV="$TMP/dev"

step "start the development broker on $URL (loopback only)"
"$BIN/remits-broker" serve --dev --listen "127.0.0.1:$PORT" --data-dir "$DEV" >"$TMP/broker.out" 2>"$TMP/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 150); do
    if curl -sf "$URL/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker exited at start"
    sleep 0.2
done
curl -sf "$URL/healthz" >/dev/null || fail "the broker did not become ready"
sed 's/^/   | /' "$TMP/broker.out"
ok "broker ready (pid $BROKER_PID); SNP SIMULATOR chain in $DEV/sim (test ARK/ASK/VCEK, NOT AMD)"

step "put a secret: default/demo/key (admin CLI, signed admin JWT)"
head -c 32 /dev/urandom >"$TMP/secret"
chmod 600 "$TMP/secret"
WANT=$(sha256sum "$TMP/secret" | cut -d' ' -f1)
"$BIN/remits-broker" admin --broker "$URL" --key "$DEV/admin-key.pem" put-resource default/demo/key --file "$TMP/secret" >/dev/null
ok "stored; sha256 of the secret is $WANT"

step "attester (SIMULATED SEV-SNP) -> broker -> secret -> workload"
mkdir -m 700 "$TMP/run"
# shellcheck disable=SC2016  # $REMITS_SECRETS_DIR is expanded by the workload's shell.
OUT=$("$BIN/remits-attester" --tee sim-snp --sim-dir "$DEV/sim" \
    run --broker "$URL" --retry-for 10 --secrets-dir "$TMP/run" --secret default/demo/key=key \
    -- sh -c 'echo "workload: secret at $REMITS_SECRETS_DIR/key"; sha256sum "$REMITS_SECRETS_DIR/key"')
printf '%s\n' "$OUT" | sed 's/^/   | /'
GOT=$(printf '%s\n' "$OUT" | grep -Eo '^[0-9a-f]{64} ' | tr -d ' ' || true)
[[ "$GOT" == "$WANT" ]] || fail "the workload saw sha256 $GOT, expected $WANT"
ok "the workload received the secret (hashes match)"

step "remits-verifier accepts the SIMULATED evidence only with the simulator ARK as anchor"
NONCE=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$BIN/remits-attester" --tee sim-snp --sim-dir "$DEV/sim" evidence --nonce "$NONCE" >"$TMP/evidence.json"
jq -e '.simulated == true' "$TMP/evidence.json" >/dev/null || fail "the evidence is not labelled simulated"
jq -r .report "$TMP/evidence.json" | base64 -d >"$TMP/report.bin"
openssl x509 -inform der -in "$DEV/sim/ask.der" >"$TMP/chain.pem"
openssl x509 -inform der -in "$DEV/sim/ark.der" >>"$TMP/chain.pem"
"$BIN/remits-verifier" snp --report "$TMP/report.bin" --vcek "$DEV/sim/vcek.der" --chain "$TMP/chain.pem" \
    --ark "$DEV/sim/ark.der" --report-data "$NONCE" >"$TMP/verify.out" 2>&1 ||
    { cat "$TMP/verify.out" >&2; fail "remits-verifier rejected the simulator evidence with its ARK configured"; }
sed 's/^/   | /' "$TMP/verify.out"
ok "verified with --ark $DEV/sim/ark.der (report data bound to the nonce)"
set +e
"$BIN/remits-verifier" snp --report "$TMP/report.bin" --vcek "$DEV/sim/vcek.der" --chain "$TMP/chain.pem" \
    --report-data "$NONCE" >"$TMP/verify-noark.out" 2>&1
rc=$?
set -e
sed 's/^/   | /' "$TMP/verify-noark.out"
[[ $rc -eq 1 ]] || fail "without the simulator ARK the verifier exited $rc (expected 1: rejected)"
ok "rejected with AMD's roots alone (exit 1): simulated evidence is never trusted by default"

step "denial: register a launch measurement the (simulated) guest does not have"
printf '{"snp_launch_measurement": ["%s"]}\n' "$(printf '%096d' 0 | tr 0 a)" >"$TMP/refvalues.json"
"$BIN/remits-broker" admin --broker "$URL" --key "$DEV/admin-key.pem" register-reference-values "$TMP/refvalues.json" >/dev/null
mkdir -m 700 "$TMP/denied"
set +e
# shellcheck disable=SC2016
"$BIN/remits-attester" --tee sim-snp --sim-dir "$DEV/sim" \
    run --broker "$URL" --retry-for 10 --secrets-dir "$TMP/denied" --secret default/demo/key=key \
    -- sh -c 'touch "$0"; sha256sum "$REMITS_SECRETS_DIR/key"' "$TMP/workload-started" >"$TMP/denied.out" 2>&1
rc=$?
set -e
sed 's/^/   | /' "$TMP/denied.out"
[[ $rc -eq 1 ]] || fail "the denied attester exited $rc (expected 1)"
[[ ! -e "$TMP/workload-started" ]] || fail "the workload was started despite the denial"
[[ -z "$(find "$TMP/denied" -mindepth 1 -print -quit)" ]] || fail "files were left in the secrets directory: $(find "$TMP/denied" -mindepth 1)"
ok "denied (exit 1) with the broker's explanation; workload not started; no secret file written"

step "stop the broker"
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=""
ok "stopped"
printf '\ndemo-e2e: all steps passed (SNP evidence was SIMULATED: test chain, not AMD hardware)\n'
