// TLS streams on OpenSSL 3: a per-connection session behind stream's private tls_ pointer.
//
// The session's BIO is, by default, a small custom BIO over the stream's own operations
// (stream_access): one path for TCP, Unix sockets, memory pipes and io_uring streams, which keeps
// the stream's readiness bookkeeping exact and follows the stream when it moves (the BIO points at
// the session, the session at the stream). OpenSSL turns kernel TLS on only over its socket BIO,
// so a TCP stream on an epoll loop whose context has kTLS writes through the socket BIO instead
// (chosen at the first operation, when it is known whether the stream is watched on a ring or on
// epoll); it still reads through the stream BIO.
#include "taut/transport/tls.hpp"

#include "loop_access.hpp"
#include "tls_session.hpp"

#if TAUT_HAVE_TLS
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#endif

namespace taut::transport {

#if TAUT_HAVE_TLS

namespace detail {

namespace {

// One TLS record's worth of plaintext: what writev gathers and sendfile copies per call.
constexpr std::size_t record_size = 16 * 1024;

struct identity {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;  // intermediates, leaf excluded
};

/// What encrypts and authenticates session tickets (AES-256-CBC and HMAC-SHA256, as OpenSSL's own
/// keys), named so that a ticket says which key made it.
struct ticket_key {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> cipher_key{};
  std::array<unsigned char, 32> mac_key{};
};

/// A server context's ticket keys: the current one encrypts, the previous one (retired at the
/// last rotation) only decrypts. Rotation happens inside the ticket callback when the clock says
/// it is due, so an idle server rotates too (its first handshake after a long pause drops both).
struct ticket_keys {
  std::mutex mutex;  // several loops' handshakes share the context
  ticket_key current;
  ticket_key previous;
  bool has_current = false;
  bool has_previous = false;
  time_point rotate_at{};
  duration interval{};
  const clock* time = nullptr;
  EVP_CIPHER* cipher = nullptr;  // fetched once: no lookup per handshake

  ticket_keys() = default;
  ticket_keys(const ticket_keys&) = delete;
  ticket_keys& operator=(const ticket_keys&) = delete;
  ~ticket_keys() {
    OPENSSL_cleanse(&current, sizeof current);
    OPENSSL_cleanse(&previous, sizeof previous);
    EVP_CIPHER_free(cipher);
  }
};

}  // namespace

struct tls_context_state {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool ktls = false;  // SSL_OP_ENABLE_KTLS is set
  std::string_view offload;
  std::string alpn_wire;  // server: the accepted protocols, ALPN wire format
  std::vector<identity> identities;
  // Client: the last resumable session per server name, for the most recently used names only:
  // a fixed table, so that neither memory nor OpenSSL's callback grows with the names seen.
  struct cached_session {
    std::array<char, 255> name{};
    std::uint8_t name_size = 0;
    SSL_SESSION* session = nullptr;
    std::uint64_t used = 0;  // when last stored or offered: the least recent goes first
  };
  static constexpr std::size_t max_cached_sessions = 32;
  std::mutex sessions_mutex;
  std::array<cached_session, max_cached_sessions> sessions{};
  std::uint64_t sessions_clock = 0;
  // Server with session tickets: its own rotating ticket keys.
  std::unique_ptr<ticket_keys> tickets;

  /// The entry for `name`, or null (the caller holds sessions_mutex).
  cached_session* cached(std::string_view name) noexcept {
    for (cached_session& entry : sessions) {
      if (entry.session != nullptr &&
          std::string_view(entry.name.data(), entry.name_size) == name) {
        return &entry;
      }
    }
    return nullptr;
  }

  tls_context_state() = default;
  tls_context_state(const tls_context_state&) = delete;
  tls_context_state& operator=(const tls_context_state&) = delete;
  ~tls_context_state() {
    for (cached_session& entry : sessions) SSL_SESSION_free(entry.session);
    for (identity& id : identities) {
      X509_free(id.cert);
      EVP_PKEY_free(id.key);
      sk_X509_pop_free(id.chain, X509_free);
    }
    SSL_CTX_free(ctx);
  }
};

/// Follows the plaintext handshake records a server receives (the ClientHello, and a second one
/// after a HelloRetryRequest) and refuses a handshake message declared larger than any honest
/// client sends: OpenSSL grows its buffer to the declared length (up to 128 KiB for a
/// ClientHello) as soon as the 4-byte message header arrives, so 9 bytes would otherwise hold
/// that much memory per connection until the connection times out.
struct handshake_guard {
  static constexpr std::uint32_t max_message = 16 * 1024;

  bool active = false;
  std::uint8_t header_have = 0;   // record header bytes collected
  std::uint8_t message_have = 0;  // handshake message header bytes collected
  std::uint8_t record_type = 0;
  std::uint32_t record_left = 0;   // body bytes of the current record still to come
  std::uint32_t message_left = 0;  // body bytes of the current handshake message still to come
  std::array<std::uint8_t, 5> header{};
  std::array<std::uint8_t, 4> message{};
};

struct tls_session {
  SSL* ssl = nullptr;
  stream* owner = nullptr;  // the stream this session belongs to; follows its moves
  std::shared_ptr<tls_context_state> context;
  ready_callback user;  // the watcher's callback
  // A readable notification of our own: a read that returned bytes and then found the peer's
  // close_notify or a failure must make sure the caller comes back for it, since no readiness
  // change of the stream will.
  soft_event wake;
  event_loop* wake_loop = nullptr;
  readiness unwatched_wake = readiness::none;  // a wake withdrawn by unwatch(), for the next watch
  std::string name;                            // client: the key its sessions are kept under
  int io_error = 0;                            // errno of a failed stream operation inside OpenSSL
  int failure_errno = 0;
  errc failure = errc::ok;  // sticky: every later operation reports it
  bool bio_attached = false;
  bool socket_bio = false;
  bool read_wants_write = false;  // the last read blocked because OpenSSL had to write
  bool write_wants_read = false;  // the last write blocked because OpenSSL had to read
  bool read_filled = false;       // the last read filled its buffer: more may wait inside OpenSSL
  bool received_any = false;      // the peer sent at least one byte
  bool established = false;       // the handshake completed (see note_established)
  bool raw_eof = false;
  bool write_shut = false;
  bool shutdown_pending = false;  // close_notify not taken by the stream yet
  // The size of an SSL_write that blocked: its record is encrypted and partly sent, and OpenSSL
  // sends nothing else (close_notify included) until a write of that size finishes it.
  std::size_t blocked_write = 0;
  handshake_guard guard;

  tls_session() = default;
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;
  ~tls_session() {
    if (wake_loop != nullptr) loop_access::withdraw(*wake_loop, wake);
    SSL_free(ssl);
  }
};

namespace {

// ---- the BIO over the stream's own operations -------------------------------------------------

tls_session& session_of(BIO* bio) noexcept {
  return *static_cast<tls_session*>(BIO_get_data(bio));
}

/// Whether the bytes about to go to OpenSSL declare no oversized handshake message. Stops looking
/// at the first encrypted byte: an application data record, or TLS 1.2's ChangeCipherSpec (TLS
/// 1.3's is a dummy, possibly before a second ClientHello).
bool within_limits(tls_session& session, const unsigned char* bytes, std::size_t size) noexcept {
  handshake_guard& guard = session.guard;
  while (size > 0 && guard.active) {
    if (guard.record_left == 0) {
      guard.header[guard.header_have++] = *bytes++;
      --size;
      if (guard.header_have < guard.header.size()) continue;
      guard.header_have = 0;
      guard.record_type = guard.header[0];
      guard.record_left = (std::uint32_t{guard.header[3]} << 8) | guard.header[4];
      if (guard.record_type == SSL3_RT_CHANGE_CIPHER_SPEC) {
        guard.active = SSL_version(session.ssl) == TLS1_3_VERSION;
      } else if (guard.record_type != SSL3_RT_HANDSHAKE && guard.record_type != SSL3_RT_ALERT) {
        guard.active = false;  // encrypted from here on, or garbage OpenSSL refuses itself
      }
      continue;
    }
    const std::size_t take = std::min<std::size_t>(size, guard.record_left);
    guard.record_left -= static_cast<std::uint32_t>(take);
    if (guard.record_type == SSL3_RT_HANDSHAKE) {
      for (std::size_t i = 0; i < take;) {
        if (guard.message_left > 0) {
          const std::size_t skip = std::min<std::size_t>(take - i, guard.message_left);
          guard.message_left -= static_cast<std::uint32_t>(skip);
          i += skip;
          continue;
        }
        guard.message[guard.message_have++] = bytes[i++];
        if (guard.message_have < guard.message.size()) continue;
        guard.message_have = 0;
        guard.message_left = (std::uint32_t{guard.message[1]} << 16) |
                             (std::uint32_t{guard.message[2]} << 8) | guard.message[3];
        if (guard.message_left > handshake_guard::max_message) return false;
      }
    }
    bytes += take;
    size -= take;
  }
  return true;
}

int bio_read(BIO* bio, char* out, int size) {
  BIO_clear_retry_flags(bio);
  tls_session& session = session_of(bio);
  stream& raw = *session.owner;
  // A watched stream's readiness is kept current by its loop: skip the read that would only
  // learn EAGAIN.
  if (raw.watched() && !stream_access::readable(raw)) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const io_result got = stream_access::read(raw, {out, static_cast<std::size_t>(size)});
  switch (got.status) {
    case io_status::done:
      if (got.bytes == 0 && size > 0) break;
      session.received_any = true;
      if (session.guard.active &&
          !within_limits(session, reinterpret_cast<unsigned char*>(out), got.bytes)) {
        session.failure = errc::tls_handshake_failed;
        return -1;
      }
      return static_cast<int>(got.bytes);
    case io_status::eof:
      session.raw_eof = true;
      return 0;
    case io_status::error:
      session.io_error = got.error_value > 0 ? got.error_value : ECONNRESET;
      return -1;
    case io_status::would_block:
      break;
  }
  BIO_set_retry_read(bio);
  return -1;
}

int bio_write(BIO* bio, const char* bytes, int size) {
  BIO_clear_retry_flags(bio);
  tls_session& session = session_of(bio);
  const const_buffer part(bytes, static_cast<std::size_t>(size));
  const io_result sent = stream_access::writev(*session.owner, {&part, 1});
  if (sent.done() && (sent.bytes > 0 || size == 0)) return static_cast<int>(sent.bytes);
  if (sent.failed()) {
    session.io_error = sent.error_value > 0 ? sent.error_value : EPIPE;
    return -1;
  }
  BIO_set_retry_write(bio);
  return -1;
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // every write went to the stream already
    case BIO_CTRL_EOF:
      return session_of(bio).raw_eof ? 1 : 0;  // tells OpenSSL an EOF is the peer's, not an error
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* stream_bio_method() noexcept {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "taut stream");
    if (made != nullptr) {
      BIO_meth_set_read(made, bio_read);
      BIO_meth_set_write(made, bio_write);
      BIO_meth_set_ctrl(made, bio_ctrl);
      BIO_meth_set_create(made, bio_create);
    }
    return made;
  }();
  return method;
}

// ---- errors --------------------------------------------------------------------------------

errc from_verify_result(long result) noexcept {
  switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return errc::tls_unknown_ca;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return errc::tls_wrong_name;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return errc::tls_expired;
    default:
      return errc::tls_handshake_failed;
  }
}

errc from_reason(int reason, bool handshake_done) noexcept {
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
      return errc::tls_protocol_too_old;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return errc::tls_no_application_protocol;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return errc::tls_unknown_ca;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return errc::tls_expired;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return handshake_done ? errc::tls_truncated : errc::tls_handshake_failed;
    default:
      return handshake_done ? errc::tls_protocol_error : errc::tls_handshake_failed;
  }
}

/// Records why an OpenSSL call failed, then empties the thread's error queue so that this
/// connection's error never shows up in another's.
void record_failure(tls_session& session, int ssl_error) noexcept {
  if (session.failure != errc::ok) {  // the BIO refused the peer's bytes and said why
    ERR_clear_error();
    return;
  }
  const bool done = session.established;
  if (ssl_error == SSL_ERROR_SYSCALL && session.io_error != 0) {
    session.failure_errno = session.io_error;
  } else if (ssl_error == SSL_ERROR_SYSCALL && session.socket_bio && errno != 0 &&
             errno != EAGAIN) {
    session.failure_errno = errno;
  } else {
    const unsigned long code = ERR_peek_error();
    // Without verification OpenSSL still records what a check would have found: not our verdict.
    const bool verifying = SSL_get_verify_mode(session.ssl) != SSL_VERIFY_NONE;
    const long verified = verifying ? SSL_get_verify_result(session.ssl) : X509_V_OK;
    if (!done && !session.context->server && verified != X509_V_OK) {
      session.failure = from_verify_result(verified);
    } else if (code != 0 && ERR_GET_LIB(code) == ERR_LIB_SSL) {
      session.failure = from_reason(ERR_GET_REASON(code), done);
    } else if (session.raw_eof) {
      session.failure = done ? errc::tls_truncated : errc::tls_handshake_failed;
    } else {
      session.failure = done ? errc::tls_protocol_error : errc::tls_handshake_failed;
    }
  }
  if (session.failure == errc::ok && session.failure_errno == 0) {
    session.failure = errc::tls_protocol_error;
  }
  ERR_clear_error();
}

io_result failed(const tls_session& session) noexcept {
  return session.failure_errno != 0 ? io_result::failure(session.failure_errno)
                                    : io_result::failure(session.failure);
}

bool has_failed(const tls_session& session) noexcept {
  return session.failure != errc::ok || session.failure_errno != 0;
}

std::atomic<bool> force_socket_bio{false};

void attach_bio(tls_session& session) noexcept {
  if (session.bio_attached) return;
  session.bio_attached = true;
  stream& raw = *session.owner;
  const bool socket_wanted =
      session.context->ktls || force_socket_bio.load(std::memory_order_relaxed);
  // Only on a stream already watched on an epoll loop: one not watched yet might be watched on an
  // io_uring loop later, whose sends would then race OpenSSL's writes.
  const bool socket_writes = socket_wanted && raw.kind() == transport_kind::tcp && raw.watched() &&
                             !stream_access::on_ring(raw) && raw.native_handle() >= 0;
  // Reads always go through the stream BIO, which sees the peer's bytes before OpenSSL does (the
  // handshake guard, EOF): kTLS pays off for sending (sendfile), and OpenSSL 3.0 turns it on per
  // direction, on the BIO of that direction.
  BIO* read_bio = nullptr;
  if (BIO_METHOD* method = stream_bio_method(); method != nullptr) {
    read_bio = BIO_new(method);
    if (read_bio != nullptr) BIO_set_data(read_bio, &session);
  }
  BIO* write_bio = read_bio;
  if (socket_writes && read_bio != nullptr) {
    write_bio = BIO_new_socket(raw.native_handle(), BIO_NOCLOSE);
    session.socket_bio = write_bio != nullptr;
  }
  if (read_bio == nullptr || write_bio == nullptr) {
    BIO_free(read_bio);
    session.failure = errc::tls_handshake_failed;
    ERR_clear_error();
    return;
  }
  SSL_set_bio(session.ssl, read_bio, write_bio);
}

/// After OpenSSL's socket BIO found the socket without data or room: the stream's cached
/// readiness must say so too, or an edge-triggered caller would spin.
void note_blocked(tls_session& session, readiness bits) noexcept {
  if (session.socket_bio) stream_access::clear_ready(*session.owner, bits);
}

thread_local std::array<char, record_size> gather_buffer;

/// The most plaintext one record carries: 16 KiB, or less once the peer negotiated
/// max_fragment_length (OpenSSL servers accept it by default), when OpenSSL cuts a larger write
/// into records of that size. A write capped at it is one record, so a blocked write has exactly
/// its own bytes pending (see finish_blocked_record).
std::size_t record_limit(const tls_session& session) noexcept {
  const SSL_SESSION* negotiated = SSL_get_session(session.ssl);
  const std::uint8_t mode =
      negotiated != nullptr ? SSL_SESSION_get_max_fragment_length(negotiated) : 0;
  if (mode >= TLSEXT_max_fragment_length_512 && mode <= TLSEXT_max_fragment_length_4096) {
    return std::size_t{512} << (mode - 1);
  }
  return record_size;
}

/// Sends the rest of the record of a write that blocked, when the caller shuts down or closes
/// instead of retrying it: OpenSSL would refuse to send close_notify before it (bad write retry)
/// and keep wanting to write. OpenSSL sends it from its own buffer; a write of the same size only
/// says "go on". Should OpenSSL still encrypt some of the bytes handed here (more than the record
/// pending), they are zeros, never a shared buffer's plaintext of another connection, and the
/// session fails: the peer sees a truncation, not a clean end after bytes never written. false
/// while the stream is still full.
bool finish_blocked_record(tls_session& session) noexcept {
  if (session.blocked_write == 0) return true;
  static constexpr std::array<char, record_size> filler{};
  std::size_t written = 0;
  const int sent = SSL_write_ex(session.ssl, filler.data(), session.blocked_write, &written);
  if (sent != 1 && SSL_get_error(session.ssl, sent) == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    note_blocked(session, readiness::writable);
    return false;
  }
  ERR_clear_error();  // sent, or the stream failed (then close_notify cannot go either)
  if (sent == 1 && written != session.blocked_write) session.failure = errc::tls_protocol_error;
  session.blocked_write = 0;
  return true;
}

/// Sends the rest of a post-handshake message that a write began and the stream had no room for
/// (the KeyUpdate a peer's request makes the next write send first): OpenSSL refuses close_notify
/// while one is under way (shutdown while in init), and a FIN instead would cut that message and
/// leave the peer a truncated stream. false while the stream is still full.
bool finish_post_handshake_message(tls_session& session) noexcept {
  if (SSL_in_init(session.ssl) == 0) return true;
  const int rc = SSL_do_handshake(session.ssl);
  if (rc != 1 && SSL_get_error(session.ssl, rc) == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    note_blocked(session, readiness::writable);
    return false;
  }
  ERR_clear_error();  // sent, or failed: SSL_shutdown then fails too and the stream ends bare
  return true;
}

/// Whether the handshake is over, a post-handshake message under way notwithstanding (OpenSSL is
/// "in init" again while it sends a KeyUpdate): close_notify is due then, a bare FIN before.
bool handshake_over(tls_session& session) noexcept {
  return session.established || SSL_is_init_finished(session.ssl) == 1;
}

std::error_code flush_shutdown(tls_session& session) noexcept {
  if (ERR_peek_error() != 0) ERR_clear_error();
  session.io_error = 0;
  if (!finish_blocked_record(session)) return {};  // the next writable event goes on
  if (has_failed(session)) {
    // Filler went out as data: close_notify would vouch for it.
    session.shutdown_pending = false;
    return stream_access::shutdown_write(*session.owner);
  }
  if (!finish_post_handshake_message(session)) return {};  // likewise
  const int rc = SSL_shutdown(session.ssl);
  if (rc < 0 && SSL_get_error(session.ssl, rc) == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    note_blocked(session, readiness::writable);
    return {};  // the stream is full: the next operation or writable event sends it
  }
  ERR_clear_error();
  session.shutdown_pending = false;
  return stream_access::shutdown_write(*session.owner);
}

void wake(tls_session& session, readiness bits) noexcept {
  io_handle& handle = stream_access::handle(*session.owner);
  if (handle.loop == nullptr) return;
  if (session.wake_loop != nullptr && session.wake_loop != handle.loop) {
    loop_access::withdraw(*session.wake_loop, session.wake);
  }
  session.wake_loop = handle.loop;
  session.wake.target = &handle;
  loop_access::raise(*handle.loop, session.wake, bits);
}

void wake_reader(tls_session& session) noexcept {
  wake(session, readiness::readable);
}

/// An operation got as far as wanting to read, or succeeded: OpenSSL's output is all in the
/// stream, so a read that was waiting to write no longer is. readable() then follows the stream's
/// readability, which no event may announce again (it was already true): wake the reader.
void output_flushed(tls_session& session) noexcept {
  if (!session.read_wants_write) return;
  session.read_wants_write = false;
  if (tls_readable(session)) wake(session, readiness::readable);
}

/// Once the handshake is over a write never needs to read (renegotiation is refused): when a read
/// finished it, writable() follows the stream's writability again, which no event will announce
/// (it did not change): wake the writer.
void note_handshake_over(tls_session& session) noexcept {
  if (!session.write_wants_read || SSL_is_init_finished(session.ssl) != 1) return;
  session.write_wants_read = false;
  if (tls_writable(session)) wake(session, readiness::writable);
}

/// SSL_get_error() reads the thread's error queue: an error another library (or the
/// application) left there would turn a plain would_block into a failure.
void forget_foreign_errors() noexcept {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

/// Whether the handshake completed, even when the call that completed it then failed (a bad record
/// or an EOF right after the peer's Finished): a fatal error puts OpenSSL back "in init", so
/// SSL_is_init_finished() says no, but the handshake state it reached stays TLS_ST_OK.
void note_established(tls_session& session) noexcept {
  if (!session.established) {
    session.established =
        SSL_is_init_finished(session.ssl) == 1 || SSL_get_state(session.ssl) == TLS_ST_OK;
  }
  if (session.established) session.guard.active = false;
}

/// What a write-side OpenSSL call that did not succeed means for the caller.
io_result write_blocked_or_failed(tls_session& session, int rc) noexcept {
  const int error = SSL_get_error(session.ssl, rc);
  switch (error) {
    case SSL_ERROR_WANT_WRITE:
      session.write_wants_read = false;
      note_blocked(session, readiness::writable);
      return io_result::blocked();
    case SSL_ERROR_WANT_READ:
      session.write_wants_read = true;
      note_blocked(session, readiness::readable);
      output_flushed(session);
      return io_result::blocked();
    default:
      record_failure(session, error);
      return failed(session);
  }
}

#if !defined(OPENSSL_NO_KTLS)
/// Under kTLS send OpenSSL does not copy application data: it writes it to the socket from the
/// caller's buffer and, after a short write, would send the rest later from that same address,
/// which may be gone or reused by then (writev's gathering buffer is the thread's). The kernel
/// frames the records itself, so taut sends the plaintext with sendmsg: a short write is a plain
/// byte count, nothing stays behind, and MSG_NOSIGNAL keeps SIGPIPE away. OpenSSL is never handed
/// application data on such a socket: it only finishes the handshake and its own post-handshake
/// messages (a KeyUpdate answer) first, which must not be interleaved with ours.
/// std::nullopt when the handshake ended without kTLS send (the kernel refused the cipher):
/// OpenSSL encrypts after all.
std::optional<io_result> kernel_send(tls_session& session,
                                     std::span<const const_buffer> parts) noexcept {
  if (SSL_is_init_finished(session.ssl) != 1) {
    forget_foreign_errors();
    session.io_error = 0;
    const int rc = SSL_do_handshake(session.ssl);
    note_established(session);
    if (rc != 1) return write_blocked_or_failed(session, rc);
    session.write_wants_read = false;
    output_flushed(session);
  }
  if (BIO_get_ktls_send(SSL_get_wbio(session.ssl)) != 1) return std::nullopt;
  std::array<iovec, 64> vectors;
  std::size_t count = 0;
  for (const const_buffer& part : parts) {
    if (count == vectors.size()) break;
    if (part.size == 0) continue;
    vectors[count++] = iovec{const_cast<void*>(part.data), part.size};
  }
  msghdr message{};
  message.msg_iov = vectors.data();
  message.msg_iovlen = count;
  for (;;) {
    const ssize_t sent = ::sendmsg(session.owner->native_handle(), &message, MSG_NOSIGNAL);
    if (sent >= 0) return io_result::transferred(static_cast<std::size_t>(sent));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      note_blocked(session, readiness::writable);
      return io_result::blocked();
    }
    session.failure_errno = errno;
    return failed(session);
  }
}

/// Whether application data must go through kernel_send: on a socket with kTLS send, and, on a
/// socket whose context may turn it on, before the handshake is over (kTLS is switched on inside
/// the handshake, possibly in the middle of an SSL_write that would then keep a pointer into the
/// caller's bytes).
bool kernel_sends(tls_session& session) noexcept {
  if (!session.socket_bio) return false;
  if (BIO_get_ktls_send(SSL_get_wbio(session.ssl)) == 1) return true;
  return session.context->ktls && SSL_is_init_finished(session.ssl) != 1;
}
#endif

io_result write_bytes(tls_session& session, const void* data, std::size_t size) noexcept {
#if !defined(OPENSSL_NO_KTLS)
  if (kernel_sends(session)) {
    const const_buffer part(data, size);
    if (const std::optional<io_result> sent = kernel_send(session, {&part, 1})) return *sent;
  }
#endif
  // One record per call: from 64 KiB on, a TLS 1.2 CBC cipher without encrypt-then-MAC would take
  // OpenSSL's multi-block path, which keeps up to 128 KiB pending and asks the retry for more
  // than writev's gathering can present (SSL_R_BAD_LENGTH).
  // And one record of the size the peer negotiated (max_fragment_length): see record_limit.
  size = std::min(size, record_limit(session));
  // A retry writes exactly the record that blocked: OpenSSL would otherwise go on to a second
  // record in the same call, and a blocked second record would leave blocked_write not knowing
  // how much is pending.
  if (session.blocked_write > 0) size = std::min(size, session.blocked_write);
  std::size_t written = 0;
  note_established(session);
  forget_foreign_errors();
  session.io_error = 0;  // only this call's stream errors explain its failure
  const int rc = SSL_write_ex(session.ssl, data, size, &written);
  note_established(session);
  // Pending is the first record of this write: its size is known only once the handshake is over
  // (this call may have finished it, and with it negotiated a smaller record). Before, what blocked
  // is the handshake's output, which needs no application data to finish.
  session.blocked_write =
      rc != 1 && SSL_want_write(session.ssl) && SSL_is_init_finished(session.ssl) == 1
          ? std::min(size, record_limit(session))
          : 0;
  if (rc == 1) {
    session.write_wants_read = false;
    output_flushed(session);
    return io_result::transferred(written);
  }
  return write_blocked_or_failed(session, rc);
}

bool is_ip_literal(const std::string& name) noexcept {
  unsigned char bytes[16];
  return ::inet_pton(AF_INET, name.c_str(), bytes) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), bytes) == 1;
}

// ---- contexts ------------------------------------------------------------------------------

enum class kernel_tls { loaded, loadable, absent };

kernel_tls kernel_has_tls() noexcept {
  std::ifstream ulps("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string ulp;
  while (ulps >> ulp) {
    if (ulp == "tls") return kernel_tls::loaded;
  }
  if (::access("/sys/module/tls", F_OK) == 0) return kernel_tls::loaded;
  // Only a module file: the first TCP_ULP request loads it, unless the kernel may not load
  // modules (a container): OpenSSL then falls back silently, so this is a maybe.
  utsname system{};
  if (::uname(&system) != 0) return kernel_tls::absent;
  const std::string modules = std::string("/lib/modules/") + system.release + "/kernel/net/tls";
  return ::access(modules.c_str(), F_OK) == 0 ? kernel_tls::loadable : kernel_tls::absent;
}

std::string_view offload_for(bool wanted) noexcept {
#if defined(OPENSSL_NO_KTLS)
  (void)wanted;
  return "no kTLS: OpenSSL built without it";
#else
  if (!wanted) return "no kTLS: disabled";
  static const kernel_tls kernel = kernel_has_tls();
  switch (kernel) {
    case kernel_tls::loaded:
      return "ktls";
    case kernel_tls::loadable:
      return "ktls if the kernel loads its tls module";
    case kernel_tls::absent:
      break;
  }
  return "no kTLS: the kernel has no tls module";
#endif
}

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) continue;
    wire += static_cast<char>(protocol.size());
    wire += protocol;
  }
  return wire;
}

void set_common_options(SSL_CTX* ctx) noexcept {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // The server's order, not the client's: a TLS 1.2 client listing CBC-SHA1 first gets AES-GCM.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes and a moving buffer: writes report what one record took, and the retry after
  // would_block may come from another buffer (writev's gathering) with the same bytes.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Whole buffers per stream read instead of a header then a body.
  SSL_CTX_set_read_ahead(ctx, 1);
}

int refuse_passphrase(char*, int, int, void*) {
  return 0;
}

std::error_code load_identity(const tls_certificate& files, identity& loaded) noexcept {
  BIO* cert_file = BIO_new_file(files.cert_file.c_str(), "r");
  if (cert_file == nullptr) return errc::tls_bad_certificate;
  loaded.cert = PEM_read_bio_X509(cert_file, nullptr, nullptr, nullptr);
  if (loaded.cert != nullptr) {
    loaded.chain = sk_X509_new_null();
    while (X509* next = PEM_read_bio_X509(cert_file, nullptr, nullptr, nullptr)) {
      sk_X509_push(loaded.chain, next);
    }
  }
  BIO_free(cert_file);
  ERR_clear_error();  // the end of the chain reads as an error
  if (loaded.cert == nullptr) return errc::tls_bad_certificate;
  BIO* key_file = BIO_new_file(files.key_file.c_str(), "r");
  if (key_file == nullptr) return errc::tls_bad_key;
  // An encrypted key is refused (tls_bad_key): without a callback OpenSSL would ask for its
  // passphrase on the terminal and block the caller.
  loaded.key = PEM_read_bio_PrivateKey(key_file, nullptr, refuse_passphrase, nullptr);
  BIO_free(key_file);
  if (loaded.key == nullptr || X509_check_private_key(loaded.cert, loaded.key) != 1) {
    return errc::tls_bad_key;
  }
  return {};
}

/// A fresh key from the generator OpenSSL keeps for private values.
bool make_ticket_key(ticket_key& key) noexcept {
  return RAND_priv_bytes(key.name.data(), key.name.size()) == 1 &&
         RAND_priv_bytes(key.cipher_key.data(), key.cipher_key.size()) == 1 &&
         RAND_priv_bytes(key.mac_key.data(), key.mac_key.size()) == 1;
}

/// Retires the current key when its interval is over (the caller holds keys.mutex). More than one
/// interval late (an idle server), the retired key's decrypting interval is over as well.
void rotate_ticket_keys(ticket_keys& keys) noexcept {
  const time_point now = keys.time->now();
  if (keys.has_current && now < keys.rotate_at) return;
  keys.has_previous = keys.has_current && now - keys.rotate_at < keys.interval;
  keys.previous = keys.current;
  if (!keys.has_previous) OPENSSL_cleanse(&keys.previous, sizeof keys.previous);
  keys.has_current = make_ticket_key(keys.current);
  if (!keys.has_current) OPENSSL_cleanse(&keys.current, sizeof keys.current);
  if (now >= keys.rotate_at) {
    keys.rotate_at += ((now - keys.rotate_at) / keys.interval + 1) * keys.interval;
  }
}

/// OpenSSL's ticket key callback: `encrypt` 1 asks for the key of a new ticket (0: issue none),
/// 0 for the key named in a ticket (0: unknown, a full handshake; 2: decrypted, and OpenSSL is to
/// issue a new ticket under the current key).
int ticket_key_callback(SSL* ssl, unsigned char* name, unsigned char* iv,
                        EVP_CIPHER_CTX* cipher_context, EVP_MAC_CTX* mac_context, int encrypt) {
  const auto* session = static_cast<const tls_session*>(SSL_get_app_data(ssl));
  if (session == nullptr || session->context->tickets == nullptr) return 0;
  ticket_keys& keys = *session->context->tickets;
  ticket_key key;
  bool found = false;
  bool retired = false;
  {
    const std::lock_guard lock(keys.mutex);
    rotate_ticket_keys(keys);
    if (encrypt != 0) {
      found = keys.has_current;
      if (found) key = keys.current;
    } else if (keys.has_current && std::memcmp(name, keys.current.name.data(), 16) == 0) {
      found = true;
      key = keys.current;
    } else if (keys.has_previous && std::memcmp(name, keys.previous.name.data(), 16) == 0) {
      found = retired = true;
      key = keys.previous;
    }
  }
  if (!found) return 0;
  const int iv_size = EVP_CIPHER_get_iv_length(keys.cipher);
  std::array<char, 7> digest{"SHA256"};
  const std::array<OSSL_PARAM, 3> mac_parameters{
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.mac_key.data(), key.mac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end()};
  // A key that cannot be set up is 0, as a missing one: no ticket, or a full handshake instead of
  // a resumption. A negative result would fail the handshake for what is only a lost shortcut.
  int result = 0;
  if (encrypt != 0) {
    std::memcpy(name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, iv_size) != 1) {
      result = 0;  // no ticket this time; the handshake goes on
    } else if (EVP_EncryptInit_ex(cipher_context, keys.cipher, nullptr, key.cipher_key.data(),
                                  iv) == 1 &&
               EVP_MAC_CTX_set_params(mac_context, mac_parameters.data()) == 1) {
      result = 1;
    }
  } else if (EVP_DecryptInit_ex(cipher_context, keys.cipher, nullptr, key.cipher_key.data(), iv) ==
                 1 &&
             EVP_MAC_CTX_set_params(mac_context, mac_parameters.data()) == 1) {
    // A TLS 1.3 client uses a ticket once: without a new one on every resumption it would make a
    // full handshake next time (OpenSSL's own keys renew too). TLS 1.2 tickets can be reused.
    result = retired || SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
  }
  OPENSSL_cleanse(&key, sizeof key);
  return result;
}

/// Ticket keys of our own instead of OpenSSL's single key for the life of the context.
std::error_code use_rotating_ticket_keys(tls_context_state& state,
                                         const tls_server_options& options) noexcept {
  using namespace std::chrono_literals;
  auto keys = std::make_unique<ticket_keys>();
  keys->time = options.ticket_clock != nullptr ? options.ticket_clock : &steady_clock();
  keys->interval = std::clamp<duration>(options.ticket_key_interval, 1s, 24h * 365);
  keys->cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  if (keys->cipher == nullptr || !make_ticket_key(keys->current)) return errno_code(ENOMEM);
  keys->has_current = true;
  keys->rotate_at = keys->time->now() + keys->interval;
  state.tickets = std::move(keys);
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(state.ctx, ticket_key_callback) != 1) {
    return errno_code(ENOMEM);
  }
  return {};
}

int select_certificate(SSL* ssl, void* argument) {
  const auto& state = *static_cast<const tls_context_state*>(argument);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return 1;
  for (std::size_t i = 0; i < state.identities.size(); ++i) {
    const identity& id = state.identities[i];
    if (X509_check_host(id.cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) != 1) {
      continue;
    }
    if (i == 0) return 1;  // the context's own certificate already
    return SSL_use_cert_and_key(ssl, id.cert, id.key, id.chain, 1) == 1 ? 1 : 0;
  }
  return 1;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* in,
                unsigned int in_size, void* argument) {
  const auto& state = *static_cast<const tls_context_state*>(argument);
  unsigned char* chosen = nullptr;
  const int found = SSL_select_next_proto(
      &chosen, out_size, reinterpret_cast<const unsigned char*>(state.alpn_wire.data()),
      static_cast<unsigned int>(state.alpn_wire.size()), in, in_size);
  if (found != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int keep_session(SSL* ssl, SSL_SESSION* made) {
  auto* session = static_cast<tls_session*>(SSL_get_app_data(ssl));
  if (session == nullptr || SSL_SESSION_is_resumable(made) != 1) return 0;
  if (session->name.size() > tls_context_state::cached_session{}.name.size()) return 0;
  tls_context_state& state = *session->context;
  const std::lock_guard lock(state.sessions_mutex);
  tls_context_state::cached_session* slot = state.cached(session->name);
  if (slot == nullptr) {
    slot = &*std::min_element(state.sessions.begin(), state.sessions.end(),
                              [](const auto& a, const auto& b) { return a.used < b.used; });
  }
  SSL_SESSION_free(slot->session);
  std::memcpy(slot->name.data(), session->name.data(), session->name.size());
  slot->name_size = static_cast<std::uint8_t>(session->name.size());
  slot->session = made;
  slot->used = ++state.sessions_clock;
  return 1;  // the table owns the reference OpenSSL handed over
}

}  // namespace

struct tls_access {
  static const std::shared_ptr<tls_context_state>& state(const tls_context& context) noexcept {
    return context.state_;
  }
};

namespace {

result<stream> wrap(stream&& raw, const tls_context& context, bool server,
                    std::string_view server_name) noexcept {
  tls_context_state* state = tls_access::state(context).get();
  if (!raw.is_open()) return errc::not_connected;
  if (state == nullptr || state->server != server || raw.is_tls()) {
    (void)raw.close();
    return errno_code(EINVAL);
  }
  // One allocation per connection (allocation failure aborts, as everywhere in the library).
  auto* session = new tls_session;
  session->ssl = SSL_new(state->ctx);
  if (session->ssl == nullptr) {
    delete session;
    ERR_clear_error();
    (void)raw.close();
    return errno_code(ENOMEM);
  }
  session->context = tls_access::state(context);
  if (server) {
    // A client's EOF without close_notify (its shutdown(SHUT_WR) after a request) must leave the
    // session able to answer: by default OpenSSL takes it for a fatal error, sends a decode_error
    // alert and refuses every later write. tls_read still reports it as tls_truncated (raw_eof).
    SSL_set_options(session->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  }
  // A client's first read must be able to start the handshake (its ClientHello): until then it
  // reads when it could write, as after a read that needed to write.
  session->read_wants_write = !server;
  SSL_set_app_data(session->ssl, session);
  if (server) {
    SSL_set_accept_state(session->ssl);
    session->guard.active = true;
  } else {
    SSL_set_connect_state(session->ssl);
    std::string name(server_name);
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    // An IPv6 zone ("fe80::1%eth0") says which interface, not whom the certificate names; SNI and
    // certificates carry names without the root's trailing dot.
    if (const std::size_t zone = name.find('%');
        zone != std::string::npos && name.find(':') != std::string::npos) {
      name.resize(zone);
    }
    if (name.size() > 1 && name.back() == '.') name.pop_back();
    const bool verifying = SSL_get_verify_mode(session->ssl) != SSL_VERIFY_NONE;
    const bool ip = is_ip_literal(name);
    // Verifying without a name would accept any certificate a trusted CA ever signed.
    bool named = !(verifying && name.empty());
    if (!ip && !name.empty()) named = SSL_set_tlsext_host_name(session->ssl, name.c_str()) == 1;
    if (verifying && named) {
      X509_VERIFY_PARAM* param = SSL_get0_param(session->ssl);
      // "f*.example.com" is no name a browser accepts either (RFC 6125 allows refusing it).
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      named = named && (ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                           : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1);
    }
    if (!named) {
      delete session;
      ERR_clear_error();
      (void)raw.close();
      return errno_code(EINVAL);
    }
    const std::lock_guard lock(state->sessions_mutex);
    if (tls_context_state::cached_session* found = state->cached(name)) {
      SSL_set_session(session->ssl, found->session);
      found->used = ++state->sessions_clock;
    }
    session->name = std::move(name);
  }
  stream made = std::move(raw);
  stream_access::session(made) = session;
  session->owner = &made;
  // Already watched: its callback must see translated readiness too, and its writable events
  // must flush a pending close_notify, as when watched after wrapping.
  if (made.watched()) {
    io_handle& handle = stream_access::handle(made);
    handle.on_ready = tls_watch(*session, handle.on_ready);
  }
  return made;
}

}  // namespace

// ---- the hooks stream.cpp calls -------------------------------------------------------------

void tls_force_socket_bio(bool on) noexcept {
  force_socket_bio.store(on, std::memory_order_relaxed);
}

bool tls_readable(const tls_session& session) noexcept {
  if (has_failed(session)) return true;
  const stream& raw = *session.owner;
  if (session.read_filled && SSL_has_pending(session.ssl) == 1) return true;
  if ((SSL_get_shutdown(session.ssl) & SSL_RECEIVED_SHUTDOWN) != 0) return true;
  if (session.read_wants_write) return stream_access::writable(raw);
  return stream_access::readable(raw);
}

bool tls_writable(const tls_session& session) noexcept {
  if (has_failed(session)) return true;
  const stream& raw = *session.owner;
  if (session.write_wants_read) return stream_access::readable(raw);
  return stream_access::writable(raw);
}

namespace {

/// OpenSSL's socket BIO reads behind the stream's back: what the stream BIO notes as it goes
/// (the peer sent a byte, the stream ended) is learnt from OpenSSL after a failed read.
void note_socket_eof(tls_session& session, int error) noexcept {
  if (BIO_number_read(SSL_get_rbio(session.ssl)) > 0) session.received_any = true;
  const unsigned long code = ERR_peek_error();
  if ((error == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
       ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
      (error == SSL_ERROR_SYSCALL && code == 0 && errno == 0)) {
    session.raw_eof = true;
  }
}

/// Whether bio_read would refuse without reading: the stream is watched and its loop says it has
/// nothing to read.
bool raw_drained(const tls_session& session) noexcept {
  const stream& raw = *session.owner;
  return raw.watched() && !stream_access::readable(raw);
}

}  // namespace

io_result tls_read(tls_session& session, std::span<char> into) noexcept {
  attach_bio(session);
  if (has_failed(session)) return failed(session);
  if (session.shutdown_pending) (void)flush_shutdown(session);
  if (into.empty()) return io_result::transferred(0);
  // Reads until the buffer is full or the stream has nothing more: a short read then means the
  // stream was drained, as a short socket read does (edge-triggered callers wait for an event).
  std::size_t total = 0;
  session.read_filled = false;
  note_established(session);
  forget_foreign_errors();
  session.io_error = 0;  // only this call's stream errors explain its failure
  for (;;) {
    std::size_t got = 0;
    const int rc = SSL_read_ex(session.ssl, into.data() + total, into.size() - total, &got);
    if (rc == 1 || !session.established) note_established(session);
    if (rc == 1) {
      total += got;
      session.read_wants_write = false;
      note_handshake_over(session);
      if (total == into.size()) {
        session.read_filled = true;
        return io_result::transferred(total);
      }
      // Nothing buffered inside OpenSSL and a watched stream known to be drained: another
      // SSL_read would only reach bio_read to learn would_block, and on its way allocate and free
      // a record buffer (SSL_MODE_RELEASE_BUFFERS) and run the record layer, about a fifth of a
      // keep-alive request's TLS cost. The bytes go back now, as that call would have let them.
      if (session.established && SSL_has_pending(session.ssl) == 0 && raw_drained(session)) {
        return io_result::transferred(total);
      }
      continue;
    }
    const int error = SSL_get_error(session.ssl, rc);
    switch (error) {
      case SSL_ERROR_WANT_READ:
        note_blocked(session, readiness::readable);
        output_flushed(session);
        note_handshake_over(session);
        break;
      case SSL_ERROR_WANT_WRITE:
        if (session.write_shut && !session.shutdown_pending) {
          // The writing side is shut (FIN sent): what OpenSSL wants to write can never go, and
          // waiting for writability would spin.
          ERR_clear_error();
          session.failure_errno = EPIPE;
          if (total == 0) return failed(session);
          wake_reader(session);
          break;
        }
        session.read_wants_write = true;
        note_blocked(session, readiness::writable);
        break;
      case SSL_ERROR_ZERO_RETURN:  // close_notify: the next read says EOF again
        ERR_clear_error();
        if (session.raw_eof) {
          // No close_notify: the stream ended, and OpenSSL, told to ignore that on a server's
          // session (see wrap), took it for one. Before the handshake's end it is as before: an
          // EOF if nothing came, else a failed handshake (sticky). After it, tls_truncated,
          // again at each read, without failing the session: what was received can be answered.
          if (!session.established && session.received_any) {
            session.failure = errc::tls_handshake_failed;
            if (total == 0) return failed(session);
          } else if (session.established && total == 0) {
            return io_result::failure(errc::tls_truncated);
          } else if (total == 0) {
            return io_result::end_of_stream();
          }
          wake_reader(session);
          break;
        }
        if (total == 0) return io_result::end_of_stream();
        wake_reader(session);
        break;
      default:
        if (session.socket_bio) note_socket_eof(session, error);
        if (!session.received_any && session.raw_eof && !session.established) {
          // Connected and left without a byte: an ordinary EOF, as on a plain stream.
          ERR_clear_error();
          if (total == 0) return io_result::end_of_stream();
          wake_reader(session);
          break;
        }
        record_failure(session, error);
        if (total == 0) return failed(session);
        wake_reader(session);
        break;  // the bytes first; the failure is sticky
    }
    return total > 0 ? io_result::transferred(total) : io_result::blocked();
  }
}

io_result tls_writev(tls_session& session, std::span<const const_buffer> parts) noexcept {
  attach_bio(session);
  if (has_failed(session)) return failed(session);
  if (session.write_shut) return io_result::failure(EPIPE);
  while (!parts.empty() && parts.front().size == 0) parts = parts.subspan(1);
  if (parts.empty()) return io_result::transferred(0);
#if !defined(OPENSSL_NO_KTLS)
  if (kernel_sends(session)) {
    if (const std::optional<io_result> sent = kernel_send(session, parts)) return *sent;
  }
#endif
  if (parts.size() == 1 || parts.front().size >= record_size) {
    return write_bytes(session, parts.front().data, parts.front().size);
  }
  // Several small parts: one record. A retry after would_block gathers at least as much (the
  // caller presents the same bytes first), which is all OpenSSL asks of the retried buffer.
  std::size_t gathered = 0;
  for (const const_buffer& part : parts) {
    const std::size_t take = std::min(part.size, record_size - gathered);
    std::memcpy(gather_buffer.data() + gathered, part.data, take);
    gathered += take;
    if (gathered == record_size) break;
  }
  return write_bytes(session, gather_buffer.data(), gathered);
}

io_result tls_sendfile(tls_session& session, int file_fd, std::uint64_t& offset,
                       std::size_t count) noexcept {
  attach_bio(session);
  if (has_failed(session)) return failed(session);
  if (session.write_shut) return io_result::failure(EPIPE);
  if (count == 0) return io_result::transferred(0);
#if !defined(OPENSSL_NO_KTLS)
  if (session.socket_bio && BIO_get_ktls_send(SSL_get_wbio(session.ssl)) == 1) {
    forget_foreign_errors();
    session.io_error = 0;
    const ossl_ssize_t sent =
        SSL_sendfile(session.ssl, file_fd, static_cast<off_t>(offset), count, 0);
    if (sent >= 0) {
      offset += static_cast<std::uint64_t>(sent);
      return io_result::transferred(static_cast<std::size_t>(sent));
    }
    const int system_error =
        ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_SYS ? ERR_GET_REASON(ERR_peek_error()) : errno;
    const int error = SSL_get_error(session.ssl, static_cast<int>(sent));
    if (error == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      note_blocked(session, readiness::writable);
      return io_result::blocked();
    }
    // sendfile(2) refusing this file (no splice support, an offset too large) says nothing about
    // the connection: the bytes take the copying path below instead, and nothing is sticky.
    const bool file_refused =
        error == SSL_ERROR_SYSCALL && (system_error == EINVAL || system_error == ENOSYS ||
                                       system_error == EOVERFLOW || system_error == EOPNOTSUPP);
    if (!file_refused) {
      record_failure(session, error);
      return failed(session);
    }
    ERR_clear_error();
  }
#endif
  // Without kTLS the bytes must pass through OpenSSL: one record's worth per call.
  const ssize_t got = ::pread(file_fd, gather_buffer.data(), std::min(count, record_limit(session)),
                              static_cast<off_t>(offset));
  if (got < 0) return io_result::failure(errno);
  if (got == 0) return io_result::transferred(0);
  const io_result sent = write_bytes(session, gather_buffer.data(), static_cast<std::size_t>(got));
  if (sent.done()) offset += sent.bytes;
  return sent;
}

std::error_code tls_shutdown_write(tls_session& session) noexcept {
  if (session.write_shut) return {};
  session.write_shut = true;
  attach_bio(session);
  if (has_failed(session) || !handshake_over(session)) {
    return stream_access::shutdown_write(*session.owner);
  }
  session.shutdown_pending = true;
  return flush_shutdown(session);
}

ready_callback tls_watch(tls_session& session, ready_callback on_ready) noexcept {
  session.user = on_ready;
  tls_session* const self = &session;
  return [self](readiness bits) {
    if (self->shutdown_pending && has(bits, readiness::writable)) (void)flush_shutdown(*self);
    // Translated, so that whoever waits for the direction it asked for gets it.
    if (self->read_wants_write && has(bits, readiness::writable)) bits |= readiness::readable;
    if (self->write_wants_read && has(bits, readiness::readable)) bits |= readiness::writable;
    self->user(bits);  // may destroy the stream and this session: nothing after it
  };
}

void tls_unwatch(tls_session& session) noexcept {
  // A wake left queued would be delivered by the old loop (another thread's, or one destroyed
  // first): keep what it carried for the next watch instead.
  if (session.wake_loop == nullptr) return;
  session.unwatched_wake |= session.wake.pending;
  loop_access::withdraw(*session.wake_loop, session.wake);
  session.wake_loop = nullptr;
}

void tls_watched(tls_session& session) noexcept {
  const readiness bits = session.unwatched_wake;
  session.unwatched_wake = readiness::none;
  if (bits != readiness::none) wake(session, bits);
}

void tls_move(tls_session& session, stream& now_at) noexcept {
  session.owner = &now_at;
  if (session.wake.target != nullptr) session.wake.target = &stream_access::handle(now_at);
}

void tls_end(tls_session*& session, bool notify) noexcept {
  if (session == nullptr) return;
  if (notify && session->bio_attached && !has_failed(*session) && handshake_over(*session) &&
      (SSL_get_shutdown(session->ssl) & SSL_SENT_SHUTDOWN) == 0 &&
      finish_blocked_record(*session) && !has_failed(*session) &&
      finish_post_handshake_message(*session)) {
    (void)SSL_shutdown(session->ssl);  // best effort: a full stream loses it
  }
  ERR_clear_error();
  delete session;
  session = nullptr;
}

}  // namespace detail

// ---- the public API -------------------------------------------------------------------------

bool tls_context::is_server() const noexcept {
  return state_ != nullptr && state_->server;
}

std::string_view tls_context::offload_status() const noexcept {
  return state_ != nullptr ? state_->offload : std::string_view("no kTLS: no context");
}

result<tls_context> tls_context::server(const tls_server_options& options) noexcept {
  if (options.certificates.empty()) return errc::tls_bad_certificate;
  auto state = std::make_shared<detail::tls_context_state>();
  state->server = true;
  ERR_clear_error();
  state->ctx = SSL_CTX_new(TLS_server_method());
  if (state->ctx == nullptr) {
    ERR_clear_error();
    return errno_code(ENOMEM);
  }
  SSL_CTX* ctx = state->ctx;
  detail::set_common_options(ctx);
  if (options.session_tickets) {
    // Stateless tickets only: the server keeps no session cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, options.tickets_per_handshake);
    if (const std::error_code ec = detail::use_rotating_ticket_keys(*state, options)) {
      ERR_clear_error();
      return ec;
    }
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  static constexpr unsigned char session_context[] = "taut";
  SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
  if ((!options.cipher_list.empty() &&
       SSL_CTX_set_cipher_list(ctx, options.cipher_list.c_str()) != 1) ||
      (!options.ciphersuites.empty() &&
       SSL_CTX_set_ciphersuites(ctx, options.ciphersuites.c_str()) != 1)) {
    ERR_clear_error();
    return errno_code(EINVAL);
  }
  for (const tls_certificate& files : options.certificates) {
    detail::identity& loaded = state->identities.emplace_back();
    if (const std::error_code ec = detail::load_identity(files, loaded)) {
      ERR_clear_error();
      return ec;
    }
  }
  const detail::identity& first = state->identities.front();
  if (SSL_CTX_use_cert_and_key(ctx, first.cert, first.key, first.chain, 1) != 1) {
    ERR_clear_error();
    return errc::tls_bad_key;
  }
  if (state->identities.size() > 1) {
    SSL_CTX_set_cert_cb(ctx, detail::select_certificate, state.get());
  }
  state->alpn_wire = detail::alpn_wire(options.alpn);
  if (!state->alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(ctx, detail::select_alpn, state.get());
  state->offload = detail::offload_for(options.ktls);
  state->ktls = state->offload.starts_with("ktls");
#if !defined(OPENSSL_NO_KTLS)
  if (state->ktls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
  tls_context made;
  made.state_ = std::move(state);
  return made;
}

result<tls_context> tls_context::client(const tls_client_options& options) noexcept {
  auto state = std::make_shared<detail::tls_context_state>();
  ERR_clear_error();
  state->ctx = SSL_CTX_new(TLS_client_method());
  if (state->ctx == nullptr) {
    ERR_clear_error();
    return errno_code(ENOMEM);
  }
  SSL_CTX* ctx = state->ctx;
  detail::set_common_options(ctx);
  if (options.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const int loaded = options.ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    if (loaded != 1) {
      ERR_clear_error();
      return errc::tls_bad_certificate;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  const std::string wire = detail::alpn_wire(options.alpn);
  if (!wire.empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned int>(wire.size())) != 0) {
    ERR_clear_error();
    return errno_code(EINVAL);
  }
  if (options.session_resumption) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, detail::keep_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  // Client streams use the stream BIO: kTLS pays off for servers' sendfile.
  state->offload = "no kTLS: client streams do not use it";
  tls_context made;
  made.state_ = std::move(state);
  return made;
}

result<stream> tls_accept(stream&& raw, const tls_context& server) noexcept {
  return detail::wrap(std::move(raw), server, true, {});
}

result<stream> tls_connect(stream&& raw, const tls_context& client,
                           std::string_view server_name) noexcept {
  return detail::wrap(std::move(raw), client, false, server_name);
}

tls_state tls_info(const stream& s) noexcept {
  const detail::tls_session* session = detail::stream_access::session(s);
  tls_state info;
  if (session == nullptr) return info;
  info.is_tls = true;
  SSL* ssl = session->ssl;
  info.handshake_done = session->established || SSL_is_init_finished(ssl) == 1;
  if (!info.handshake_done) return info;
  info.resumed = SSL_session_reused(ssl) == 1;
#if !defined(OPENSSL_NO_KTLS)
  if (session->socket_bio) {
    info.ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1;
    info.ktls_receive = BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1;
  }
#endif
  info.version = SSL_get_version(ssl);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
  if (alpn != nullptr) info.alpn = {reinterpret_cast<const char*>(alpn), alpn_size};
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    info.server_name = name;
  }
  if (const char* cipher = SSL_get_cipher_name(ssl)) info.cipher = cipher;
  return info;
}

bool tls_available() noexcept {
  return true;
}

#else  // built without OpenSSL: no stream ever has a session, so the hooks are never reached.

namespace detail {
struct tls_context_state {
  bool server = false;
};
bool tls_readable(const tls_session&) noexcept {
  return false;
}
bool tls_writable(const tls_session&) noexcept {
  return false;
}
io_result tls_read(tls_session&, std::span<char>) noexcept {
  return io_result::failure(errc::tls_unavailable);
}
io_result tls_writev(tls_session&, std::span<const const_buffer>) noexcept {
  return io_result::failure(errc::tls_unavailable);
}
io_result tls_sendfile(tls_session&, int, std::uint64_t&, std::size_t) noexcept {
  return io_result::failure(errc::tls_unavailable);
}
std::error_code tls_shutdown_write(tls_session&) noexcept {
  return errc::tls_unavailable;
}
ready_callback tls_watch(tls_session&, ready_callback on_ready) noexcept {
  return on_ready;
}
void tls_force_socket_bio(bool) noexcept {}
void tls_move(tls_session&, stream&) noexcept {}
void tls_unwatch(tls_session&) noexcept {}
void tls_watched(tls_session&) noexcept {}
void tls_end(tls_session*& session, bool) noexcept {
  session = nullptr;
}
}  // namespace detail

bool tls_context::is_server() const noexcept {
  return false;
}

std::string_view tls_context::offload_status() const noexcept {
  return "no kTLS: built without TLS";
}

result<tls_context> tls_context::server(const tls_server_options&) noexcept {
  return errc::tls_unavailable;
}

result<tls_context> tls_context::client(const tls_client_options&) noexcept {
  return errc::tls_unavailable;
}

result<stream> tls_accept(stream&& raw, const tls_context&) noexcept {
  (void)raw.close();
  return errc::tls_unavailable;
}

result<stream> tls_connect(stream&& raw, const tls_context&, std::string_view) noexcept {
  (void)raw.close();
  return errc::tls_unavailable;
}

tls_state tls_info(const stream&) noexcept {
  return {};
}

bool tls_available() noexcept {
  return false;
}

#endif

}  // namespace taut::transport
