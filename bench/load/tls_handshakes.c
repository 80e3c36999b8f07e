// Full TLS handshakes against a server, for scripts/bench-tls.sh: C connections at once, each
// doing TCP connect, a full TLS 1.3 handshake (never resumed: no session is kept or offered),
// one GET with `Connection: close`, the whole response, then a reset (no TIME_WAIT left to
// exhaust the loopback ports), and a new connection in its place, for S seconds.
//
//   tls_handshakes --port P [--host 127.0.0.1] [--name localhost] [--connections 32]
//                  [--seconds 5] [--path /plaintext] [--ciphersuite TLS_AES_128_GCM_SHA256]
//                  [--group X25519] [--handshakes N]
//
// With --handshakes N the run ends once N connections have ended (no more than N are begun), or
// after S seconds at the latest: an exact count for a deterministic measurement (callgrind,
// TAUT_TLS_CALLGRIND in bench/load/tls_run.py).
//
// Prints one line: "tls-handshakes completed=N failed=F seconds=S version=... cipher=...
// group=..." (what the last connection negotiated), which bench/load/tls_run.py parses. The
// certificate is not verified (the benchmark measures the server; OpenSSL still checks the
// CertificateVerify signature, which every full handshake costs a client anyway).
#define _GNU_SOURCE  // memmem
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum stage { stage_connecting, stage_handshake, stage_writing, stage_reading };

struct slot {
  int fd;
  SSL* ssl;
  enum stage stage;
  size_t written;
  size_t received;
  char buffer[4096];
};

static const char* option(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct sockaddr_in target;
static SSL_CTX* context;
static const char* server_name;
static char request[512];
static size_t request_size;
static int poller;
static unsigned long completed, failed;
static char last_version[32], last_cipher[64], last_group[32];

static void drop(struct slot* s) {
  if (s->ssl != NULL) SSL_free(s->ssl);
  s->ssl = NULL;
  if (s->fd >= 0) {
    // A reset, not a close: no TIME_WAIT on either side, so the run never runs out of ports.
    const struct linger reset = {1, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(s->fd);
  }
  s->fd = -1;
}

static int open_slot(struct slot* s) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) return -1;
  const int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->stage = stage_connecting;
  s->written = s->received = 0;
  if (connect(s->fd, (const struct sockaddr*)&target, sizeof target) != 0 && errno != EINPROGRESS) {
    drop(s);
    return -1;
  }
  s->ssl = SSL_new(context);
  SSL_set_fd(s->ssl, s->fd);
  SSL_set_tlsext_host_name(s->ssl, server_name);
  SSL_set_connect_state(s->ssl);
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = s};
  if (epoll_ctl(poller, EPOLL_CTL_ADD, s->fd, &event) != 0) {
    drop(s);
    return -1;
  }
  return 0;
}

// Whether the response in the buffer is whole (a head and Content-Length bytes of body).
static int response_complete(const struct slot* s) {
  const char* end = memmem(s->buffer, s->received, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  const size_t head = (size_t)(end - s->buffer) + 4;
  for (const char* p = s->buffer; p < end; ++p) {
    if ((p == s->buffer || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
      return s->received >= head + strtoul(p + 15, NULL, 10);
    }
  }
  return 0;
}

// Runs the slot as far as it goes; returns 1 when its connection ended (well or not).
static int advance(struct slot* s) {
  for (;;) {
    int rc = 0;
    switch (s->stage) {
      case stage_connecting:
        s->stage = stage_handshake;
        continue;
      case stage_handshake:
        rc = SSL_do_handshake(s->ssl);
        if (rc == 1) {
          s->stage = stage_writing;
          continue;
        }
        break;
      case stage_writing:
        rc = SSL_write(s->ssl, request + s->written, (int)(request_size - s->written));
        if (rc > 0) {
          s->written += (size_t)rc;
          if (s->written == request_size) s->stage = stage_reading;
          continue;
        }
        break;
      case stage_reading:
        rc = SSL_read(s->ssl, s->buffer + s->received, (int)(sizeof s->buffer - s->received));
        if (rc > 0) {
          s->received += (size_t)rc;
          if (response_complete(s)) {
            ++completed;
            snprintf(last_version, sizeof last_version, "%s", SSL_get_version(s->ssl));
            snprintf(last_cipher, sizeof last_cipher, "%s", SSL_get_cipher_name(s->ssl));
            const int group = SSL_get_negotiated_group(s->ssl);
            const char* group_name = group != 0 ? OBJ_nid2sn(group & 0xffff) : "";
            snprintf(last_group, sizeof last_group, "%s", group_name ? group_name : "?");
            return 1;
          }
          if (s->received == sizeof s->buffer) {
            ++failed;
            return 1;
          }
          continue;
        }
        break;
    }
    const int why = SSL_get_error(s->ssl, rc);
    if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return 0;
    ++failed;
    ERR_clear_error();
    return 1;
  }
}

int main(int argc, char** argv) {
  const char* host = option(argc, argv, "--host", "127.0.0.1");
  const int port = atoi(option(argc, argv, "--port", "0"));
  const int connections = atoi(option(argc, argv, "--connections", "32"));
  const double seconds = atof(option(argc, argv, "--seconds", "5"));
  const char* path = option(argc, argv, "--path", "/plaintext");
  const char* suite = option(argc, argv, "--ciphersuite", "TLS_AES_128_GCM_SHA256");
  const char* group = option(argc, argv, "--group", "X25519");
  const long handshakes = atol(option(argc, argv, "--handshakes", "0"));
  server_name = option(argc, argv, "--name", "localhost");
  if (port <= 0 || connections <= 0 || seconds <= 0) {
    fprintf(stderr, "usage: tls_handshakes --port P [--connections C] [--seconds S] ...\n");
    return 2;
  }
  target.sin_family = AF_INET;
  target.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
    fprintf(stderr, "tls_handshakes: not an IPv4 address: %s\n", host);
    return 2;
  }
  request_size = (size_t)snprintf(request, sizeof request,
                                  "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
                                  server_name);

  context = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION);
  // Every handshake full: no session cache, no ticket kept, none offered.
  SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(context, SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
  static const unsigned char alpn[] = "\x08http/1.1";
  if (SSL_CTX_set_ciphersuites(context, suite) != 1 ||
      SSL_CTX_set1_groups_list(context, group) != 1 ||
      SSL_CTX_set_alpn_protos(context, alpn, sizeof alpn - 1) != 0) {
    fprintf(stderr, "tls_handshakes: bad --ciphersuite or --group\n");
    return 2;
  }

  poller = epoll_create1(EPOLL_CLOEXEC);
  struct slot* slots = calloc((size_t)connections, sizeof *slots);
  unsigned long begun = 0;
  for (int i = 0; i < connections; ++i) {
    slots[i].fd = -1;
    if (handshakes > 0 && begun >= (unsigned long)handshakes) break;
    if (open_slot(&slots[i]) != 0) ++failed;
    ++begun;
  }
  const double start = now_seconds();
  const double end = start + seconds;
  struct epoll_event events[256];
  while ((handshakes == 0 || completed + failed < (unsigned long)handshakes) &&
         now_seconds() < end) {
    const int n = epoll_wait(poller, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      struct slot* s = events[i].data.ptr;
      if (s->fd < 0) continue;
      if (advance(s)) {
        drop(s);
        if (handshakes > 0 && begun >= (unsigned long)handshakes) continue;
        if (open_slot(s) != 0) ++failed;
        ++begun;
      }
    }
    if (failed > 1000 && completed == 0) break;  // nothing works: stop early
  }
  const double elapsed = now_seconds() - start;
  for (int i = 0; i < connections; ++i) drop(&slots[i]);
  printf("tls-handshakes completed=%lu failed=%lu seconds=%.3f version=%s cipher=%s group=%s\n",
         completed, failed, elapsed, last_version[0] ? last_version : "-",
         last_cipher[0] ? last_cipher : "-", last_group[0] ? last_group : "-");
  free(slots);
  SSL_CTX_free(context);
  return completed > 0 ? 0 : 1;
}
