#!/usr/bin/env bash
# The main job: builds in release and runs the port-churn soak benchmark with
# a short default run, installing first what is missing: libgc-dev to build,
# guile-3.0 (the Guile peer) and gnuplot-nox (the plot).
# Extra arguments go to the benchmark (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh soak
swift run -c release port-churn "$@"
