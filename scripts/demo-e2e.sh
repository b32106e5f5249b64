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
#      left behind,
#   6. TPM: swtpm on loopback as the TPM, an attestation key provisioned with tpm2-tools, a signed
#      measurement manifest from `remits-measure image` (a generated GPT disk with Debian's signed
#      shim and GRUB, a generated container image, scripts/demo/enclave.yaml); the broker is given
#      the AK and the manifest's PCR15 and a resource policy pinning PCR15;
#      `remits-attester --tee tpm run --extend-config <manifest>` extends the manifest's events,
#      attests with a TPM quote and the workload prints the secret's hash; after one extra
#      `tpm2_pcrextend 15:...` the next run is denied (exit 1, workload not started, no file).
# Everything started here is stopped on exit. Exit status 0 only if every step did what it should.
#
# Environment: REMITS_DEMO_PROFILE=debug|release (default debug), REMITS_DEMO_KEEP=1 keeps the
# temporary directory, REMITS_DEMO_NO_BUILD=1 uses already-built binaries (in
# REMITS_DEMO_BIN_DIR, default target/<profile>). The TPM part needs swtpm, tpm2-tools, gdisk,
# dosfstools and mtools (scripts/setup.sh installs them) and remits-measure; when one is missing
# it says SKIPPED, or fails when CI is set.
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

step "build remits-broker, remits-attester, remits-verifier, remits-measure ($PROFILE)"
if [[ -z "${REMITS_DEMO_NO_BUILD:-}" ]]; then
    flags=(--quiet -p remits-broker -p remits-attester -p remits-verifier -p remits-measure-cli)
    [[ "$PROFILE" == release ]] && flags+=(--release)
    cargo build "${flags[@]}"
fi
BIN="${REMITS_DEMO_BIN_DIR:-$ROOT/target/$PROFILE}"
for b in remits-broker remits-attester remits-verifier; do
    [[ -x "$BIN/$b" ]] || fail "$BIN/$b was not built"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/remits-demo.XXXXXX")
BROKER_PID=""
SWTPM_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$SWTPM_PID" ]] && kill -0 "$SWTPM_PID" 2>/dev/null; then
        kill "$SWTPM_PID" 2>/dev/null || true
        wait "$SWTPM_PID" 2>/dev/null || true
    fi
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f "$TMP/broker.log" ]]; then
        echo "--- broker log (last 20 lines)" >&2
        tail -n 20 "$TMP/broker.log" >&2 || true
    fi
    if [[ $rc -ne 0 && -s "$TMP/tpm/tools.log" ]]; then
        echo "--- swtpm and tpm2-tools log (last 20 lines)" >&2
        tail -n 20 "$TMP/tpm/tools.log" >&2 || true
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
"$BIN/remits-attester" --tee sim-snp --sim-dir "$DEV/sim" evidence --report-data "$NONCE" >"$TMP/evidence.json"
jq -e '.simulated == true' "$TMP/evidence.json" >/dev/null || fail "the evidence is not labelled simulated"
jq -r .report "$TMP/evidence.json" | base64 -d >"$TMP/report.bin"
openssl x509 -inform der -in "$DEV/sim/ask.der" >"$TMP/chain.pem"
openssl x509 -inform der -in "$DEV/sim/ark.der" >>"$TMP/chain.pem"
"$BIN/remits-verifier" snp --report "$TMP/report.bin" --vcek "$DEV/sim/vcek.der" --chain "$TMP/chain.pem" \
    --trust-ark "$DEV/sim/ark.der" --report-data "$NONCE" >"$TMP/verify.out" 2>&1 ||
    { cat "$TMP/verify.out" >&2; fail "remits-verifier rejected the simulator evidence with its ARK configured"; }
sed 's/^/   | /' "$TMP/verify.out"
ok "verified with --trust-ark $DEV/sim/ark.der (report data bound to the nonce)"
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

# ---------------------------------------------------------------------------------------------
# TPM: swtpm as the TPM. Same broker; the workload's identity is now its measured PCR15.
TPMDIR="$TMP/tpm"
TCTI=""
# A tpm2-tools command against swtpm (output to the log); then flush what it left loaded: there
# is no resource manager in front of swtpm, and the TPM has only a few object slots.
tpm2() {
    (cd "$TPMDIR" && TPM2TOOLS_TCTI="$TCTI" "$@") >>"$TPMDIR/tools.log" 2>&1 || fail "$* failed"
    local f
    for f in -t -l -s; do
        TPM2TOOLS_TCTI="$TCTI" tpm2_flushcontext "$f" >>"$TPMDIR/tools.log" 2>&1 || true
    done
}
# The current SHA-256 value of one PCR, lowercase hex.
pcr_now() {
    TPM2TOOLS_TCTI="$TCTI" tpm2_pcrread "sha256:$1" 2>>"$TPMDIR/tools.log" |
        awk -v i="$1:" '$1 == i { print tolower(substr($2, 3)) }'
}

# A small GPT disk whose ESP holds Debian's real signed shim and GRUB (or, where the mirror lacks
# them, a stand-in UKI), so that `remits-measure image` predicts PCRs 4, 5 and 9 from it.
make_disk() {
    local d="$TPMDIR/disk" shim=/usr/lib/shim/shimx64.efi.signed
    local grub=/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
    mkdir "$d"
    truncate -s 24M "$d/disk.raw"
    sgdisk -o -U 52454d49-5453-4445-4d4f-4449534b0001 -n 1:2048:+16M -t 1:ef00 \
        -u 1:52454d49-5453-4445-4d4f-455350000001 -c 1:ESP "$d/disk.raw" >>"$TPMDIR/tools.log" 2>&1 ||
        fail "sgdisk could not write the GPT"
    mkfs.vfat -C -n ESP -i 52454d49 "$d/esp.img" 16384 >>"$TPMDIR/tools.log" 2>&1 || fail "mkfs.vfat failed"
    mmd -i "$d/esp.img" ::/EFI ::/EFI/BOOT
    if [[ -f "$shim" && -f "$grub" ]]; then
        printf 'set timeout=0\nmenuentry Linux {\n  linux /vmlinuz console=ttyS0 ro\n  initrd /initrd.img\n}\n' >"$d/grub.cfg"
        printf 'remits demo kernel stand-in\n' >"$d/vmlinuz"
        printf 'remits demo initrd stand-in\n' >"$d/initrd.img"
        mcopy -i "$d/esp.img" "$shim" ::/EFI/BOOT/BOOTX64.EFI
        mcopy -i "$d/esp.img" "$grub" ::/EFI/BOOT/grubx64.efi
        mcopy -i "$d/esp.img" "$d/grub.cfg" ::/EFI/BOOT/grub.cfg
        mcopy -i "$d/esp.img" "$d/vmlinuz" "$d/initrd.img" ::/
        DISK_DESC="Debian's signed shim + GRUB, grub.cfg, kernel and initrd stand-ins"
    else
        python3 "$ROOT/scripts/demo/mini-uki.py" "$d/uki.efi" "console=ttyS0 ro"
        mcopy -i "$d/esp.img" "$d/uki.efi" ::/EFI/BOOT/BOOTX64.EFI
        DISK_DESC="a stand-in UKI (shim-signed/grub-efi-amd64-signed not installed)"
    fi
    dd if="$d/esp.img" of="$d/disk.raw" bs=1M seek=1 conv=notrunc status=none
}

# A one-layer `docker save` tarball: /app/hello and /etc/passwd.
make_image() {
    local i="$TPMDIR/image" layer config
    mkdir -p "$i/rootfs/app" "$i/rootfs/etc" "$i/save"
    printf '#!/bin/sh\necho "hello from the measured demo app"\n' >"$i/rootfs/app/hello"
    chmod 755 "$i/rootfs/app/hello"
    printf 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n' >"$i/rootfs/etc/passwd"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$i/rootfs" -cf "$i/layer.tar" app etc
    layer=$(sha256sum "$i/layer.tar" | cut -c1-64)
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$layer" >"$i/config.json"
    config=$(sha256sum "$i/config.json" | cut -c1-64)
    mkdir "$i/save/$layer"
    cp "$i/layer.tar" "$i/save/$layer/layer.tar"
    cp "$i/config.json" "$i/save/$config.json"
    printf '[{"Config":"%s.json","RepoTags":["remits-demo:latest"],"Layers":["%s/layer.tar"]}]' \
        "$config" "$layer" >"$i/save/manifest.json"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$i/save" -cf "$i/image.tar" .
}

tpm_demo() {
    mkdir -m 700 "$TPMDIR" "$TPMDIR/state"
    : >"$TPMDIR/tools.log"

    step "TPM: measure the workload with remits-measure image (disk + container image + enclave config)"
    make_disk
    make_image
    openssl genpkey -algorithm ed25519 -out "$TPMDIR/signer.pem" 2>>"$TPMDIR/tools.log"
    openssl pkey -in "$TPMDIR/signer.pem" -pubout -out "$TPMDIR/signer.pub.pem"
    MANIFEST="$TPMDIR/manifest.json"
    "$BIN/remits-measure" image --disk "$TPMDIR/disk/disk.raw" --image "$TPMDIR/image/image.tar" \
        --config "$ROOT/scripts/demo/enclave.yaml" --signing-key "$TPMDIR/signer.pem" \
        -o "$MANIFEST" --no-progress >"$TPMDIR/measure.out" 2>&1 ||
        { cat "$TPMDIR/measure.out" >&2; fail "remits-measure image failed"; }
    sed 's/^/   | /' "$TPMDIR/measure.out"
    "$BIN/remits-measure" verify --manifest "$MANIFEST" --key "$TPMDIR/signer.pub.pem" >"$TPMDIR/verify.out" 2>&1 ||
        { cat "$TPMDIR/verify.out" >&2; fail "remits-measure verify rejected the fresh manifest"; }
    sed 's/^/   | /' "$TPMDIR/verify.out"
    PCR15=$(jq -r '.pcrs["15"]' "$MANIFEST")
    PCR16=$(jq -r '.pcrs["16"]' "$MANIFEST")
    [[ "$PCR15" =~ ^[0-9a-f]{64}$ && "$PCR16" =~ ^[0-9a-f]{64}$ ]] || fail "the manifest has no PCR15/PCR16"
    ok "disk: $DISK_DESC"
    ok "manifest signed (ed25519): $(jq '.events["15"] | length' "$MANIFEST") PCR15 events, PCR15 $PCR15"

    # swtpm's TCTI finds the control channel at port + 1: pick a free pair on loopback.
    SWPORT=$(python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        if p < 65535:
            t.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); s.close()')
    TCTI="swtpm:host=127.0.0.1,port=$SWPORT"
    step "TPM: start swtpm on 127.0.0.1:$SWPORT (control $((SWPORT + 1))), state in the demo's temp dir"
    swtpm socket --tpm2 --tpmstate "dir=$TPMDIR/state" \
        --server "type=tcp,port=$SWPORT,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$((SWPORT + 1)),bindaddr=127.0.0.1" \
        --flags not-need-init,startup-clear >>"$TPMDIR/tools.log" 2>&1 &
    SWTPM_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$SWPORT") 2>/dev/null; then break; fi
        kill -0 "$SWTPM_PID" 2>/dev/null || fail "swtpm exited at start"
        sleep 0.1
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$SWPORT") 2>/dev/null || fail "swtpm did not listen on $SWPORT"
    [[ "$(pcr_now 15)" == "$(printf '%064d' 0)" ]] || fail "PCR15 of the fresh swtpm is not zero"
    ok "swtpm ready (pid $SWTPM_PID); TPM2TOOLS_TCTI=$TCTI; PCR15 = 0"
    tpm2 tpm2_createek -c ek.ctx -G rsa -u ek.pub
    tpm2 tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub.pem -f pem -n ak.name
    tpm2 tpm2_evictcontrol -C o -c ak.ctx 0x81010002
    ok "attestation key (ECC P-256, under the EK) persistent at 0x81010002 (tpm2-tools)"

    step "TPM: the broker trusts this AK and the manifest's PCR15; resource policy pins PCR15"
    head -c 32 /dev/urandom >"$TPMDIR/secret"
    chmod 600 "$TPMDIR/secret"
    TPM_WANT=$(sha256sum "$TPMDIR/secret" | cut -d' ' -f1)
    "$BIN/remits-broker" admin --broker "$URL" --key "$DEV/admin-key.pem" \
        put-resource default/tpm/key --file "$TPMDIR/secret" >/dev/null
    # trusted_aks is what the attestation policy checks; tpm_pcr15 records the expected value
    # for operators (the shipped policies do not read it): the resource policy below pins it.
    jq -n --rawfile ak "$TPMDIR/ak.pub.pem" --arg pcr15 "$PCR15" '{trusted_aks: [$ak], tpm_pcr15: [$pcr15]}' \
        >"$TPMDIR/refvalues.json"
    "$BIN/remits-broker" admin --broker "$URL" --key "$DEV/admin-key.pem" \
        register-reference-values "$TPMDIR/refvalues.json" >/dev/null
    cat >"$TPMDIR/resource.rego" <<REGO
package policy
import rego.v1
# Release only to a TPM whose quoted PCR15 is the manifest's (and whose evidence is affirming).
default allow := false
allow if {
    count(input.submods) > 0
    every _, sub in input.submods {
        sub["ear.status"] == "affirming"
        lower(sub["ear.veraison.annotated-evidence"].tpm.pcr15) == "$PCR15"
    }
}
REGO
    "$BIN/remits-broker" admin --broker "$URL" --key "$DEV/admin-key.pem" \
        set-resource-policy "$TPMDIR/resource.rego" >/dev/null
    ok "default/tpm/key stored (sha256 $TPM_WANT)"
    ok "reference values: trusted_aks = this AK, tpm_pcr15 = the manifest's"
    ok "resource policy: release only when the quoted PCR15 is $PCR15"

    # The attester reads no event log here: the host's, if any, is not swtpm's.
    tpm_attester=("$BIN/remits-attester" --tee tpm --tcti "$TCTI" --ak-handle 0x81010002
        --event-log "$TPMDIR/no-event-log")
    step "attester (TPM quote from swtpm): extend the manifest, attest -> secret -> workload"
    mkdir -m 700 "$TPMDIR/run"
    # shellcheck disable=SC2016  # $REMITS_SECRETS_DIR is expanded by the workload's shell.
    if ! OUT=$("${tpm_attester[@]}" run --broker "$URL" --retry-for 10 --secrets-dir "$TPMDIR/run" \
        --extend-config "$MANIFEST" --secret default/tpm/key=key \
        -- sh -c 'echo "workload: secret at $REMITS_SECRETS_DIR/key"; sha256sum "$REMITS_SECRETS_DIR/key"' 2>&1); then
        printf '%s\n' "$OUT" >&2
        fail "the TPM attester did not deliver the secret"
    fi
    printf '%s\n' "$OUT" | sed 's/^/   | /'
    GOT=$(printf '%s\n' "$OUT" | grep -Eo '^[0-9a-f]{64} ' | tr -d ' ' || true)
    [[ "$GOT" == "$TPM_WANT" ]] || fail "the TPM workload saw sha256 $GOT, expected $TPM_WANT"
    [[ "$(pcr_now 15)" == "$PCR15" ]] || fail "PCR15 is $(pcr_now 15), the manifest says $PCR15"
    [[ "$(pcr_now 16)" == "$PCR16" ]] || fail "PCR16 is $(pcr_now 16), the manifest says $PCR16"
    ok "PCR15 and PCR16 in swtpm now equal the manifest's (tpm2_pcrread)"
    ok "the TPM workload received the secret (hashes match)"

    step "one extra extend: tpm2_pcrextend 15 -> the next attestation is denied"
    tpm2 tpm2_pcrextend "15:sha256=$(printf '%064d' 0 | tr 0 1)"
    ok "PCR15 is now $(pcr_now 15)"
    mkdir -m 700 "$TPMDIR/denied"
    set +e
    # shellcheck disable=SC2016
    "${tpm_attester[@]}" run --broker "$URL" --retry-for 10 --secrets-dir "$TPMDIR/denied" \
        --secret default/tpm/key=key \
        -- sh -c 'touch "$0"; sha256sum "$REMITS_SECRETS_DIR/key"' "$TPMDIR/workload-started" >"$TPMDIR/denied.out" 2>&1
    rc=$?
    set -e
    sed 's/^/   | /' "$TPMDIR/denied.out"
    [[ $rc -eq 1 ]] || fail "the TPM attester exited $rc after the extra extend (expected 1: denied)"
    [[ ! -e "$TPMDIR/workload-started" ]] || fail "the TPM workload was started despite the denial"
    [[ -z "$(find "$TPMDIR/denied" -mindepth 1 -print -quit)" ]] ||
        fail "files were left in the secrets directory: $(find "$TPMDIR/denied" -mindepth 1)"
    ok "TPM denied (exit 1) after one extra extend; workload not started; no secret file written"

    kill "$SWTPM_PID"
    wait "$SWTPM_PID" 2>/dev/null || true
    SWTPM_PID=""
}

TPM_SKIPPED=""
tpm_missing=()
for t in swtpm tpm2_createek tpm2_createak tpm2_evictcontrol tpm2_flushcontext tpm2_pcrextend tpm2_pcrread \
    sgdisk mkfs.vfat mmd mcopy python3; do
    command -v "$t" >/dev/null 2>&1 || tpm_missing+=("$t")
done
[[ ${#tpm_missing[@]} -eq 0 ]] || tpm_missing+=("(bash scripts/setup.sh installs them)")
[[ -x "$BIN/remits-measure" ]] || tpm_missing+=("$BIN/remits-measure (cargo build -p remits-measure-cli)")
if [[ ${#tpm_missing[@]} -eq 0 ]]; then
    tpm_demo
else
    TPM_SKIPPED="missing ${tpm_missing[*]}"
    [[ -z "${CI:-}" ]] || fail "CI is set and the TPM part cannot run: $TPM_SKIPPED"
    step "TPM with swtpm"
    printf 'SKIPPED: the TPM part of the demo: %s\n' "$TPM_SKIPPED"
fi

step "stop the broker"
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=""
ok "stopped"
if [[ -n "$TPM_SKIPPED" ]]; then
    printf '\ndemo-e2e: all steps passed except the TPM part, SKIPPED (%s); SNP evidence was SIMULATED: test chain, not AMD hardware\n' "$TPM_SKIPPED"
else
    printf '\ndemo-e2e: all steps passed (SNP evidence was SIMULATED: test chain, not AMD hardware; TPM: swtpm, a software TPM)\n'
fi
