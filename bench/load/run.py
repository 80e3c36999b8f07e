#!/usr/bin/env python3
"""The measuring half of scripts/bench-server.sh: taut-serve against nginx, h2o and Go net/http.

scripts/bench-server.sh finds or builds the programs and calls this with their paths. This starts
every server pinned to one core, drives them from the other core with the same client settings,
and writes the figures into the results directory:

  throughput   wrk -t1 -cC keep-alive, plain and pipelined, R rounds of S seconds, servers taken
               in a rotating order inside each round; the median per server and mode. Requests/s
               from wrk; the server's CPU time per request from /proc/<pid>/stat (utime + stime
               of its whole process tree over the round, divided by the requests wrk completed).
  latency      h2load --h1 at a fixed request rate well below saturation; p50, p99, p99.9 from
               its per-request log.
  idle memory  idle_hold.py opens N connections, sends one request on each, holds them idle;
               the growth of the server's RSS (VmRSS, whole tree) divided by N.
  allocations  a second instance of each C/C++ server with alloc_counter.so preloaded; the
               allocation count around two h2load runs of K1 and K2 requests on the same number
               of keep-alive connections; (count(K2) - count(K1)) / (K2 - K1) is the steady-state
               figure per request, free of connection set-up.

Every process it starts is pinned, bounded in time and stopped by PID; every socket is on
127.0.0.1. Environment (defaults in brackets): TAUT_LOAD_ROUNDS [3], TAUT_LOAD_SECONDS [5],
TAUT_LOAD_WARMUP_SECONDS [1], TAUT_LOAD_CONNECTIONS [100], TAUT_LOAD_PIPELINE [16],
TAUT_LOAD_SERVER_CPUS [0], TAUT_LOAD_CLIENT_CPUS [1] (CPU lists such as 0-3,8: each server runs
one worker thread per server CPU, wrk one thread per client CPU), TAUT_LOAD_LATENCY_RATE [10000
requests/s in all], TAUT_LOAD_LATENCY_CONNECTIONS [10], TAUT_LOAD_LATENCY_SECONDS [5],
TAUT_LOAD_IDLE_CONNECTIONS [10000], TAUT_LOAD_ALLOC_REQUESTS [20000],
TAUT_LOAD_SYSCALL_REQUESTS [20000], TAUT_LOAD_SERVERS [all: taut,taut-uring,nginx,h2o,go; taut is
taut-serve --io epoll, taut-uring taut-serve --io io_uring], TAUT_LOAD_PHASES
[throughput,latency,idle,syscalls,alloc], TAUT_LOAD_NICE [0: the
niceness of the servers and clients, and of their sessions' autogroups; a negative value (root
only) shields the measurement from other jobs on a shared machine, and the report says which was
used], TAUT_SERVE_ARGS [more
flags for taut-serve, split on spaces].
"""

import argparse
import datetime
import os
import platform
import resource
import select
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BODY = b"Hello, World!"


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


ROUNDS = env_int("TAUT_LOAD_ROUNDS", 3)
SECONDS = env_int("TAUT_LOAD_SECONDS", 5)
WARMUP_SECONDS = env_int("TAUT_LOAD_WARMUP_SECONDS", 1)
CONNECTIONS = env_int("TAUT_LOAD_CONNECTIONS", 100)
PIPELINE = env_int("TAUT_LOAD_PIPELINE", 16)


def parse_cpus(text):
    """A CPU list as taskset takes it ("0", "0-3,8") as a sorted list of CPU numbers."""
    cpus = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return sorted(cpus)


SERVER_CPUS = parse_cpus(os.environ.get("TAUT_LOAD_SERVER_CPUS", "") or "0")
CLIENT_CPUS = parse_cpus(os.environ.get("TAUT_LOAD_CLIENT_CPUS", "") or "1")
THREADS = len(SERVER_CPUS)  # server worker threads (or processes): one per server CPU
LATENCY_RATE = env_int("TAUT_LOAD_LATENCY_RATE", 10000)
LATENCY_CONNECTIONS = env_int("TAUT_LOAD_LATENCY_CONNECTIONS", 10)
LATENCY_SECONDS = env_int("TAUT_LOAD_LATENCY_SECONDS", 5)
IDLE_CONNECTIONS = env_int("TAUT_LOAD_IDLE_CONNECTIONS", 10000)
ALLOC_REQUESTS = env_int("TAUT_LOAD_ALLOC_REQUESTS", 20000)
ALLOC_CONNECTIONS = 4
NICE = env_int("TAUT_LOAD_NICE", 0)
SYSCALL_REQUESTS = env_int("TAUT_LOAD_SYSCALL_REQUESTS", 20000)
# taut-serve twice: on its epoll backend ("taut") and on io_uring ("taut-uring").
ALL_SERVERS = ["taut", "taut-uring", "nginx", "h2o", "go"]
TAUTS = ("taut", "taut-uring")
ALL_PHASES = ["throughput", "latency", "idle", "syscalls", "alloc"]
SERVERS = [s for s in os.environ.get("TAUT_LOAD_SERVERS", ",".join(ALL_SERVERS)).split(",") if s]
PHASES = [p for p in os.environ.get("TAUT_LOAD_PHASES", ",".join(ALL_PHASES)).split(",") if p]

LABELS = {
    "taut": "taut-serve epoll",
    "taut-uring": "taut-serve io_uring",
    "nginx": "nginx",
    "h2o": "h2o",
    "go": "go net/http",
}


def log(message):
    print(f"bench-server: {message}", file=sys.stderr, flush=True)


# --- /proc ---------------------------------------------------------------------------------------


def proc_stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rindex(")") + 2 :].split()


def process_tree(root):
    """root and its descendants, each as (pid, start time) so a reused PID is never mistaken."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(proc_stat_fields(entry)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tree.append((pid, proc_stat_fields(pid)[19]))
        except OSError:
            continue
        todo += children.get(pid, [])
    return tree


def cpu_times(tree):
    """(utime, stime) of every process in the tree (threads included), in seconds."""
    user = system = 0
    for pid, _ in tree:
        fields = proc_stat_fields(pid)
        user += int(fields[11])
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_seconds(tree):
    return sum(cpu_times(tree))


def rss_kib(tree):
    total = 0
    for pid, _ in tree:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def alive(pid, start_time):
    try:
        return proc_stat_fields(pid)[19] == start_time
    except OSError:
        return False


def apply_niceness():
    """In a child about to exec: TAUT_LOAD_NICE for the process and for its session's autogroup.
    With the kernel's autogroups (kernel.sched_autogroup_enabled), CPU time is shared between
    sessions first and a process's own niceness counts only inside its session, so the servers
    and clients run in sessions of their own and the niceness is set on those too."""
    if not NICE:
        return
    os.setpriority(os.PRIO_PROCESS, 0, NICE)
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(NICE))
    except OSError:
        pass  # no autogroups in this kernel


# --- servers -------------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_response(sock):
    """Reads one response with a Content-Length from sock (a plain or a TLS socket); returns
    (status, head, body, the bytes read)."""
    data = b""
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1")
            length = None
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length is not None and len(data) >= head_end + 4 + length:
                status = int(head.split(" ", 2)[1])
                return status, head, data[head_end + 4 : head_end + 4 + length], data
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a whole response")
        data += chunk


def http_exchange(port, request, timeout=2.0):
    """Sends one request on a new connection; returns (status, head, body) of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_response(sock)


def get_request(port, path="/plaintext"):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


class Server:
    """One server process (and its children), pinned to SERVER_CPUS, stopped by PID."""

    def __init__(self, name, argv, env, workdir):
        self.name = name
        self.label = LABELS[name]
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.port = None
        self.process = None
        self.tree = []
        self.response_bytes = None
        self.log_path = None

    def start(self, port, tag=""):
        self.port = port
        argv = [part.replace("@PORT@", str(port)) for part in self.argv]
        self.log_path = os.path.join(self.workdir, f"{self.name}{tag}.log")
        with open(self.log_path, "wb") as output:

            def pin_and_raise_limits():
                os.sched_setaffinity(0, SERVER_CPUS)
                apply_niceness()
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

            self.process = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=pin_and_raise_limits,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with status {self.process.returncode}")
            try:
                status, body, raw = self.probe(port)
                if status == 200 and body == BODY:
                    self.response_bytes = len(raw)
                    self.refresh_tree()
                    return
                last_error = f"answered {status} {body[:40]!r}"
            except (OSError, ValueError, IndexError) as error:
                last_error = str(error)
            time.sleep(0.1)
        raise RuntimeError(f"{self.label} not ready after 15 s ({last_error})")

    def probe(self, port):
        """One GET /plaintext, the readiness check; returns (status, body, raw response)."""
        status, _, body, raw = http_exchange(port, get_request(port))
        return status, body, raw

    def refresh_tree(self):
        self.tree = process_tree(self.process.pid)
        return self.tree

    def log_tail(self, lines=5):
        try:
            with open(self.log_path, errors="replace") as output:
                return "".join(output.readlines()[-lines:]).strip()
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.process is None:
            return
        tree = self.tree or process_tree(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(alive(p, t) for p, t in tree):
            time.sleep(0.05)
        for pid, start_time in tree:
            if alive(pid, start_time):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process = None


def make_servers(args, workdir):
    """The servers to measure, each with its command line (@PORT@ replaced at start)."""
    servers = {}
    base_env = dict(os.environ)
    for key in ("LD_PRELOAD", "TAUT_ALLOC_COUNTER_FILE"):
        base_env.pop(key, None)

    for name, backend in (("taut", "epoll"), ("taut-uring", "io_uring")):
        if name not in SERVERS:
            continue
        if args.taut_serve:
            servers[name] = Server(
                name,
                # The same room as the peers' configurations: 16,384 connections (the idle
                # measurement holds 10,000 beside wrk's) and no cap on requests per connection.
                [args.taut_serve, "--listen", "127.0.0.1:@PORT@", "--threads", str(THREADS),
                 "--max-connections", "16384", "--max-requests-per-connection", "0",
                 "--io", backend]
                + os.environ.get("TAUT_SERVE_ARGS", "").split(),
                base_env,
                workdir,
            )
        else:
            log("taut-serve: not built; measuring the peers only")

    if "nginx" in SERVERS:
        if args.nginx:
            servers["nginx"] = Server(
                "nginx", [args.nginx, "-p", "@PREFIX@", "-c", "@PREFIX@/nginx.conf"], base_env,
                workdir)
        else:
            log("nginx: not installed (apt-get install nginx-light); skipped")

    if "h2o" in SERVERS:
        if args.h2o:
            servers["h2o"] = Server("h2o", [args.h2o, "-c", "@PREFIX@/h2o.conf"], base_env, workdir)
        else:
            log("h2o: not installed (apt-get install h2o); skipped")

    if "go" in SERVERS:
        if args.go_peer:
            servers["go"] = Server("go", [args.go_peer, "-listen", "127.0.0.1:@PORT@"],
                                   dict(base_env, GOMAXPROCS=str(THREADS)), workdir)
        else:
            log("go net/http: go-peer not built (apt-get install golang-go); skipped")
    return servers


def prepare_config(server, port, tag=""):
    """Writes nginx's or h2o's configuration into a private prefix; returns the argv to run."""
    if server.name not in ("nginx", "h2o"):
        return server.argv
    prefix = os.path.join(server.workdir, f"{server.name}{tag}")
    os.makedirs(prefix, exist_ok=True)
    os.chmod(prefix, 0o755)
    if os.geteuid() == 0:
        user = "user nobody nogroup;" if server.name == "nginx" else "user: nobody"
    else:
        user = ""
    with open(os.path.join(HERE, f"{server.name}.conf.in")) as template:
        text = template.read()
    text = (text.replace("@PREFIX@", prefix).replace("@PORT@", str(port))
            .replace("@USER_DIRECTIVE@", user).replace("@THREADS@", str(THREADS)))
    with open(os.path.join(prefix, f"{server.name}.conf"), "w") as config:
        config.write(text)
    if server.name == "h2o":
        with open(os.path.join(prefix, "plaintext.txt"), "wb") as body:
            body.write(BODY)
        os.chmod(os.path.join(prefix, "plaintext.txt"), 0o644)
    return [part.replace("@PREFIX@", prefix) for part in server.argv]


def start_server(server, tag="", extra_env=None):
    port = free_port()
    argv_template = server.argv
    server.argv = prepare_config(server, port, tag)
    env_template = server.env
    if extra_env:
        server.env = dict(server.env, **extra_env)
    try:
        server.start(port, tag)
    finally:
        server.argv = argv_template
        server.env = env_template


# --- clients -------------------------------------------------------------------------------------


def client(argv):
    return ["taskset", "-c", ",".join(map(str, CLIENT_CPUS))] + argv


def client_options():
    """subprocess options for a client: with TAUT_LOAD_NICE, a session of its own at that nice."""
    return {"start_new_session": True, "preexec_fn": apply_niceness} if NICE else {}


def run_wrk(server, pipeline, seconds, scheme="http", extra_env=None):
    """One wrk run against server (scheme http or https; extra_env for wrk, e.g. its
    OPENSSL_CONF); returns a dict of its figures."""
    env = dict(os.environ, WRK_PIPELINE=str(pipeline), **(extra_env or {}))
    argv = client(["wrk", f"-t{len(CLIENT_CPUS)}", f"-c{CONNECTIONS}", f"-d{seconds}s",
                   "--timeout", "5s", "-s", os.path.join(HERE, "wrk.lua"),
                   f"{scheme}://127.0.0.1:{server.port}/plaintext"])
    tree = server.refresh_tree()
    user_before, system_before = cpu_times(tree)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 30,
                            **client_options())
    user_after, system_after = cpu_times(tree)
    server_before, server_after = user_before + system_before, user_after + system_after
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((l for l in result.stdout.splitlines() if l.startswith("wrk-result ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()[:300]}")
    figures = dict(item.split("=") for item in line.split()[1:])
    figures = {key: int(value) for key, value in figures.items()}
    requests = figures["requests"]
    wall = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors",
                                      "status_errors", "timeouts"))
    client_cpu = (client_after.ru_utime + client_after.ru_stime - client_before.ru_utime -
                  client_before.ru_stime)
    return {
        "requests": requests,
        "rps": requests / wall if wall > 0 else 0.0,
        "cpu_us": (server_after - server_before) * 1e6 / requests if requests else float("nan"),
        # The user-space part: what the server's own code costs, the kernel's TCP work aside.
        "user_us": (user_after - user_before) * 1e6 / requests if requests else float("nan"),
        "server_busy": (server_after - server_before) / wall if wall > 0 else 0.0,
        "client_busy": client_cpu / wall if wall > 0 else 0.0,
        "errors": errors,
    }


def run_h2load(argv, timeout):
    result = subprocess.run(client(["h2load", "--h1"] + argv), capture_output=True, text=True,
                            timeout=timeout, **client_options())
    summary = next((l for l in result.stdout.splitlines() if l.startswith("requests:")), "")
    statuses = next((l for l in result.stdout.splitlines() if l.startswith("status codes:")), "")
    if result.returncode != 0 or not summary:
        raise RuntimeError(f"h2load failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-300:]}")
    words = summary.replace(",", "").split()
    succeeded = int(words[words.index("succeeded") - 1])
    total = int(words[1])
    ok = int(statuses.split()[2]) if statuses else 0
    return {"total": total, "succeeded": succeeded, "2xx": ok, "stdout": result.stdout}


def count_syscalls(server, workdir, depth):
    """System calls of the whole server (every thread) over SYSCALL_REQUESTS requests on
    CONNECTIONS keep-alive connections, `depth` pipelined per write, counted by strace -c -f.
    The connections' set-up and close are counted too (the same few calls per connection for
    every server), and the count includes calls that failed (EAGAIN)."""
    tids = []
    for pid, _ in server.refresh_tree():
        tids += [t for t in os.listdir(f"/proc/{pid}/task")]
    out = os.path.join(workdir, f"strace-{server.name}-{depth}.txt")
    argv = ["strace", "-c", "-f", "-qq", "-o", out]
    for tid in tids:
        argv += ["-p", tid]
    tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached to every thread
        extra = ["-m", str(depth)] if depth > 1 else []
        run = run_h2load(["-n", str(SYSCALL_REQUESTS), "-c", str(CONNECTIONS)] + extra +
                         [f"http://127.0.0.1:{server.port}/plaintext"], timeout=600)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=60)
    calls, top = 0, []
    with open(out) as report:
        for line in report:
            fields = line.split()
            if len(fields) >= 5 and fields[0].replace(".", "").isdigit():
                if fields[-1] == "total":
                    calls = int(fields[3])
                else:
                    top.append((int(fields[3]), fields[-1]))
    if run["2xx"] != SYSCALL_REQUESTS:
        raise RuntimeError(f"{run['2xx']} of {SYSCALL_REQUESTS} requests answered 2xx")
    top.sort(reverse=True)
    return {"requests": SYSCALL_REQUESTS, "calls": calls,
            "per_request": calls / SYSCALL_REQUESTS,
            "top": ", ".join(f"{name} {count / SYSCALL_REQUESTS:.2f}" for count, name in top[:4])}


def percentile(sorted_values, fraction):
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def measure_latency(server, workdir):
    per_connection = max(1, LATENCY_RATE // LATENCY_CONNECTIONS)
    log_file = os.path.join(workdir, f"latency-{server.name}.log")
    tree = server.refresh_tree()
    before = cpu_seconds(tree)
    started = time.monotonic()
    run = run_h2load(["-c", str(LATENCY_CONNECTIONS), "--rps", str(per_connection), "-D",
                      str(LATENCY_SECONDS), "--warm-up-time", "1", "--log-file", log_file,
                      f"http://127.0.0.1:{server.port}/plaintext"],
                     timeout=LATENCY_SECONDS + 30)
    wall = time.monotonic() - started
    busy = (cpu_seconds(tree) - before) / wall
    latencies, bad = [], 0
    with open(log_file) as entries:
        for entry in entries:
            fields = entry.split()
            if len(fields) >= 3:
                if fields[1] != "200":
                    bad += 1
                latencies.append(int(fields[2]))
    if not latencies:
        raise RuntimeError("h2load logged no request")
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / LATENCY_SECONDS,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "p999": percentile(latencies, 0.999),
        "max": latencies[-1] if latencies else float("nan"),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
        "server_busy": busy,
        "errors": bad + run["total"] - run["succeeded"],
    }


def measure_idle(server, holder_args=(), env=None, ready_timeout=120, exit_timeout=30):
    """Memory per idle connection: idle_hold.py (with holder_args, in env) opens the connections;
    ready_timeout bounds their opening, exit_timeout the holder's exit."""
    tree = server.refresh_tree()
    before = rss_kib(tree)
    holder = subprocess.Popen(
        client([sys.executable, os.path.join(HERE, "idle_hold.py"), "--port", str(server.port),
                "--connections", str(IDLE_CONNECTIONS)] + list(holder_args)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, **client_options())

    def read_line(timeout):
        ready, _, _ = select.select([holder.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"idle holder silent for {timeout} s")
        return holder.stdout.readline().strip()

    try:
        ready = read_line(ready_timeout)
        if not ready.startswith("ready "):
            raise RuntimeError(f"idle holder: {ready or 'exited'}")
        figures = dict(item.split("=") for item in ready.split()[1:])
        opened = int(figures["opened"])
        if opened == 0:
            raise RuntimeError("no connection could be opened")
        time.sleep(1.0)  # let the server finish whatever it does after a response
        after = rss_kib(server.refresh_tree())
        holder.stdin.write("check\n")
        holder.stdin.flush()
        still_open = int(read_line(60).split()[1])
    finally:
        try:
            holder.stdin.close()
        except OSError:
            pass
        try:
            holder.wait(timeout=exit_timeout)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    return {
        "connections": opened,
        "failed": int(figures["failed"]),
        "open_seconds": float(figures["seconds"]),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_connection": (after - before) * 1024 / opened if opened else float("nan"),
        "still_open": still_open,
    }


COUNTER_NAMES = ["magic", "malloc", "calloc", "realloc", "aligned", "free", "bytes", "reserved"]


def read_counters(path):
    with open(path, "rb") as counters:
        data = counters.read(64)
    values = dict(zip(COUNTER_NAMES, (int.from_bytes(data[i:i + 8], "little")
                                      for i in range(0, 64, 8))))
    if values["magic"] != 0x636C6C6174756174:
        raise RuntimeError("the allocation counter file was never mapped (LD_PRELOAD ignored?)")
    values["allocations"] = (values["malloc"] + values["calloc"] + values["realloc"] +
                             values["aligned"])
    return values


def measure_allocations(server, counter_library, workdir):
    """Allocations per request for GET /plaintext and POST /echo with a 1 KiB body."""
    counter_file = os.path.join(workdir, f"alloc-{server.name}.bin")
    if os.path.exists(counter_file):
        os.remove(counter_file)
    body_file = os.path.join(workdir, "body-1k.txt")
    with open(body_file, "wb") as body:
        alphabet = (string.ascii_letters + string.digits).encode()
        body.write(bytes(alphabet[i % len(alphabet)] for i in range(1024)))
    start_server(server, "-alloc", {"LD_PRELOAD": counter_library,
                                    "TAUT_ALLOC_COUNTER_FILE": counter_file})
    try:
        # A zero count means nothing unless the counter is in the server itself (a static binary,
        # or a wrapper script that execs one, would count nothing and look allocation-free).
        for pid, _ in server.refresh_tree():
            with open(f"/proc/{pid}/maps") as maps:
                if counter_library not in maps.read():
                    raise RuntimeError(f"{os.path.basename(counter_library)} is not loaded in "
                                       f"process {pid} (a static binary?): no count")
        url = f"http://127.0.0.1:{server.port}"
        workloads = {
            "plaintext": ["-H", "accept: */*", f"{url}/plaintext"],
            "echo-1k": ["-d", body_file, "-H", "content-type: text/plain", f"{url}/echo"],
        }
        results = {}
        small = max(1000, ALLOC_REQUESTS // 4)
        for name, target in workloads.items():
            # Warm-up: pools, caches and lazily built tables reach their steady size.
            run_h2load(["-n", str(small), "-c", str(ALLOC_CONNECTIONS)] + target, timeout=120)
            snapshots = [read_counters(counter_file)]
            runs = []
            for count in (small, small + ALLOC_REQUESTS):
                run = run_h2load(["-n", str(count), "-c", str(ALLOC_CONNECTIONS)] + target,
                                 timeout=180)
                if run["2xx"] != count:
                    raise RuntimeError(f"{name}: {run['2xx']} of {count} requests answered 2xx")
                runs.append(count)
                snapshots.append(read_counters(counter_file))
            first = {k: snapshots[1][k] - snapshots[0][k] for k in snapshots[0]}
            second = {k: snapshots[2][k] - snapshots[1][k] for k in snapshots[0]}
            extra = runs[1] - runs[0]
            per_request = (second["allocations"] - first["allocations"]) / extra
            results[name] = {
                "per_request": per_request,
                "bytes_per_request": (second["bytes"] - first["bytes"]) / extra,
                "frees_per_request": (second["free"] - first["free"]) / extra,
                "per_connection":
                    (first["allocations"] - per_request * runs[0]) / ALLOC_CONNECTIONS,
                "raw_per_request": second["allocations"] / runs[1],
            }
        return results
    finally:
        server.stop()


# --- report --------------------------------------------------------------------------------------


def cpu_list(cpus):
    return ",".join(map(str, cpus))


def fmt(value, digits=0):
    if value is None or value != value:
        return "n/a"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def ratio(a, b, digits=2):
    if not a or not b or a != a or b != b:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def idle_table(names, idle):
    """The memory-per-idle-connection table: its head and a row per server measured."""
    lines = ["| server | connections | RSS before KiB | RSS after KiB | bytes per connection "
             "| still open |", "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        if name in idle:
            i = idle[name]
            lines.append(f"| {LABELS[name]} | {fmt(i['connections'])} | "
                         f"{fmt(i['rss_before_kib'])} | {fmt(i['rss_after_kib'])} | "
                         f"{fmt(i['bytes_per_connection'])} | {fmt(i['still_open'])} |")
    return lines


def problems_section(problems):
    """The report's closing section listing what went wrong; nothing when all went well."""
    if not problems:
        return []
    return ["## Problems in this run", ""] + [f"- {p}" for p in problems] + [""]


def machine_line():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def tool_versions(args):
    versions = {}

    def first_line(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (out.stdout + out.stderr).strip().splitlines()
            return text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    if args.nginx:
        versions["nginx"] = first_line([args.nginx, "-v"])
    if args.h2o:
        versions["h2o"] = first_line([args.h2o, "--version"])
    if args.go_peer:
        versions["go"] = first_line(["go", "version"])
    versions["wrk"] = first_line(["wrk", "--version"]).split(" [")[0]
    versions["h2load"] = first_line(["h2load", "--version"])
    return versions


def main():
    parser = argparse.ArgumentParser(description="taut-serve against nginx, h2o and Go net/http")
    parser.add_argument("--taut-serve", default="", help="taut-serve binary ('' to skip taut)")
    parser.add_argument("--go-peer", default="", help="the Go net/http peer binary")
    parser.add_argument("--alloc-counter", default="", help="alloc_counter.so")
    parser.add_argument("--nginx", default="", help="nginx binary")
    parser.add_argument("--h2o", default="", help="h2o binary")
    parser.add_argument("--results", required=True, help="directory for server-* results")
    args = parser.parse_args()

    os.makedirs(args.results, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="taut-bench-server.")
    os.chmod(workdir, 0o755)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = open("/proc/loadavg").read().split()[:3]
    servers = make_servers(args, workdir)
    running = []

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)

    throughput = {}  # (server, mode) -> list of runs
    latency, idle, allocations, problems = {}, {}, {}, []
    syscalls = {}  # (server, mode) -> count_syscalls()
    modes = [("plain", 1), (f"pipelined", PIPELINE)]
    try:
        for name, server in list(servers.items()):
            try:
                start_server(server)
                running.append(server)
                log(f"{server.label}: ready on 127.0.0.1:{server.port} (pid {server.process.pid}, "
                    f"{server.response_bytes}-byte response)")
            except (RuntimeError, OSError) as error:
                problems.append(f"{server.label} did not start: {error}")
                log(f"{server.label}: did not start: {error}\n{server.log_tail()}")
                server.stop()
                del servers[name]

        dead = set()

        def still_running(server, phase):
            """False, and reported once, if the server has exited."""
            if server.name in dead:
                return False
            if server.process.poll() is None:
                return True
            dead.add(server.name)
            problems.append(f"{server.label} exited (status {server.process.returncode}) before "
                            f"the {phase} measurement: {server.log_tail(2)}")
            log(problems[-1])
            return False

        if "throughput" in PHASES and running:
            estimate = len(running) * len(modes) * (ROUNDS * SECONDS + WARMUP_SECONDS)
            log(f"throughput: {len(running)} servers x {len(modes)} modes x {ROUNDS} rounds of "
                f"{SECONDS} s (about {estimate} s)")
            for server in running:
                for mode, depth in modes:
                    if WARMUP_SECONDS > 0 and server.process.poll() is None:
                        try:
                            run_wrk(server, depth, WARMUP_SECONDS)
                        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                            log(f"{server.label} warm-up: {error}")
            for round_index in range(ROUNDS):
                order = running[round_index % len(running):] + running[:round_index % len(running)]
                for mode, depth in modes:
                    for server in order:
                        if not still_running(server, f"{mode} round {round_index + 1}"):
                            continue
                        try:
                            figures = run_wrk(server, depth, SECONDS)
                        except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                            if not still_running(server, f"{mode} round {round_index + 1}"):
                                continue
                            problems.append(
                                f"{server.label} {mode} round {round_index + 1}: {error}")
                            log(problems[-1])
                            continue
                        throughput.setdefault((server.name, mode), []).append(figures)
                        log(f"round {round_index + 1} {mode:9} {server.label:12} "
                            f"{figures['rps']:>11,.0f} req/s {figures['cpu_us']:6.2f} us/req "
                            f"(user {figures['user_us']:5.2f}) "
                            f"server {figures['server_busy'] * 100:3.0f}% "
                            f"wrk {figures['client_busy'] * 100:3.0f}%"
                            + (f" errors {figures['errors']}" if figures["errors"] else ""))

        if "latency" in PHASES:
            for server in running:
                if not still_running(server, "latency"):
                    continue
                try:
                    latency[server.name] = measure_latency(server, workdir)
                    l = latency[server.name]
                    log(f"latency {server.label:12} at {l['rate']:,.0f} req/s: p50 {l['p50']} us, "
                        f"p99 {l['p99']} us, p99.9 {l['p999']} us, max {l['max']} us "
                        f"(server {l['server_busy'] * 100:.0f}% busy)")
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                    problems.append(f"{server.label} latency: {error}")
                    log(problems[-1])

        if "idle" in PHASES:
            for server in running:
                if not still_running(server, "idle-memory"):
                    continue
                try:
                    idle[server.name] = measure_idle(server)
                    i = idle[server.name]
                    log(f"idle {server.label:12} {i['connections']} connections: RSS "
                        f"{i['rss_before_kib']} -> {i['rss_after_kib']} KiB, "
                        f"{i['bytes_per_connection']:.0f} bytes each, {i['still_open']} still open")
                except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as error:
                    problems.append(f"{server.label} idle memory: {error}")
                    log(problems[-1])

        if "syscalls" in PHASES:
            for server in running:
                for mode, depth in modes:
                    if not still_running(server, f"syscalls {mode}"):
                        continue
                    try:
                        c = count_syscalls(server, workdir, depth)
                        syscalls[(server.name, mode)] = c
                        log(f"syscalls {server.label:12} {mode:9}: {c['per_request']:.3f} per "
                            f"request ({c['calls']} over {c['requests']}: {c['top']})")
                    except (RuntimeError, OSError, ValueError,
                            subprocess.TimeoutExpired) as error:
                        problems.append(f"{server.label} syscalls {mode}: {error}")
                        log(problems[-1])

        for server in running:
            server.stop()
        running = []

        if "alloc" in PHASES:
            if not args.alloc_counter:
                log("allocations: alloc_counter.so not built; skipped")
            for name in ("taut", "taut-uring", "nginx", "h2o"):
                if name not in servers or not args.alloc_counter:
                    continue
                server = servers[name]
                try:
                    allocations[name] = measure_allocations(server, args.alloc_counter, workdir)
                    for workload, a in allocations[name].items():
                        log(f"allocations {server.label:12} {workload:9}: "
                            f"{fmt(a['per_request'], 2)} per request "
                            f"({fmt(a['bytes_per_request'])} bytes), "
                            f"{a['per_connection']:.1f} per connection")
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                    problems.append(f"{server.label} allocations: {error}")
                    log(problems[-1] + "\n" + server.log_tail())
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        problems.append("interrupted")
    finally:
        for server in running:
            server.stop()

    load_at_end = open("/proc/loadavg").read().split()[:3]
    write_results(args, servers, modes, throughput, latency, idle, allocations, problems,
                  started_at, load_at_start, load_at_end, workdir, syscalls)
    subprocess.run(["rm", "-rf", "--", workdir], check=False)
    return 1 if "interrupted" in problems else 0


def median_of(runs, key):
    return statistics.median(run[key] for run in runs) if runs else float("nan")


def write_results(args, servers, modes, throughput, latency, idle, allocations, problems,
                  started_at, load_at_start, load_at_end, workdir, syscalls):
    names = [n for n in ALL_SERVERS if n in servers]
    peers = [n for n in names if n not in TAUTS]
    tauts = [n for n in names if n in TAUTS]
    medians = {}
    for name in names:
        for mode, _ in modes:
            runs = throughput.get((name, mode), [])
            medians[(name, mode)] = {key: median_of(runs, key) for key in
                                     ("rps", "cpu_us", "user_us", "server_busy", "client_busy")}
            medians[(name, mode)]["runs"] = len(runs)
            medians[(name, mode)]["errors"] = sum(r["errors"] for r in runs)
            medians[(name, mode)]["spread"] = (
                (max(r["rps"] for r in runs) - min(r["rps"] for r in runs)) /
                statistics.median(r["rps"] for r in runs) if runs else float("nan"))

    versions = tool_versions(args)
    pipelined = f"pipelined ({PIPELINE} per write)"
    md = []
    md.append("# taut-serve against nginx, h2o and Go net/http")
    md.append("")
    md.append(f"Measured by `scripts/bench-server.sh` on {started_at:%Y-%m-%d %H:%M} UTC: "
              f"{machine_line()}; load average {' '.join(load_at_start)} at the start and "
              f"{' '.join(load_at_end)} at the end (a shared machine: other jobs ran too, which "
              f"is why CPU time per request, not requests/s, is the steadier figure).")
    threads = "one worker thread" if THREADS == 1 else f"{THREADS} worker threads"
    md.append(f"Each server pinned to CPU {cpu_list(SERVER_CPUS)} with {threads}, the client to "
              f"CPU {cpu_list(CLIENT_CPUS)}; `wrk -t{len(CLIENT_CPUS)} -c{CONNECTIONS}` with "
              f"keep-alive, "
              f"plain and with "
              f"{PIPELINE} requests pipelined per write, GET /plaintext (`Hello, World!`, "
              f"text/plain); {ROUNDS} rounds of {SECONDS} s in rotating server order, the median. "
              f"CPU time per request is the server's utime + stime (whole process tree, "
              f"/proc/<pid>/stat) over a round divided by the requests completed."
              + (f" Servers and clients ran at niceness {NICE} (TAUT_LOAD_NICE; their own "
                 f"sessions, autogroup niceness too) to keep the machine's other jobs from "
                 f"taking their cores." if NICE else ""))
    md.append("")
    md.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in versions.items()) + ".")
    md.append("")

    md.append("## taut against each peer (same run)")
    md.append("")
    if tauts:
        md.append("Ratio = taut / peer: requests/s above 1 and CPU per request below 1 favour "
                  "taut.")
        md.append("")
        md.append(f"| taut / peer | plain req/s | plain CPU/req | {pipelined} req/s | "
                  f"{pipelined} CPU/req |")
        md.append("|---|---:|---:|---:|---:|")
        for taut in tauts:
            for peer in peers + ([t for t in tauts if t != taut] if taut != "taut" else []):
                cells = []
                for mode, _ in modes:
                    t, p = medians[(taut, mode)], medians[(peer, mode)]
                    cells += [ratio(t["rps"], p["rps"]), ratio(t["cpu_us"], p["cpu_us"])]
                md.append(f"| {LABELS[taut]} / {LABELS[peer]} | " + " | ".join(cells) + " |")
    else:
        md.append("taut-serve was not built when this ran, so there are no ratios yet; the peers' "
                  "figures are below.")
    md.append("")

    md.append("## Requests/s and CPU time per request (medians)")
    md.append("")
    md.append("| server | plain req/s | plain CPU us/req | of which user | server busy | "
              f"wrk busy | {pipelined} req/s | CPU us/req | of which user | server busy | "
              f"wrk busy | response bytes |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        cells = []
        for mode, _ in modes:
            m = medians[(name, mode)]
            cells += [fmt(m["rps"]), fmt(m["cpu_us"], 2), fmt(m["user_us"], 2),
                      fmt(m["server_busy"] * 100) + "%", fmt(m["client_busy"] * 100) + "%"]
        md.append(f"| {LABELS[name]} | " + " | ".join(cells) +
                  f" | {servers[name].response_bytes or 'n/a'} |")
    md.append("")
    md.append("\"of which user\" is the part of the CPU time spent in user space (utime), the "
              "server's own code; the rest is the kernel's work for it (system calls, loopback "
              "TCP). \"server busy\" is the server's CPU time over wall time (100% = its core "
              "saturated); "
              "\"wrk busy\" the same for the client: where wrk is near 100% and the server is not, "
              "the client was the bottleneck and requests/s understates the server. "
              "\"response bytes\" is the whole response to GET /plaintext (head and body).")
    md.append("")

    if latency:
        md.append(f"## Latency at {LATENCY_RATE:,} requests/s")
        md.append("")
        md.append(f"`h2load --h1 -c {LATENCY_CONNECTIONS} "
                  f"--rps {LATENCY_RATE // LATENCY_CONNECTIONS}"
                  f" -D {LATENCY_SECONDS} --warm-up-time 1`, GET /plaintext, one request at a "
                  f"time per connection; percentiles of every request's time from h2load's log.")
        md.append("")
        md.append("| server | requests | p50 us | p99 us | p99.9 us | max us | server busy |")
        md.append("|---|---:|---:|---:|---:|---:|---:|")
        for name in names:
            if name in latency:
                l = latency[name]
                md.append(f"| {LABELS[name]} | {fmt(l['requests'])} | {fmt(l['p50'])} | "
                          f"{fmt(l['p99'])} | {fmt(l['p999'])} | {fmt(l['max'])} | "
                          f"{fmt(l['server_busy'] * 100)}% |")
        md.append("")

    if idle:
        md.append(f"## Memory per idle keep-alive connection")
        md.append("")
        md.append(f"`bench/load/idle_hold.py` opens {IDLE_CONNECTIONS:,} connections, sends one "
                  f"GET "
                  f"on each, reads the response and holds them idle; growth of the server's VmRSS "
                  f"(whole process tree, user-space memory; socket buffers are kernel memory and "
                  f"not counted) divided by the connections held.")
        md.append("")
        md += idle_table(names, idle)
        md.append("")

    if syscalls:
        md.append("## System calls per request")
        md.append("")
        md.append(f"`strace -c -f` attached to every thread of the server while `h2load --h1 "
                  f"-n {SYSCALL_REQUESTS:,} -c {CONNECTIONS}` (plain, one request at a time per "
                  f"keep-alive connection) or with `-m {PIPELINE}` (pipelined) runs against it, "
                  f"GET /plaintext: every system call of the server over the run (failed ones "
                  f"too, and the {CONNECTIONS} connections' accept and close) divided by the "
                  f"requests. strace slows the server down; the count is what matters here.")
        md.append("")
        md.append("| server | plain calls/req | the most frequent (per request) | "
                  f"{pipelined} calls/req | the most frequent |")
        md.append("|---|---:|---|---:|---|")
        for name in names:
            cells = []
            for mode, _ in modes:
                c = syscalls.get((name, mode))
                cells += [fmt(c["per_request"], 3), c["top"]] if c else ["-", "-"]
            md.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
        md.append("")

    if allocations:
        md.append("## Heap allocations per request (steady state)")
        md.append("")
        md.append(f"`bench/load/alloc_counter.so` preloaded (counts malloc, calloc, realloc and "
                  f"the aligned allocators); after a warm-up, h2load sends K and "
                  f"K + {ALLOC_REQUESTS:,} "
                  f"requests on {ALLOC_CONNECTIONS} new keep-alive connections; the difference of "
                  f"the two counts over {ALLOC_REQUESTS:,} is the figure per request, with the "
                  f"connections' own allocations cancelled out. Go's heap does not use malloc, so "
                  f"Go is not counted. \"allocs per connection\" (GET /plaintext) is the first "
                  f"run's count less K times the figure per request, over its connections: a "
                  f"rough figure, which a pool growing in steps can even make negative.")
        md.append("")
        md.append("| server | GET /plaintext allocs/req | bytes/req | POST /echo 1 KiB allocs/req |"
                  " bytes/req | allocs per connection |")
        md.append("|---|---:|---:|---:|---:|---:|")
        for name in names:
            if name in allocations:
                a = allocations[name]
                p, e = a.get("plaintext", {}), a.get("echo-1k", {})
                md.append(f"| {LABELS[name]} | {fmt(p.get('per_request'), 2)} | "
                          f"{fmt(p.get('bytes_per_request'))} | {fmt(e.get('per_request'), 2)} | "
                          f"{fmt(e.get('bytes_per_request'))} | "
                          f"{fmt(p.get('per_connection'), 1)} |")
        md.append("")

    goals = goal_lines(names, medians, idle, allocations, syscalls)
    if goals:
        md.append("## Goals of issue 14")
        md.append("")
        md += goals
        md.append("")
    md += problems_section(problems)

    with open(os.path.join(args.results, "server-table.md"), "w") as out:
        out.write("\n".join(md))

    # The chart's input: one row per server.
    with open(os.path.join(args.results, "server-throughput.tsv"), "w") as out:
        out.write(f"server\tplain req/s\tpipelined-{PIPELINE} req/s\tplain CPU us/req\t"
                  f"pipelined-{PIPELINE} CPU us/req\n")
        for name in names:
            row = [medians[(name, mode)][key] for key in ("rps",) for mode, _ in modes]
            row += [medians[(name, mode)]["cpu_us"] for mode, _ in modes]
            out.write(LABELS[name] + "\t" + "\t".join(
                "-" if v != v else f"{v:.3f}" for v in row) + "\n")

    # Every figure, one per line, for scripts.
    with open(os.path.join(args.results, "server-results.tsv"), "w") as out:
        out.write("server\tmeasurement\tvalue\n")
        for name in names:
            for mode, _ in modes:
                m = medians[(name, mode)]
                for key in ("rps", "cpu_us", "user_us", "server_busy", "client_busy"):
                    out.write(f"{name}\t{mode}.{key}\t{m[key]:.4f}\n")
                for index, run in enumerate(throughput.get((name, mode), [])):
                    out.write(f"{name}\t{mode}.round{index + 1}.rps\t{run['rps']:.1f}\n")
                    out.write(f"{name}\t{mode}.round{index + 1}.cpu_us\t{run['cpu_us']:.4f}\n")
                    out.write(f"{name}\t{mode}.round{index + 1}.user_us\t{run['user_us']:.4f}\n")
            for key, value in latency.get(name, {}).items():
                out.write(f"{name}\tlatency.{key}\t{value}\n")
            for key, value in idle.get(name, {}).items():
                out.write(f"{name}\tidle.{key}\t{value}\n")
            for mode, _ in modes:
                c = syscalls.get((name, mode))
                if c:
                    out.write(f"{name}\tsyscalls.{mode}.per_request\t{c['per_request']:.4f}\n")
            for workload, figures in allocations.get(name, {}).items():
                for key, value in figures.items():
                    out.write(f"{name}\talloc.{workload}.{key}\t{value:.4f}\n")

    print("\n".join(md))
    for taut in tauts:
        for peer in peers:
            for mode, _ in modes:
                t, p = medians[(taut, mode)], medians[(peer, mode)]
                if t["rps"] == t["rps"] and p["rps"] == p["rps"] and p["rps"]:
                    print(f"ratio {taut} {mode}.rps {peer} {t['rps'] / p['rps']:.3f}")
                if t["cpu_us"] == t["cpu_us"] and p["cpu_us"] == p["cpu_us"] and p["cpu_us"]:
                    print(f"ratio {taut} {mode}.cpu_us {peer} {t['cpu_us'] / p['cpu_us']:.3f}")


def goal_lines(names, medians, idle, allocations, syscalls):
    lines = []

    def verdict(ok):
        return "met" if ok else "**not met**"

    for taut in (n for n in names if n in TAUTS):
        label = LABELS[taut]
        t_plain, t_pipe = medians[(taut, "plain")], medians[(taut, "pipelined")]
        if "nginx" in names:
            n_plain, n_pipe = medians[("nginx", "plain")], medians[("nginx", "pipelined")]
            if t_plain["cpu_us"] == t_plain["cpu_us"] and n_plain["cpu_us"]:
                x = t_plain["cpu_us"] / n_plain["cpu_us"]
                lines.append(f"- {label}: plain CPU time per request at most 0.8x nginx's: "
                             f"{x:.2f}x ({t_plain['cpu_us']:.2f} against "
                             f"{n_plain['cpu_us']:.2f} us), {verdict(x <= 0.8)}")
            if t_pipe["rps"] == t_pipe["rps"] and n_pipe["rps"]:
                x = t_pipe["rps"] / n_pipe["rps"]
                lines.append(f"- {label}: pipelined requests/s at least 5x nginx's: {x:.2f}x, "
                             f"{verdict(x >= 5)}")
        if taut == "taut-uring" and (taut, "plain") in syscalls:
            c = syscalls[(taut, "plain")]["per_request"]
            lines.append(f"- {label}: fewer than one system call per plain request: {c:.3f}, "
                         f"{verdict(c < 1)}")
        if taut in idle:
            b = idle[taut]["bytes_per_connection"]
            lines.append(f"- {label}: at most 512 bytes per idle connection: {b:.0f}, "
                         f"{verdict(b <= 512)}")
        if taut in allocations and "plaintext" in allocations[taut]:
            a = allocations[taut]["plaintext"]["per_request"]
            # The count is exact per run; under 0.01 is a rounding of zero (Date refresh, etc.)
            lines.append(f"- {label}: zero heap allocations per request for /plaintext: "
                         f"{fmt(a, 3)}, {verdict(abs(a) < 0.01)}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
