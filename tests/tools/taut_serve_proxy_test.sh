#!/usr/bin/env bash
# taut-serve --proxy PREFIX=URL routes by the request's path: an absolute-form target
# ("GET http://x/up/hello/z", RFC 9112 section 3.2.2) goes to the proxy as its origin-form path
# would. One taut-serve is the upstream, a second proxies /up to it.
# Usage: taut_serve_proxy_test.sh TAUT_SERVE. Bounded in time (every request under timeout, the
# waits counted); it kills only the servers it started.
set -uo pipefail

server_bin=$1
# shellcheck source=tests/shell_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shell_checks.sh"
upstream_pid=
proxy_pid=
scratch_with_cleanup taut-serve-proxy upstream_pid proxy_pid

"$server_bin" --listen 127.0.0.1:0 --threads 1 >/dev/null 2>"$scratch/upstream.err" &
upstream_pid=$!
upstream_port=$(wait_for_line "$scratch/upstream.err" \
  's|^taut-serve: listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$upstream_pid")
[[ -n $upstream_port ]] || { echo "upstream taut-serve did not start" >&2; exit 1; }

"$server_bin" --listen 127.0.0.1:0 --threads 1 --proxy "/up=http://127.0.0.1:$upstream_port" \
  >/dev/null 2>"$scratch/proxy.err" &
proxy_pid=$!
port=$(wait_for_line "$scratch/proxy.err" \
  's|^taut-serve: listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$proxy_pid")
[[ -n $port ]] || { echo "proxying taut-serve did not start" >&2; exit 1; }

# One request (the first argument is its target) over a fresh connection; prints the response.
ask() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" "$2" >&3
    cat <&3' ask "$port" "$1"
}

check_contains "origin-form under the prefix" "Hello, z!" "$(ask /up/hello/z)"
absolute=$(ask http://x/up/hello/z)
check_contains "absolute-form under the prefix: proxied" "Hello, z!" "$absolute"
check_contains "absolute-form under the prefix: 200" "HTTP/1.1 200" "$absolute"
check_contains "absolute-form elsewhere: the demo routes" "Hello, q!" "$(ask http://x/hello/q)"

kill -TERM "$proxy_pid" "$upstream_pid"
wait "$proxy_pid" "$upstream_pid"
proxy_pid=
upstream_pid=
echo "taut_serve_proxy_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
