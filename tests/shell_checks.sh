# shellcheck shell=bash
# Sourced by the shell tests under tests/ (not run on its own): the pass/fail counters and checks
# they report with, and a scratch directory removed on exit after the processes the test started
# are killed (only those: the PIDs in the variables it names).

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
}

# check NAME EXPECTED ACTUAL
check() {
  if [[ "$2" == "$3" ]]; then pass; else fail "$1: expected [$2], got [$3]"; fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  if [[ "$3" == *"$2"* ]]; then pass; else fail "$1: [$2] not found in [$3]"; fi
}

# check_lacks NAME NEEDLE HAYSTACK
check_lacks() {
  if [[ "$3" != *"$2"* ]]; then pass; else fail "$1: [$2] found in [$3]"; fi
}

# scratch_with_cleanup PREFIX PID_VARIABLE...: makes the directory $scratch (/tmp/PREFIX-XXXXXX)
# and, on exit, kills the processes whose PIDs the named variables hold then (a test restarts
# its server under the same variable), and removes the directory.
scratch_with_cleanup() {
  scratch=$(mktemp -d "/tmp/$1-XXXXXX")
  shift
  cleanup_pid_variables=("$@")
  trap cleanup_scratch EXIT
}
cleanup_scratch() {
  local name pid
  for name in "${cleanup_pid_variables[@]}"; do
    pid=${!name:-}
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  rm -rf "$scratch"
}

# stop_with_sigterm VARIABLE NAME: SIGTERM to the PID in VARIABLE (a server this test started),
# then waits for it (10 s at most) and checks it exited with status 0. Once it has exited the
# variable is emptied, so the exit cleanup does not kill a PID that may have been reused.
stop_with_sigterm() {
  local variable=$1 name=$2 pid=${!1} status=
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      status=$?
      break
    fi
    sleep 0.1
  done
  if [[ -z $status ]]; then
    fail "$name still running 10 s after SIGTERM"
  else
    printf -v "$variable" '%s' ''
    check "$name exit status after SIGTERM" 0 "$status"
  fi
}

# wait_for_line FILE SED_SCRIPT PID: prints what `sed -n SED_SCRIPT FILE` prints (a port from a
# "listening on" line), once it prints anything; gives up after 30 s, or once PID has exited. (A
# process that starts at all prints its line within milliseconds; the bound is for a machine
# loaded by other builds and tests, and a process that hangs before its line still fails.)
wait_for_line() {
  local found='' deadline=$((SECONDS + 30))
  while :; do
    found=$(sed -n "$2" "$1")
    [[ -n $found ]] && break
    kill -0 "$3" 2>/dev/null || break
    ((SECONDS < deadline)) || break
    sleep 0.1
  done
  echo "$found"
}
