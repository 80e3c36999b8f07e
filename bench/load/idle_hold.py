#!/usr/bin/env python3
"""Opens many keep-alive connections to an HTTP server, uses each once, then holds them idle.

Used by scripts/bench-server.sh to measure a server's memory per idle keep-alive connection: the
script reads the server's RSS, starts this holder, waits for its "ready" line, reads the RSS again
and divides the growth by the number of connections held. The holder runs as its own process (the
file-descriptor limit is per process) and raises its RLIMIT_NOFILE soft limit to the hard limit.

Protocol on stdout/stdin, one line each:
  ready opened=N failed=F seconds=S   all connections opened and answered (F could not be)
  (the caller writes "check\\n")
  open N                              connections still open (the server has not closed them)
  (the caller closes stdin: the holder resets every connection and exits)

Every connection gets one GET and reads its whole response (Content-Length or chunked), so it is a
used keep-alive connection, in the state a server keeps between two requests.

With --tls (scripts/bench-tls.sh), each connection is a TLS one: a full handshake (no session
offered; the certificate is not verified: the benchmark measures the server), then the same GET.
"""

import argparse
import errno
import resource
import select
import socket
import ssl
import struct
import sys
import time


def raise_fd_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def response_complete(data):
    """True once data holds one whole response (Content-Length or chunked framing)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = data[:head_end].lower()
    body = data[head_end + 4 :]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"content-length":
            return len(body) >= int(value.strip())
        if name.strip() == b"transfer-encoding" and b"chunked" in value:
            return body.endswith(b"0\r\n\r\n")
    return False


def tls_context():
    """A client context for --tls: no verification, no session kept (every handshake full)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.options |= ssl.OP_NO_TICKET
    context.set_alpn_protocols(["http/1.1"])
    return context


def open_batch(host, port, request, count, timeout, tls=None, server_name=None):
    """Opens count connections, sends the request on each, waits for every response."""
    sockets = []
    failed = 0
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=server_name)
            sock.sendall(request)
            sockets.append(sock)
        except OSError:
            sock.close()
            failed += 1
    pending = {sock.fileno(): [sock, b""] for sock in sockets}
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            entry = pending.get(fd)
            if entry is None:
                continue
            try:
                chunk = entry[0].recv(65536)
            except OSError:
                chunk = b""
            entry[1] += chunk
            if not chunk or response_complete(entry[1]):
                poller.unregister(fd)
                del pending[fd]
                if not chunk:
                    sockets.remove(entry[0])
                    entry[0].close()
                    failed += 1
    for sock, _ in pending.values():
        sockets.remove(sock)
        sock.close()
        failed += 1
    return sockets, failed


def still_open_tls(sockets):
    """TLS sockets cannot be peeked at: an open connection is one whose end has not come."""
    poller = select.poll()
    for sock in sockets:
        poller.register(sock.fileno(), select.POLLRDHUP)
    closed = {fd for fd, events in poller.poll(0)
              if events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)}
    return sum(1 for sock in sockets if sock.fileno() not in closed)


def still_open(sockets):
    count = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            if sock.recv(1, socket.MSG_PEEK):
                count += 1  # unexpected bytes, but the connection is open
        except BlockingIOError:
            count += 1
        except OSError as error:
            if error.errno not in (errno.ECONNRESET, errno.EPIPE):
                raise
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/plaintext")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per batch")
    parser.add_argument("--tls", action="store_true", help="TLS connections")
    parser.add_argument("--server-name", default="localhost", help="SNI with --tls")
    args = parser.parse_args()

    limit = raise_fd_limit(args.connections + 64)
    if limit < args.connections + 16:
        print(f"idle_hold: RLIMIT_NOFILE is {limit}, too low for {args.connections}",
              file=sys.stderr)
        return 1

    request = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()
    tls = tls_context() if args.tls else None
    start = time.monotonic()
    held = []
    failed = 0
    while len(held) + failed < args.connections:
        count = min(args.batch, args.connections - len(held) - failed)
        sockets, batch_failed = open_batch(args.host, args.port, request, count, args.timeout, tls,
                                            args.server_name)
        held += sockets
        failed += batch_failed
        if batch_failed == count:
            break  # the server refuses everything now: stop trying
    failed = args.connections - len(held)
    seconds = time.monotonic() - start
    print(f"ready opened={len(held)} failed={failed} seconds={seconds:.2f}", flush=True)

    for line in sys.stdin:
        if line.strip() == "check":
            print(f"open {(still_open_tls if tls else still_open)(held)}", flush=True)
    # Reset rather than close: no TIME_WAIT left behind on this side for the next server's turn.
    linger = struct.pack("ii", 1, 0)
    for sock in held:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
