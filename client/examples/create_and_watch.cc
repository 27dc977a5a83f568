// Creates a run and watches it to the end, printing progress.
//
//   create_and_watch [--address HOST:PORT] [--api-key KEY] [--business-id ID]
//                    [--concurrency N] [--request-id ID]
//                    [--cacert FILE [--cert FILE --key FILE]]
//                    [PHONE[:NAME] ...]
//
// Settings default to CAMPAIGN_ADDR (127.0.0.1:50051), CAMPAIGN_API_KEY,
// CAMPAIGN_BUSINESS_ID, CAMPAIGN_TLS_CA, CAMPAIGN_TLS_CERT and
// CAMPAIGN_TLS_KEY. Without phones it calls a built-in demo list. Exits 0
// when the run completed, 1 when it ended otherwise (stopped, cancelled,
// failed), 2 on an error.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "outbound/v1/campaign_service.pb.h"
#include "outbound/v1/resources.pb.h"
#include "outbound_campaign/client.h"

namespace {

namespace v1 = ::outbound::v1;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string ShortStatus(v1::RunStatus status) {
  std::string name = v1::RunStatus_Name(status);
  const std::string prefix = "RUN_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string ShortStatus(v1::JobStatus status) {
  std::string name = v1::JobStatus_Name(status);
  const std::string prefix = "JOB_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

int Usage() {
  std::cerr << "usage: create_and_watch [--address HOST:PORT] [--api-key KEY] "
               "[--business-id ID] [--concurrency N] [--request-id ID] "
               "[--cacert FILE [--cert FILE --key FILE]] [PHONE[:NAME] ...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  outbound::client::ClientOptions options;
  options.address = Env("CAMPAIGN_ADDR", "127.0.0.1:50051");
  options.api_key = Env("CAMPAIGN_API_KEY");
  options.business_id = Env("CAMPAIGN_BUSINESS_ID");
  options.tls.ca_cert_path = Env("CAMPAIGN_TLS_CA");
  options.tls.client_cert_path = Env("CAMPAIGN_TLS_CERT");
  options.tls.client_key_path = Env("CAMPAIGN_TLS_KEY");
  v1::CreateRunRequest request;
  request.set_concurrency(2);

  std::vector<std::string> phones;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "-h" || arg == "--help") {
      Usage();
      return 0;
    } else if (arg.rfind("--", 0) == 0 && (v = value()) == nullptr) {
      return Usage();
    } else if (arg == "--address") {
      options.address = v;
    } else if (arg == "--api-key") {
      options.api_key = v;
    } else if (arg == "--business-id") {
      options.business_id = v;
    } else if (arg == "--concurrency") {
      request.set_concurrency(std::atoi(v));
    } else if (arg == "--request-id") {
      request.set_request_id(v);
    } else if (arg == "--cacert") {
      options.tls.ca_cert_path = v;
    } else if (arg == "--cert") {
      options.tls.client_cert_path = v;
    } else if (arg == "--key") {
      options.tls.client_key_path = v;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage();
    } else {
      phones.push_back(arg);
    }
  }
  if (options.api_key.empty()) {
    std::cerr << "create_and_watch: no API key (--api-key or CAMPAIGN_API_KEY)\n";
    return 2;
  }
  if (phones.empty()) {
    phones = {"+14155550101:Ada", "+14155550102:Grace", "+14155550103:Edsger",
              "+14155550104:Barbara", "+14155550105:Donald"};
  }
  for (size_t i = 0; i < phones.size(); ++i) {
    v1::Lead* lead = request.add_leads();
    lead->set_lead_id(static_cast<int64_t>(i) + 1);
    const size_t colon = phones[i].find(':');
    lead->set_phone(phones[i].substr(0, colon));
    if (colon != std::string::npos) lead->set_name(phones[i].substr(colon + 1));
  }

  options.on_retry = [](const outbound::client::RetryEvent& event) {
    std::cerr << event.method << ": " << event.status.message() << "; retrying in "
              << event.backoff.count() << " ms\n";
  };
  absl::StatusOr<std::unique_ptr<outbound::client::Client>> client =
      outbound::client::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "create_and_watch: " << client.status() << "\n";
    return 2;
  }

  absl::StatusOr<v1::CreateRunResponse> created = (*client)->CreateRun(request);
  if (!created.ok()) {
    std::cerr << "CreateRun: " << created.status() << "\n";
    return 2;
  }
  const v1::OutboundCallRun& run = created->run();
  std::cout << "run " << run.id() << " created (request_id " << run.request_id() << ", "
            << run.total_leads() << " leads, concurrency " << run.concurrency() << ")\n";

  v1::RunStatus final_status = run.status();
  const absl::Status watched =
      (*client)->WatchRun(run.id(), 0, [&final_status](const v1::WatchRunResponse& message) {
        const v1::OutboundCallRun& r = message.run();
        for (const v1::JobUpdate& update : message.job_updates()) {
          std::cout << "  lead " << update.lead_id() << ": " << ShortStatus(update.status())
                    << (update.error_message().empty() ? "" : " (" + update.error_message() + ")")
                    << "\n";
        }
        const int64_t percent =
            r.total_leads() > 0 ? 100 * r.cursor_position() / r.total_leads() : 0;
        std::cout << "[" << ShortStatus(r.status()) << "] " << r.cursor_position() << "/"
                  << r.total_leads() << " done (" << percent << "%): " << r.completed_count()
                  << " completed, " << r.failed_count() << " failed, " << r.cancelled_count()
                  << " cancelled, " << r.in_progress_count() << " in progress, " << r.queued_count()
                  << " queued\n";
        final_status = r.status();
        return true;  // keep watching: the stream ends after the terminal snapshot
      });
  if (!watched.ok()) {
    std::cerr << "WatchRun: " << watched << "\n";
    return 2;
  }
  std::cout << "run " << run.id() << " ended " << ShortStatus(final_status) << "\n";
  return final_status == v1::RUN_STATUS_COMPLETED ? 0 : 1;
}
