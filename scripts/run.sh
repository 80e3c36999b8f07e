#!/usr/bin/env bash
# Build and run taut on a fresh Debian 12 machine (as root): installs the packages it needs, builds
# the release preset, and runs taut-parse over a few pipelined requests, one of them a smuggling
# attempt that the parser rejects.
#   bash scripts/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release --target taut_parse
tool=build/release/tools/taut-parse

requests='GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: demo\r\n\r\n'
requests+='POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n'
requests+='5\r\nhello\r\n0\r\nChecksum: 42\r\n\r\n'
requests+='POST /smuggle HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n'
requests+='Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n'

echo "== input"
printf '%b' "$requests"
echo "== $tool"
status=0
printf '%b' "$requests" | "$tool" || status=$?
echo "== exit status $status (1: the third request is rejected, as it should be)"
[[ $status -eq 1 ]]
