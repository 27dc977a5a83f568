// The server's transport credentials from the --tls-* PEM files, checked at
// start (readable, PEM, the key matching the certificate) so a bad file is
// one clear line instead of a failed listen.
#ifndef CAMPAIGN_SERVER_APP_TLS_H_
#define CAMPAIGN_SERVER_APP_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace campaign::app {

// The PEM files of --tls-cert, --tls-key and --tls-client-ca (empty: not
// given).
struct TlsFiles {
  std::string cert_path;
  std::string key_path;
  std::string client_ca_path;
};

// Plaintext without a certificate; TLS with a certificate and key; mutual
// TLS (client certificates signed by the CA required) with a client CA too.
// INVALID_ARGUMENT naming the flag and file for a missing partner flag, an
// unreadable or non-PEM file, or a key that is not the certificate's.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace campaign::app

#endif  // CAMPAIGN_SERVER_APP_TLS_H_
