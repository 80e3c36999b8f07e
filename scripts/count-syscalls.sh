#!/usr/bin/env bash
# Counts the system calls a server makes per request, with strace -c -f on the measured process:
# taut-serve on both I/O backends, plain and as a reverse proxy (--proxy, in front of a plain
# taut-serve upstream on the same backend), and nginx proxy_pass (upstream keep-alive, one worker)
# in front of the same kind of upstream. The load is taut-fetch -n N -c C on /plaintext; only the
# measured process is traced (the upstream and the client run untraced).
#   Usage: bash scripts/count-syscalls.sh. Environment: TAUT_SYSCALLS_REQUESTS (N, 20000),
#   TAUT_SYSCALLS_CONNECTIONS (C, 10), TAUT_SYSCALLS_CASES (space-separated among epoll
#   epoll-proxy io_uring io_uring-proxy nginx-proxy; all by default), TAUT_SYSCALLS_KEEP (a
#   directory to keep the strace summaries in).
# Prints, per case, one line "syscalls NAME per-request=X total=T requests=N" followed by the
# five most frequent calls per request. Startup and shutdown calls are included (a few hundred:
# about 0.01 per request at N=20000).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
serve=${TAUT_SERVE:-$root/build/release/tools/taut-serve/taut-serve}
fetch=${TAUT_FETCH:-$root/build/release/tools/taut-fetch/taut-fetch}
requests=${TAUT_SYSCALLS_REQUESTS:-20000}
connections=${TAUT_SYSCALLS_CONNECTIONS:-10}
cases=${TAUT_SYSCALLS_CASES:-epoll epoll-proxy io_uring io_uring-proxy nginx-proxy}
log() { echo "count-syscalls: $*" >&2; }

for program in strace python3; do
  command -v "$program" >/dev/null || {
    log "$program is required (scripts/install-deps.sh installs it)"
    exit 1
  }
done
for program in "$serve" "$fetch"; do
  [[ -x $program ]] || {
    log "$program is missing: build taut-serve and taut-fetch with the release preset"
    exit 1
  }
done
nginx=$(command -v nginx || true)
[[ -z $nginx && -x /usr/sbin/nginx ]] && nginx=/usr/sbin/nginx

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${TAUT_SYSCALLS_KEEP:-} ]] && mkdir -p "$TAUT_SYSCALLS_KEEP" && cp "$work"/*.txt "$TAUT_SYSCALLS_KEEP"/ 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "nothing listens on port $1"
  return 1
}

# Stops the traced program (strace's child, not strace: strace must write its summary) and
# waits for strace to finish.
stop_traced() {
  local tracer=$1 signal=$2 child
  child=$(pgrep -P "$tracer" | head -1 || true)
  [[ -n $child ]] && kill "-$signal" "$child" 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "$tracer" 2>/dev/null || break
    sleep 0.1
  done
  kill "$tracer" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
}

summarize() {
  python3 - "$1" "$2" "$requests" <<'EOF'
import sys
name, path, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = {}
for line in open(path):
    fields = line.split()
    if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
        try:
            calls[fields[-1]] = int(fields[3])
        except ValueError:
            pass
total = sum(calls.values())
print(f"syscalls {name} per-request={total / requests:.2f} total={total} requests={requests}")
for call, count in sorted(calls.items(), key=lambda item: -item[1])[:5]:
    print(f"  {call:<16} {count / requests:6.3f} per request ({count})")
EOF
}

run_case() {
  local name=$1 io=${1%-proxy} port upstream_port tracer out=$work/$1.txt
  port=$(free_port)
  local upstream=""
  if [[ $name == *-proxy ]]; then
    upstream_port=$(free_port)
    local upstream_io=$io
    [[ $io == nginx ]] && upstream_io=epoll
    "$serve" --io "$upstream_io" --threads 1 --listen "127.0.0.1:$upstream_port" >/dev/null 2>&1 &
    upstream=$!
    pids+=("$upstream")
    wait_port "$upstream_port"
  fi
  if [[ $name == nginx-proxy ]]; then
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
$([[ $(id -u) == 0 ]] && echo "user nobody nogroup;")
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream backend {
    server 127.0.0.1:$upstream_port;
    keepalive 256;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}
EOF
    strace -c -f -o "$out" "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" >/dev/null 2>&1 &
  elif [[ -n $upstream ]]; then
    strace -c -f -o "$out" "$serve" --io "$io" --threads 1 --listen "127.0.0.1:$port" \
      --proxy "http://127.0.0.1:$upstream_port" >/dev/null 2>&1 &
  else
    strace -c -f -o "$out" "$serve" --io "$io" --threads 1 --listen "127.0.0.1:$port" \
      >/dev/null 2>&1 &
  fi
  tracer=$!
  pids+=("$tracer")
  wait_port "$port"
  timeout 300 "$fetch" -n "$requests" -c "$connections" "http://127.0.0.1:$port/plaintext" \
    >"$work/$name.fetch" 2>&1 || log "$name: taut-fetch failed: $(tail -2 "$work/$name.fetch")"
  if [[ $name == nginx-proxy ]]; then stop_traced "$tracer" QUIT; else stop_traced "$tracer" INT; fi
  if [[ -n $upstream ]]; then
    kill "$upstream" 2>/dev/null || true
    wait "$upstream" 2>/dev/null || true
  fi
  summarize "$name" "$out"
}

for name in $cases; do
  case $name in
    epoll | io_uring | epoll-proxy | io_uring-proxy) run_case "$name" ;;
    nginx-proxy)
      if [[ -z $nginx ]]; then
        log "nginx not found: skipping nginx-proxy"
      else
        run_case "$name"
      fi
      ;;
    *) log "unknown case $name" ;;
  esac
done
