#!/usr/bin/env bash
# Benchmarks taut's request and response parsers against their peers, in one command:
#   1. builds the peers that come from source if they are missing (bench/peers/build-peers.sh:
#      picohttpparser from Debian's h2o source package, llhttp from node-llhttp, outside the repo);
#   2. configures and builds taut-bench (Release, TAUT_BENCH=ON) in build/bench;
#   3. runs it pinned to one core, and writes into bench/results/:
#        output.txt       Google Benchmark's report, the table and the ratio lines
#        results.json     every run, as Google Benchmark's JSON (not committed)
#        table.md         the table as Markdown, for the README
#        throughput.tsv   GB/s per input and parser
#        parser-throughput.svg  the bar chart the README shows
#   4. prints the table and the `ratio <input> <peer> <x>` lines.
#
# Usage: bash scripts/bench-parser.sh [taut-bench flags, e.g. --benchmark_filter=typical]
# Environment: TAUT_BENCH_MIN_TIME (seconds per run, default 0.05), TAUT_BENCH_REPETITIONS
# (default 5), TAUT_BENCH_CPU (core to pin to, default the last one), TAUT_BENCH_BUILD_DIR,
# TAUT_BENCH_RESULTS_DIR, TAUT_PEERS_DIR (where the peers are built), TAUT_BENCH_JOBS (default 2).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TAUT_BENCH_BUILD_DIR:-$root/build/bench}
results=${TAUT_BENCH_RESULTS_DIR:-$root/bench/results}
jobs=${TAUT_BENCH_JOBS:-2}
min_time=${TAUT_BENCH_MIN_TIME:-0.05}
repetitions=${TAUT_BENCH_REPETITIONS:-5}

log() { echo "bench-parser: $*" >&2; }

# 1. Packages and peers.
missing=0
for file in /usr/include/benchmark/benchmark.h /usr/share/llhttp/llhttp.c /usr/include/http_parser.h \
  /usr/include/boost/beast/http/parser.hpp /usr/bin/gnuplot /usr/bin/dpkg-source; do
  [[ -e $file ]] || missing=1
done
compgen -G '/usr/lib/*/libh2o-evloop.so' >/dev/null || missing=1
if [[ $missing -eq 1 ]]; then
  log "installing the missing packages (scripts/install-deps.sh)"
  bash "$root/scripts/install-deps.sh" || log "install-deps.sh failed: going on with what is there"
fi

peers_dir=""
if peers_dir=$(bash "$root/bench/peers/build-peers.sh"); then
  peers_dir=$(tail -n1 <<<"$peers_dir")
else
  log "warning: the peers built from source are unavailable; benchmarking without them"
  peers_dir=${TAUT_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taut-peers}
fi

# 2. Build.
mkdir -p "$(dirname "$build")"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAUT_BENCH=ON -DTAUT_BUILD_TESTS=OFF \
  -DTAUT_BUILD_TOOLS=OFF -DTAUT_INSTALL=OFF -DTAUT_SANITIZE=OFF -DTAUT_COVERAGE=OFF \
  -DTAUT_BENCH_PEERS_DIR="$peers_dir" >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  exit 1
}
grep 'taut-bench' "$build.configure.log" >&2 || true
cmake --build "$build" --target taut-bench -j "$jobs" >"$build.build.log" 2>&1 || {
  tail -n 50 "$build.build.log" >&2
  exit 1
}

# 3. Run, on one core so that the parsers meet the same caches and no migrations.
mkdir -p "$results"
pin=()
if command -v taskset >/dev/null; then
  cpu=${TAUT_BENCH_CPU:-$(($(nproc) - 1))}
  pin=(taskset -c "$cpu")
  log "running taut-bench pinned to CPU $cpu (1 to 2 minutes)"
else
  log "running taut-bench (1 to 2 minutes; taskset not found, not pinned)"
fi
"${pin[@]}" "$build/bench/taut-bench" \
  --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$repetitions" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$results/results.json" --benchmark_out_format=json \
  --markdown-out="$results/table.md" \
  --throughput-out="$results/throughput.tsv" \
  "$@" >"$results/output.txt" 2>&1 || {
  tail -n 30 "$results/output.txt" >&2
  exit 1
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
if command -v gnuplot >/dev/null; then
  bash "$root/bench/plot-results.sh" "$results/throughput.tsv" "$results/parser-throughput.svg" \
    "${cpu_model:-unknown CPU}, $(date -u +%Y-%m-%d)"
else
  log "gnuplot not found: no chart (apt-get install gnuplot-nox)"
fi

# 4. The table and the ratio lines.
sed -n '/^taut against each peer/,$p' "$results/output.txt"
log "results in $results"
