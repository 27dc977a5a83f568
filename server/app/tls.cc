#include "server/app/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/util/status_macros.h"

namespace campaign::app {
namespace {

// The contents of the PEM file of `flag`; INVALID_ARGUMENT naming both when
// it cannot be read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view flag) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", flag, " \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (!file.good() && !file.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", flag, " \"", path, "\""));
  }
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", path, "\" is not a PEM file"));
  }
  return text.str();
}

// Checks that `cert_pem` holds a certificate and `key_pem` its private key,
// so a mismatch is one clear line instead of a failed listen.
absl::Status CheckKeyPair(const std::string& cert_pem, const std::string& key_pem,
                          const TlsFiles& files) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (cert == nullptr) {
    status = absl::InvalidArgumentError(
        absl::StrCat("--tls-cert \"", files.cert_path, "\" holds no PEM certificate"));
  } else if (key == nullptr) {
    status = absl::InvalidArgumentError(
        absl::StrCat("--tls-key \"", files.key_path, "\" holds no unencrypted PEM private key"));
  } else if (X509_check_private_key(cert, key) != 1) {
    status = absl::InvalidArgumentError(absl::StrCat("--tls-key \"", files.key_path,
                                                     "\" is not the key of --tls-cert \"",
                                                     files.cert_path, "\""));
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return status;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (files.cert_path.empty() && files.key_path.empty()) {
    if (!files.client_ca_path.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.cert_path.empty() || files.key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  ASSIGN_OR_RETURN(std::string cert, ReadPemFile(files.cert_path, "--tls-cert"));
  ASSIGN_OR_RETURN(std::string key, ReadPemFile(files.key_path, "--tls-key"));
  RETURN_IF_ERROR(CheckKeyPair(cert, key, files));
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!files.client_ca_path.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs,
                     ReadPemFile(files.client_ca_path, "--tls-client-ca"));
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({std::move(key), std::move(cert)});
  return grpc::SslServerCredentials(options);
}

}  // namespace campaign::app
