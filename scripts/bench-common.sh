#!/usr/bin/env bash
# The set-up that scripts/bench-server.sh and scripts/bench-tls.sh share, sourced by both (not run
# on its own): finding programs, installing what is missing, finding or building taut-serve.
# The sourcing script defines root (the checkout), work (its build directory) and log().
# shellcheck disable=SC2154 # root and work are the sourcing script's

# find_program NAME...: the path of the first NAME found on PATH or in /usr/sbin (nginx lives
# there and root's PATH is not everyone's); nothing if none is.
find_program() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return
    fi
    if [[ -x /usr/sbin/$name ]]; then
      echo "/usr/sbin/$name"
      return
    fi
  done
}

# install_missing ITEM...: runs scripts/install-deps.sh once if any ITEM is missing: a program
# name, or an absolute path of a file that must exist (a header). A failed install is reported and
# the run goes on with what is there; require decides what it cannot do without.
install_missing() {
  local item missing=0
  for item in "$@"; do
    if [[ $item == /* ]]; then
      [[ -f $item ]] || missing=1
    else
      [[ -n $(find_program "$item") ]] || missing=1
    fi
  done
  if [[ $missing -eq 1 ]]; then
    log "installing the missing packages (scripts/install-deps.sh)"
    bash "$root/scripts/install-deps.sh" || log "install-deps.sh failed: going on with what is there"
  fi
}

# require PROGRAM...: exits if a PROGRAM the measurement cannot do without is still missing.
require() {
  local program
  for program in "$@"; do
    [[ -n $(find_program "$program") ]] || {
      log "$program is required (scripts/install-deps.sh installs it)"
      exit 1
    }
  done
}

# find_taut_serve: the taut-serve binary under build/, the release preset's first.
find_taut_serve() {
  local candidate
  for candidate in "$root/build/release/tools/taut-serve/taut-serve" \
    "$root/build/release/tools/taut-serve" "$root/build/release/server/taut-serve"; do
    [[ -x $candidate && -f $candidate ]] && {
      echo "$candidate"
      return
    }
  done
  # No build/ at all is no error: the caller builds taut-serve or goes on without it.
  find "$root/build" -type f -name taut-serve -perm -u+x 2>/dev/null | head -n1 || true
}

# newer_sources <binary>: true if a source file of the server is newer than the binary.
newer_sources() {
  [[ -n $(find "$root/parser" "$root/transport" "$root/server" "$root/tools" \
    \( -name '*.cpp' -o -name '*.hpp' -o -name CMakeLists.txt \) -newer "$1" -print -quit 2>/dev/null) ]]
}

build_taut_serve() {
  log "building taut-serve (cmake --preset release, target taut-serve; log in $work/taut-serve.build.log)"
  if ! (cd "$root" && { [[ -f build/release/CMakeCache.txt ]] || cmake --preset release; } &&
    cmake --build --preset release --target taut-serve) >"$work/taut-serve.build.log" 2>&1; then
    if grep -qiE "unknown target|no rule to make target|target .taut-serve. .*not" \
      "$work/taut-serve.build.log"; then
      log "the build has no taut-serve target yet"
    else
      log "building taut-serve failed:"
      tail -n 20 "$work/taut-serve.build.log" >&2
    fi
    return 1
  fi
}

# locate_taut_serve: sets taut_serve to TAUT_SERVE if set (used as is), else to the binary under
# build/release, built first if it is missing or older than the sources; empty if there is none.
locate_taut_serve() {
  taut_serve=${TAUT_SERVE:-}
  if [[ -z $taut_serve ]]; then
    taut_serve=$(find_taut_serve)
    if [[ -z $taut_serve ]]; then
      build_taut_serve && taut_serve=$(find_taut_serve)
    elif [[ $taut_serve == "$root/build/release/"* ]] && newer_sources "$taut_serve"; then
      log "$taut_serve is older than the sources: rebuilding it"
      build_taut_serve || log "keeping the existing $taut_serve"
    fi
  fi
  return 0
}
