#!/usr/bin/env bash
# Build and run taut on a fresh Debian 12 machine (as root): installs the packages it needs, builds
# the release preset's taut-serve, and runs the demo server in the foreground on
# http://127.0.0.1:8080/ (Ctrl-C stops it gracefully). Extra arguments go to taut-serve:
#   bash scripts/run.sh
#   bash scripts/run.sh --listen 0.0.0.0:8080 --access-log
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release --target taut_serve
server=build/release/tools/taut-serve/taut-serve

echo "== $server $*"
echo "   try: curl http://127.0.0.1:8080/hello/world"
echo "        curl --data-binary 'hi' http://127.0.0.1:8080/echo"
echo "        curl http://127.0.0.1:8080/static/README.md"
exec "$server" --root . "$@"
