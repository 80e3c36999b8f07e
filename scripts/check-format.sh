#!/usr/bin/env bash
# Checks that every tracked C and C++ file is formatted with the repository's .clang-format.
#   bash scripts/check-format.sh          # check (what CI runs)
#   bash scripts/check-format.sh --fix    # reformat in place
# Vendored peer code is not ours to format: add its paths to `excluded`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

clang_format=${CLANG_FORMAT:-clang-format}
excluded='^(bench/peers/|third_party/|(.*/)?vendor/)'

mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.c' '*.h' '*.cc' '*.inc' | grep -Ev "$excluded" || true)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check-format: no C++ files tracked" >&2
  exit 1
fi

if [[ ${1:-} == --fix ]]; then
  "$clang_format" -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi

if "$clang_format" --dry-run -Werror "${files[@]}"; then
  echo "check-format: ${#files[@]} files formatted as .clang-format says ($("$clang_format" --version))"
else
  echo "check-format: files above need formatting: bash scripts/check-format.sh --fix" >&2
  exit 1
fi
