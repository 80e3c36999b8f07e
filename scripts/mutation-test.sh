#!/usr/bin/env bash
# Mutation testing of parser/: applies one small source change (a mutant) at a time to a copy of
# the tree, rebuilds the parser library and its tests under ASan + UBSan, runs the parser tests
# and records whether they notice (killed), do not (survived), or the change does not compile
# (invalid, left out of the rate). Debian packages no mutation tool; this is the small one.
#
#   scripts/mutation-test.sh [-n N] [-s SEED] [-f REGEX] [-o REPORT] [--only ID,...]
#                            [--rerun REPORT] [--at COMMIT] [--list] [-t SECONDS]
#                            [--timeout-factor F]
#
#   -n N            sample size (default 120; 0 = every mutant: hours)
#   -s SEED         seed of the sample (default 17); the same seed and sources give the same sample
#   -f REGEX        which files to mutate, matched against their repository path (default
#                   '^parser/src/'; '^parser/' adds the header-only code in parser/include/taut,
#                   whose every mutant rebuilds all the tests)
#   -o REPORT       report file (default build/mutation/report.txt)
#   --only ID,...   run these mutants only (ids as the report and --list print them)
#   --rerun REPORT  run again the survivors of an earlier report (after adding tests)
#   --at COMMIT     test that commit's tree instead of the working tree (e.g. the kill rate
#                   before some tests were added)
#   --list          print every mutant of the selected files, the sample marked, and exit
#   -t SECONDS      a fixed time limit of one test executable's run; a run over it is a hang:
#                   killed. Without it (the default) each run's limit is F times what the same
#                   run took on the unmutated sources, and at least 60 s, so a loaded machine
#                   (whose unmutated runs are slow too) does not pass for a hang; the unmutated
#                   runs themselves get 30 min. The parser tests take about 10 s under ASan.
#   --timeout-factor F   that multiple (default 5)
#
# A run over its limit is run once more with three times the limit before it counts as a hang
# (a burst of load is not a kill). SIGINT or SIGTERM stops the script cleanly: the build or test
# run in progress is killed with every process it started (each runs in a process group of its
# own), the mutated file in the copy is restored, and the script exits with 130 or 143.
#
# Operators: relational boundary (< <=, > >=), equality (== !=), logical (&& ||), arithmetic
# (+ -), integer constants +1 and -1, return true/false, ++/-- swapped, and an assignment
# statement deleted (a reset path that forgets a member). Comments, strings, character literals,
# preprocessor lines and static_assert are left alone.
#
# A mutant is killed when any of these fails or times out: taut_parser_tests (then, if it still
# passes, again with TAUT_SIMD=scalar, swar and sse42, as ctest runs it),
# taut_parser_properties, taut_parser_allocation_tests, taut_parser_c_api_test. The sanitizers
# count: an overrun that the assertions miss still kills. So do libstdc++'s own checks
# (_GLIBCXX_ASSERTIONS): a loop that reads a string_view one past its end stays inside the
# caller's buffer (the line's CR is there), where ASan sees nothing, but operator[] does.
#
# Survivors no test can kill here are listed with the reason in scripts/mutation-equivalent.txt,
# keyed by file and the line before and after (so that they survive line moves): equivalent
# mutants (no test can tell them from the original) and untestable ones (AVX-512 code, on a CPU
# without it). They are reported and left out of the rate. The summary line:
#   mutation parser killed K of V valid (P%)
# where V counts the valid mutants neither equivalent nor untestable; the next line gives the
# rate with the untestable ones counted as survivors. The survivors follow in the report as
# unified diffs.
#
# Build directory: build/mutation (the tree is copied to build/mutation/src and built, Debug with
# ASan + UBSan + _GLIBCXX_ASSERTIONS, in build/mutation/src/build/asan; ccache with
# CCACHE_NOHASHDIR keeps rebuilding an unmutated file cheap). The working tree is never modified.
# A sample of 120 takes about 20 minutes on two cores: a manual or nightly step, not CI's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 - "$PWD" "$@" <<'PY'
import argparse, io, os, random, re, shutil, signal, subprocess, sys, tarfile, time

repo = sys.argv[1]
ap = argparse.ArgumentParser(prog="scripts/mutation-test.sh", add_help=True)
ap.add_argument("-n", type=int, default=120)
ap.add_argument("-s", "--seed", type=int, default=17)
ap.add_argument("-f", "--files", default=r"^parser/src/")
ap.add_argument("-o", "--report", default=os.path.join(repo, "build/mutation/report.txt"))
ap.add_argument("--only", default="")
ap.add_argument("--rerun", default="")
ap.add_argument("--list", action="store_true")
ap.add_argument("--at", default="")
ap.add_argument("-t", "--timeout", type=float, default=0)
ap.add_argument("--timeout-factor", type=float, default=5)
args = ap.parse_args(sys.argv[2:])
if args.timeout < 0 or args.timeout_factor <= 0:
    ap.error("-t must be positive (or 0: measured) and --timeout-factor positive")

work = os.path.join(repo, "build/mutation")
copy = os.path.join(work, "src")
build = os.path.join(copy, "build/asan")
targets = ["taut_parser_tests", "taut_parser_properties", "taut_parser_allocation_tests",
           "taut_parser_c_api_test"]

# --- the mutants -------------------------------------------------------------------------------

def tree_files():
    """Path -> bytes of every file to test: the working tree's (tracked and untracked, not
    ignored), or with --at the commit's."""
    if args.at:
        archive = subprocess.run(["git", "archive", "--format=tar", args.at], cwd=repo,
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    files = {}
    for f in filter(None, listed):
        path = os.path.join(repo, f)
        if os.path.isfile(path) and not os.path.islink(path):
            files[f] = open(path, "rb").read()
    return files

tree = tree_files()

def source_files():
    pick = re.compile(args.files)
    return sorted(f for f in tree if f.startswith("parser/") and
                  re.search(r"\.(cpp|hpp|inc|h)$", f) and pick.search(f))

def code_mask(lines):
    """Per line, the columns that are code (not comment, string or character literal)."""
    masks, in_block = [], False
    for text in lines:
        mask = [False] * len(text)
        stripped = text.lstrip()
        if not in_block and (stripped.startswith("#") or "static_assert" in text):
            masks.append(mask)
            continue
        i, quote = 0, None
        while i < len(text):
            c = text[i]
            if in_block:
                if text.startswith("*/", i):
                    in_block = False
                    i += 2
                    continue
            elif quote:
                if c == "\\":
                    i += 2
                    continue
                if c == quote:
                    quote = None
            elif text.startswith("//", i):
                break
            elif text.startswith("/*", i):
                in_block = True
                i += 2
                continue
            elif c in "\"'" and not (c == "'" and i > 0 and text[i - 1].isalnum()):
                quote = c  # (a ' after a digit is a digit separator)
            else:
                mask[i] = True
            i += 1
        masks.append(mask)
    return masks

BINARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "&&": "||",
          "||": "&&", "+": "-", "-": "+"}
binary_re = re.compile(r"(?<=\s)(<=|>=|==|!=|&&|\|\||<|>|\+|-)(?=\s|$)")
int_re = re.compile(r"(?<![\w.'])(0[xX][0-9a-fA-F]+|\d+)(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU])(?![\w.'])")
bool_re = re.compile(r"\breturn (true|false);")
incdec_re = re.compile(r"\+\+|--")
assign_re = re.compile(r"^(\s*)[A-Za-z_][\w.\[\]>-]*\s*(=|\+=|-=|\|=|&=|<<=|>>=)\s[^;]*;\s*$")

def mutants_of(path):
    lines = tree[path].decode().split("\n")
    masks = code_mask(lines)
    found = []
    def add(n, col, end, new, op):
        text = lines[n]
        if not all(masks[n][col:end]):
            return
        found.append({"file": path, "line": n + 1, "col": col + 1, "op": op,
                      "before": text, "after": text[:col] + new + text[end:]})
    for n, text in enumerate(lines):
        if not any(masks[n]) or text.lstrip().startswith("template"):
            continue
        for m in binary_re.finditer(text):
            add(n, m.start(), m.end(), BINARY[m.group(1)], "binary")
        for m in int_re.finditer(text):
            digits = m.group(1)
            value = int(digits, 16 if digits[:2].lower() == "0x" else 10)
            for delta in (1, -1):
                if value + delta < 0:
                    continue
                new = hex(value + delta) if digits[:2].lower() == "0x" else str(value + delta)
                add(n, m.start(1), m.end(1), new, "constant%+d" % delta)
        for m in bool_re.finditer(text):
            new = "false" if m.group(1) == "true" else "true"
            add(n, m.start(1), m.end(1), new, "return")
        for m in incdec_re.finditer(text):
            add(n, m.start(), m.end(), "--" if m.group(0) == "++" else "++", "incdec")
        m = assign_re.match(text)
        if m and all(masks[n][len(m.group(1)):len(text.rstrip())]):
            found.append({"file": path, "line": n + 1, "col": len(m.group(1)) + 1,
                          "op": "delete", "before": text, "after": m.group(1) + ";"})
    return found

def ident(m):
    return "%s:%d:%d:%s" % (m["file"], m["line"], m["col"], m["op"])

everything = [m for f in source_files() for m in mutants_of(f)]
by_id = {ident(m): m for m in everything}

# Known survivors that no test can kill here:
#   "kind<TAB>file<TAB>line before<TAB>line after<TAB>reason", lines compared stripped; kind is
# "equivalent" (behaves as the original) or "untestable" (code this CPU cannot run: AVX-512).
known = {}
known_file = os.path.join(repo, "scripts/mutation-equivalent.txt")
if os.path.exists(known_file):
    for row in open(known_file):
        if row.strip() and not row.startswith("#"):
            kind, f, before, after, reason = row.rstrip("\n").split("\t", 4)
            assert kind in ("equivalent", "untestable"), row
            known[(f, before.strip(), after.strip())] = (kind, reason)

# AVX-512 code is known by its file (the engine instantiated for AVX-512) or by naming its
# intrinsics and types; on a CPU without AVX-512F and AVX-512BW no test here can run it.
def cpu_runs_avx512():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512f" in flags and " avx512bw" in flags

avx512_here = cpu_runs_avx512()
avx512_code = re.compile(r"_mm512_|vec512|__mmask64")

def known_survivor(m):
    listed = known.get((m["file"], m["before"].strip(), m["after"].strip()))
    if listed or avx512_here:
        return listed
    if m["file"].endswith("/avx512.cpp") or avx512_code.search(m["before"]):
        return ("untestable", "AVX-512 code, run only with TAUT_SIMD=avx512 on a CPU with "
                "AVX-512F and AVX-512BW (ctest's taut_parser_tests_on_avx512)")
    return None

if args.only or args.rerun:
    ids = [i for i in args.only.split(",") if i]
    if args.rerun:
        ids += [l.split()[1] for l in open(args.rerun) if l.startswith("survived ")]
    missing = [i for i in ids if i not in by_id]
    if missing:
        sys.exit("mutation: no such mutant in the current sources: " + ", ".join(missing))
    sample = [by_id[i] for i in ids]
else:
    sample = everything if args.n <= 0 or args.n >= len(everything) else \
        random.Random(args.seed).sample(everything, args.n)
sample.sort(key=lambda m: (m["file"], m["line"], m["col"], m["op"]))

if args.list:
    chosen = {ident(m) for m in sample}
    for m in everything:
        print("%s %s\n    - %s\n    + %s" % ("*" if ident(m) in chosen else " ", ident(m),
                                               m["before"].strip(), m["after"].strip()))
    print("mutation: %d mutants in %d files, %d sampled (seed %d)"
          % (len(everything), len(source_files()), len(sample), args.seed))
    sys.exit(0)

# --- the copy, its build, the tests -----------------------------------------------------------

def sync_copy():
    """Makes the copy hold the files under test: only those that differ are written (so the
    build stays incremental), files no longer there are removed."""
    for f, data in tree.items():
        dst = os.path.join(copy, f)
        if os.path.exists(dst) and open(dst, "rb").read() == data:
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        write_bytes(dst, data)
    for root, dirs, names in os.walk(copy):
        if root == copy and "build" in dirs:
            dirs.remove("build")
        for name in names:
            f = os.path.relpath(os.path.join(root, name), copy)
            if f not in tree:
                os.remove(os.path.join(root, name))

def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)

env = dict(os.environ)
env.setdefault("CCACHE_BASEDIR", os.path.dirname(repo))
env["CCACHE_NOHASHDIR"] = "1"
env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1:strict_string_checks=1"
env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"

# The build or test run in progress (one at a time), each the leader of a process group of its
# own: a timeout or a signal kills the group, so no compiler or test outlives it.
running = []

def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already

def run(cmd, timeout=None, extra_env=None):
    e = dict(env, **(extra_env or {}))
    p = subprocess.Popen(cmd, cwd=build, env=e, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    running.append(p)
    try:
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out.decode(errors="replace")
        except subprocess.TimeoutExpired:
            kill_group(p)
            out, _ = p.communicate()
            return "timeout", out.decode(errors="replace")
    finally:
        # Whatever ended the run (a signal's exit included): nothing it started stays behind.
        if p.returncode is None:
            kill_group(p)
            p.wait()
        running.remove(p)

def configure():
    os.makedirs(build, exist_ok=True)
    launcher = ["-DCMAKE_%s_COMPILER_LAUNCHER=ccache" % l for l in ("C", "CXX")] \
        if shutil.which("ccache") else []
    code, out = run(["cmake", "-S", copy, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Debug",
                     "-DTAUT_SANITIZE=ON", "-DCMAKE_CXX_FLAGS=-D_GLIBCXX_ASSERTIONS",
                     "-DTAUT_BUILD_SERVER=OFF", "-DTAUT_BUILD_TOOLS=OFF", "-DTAUT_INSTALL=OFF"]
                    + launcher)
    if code != 0:
        sys.exit("mutation: configure failed:\n" + out)

def rebuild(which=targets):
    return run(["cmake", "--build", build, "--parallel", "2", "--target"] + which)

def test_runs():
    tests = os.path.join(build, "tests/parser")
    gtest = ["--gtest_brief=1", "--gtest_fail_fast"]
    yield "taut_parser_tests", [os.path.join(tests, "taut_parser_tests")] + gtest, None
    yield "taut_parser_c_api_test", [os.path.join(tests, "taut_parser_c_api_test")], None
    yield "taut_parser_allocation_tests", \
        [os.path.join(tests, "taut_parser_allocation_tests")] + gtest, None
    yield "taut_parser_properties", [os.path.join(tests, "taut_parser_properties")] + gtest, None
    for path in ("scalar", "swar", "sse42"):
        yield "taut_parser_tests TAUT_SIMD=" + path, \
            [os.path.join(tests, "taut_parser_tests")] + gtest, {"TAUT_SIMD": path}

# Seconds each test run took on the unmutated sources (measured by the first first_failure()).
baseline = {}
unmutated_limit = 30 * 60

def limit_of(name):
    if args.timeout:
        return args.timeout
    if name not in baseline:
        return unmutated_limit
    return max(60.0, args.timeout_factor * baseline[name])

def first_failure():
    """The first test run that fails (name, why, output tail), or None when all pass."""
    measuring = not baseline
    for name, cmd, extra in test_runs():
        # Most mutants are killed by the first executable: the others are linked only when needed.
        if name != "taut_parser_tests" and rebuild()[0] != 0:
            return name, "does not link", ""
        limit = limit_of(name)
        t0 = time.time()
        code, out = run(cmd, timeout=limit, extra_env=extra)
        if code == "timeout" and not measuring:
            # Load, or a hang? Once more with three times the time before calling it a hang.
            code, out = run(cmd, timeout=3 * limit, extra_env=extra)
        if measuring and code == 0:
            baseline[name] = time.time() - t0
        # The C test's runner prints its tally and exits 0 either way.
        if name == "taut_parser_c_api_test" and code == 0 and " passed, 0 failed" not in out:
            code = 1
        if code != 0:
            why = "timeout (hang)" if code == "timeout" else "exit %s" % code
            return name, why, "\n".join(out.splitlines()[-8:])
    return None

def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)

results = []
current = {}

def restore():
    if current:
        write_file(current["path"], current["text"])
        current.clear()

def stop(signum, _frame):
    # Once: a second signal while stopping is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for p in list(running):
        kill_group(p)
    restore()
    print("\nmutation: stopped by signal %d; the copy holds the unmutated sources" % signum,
          file=sys.stderr, flush=True)
    sys.exit(128 + signum)  # run()'s and the loop's finally blocks reap and restore again

signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)

os.makedirs(work, exist_ok=True)
sync_copy()
configure()
print("mutation: %d mutants in the selected files, running %d (seed %d); build %s"
      % (len(everything), len(sample), args.seed, build), flush=True)
code, out = rebuild()
if code != 0:
    sys.exit("mutation: the unchanged sources do not build:\n" + out[-4000:])
failure = first_failure()
if failure:
    sys.exit("mutation: the unchanged sources fail %s (%s):\n%s" % failure)
print("mutation: time limit per test run: %s" % (
    "%g s (-t)" % args.timeout if args.timeout else
    ", ".join("%s %.0f s" % (name, limit_of(name)) for name in baseline)
    + " (%g times the unmutated run, at least 60 s)" % args.timeout_factor), flush=True)

start = time.time()
for k, m in enumerate(sample, 1):
    path = os.path.join(copy, m["file"])
    text = open(path).read()
    lines = text.split("\n")
    assert lines[m["line"] - 1] == m["before"], ident(m)
    lines[m["line"] - 1] = m["after"]
    current.update(path=path, text=text)
    t0 = time.time()
    try:
        write_file(path, "\n".join(lines))
        code, out = rebuild(targets[:1])
        if code != 0:
            status, detail = "invalid", "does not compile"
        else:
            failure = first_failure()
            status = "killed" if failure else "survived"
            detail = "%s: %s" % failure[:2] if failure else ""
    finally:
        restore()
    if status == "survived" and known_survivor(m):
        status, detail = known_survivor(m)
    results.append((m, status, detail))
    print("[%d/%d] %-10s %s %s (%.0f s)" % (k, len(sample), status, ident(m), detail,
                                            time.time() - t0), flush=True)
rebuild()  # leave the copy's build as the sources are

count = {s: sum(1 for r in results if r[1] == s)
         for s in ("killed", "survived", "invalid", "equivalent", "untestable")}
valid = count["killed"] + count["survived"]
rate = 100.0 * count["killed"] / valid if valid else 100.0
summary = "mutation parser killed %d of %d valid (%.1f%%)" % (count["killed"], valid, rate)
with_untestable = valid + count["untestable"]
summary_all = ("counting the %d untestable here as survivors: killed %d of %d (%.1f%%)"
               % (count["untestable"], count["killed"], with_untestable,
                  100.0 * count["killed"] / with_untestable if with_untestable else 100.0))
head = subprocess.run(["git", "rev-parse", "--short", args.at or "HEAD"], cwd=repo,
                      capture_output=True, text=True).stdout.strip()
os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
with open(args.report, "w") as r:
    r.write("%s\n%s\n" % (summary, summary_all))
    r.write("commit %s%s, files %r, seed %d, %d of %d mutants run; %d invalid (do not "
            "compile), %d equivalent and %d untestable on this CPU (not counted), %.0f min\n\n"
            % (head, "" if args.at else " (plus the working tree's changes)", args.files,
               args.seed, len(sample), len(everything), count["invalid"], count["equivalent"],
               count["untestable"], (time.time() - start) / 60))
    for m, status, detail in results:
        r.write("%s %s %s\n" % (status, ident(m), detail))
    for title, wanted in (("Survivors", "survived"), ("Equivalent", "equivalent"),
                          ("Untestable on this CPU", "untestable")):
        chosen = [(m, d) for m, s, d in results if s == wanted]
        if not chosen:
            continue
        r.write("\n%s\n\n" % title)
        for m, d in chosen:
            if d:
                r.write("# %s\n" % d)
            r.write("--- a/%s\n+++ b/%s\n@@ -%d +%d @@\n-%s\n+%s\n\n"
                    % (m["file"], m["file"], m["line"], m["line"], m["before"], m["after"]))
print("\n" + summary)
print(summary_all)
print("mutation: report %s (%d invalid, %d equivalent, %d untestable here)"
      % (args.report, count["invalid"], count["equivalent"], count["untestable"]))
PY
