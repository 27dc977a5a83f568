// campaign_bench: the load client of tools/bench. Each invocation measures
// one thing once and prints one JSON object on stdout; tools/bench repeats,
// aggregates and compares. Kept out of the server libraries: it talks to
// campaignd only through the generated stubs, and to PostgreSQL through libpq
// (for the figures the service is put beside).
//
//   campaign_bench create-run --target H:P --api_key K --leads N [--request_id ID]
//       CreateRun of N leads (start_paused); seconds from the call until its
//       answer, which comes after the commit.
//   campaign_bench copy --target H:P --api_key K --database_url URL --leads N
//       the same N rows COPYed straight into outbound_call_jobs (libpq, one
//       transaction, as the URL's role) for a run made by CreateRun of one
//       lead; seconds from BEGIN until COMMIT returned.
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "outbound/v1/campaign_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "campaignd gRPC address (host:port)");
ABSL_FLAG(std::string, api_key, "", "API key (owner or writer of one business)");
ABSL_FLAG(std::string, database_url, "", "copy: PostgreSQL URL of the same database");
ABSL_FLAG(int64_t, leads, 100'000, "leads per request");
ABSL_FLAG(std::string, request_id, "", "create-run: request_id (default: made unique)");

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = outbound::v1;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "campaign_bench: " << message << "\n";
  std::exit(1);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// US area codes the numbers rotate through, so a run is not one prefix.
constexpr int kAreaCodes[] = {201, 212, 305, 312, 415, 512, 617, 702, 713, 808};

// Lead i's phone, already E.164 (what the service stores): valid, distinct
// for i below 10 * 800 * 9000, and never one of the simulated dialer's magic
// suffixes (0001..0004).
std::string PhoneOf(int64_t i) {
  const int area = kAreaCodes[i % 10];
  const int64_t rest = i / 10;
  return absl::StrFormat("+1%03d%03d%04d", area, 200 + (rest / 9000) % 800, 1000 + rest % 9000);
}

std::string NameOf(int64_t i) { return absl::StrCat("Lead ", i); }

std::unique_ptr<v1::CampaignService::Stub> Connect() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                           grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    Die(absl::StrCat("cannot connect to ", absl::GetFlag(FLAGS_target)));
  }
  return v1::CampaignService::NewStub(channel);
}

// CreateRun (paused, so an API-only or scheduling replica never dials it).
v1::CreateRunResponse CreateRun(v1::CampaignService::Stub& stub, const v1::CreateRunRequest& req,
                                double* seconds) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", absl::GetFlag(FLAGS_api_key)));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  v1::CreateRunResponse response;
  const Clock::time_point start = Clock::now();
  grpc::Status status = stub.CreateRun(&context, req, &response);
  if (seconds != nullptr) *seconds = SecondsSince(start);
  if (!status.ok()) {
    Die(absl::StrCat("CreateRun failed: code ", status.error_code(), ": ", status.error_message()));
  }
  return response;
}

std::string UniqueRequestId(absl::string_view what) {
  std::string id = absl::GetFlag(FLAGS_request_id);
  if (!id.empty()) return id;
  return absl::StrCat("bench-", what, "-", getpid(), "-", Clock::now().time_since_epoch().count());
}

int CreateRunCommand() {
  const int64_t n = absl::GetFlag(FLAGS_leads);
  v1::CreateRunRequest req;
  req.set_request_id(UniqueRequestId("create"));
  req.set_concurrency(1);
  req.set_start_paused(true);
  req.mutable_leads()->Reserve(static_cast<int>(n));
  for (int64_t i = 1; i <= n; ++i) {
    v1::Lead* lead = req.add_leads();
    lead->set_lead_id(i);
    lead->set_phone(PhoneOf(i));
    lead->set_name(NameOf(i));
  }
  auto stub = Connect();
  double seconds = 0;
  v1::CreateRunResponse response = CreateRun(*stub, req, &seconds);
  if (response.run().total_leads() != n) {
    Die(absl::StrCat("CreateRun made ", response.run().total_leads(), " jobs, not ", n));
  }
  std::printf("{\"seconds\":%.6f,\"leads\":%lld,\"run_id\":%lld,\"request_bytes\":%zu}\n", seconds,
              static_cast<long long>(n), static_cast<long long>(response.run().id()),
              req.ByteSizeLong());
  return 0;
}

// Runs one statement and dies unless it ends with `want`.
void Exec(PGconn* conn, const std::string& sql, ExecStatusType want = PGRES_COMMAND_OK) {
  PGresult* result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != want) {
    std::string error = PQerrorMessage(conn);
    PQclear(result);
    Die(absl::StrCat(sql.substr(0, 60), ": ", error));
  }
  PQclear(result);
}

// Text-format COPY field: the generated values hold no tab, newline or backslash.
int CopyCommand() {
  const int64_t n = absl::GetFlag(FLAGS_leads);
  const std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) Die("copy needs --database_url");
  // The run the rows belong to, made the way a user would.
  v1::CreateRunRequest req;
  req.set_request_id(UniqueRequestId("copy"));
  req.set_concurrency(1);
  req.set_start_paused(true);
  v1::Lead* seed = req.add_leads();
  seed->set_lead_id(n + 1);
  seed->set_phone(PhoneOf(n + 1));
  auto stub = Connect();
  const v1::CreateRunResponse created = CreateRun(*stub, req, nullptr);
  const int64_t run_id = created.run().id();
  const int64_t business_id = created.run().business_id();

  // Rows rendered before the clock starts, as the stub's request is built
  // before its clock starts.
  std::string data;
  data.reserve(static_cast<size_t>(n) * 64);
  for (int64_t i = 1; i <= n; ++i) {
    absl::StrAppend(&data, run_id, "\t", business_id, "\t", i, "\t", PhoneOf(i), "\t", NameOf(i),
                    "\t\\N\tqueued\n");
  }

  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) Die(absl::StrCat("connect: ", PQerrorMessage(conn)));
  const Clock::time_point start = Clock::now();
  Exec(conn, "BEGIN");
  Exec(conn,
       "COPY outbound_call_jobs (run_id, business_id, lead_id, phone, lead_name, project_id, "
       "status) FROM STDIN",
       PGRES_COPY_IN);
  constexpr size_t kChunk = 1 << 16;
  for (size_t off = 0; off < data.size(); off += kChunk) {
    const size_t len = std::min(kChunk, data.size() - off);
    if (PQputCopyData(conn, data.data() + off, static_cast<int>(len)) != 1) {
      Die(absl::StrCat("COPY data: ", PQerrorMessage(conn)));
    }
  }
  if (PQputCopyEnd(conn, nullptr) != 1) Die(absl::StrCat("COPY end: ", PQerrorMessage(conn)));
  PGresult* result;
  while ((result = PQgetResult(conn)) != nullptr) {
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      Die(absl::StrCat("COPY: ", PQresultErrorMessage(result)));
    }
    PQclear(result);
  }
  Exec(conn, "COMMIT");
  const double seconds = SecondsSince(start);
  PQfinish(conn);
  std::printf("{\"seconds\":%.6f,\"leads\":%lld,\"run_id\":%lld,\"copy_bytes\":%zu}\n", seconds,
              static_cast<long long>(n), static_cast<long long>(run_id), data.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("campaign_bench create-run|copy [flags]: one measurement as JSON");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) Die("usage: campaign_bench create-run|copy [flags]");
  const std::string command = args[1];
  if (command == "create-run") return CreateRunCommand();
  if (command == "copy") return CopyCommand();
  Die(absl::StrCat("unknown command ", command));
}
