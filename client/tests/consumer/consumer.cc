// Uses the installed client: builds a client for the address in argv[1] and
// makes one call without retries. Nothing listens there, so the call must
// fail as UNAVAILABLE (or DEADLINE_EXCEEDED where the port drops packets);
// exits 0 then, proving headers, protos, library and gRPC link and run.
#include <chrono>
#include <iostream>

#include "outbound/v1/campaign_service.pb.h"
#include "outbound_campaign/client.h"

int main(int argc, char** argv) {
  outbound::client::ClientOptions options;
  options.address = argc > 1 ? argv[1] : "127.0.0.1:1";
  options.api_key = "ocs_consumer";
  options.deadline = std::chrono::seconds(5);
  options.retry.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<outbound::client::Client>> client =
      outbound::client::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "Create: " << client.status() << "\n";
    return 1;
  }
  std::cout << "request id " << outbound::client::NewRequestId() << "\n";
  absl::StatusOr<outbound::v1::OutboundCallRun> run = (*client)->GetRun(1);
  std::cout << "GetRun against " << options.address << ": " << run.status() << "\n";
  const bool expected = absl::IsUnavailable(run.status()) || absl::IsDeadlineExceeded(run.status());
  return expected ? 0 : 1;
}
