#!/usr/bin/env bash
# Benchmarks taut-serve, on its epoll and its io_uring backend, against nginx, h2o and Go's
# net/http, in one command:
#   1. installs the missing Debian packages (scripts/install-deps.sh: nginx-light, h2o, golang-go,
#      wrk, nghttp2-client for h2load, util-linux for taskset, gnuplot-nox);
#   2. finds taut-serve under build/ (or TAUT_SERVE=path), building it with the release preset if
#      it is missing or older than the sources; without a taut-serve target, the peers are
#      measured alone and the script says so;
#   3. builds the Go net/http peer (bench/load/go-peer, standard library only, offline) and the
#      LD_PRELOAD allocation counter (bench/load/alloc_counter.c) into build/bench-server;
#   4. runs bench/load/run.py: every server pinned to CPU 0 with one worker, the clients on CPU 1,
#      all on 127.0.0.1: wrk plain and pipelined (3 rounds of 5 s, the median), latency
#      percentiles with h2load at a fixed rate, memory per idle keep-alive connection (10,000 of
#      them), system calls per request (strace -c -f over 20,000 requests, plain and pipelined),
#      heap allocations per request (taut-serve, nginx, h2o);
#   5. writes into bench/results/: server-table.md (the tables, the ratios of taut to each peer,
#      the machine), server-throughput.tsv (the chart's input), server-results.tsv (every figure),
#      server-throughput.svg (bench/plot-results.sh --server) and server-output.txt (the log).
# A full run takes about 5 minutes, plus the builds the first time.
#
# Usage: bash scripts/bench-server.sh
# Environment: TAUT_SERVE (a taut-serve binary to use as is), TAUT_LOAD_ROUNDS (3),
# TAUT_LOAD_SECONDS (5 per round), TAUT_LOAD_CONNECTIONS (100), TAUT_LOAD_PIPELINE (16),
# TAUT_LOAD_SERVERS (taut,taut-uring,nginx,h2o,go), TAUT_LOAD_PHASES
# (throughput,latency,idle,syscalls,alloc), TAUT_LOAD_SYSCALL_REQUESTS (20000),
# TAUT_LOAD_LATENCY_RATE (10000 requests/s), TAUT_LOAD_IDLE_CONNECTIONS (10000),
# TAUT_LOAD_SERVER_CPUS (0) and TAUT_LOAD_CLIENT_CPUS (1) (CPU lists; one server worker per server
# CPU), TAUT_LOAD_NICE (0; negative, as root, to shield the run from other jobs), TAUT_SERVE_ARGS
# (more taut-serve flags), TAUT_LOAD_RESULTS_DIR (bench/results), TAUT_LOAD_BUILD_DIR
# (build/bench-server); the rest in bench/load/run.py.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results=${TAUT_LOAD_RESULTS_DIR:-$root/bench/results}
work=${TAUT_LOAD_BUILD_DIR:-$root/build/bench-server}
load=$root/bench/load

log() { echo "bench-server: $*" >&2; }

# shellcheck source=scripts/bench-common.sh
source "$root/scripts/bench-common.sh"

# 1. Packages.
install_missing nginx h2o go wrk h2load taskset gnuplot cc python3 strace
require wrk h2load taskset python3 strace
mkdir -p "$work" "$results"

# 2. taut-serve.
locate_taut_serve
if [[ -n $taut_serve ]]; then
  log "taut-serve: $taut_serve"
else
  log "taut-serve: SKIPPED (not built and no taut-serve target to build); measuring the peers only"
fi

# 3. The Go peer and the allocation counter.
go_peer=""
if [[ -n $(find_program go) ]]; then
  if [[ ! -x $work/go-peer || $load/go-peer/main.go -nt $work/go-peer ]]; then
    log "building the Go net/http peer"
    (cd "$load/go-peer" && env GO111MODULE=off GOPATH="$work/gopath" GOCACHE="$work/gocache" \
      GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 go build -o "$work/go-peer" main.go) ||
      log "building the Go peer failed: Go skipped"
  fi
  [[ -x $work/go-peer ]] && go_peer=$work/go-peer
fi
alloc_counter=""
if [[ ! -f $work/alloc_counter.so || $load/alloc_counter.c -nt $work/alloc_counter.so ]]; then
  cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$work/alloc_counter.so" "$load/alloc_counter.c" ||
    log "building alloc_counter.so failed: no allocation counts"
fi
[[ -f $work/alloc_counter.so ]] && alloc_counter=$work/alloc_counter.so

# 4. Measure. The servers need more than 10,000 descriptors for the idle connections.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "file-descriptor limit $(ulimit -n); running bench/load/run.py (about 5 minutes)"
status=0
timeout -k 30 1800 python3 "$load/run.py" \
  --taut-serve "$taut_serve" \
  --go-peer "$go_peer" \
  --alloc-counter "$alloc_counter" \
  --nginx "$(find_program nginx)" \
  --h2o "$(find_program h2o)" \
  --results "$results" 2>&1 | tee "$results/server-output.txt" || status=$?

# 5. The chart.
if [[ -s $results/server-throughput.tsv ]]; then
  if [[ -n $(find_program gnuplot) ]]; then
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    bash "$root/bench/plot-results.sh" --server "$results/server-throughput.tsv" \
      "$results/server-throughput.svg" \
      "${cpu_model:-unknown CPU}, Linux $(uname -r), $(date -u +%Y-%m-%d)"
  else
    log "gnuplot not found: no chart (apt-get install gnuplot-nox)"
  fi
fi
log "results in $results (server-table.md, server-throughput.svg)"
exit "$status"
