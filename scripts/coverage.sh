#!/usr/bin/env bash
# Source coverage of every layer (parser/, transport/, server/) from the fuzz corpora and from the
# test suite, with llvm-cov.
#
#   scripts/coverage.sh [--corpus-only]
#
# Builds with clang and TAUT_COVERAGE=ON in build/coverage (TAUT_COVERAGE_BUILD_DIR overrides),
# replays every committed corpus (corpus/<harness>/ and corpus/regressions/<harness>/) through the
# plain replay builds of the fuzz harnesses, runs the rest of ctest (unless --corpus-only; the soak
# test is left out, and the hardening tests run but their time and memory bounds, meant for the
# release and asan builds, do not fail this run), merges the profiles with llvm-profdata, and writes
# to build/coverage/coverage/:
#   summary.txt      line and branch coverage per layer, from the corpora alone and from the
#                    corpora plus ctest, against the goals (also printed)
#   report.txt       lines and branches per file of the layers, corpora plus ctest
#   report-corpus.txt  the same from the corpora alone (what the harnesses reach)
#   uncovered.txt    every line no corpus input and no test reaches, per layer, file and line
#   html/index.html  llvm-cov show -format=html of the three layers, corpora plus ctest
# A layer is a top-level directory; every file under it counts (server/http1/... is server/).
#
# Environment:
#   TAUT_COVERAGE_BUILD_DIR   build directory (default build/coverage)
#   TAUT_COVERAGE_CTEST_ARGS  extra ctest arguments, e.g. "-LE hardening" for a quicker run
#   TAUT_COVERAGE_ENFORCE=1   exit 1 when a layer is below its goal (parser/ 95% lines and
#                             branches; transport/ and server/ 90% lines)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
build=${TAUT_COVERAGE_BUILD_DIR:-build/coverage}
corpus_only=0
case ${1:-} in
  --corpus-only) corpus_only=1 ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
layers=(parser transport server)

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
"$profdata" merge -sparse "$profiles"/fuzz-*.profraw -o "$out/corpus.profdata"

tests_status=0
if ((!corpus_only)); then
  echo "coverage: running the test suite (ctest, corpus replays excluded: done above)"
  read -r -a ctest_extra <<<"${TAUT_COVERAGE_CTEST_ARGS:-}"
  # %p: a child process (taut-serve under the hardening and e2e tests) writes its own profile.
  LLVM_PROFILE_FILE="$profiles/test-%p-%m.profraw" ctest --test-dir "$build" --parallel 2 \
    -LE 'fuzz|soak|hardening' "${ctest_extra[@]}" --output-on-failure >"$out/ctest.log" 2>&1 ||
    tests_status=$?
  grep -E "tests passed|tests failed out of" "$out/ctest.log" | sed 's/^/  /' || true
  ((tests_status == 0)) || echo "coverage: some tests failed (see $out/ctest.log); coverage still reported" >&2
  # The hardening tests attack taut-serve over loopback and reach transport and server paths no
  # unit test does; their time and memory bounds are for the release and asan builds, so here a
  # failure is reported and does not count.
  echo "coverage: running the hardening tests (their bounds are not judged here)"
  LLVM_PROFILE_FILE="$profiles/test-%p-%m.profraw" ctest --test-dir "$build" -L hardening \
    "${ctest_extra[@]}" --output-on-failure >"$out/ctest-hardening.log" 2>&1 ||
    echo "coverage: note: hardening tests missed their bounds in this instrumented build (see $out/ctest-hardening.log)"
  grep -E "tests passed|tests failed out of" "$out/ctest-hardening.log" | sed 's/^/  /' || true
fi
"$profdata" merge -sparse "$profiles"/*.profraw -o "$out/taut.profdata"

# Every instrumented executable of the build, so that code run by any of them is counted.
objects=()
while IFS= read -r f; do
  [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]] && objects+=("$f")
done < <(find "$build" -type f -perm -u+x ! -path '*/CMakeFiles/*' ! -path "$out/*" ! -name '*.so*' | sort)
object_args=("${objects[0]}")
for f in "${objects[@]:1}"; do object_args+=(-object "$f"); done

# Functions defined differently in several executables (each harness's LLVMFuzzerTestOneInput,
# test mains) make llvm-cov warn about "mismatched data"; the library code they share is unaffected,
# so those warnings go to a log.
cov() { "$llvm_cov" "$@" 2>>"$out/llvm-cov.log"; }
# Files outside the layers: the other top-level folders and system headers. (llvm-cov's own source
# filters miss files recorded with ".." in their paths, as a compiler launcher such as ccache
# writes them, so the layers are found here by normalised path instead.)
others=()
for d in "$repo"/*/; do
  d=$(basename "$d")
  [[ $d == build* || " ${layers[*]} " == *" $d "* ]] || others+=("$d")
done
ignore="^/usr/|/($(IFS='|'; echo "${others[*]}"))/"
for data in corpus taut; do
  cov export -summary-only "${object_args[@]}" -instr-profile="$out/$data.profdata" \
    -ignore-filename-regex="$ignore" >"$out/$data.json"
done
cov show "${object_args[@]}" -instr-profile="$out/taut.profdata" -format=html \
  -show-branches=count -show-line-counts-or-regions -ignore-filename-regex="$ignore" \
  -output-dir="$out/html"
cov show "${object_args[@]}" -instr-profile="$out/taut.profdata" -show-line-counts \
  -ignore-filename-regex="$ignore" >"$out/show.txt"

# Per layer and per file, from llvm-cov's JSON export; the uncovered lines from its text view.
below=0
python3 - "$repo" "$out" "$corpus_only" "${layers[@]}" <<'PY' || below=$?
import json, os, re, sys

repo, out, corpus_only, layers = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
goals = {"parser": (95, 95), "transport": (90, None), "server": (90, None)}

def rel(path):
    path = os.path.normpath(path)
    return os.path.relpath(path, repo) if path.startswith(repo + os.sep) else None

def layer_of(r):
    return r.split(os.sep, 1)[0] if r and r.split(os.sep, 1)[0] in layers else None

def load(name):
    files = {}
    for f in json.load(open(os.path.join(out, name + ".json")))["data"][0]["files"]:
        r = rel(f["filename"])
        if layer_of(r) is None:
            continue
        s = f["summary"]
        figures = (s["lines"]["covered"], s["lines"]["count"],
                   s["branches"]["covered"], s["branches"]["count"])
        if r not in files or figures[1] > files[r][1]:
            files[r] = figures
    return files

def pct(a, b):
    return 100.0 * a / b if b else 100.0

corpus, total = load("corpus"), load("taut")
below = False
with open(os.path.join(out, "summary.txt"), "w") as summary:
    summary.write("%-11s | %-34s | %-34s | %s\n" % ("layer", "corpora alone: lines, branches",
                  "corpora + ctest: lines, branches", "goal (corpora + ctest)"))
    for layer in layers:
        sums = []
        for files in (corpus, total):
            rows = [v for k, v in files.items() if layer_of(k) == layer]
            sums.append([sum(v[i] for v in rows) for i in range(4)])
        (cl, ct, cb, cbt), (al, at, ab, abt) = sums
        line_goal, branch_goal = goals.get(layer, (None, None))
        goal = []
        met = True
        if line_goal is not None:
            goal.append("lines >= %d%%" % line_goal)
            met = met and pct(al, at) >= line_goal
        if branch_goal is not None:
            goal.append("branches >= %d%%" % branch_goal)
            met = met and pct(ab, abt) >= branch_goal
        below = below or not met
        summary.write("%-11s | %6.2f%% (%5d/%5d) %6.2f%% (%5d/%5d) | %6.2f%% (%5d/%5d) %6.2f%% (%5d/%5d) | %s: %s\n"
                      % (layer + "/", pct(cl, ct), cl, ct, pct(cb, cbt), cb, cbt,
                         pct(al, at), al, at, pct(ab, abt), ab, abt, ", ".join(goal),
                         "met" if met else "NOT MET"))
    if corpus_only:
        summary.write('(--corpus-only: the "corpora + ctest" columns are the corpora alone)\n')

for name, files in (("report.txt", total), ("report-corpus.txt", corpus)):
    with open(os.path.join(out, name), "w") as report:
        report.write("%-60s %8s %14s %8s %14s\n" % ("file", "lines", "", "branches", ""))
        for k in sorted(files):
            l, lt, b, bt = files[k]
            report.write("%-60s %7.2f%% %6d/%-7d %7.2f%% %6d/%-7d\n" % (k, pct(l, lt), l, lt, pct(b, bt), b, bt))

# llvm-cov show: a line "<file>:" starts each file; "  <line>|  <count>|<text>" follows.
current = None
with open(os.path.join(out, "show.txt"), errors="replace") as show, \
        open(os.path.join(out, "uncovered.txt"), "w") as uncovered:
    for text in show:
        text = text.rstrip("\n")
        if text and not text[0].isspace() and text.endswith(":"):
            current = rel(text[:-1])
            continue
        m = re.match(r"^\s*(\d+)\|\s*0\|(.*)$", text)
        if m and current and layer_of(current):
            uncovered.write("%s:%s:%s\n" % (current, m.group(1), m.group(2)))
sys.exit(3 if below else 0)
PY
((below == 0 || below == 3)) || { echo "coverage: the summary failed (exit $below)" >&2; exit 1; }

echo
cat "$out/summary.txt"
for layer in "${layers[@]}"; do
  echo "coverage: $layer/: $(grep -c "^$layer/" "$out/uncovered.txt" || true) lines reached by nothing"
done
echo "coverage: those lines: $out/uncovered.txt (what the harnesses cannot reach: fuzz/README.md, Coverage)"
echo "coverage: per-file figures $out/report.txt (corpora + ctest), $out/report-corpus.txt (corpora)"
echo "coverage: HTML report in $out/html/index.html"
if ((below == 3)) && [[ ${TAUT_COVERAGE_ENFORCE:-0} == 1 ]]; then
  echo "coverage: a layer is below its goal (TAUT_COVERAGE_ENFORCE=1)" >&2
  exit 1
fi
exit "$tests_status"
