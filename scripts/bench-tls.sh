#!/usr/bin/env bash
# Benchmarks taut-serve over TLS against nginx over TLS (issue 16), in one command:
#   1. installs the missing Debian packages (scripts/install-deps.sh: nginx-light, wrk, openssl,
#      libssl-dev, util-linux for taskset);
#   2. finds taut-serve under build/ (or TAUT_SERVE=path), building it with the release preset if
#      it is missing or older than the sources, as scripts/bench-server.sh does;
#   3. builds the full-handshake load client bench/load/tls_handshakes.c (OpenSSL) into
#      build/bench-tls;
#   4. runs bench/load/tls_run.py: taut-serve (on epoll and on io_uring) and nginx, each pinned to
#      CPU 0 with one worker, the clients on CPU 1, the same ECDSA P-256 certificate (made at run
#      time) and the same TLS 1.3 suite and group: keep-alive requests/s and CPU us/request over TLS (wrk over https, handshakes
#      excluded), full TLS 1.3 handshakes per second per core (no resumption), and memory per
#      idle TLS keep-alive connection (10,000 held);
#   5. writes into bench/results/: tls-table.md (the tables and the ratios of taut to nginx),
#      tls-results.tsv (every figure) and tls-output.txt (the log, with `ratio taut ... nginx X`
#      lines).
# A run takes about 5 minutes (3 rounds of 5 s per phase and server, and the idle connections).
# With TAUT_TLS_CALLGRIND=1, tls_run.py also counts the instructions per full handshake of
# taut-serve (epoll) and nginx under callgrind (valgrind must be installed): about 2 minutes
# more, and a figure that does not depend on what else the machine runs.
#
# Usage: bash scripts/bench-tls.sh
# Environment: TAUT_SERVE (a taut-serve binary to use as is; it needs --tls-cert/--tls-key),
# TAUT_LOAD_ROUNDS (3), TAUT_LOAD_SECONDS (5), TAUT_LOAD_CONNECTIONS (100, wrk's),
# TAUT_TLS_HANDSHAKE_CONNECTIONS (32), TAUT_LOAD_IDLE_CONNECTIONS (10000), TAUT_TLS_PHASES
# (keepalive,handshakes,idle), TAUT_TLS_SERVERS (taut-tls,taut-tls-uring,nginx-tls), TAUT_TLS_SUITE (TLS_AES_128_GCM_SHA256), TAUT_TLS_GROUP (X25519),
# TAUT_LOAD_SERVER_CPUS (0), TAUT_LOAD_CLIENT_CPUS (1), TAUT_LOAD_NICE (-10 as root, else 0),
# TAUT_SERVE_ARGS, TAUT_TLS_CALLGRIND (0; 1 adds the instruction counts), TAUT_TLS_CALLGRIND_COUNTS
# (200,1000: the two runs' handshakes),
# TAUT_LOAD_RESULTS_DIR (bench/results), TAUT_LOAD_BUILD_DIR (build/bench-tls).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results=${TAUT_LOAD_RESULTS_DIR:-$root/bench/results}
work=${TAUT_LOAD_BUILD_DIR:-$root/build/bench-tls}
load=$root/bench/load

log() { echo "bench-tls: $*" >&2; }

# shellcheck source=scripts/bench-common.sh
source "$root/scripts/bench-common.sh"

# 1. Packages.
install_missing nginx wrk taskset cc python3 openssl /usr/include/openssl/ssl.h
require wrk taskset cc python3 openssl
if [[ ${TAUT_TLS_CALLGRIND:-0} == 1 || ,${TAUT_TLS_PHASES:-}, == *,callgrind,* ]]; then
  require valgrind
fi
mkdir -p "$work" "$results"

# 2. taut-serve.
locate_taut_serve
# The help is read whole first: `grep -q` stops reading at its match, and under pipefail the
# writer's SIGPIPE would then count as "no such flag".
if [[ -n $taut_serve ]] && ! grep -q -- --tls-cert <<<"$("$taut_serve" --help 2>&1)"; then
  log "$taut_serve has no --tls-cert flag (built without TLS?): measuring nginx alone"
  taut_serve=""
fi
log "taut-serve: ${taut_serve:-SKIPPED}"

# 3. The handshake client.
if [[ ! -x $work/tls_handshakes || $load/tls_handshakes.c -nt $work/tls_handshakes ]]; then
  cc -O2 -Wall -Wextra -Werror -o "$work/tls_handshakes" "$load/tls_handshakes.c" -lssl -lcrypto
fi

# 4. Measure. As root, servers and clients alike run at niceness -10 unless TAUT_LOAD_NICE says
# otherwise: on a machine shared with other jobs they would otherwise get about half of their
# cores, and the keep-alive rate would measure the other jobs (tls-table.md shows what they took).
if [[ -z ${TAUT_LOAD_NICE:-} && $EUID -eq 0 ]]; then
  export TAUT_LOAD_NICE=-10
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "file-descriptor limit $(ulimit -n); running bench/load/tls_run.py (about 5 minutes)"
status=0
timeout -k 30 1200 python3 "$load/tls_run.py" \
  --taut-serve "$taut_serve" \
  --nginx "$(find_program nginx)" \
  --handshake-tool "$work/tls_handshakes" \
  --results "$results" 2>&1 | tee "$results/tls-output.txt" || status=$?
log "results in $results (tls-table.md, tls-results.tsv)"
exit "$status"
