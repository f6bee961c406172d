#!/usr/bin/env bash
# Installs what the package needs from Debian when it is missing: libgc-dev
# (bdwgc 8.2.x) and pkg-config, to build; zlib1g-dev and libgmp-dev, which
# the C interop tests give the library's allocator hooks; libjemalloc2, which
# the tests (and the soak's --malloc jemalloc) preload. With `soak`, also what the soak
# compares against and draws with: guile-3.0 (the Guile peer) and gnuplot-nox
# (the plot). As root; otherwise it says what to install (a missing soak
# tool is no error: the soak runs without it and says so).
# Usage: bash scripts/setup.sh [soak]
set -euo pipefail

packages=()
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists bdw-gc; then
    packages+=(libgc-dev pkg-config)
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists zlib gmp; then
    packages+=(zlib1g-dev libgmp-dev)
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 '; then
    packages+=(libjemalloc2)
fi
soak_packages=()
if [ "${1:-}" = soak ]; then
    command -v guile-3.0 >/dev/null 2>&1 || soak_packages+=(guile-3.0)
    command -v gnuplot >/dev/null 2>&1 || soak_packages+=(gnuplot-nox)
fi
if [ ${#packages[@]} -eq 0 ] && [ ${#soak_packages[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if [ ${#packages[@]} -gt 0 ]; then
        echo "error: ${packages[*]} missing; install as root: apt-get install -y ${packages[*]} ${soak_packages[*]}" >&2
        exit 1
    fi
    echo "warning: ${soak_packages[*]} missing (the soak's Guile peer and plot);" \
        "install as root: apt-get install -y ${soak_packages[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "Installing" ${packages[*]} ${soak_packages[*]} "..." >&2
apt-get update -qq
if [ ${#packages[@]} -gt 0 ]; then
    apt-get install -y -qq "${packages[@]}" >/dev/null
    pkg-config --exists bdw-gc zlib gmp
fi
if [ ${#soak_packages[@]} -gt 0 ] && ! apt-get install -y -qq --no-install-recommends "${soak_packages[@]}" >/dev/null; then
    echo "warning: could not install ${soak_packages[*]}; the soak runs without them" >&2
fi
