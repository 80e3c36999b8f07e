#!/usr/bin/env python3
"""The measuring half of scripts/bench-tls.sh: taut-serve against nginx over TLS.

Both servers get the same ECDSA P-256 certificate (made at run time, never committed) and are
pinned as bench/load/run.py pins them (SERVER_CPUS, one worker per CPU; the clients on
CLIENT_CPUS). Every client asks for one TLS 1.3 suite and one group (TAUT_TLS_SUITE
[TLS_AES_128_GCM_SHA256], TAUT_TLS_GROUP [X25519]), so both servers negotiate the same: the
handshake client reports what it negotiated, and wrk and the idle holder get it through an
OPENSSL_CONF of their own. Phases (TAUT_TLS_PHASES [keepalive,handshakes,idle]):

  keepalive    wrk -t1 -cC over https, keep-alive, R rounds of S seconds in rotating server order,
               the median: requests/s and the server's CPU time per request (utime + stime of its
               process tree over the round / requests). The handshakes of the C connections happen
               once, in the warm-up, and are not counted.
  handshakes   bench/load/tls_handshakes (built by bench-tls.sh): K connections at once, each a
               full TLS 1.3 handshake (no session offered, no ticket kept), one GET with
               `Connection: close`, then a new connection; R rounds of S seconds. Handshakes/s,
               the server's CPU time per handshake, and handshakes per second per core: the
               handshakes over the server's CPU seconds (what one core fully busy would do; the
               client's own core may saturate first).
  idle         idle_hold.py --tls opens N TLS connections (full handshake, one GET each) and holds
               them; the growth of the server's VmRSS over N.

  callgrind    (TAUT_TLS_CALLGRIND=1, or `callgrind` in TAUT_TLS_PHASES; after the other phases)
               instructions per full handshake, deterministic where the CPU time is not: each
               server alone under `valgrind --tool=callgrind` (one worker; nginx with
               `master_process off`, so that the process measured is the one that handshakes),
               tls_handshakes --handshakes N for N = TAUT_TLS_CALLGRIND_COUNTS [200,1000] in
               fresh runs, and the difference of the two runs' instruction counts over the
               difference of N (start-up, the readiness probe and exit cancel out). The
               profiles stay in the results directory (callgrind.<server>.<N>). taut-serve on
               epoll and nginx only (valgrind does not run io_uring rings).

Servers (TAUT_TLS_SERVERS [taut-tls,taut-tls-uring,nginx-tls]): taut-serve on its epoll backend
and on io_uring, and nginx. Results: tls-table.md, tls-results.tsv in the results directory, and
`ratio <taut|taut-uring> <figure> nginx <x>` lines on standard output, in the format of run.py's. Environment: run.py's (TAUT_LOAD_ROUNDS,
TAUT_LOAD_SECONDS, TAUT_LOAD_CONNECTIONS, TAUT_LOAD_SERVER_CPUS, TAUT_LOAD_CLIENT_CPUS,
TAUT_LOAD_IDLE_CONNECTIONS, TAUT_LOAD_NICE, TAUT_SERVE_ARGS), plus TAUT_TLS_PHASES,
TAUT_TLS_HANDSHAKE_CONNECTIONS [32], TAUT_TLS_SUITE, TAUT_TLS_GROUP, TAUT_TLS_SERVERS,
TAUT_TLS_CALLGRIND, TAUT_TLS_CALLGRIND_COUNTS.
"""

import argparse
import datetime
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/load/run.py: the servers, /proc readings, pinning, formatting)

run.LABELS.update({"taut-tls": "taut-serve TLS epoll", "taut-tls-uring": "taut-serve TLS io_uring",
                   "nginx-tls": "nginx TLS"})
TAUTS = ("taut-tls", "taut-tls-uring")
# The prefix of each taut's `ratio` lines, as run.py's: taut (epoll) and taut-uring.
RATIO_NAMES = {"taut-tls": "taut", "taut-tls-uring": "taut-uring"}
ALL_SERVERS = ["taut-tls", "taut-tls-uring", "nginx-tls"]
SERVERS = [s for s in os.environ.get("TAUT_TLS_SERVERS", ",".join(ALL_SERVERS)).split(",") if s]
SUITE = os.environ.get("TAUT_TLS_SUITE", "") or "TLS_AES_128_GCM_SHA256"
GROUP = os.environ.get("TAUT_TLS_GROUP", "") or "X25519"
HANDSHAKE_CONNECTIONS = run.env_int("TAUT_TLS_HANDSHAKE_CONNECTIONS", 32)
ALL_PHASES = ["keepalive", "handshakes", "idle"]
PHASES = [p for p in os.environ.get("TAUT_TLS_PHASES", ",".join(ALL_PHASES)).split(",") if p]
CALLGRIND = os.environ.get("TAUT_TLS_CALLGRIND", "") == "1" or "callgrind" in PHASES
CALLGRIND_COUNTS = sorted(int(n) for n in
                          os.environ.get("TAUT_TLS_CALLGRIND_COUNTS", "200,1000").split(",")[:2])
if len(CALLGRIND_COUNTS) != 2 or CALLGRIND_COUNTS[0] == CALLGRIND_COUNTS[1]:
    sys.exit("TAUT_TLS_CALLGRIND_COUNTS: two different counts, e.g. 200,1000")


def log(message):
    print(f"bench-tls: {message}", file=sys.stderr, flush=True)


def tls_exchange(port, timeout=2.0):
    """One GET /plaintext over TLS; returns (status, body, raw response, negotiated cipher)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(run.get_request(port))
            status, _, body, data = run.read_response(sock)
            return status, body, data, sock.cipher()


class TlsServer(run.Server):
    """run.Server with a readiness probe over TLS, which keeps the cipher it negotiated."""

    def probe(self, port):
        status, body, raw, self.cipher = tls_exchange(port)
        return status, body, raw


def make_certificate(workdir):
    """An ECDSA P-256 certificate for localhost and 127.0.0.1, self-signed, for both servers."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o644)  # nginx's workers run as nobody; the directory is private to this run
    return cert, key


def client_openssl_conf(workdir):
    """An OPENSSL_CONF that makes wrk's and the idle holder's OpenSSL offer SUITE and GROUP only."""
    path = os.path.join(workdir, "client-openssl.cnf")
    with open(path, "w") as conf:
        conf.write("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
                   "[ssl_sect]\nsystem_default = system_default_sect\n[system_default_sect]\n"
                   f"MinProtocol = TLSv1.3\nCiphersuites = {SUITE}\nGroups = {GROUP}\n")
    return path


def make_servers(args, workdir, cert, key):
    servers = {}
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "OPENSSL_CONF"):
        env.pop(name, None)
    for name, backend in (("taut-tls", "epoll"), ("taut-tls-uring", "io_uring")):
        if name not in SERVERS:
            continue
        if not args.taut_serve:
            log("taut-serve: not built; measuring nginx alone")
            break
        servers[name] = TlsServer(
            name,
            [args.taut_serve, "--listen", "127.0.0.1:@PORT@", "--threads", str(run.THREADS),
             "--max-connections", "16384", "--max-requests-per-connection", "0",
             "--io", backend, "--tls-cert", cert, "--tls-key", key]
            + os.environ.get("TAUT_SERVE_ARGS", "").split(),
            env, workdir)
    if "nginx-tls" not in SERVERS:
        pass
    elif args.nginx:
        prefix = os.path.join(workdir, "nginx-tls")
        os.makedirs(prefix, exist_ok=True)
        os.chmod(prefix, 0o755)
        servers["nginx-tls"] = TlsServer(
            "nginx-tls", [args.nginx, "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")],
            env, workdir)
        servers["nginx-tls"].prefix = prefix
    else:
        log("nginx: not installed (apt-get install nginx-light); skipped")
    return servers


def write_nginx_conf(server, port, cert, key, single_process=False):
    user = "user nobody nogroup;" if os.geteuid() == 0 and not single_process else ""
    with open(os.path.join(HERE, "nginx-tls.conf.in")) as template:
        text = template.read()
    text = (text.replace("@PREFIX@", server.prefix).replace("@PORT@", str(port))
            .replace("@USER_DIRECTIVE@", user).replace("@THREADS@", str(run.THREADS))
            .replace("@CERT@", cert).replace("@KEY@", key))
    if single_process:
        text = text.replace("master_process on;", "master_process off;")
    with open(os.path.join(server.prefix, "nginx.conf"), "w") as config:
        config.write(text)


def start_server(server, cert, key):
    port = run.free_port()
    if server.name == "nginx-tls":
        write_nginx_conf(server, port, cert, key)
    server.start(port)


def core_jiffies(cpus):
    """(busy, steal, total) clock ticks of these CPUs so far, from /proc/stat: what every process
    (and the hypervisor, as steal) took of them, whoever it was. The kernel's softirq work counts
    as busy here and also in the utime + stime of the process it interrupted (tick accounting),
    so busy less the server's own time is what the other processes took."""
    busy = steal = total = 0
    wanted = {f"cpu{c}" for c in cpus}
    with open("/proc/stat") as stat:
        for line in stat:
            fields = line.split()
            if fields and fields[0] in wanted:
                # user nice system idle iowait irq softirq steal
                values = [int(v) for v in fields[1:9]]
                busy += values[0] + values[1] + values[2] + values[5] + values[6]
                steal += values[7]
                total += sum(values)
    return busy, steal, total


def run_queue_seconds(tree):
    """Seconds the tree's threads spent runnable but waiting for a CPU (/proc/.../schedstat)."""
    waited = 0
    for pid, _ in tree:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                    waited += int(schedstat.read().split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return waited / 1e9


def run_wrk(server, seconds, openssl_conf):
    """wrk over https with keep-alive; the figures of run.run_wrk, plus requests per second of the
    server's CPU (its capacity on one core, whatever its share of the core was) and why it was not
    busier: how long it waited for its core (run queue), and what the rest of the machine took of
    the server's and the clients' cores."""
    tree = server.refresh_tree()
    waited_before = run_queue_seconds(tree)
    server_core_before = core_jiffies(run.SERVER_CPUS)
    client_core_before = core_jiffies(run.CLIENT_CPUS)
    figures = run.run_wrk(server, 1, seconds, scheme="https",
                          extra_env={"OPENSSL_CONF": openssl_conf})
    server_core_after = core_jiffies(run.SERVER_CPUS)
    client_core_after = core_jiffies(run.CLIENT_CPUS)
    waited = run_queue_seconds(tree) - waited_before
    wall = seconds  # wrk's own duration is within a few ms of it
    figures["per_core_second"] = 1e6 / figures["cpu_us"] if figures["cpu_us"] else float("nan")
    figures["server_waited"] = waited / wall
    # The client's side of the same requests: when it is near the server's, one wrk thread on a
    # core of its own saturates about when the server does, and requests/s is the pair's rate.
    figures["client_cpu_us"] = (figures["client_busy"] * 1e6 / figures["rps"] if figures["rps"]
                                else float("nan"))
    for side, cpus, before, after in (("server", run.SERVER_CPUS, server_core_before,
                                       server_core_after),
                                      ("client", run.CLIENT_CPUS, client_core_before,
                                       client_core_after)):
        own = figures[f"{side}_busy"] / len(cpus)
        ticks = after[2] - before[2]
        busy = (after[0] - before[0]) / ticks if ticks else float("nan")
        figures[f"{side}_core_others"] = max(0.0, busy - own)
        figures[f"{side}_core_steal"] = (after[1] - before[1]) / ticks if ticks else float("nan")
        figures[f"{side}_core_idle"] = max(0.0, 1.0 - busy - figures[f"{side}_core_steal"])
    return figures


def run_handshakes(server, seconds, tool):
    argv = run.client([tool, "--port", str(server.port), "--connections",
                       str(HANDSHAKE_CONNECTIONS), "--seconds", str(seconds), "--ciphersuite",
                       SUITE, "--group", GROUP])
    tree = server.refresh_tree()
    before = run.cpu_seconds(tree)
    client_before = run.resource.getrusage(run.resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30,
                            **run.client_options())
    server_cpu = run.cpu_seconds(tree) - before
    client_after = run.resource.getrusage(run.resource.RUSAGE_CHILDREN)
    line = next((l for l in result.stdout.splitlines() if l.startswith("tls-handshakes ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"tls_handshakes failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[:300]}")
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    done, wall = int(fields["completed"]), float(fields["seconds"])
    client_cpu = (client_after.ru_utime + client_after.ru_stime - client_before.ru_utime -
                  client_before.ru_stime)
    return {
        "handshakes": done,
        "failed": int(fields["failed"]),
        "per_second": done / wall if wall > 0 else 0.0,
        "cpu_us": server_cpu * 1e6 / done if done else float("nan"),
        "per_core_second": done / server_cpu if server_cpu > 0 else float("nan"),
        "server_busy": server_cpu / wall if wall > 0 else 0.0,
        "client_busy": client_cpu / wall if wall > 0 else 0.0,
        "negotiated": f"{fields['version']} {fields['cipher']} {fields['group']}",
    }


def measure_idle(server, openssl_conf):
    """run.measure_idle with idle_hold.py over TLS; full handshakes take longer to open."""
    return run.measure_idle(server, holder_args=["--tls", "--timeout", "30"],
                            env=dict(os.environ, OPENSSL_CONF=openssl_conf), ready_timeout=300,
                            exit_timeout=60)


def callgrind_instructions(server, count, tool, results, cert, key):
    """Instructions the server ran in a fresh run under callgrind that served `count` full
    handshakes (and its start, one readiness probe and its exit)."""
    port = run.free_port()
    out = os.path.join(results, f"callgrind.{server.name}.{count}")
    argv = [part.replace("@PORT@", str(port)) for part in server.argv]
    if server.name == "nginx-tls":
        write_nginx_conf(server, port, cert, key, single_process=True)
    else:
        argv[argv.index("--threads") + 1] = "1"
    argv = ["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}",
            "--log-file=" + os.path.join(server.workdir, f"{server.name}.valgrind.log")] + argv
    with open(os.path.join(server.workdir, f"{server.name}.callgrind.log"), "wb") as output:
        process = subprocess.Popen(argv, env=server.env, cwd=server.workdir,
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=lambda: os.sched_setaffinity(0, run.SERVER_CPUS))
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"exited with status {process.returncode} under valgrind")
            try:
                tls_exchange(port, timeout=10)
                break
            except (OSError, ValueError, IndexError):
                if time.monotonic() > deadline:
                    raise RuntimeError("not ready after 120 s under valgrind")
                time.sleep(0.2)
        result = subprocess.run(
            run.client([tool, "--port", str(port), "--connections", str(HANDSHAKE_CONNECTIONS),
                        "--handshakes", str(count), "--seconds", "600", "--ciphersuite", SUITE,
                        "--group", GROUP]),
            capture_output=True, text=True, timeout=660)
        line = next((l for l in result.stdout.splitlines() if l.startswith("tls-handshakes ")),
                    "")
        fields = dict(item.split("=", 1) for item in line.split()[1:])
        if int(fields.get("completed", 0)) != count or int(fields.get("failed", 1)) != 0:
            raise RuntimeError(f"tls_handshakes: {line or result.stderr.strip()[:300]}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # callgrind writes its profile at exit
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    with open(out) as profile:
        for text in profile:
            if text.startswith(("summary:", "totals:")):
                return int(text.split()[1])
    raise RuntimeError(f"no instruction total in {out}")


def measure_callgrind(servers, tool, results, cert, key, problems):
    """{server: instructions per full handshake} for taut-serve on epoll and nginx."""
    figures = {}
    low, high = CALLGRIND_COUNTS
    for name in ("taut-tls", "nginx-tls"):
        if name not in servers:
            continue
        try:
            counts = [callgrind_instructions(servers[name], n, tool, results, cert, key)
                      for n in (low, high)]
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as error:
            problems.append(f"{run.LABELS[name]} callgrind: {error}")
            log(problems[-1])
            continue
        figures[name] = (counts[1] - counts[0]) / (high - low)
        log(f"callgrind {run.LABELS[name]:15} {counts[0]:,} Ir for {low} handshakes, "
            f"{counts[1]:,} for {high}: {figures[name]:,.0f} Ir per handshake")
    return figures


def write_results(args, servers, keepalive, handshakes, idle, problems, started_at, load_start,
                  load_end, callgrind=None):
    names = [n for n in ALL_SERVERS if n in servers]
    tauts = [n for n in names if n in TAUTS]
    fmt, ratio = run.fmt, run.ratio
    k = {n: {key: run.median_of(keepalive.get(n, []), key) for key in
             ("rps", "cpu_us", "user_us", "server_busy", "client_busy", "per_core_second",
              "server_waited", "server_core_others", "server_core_steal", "server_core_idle",
              "client_core_others", "client_core_steal", "client_core_idle", "client_cpu_us")}
         for n in names}
    h = {n: {key: run.median_of(handshakes.get(n, []), key) for key in
             ("per_second", "cpu_us", "per_core_second", "server_busy", "client_busy")}
         for n in names}
    negotiated = {n: (handshakes[n][-1]["negotiated"] if handshakes.get(n) else
                      " ".join(str(x) for x in (getattr(servers[n], "cipher", None) or ())[:2]))
                  for n in names}
    md = ["# taut-serve against nginx over TLS", ""]
    md.append(f"Measured by `scripts/bench-tls.sh` on {started_at:%Y-%m-%d %H:%M} UTC: "
              f"{run.machine_line()}; load average {' '.join(load_start)} at the start and "
              f"{' '.join(load_end)} at the end (a shared machine: CPU time per request or per "
              f"handshake is the steadier figure). Each server pinned to CPU "
              f"{run.cpu_list(run.SERVER_CPUS)} with {run.THREADS} worker(s), the clients to CPU "
              f"{run.cpu_list(run.CLIENT_CPUS)}; the same ECDSA P-256 certificate for both; the "
              f"clients offer {SUITE} and {GROUP} only. {run.ROUNDS} rounds of {run.SECONDS} s "
              f"per figure in rotating server order, the median.")
    md.append("")
    md.append("Negotiated (from the handshake client): " +
              "; ".join(f"{run.LABELS[n]}: {negotiated[n] or 'n/a'}" for n in names) + ".")
    for name in tauts:
        offload = [line for line in getattr(args, "taut_log_lines", {}).get(name, [])
                   if "TLS" in line or "I/O on" in line]
        if offload:
            md.append("")
            md.append(f"{run.LABELS[name]}'s log: " + " / ".join(f"`{line}`" for line in offload))
    md.append("")
    if tauts and "nginx-tls" in names:
        md.append("## taut / nginx (same run)")
        md.append("")
        md.append("Ratio = taut / nginx: requests/s and handshakes above 1, CPU and memory below 1 "
                  "favour taut.")
        md.append("")
        md.append("| figure | " + " | ".join(run.LABELS[t] for t in tauts) + " | nginx | " +
                  " | ".join(f"{run.LABELS[t]} / nginx" for t in tauts) + " |")
        md.append("|---|" + "---:|" * (2 * len(tauts) + 1))
        rows = [("keep-alive requests/s", k, "rps", 0),
                ("keep-alive requests per second per core (server CPU-second)", k,
                 "per_core_second", 0),
                ("keep-alive CPU us/request", k, "cpu_us", 2),
                ("full handshakes/s", h, "per_second", 0),
                ("server CPU us per handshake (+ 1 request)", h, "cpu_us", 1),
                ("handshakes per second per core", h, "per_core_second", 0)]
        for label, table, key, digits in rows:
            p = table["nginx-tls"][key]
            values = [table[t][key] for t in tauts]
            md.append(f"| {label} | " + " | ".join(fmt(v, digits) for v in values) +
                      f" | {fmt(p, digits)} | " + " | ".join(ratio(v, p) for v in values) + " |")
        if "nginx-tls" in idle and all(t in idle for t in tauts):
            p = idle["nginx-tls"]["bytes_per_connection"]
            values = [idle[t]["bytes_per_connection"] for t in tauts]
            md.append("| bytes per idle TLS connection | " +
                      " | ".join(fmt(v) for v in values) + f" | {fmt(p)} | " +
                      " | ".join(ratio(v, p) for v in values) + " |")
        md.append("")
    md.append("## Keep-alive over TLS (handshakes excluded)")
    md.append("")
    md.append(f"`wrk -t{len(run.CLIENT_CPUS)} -c{run.CONNECTIONS}` over https, GET /plaintext; "
              f"the connections' handshakes happen in a warm-up run before the measured rounds. "
              f"\"req/s per core\" is the issue's \"requests/s per core\": the requests over the "
              f"server's CPU seconds (utime + stime of its process tree), what the server does "
              f"with one core whatever share of it it got. Raw req/s is the rate of the pair, "
              f"not the server's capacity: wrk needs about as much CPU per request as the server "
              f"(the wrk CPU us/req column), so with a core each both run at about the same "
              f"load and neither saturates (each waits for the other's bytes part of the time); "
              f"a client that could outpace one server core would need more than the one other "
              f"core this machine has. Servers and clients ran at niceness {run.NICE} "
              f"(TAUT_LOAD_NICE, the same for every server; negative keeps the other jobs of a "
              f"shared machine off their cores: see the next table).")
    md.append("")
    md.append("| server | req/s | req/s per core | CPU us/req | of which user | server busy | "
              "wrk busy | wrk CPU us/req | errors |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        m = k[n]
        errors = sum(r["errors"] for r in keepalive.get(n, []))
        md.append(f"| {run.LABELS[n]} | {fmt(m['rps'])} | {fmt(m['per_core_second'])} | "
                  f"{fmt(m['cpu_us'], 2)} | {fmt(m['user_us'], 2)} | "
                  f"{fmt(m['server_busy'] * 100)}% | {fmt(m['client_busy'] * 100)}% | "
                  f"{fmt(m['client_cpu_us'], 2)} | {errors} |")
    md.append("")
    md.append("Where the cores went in those rounds (medians): the server's time waiting for its "
              "core while runnable (run queue), and what other processes and the hypervisor "
              "(steal) took of the server's and the client's cores; \"idle\" is what nobody used.")
    md.append("")
    md.append("| server | server waited | server core: others | steal | idle | client core: "
              "others | steal | idle |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        m = k[n]
        md.append(f"| {run.LABELS[n]} | {fmt(m['server_waited'] * 100)}% | " +
                  " | ".join(f"{fmt(m[f'{side}_core_{part}'] * 100)}%"
                             for side in ("server", "client")
                             for part in ("others", "steal", "idle")) + " |")
    md.append("")
    md.append("## Full TLS 1.3 handshakes")
    md.append("")
    md.append(f"`bench/load/tls_handshakes` with {HANDSHAKE_CONNECTIONS} connections at once: "
              f"each a full handshake (no session offered, no ticket kept), GET /plaintext with "
              f"`Connection: close`, the response, a reset. \"per core\" is handshakes over the "
              f"server's CPU seconds: the handshake client needs about as much CPU as the server "
              f"(it verifies a signature, the server makes one), so its core can saturate first.")
    md.append("")
    md.append("| server | handshakes/s | server CPU us each | per second per core | server busy "
              "| client busy |")
    md.append("|---|---:|---:|---:|---:|---:|")
    for n in names:
        m = h[n]
        md.append(f"| {run.LABELS[n]} | {fmt(m['per_second'])} | {fmt(m['cpu_us'], 1)} | "
                  f"{fmt(m['per_core_second'])} | {fmt(m['server_busy'] * 100)}% | "
                  f"{fmt(m['client_busy'] * 100)}% |")
    md.append("")
    if idle:
        md.append("## Memory per idle TLS keep-alive connection")
        md.append("")
        md.append(f"`bench/load/idle_hold.py --tls` opens {run.IDLE_CONNECTIONS:,} TLS "
                  f"connections (full handshake, one GET each) and holds them; the growth of the "
                  f"server's VmRSS (whole process tree) over the connections held.")
        md.append("")
        md += run.idle_table(names, idle)
        md.append("")
    callgrind = callgrind or {}
    if callgrind:
        low, high = CALLGRIND_COUNTS
        md.append("## Instructions per full TLS 1.3 handshake (callgrind)")
        md.append("")
        md.append(f"Each server alone under `valgrind --tool=callgrind`, one worker, "
                  f"`tls_handshakes --handshakes N` for N = {low} and {high} in fresh runs: the "
                  f"difference of the instruction counts over {high - low} (the handshake and "
                  f"one GET, as above). Deterministic, unlike the CPU times: the profiles are "
                  f"`callgrind.<server>.<N>` beside this table.")
        md.append("")
        md.append("| server | instructions per handshake |")
        md.append("|---|---:|")
        for n in names:
            if n in callgrind:
                md.append(f"| {run.LABELS[n]} | {callgrind[n]:,.0f} |")
        md.append("")
    md += run.problems_section(problems)
    with open(os.path.join(args.results, "tls-table.md"), "w") as out:
        out.write("\n".join(md))
    with open(os.path.join(args.results, "tls-results.tsv"), "w") as out:
        out.write("server\tmeasurement\tvalue\n")
        for n in names:
            for key, value in k[n].items():
                out.write(f"{n}\tkeepalive.{key}\t{value:.4f}\n")
            for index, r in enumerate(keepalive.get(n, [])):
                out.write(f"{n}\tkeepalive.round{index + 1}.rps\t{r['rps']:.1f}\n")
                out.write(f"{n}\tkeepalive.round{index + 1}.cpu_us\t{r['cpu_us']:.4f}\n")
            for key, value in h[n].items():
                out.write(f"{n}\thandshake.{key}\t{value:.4f}\n")
            for index, r in enumerate(handshakes.get(n, [])):
                out.write(f"{n}\thandshake.round{index + 1}.per_second\t{r['per_second']:.1f}\n")
                out.write(f"{n}\thandshake.round{index + 1}.cpu_us\t{r['cpu_us']:.4f}\n")
            for key, value in idle.get(n, {}).items():
                out.write(f"{n}\tidle.{key}\t{value}\n")
            if n in callgrind:
                out.write(f"{n}\thandshake.instructions\t{callgrind[n]:.0f}\n")
    print("\n".join(md))
    if "nginx-tls" not in names:
        return
    pairs = [("tls.rps", k, "rps"), ("tls.cpu_us", k, "cpu_us"),
             ("tls.handshakes_per_core", h, "per_core_second"),
             ("tls.handshake_cpu_us", h, "cpu_us"),
             ("tls.rps_per_core", k, "per_core_second")]
    for name in tauts:
        for label, table, key in pairs:
            t, p = table[name][key], table["nginx-tls"][key]
            if t == t and p == p and p:
                print(f"ratio {RATIO_NAMES[name]} {label} nginx {t / p:.3f}")
        if name in callgrind and callgrind.get("nginx-tls"):
            print(f"ratio {RATIO_NAMES[name]} tls.handshake_instructions nginx "
                  f"{callgrind[name] / callgrind['nginx-tls']:.3f}")
        if name in idle and "nginx-tls" in idle:
            t, p = idle[name]["bytes_per_connection"], idle["nginx-tls"]["bytes_per_connection"]
            if p:
                print(f"ratio {RATIO_NAMES[name]} tls.idle_bytes nginx {t / p:.3f}")


def main():
    parser = argparse.ArgumentParser(description="taut-serve against nginx over TLS")
    parser.add_argument("--taut-serve", default="", help="taut-serve binary ('' to skip taut)")
    parser.add_argument("--nginx", default="", help="nginx binary")
    parser.add_argument("--handshake-tool", required=True, help="bench/load/tls_handshakes built")
    parser.add_argument("--results", required=True, help="directory for tls-* results")
    args = parser.parse_args()

    os.makedirs(args.results, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="taut-bench-tls.")
    os.chmod(workdir, 0o755)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_start = open("/proc/loadavg").read().split()[:3]
    cert, key = make_certificate(workdir)
    openssl_conf = client_openssl_conf(workdir)
    servers = make_servers(args, workdir, cert, key)
    running, problems = [], []
    keepalive, handshakes, idle = {}, {}, {}

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        for name, server in list(servers.items()):
            try:
                start_server(server, cert, key)
                running.append(server)
                log(f"{server.label}: ready on 127.0.0.1:{server.port} (pid "
                    f"{server.process.pid}, {server.cipher[1]} {server.cipher[0]})")
            except (RuntimeError, OSError) as error:
                problems.append(f"{server.label} did not start: {error}")
                log(f"{problems[-1]}\n{server.log_tail()}")
                server.stop()
                del servers[name]

        def rounds(phase, measure, into, describe):
            for round_index in range(run.ROUNDS):
                shift = round_index % max(1, len(running))
                for server in running[shift:] + running[:shift]:
                    if server.process.poll() is not None:
                        continue
                    try:
                        figures = measure(server)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                        problems.append(f"{server.label} {phase} round {round_index + 1}: "
                                        f"{error}")
                        log(problems[-1])
                        continue
                    into.setdefault(server.name, []).append(figures)
                    log(f"round {round_index + 1} {phase} {server.label:15} {describe(figures)}")

        if "keepalive" in PHASES:
            for server in running:  # the warm-up: every connection's handshake happens here
                try:
                    run_wrk(server, max(1, run.WARMUP_SECONDS), openssl_conf)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                    log(f"{server.label} warm-up: {error}")
            rounds("keepalive", lambda s: run_wrk(s, run.SECONDS, openssl_conf), keepalive,
                   lambda f: f"{f['rps']:>10,.0f} req/s {f['cpu_us']:6.2f} us/req "
                             f"{f['per_core_second']:,.0f} per core-second, server "
                             f"{f['server_busy'] * 100:3.0f}% (waited "
                             f"{f['server_waited'] * 100:.0f}%, others on its core "
                             f"{f['server_core_others'] * 100:.0f}%, idle "
                             f"{f['server_core_idle'] * 100:.0f}%) wrk "
                             f"{f['client_busy'] * 100:3.0f}% {f['client_cpu_us']:.2f} us/req "
                             f"(others on its core "
                             f"{f['client_core_others'] * 100:.0f}%, idle "
                             f"{f['client_core_idle'] * 100:.0f}%)"
                             + (f" errors {f['errors']}" if f["errors"] else ""))
        if "handshakes" in PHASES:
            rounds("handshakes", lambda s: run_handshakes(s, run.SECONDS, args.handshake_tool),
                   handshakes,
                   lambda f: f"{f['per_second']:>8,.0f}/s {f['cpu_us']:7.1f} us each, "
                             f"{f['per_core_second']:,.0f} per core-second, server "
                             f"{f['server_busy'] * 100:3.0f}% client "
                             f"{f['client_busy'] * 100:3.0f}% ({f['negotiated']})"
                             + (f" failed {f['failed']}" if f["failed"] else ""))
        if "idle" in PHASES:
            for server in running:
                try:
                    idle[server.name] = measure_idle(server, openssl_conf)
                    i = idle[server.name]
                    log(f"idle {server.label:15} {i['connections']} connections: RSS "
                        f"{i['rss_before_kib']} -> {i['rss_after_kib']} KiB, "
                        f"{i['bytes_per_connection']:.0f} bytes each, {i['still_open']} still "
                        f"open")
                except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as error:
                    problems.append(f"{server.label} idle memory: {error}")
                    log(problems[-1])
    except KeyboardInterrupt:
        problems.append("interrupted")
    finally:
        args.taut_log_lines = {}
        for server in running:
            if server.name in TAUTS:
                args.taut_log_lines[server.name] = server.log_tail(20).splitlines()
            server.stop()
    callgrind = {}
    if CALLGRIND and "interrupted" not in problems:
        try:
            callgrind = measure_callgrind(servers, args.handshake_tool, args.results, cert, key,
                                          problems)
        except KeyboardInterrupt:
            problems.append("interrupted")
    load_end = open("/proc/loadavg").read().split()[:3]
    write_results(args, servers, keepalive, handshakes, idle, problems, started_at, load_start,
                  load_end, callgrind)
    subprocess.run(["rm", "-rf", "--", workdir], check=False)
    return 1 if "interrupted" in problems else 0


if __name__ == "__main__":
    sys.exit(main())
