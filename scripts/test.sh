#!/usr/bin/env bash
# Build and test taut on a fresh Debian 12 machine (as root): installs the packages it needs,
# configures with a CMake preset (default: release; also debug, asan), builds and runs ctest.
#   bash scripts/test.sh [PRESET]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset=${1:-release}

bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
# The soak test (label soak, two minutes of load) runs on its own: ctest --preset asan -L soak
# (.ci/run step_soak).
ctest --preset "$preset" -LE soak
