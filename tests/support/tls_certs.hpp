// Test certificates made at test time with OpenSSL's C API (ECDSA P-256): no private key is ever
// committed. Link the taut_test_tls_certs library (defined only when taut is built with TLS).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace taut::test {

/// What one certificate says. Validity is relative to now, in seconds.
struct tls_cert_request {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName dNSName entries ("*.example.com" ok)
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress entries ("127.0.0.1", "::1")
  long valid_from = -3600;                // not before: now + valid_from
  long valid_until = 30L * 24 * 3600;     // not after: now + valid_until
  bool is_ca = false;                     // basicConstraints CA:TRUE, keyCertSign
};

/// Makes a new P-256 key and a certificate for it, signed by the issuer (self-signed when
/// `issuer_cert_file` is empty), and writes both as PEM. False, with `error` set, on failure.
bool write_certificate(const tls_cert_request& request, const std::string& issuer_cert_file,
                       const std::string& issuer_key_file, const std::string& cert_file,
                       const std::string& key_file, std::string* error = nullptr);

/// The set of files the TLS tests use, all under `directory`.
struct tls_test_files {
  bool ok = false;
  std::string error;      // why not, when !ok
  std::string directory;  // where they are
  /// The trusted CA (give it as ca_file to clients).
  std::string ca_cert, ca_key;
  /// "localhost", 127.0.0.1 and ::1, signed by the CA.
  std::string cert, key;
  /// "other.test" and "*.other.test", signed by the CA (the second certificate for SNI).
  std::string other_cert, other_key;
  /// "localhost" and 127.0.0.1, signed by the CA, expired a day ago.
  std::string expired_cert, expired_key;
  /// "localhost" and 127.0.0.1, signed by a CA nobody trusts (its files: unknown_ca_cert/_key).
  std::string untrusted_cert, untrusted_key;
  std::string unknown_ca_cert, unknown_ca_key;
  /// Set when make_tls_test_files made the directory itself: the last copy of these files to go
  /// removes it (in the process that made it only, so a forked child leaves it be). Private keys
  /// of a test run do not outlive the run.
  std::shared_ptr<void> removal;
};

/// Writes every file of tls_test_files into `directory` (created if missing, and left in place),
/// or into a new temporary directory when it is empty (removed with the last copy of the result).
/// Fast (a few milliseconds): call it once per test binary.
[[nodiscard]] tls_test_files make_tls_test_files(std::string directory = {});

}  // namespace taut::test
