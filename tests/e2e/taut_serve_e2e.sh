#!/usr/bin/env bash
# End-to-end checks of taut-serve with curl over TCP, a Unix socket and an abstract socket: starts
# the server on a free port, waits until it answers, runs curl checks, stops it with SIGTERM and
# expects exit status 0. Usage: taut_serve_e2e.sh TAUT_SERVE GROUP, where GROUP is serve or flags.
# Bounded in time (every curl has --max-time; waits are counted); it only kills the PID it started.
set -uo pipefail

server_bin=$1
group=$2
# shellcheck source=tests/shell_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shell_checks.sh"
server_pid=
scratch_with_cleanup taut-e2e server_pid

curl_() { curl --silent --show-error --max-time 5 "$@"; }

finish() {
  echo "taut_serve_e2e $group: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit
}

# ---------------------------------------------------------------------------------------------
if [[ $group == flags ]]; then
  # expect_usage NAME ARGS...: exit status 2 and exactly one line on stderr.
  expect_usage() {
    local name=$1
    shift
    "$server_bin" "$@" >"$scratch/out" 2>"$scratch/err"
    local status=$?
    check "$name status" 2 "$status"
    check "$name one line" 1 "$(wc -l <"$scratch/err")"
    check_contains "$name says taut-serve" "taut-serve: " "$(cat "$scratch/err")"
  }
  expect_usage unknown-flag --nope
  expect_usage stray-argument serve
  expect_usage missing-value --listen
  expect_usage bad-ipv4 --listen 256.1.1.1:80
  expect_usage missing-port --listen 127.0.0.1
  expect_usage ipv6-without-brackets --listen ::1:8080
  expect_usage port-range --listen 127.0.0.1:70000
  expect_usage hostname --listen example.com:80
  expect_usage long-unix-path --unix "/tmp/$(printf 'x%.0s' {1..200})"
  expect_usage too-many-threads --threads 1025
  expect_usage bad-duration --header-timeout soon
  expect_usage negative-duration --idle-timeout -1
  expect_usage bad-bytes --max-body 12Q
  expect_usage bad-count --max-connections many
  expect_usage missing-root --root "$scratch/does-not-exist"
  expect_usage tls-cert-alone --tls-cert cert.pem
  expect_usage tls-key-alone --tls-key key.pem
  expect_usage tls-pairs-uneven --tls-cert a.pem --tls-key a.key --tls-cert b.pem
  expect_usage tls-unix-alone --tls-unix
  expect_usage tls-timeout-alone --tls-handshake-timeout 5s
  expect_usage tls-bad-timeout --tls-cert a.pem --tls-key a.key --tls-handshake-timeout soon

  help=$("$server_bin" --help)
  check "--help status" 0 $?
  for flag in --listen --unix --threads --root --access-log --max-connections --header-timeout \
      --idle-timeout --body-timeout --write-timeout --drain-timeout --max-body --max-header-bytes \
      --max-requests-per-connection --tls-cert --tls-key --tls-unix --tls-handshake-timeout \
      --help --version; do
    check_contains "--help mentions $flag" "$flag" "$help"
  done

  # --version: "taut-serve <project version>" on standard output, exit status 0.
  version=$("$server_bin" --version 2>"$scratch/err")
  check "--version status" 0 $?
  check "--version format" "ok" \
    "$([[ $version =~ ^taut-serve\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && echo ok || echo "$version")"
  check "--version quiet" "" "$(cat "$scratch/err")"

  # --threads 0: one loop thread per core, as taut::server_options::threads = 0.
  "$server_bin" --listen 127.0.0.1:0 --threads 0 >/dev/null 2>"$scratch/threads.err" &
  server_pid=$!
  threads=$(wait_for_line "$scratch/threads.err" 's|^taut-serve: \([0-9]*\) threads,.*|\1|p' \
    "$server_pid")
  check "--threads 0 is one per core" "$(nproc)" "$threads"
  stop_with_sigterm server_pid "taut-serve --threads 0"
  finish
fi

# ---------------------------------------------------------------------------------------------
[[ $group == serve ]] || { echo "unknown group $group" >&2; exit 2; }

root="$scratch/root"
mkdir -p "$root/docs"
printf 'hello from a file\n' >"$root/hello.txt"
printf '0123456789' >"$root/digits.bin"
printf '<h1>docs</h1>' >"$root/docs/index.html"
printf 'TOP-SECRET' >"$scratch/secret.txt"
ln -s ../secret.txt "$root/escape"
unix_socket="$scratch/serve.sock"
abstract="taut-e2e-$$"
# IPv6 loopback too, where the host has it (some containers do not).
ipv6=()
if grep -qs ' lo$' /proc/net/if_inet6; then ipv6=(--listen '[::1]:0'); fi

: >"$scratch/server.err"
"$server_bin" --listen 127.0.0.1:0 "${ipv6[@]}" --unix "$unix_socket" --unix "@$abstract" --threads 2 \
  --root "$root" --access-log --max-body 64K --idle-timeout 30s \
  >"$scratch/access.log" 2>"$scratch/server.err" &
server_pid=$!

# Wait (at most 30 s) for the "listening on http://127.0.0.1:PORT/" line, then for an answer.
port=$(wait_for_line "$scratch/server.err" \
  's|^taut-serve: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$server_pid")
if [[ -z $port ]]; then
  echo "taut-serve did not start:" >&2
  cat "$scratch/server.err" >&2
  exit 1
fi
base="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
  curl --silent --max-time 1 "$base/healthz" >/dev/null && break
  sleep 0.1
done

# Routes over TCP.
check "healthz" "ok" "$(curl_ "$base/healthz")"
check "plaintext" "Hello, World!" "$(curl_ "$base/plaintext")"
check "plaintext type and length" "text/plain 13" \
  "$(curl_ -o /dev/null -w '%{content_type} %{size_download}' "$base/plaintext")"
check_contains "index lists routes" "/hello/{name}" "$(curl_ "$base/")"
check "hello path" "Hello, world!" "$(curl_ "$base/hello/world")"
check "hello decoded" "Hello, Ada Lovelace!" "$(curl_ "$base/hello/Ada%20Lovelace")"
check "hello query" "Hello, taut!" "$(curl_ "$base/hello?name=taut")"
check "404" "404" "$(curl_ -o /dev/null -w '%{http_code}' "$base/nothing")"
check "405 allow" "405 GET, HEAD, OPTIONS" \
  "$(curl_ -o /dev/null -w '%{http_code} %header{allow}' -X DELETE "$base/healthz")"
check "echo json" \
  '{"method":"POST","target":"/echo?a=1","headers":[["Host","127.0.0.1:'"$port"'"],["User-Agent","e2e"],["X-Q","say \"hi\""],["Content-Type","text/plain"],["Content-Length","11"]],"body":"tab\there\nok"}' \
  "$(curl_ -A e2e -H 'Accept:' -H 'X-Q: say "hi"' -H 'Content-Type: text/plain' \
    --data-binary $'tab\there\nok' "$base/echo?a=1")"
check "echo too large" "413" \
  "$(head -c 70000 /dev/zero | curl_ -o /dev/null -w '%{http_code}' --data-binary @- "$base/echo")"

# Absolute-form targets are routed by their path (RFC 9112 section 3.2.2); CONNECT is 405.
check "absolute-form" "Hello, abs!" \
  "$(curl_ --request-target "http://example.com/hello/abs" "$base/hello/x")"
check "connect 405" "405" \
  "$(curl_ -o /dev/null -w '%{http_code}' -X CONNECT --request-target example.com:443 "$base/")"

# Text responses of the demo are never sniffed as something else.
for target in / /hello/x /healthz /plaintext; do
  check "nosniff $target" "nosniff" \
    "$(curl_ -o /dev/null -w '%header{x-content-type-options}' "$base$target")"
done

# Static files.
check "static file" "hello from a file" "$(curl_ "$base/static/hello.txt")"
check "static range" "206 bytes 2-4/10 234" \
  "$(curl_ -r 2-4 -w '%{http_code} %header{content-range} ' -o "$scratch/part" "$base/static/digits.bin")$(cat "$scratch/part")"
check "static 416" "416 bytes */10" \
  "$(curl_ -r 20-30 -o /dev/null -w '%{http_code} %header{content-range}' "$base/static/digits.bin")"
modified=$(curl_ -o /dev/null -w '%header{last-modified}' "$base/static/hello.txt")
check "static 304" "304" \
  "$(curl_ -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $modified" "$base/static/hello.txt")"
etag=$(curl_ -o /dev/null -w '%header{etag}' "$base/static/hello.txt")
check "static 304 for a list over two lines" "304" \
  "$(curl_ -o /dev/null -w '%{http_code}' -H 'If-None-Match: "zz"' -H "If-None-Match: $etag" \
    "$base/static/hello.txt")"
check "static directory redirect" "301 /static/docs/" \
  "$(curl_ -o /dev/null -w '%{http_code} %header{location}' "$base/static/docs")"
check "static index" "<h1>docs</h1>" "$(curl_ "$base/static/docs/")"
for target in /static/../secret.txt /static/%2e%2e/secret.txt /static/..%2fsecret.txt \
    /static/escape /static/..%2f..%2f..%2fetc/passwd; do
  body=$(curl_ --path-as-is -L --max-redirs 3 "$base$target")
  if [[ $body == *TOP-SECRET* || $body == *root:* ]]; then
    fail "traversal $target leaked: $body"
  else
    pass
  fi
done

# IPv6.
if [[ ${#ipv6[@]} -gt 0 ]]; then
  port6=$(sed -n 's|^taut-serve: listening on http://\[::1\]:\([0-9]*\)/$|\1|p' "$scratch/server.err")
  check "ipv6" "Hello, v6!" "$(curl_ -g "http://[::1]:$port6/hello/v6")"
fi

# HTTP/1.0, HEAD, and keep-alive reuse.
check "http/1.0" "HTTP/1.0 200" "$(curl_ -0 -o /dev/null -w 'HTTP/1.0 %{http_code}' "$base/healthz")"
check "head" "200 0" "$(curl_ -I -o /dev/null -w '%{http_code} %{size_download}' "$base/plaintext")"
check "head length" "13" "$(curl_ -I "$base/plaintext" | tr -d '\r' | sed -n 's/^Content-Length: //p')"
reuse=$(curl --silent --max-time 5 -v "$base/healthz" "$base/plaintext" 2>&1 >/dev/null)
check_contains "keep-alive reuse" "Re-using existing connection" "$reuse"

# Unix and abstract sockets.
check "unix socket" "ok" "$(curl_ --unix-socket "$unix_socket" http://localhost/healthz)"
check "unix echo" '"body":"x"}' \
  "$(curl_ --unix-socket "$unix_socket" --data-binary x http://localhost/echo | grep -o '"body":"x"}')"
check "abstract socket" "Hello, World!" \
  "$(curl_ --abstract-unix-socket "$abstract" http://localhost/plaintext)"

# Server-sent events: GET /clock?n=3 sends one event a second from a timer of the loop, and
# `curl -N` prints each as it arrives. Each line is stamped with its arrival time: the first event
# must come about two seconds before the last, not with it when the response ends.
clock_lines=$(curl --silent --show-error --max-time 10 -N "$base/clock?n=3" |
  while IFS= read -r line; do printf '%s %s\n' "$(date +%s%N)" "$line"; done)
check "clock events" 3 "$(grep -c ' data: ' <<<"$clock_lines")"
check "clock ids" "1 2 3" "$(sed -n 's/^[0-9]* id: //p' <<<"$clock_lines" | paste -sd' ')"
first_event=$(grep ' data: ' <<<"$clock_lines" | head -n 1 | cut -d' ' -f1)
last_event=$(grep ' data: ' <<<"$clock_lines" | tail -n 1 | cut -d' ' -f1)
spread_ms=$(((${last_event:-0} - ${first_event:-0}) / 1000000))
if ((spread_ms >= 1500 && spread_ms < 5000)); then
  pass
else
  fail "clock: ${spread_ms} ms from the first event to the last, expected about 2000"
fi
check "clock type" "200 text/event-stream nosniff" \
  "$(curl_ -o /dev/null -w '%{http_code} %{content_type} %header{x-content-type-options}' "$base/clock?n=1")"
check "clock bad n" "400" "$(curl_ -o /dev/null -w '%{http_code}' "$base/clock?n=0")"

# SIGTERM: graceful stop, exit status 0, the socket file removed.
stop_with_sigterm server_pid taut-serve
check "unix socket file removed" "gone" "$([[ -e $unix_socket ]] && echo present || echo gone)"
check_contains "stopped message" "taut-serve: stopped" "$(cat "$scratch/server.err")"
# The access log has a Common Log Format line for the requests above.
check_contains "access log" '"GET /healthz HTTP/1.1" 200' "$(cat "$scratch/access.log")"
# A Unix-socket client has no name of its own: the log names the socket it came through.
check_contains "access log unix client" "$unix_socket - - [" "$(cat "$scratch/access.log")"
check_contains "access log abstract client" "@$abstract - - [" "$(cat "$scratch/access.log")"
finish
