#!/usr/bin/env bash
# CI fuzz smoke run: builds the libFuzzer harnesses with clang (ASan+UBSan) and fuzzes each for a
# short, bounded time, starting from the committed corpora. Fails on any crash, failed harness check,
# leak, timeout or sanitizer report. The repository's corpus is never modified.
#
#   scripts/ci-fuzz.sh [HARNESS...]          default: every fuzz_* target
#
# Environment:
#   TAUT_CI_FUZZ_SECONDS   fuzzing time per harness (default 60)
#   TAUT_CI_FUZZ_PARALLEL  harnesses fuzzed at once (default 2, one per CI core)
#   TAUT_FUZZ_BUILD_DIR    build directory (default build/fuzz, the `fuzz` preset)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
seconds=${TAUT_CI_FUZZ_SECONDS:-60}
parallel=${TAUT_CI_FUZZ_PARALLEL:-2}
build=${TAUT_FUZZ_BUILD_DIR:-build/fuzz}

bash scripts/install-deps.sh
if [[ ! -f $build/CMakeCache.txt ]]; then
  if [[ $build == build/fuzz ]] && cmake --list-presets 2>/dev/null | grep -q '"fuzz"'; then
    cmake --preset fuzz
  else
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DTAUT_FUZZ=ON
  fi
fi
mapfile -t available < <(cmake --build "$build" --target help 2>/dev/null |
  grep -oE '(^|[ .])fuzz_[a-z0-9_]+' | sed 's/^[ .]*fuzz_//' | sort -u)
harnesses=("$@")
((${#harnesses[@]})) || harnesses=("${available[@]}")
((${#harnesses[@]})) || { echo "ci-fuzz: no fuzz_* targets in $build" >&2; exit 1; }
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
echo "ci-fuzz: building ${targets[*]}"
cmake --build "$build" --parallel 2 --target "${targets[@]}"
build=$(cd "$build" && pwd)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local h=$1 dir=$scratch/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  local seeds=()
  for d in "$repo/corpus/$h" "$repo/corpus/regressions/$h"; do [[ -d $d ]] && seeds+=("$d"); done
  # New inputs go to the scratch corpus (the first directory); the committed ones are only read.
  "$build/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
    -dict="$repo/fuzz/http.dict" -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$dir/corpus" "${seeds[@]}" >"$dir/log" 2>&1
}

# A harness failed if libFuzzer said so or any sanitizer or harness check spoke up.
failed() {
  local h=$1 rc=$2 dir=$scratch/$1
  ((rc != 0)) && return 0
  grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz check failed' "$dir/log" && return 0
  compgen -G "$dir/artifacts/*" >/dev/null && return 0
  return 1
}

declare -A pid
status=0
report() {
  local h=$1 rc=0
  wait "${pid[$h]}" || rc=$?
  local line
  line=$(grep -E '^#[0-9]+.*cov: ' "$scratch/$h/log" | tail -1 || true)
  if failed "$h" "$rc"; then
    status=1
    echo "ci-fuzz: FAIL $h (exit $rc)"
    sed -n '/ERROR:\|fuzz check failed\|runtime error:/,$p' "$scratch/$h/log" | head -80
    for f in "$scratch/$h"/artifacts/*; do
      [[ -e $f ]] || continue
      echo "ci-fuzz: $h input $(basename "$f") ($(wc -c <"$f") bytes), base64:"
      base64 -w 100 "$f" | head -40
    done
  else
    echo "ci-fuzz: ok   $h: ${line#*cov:}" | sed 's/  */ /g'
  fi
}

running=()
for h in "${harnesses[@]}"; do
  run_one "$h" &
  pid[$h]=$!
  running+=("$h")
  echo "ci-fuzz: fuzzing $h for ${seconds}s"
  if ((${#running[@]} >= parallel)); then
    report "${running[0]}"
    running=("${running[@]:1}")
  fi
done
for h in "${running[@]}"; do report "$h"; done

if ((status)); then
  echo "ci-fuzz: findings above; reproduce with $build/fuzz/fuzz_<harness> <input>, then keep the input" \
    "as corpus/regressions/<harness>/<name>"
fi
exit "$status"
