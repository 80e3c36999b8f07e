#!/usr/bin/env bash
# Runs a libFuzzer campaign over taut's fuzz harnesses, in one command.
#
#   scripts/fuzz-campaign.sh [-t SECONDS] [-j JOBS] [-p PARALLEL] [-w WORKDIR] [-k] [--no-merge] [HARNESS...]
#
#   HARNESS      request, response, chunked, split, differential, ... (default: every fuzz_* target)
#   -t SECONDS   fuzzing time per harness (default 600)
#   -j JOBS      libFuzzer processes per harness (default 1; more uses libFuzzer's -fork=JOBS)
#   -p PARALLEL  harnesses fuzzed at the same time (default 1)
#   -w WORKDIR   scratch corpora and logs (default build/fuzz-campaign, git-ignored)
#   -k           keep going after a finding (libFuzzer fork mode, -ignore_crashes): one campaign
#                collects every finding instead of stopping at the first
#   --no-merge   leave corpus/ untouched at the end
#   -l           list the harnesses and exit
#
# It builds the fuzzers if needed (CMake preset `fuzz`: clang, TAUT_FUZZ=ON, build/fuzz), fuzzes each
# harness with fuzz/http.dict from corpus/<harness>/ and corpus/regressions/<harness>/ into WORKDIR,
# prints each harness's progress every TAUT_FUZZ_PROGRESS seconds (default 30): executions, exec/s,
# coverage (cov: edges, ft: features) and corpus size. At the end it merges into corpus/<harness>/
# with -merge=1 the inputs that reach new edges (the work directory keeps the full corpus, and later
# campaigns resume from it), and copies every crash, leak, timeout or OOM input to
# fuzz-triage/<harness>/ with the harness's report and taut-parse's output.
# It exits 1 if anything was found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

seconds=600
jobs=1
parallel=1
work=build/fuzz-campaign
merge=1
keep_going=0
list_only=0
harnesses=()
build=${TAUT_FUZZ_BUILD_DIR:-build/fuzz}
progress_every=${TAUT_FUZZ_PROGRESS:-30}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    -t) seconds=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -p) parallel=$2; shift 2 ;;
    -w) work=$2; shift 2 ;;
    --no-merge) merge=0; shift ;;
    -k) keep_going=1; shift ;;
    -l) list_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz-campaign: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
for n in "$seconds" "$jobs" "$parallel" "$progress_every"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-campaign: expected a positive number, got '$n'" >&2; exit 2; }
done

# --- Build -----------------------------------------------------------------------------------------
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "fuzz-campaign: configuring $build"
  if [[ $build == build/fuzz ]] && cmake --list-presets 2>/dev/null | grep -q '"fuzz"'; then
    cmake --preset fuzz >/dev/null
  else
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DTAUT_FUZZ=ON >/dev/null
  fi
fi
build=$(cd "$build" && pwd)
grep -q '^TAUT_FUZZ:BOOL=ON' "$build/CMakeCache.txt" || {
  echo "fuzz-campaign: $build is not a TAUT_FUZZ=ON build" >&2
  exit 2
}
mapfile -t available < <(cmake --build "$build" --target help 2>/dev/null |
  grep -oE '(^|[ .])fuzz_[a-z0-9_]+' | sed 's/^[ .]*fuzz_//' | sort -u)
if ((list_only)); then
  printf '%s\n' "${available[@]}"
  exit 0
fi
((${#harnesses[@]})) || harnesses=("${available[@]}")
for h in "${harnesses[@]}"; do
  printf '%s\n' "${available[@]}" | grep -qx "$h" || {
    echo "fuzz-campaign: no harness '$h' (have: ${available[*]})" >&2
    exit 2
  }
done
targets=(taut_parse)
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
echo "fuzz-campaign: building ${targets[*]}"
cmake --build "$build" --parallel 2 --target "${targets[@]}" >/dev/null
taut_parse=$(find "$build/tools" -maxdepth 1 -name taut-parse -type f 2>/dev/null | head -1)

# --- Run -------------------------------------------------------------------------------------------
mkdir -p "$work"
work=$(cd "$work" && pwd)
dict=$repo/fuzz/http.dict
declare -A pid started

start_harness() {
  local h=$1 dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  rm -f "$dir"/artifacts/*  # earlier campaigns' findings were copied to fuzz-triage/ already
  local seeds=("$repo/corpus/$h")
  [[ -d $repo/corpus/regressions/$h ]] && seeds+=("$repo/corpus/regressions/$h")
  mkdir -p "$repo/corpus/$h"
  local fork=()
  ((jobs > 1 || keep_going)) && fork=(-fork="$jobs")
  ((keep_going)) && fork+=(-ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  (
    cd "$dir"
    # Its own process group, so that an interrupted campaign stops every fork worker too.
    exec setsid "$build/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=25 -dict="$dict" \
      -artifact_prefix="$dir/artifacts/" -print_final_stats=1 "${fork[@]}" \
      "$dir/corpus" "${seeds[@]}"
  ) >"$dir/fuzz.log" 2>&1 &
  pid[$h]=$!
  started[$h]=$SECONDS
  echo "fuzz-campaign: $h started (pid ${pid[$h]}, ${seconds}s, log $dir/fuzz.log)"
}

# The last libFuzzer status line of a log, as "execs exec/s cov ft corpus".
status_of() {
  local line
  # Fork mode interleaves the workers' output, so the status may start mid-line.
  line=$(grep -oE '#[0-9]+:?[[:space:]]+([A-Z]+[[:space:]]+)?cov: [0-9]+.*' "$work/$1/fuzz.log" \
    2>/dev/null | tail -1) || true
  [[ -n $line ]] || { echo "- - - - -"; return; }
  local execs cov ft corp rate
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$line")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$line")
  corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$line")
  rate=$(sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$line")
  echo "${execs:--} ${rate:--} ${cov:--} ${ft:--} ${corp:--}"
}

print_progress() {
  local h
  for h in "$@"; do
    read -r execs rate cov ft corp <<<"$(status_of "$h")"
    local files
    files=$(find "$work/$h/corpus" -type f | wc -l)
    printf '  [%5ss] %-14s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s (%s files in work dir)\n' \
      "$((SECONDS - started[$h]))" "$h" "$execs" "$rate" "$cov" "$ft" "$corp" "$files"
  done
}

queue=("${harnesses[@]}")
running=()
stop_all() {
  local h
  for h in "${running[@]}"; do kill -TERM -- "-${pid[$h]}" 2>/dev/null || true; done
  echo "fuzz-campaign: interrupted; scratch corpora stay in $work" >&2
  exit 130
}
trap stop_all INT TERM
while ((${#queue[@]})) || ((${#running[@]})); do
  while ((${#running[@]} < parallel)) && ((${#queue[@]})); do
    start_harness "${queue[0]}"
    running+=("${queue[0]}")
    queue=("${queue[@]:1}")
  done
  for ((waited = 0; waited < progress_every; waited++)); do
    sleep 1
    still=()
    for h in "${running[@]}"; do
      if kill -0 "${pid[$h]}" 2>/dev/null; then still+=("$h"); fi
    done
    ((${#still[@]} == ${#running[@]})) || break
  done
  print_progress "${running[@]}"
  next=()
  for h in "${running[@]}"; do
    if kill -0 "${pid[$h]}" 2>/dev/null; then
      next+=("$h")
    else
      rc=0
      wait "${pid[$h]}" || rc=$?
      echo "fuzz-campaign: $h finished (exit $rc)"
    fi
  done
  running=("${next[@]}")
done
trap - INT TERM

# --- Triage, merge, summary ------------------------------------------------------------------------
# The message bytes inside a harness input, for taut-parse: split inputs carry a control header and
# chunked inputs are bare bodies.
payload_for_taut_parse() {
  local h=$1 input=$2 out=$3
  case $h in
    split)
      local control count skip mode
      control=$(od -An -tu1 -N1 "$input" | tr -d ' ')
      count=$(od -An -tu1 -j1 -N1 "$input" | tr -d ' ')
      skip=$((2 + ${count:-0} % 16))
      mode=$((${control:-0} & 3))
      if ((mode == 1)); then
        printf 'POST /triage HTTP/1.1\r\nHost: triage\r\nTransfer-Encoding: chunked\r\n\r\n' >"$out"
        tail -c +$((skip + 1)) "$input" >>"$out"
      else
        tail -c +$((skip + 1)) "$input" >"$out"
      fi
      ;;
    chunked)
      printf 'POST /triage HTTP/1.1\r\nHost: triage\r\nTransfer-Encoding: chunked\r\n\r\n' >"$out"
      cat "$input" >>"$out"
      ;;
    *) cp "$input" "$out" ;;
  esac
}

triage() {
  local h=$1 found=0 f
  for f in "$work/$h"/artifacts/{crash,leak,timeout,oom}-*; do
    [[ -e $f ]] || continue
    found=$((found + 1))
    local dest=$repo/fuzz-triage/$h name
    name=$(basename "$f")
    mkdir -p "$dest"
    cp "$f" "$dest/$name"
    {
      echo "# reproduce: $build/fuzz/fuzz_$h fuzz-triage/$h/$name"
      "$build/fuzz/fuzz_$h" -runs=1 "$f" 2>&1 | grep -vE '^(INFO|MERGE|#)' | head -80 || true
    } >"$dest/$name.report.txt"
    if [[ -n $taut_parse ]]; then
      local payload=$dest/$name.payload
      payload_for_taut_parse "$h" "$f" "$payload"
      {
        echo "# taut-parse on the message in $name ($h harness input)"
        "$taut_parse" "$payload" 2>&1 || echo "# exit $?"
        echo "# taut-parse --lenient"
        "$taut_parse" --lenient "$payload" 2>&1 || echo "# exit $?"
      } >"$dest/$name.taut-parse.txt"
    fi
    echo "fuzz-campaign: $h: $name -> fuzz-triage/$h/ (report and taut-parse output beside it)" >&2
  done
  echo "$found"
}

echo
printf '%-14s %-8s %-12s %-8s %-6s %-7s %-8s %-8s %s\n' harness result execs exec/s cov ft corpus merged found
status=0
for h in "${harnesses[@]}"; do
  log=$work/$h/fuzz.log
  read -r execs rate cov ft corp <<<"$(status_of "$h")"
  avg=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  total=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  found=$(triage "$h" | tail -1)
  added=-
  if ((merge)) && ((found == 0)); then
    before=$(find "$repo/corpus/$h" -type f | wc -l)
    # Edges only (no hit-count buckets): the committed corpus stays small and each file in it
    # reaches code no other file does; the full corpus keeps growing in the work directory.
    "$build/fuzz/fuzz_$h" -merge=1 -use_counters=0 -timeout=25 "$repo/corpus/$h" "$work/$h/corpus" \
      >"$work/$h/merge.log" 2>&1 || echo "fuzz-campaign: $h: merge failed, see $work/$h/merge.log" >&2
    added=$(($(find "$repo/corpus/$h" -type f | wc -l) - before))
  fi
  result=ok
  ((found == 0)) || { result=FOUND; status=1; }
  printf '%-14s %-8s %-12s %-8s %-6s %-7s %-8s %-8s %s\n' "$h" "$result" "${total:-$execs}" \
    "${avg:-$rate}" "$cov" "$ft" "$corp" "$added" "$found"
done
if ((status)); then
  echo "fuzz-campaign: findings are in fuzz-triage/; once fixed, keep each as corpus/regressions/<harness>/<name>"
fi
exit "$status"
