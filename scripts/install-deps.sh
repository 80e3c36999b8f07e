#!/usr/bin/env bash
# Installs the Debian 12 packages taut needs to build, test, fuzz and benchmark.
# Run as root (or with sudo available). Packages already installed are left alone, so a machine that
# has everything does not touch the network; otherwise `apt-get update` runs once, first.
#
# One line per purpose at the bottom: add a package to the line of the purpose that needs it.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
  else
    echo "install-deps.sh: run as root (or install sudo)" >&2
    exit 1
  fi
fi

apt_updated=0

# require_packages <purpose> <package>...: installs those of the packages that are missing.
require_packages() {
  local purpose=$1
  shift
  local missing=()
  local package
  for package in "$@"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: $purpose: all present"
    return
  fi
  echo "install-deps: $purpose: installing ${missing[*]}"
  if [[ $apt_updated -eq 0 ]]; then
    "${as_root[@]}" apt-get update
    apt_updated=1
  fi
  # Another apt process (unattended upgrades, a parallel job) may hold the dpkg lock for a while.
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if "${as_root[@]}" apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 \
      "${missing[@]}"; then
      return
    fi
    echo "install-deps: apt-get install failed (attempt $attempt), retrying" >&2
    sleep 10
  done
  echo "install-deps: could not install ${missing[*]}" >&2
  exit 1
}

require_packages build build-essential g++ cmake ninja-build pkg-config git ca-certificates ccache \
  liburing-dev libssl-dev
require_packages test libgtest-dev libgmock-dev librapidcheck-dev curl openssl
# tests/client runs taut::client against an nginx it starts on loopback (skipped without it).
require_packages client-test nginx-light
require_packages fuzz clang llvm libclang-rt-14-dev node-llhttp zip unzip python3
require_packages format clang-format
require_packages bench libbenchmark-dev node-llhttp libhttp-parser-dev libh2o-evloop-dev libboost-dev \
  gnuplot-nox dpkg-dev binutils
require_packages tools curl
# scripts/bench-server.sh: the peer servers, the load generators (wrk, h2load), taskset, the chart.
require_packages load-bench nginx-light h2o golang-go wrk nghttp2-client util-linux gnuplot-nox \
  python3 strace
