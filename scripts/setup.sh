#!/usr/bin/env bash
# Installs what the package needs to build: libgc-dev (bdwgc 8.2.x) and
# pkg-config, from Debian, when pkg-config cannot find bdw-gc.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists bdw-gc; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: libgc-dev is missing; install it as root: apt-get install -y libgc-dev pkg-config" >&2
    exit 1
fi
echo "Installing libgc-dev and pkg-config..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq libgc-dev pkg-config >/dev/null
pkg-config --exists bdw-gc
