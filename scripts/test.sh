#!/usr/bin/env bash
# Runs the whole test suite (Swift Testing, tests in parallel), installing
# libgc-dev first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
