#!/usr/bin/env bash
# The main job, end to end on this machine with embedded defaults and no hardware:
# a development broker, the SNP simulator as attester, a secret delivered into a workload.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/demo-e2e.sh "$@"
