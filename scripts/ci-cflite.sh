#!/usr/bin/env bash
# Proves .clusterfuzzlite/build.sh without Docker: runs it in a simulated OSS-Fuzz / ClusterFuzzLite
# build environment, then runs what it put in $OUT the way the runner would.
#
#   scripts/ci-cflite.sh [fuzz|coverage|all]      default all: fuzz, then coverage
#
#   fuzz       the runner's variables for a libFuzzer build with ASan and UBSan: CC=clang
#              CXX=clang++, CFLAGS/CXXFLAGS with -fsanitize=address,undefined
#              -fsanitize=fuzzer-no-link, LIB_FUZZING_ENGINE=-fsanitize=fuzzer, SRC, OUT and WORK
#              in a temporary folder, llhttp's sources from Debian's node-llhttp where the
#              Dockerfile clones them ($SRC/llhttp). Then every fuzz_<harness> of
#              fuzz/CMakeLists.txt must be in $OUT with its .dict and _seed_corpus.zip, and each
#              binary fuzzes its unzipped seed corpus for TAUT_CFLITE_SECONDS (default 10); any
#              missing file, crash, sanitizer report, leak or timeout fails the run.
#   coverage   the same with the coverage build's flags (-fprofile-instr-generate
#              -fcoverage-mapping ...); each binary replays its seed corpus (-runs=0), the profiles
#              are merged with llvm-profdata and llvm-cov reports the total, as the coverage job does.
#
# Environment: TAUT_CFLITE_SECONDS (default 10), TAUT_CFLITE_KEEP=1 keeps the temporary folder.
# The repository is copied into $SRC/taut (tracked and untracked, not ignored, files), so the
# build writes nothing into the work tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what=${1:-all}
seconds=${TAUT_CFLITE_SECONDS:-10}
case $what in
  fuzz | coverage | all) ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "ci-cflite: TAUT_CFLITE_SECONDS must be a positive number" >&2; exit 2; }

bash scripts/install-deps.sh >/dev/null

llhttp_src=/usr/share/llhttp
llhttp_include=/usr/share/include/llhttp
[[ -f $llhttp_src/llhttp.c && -f $llhttp_include/llhttp.h ]] || {
  echo "ci-cflite: llhttp's sources are missing (apt-get install node-llhttp)" >&2
  exit 1
}

# Every harness fuzz/CMakeLists.txt declares must come out of the build.
mapfile -t expected < <(sed -nE 's/^[[:space:]]*taut_add_fuzzer\(([a-z0-9_]+).*/\1/p' \
  fuzz/CMakeLists.txt | sort -u)
((${#expected[@]})) || { echo "ci-cflite: no taut_add_fuzzer() in fuzz/CMakeLists.txt" >&2; exit 1; }

clang_major=$(clang --version | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -1)
pick() { command -v "$1-$clang_major" || command -v "$1"; }

root=$(mktemp -d /tmp/taut-cflite.XXXXXX)
if [[ ${TAUT_CFLITE_KEEP:-0} == 1 ]]; then
  echo "ci-cflite: keeping $root"
else
  trap 'rm -rf "$root"' EXIT
fi

# simulate_build NAME SANITIZER_FLAGS: a fresh $SRC/$OUT/$WORK under $root/NAME, the Dockerfile's
# layout, and .clusterfuzzlite/build.sh run as the runner's `compile` runs it.
simulate_build() {
  local name=$1 flags=$2 base=$root/$1
  mkdir -p "$base/src/taut" "$base/out" "$base/work" "$base/src/llhttp/src" "$base/src/llhttp/include"
  # COPY . $SRC/taut
  git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$base/src/taut"
  # RUN git clone ... llhttp $SRC/llhttp (release/v8.1.0 has the generated src/ and include/)
  cp "$llhttp_src"/{api.c,http.c,llhttp.c} "$base/src/llhttp/src/"
  cp "$llhttp_include/llhttp.h" "$base/src/llhttp/include/"
  # COPY .clusterfuzzlite/build.sh $SRC/
  cp .clusterfuzzlite/build.sh "$base/src/build.sh"
  local common="-O1 -fno-omit-frame-pointer -gline-tables-only"
  echo "ci-cflite: $name: building with CFLAGS=\"$common $flags\" (log: $base/build.log)"
  local start=$SECONDS
  if ! (cd "$base/src/taut" &&
    env CC=clang CXX=clang++ CFLAGS="$common $flags" CXXFLAGS="$common $flags" \
      LIB_FUZZING_ENGINE=-fsanitize=fuzzer FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=c++ \
      SANITIZER="$name" ARCHITECTURE=x86_64 SRC="$base/src" OUT="$base/out" WORK="$base/work" \
      bash -eu "$base/src/build.sh") >"$base/build.log" 2>&1; then
    tail -60 "$base/build.log"
    echo "ci-cflite: $name: .clusterfuzzlite/build.sh failed" >&2
    return 1
  fi
  echo "ci-cflite: $name: built in $((SECONDS - start)) s"
  local h missing=0
  for h in "${expected[@]}"; do
    local f
    for f in "fuzz_$h" "fuzz_$h.dict" "fuzz_${h}_seed_corpus.zip"; do
      [[ -s $base/out/$f ]] || { echo "ci-cflite: $name: \$OUT/$f is missing" >&2; missing=1; }
    done
    [[ -x $base/out/fuzz_$h ]] || { echo "ci-cflite: $name: \$OUT/fuzz_$h is not executable" >&2; missing=1; }
  done
  return "$missing"
}

# seeds_of NAME HARNESS: unzips the harness's seed corpus as the runner does, prints the folder.
seeds_of() {
  local dir=$root/$1/seeds/$2
  mkdir -p "$dir"
  unzip -q -o "$root/$1/out/fuzz_${2}_seed_corpus.zip" -d "$dir"
  echo "$dir"
}

status=0

if [[ $what == fuzz || $what == all ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if simulate_build address "-fsanitize=address,undefined -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"; then
    for h in "${expected[@]}"; do
      seeds=$(seeds_of address "$h")
      dir=$root/address/run/$h
      mkdir -p "$dir/corpus" "$dir/artifacts"
      rc=0
      # As the runner does: the binary, its .dict, a writable corpus, the seeds.
      "$root/address/out/fuzz_$h" -dict="$root/address/out/fuzz_$h.dict" -max_total_time="$seconds" \
        -timeout=25 -rss_limit_mb=2560 -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
        "$dir/corpus" "$seeds" >"$dir/log" 2>&1 || rc=$?
      if ((rc != 0)) || compgen -G "$dir/artifacts/*" >/dev/null ||
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|check failed' "$dir/log"; then
        status=1
        echo "ci-cflite: FAIL fuzz_$h (exit $rc)"
        sed -n '/ERROR:\|check failed\|runtime error:/,$p' "$dir/log" | head -60
      else
        echo "ci-cflite: ok   fuzz_$h: $(find "$seeds" -type f | wc -l) seeds," \
          "$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$dir/log") runs in ${seconds} s," \
          "$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$dir/log" | tail -1)"
      fi
    done
  else
    status=1
  fi
fi

if [[ $what == coverage || $what == all ]]; then
  if simulate_build coverage "-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument"; then
    profiles=$root/coverage/profiles
    mkdir -p "$profiles"
    objects=()
    for h in "${expected[@]}"; do
      seeds=$(seeds_of coverage "$h")
      rc=0
      LLVM_PROFILE_FILE="$profiles/$h.%p.profraw" "$root/coverage/out/fuzz_$h" -runs=0 "$seeds" \
        >"$root/coverage/$h.log" 2>&1 || rc=$?
      if ((rc != 0)) || ! compgen -G "$profiles/$h.*.profraw" >/dev/null; then
        status=1
        echo "ci-cflite: FAIL coverage fuzz_$h (exit $rc, profile $(compgen -G "$profiles/$h.*.profraw" || echo missing))"
        tail -20 "$root/coverage/$h.log"
        continue
      fi
      ((${#objects[@]})) && objects+=(-object)
      objects+=("$root/coverage/out/fuzz_$h")
    done
    if ((status == 0)); then
      "$(pick llvm-profdata)" merge -sparse "$profiles"/*.profraw -o "$root/coverage/merged.profdata"
      "$(pick llvm-cov)" report "${objects[@]}" -instr-profile="$root/coverage/merged.profdata" \
        "$root/coverage/src/taut/parser" "$root/coverage/src/taut/transport" \
        "$root/coverage/src/taut/server" >"$root/coverage/report.txt" 2>"$root/coverage/llvm-cov.log"
      awk '$1 == "TOTAL" { printf "ci-cflite: ok   coverage build: llvm-cov reports the seed corpora reaching %s of the lines and %s of the branches linked into the harnesses from parser/, transport/ and server/\n", $10, $13 }' \
        "$root/coverage/report.txt"
      grep -q '^TOTAL' "$root/coverage/report.txt" || { status=1; echo "ci-cflite: llvm-cov gave no report" >&2; }
    fi
  else
    status=1
  fi
fi

((status == 0)) && echo "ci-cflite: passed" || echo "ci-cflite: FAILED"
exit "$status"
