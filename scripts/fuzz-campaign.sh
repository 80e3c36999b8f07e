#!/usr/bin/env bash
# Runs a libFuzzer campaign over taut's fuzz harnesses, in one command, from any directory.
#
#   scripts/fuzz-campaign.sh [OPTIONS] [HARNESS...] [-- LIBFUZZER-FLAG...]
#
#   HARNESS      request, response, chunked, split, differential, ... (default: every harness the
#                build has; -l lists them)
#   -t SECONDS   fuzzing time per harness (default 600)
#   -j JOBS      libFuzzer processes per harness (default 1; more uses libFuzzer's -fork=JOBS)
#   -p PARALLEL  harnesses fuzzed at the same time (default 1)
#   -w WORKDIR   scratch corpora, logs and artifacts (default build/fuzz-campaign in the repository,
#                git-ignored; a relative WORKDIR is taken from the current directory)
#   -k           keep going after a finding (libFuzzer fork mode, -ignore_crashes): one campaign
#                collects every finding instead of stopping at the first
#   -m, --merge  at the end, also merge the inputs that reach new edges into the committed
#                corpus/<harness>/ (this changes the work tree: review and commit them)
#   --no-merge   the default (new inputs stay in WORKDIR/<harness>/corpus); kept for old scripts
#   -l           list the harnesses and exit: those of the build if it is configured, otherwise
#                those fuzz/CMakeLists.txt declares (nothing is configured or built)
#   -h, --help   this help
#   -- FLAGS     passed to every libFuzzer run, e.g. -- -max_len=4096 -only_ascii=1
#
# Environment:
#   TAUT_FUZZ_BUILD_DIR  the TAUT_FUZZ=ON build to use (default build/fuzz in the repository, the
#                        `fuzz` preset, configured when missing; a relative path is taken from the
#                        current directory, and a missing one is configured with clang by hand)
#   TAUT_FUZZ_PROGRESS   seconds between progress lines (default 30)
#   TAUT_FUZZ_TIMEOUT    libFuzzer's -timeout, seconds one input may take (default 25)
#   ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS  reach the harnesses unchanged
#
# It builds the fuzzers it needs, fuzzes each harness with fuzz/http.dict from
# corpus/<harness>/ and corpus/regressions/<harness>/ into WORKDIR/<harness>/corpus (later campaigns
# resume from it), and prints each harness's progress: executions, exec/s, coverage (cov: edges,
# ft: features) and corpus size. At the end it copies every crash, leak, timeout or OOM input to
# fuzz-triage/<harness>/ (git-ignored) with the harness's report and taut-parse's output beside it,
# and prints a summary table.
#
# No finding is lost: Ctrl-C or SIGTERM stops the fuzzers and still triages; an input leaves
# WORKDIR/<harness>/artifacts/ only once it is copied to fuzz-triage/<harness>/; and inputs left there
# by a campaign killed outright (SIGKILL, a reboot) are triaged when the next campaign starts.
#
# Exit status: 0 nothing found, 1 findings (in fuzz-triage/), 2 usage or build error, 130
# interrupted (after triage).
set -euo pipefail
# All of it is one compound command, which bash reads whole before running any of it: a campaign
# lasts hours, and editing or updating this file meanwhile (git pull) must not break the running one.
{
caller=$PWD
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$(dirname "$self")/.."
repo=$PWD

usage() { sed -n '2,/^set -euo/p' "$self" | sed '$d' | sed 's/^# \{0,1\}//'; }
# A path given by the user is taken from the directory the script was started in.
from_caller() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$caller/$1" ;; esac; }

seconds=600
jobs=1
parallel=1
work=$repo/build/fuzz-campaign
merge=0
keep_going=0
list_only=0
harnesses=()
extra=()
build=$repo/build/fuzz
[[ -n ${TAUT_FUZZ_BUILD_DIR:-} ]] && build=$(from_caller "$TAUT_FUZZ_BUILD_DIR")
progress_every=${TAUT_FUZZ_PROGRESS:-30}
input_timeout=${TAUT_FUZZ_TIMEOUT:-25}

while (($#)); do
  case $1 in
    -t | -j | -p | -w)
      (($# >= 2)) || { echo "fuzz-campaign: $1 needs a value" >&2; exit 2; }
      case $1 in
        -t) seconds=$2 ;;
        -j) jobs=$2 ;;
        -p) parallel=$2 ;;
        -w) work=$(from_caller "$2") ;;
      esac
      shift 2
      ;;
    -m | --merge) merge=1; shift ;;
    --no-merge) merge=0; shift ;;
    -k) keep_going=1; shift ;;
    -l) list_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "fuzz-campaign: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
for n in "$seconds" "$jobs" "$parallel" "$progress_every" "$input_timeout"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-campaign: expected a positive number, got '$n'" >&2; exit 2; }
done

# --- Harnesses -------------------------------------------------------------------------------------
# Those fuzz/CMakeLists.txt declares (taut_add_fuzzer); a build may lack some (differential needs
# llhttp's sources, router and connection the server library).
mapfile -t declared < <(sed -nE 's/^[[:space:]]*taut_add_fuzzer\(([a-z0-9_]+).*/\1/p' \
  fuzz/CMakeLists.txt | sort -u)
built_harnesses() {
  cmake --build "$build" --target help 2>/dev/null |
    grep -oE '(^|[ .])fuzz_[a-z0-9_]+' | sed 's/^[ .]*fuzz_//' | sort -u
}
if ((list_only)); then
  if [[ -f $build/CMakeCache.txt ]]; then built_harnesses; else printf '%s\n' "${declared[@]}"; fi
  exit 0
fi
for h in "${harnesses[@]}"; do
  printf '%s\n' "${declared[@]}" | grep -qx "$h" || {
    echo "fuzz-campaign: no harness '$h' (fuzz/CMakeLists.txt declares: ${declared[*]})" >&2
    exit 2
  }
done

# --- Build -----------------------------------------------------------------------------------------
mkdir -p "$work"
work=$(cd "$work" && pwd)
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "fuzz-campaign: configuring $build (log: $work/configure.log)"
  if [[ $build == "$repo/build/fuzz" ]]; then
    configure=(cmake --preset fuzz)
  else
    configure=(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang
      -DCMAKE_CXX_COMPILER=clang++ -DTAUT_FUZZ=ON)
  fi
  "${configure[@]}" >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log" >&2
    exit 2
  }
fi
build=$(cd "$build" && pwd)
grep -q '^TAUT_FUZZ:BOOL=ON' "$build/CMakeCache.txt" || {
  echo "fuzz-campaign: $build is not a TAUT_FUZZ=ON build" >&2
  exit 2
}
mapfile -t available < <(built_harnesses)
((${#harnesses[@]})) || harnesses=("${available[@]}")
for h in "${harnesses[@]}"; do
  printf '%s\n' "${available[@]}" | grep -qx "$h" || {
    echo "fuzz-campaign: $build has no fuzz_$h (its configure step says why; have: ${available[*]})" >&2
    exit 2
  }
done
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
grep -q '^TAUT_BUILD_TOOLS:BOOL=ON' "$build/CMakeCache.txt" && targets+=(taut_parse)
echo "fuzz-campaign: building ${targets[*]} (log: $work/build.log)"
cmake --build "$build" --parallel 2 --target "${targets[@]}" >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  exit 2
}
taut_parse=$(find "$build/tools" -maxdepth 2 -name taut-parse -type f 2>/dev/null | head -1)

# --- Triage ----------------------------------------------------------------------------------------
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

# triage HARNESS: moves every artifact of WORKDIR/HARNESS/artifacts/ to fuzz-triage/HARNESS/ (copy,
# compare, and only then remove), writes the report and taut-parse's output beside each, and prints
# the number of findings (crash, leak, timeout, OOM) it moved.
triage() {
  local h=$1 found=0 f name dest=$repo/fuzz-triage/$1
  for f in "$work/$h"/artifacts/*; do
    [[ -f $f ]] || continue
    name=$(basename "$f")
    mkdir -p "$dest"
    if ! cmp -s "$f" "$dest/$name"; then
      cp "$f" "$dest/$name.partial" && mv -f "$dest/$name.partial" "$dest/$name"
    fi
    cmp -s "$f" "$dest/$name" || {
      echo "fuzz-campaign: could not copy $f to $dest; left in place" >&2
      continue
    }
    case $name in
      crash-* | leak-* | timeout-* | oom-*) found=$((found + 1)) ;;
      *) rm -f "$f"; continue ;;  # slow-unit-* and the like: kept, not findings
    esac
    {
      echo "# reproduce: $build/fuzz/fuzz_$h fuzz-triage/$h/$name"
      "$build/fuzz/fuzz_$h" -runs=1 "$dest/$name" 2>&1 | grep -vE '^(INFO|MERGE|#)' | head -80 || true
    } >"$dest/$name.report.txt"
    if [[ -n $taut_parse ]]; then
      local payload=$dest/$name.payload
      payload_for_taut_parse "$h" "$dest/$name" "$payload"
      {
        echo "# taut-parse on the message in $name ($h harness input)"
        "$taut_parse" "$payload" 2>&1 || echo "# exit $?"
        echo "# taut-parse --lenient"
        "$taut_parse" --lenient "$payload" 2>&1 || echo "# exit $?"
      } >"$dest/$name.taut-parse.txt"
    fi
    rm -f "$f"
    echo "fuzz-campaign: $h: $name -> fuzz-triage/$h/ (report and taut-parse output beside it)" >&2
  done
  echo "$found"
}

declare -A pid started found
for h in "${harnesses[@]}"; do
  found[$h]=0
  if compgen -G "$work/$h/artifacts/*" >/dev/null; then
    echo "fuzz-campaign: $h: triaging the artifacts an earlier campaign left in $work/$h/artifacts"
    found[$h]=$(triage "$h" | tail -1)
  fi
done

# --- Run -------------------------------------------------------------------------------------------
dict=$repo/fuzz/http.dict

start_harness() {
  local h=$1 dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  local seeds=() d
  for d in "$repo/corpus/$h" "$repo/corpus/regressions/$h"; do [[ -d $d ]] && seeds+=("$d"); done
  local fork=()
  ((jobs > 1 || keep_going)) && fork=(-fork="$jobs")
  ((keep_going)) && fork+=(-ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  (
    cd "$dir"
    # Its own process group, so that an interrupted campaign stops every fork worker too. New
    # inputs go to the first directory, the scratch corpus; the committed ones are only read.
    exec setsid "$build/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout="$input_timeout" \
      -dict="$dict" -artifact_prefix="$dir/artifacts/" -print_final_stats=1 "${fork[@]}" \
      "${extra[@]}" "$dir/corpus" "${seeds[@]}"
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
interrupted=0
# Ctrl-C / SIGTERM: stop the fuzzers (each is its own process group), then fall through to triage.
# shellcheck disable=SC2317  # called by the trap
on_signal() {
  ((interrupted)) && { echo "fuzz-campaign: still triaging, please wait" >&2; return; }
  interrupted=1
  local h
  for h in "${running[@]}"; do kill -TERM -- "-${pid[$h]}" 2>/dev/null || true; done
  echo "fuzz-campaign: interrupted; stopping the fuzzers, then triage" >&2
}
trap on_signal INT TERM
while ((!interrupted)) && { ((${#queue[@]})) || ((${#running[@]})); }; do
  while ((!interrupted)) && ((${#running[@]} < parallel)) && ((${#queue[@]})); do
    start_harness "${queue[0]}"
    running+=("${queue[0]}")
    queue=("${queue[@]:1}")
  done
  for ((waited = 0; waited < progress_every && !interrupted; waited++)); do
    sleep 1 || true
    still=()
    for h in "${running[@]}"; do
      if kill -0 "${pid[$h]}" 2>/dev/null; then still+=("$h"); fi
    done
    ((${#still[@]} == ${#running[@]})) || break
  done
  ((interrupted)) && break
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
if ((interrupted)); then
  # Give libFuzzer a moment to write its artifacts and final stats, then make sure it is gone.
  for h in "${running[@]}"; do
    for ((waited = 0; waited < 10; waited++)); do
      kill -0 "${pid[$h]}" 2>/dev/null || break
      sleep 1 || true
    done
    kill -KILL -- "-${pid[$h]}" 2>/dev/null || true
    wait "${pid[$h]}" 2>/dev/null || true
  done
  ((${#queue[@]})) && echo "fuzz-campaign: not started: ${queue[*]}" >&2
fi

# --- Triage, merge, summary ------------------------------------------------------------------------
echo
printf '%-14s %-8s %-12s %-8s %-6s %-7s %-8s %-8s %s\n' harness result execs exec/s cov ft corpus merged found
status=0
for h in "${harnesses[@]}"; do
  if [[ -z ${started[$h]:-} ]]; then  # interrupted before its turn
    result="not run"
    ((found[$h] == 0)) || { result=FOUND; status=1; }
    printf '%-14s %-8s %-12s %-8s %-6s %-7s %-8s %-8s %s\n' "$h" "$result" - - - - - - "${found[$h]}"
    continue
  fi
  log=$work/$h/fuzz.log
  read -r execs rate cov ft corp <<<"$(status_of "$h")"
  avg=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  total=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  found[$h]=$((found[$h] + $(triage "$h" | tail -1)))
  added=-
  if ((merge)) && ((found[$h] == 0)) && ((!interrupted)); then
    mkdir -p "$repo/corpus/$h"
    before=$(find "$repo/corpus/$h" -type f | wc -l)
    # Edges only (no hit-count buckets): the committed corpus stays small and each file in it
    # reaches code no other file does; the full corpus keeps growing in the work directory.
    "$build/fuzz/fuzz_$h" -merge=1 -use_counters=0 -timeout="$input_timeout" "$repo/corpus/$h" \
      "$work/$h/corpus" >"$work/$h/merge.log" 2>&1 ||
      echo "fuzz-campaign: $h: merge failed, see $work/$h/merge.log" >&2
    added=$(($(find "$repo/corpus/$h" -type f | wc -l) - before))
  fi
  result=ok
  ((found[$h] == 0)) || { result=FOUND; status=1; }
  ((interrupted)) && [[ $result == ok ]] && result=stopped
  printf '%-14s %-8s %-12s %-8s %-6s %-7s %-8s %-8s %s\n' "$h" "$result" "${total:-$execs}" \
    "${avg:-$rate}" "$cov" "$ft" "$corp" "$added" "${found[$h]}"
done
if ((merge)); then
  echo "fuzz-campaign: merged into corpus/<harness>/ (see 'git status'); full corpora in $work/<harness>/corpus"
else
  echo "fuzz-campaign: new inputs are in $work/<harness>/corpus (corpus/ untouched; -m merges them)"
fi
if ((status)); then
  echo "fuzz-campaign: findings are in fuzz-triage/; once fixed, keep each as corpus/regressions/<harness>/<name>"
fi
((interrupted)) && exit 130
exit "$status"
}
