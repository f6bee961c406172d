#!/usr/bin/env bash
# The main job: builds in release and runs the port-churn soak benchmark with
# a short default run, installing libgc-dev first when it is missing.
# Extra arguments go to the benchmark (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift run -c release port-churn "$@"
