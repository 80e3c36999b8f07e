#!/usr/bin/env bash
# End-to-end checks of `taut-serve --proxy` with taut-fetch: an upstream taut-serve on a free
# loopback port and a Unix socket, one front taut-serve proxying everything to it over TCP
# (--proxy URL), another proxying only /api to its Unix socket (--proxy PREFIX=URL) and serving the
# rest itself. Checks the bodies, the Via and X-Forwarded-For fields the fronts add, the prefix
# mapping, and 502 once the upstream is gone; then stops each front with SIGTERM and expects exit
# status 0. Usage: taut_serve_proxy_e2e.sh TAUT_SERVE TAUT_FETCH. Bounded in time (every fetch has
# --timeout, every wait is counted); it only kills the PIDs it started.
set -uo pipefail

server_bin=$1
fetch_bin=$2
# shellcheck source=tests/shell_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shell_checks.sh"
# shellcheck disable=SC2034 # set and read through their names (start, stop_with_sigterm, the cleanup)
upstream_pid='' front_pid='' prefix_pid=''
scratch_with_cleanup taut-proxy-e2e upstream_pid front_pid prefix_pid piped_pid

# fetch ARGS...: taut-fetch with a deadline, standard error kept for the failure messages.
fetch() { timeout 10 "$fetch_bin" --timeout 5s "$@" 2>>"$scratch/fetch.err"; }
# status_of URL: the status code of the response, from taut-fetch -i's status line.
status_of() { fetch -i "$1" | sed -n '1s|^HTTP/1\.[01] \([0-9]*\) .*|\1|p'; }
# field_of NAME URL: the value of the response field NAME (case-insensitive).
field_of() {
  fetch -i "$2" | tr -d '\r' | sed '/^$/q' | sed -n "s|^$1: ||Ip" | head -n 1
}

# start VARIABLE NAME ARGS...: starts taut-serve ARGS in the background (its PID in VARIABLE) and
# sets port to the TCP port of its "listening on" line once it appears (empty if it never does).
start() {
  local variable=$1 name=$2
  shift 2
  : >"$scratch/$name.err"
  "$server_bin" --threads 1 "$@" >/dev/null 2>"$scratch/$name.err" &
  printf -v "$variable" '%s' $!
  port=$(wait_for_line "$scratch/$name.err" \
    's|^taut-serve: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "${!variable}")
}

give_up() {
  echo "$1 did not start:" >&2
  cat "$scratch"/*.err >&2
  exit 1
}

socket="$scratch/upstream.sock"
start upstream_pid upstream --listen 127.0.0.1:0 --unix "$socket"
up_port=$port
[[ -n $up_port ]] || give_up "the upstream taut-serve"
start front_pid front --listen 127.0.0.1:0 --proxy "http://127.0.0.1:$up_port"
front_port=$port
[[ -n $front_port ]] || give_up "the --proxy URL taut-serve"
start prefix_pid prefix --listen 127.0.0.1:0 --proxy "/api=unix:$socket"
prefix_port=$port
[[ -n $prefix_port ]] || give_up "the --proxy PREFIX=URL taut-serve"
start piped_pid piped --listen 127.0.0.1:0 --proxy "http://127.0.0.1:$up_port" --proxy-pipeline 4
piped_port=$port
[[ -n $piped_port ]] || give_up "the --proxy-pipeline taut-serve"
front="http://127.0.0.1:$front_port"
prefixed="http://127.0.0.1:$prefix_port"
piped="http://127.0.0.1:$piped_port"
for _ in $(seq 1 50); do
  [[ $(fetch "$front/healthz") == ok ]] && break
  sleep 0.1
done

# --proxy URL: everything goes to the upstream, which sees who asked and through what.
check "proxied body" "Hello, World!" "$(fetch "$front/plaintext")"
check "proxied path" "Hello, proxy!" "$(fetch "$front/hello/proxy")"
check "proxied 404" "404" "$(status_of "$front/nothing")"
echoed=$(fetch -H 'Content-Type: text/plain' -d 'through the front' "$front/echo?q=1")
check_contains "proxied request body" '"body":"through the front"' "$echoed"
check_contains "proxied target" '"target":"/echo?q=1"' "$echoed"
check_contains "upstream sees Via" '["Via","1.1 taut"]' "$echoed"
check_contains "upstream sees X-Forwarded-For" '["X-Forwarded-For","127.0.0.1"]' "$echoed"
check_contains "upstream sees X-Forwarded-Host" '["X-Forwarded-Host","127.0.0.1:'"$front_port"'"]' \
  "$echoed"
check "response Via" "1.1 taut" "$(field_of Via "$front/plaintext")"
check "proxied HEAD" "200" "$(fetch -X HEAD -i "$front/plaintext" | sed -n '1s|^HTTP/1\.1 \([0-9]*\) .*|\1|p')"

# --proxy PREFIX=URL: /api/... goes to the upstream without /api, the rest is served here.
check "prefix stripped" "Hello, unix!" "$(fetch "$prefixed/api/hello/unix")"
check_contains "prefix target" '"target":"/echo"' "$(fetch -d x "$prefixed/api/echo")"
check "prefix Via" "1.1 taut" "$(field_of Via "$prefixed/api/plaintext")"
check "outside the prefix: served by the front" "" "$(field_of Via "$prefixed/plaintext")"
check "outside the prefix body" "Hello, World!" "$(fetch "$prefixed/plaintext")"

# --proxy-pipeline: many clients at once through a front that pipelines its upstream requests,
# and a client that pipelines its own (taut-fetch --pipeline): every response comes, and some of
# them were pipelined.
check "pipelined front body" "Hello, World!" "$(fetch "$piped/plaintext")"
check_contains "pipelined front: 3000 requests, 32 at once" "failed: 0" \
  "$(fetch -n 3000 -c 32 "$piped/plaintext")"
report=$(fetch -n 3000 -c 16 --pipeline 8 "$piped/hello/pipe")
check_contains "taut-fetch --pipeline through it" "failed: 0" "$report"
pipelined=$(sed -n 's/^pipelined: //p' <<<"$report")
check "taut-fetch --pipeline pipelined some" 1 "$((${pipelined:-0} > 0))"

# The upstream gone: 502 from both fronts, which keep serving what is theirs.
stop_with_sigterm upstream_pid upstream
check "502 without the upstream (TCP)" "502" "$(status_of "$front/plaintext")"
check "502 without the upstream (Unix)" "502" "$(status_of "$prefixed/api/plaintext")"
check "front still serves its own routes" "Hello, World!" "$(fetch "$prefixed/plaintext")"

stop_with_sigterm front_pid front
stop_with_sigterm prefix_pid prefix
stop_with_sigterm piped_pid piped
if [[ $failed -ne 0 && -s $scratch/fetch.err ]]; then
  echo "taut-fetch said:" >&2
  cat "$scratch/fetch.err" >&2
fi
echo "taut_serve_proxy_e2e: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
