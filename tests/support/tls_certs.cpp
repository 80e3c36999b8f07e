#include "tls_certs.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace taut::test {

namespace {

struct free_key {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct free_cert {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, free_key>;
using cert_ptr = std::unique_ptr<X509, free_cert>;

bool fail(std::string* error, const std::string& what) {
  if (error != nullptr) {
    char reason[256] = "";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    *error = what + ": " + reason;
  }
  ERR_clear_error();
  return false;
}

cert_ptr read_cert(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) return nullptr;
  cert_ptr cert(PEM_read_bio_X509(file, nullptr, nullptr, nullptr));
  BIO_free(file);
  return cert;
}

key_ptr read_key(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) return nullptr;
  key_ptr key(PEM_read_bio_PrivateKey(file, nullptr, nullptr, nullptr));
  BIO_free(file);
  return key;
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) return false;
  const bool added = X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return added;
}

}  // namespace

bool write_certificate(const tls_cert_request& request, const std::string& issuer_cert_file,
                       const std::string& issuer_key_file, const std::string& cert_file,
                       const std::string& key_file, std::string* error) {
  key_ptr key(EVP_EC_gen("P-256"));
  if (!key) return fail(error, "cannot make a P-256 key");
  cert_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert.get()));
  BN_free(number);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), request.valid_from);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), request.valid_until);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("taut tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
                             -1, -1, 0);

  cert_ptr issuer;
  key_ptr issuer_key;
  if (issuer_cert_file.empty()) {
    X509_set_issuer_name(cert.get(), name);
  } else {
    issuer = read_cert(issuer_cert_file);
    issuer_key = read_key(issuer_key_file);
    if (!issuer || !issuer_key) return fail(error, "cannot read the issuer " + issuer_cert_file);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer.get()));
  }
  X509* signer = issuer ? issuer.get() : cert.get();

  std::string alt_names;
  for (const std::string& dns : request.dns_names) {
    alt_names += (alt_names.empty() ? "DNS:" : ",DNS:") + dns;
  }
  for (const std::string& ip : request.ip_addresses) {
    alt_names += (alt_names.empty() ? "IP:" : ",IP:") + ip;
  }
  const bool extended =
      add_extension(cert.get(), signer, NID_basic_constraints,
                    request.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
      add_extension(cert.get(), signer, NID_key_usage,
                    request.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
      add_extension(cert.get(), signer, NID_subject_key_identifier, "hash") &&
      add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always") &&
      (request.is_ca || add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth")) &&
      (alt_names.empty() || add_extension(cert.get(), signer, NID_subject_alt_name, alt_names));
  if (!extended) return fail(error, "cannot add the certificate's extensions");
  if (X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) == 0) {
    return fail(error, "cannot sign the certificate");
  }

  BIO* cert_out = BIO_new_file(cert_file.c_str(), "w");
  if (cert_out == nullptr) return fail(error, "cannot write " + cert_file);
  const bool cert_written = PEM_write_bio_X509(cert_out, cert.get()) == 1;
  BIO_free(cert_out);
  BIO* key_out = BIO_new_file(key_file.c_str(), "w");
  if (key_out == nullptr) return fail(error, "cannot write " + key_file);
  const bool key_written =
      PEM_write_bio_PrivateKey(key_out, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  BIO_free(key_out);
  if (!cert_written || !key_written) return fail(error, "cannot write the PEM files");
  return true;
}

tls_test_files make_tls_test_files(std::string directory) {
  tls_test_files files;
  if (directory.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/taut-tls-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      files.error = std::string("mkdtemp: ") + std::strerror(errno);
      return files;
    }
    directory = pattern;
    files.removal = std::shared_ptr<void>(nullptr, [directory, maker = ::getpid()](void*) {
      if (::getpid() != maker) return;
      std::error_code ignored;
      std::filesystem::remove_all(directory, ignored);
    });
  } else if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    files.error = "mkdir " + directory + ": " + std::strerror(errno);
    return files;
  }
  files.directory = directory;
  const auto path = [&](const char* name) { return directory + "/" + name; };
  files.ca_cert = path("ca.pem");
  files.ca_key = path("ca-key.pem");
  files.cert = path("localhost.pem");
  files.key = path("localhost-key.pem");
  files.other_cert = path("other.pem");
  files.other_key = path("other-key.pem");
  files.expired_cert = path("expired.pem");
  files.expired_key = path("expired-key.pem");
  files.unknown_ca_cert = path("unknown-ca.pem");
  files.unknown_ca_key = path("unknown-ca-key.pem");
  files.untrusted_cert = path("untrusted.pem");
  files.untrusted_key = path("untrusted-key.pem");

  tls_cert_request ca;
  ca.common_name = "taut test CA";
  ca.is_ca = true;
  ca.valid_from = -2L * 24 * 3600;
  ca.valid_until = 365L * 24 * 3600;
  tls_cert_request unknown_ca = ca;
  unknown_ca.common_name = "taut untrusted test CA";
  tls_cert_request local;
  local.common_name = "localhost";
  local.dns_names = {"localhost"};
  local.ip_addresses = {"127.0.0.1", "::1"};
  tls_cert_request other;
  other.common_name = "other.test";
  other.dns_names = {"other.test", "*.other.test"};
  tls_cert_request expired = local;
  expired.ip_addresses = {"127.0.0.1"};
  expired.valid_from = -30L * 24 * 3600;
  expired.valid_until = -24L * 3600;
  tls_cert_request untrusted = expired;
  untrusted.valid_from = -3600;
  untrusted.valid_until = 30L * 24 * 3600;

  std::string* error = &files.error;
  files.ok =
      write_certificate(ca, {}, {}, files.ca_cert, files.ca_key, error) &&
      write_certificate(unknown_ca, {}, {}, files.unknown_ca_cert, files.unknown_ca_key, error) &&
      write_certificate(local, files.ca_cert, files.ca_key, files.cert, files.key, error) &&
      write_certificate(other, files.ca_cert, files.ca_key, files.other_cert, files.other_key,
                        error) &&
      write_certificate(expired, files.ca_cert, files.ca_key, files.expired_cert, files.expired_key,
                        error) &&
      write_certificate(untrusted, files.unknown_ca_cert, files.unknown_ca_key,
                        files.untrusted_cert, files.untrusted_key, error);
  return files;
}

}  // namespace taut::test
