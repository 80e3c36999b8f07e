#!/usr/bin/env bash
# Source coverage of the parser from the fuzz corpora plus the test suite, with llvm-cov.
#
#   scripts/coverage.sh [--corpus-only]
#
# Builds with clang and TAUT_COVERAGE=ON in build/coverage (TAUT_COVERAGE_BUILD_DIR overrides),
# replays every committed corpus (corpus/<harness>/ and corpus/regressions/<harness>/) through the
# plain replay builds of the fuzz harnesses, runs the rest of ctest (unless --corpus-only), merges
# the profiles with llvm-profdata, and writes for parser/:
#   build/coverage/coverage/report.txt   llvm-cov report (per file: regions, functions, lines, branches)
#   build/coverage/coverage/html/        llvm-cov show -format=html
# and prints the line and branch coverage of parser/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
build=${TAUT_COVERAGE_BUILD_DIR:-build/coverage}
corpus_only=0
case ${1:-} in
  --corpus-only) corpus_only=1 ;;
  "") ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

# llvm-cov must read the profile format of the clang that built the code.
clang_major=$(clang --version | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -1)
pick() { command -v "$1-$clang_major" || command -v "$1"; }
profdata=$(pick llvm-profdata)
llvm_cov=$(pick llvm-cov)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DTAUT_COVERAGE=ON -DTAUT_BUILD_TESTS=ON -DTAUT_FUZZ=OFF >/dev/null
fi
grep -q '^TAUT_COVERAGE:BOOL=ON' "$build/CMakeCache.txt" || {
  echo "coverage: $build is not a TAUT_COVERAGE=ON build" >&2
  exit 2
}
echo "coverage: building $build"
cmake --build "$build" --parallel 2 >/dev/null
build=$(cd "$build" && pwd)

out=$build/coverage
profiles=$out/profiles
rm -rf "$out"
mkdir -p "$profiles"

echo "coverage: replaying the corpora"
for replay in "$build"/fuzz/fuzz_*; do
  [[ -x $replay && -f $replay ]] || continue
  h=${replay##*/fuzz_}
  dirs=()
  for d in "$repo/corpus/$h" "$repo/corpus/regressions/$h"; do [[ -d $d ]] && dirs+=("$d"); done
  ((${#dirs[@]})) || continue
  LLVM_PROFILE_FILE="$profiles/fuzz-$h-%p.profraw" "$replay" "${dirs[@]}" | sed "s/^/  $h: /"
done

tests_status=0
if ((!corpus_only)); then
  echo "coverage: running the test suite (ctest, corpus replays excluded: done above)"
  LLVM_PROFILE_FILE="$profiles/test-%p-%m.profraw" ctest --test-dir "$build" --parallel 2 -LE fuzz \
    --output-on-failure >"$out/ctest.log" 2>&1 || tests_status=$?
  grep -E "tests passed|tests failed out of" "$out/ctest.log" | sed 's/^/  /' || true
  ((tests_status == 0)) || echo "coverage: some tests failed (see $out/ctest.log); coverage still reported" >&2
fi

"$profdata" merge -sparse "$profiles"/*.profraw -o "$out/taut.profdata"

# Every instrumented executable of the build, so that code run by any of them is counted.
objects=()
while IFS= read -r f; do
  [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]] && objects+=("$f")
done < <(find "$build" -type f -perm -u+x ! -path '*/CMakeFiles/*' ! -name '*.so*' | sort)
object_args=("${objects[0]}")
for f in "${objects[@]:1}"; do object_args+=(-object "$f"); done

# Functions defined differently in several executables (each harness's LLVMFuzzerTestOneInput,
# test mains) make llvm-cov warn about "mismatched data"; the library code they share is unaffected,
# so those warnings go to a log.
"$llvm_cov" report "${object_args[@]}" -instr-profile="$out/taut.profdata" "$repo/parser" \
  >"$out/report.txt" 2>"$out/llvm-cov.log"
"$llvm_cov" show "${object_args[@]}" -instr-profile="$out/taut.profdata" -format=html \
  -show-branches=count -show-line-counts-or-regions -output-dir="$out/html" "$repo/parser" \
  2>>"$out/llvm-cov.log"

cat "$out/report.txt"
# TOTAL Regions Missed Cover Functions Missed Executed Lines Missed Cover Branches Missed Cover
awk '$1 == "TOTAL" {
  printf "\nparser/ coverage: lines %s (%d of %d), branches %s (%d of %d)\n", $10, $8 - $9, $8, $13, $11 - $12, $11
}' "$out/report.txt"
echo "coverage: HTML report in $out/html/index.html"
exit "$tests_status"
