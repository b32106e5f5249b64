#!/usr/bin/env bash
# The main job, end to end on this machine with embedded defaults and no hardware:
# a development broker; the SNP simulator as attester delivering a secret into a workload (and
# the verifier accepting it only with the simulator's ARK); then swtpm as the TPM: a manifest from
# remits-measure, a secret released while PCR15 matches it, refused after one extra extend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/demo-e2e.sh "$@"
