#!/usr/bin/env bash
# Benchmarks taut-serve --proxy against nginx proxy_pass, both in front of the same upstream
# (taut-serve) with upstream keep-alive, and taut's client alone beside wrk:
#   1. finds taut-serve and taut-fetch under build/release (building them with the release preset
#      when missing), nginx, wrk and taskset (scripts/install-deps.sh installs them);
#   2. builds the LD_PRELOAD allocation counter (bench/load/alloc_counter.c) into
#      build/bench-proxy;
#   3. runs bench/load/proxy_run.py: the proxies pinned to CPU 0, the upstream and wrk to CPU 1,
#      plain and pipelined, requests/s and the proxy's CPU us/request with the ratios of the same
#      run; allocations per proxied request; the client alone (taut-fetch -n -c) beside wrk;
#   4. writes bench/results/proxy-table.md.
# Usage: bash scripts/bench-proxy.sh. Environment: see bench/load/proxy_run.py (TAUT_PROXY_*).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$root/build/bench-proxy
results=${TAUT_PROXY_RESULTS_DIR:-$root/bench/results}
log() { echo "bench-proxy: $*" >&2; }

for program in wrk taskset python3 cc; do
  command -v "$program" >/dev/null || {
    log "$program is required (scripts/install-deps.sh installs it)"
    exit 1
  }
done
serve=$root/build/release/tools/taut-serve/taut-serve
fetch=$root/build/release/tools/taut-fetch/taut-fetch
if [[ ! -x $serve || ! -x $fetch ]]; then
  log "building taut-serve and taut-fetch (release preset)"
  (cd "$root" && cmake --preset release >/dev/null && cmake --build build/release --target taut_serve taut_fetch)
fi
nginx=$(command -v nginx || true)
[[ -z $nginx && -x /usr/sbin/nginx ]] && nginx=/usr/sbin/nginx
mkdir -p "$work"
counter=""
if cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$work/alloc_counter.so" "$root/bench/load/alloc_counter.c"; then
  counter=$work/alloc_counter.so
else
  log "building alloc_counter.so failed: no allocation count"
fi
python3 "$root/bench/load/proxy_run.py" --taut-serve "$serve" --taut-fetch "$fetch" \
  --nginx "$nginx" --alloc-counter "$counter" --results "$results"
log "wrote $results/proxy-table.md"
