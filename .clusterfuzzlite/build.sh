#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build script. The runner provides $CC, $CXX, $CFLAGS and $CXXFLAGS
# (sanitizer and coverage flags) and $LIB_FUZZING_ENGINE; every fuzz_<harness> target of
# fuzz/CMakeLists.txt is compiled with them and copied to $OUT with the HTTP dictionary and a seed
# corpus zip made from corpus/<harness>/ and corpus/regressions/<harness>/.
cd "$SRC/taut"

# A build type CMake has no flags for, so that only the runner's CFLAGS/CXXFLAGS apply.
cmake -S . -B build-cflite -G Ninja \
  -DCMAKE_BUILD_TYPE=ClusterFuzzLite \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DTAUT_FUZZ=ON -DTAUT_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
  -DTAUT_BUILD_TESTS=OFF -DTAUT_BUILD_TOOLS=OFF -DTAUT_INSTALL=OFF -DTAUT_BENCH=OFF \
  -DTAUT_LLHTTP_SOURCE_DIR="$SRC/llhttp/src" -DTAUT_LLHTTP_INCLUDE_DIR="$SRC/llhttp/include"
cmake --build build-cflite --parallel "$(nproc)"

for fuzzer in build-cflite/fuzz/fuzz_*; do
  [[ -f $fuzzer && -x $fuzzer ]] || continue
  name=$(basename "$fuzzer")
  harness=${name#fuzz_}
  cp "$fuzzer" "$OUT/$name"
  cp fuzz/http.dict "$OUT/$name.dict"
  seeds=$(mktemp -d)
  [[ -d corpus/$harness ]] && cp corpus/"$harness"/* "$seeds"/ 2>/dev/null || true
  if [[ -d corpus/regressions/$harness ]]; then
    for f in corpus/regressions/"$harness"/*; do cp "$f" "$seeds/regression-$(basename "$f")"; done
  fi
  if compgen -G "$seeds/*" >/dev/null; then
    (cd "$seeds" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
  fi
  rm -rf "$seeds"
done
