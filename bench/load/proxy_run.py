#!/usr/bin/env python3
"""The measuring half of scripts/bench-proxy.sh: taut-serve --proxy against nginx proxy_pass.

Both proxies run pinned to the proxy CPUs (one worker per CPU), in front of the same upstream
(taut-serve, pinned to the upstream CPUs), with upstream keep-alive (nginx: an upstream block with
`keepalive`, HTTP/1.1 and an empty Connection; taut: its pool). wrk drives them from the client
CPUs with the same settings:

  proxy        wrk -t1 -cC GET /plaintext, plain and pipelined (depth P), R rounds of S seconds,
               proxies in a rotating order inside each round; the median per proxy and mode.
               Requests/s from wrk; the proxy's CPU time per request from /proc/<pid>/stat (its
               whole process tree over the run, divided by the requests wrk completed).
  allocations  taut-serve --proxy again with bench/load/alloc_counter.so preloaded: allocations
               counted around two wrk runs after a warm-up; per proxied request in the steady
               state = the allocations of the second run / its requests.
  client       the client alone against the upstream: taut-fetch -n N -c C beside wrk -cC, both
               pinned to the proxy CPUs; requests/s and the client's CPU time per request
               (getrusage of the finished child).

Every process is pinned, bounded in time and stopped by PID; every socket is on 127.0.0.1.
Environment (defaults in brackets): TAUT_PROXY_ROUNDS [3], TAUT_PROXY_SECONDS [5],
TAUT_PROXY_CONNECTIONS [50], TAUT_PROXY_PIPELINE [16], TAUT_PROXY_CPUS [0],
TAUT_PROXY_UPSTREAM_CPUS [1], TAUT_PROXY_CLIENT_CPUS [1], TAUT_PROXY_CLIENT_REQUESTS [200000],
TAUT_PROXY_PHASES [proxy,alloc,client], TAUT_PROXY_UPSTREAM_PIPELINE [8]: taut-serve --proxy is
also measured with --proxy-pipeline N (requests pipelined on its upstream connections; 1: not).
"""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


ROUNDS = env_int("TAUT_PROXY_ROUNDS", 3)
SECONDS = env_int("TAUT_PROXY_SECONDS", 5)
CONNECTIONS = env_int("TAUT_PROXY_CONNECTIONS", 50)
PIPELINE = env_int("TAUT_PROXY_PIPELINE", 16)
PROXY_CPUS = os.environ.get("TAUT_PROXY_CPUS", "0")
UPSTREAM_CPUS = os.environ.get("TAUT_PROXY_UPSTREAM_CPUS", "1")
CLIENT_CPUS = os.environ.get("TAUT_PROXY_CLIENT_CPUS", "1")
CLIENT_REQUESTS = env_int("TAUT_PROXY_CLIENT_REQUESTS", 200000)
PHASES = os.environ.get("TAUT_PROXY_PHASES", "proxy,alloc,client").split(",")
UPSTREAM_PIPELINE = env_int("TAUT_PROXY_UPSTREAM_PIPELINE", 8)


def log(message):
    print(f"bench-proxy: {message}", file=sys.stderr, flush=True)


def cpu_count(cpus):
    count = 0
    for part in cpus.split(","):
        if "-" in part:
            low, high = part.split("-")
            count += int(high) - int(low) + 1
        else:
            count += 1
    return count


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rindex(")") + 2:].split()


def tree_of(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(stat_fields(entry)[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(tree):
    total = 0
    for pid in tree:
        try:
            fields = stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLOCK_TICKS


def wait_port(port, process, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {limit} s")


def start(argv, cpus, port, env=None):
    process = subprocess.Popen(["taskset", "-c", cpus] + argv, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    wait_port(port, process)
    return process


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nginx_conf(prefix, port, upstream_port, workers):
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes {workers};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream backend {{
    server 127.0.0.1:{upstream_port};
    keepalive 256;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }}
  }}
}}
"""


def run_wrk(port, pipeline, seconds, tree):
    env = dict(os.environ, WRK_PIPELINE=str(pipeline))
    argv = ["taskset", "-c", CLIENT_CPUS, "wrk", f"-t{cpu_count(CLIENT_CPUS)}",
            f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s",
            os.path.join(HERE, "wrk.lua"), f"http://127.0.0.1:{port}/plaintext"]
    before = cpu_seconds(tree)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 30)
    after = cpu_seconds(tree)
    line = next((l for l in result.stdout.splitlines() if l.startswith("wrk-result ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()[:300]}")
    figures = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
    requests = figures["requests"]
    wall = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors",
                                      "status_errors", "timeouts"))
    return {"requests": requests, "rps": requests / wall if wall else 0.0,
            "cpu_us": (after - before) * 1e6 / requests if requests else float("nan"),
            "errors": errors}


def read_allocations(path):
    with open(path, "rb") as counters:
        data = counters.read(64)
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, 64, 8)]
    if words[0] != 0x636C6C6174756174:
        raise RuntimeError("the allocation counter file was never mapped")
    return words[1] + words[2] + words[3] + words[4]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--taut-serve", required=True)
    parser.add_argument("--taut-fetch", required=True)
    parser.add_argument("--nginx", default="")
    parser.add_argument("--alloc-counter", default="")
    parser.add_argument("--results", required=True)
    args = parser.parse_args()
    workers = cpu_count(PROXY_CPUS)
    work = tempfile.mkdtemp(prefix="taut-bench-proxy-")
    lines = []

    def report(text=""):
        print(text, flush=True)
        lines.append(text)

    upstream_port = free_port()
    upstream = start([args.taut_serve, "--listen", f"127.0.0.1:{upstream_port}", "--threads",
                      str(cpu_count(UPSTREAM_CPUS)), "--max-requests-per-connection", "0"],
                     UPSTREAM_CPUS, upstream_port)
    try:
        report(f"# taut-serve --proxy and nginx proxy_pass, {time.strftime('%Y-%m-%d')}")
        report()
        report(f"Proxies on CPU {PROXY_CPUS} ({workers} worker), the upstream (taut-serve) on CPU "
               f"{UPSTREAM_CPUS}, wrk on CPU {CLIENT_CPUS}; {CONNECTIONS} connections, "
               f"{ROUNDS} rounds of {SECONDS} s, the median; GET /plaintext through the proxy.")
        report()
        if "proxy" in PHASES:
            proxies = {}
            taut_port = free_port()
            proxies["taut"] = ([args.taut_serve, "--listen", f"127.0.0.1:{taut_port}",
                                "--threads", str(workers), "--max-requests-per-connection", "0",
                                "--proxy", f"http://127.0.0.1:{upstream_port}"], taut_port)
            if UPSTREAM_PIPELINE > 1:
                piped_port = free_port()
                proxies[f"taut --proxy-pipeline {UPSTREAM_PIPELINE}"] = (
                    [args.taut_serve, "--listen", f"127.0.0.1:{piped_port}", "--threads",
                     str(workers), "--max-requests-per-connection", "0", "--proxy",
                     f"http://127.0.0.1:{upstream_port}", "--proxy-pipeline",
                     str(UPSTREAM_PIPELINE)], piped_port)
            if args.nginx:
                nginx_port = free_port()
                prefix = os.path.join(work, "nginx")
                os.makedirs(prefix, exist_ok=True)
                with open(os.path.join(prefix, "nginx.conf"), "w") as conf:
                    conf.write(nginx_conf(prefix, nginx_port, upstream_port, workers))
                proxies["nginx"] = ([args.nginx, "-p", prefix, "-c",
                                     os.path.join(prefix, "nginx.conf")], nginx_port)
            else:
                log("nginx not found: taut-serve --proxy is measured alone")
            running = {name: start(argv, PROXY_CPUS, port)
                       for name, (argv, port) in proxies.items()}
            try:
                results = {}
                names = list(proxies)
                for mode, depth in (("plain", 1), (f"pipelined x{PIPELINE}", PIPELINE)):
                    for name in names:  # warm-up: pools filled, caches hot
                        run_wrk(proxies[name][1], depth, 1, tree_of(running[name].pid))
                    for r in range(ROUNDS):
                        order = names[r % len(names):] + names[:r % len(names)]
                        for name in order:
                            figures = run_wrk(proxies[name][1], depth, SECONDS,
                                              tree_of(running[name].pid))
                            if figures["errors"]:
                                log(f"{name} {mode}: {figures['errors']} errors")
                            results.setdefault((name, mode), []).append(figures)
                report("| proxy | mode | requests/s | proxy CPU us/request | errors |")
                report("|---|---|---:|---:|---:|")
                medians = {}
                for (name, mode), runs in results.items():
                    rps = statistics.median(f["rps"] for f in runs)
                    cpu = statistics.median(f["cpu_us"] for f in runs)
                    medians[(name, mode)] = (rps, cpu)
                    report(f"| {name} | {mode} | {rps:.0f} | {cpu:.2f} | "
                           f"{sum(f['errors'] for f in runs)} |")
                report()
                if "nginx" in proxies:
                    report("| taut | mode | taut/nginx requests/s (goal >= 1.5) | "
                           "taut/nginx CPU per request (goal <= 0.7) |")
                    report("|---|---|---:|---:|")
                    for name in (n for n in names if n.startswith("taut")):
                        for mode in sorted({m for _, m in results}):
                            t, n = medians[(name, mode)], medians[("nginx", mode)]
                            report(f"| {name} | {mode} | {t[0] / n[0]:.2f} | {t[1] / n[1]:.2f} |")
                    report()
            finally:
                for process in running.values():
                    stop(process)
        if "alloc" in PHASES and args.alloc_counter:
            counter = os.path.join(work, "alloc.bin")
            port = free_port()
            env = dict(os.environ, LD_PRELOAD=args.alloc_counter, TAUT_ALLOC_COUNTER_FILE=counter)
            process = start([args.taut_serve, "--listen", f"127.0.0.1:{port}", "--threads", "1",
                             "--max-requests-per-connection", "0", "--proxy",
                             f"http://127.0.0.1:{upstream_port}"], PROXY_CPUS, port, env)
            try:
                tree = tree_of(process.pid)
                run_wrk(port, 1, 2, tree)  # warm-up
                before = read_allocations(counter)
                figures = run_wrk(port, 1, 3, tree)
                after = read_allocations(counter)
                report(f"Allocations per proxied request in the steady state (taut-serve --proxy, "
                       f"LD_PRELOAD counter, {figures['requests']} requests after a warm-up): "
                       f"{(after - before) / figures['requests']:.3f}")
                report()
            finally:
                stop(process)
        if "client" in PHASES:
            report(f"The client alone against the upstream, on CPU {PROXY_CPUS}, "
                   f"{CONNECTIONS} connections:")
            report()
            report("| client | requests/s | client CPU us/request |")
            report("|---|---:|---:|")
            url = f"http://127.0.0.1:{upstream_port}/plaintext"
            for name, argv in (
                    ("taut-fetch -n -c", [args.taut_fetch, "-n", str(CLIENT_REQUESTS), "-c",
                                          str(CONNECTIONS), url]),
                    ("wrk", ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s",
                             os.path.join(HERE, "wrk.lua"), url])):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                result = subprocess.run(["taskset", "-c", PROXY_CPUS] + argv, capture_output=True,
                                        text=True, timeout=120)
                wall = time.monotonic() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
                if name == "wrk":
                    line = next(l for l in result.stdout.splitlines()
                                if l.startswith("wrk-result "))
                    figures = {k: int(v) for k, v in (i.split("=") for i in line.split()[1:])}
                    requests = figures["requests"]
                    rps = requests / (figures["duration_us"] / 1e6)
                else:
                    values = dict(l.split(": ") for l in result.stdout.splitlines() if ": " in l)
                    requests = int(values["requests"]) - int(values["failed"])
                    rps = float(values["requests/s"])
                report(f"| {name} | {rps:.0f} | {cpu * 1e6 / requests:.2f} |")
            report()
    finally:
        stop(upstream)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "proxy-table.md"), "w") as table:
        table.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
