// campaign_bench: the load client of tools/bench. Each invocation measures
// one thing once and prints one JSON object on stdout; tools/bench repeats,
// aggregates and compares. Kept out of the server libraries: it talks to
// campaignd only through the generated stubs, and to PostgreSQL through libpq
// (for the figures the service is put beside and the database's counters).
//
//   campaign_bench create-run --target H:P --api_key K --leads N [--request_id ID]
//       CreateRun of N leads (start_paused); seconds from the call until its
//       answer, which comes after the commit.
//   campaign_bench copy --target H:P --api_key K --database_url URL --leads N
//       the same N rows COPYed straight into outbound_call_jobs (libpq, one
//       transaction, as the URL's role) for a run made by CreateRun of one
//       lead; seconds from BEGIN until COMMIT returned.
//   campaign_bench unary --target H:P --api_key K [--clients 16 --seconds 5]
//       GetRun of one run from --clients threads, each on its own connection,
//       for --seconds; then grpc.health.v1 Health/Check the same way.
//   campaign_bench dispatch --target H:P --api_key K --leads N --concurrency C
//       [--database_url ADMIN_URL --stats_settle_seconds S]
//       [--watch_target H:P --streams K] [--cap_seconds T] [--reset_rss_pids P,P]
//       one run of N leads made paused, then resumed: jobs/s from the run's
//       start to completed (or jobs out of the queue over the time until the
//       cap, then stopped); with --database_url, the table ANALYZEd first, the
//       run polled through the database (not the service) and the database's
//       transactions and statements meanwhile; with --streams, K WatchRun
//       streams on --watch_target read every message.
//   campaign_bench raw-dispatch --target H:P --api_key K --database_url ADMIN_URL --leads N
//       the same job transitions as raw SQL on one connection, in batches of
//       --batch (default 1,000): claim (SKIP LOCKED) to dialing, calling,
//       completed; the run's counters once per batch. jobs/s.
//   campaign_bench control --target H:P --api_key K --trials T --concurrency C --leads L
//       --dial_log FILE
//       T runs, each stopped right after its first dial: StopRun latency and
//       dials in FILE (the simulated dialer's log) stamped after StopRun returned.
//   campaign_bench progress --target H:P --watch_target H:P --api_key K --streams K --changes M
//       K WatchRun streams on --watch_target; M times a job change (AddLeads of
//       one lead through --target): from AddLeads returning (committed) to the
//       message at each stream, p50/p99.
//   campaign_bench notify-rtt --database_url URL [--changes M]
//       raw NOTIFY to LISTEN receipt on the same server, from the NOTIFY's
//       call (its commit is seen by the listener before the sender), p50/p99.
//   campaign_bench failover --targets H:P,H:P --pids P,P --workers W,W --dial_log FILE
//       --database_url ADMIN_URL --leads L --concurrency C
//       two scheduling replicas; kill -9 of the run's holder mid-run, then the
//       first dial of the other (from the dial log), in seconds after the kill.
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "campaignd gRPC address (host:port)");
ABSL_FLAG(std::string, api_key, "", "API key (owner or writer of one business)");
ABSL_FLAG(std::string, database_url, "", "copy: PostgreSQL URL of the same database");
ABSL_FLAG(int64_t, leads, 100'000, "leads per request");
ABSL_FLAG(std::string, request_id, "", "create-run: request_id (default: made unique)");
ABSL_FLAG(int, clients, 16, "unary: concurrent clients, each on its own connection");
ABSL_FLAG(double, seconds, 5, "unary: seconds of calls per service");
ABSL_FLAG(int, concurrency, 1000, "dispatch, control, failover: the run's concurrency");
ABSL_FLAG(double, cap_seconds, 120, "dispatch: stop the run after this many seconds");
ABSL_FLAG(int, poll_ms, 100, "dispatch: GetRun polling interval until the run ends");
ABSL_FLAG(double, stats_settle_seconds, 0,
          "dispatch: wait before reading the database's counters (backends report late)");
ABSL_FLAG(std::string, watch_target, "", "dispatch, progress: replica the WatchRun streams use");
ABSL_FLAG(int, streams, 0, "dispatch, progress: WatchRun streams");
ABSL_FLAG(std::string, reset_rss_pids, "",
          "dispatch: processes whose peak RSS (VmHWM) starts over when the run is resumed");
ABSL_FLAG(int, batch, 1000, "raw-dispatch: jobs per batch");
ABSL_FLAG(int, trials, 100, "control: runs stopped");
ABSL_FLAG(std::string, dial_log, "", "control, failover: the simulated dialer's log");
ABSL_FLAG(int, changes, 40, "progress, notify-rtt: changes measured");
ABSL_FLAG(int, interval_ms, 250, "progress: time between changes");
ABSL_FLAG(std::string, targets, "", "failover: the two replicas, H:P,H:P");
ABSL_FLAG(std::string, pids, "", "failover: their process ids, P,P");
ABSL_FLAG(std::string, workers, "", "failover: their --worker-id, W,W");

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

// ------------------------------------------------------------ shared pieces

std::string BearerKey() { return absl::StrCat("Bearer ", absl::GetFlag(FLAGS_api_key)); }

// A client context with the API key and a deadline.
void Prepare(grpc::ClientContext* context, absl::Duration deadline = absl::Minutes(5)) {
  context->AddMetadata("authorization", BearerKey());
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
}

// A channel of its own connection (a distinct channel argument keeps gRPC
// from sharing the subchannel with the other channels of this process).
std::shared_ptr<grpc::Channel> OpenChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt("campaign_bench.connection", index);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    Die(absl::StrCat("cannot connect to ", target));
  }
  return channel;
}

void CheckOk(const grpc::Status& status, absl::string_view what) {
  if (!status.ok()) {
    Die(absl::StrCat(what, " failed: code ", status.error_code(), ": ", status.error_message()));
  }
}

// A paused run of `n` leads (ids from `first_lead`) at `concurrency`.
v1::OutboundCallRun CreatePausedRun(v1::CampaignService::Stub& stub, int64_t n, int concurrency,
                                    absl::string_view what, int64_t first_lead = 1) {
  v1::CreateRunRequest req;
  req.set_request_id(
      absl::StrCat("bench-", what, "-", getpid(), "-", Clock::now().time_since_epoch().count()));
  req.set_concurrency(concurrency);
  req.set_start_paused(true);
  req.mutable_leads()->Reserve(static_cast<int>(n));
  for (int64_t i = first_lead; i < first_lead + n; ++i) {
    v1::Lead* lead = req.add_leads();
    lead->set_lead_id(i);
    lead->set_phone(PhoneOf(i));
    lead->set_name(NameOf(i));
  }
  return CreateRun(stub, req, nullptr).run();
}

// Calls a unary method whose request names only a run (GetRun, ResumeRun,
// StopRun); dies unless it succeeds.
template <typename Request, typename Response>
Response CallOnRun(v1::CampaignService::Stub& stub,
                   grpc::Status (v1::CampaignService::Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                   int64_t run_id, const char* name) {
  grpc::ClientContext context;
  Prepare(&context, absl::Seconds(30));
  Request req;
  req.set_run_id(run_id);
  Response response;
  CheckOk((stub.*method)(&context, req, &response), name);
  return response;
}

v1::OutboundCallRun GetRun(v1::CampaignService::Stub& stub, int64_t run_id) {
  return CallOnRun(stub, &v1::CampaignService::Stub::GetRun, run_id, "GetRun");
}

void ResumeRun(v1::CampaignService::Stub& stub, int64_t run_id) {
  CallOnRun(stub, &v1::CampaignService::Stub::ResumeRun, run_id, "ResumeRun");
}

v1::StopRunResponse StopRun(v1::CampaignService::Stub& stub, int64_t run_id) {
  return CallOnRun(stub, &v1::CampaignService::Stub::StopRun, run_id, "StopRun");
}

bool IsTerminal(v1::RunStatus status) {
  return status == v1::RUN_STATUS_STOPPED || status == v1::RUN_STATUS_CANCELLED ||
         status == v1::RUN_STATUS_COMPLETED || status == v1::RUN_STATUS_FAILED;
}

// Jobs that left the queue (dialed, or cancelled by a stop).
int64_t JobsDone(const v1::OutboundCallRun& run) {
  return run.total_leads() - run.queued_count() - run.in_progress_count();
}

// The p-th percentile (0..100) of `values`, nearest rank; 0 when empty.
double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

// {"p50_ms":..,"p99_ms":..,"max_ms":..,"samples":..} of latencies in ms.
std::string LatencyJson(const std::vector<double>& ms) {
  return absl::StrFormat("{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"samples\":%zu}",
                         Percentile(ms, 50), Percentile(ms, 99), Percentile(ms, 100), ms.size());
}

// One libpq connection; every query dies on error (a benchmark cannot go on).
class Pg {
 public:
  explicit Pg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) Die(absl::StrCat("connect: ", PQerrorMessage(conn_)));
  }
  ~Pg() { PQfinish(conn_); }
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  PGconn* get() { return conn_; }

  // The first field of the first row of `sql` with text parameters (NULL: "").
  std::string Scalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    PGresult* result = Run(sql, params);
    std::string value = PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
    PQclear(result);
    return value;
  }
  void Exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    PQclear(Run(sql, params));
  }
  // Statements (each its own transaction) this connection ran.
  int64_t statements() const { return statements_; }

 private:
  PGresult* Run(const std::string& sql, const std::vector<std::string>& params) {
    ++statements_;
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string error = PQerrorMessage(conn_);
      PQclear(result);
      Die(absl::StrCat(sql.substr(0, 80), ": ", error));
    }
    return result;
  }

  PGconn* conn_;
  int64_t statements_ = 0;
};

// ------------------------------------------------------------------- unary

// `clients` threads, each on its own connection, call `call(i)` until
// `seconds` pass (after a short warm-up); calls/s and latency.
std::string MeasureCalls(int clients, double seconds,
                         const std::function<std::function<bool()>(int)>& make_caller) {
  std::vector<std::function<bool()>> callers;
  for (int i = 0; i < clients; ++i) callers.push_back(make_caller(i));
  for (auto& call : callers) {
    for (int k = 0; k < 20; ++k) {
      if (!call()) Die("warm-up call failed");
    }
  }
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<int64_t> errors{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      while (Clock::now() < end) {
        const Clock::time_point t = Clock::now();
        if (!callers[i]()) errors.fetch_add(1);
        latencies[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = SecondsSince(start);
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const std::string latency = LatencyJson(all);
  return absl::StrFormat("{\"calls_per_s\":%.1f,\"calls\":%zu,\"errors\":%lld,\"latency\":%s}",
                         static_cast<double>(all.size()) / elapsed, all.size(),
                         static_cast<long long>(errors.load()), latency);
}

int UnaryCommand() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const int clients = absl::GetFlag(FLAGS_clients);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  auto stub = v1::CampaignService::NewStub(OpenChannel(target, 0));
  const int64_t run_id = CreatePausedRun(*stub, 1, 1, "unary").id();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < clients; ++i) channels.push_back(OpenChannel(target, i + 1));
  const std::string get_run = MeasureCalls(clients, seconds, [&](int i) {
    auto s = std::shared_ptr<v1::CampaignService::Stub>(v1::CampaignService::NewStub(channels[i]));
    return std::function<bool()>([s, run_id] {
      grpc::ClientContext context;
      Prepare(&context, absl::Seconds(10));
      v1::GetRunRequest req;
      req.set_run_id(run_id);
      v1::OutboundCallRun run;
      return s->GetRun(&context, req, &run).ok();
    });
  });
  const std::string health = MeasureCalls(clients, seconds, [&](int i) {
    auto s = std::shared_ptr<grpc::health::v1::Health::Stub>(
        grpc::health::v1::Health::NewStub(channels[i]));
    return std::function<bool()>([s] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse response;
      return s->Check(&context, req, &response).ok() &&
             response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    });
  });
  std::printf("{\"clients\":%d,\"seconds\":%.3f,\"run_id\":%lld,\"get_run\":%s,\"health\":%s}\n",
              clients, seconds, static_cast<long long>(run_id), get_run.c_str(), health.c_str());
  return 0;
}

// ---------------------------------------------------------------- watchers

// One WatchRun stream read to its end: counts messages and, when asked,
// keeps each message's arrival time and the run's total_leads.
class Watcher final : public grpc::ClientReadReactor<v1::WatchRunResponse> {
 public:
  Watcher(v1::CampaignService::Stub* stub, int64_t run_id, bool keep_arrivals)
      : keep_arrivals_(keep_arrivals) {
    context_.AddMetadata("authorization", BearerKey());
    request_.set_run_id(run_id);
    stub->async()->WatchRun(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    {
      absl::MutexLock lock(&mu_);
      ++messages_;
      if (keep_arrivals_) arrivals_.emplace_back(Clock::now(), message_.run().total_leads());
    }
    StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  int64_t messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  bool failed() const {
    absl::MutexLock lock(&mu_);
    return done_ && !status_.ok() && status_.error_code() != grpc::StatusCode::CANCELLED;
  }
  std::string error() const {
    absl::MutexLock lock(&mu_);
    return status_.error_message();
  }
  // When the first message carrying at least `total_leads` leads arrived.
  std::optional<Clock::time_point> ArrivalOf(int64_t total_leads) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [at, total] : arrivals_) {
      if (total >= total_leads) return at;
    }
    return std::nullopt;
  }
  void Cancel() { context_.TryCancel(); }

 private:
  const bool keep_arrivals_;
  grpc::ClientContext context_;
  v1::WatchRunRequest request_;
  v1::WatchRunResponse message_;
  mutable absl::Mutex mu_;
  int64_t messages_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<Clock::time_point, int64_t>> arrivals_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// `count` streams on `target` watching `run_id`, spread over connections
// (at most 500 streams each: servers cap streams per connection); returns
// once each has its first message.
class WatcherPool {
 public:
  WatcherPool(const std::string& target, int64_t run_id, int count, bool keep_arrivals) {
    const int connections = std::max(1, (count + 499) / 500);
    for (int c = 0; c < connections; ++c) {
      stubs_.push_back(v1::CampaignService::NewStub(OpenChannel(target, 1000 + c)));
    }
    for (int i = 0; i < count; ++i) {
      watchers_.push_back(
          std::make_unique<Watcher>(stubs_[i % connections].get(), run_id, keep_arrivals));
    }
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
    for (auto& w : watchers_) {
      while (w->messages() == 0) {
        if (w->done()) Die(absl::StrCat("WatchRun ended before its first message: ", w->error()));
        if (Clock::now() > deadline) Die("WatchRun streams did not all start within 60 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  ~WatcherPool() {
    for (auto& w : watchers_) w->Cancel();
    for (auto& w : watchers_) {
      while (!w->done()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  WatcherPool(const WatcherPool&) = delete;
  WatcherPool& operator=(const WatcherPool&) = delete;

  // Waits until every stream ended by itself (a watched run ended) or `timeout`.
  void AwaitEnd(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (auto& w : watchers_) {
      while (!w->done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    }
  }
  int64_t Messages() const {
    int64_t n = 0;
    for (const auto& w : watchers_) n += w->messages();
    return n;
  }
  int Failed() const {
    int n = 0;
    for (const auto& w : watchers_) n += w->failed() ? 1 : 0;
    return n;
  }
  const std::vector<std::unique_ptr<Watcher>>& watchers() const { return watchers_; }

 private:
  std::vector<std::unique_ptr<v1::CampaignService::Stub>> stubs_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

// ---------------------------------------------------------------- dispatch

// The database's counters a dispatch is charged with.
struct DbCounters {
  int64_t xacts = 0;     // pg_stat_database xact_commit + xact_rollback
  int64_t next_xid = 0;  // the next transaction id (write transactions)
};

// Reads the counters after flushing this connection's own statistics (a
// backend reports them when idle, at most once a second unless asked).
DbCounters ReadCounters(Pg& pg) {
  pg.Exec("SELECT pg_stat_force_next_flush()");
  DbCounters c;
  c.xacts = std::stoll(
      pg.Scalar("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = "
                "current_database()"));
  c.next_xid = std::stoll(pg.Scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"));
  return c;
}

// The run's progress: through the database when a connection is given (so
// the polling costs the service nothing), else through GetRun.
v1::OutboundCallRun PollRun(v1::CampaignService::Stub& stub, Pg* pg, int64_t run_id) {
  if (pg == nullptr) return GetRun(stub, run_id);
  const std::string row = pg->Scalar(
      "SELECT concat_ws(',', CASE status WHEN 'completed' THEN 6 WHEN 'stopped' THEN 4 "
      "WHEN 'cancelled' THEN 5 WHEN 'failed' THEN 7 ELSE 2 END, total_leads, queued_count, "
      "in_progress_count) FROM outbound_call_runs WHERE id = $1",
      {absl::StrCat(run_id)});
  std::vector<int64_t> v;
  for (absl::string_view field : absl::StrSplit(row, ',')) {
    int64_t x = 0;
    if (!absl::SimpleAtoi(field, &x)) Die(absl::StrCat("bad run row ", row));
    v.push_back(x);
  }
  if (v.size() != 4) Die(absl::StrCat("bad run row ", row));
  v1::OutboundCallRun run;
  run.set_id(run_id);
  run.set_status(static_cast<v1::RunStatus>(v[0]));
  run.set_total_leads(v[1]);
  run.set_queued_count(v[2]);
  run.set_in_progress_count(v[3]);
  return run;
}

int DispatchCommand() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const int64_t n = absl::GetFlag(FLAGS_leads);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const double cap = absl::GetFlag(FLAGS_cap_seconds);
  const std::string url = absl::GetFlag(FLAGS_database_url);
  const int streams = absl::GetFlag(FLAGS_streams);
  const absl::Duration settle = absl::Seconds(absl::GetFlag(FLAGS_stats_settle_seconds));
  auto stub = v1::CampaignService::NewStub(OpenChannel(target, 0));
  const int64_t run_id = CreatePausedRun(*stub, n, concurrency, "dispatch").id();

  std::unique_ptr<WatcherPool> watchers;
  if (streams > 0) {
    watchers = std::make_unique<WatcherPool>(absl::GetFlag(FLAGS_watch_target), run_id, streams,
                                             /*keep_arrivals=*/false);
  }
  std::unique_ptr<Pg> pg;
  DbCounters before;
  int64_t own_before = 0;
  if (!url.empty()) {
    pg = std::make_unique<Pg>(url);
    // The table as autovacuum would soon leave it (the raw loop does the
    // same): planned from statistics of the rows just created.
    pg->Exec("ANALYZE outbound_call_jobs");
    // PostgreSQL's backends report their transaction counts when idle for
    // up to 10 s later: the settle lets earlier work (the CreateRun) land
    // before the first reading and the run's own before the last.
    absl::SleepFor(settle);
    pg->Exec("SELECT pg_stat_statements_reset()");
    // Own statements after the first reading's flush count in the delta.
    own_before = pg->statements() + 1;
    before = ReadCounters(*pg);
  }

  // The replicas' peak memory of the run itself, not of its creation: the
  // peak starts over at the resident size now (which keeps what the heap
  // retained from earlier work; reported as rss_at_resume_mb).
  std::vector<std::string> rss_at_resume;
  for (absl::string_view pid :
       absl::StrSplit(absl::GetFlag(FLAGS_reset_rss_pids), ',', absl::SkipEmpty())) {
    std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
    for (std::string line; std::getline(status, line);) {
      absl::string_view rest = line;
      int64_t kb = 0;
      if (absl::ConsumePrefix(&rest, "VmRSS:") &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(rest, "kB")), &kb)) {
        rss_at_resume.push_back(absl::StrFormat("\"%s\":%.1f", pid, kb / 1024.0));
      }
    }
    std::ofstream(absl::StrCat("/proc/", pid, "/clear_refs")) << "5\n";
  }
  const Clock::time_point start = Clock::now();
  ResumeRun(*stub, run_id);
  const Clock::time_point cap_at =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cap));
  v1::OutboundCallRun run = PollRun(*stub, pg.get(), run_id);
  while (!IsTerminal(run.status()) && Clock::now() < cap_at) {
    std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_poll_ms)));
    run = PollRun(*stub, pg.get(), run_id);
  }
  const double client_seconds = SecondsSince(start);
  const bool completed = run.status() == v1::RUN_STATUS_COMPLETED;
  const int64_t jobs = JobsDone(run);
  double seconds = client_seconds;
  if (completed) {
    // The run's own start (a worker acquired it) to its completion.
    const v1::OutboundCallRun ended = GetRun(*stub, run_id);
    if (ended.has_started_at() && ended.has_ended_at()) {
      seconds = static_cast<double>(ended.ended_at().seconds() - ended.started_at().seconds()) +
                (ended.ended_at().nanos() - ended.started_at().nanos()) / 1e9;
    }
  }
  if (!IsTerminal(run.status())) StopRun(*stub, run_id);  // capped: stop it where it is
  if (watchers) watchers->AwaitEnd(absl::Seconds(30));

  std::string db = "null";
  if (pg) {
    absl::SleepFor(settle);
    const int64_t own_after = pg->statements() + 1;  // + the flush request in ReadCounters
    const DbCounters after = ReadCounters(*pg);
    const int64_t dialed = std::stoll(pg->Scalar(
        "SELECT count(*) FROM outbound_call_jobs WHERE run_id = $1 AND dial_started_at IS NOT "
        "NULL",
        {absl::StrCat(run_id)}));
    const std::string statements = pg->Scalar(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE userid <> "
        "current_user::regrole");
    const std::string top = pg->Scalar(
        "SELECT coalesce(json_agg(s ORDER BY s.calls DESC), '[]') FROM ("
        " SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query, sum(calls) AS "
        "calls, round(sum(total_exec_time)::numeric, 1) AS total_ms, sum(rows) AS rows"
        " FROM pg_stat_statements WHERE userid <> current_user::regrole"
        " GROUP BY 1 ORDER BY 2 DESC LIMIT 8) s");
    // Minus this connection's own transactions since the first reading.
    // (Never below 0: without a settle, late reports may leave it short.)
    const int64_t xacts =
        std::max<int64_t>(0, after.xacts - before.xacts - (own_after - own_before));
    const int64_t write_xacts = after.next_xid - before.next_xid;
    const double per = dialed > 0 ? static_cast<double>(dialed) : 1.0;
    db = absl::StrFormat(
        "{\"dialed_jobs\":%lld,\"xacts\":%lld,\"write_xacts\":%lld,\"statements\":%s,"
        "\"xacts_per_job\":%.4f,\"write_xacts_per_job\":%.4f,\"statements_per_job\":%.4f,"
        "\"settle_seconds\":%.1f,\"top_statements\":%s}",
        static_cast<long long>(dialed), static_cast<long long>(xacts),
        static_cast<long long>(write_xacts), statements, static_cast<double>(xacts) / per,
        static_cast<double>(write_xacts) / per, std::stod(statements) / per,
        absl::ToDoubleSeconds(settle), top);
  }
  std::string watch = "null";
  if (watchers) {
    watch = absl::StrFormat("{\"streams\":%d,\"messages\":%lld,\"failed\":%d}", streams,
                            static_cast<long long>(watchers->Messages()), watchers->Failed());
  }
  std::printf(
      "{\"run_id\":%lld,\"leads\":%lld,\"concurrency\":%d,\"jobs\":%lld,\"seconds\":%.6f,"
      "\"rate\":%.1f,\"completed\":%s,\"capped\":%s,\"client_seconds\":%.6f,\"database\":%s,"
      "\"watch\":%s,\"rss_at_resume_mb\":{%s}}\n",
      static_cast<long long>(run_id), static_cast<long long>(n), concurrency,
      static_cast<long long>(jobs), seconds, static_cast<double>(jobs) / seconds,
      completed ? "true" : "false", completed || IsTerminal(run.status()) ? "false" : "true",
      client_seconds, db.c_str(), watch.c_str(), absl::StrJoin(rss_at_resume, ",").c_str());
  return 0;
}

// ------------------------------------------------------------ raw dispatch

// The transitions of a dial in batches, on the service's tables, the way a
// tight SQL-only job queue would run them (the run's version stamped as the
// service does, so watchers could follow).
constexpr char kRawClaim[] = R"sql(
WITH run AS (
  SELECT r.id, r.version + 1 AS next_version FROM outbound_call_runs r
   WHERE r.id = $1 AND r.business_id = $2 FOR NO KEY UPDATE),
picked AS (
  SELECT j.id FROM outbound_call_jobs j
   WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued'
   ORDER BY j.id LIMIT $3 FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE outbound_call_jobs j
     SET status = 'dialing', dial_lock_token = gen_random_uuid()::text,
         dial_started_at = now(), attempts = j.attempts + 1,
         run_version = (SELECT next_version FROM run)
    FROM picked WHERE j.id = picked.id AND j.business_id = $2
  RETURNING j.id),
counted AS (
  UPDATE outbound_call_runs r
     SET queued_count = r.queued_count - (SELECT count(*) FROM claimed),
         in_progress_count = r.in_progress_count + (SELECT count(*) FROM claimed),
         version = r.version + 1, updated_at = now()
   WHERE r.id = $1 AND r.business_id = $2 AND EXISTS (SELECT 1 FROM claimed)
  RETURNING 1)
SELECT coalesce(array_agg(id), '{}') AS ids, count(*) AS n FROM claimed)sql";

constexpr char kRawCalling[] = R"sql(
WITH started AS (
  UPDATE outbound_call_jobs j
     SET status = 'calling', call_sid = 'raw-' || j.id, started_at = now(),
         run_version = (SELECT r.version + 1 FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
   WHERE j.id = ANY($3::bigint[]) AND j.run_id = $1 AND j.business_id = $2
     AND j.status = 'dialing'
  RETURNING 1)
UPDATE outbound_call_runs r SET version = r.version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2 AND EXISTS (SELECT 1 FROM started))sql";

constexpr char kRawCompleted[] = R"sql(
WITH done AS (
  UPDATE outbound_call_jobs j
     SET status = 'completed', completed_at = now(),
         run_version = (SELECT r.version + 1 FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
   WHERE j.id = ANY($3::bigint[]) AND j.run_id = $1 AND j.business_id = $2
     AND j.status = 'calling'
  RETURNING 1)
UPDATE outbound_call_runs r
   SET in_progress_count = r.in_progress_count - (SELECT count(*) FROM done),
       completed_count = r.completed_count + (SELECT count(*) FROM done),
       cursor_position = r.cursor_position + (SELECT count(*) FROM done),
       version = r.version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2)sql";

int RawDispatchCommand() {
  const int64_t n = absl::GetFlag(FLAGS_leads);
  const int batch = absl::GetFlag(FLAGS_batch);
  const std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) Die("raw-dispatch needs --database_url");
  auto stub = v1::CampaignService::NewStub(OpenChannel(absl::GetFlag(FLAGS_target), 0));
  // A run made by the service, its jobs COPYed (faster than CreateRun, and
  // the same rows), then held by a lease no worker can take over.
  const v1::OutboundCallRun seed = CreatePausedRun(*stub, 1, 1000, "raw", n + 1);
  const std::string run_id = absl::StrCat(seed.id());
  const std::string business_id = absl::StrCat(seed.business_id());
  Pg pg(url);
  {
    std::string data;
    data.reserve(static_cast<size_t>(n) * 64);
    for (int64_t i = 1; i <= n; ++i) {
      absl::StrAppend(&data, run_id, "\t", business_id, "\t", i, "\t", PhoneOf(i), "\t", NameOf(i),
                      "\t\\N\tqueued\n");
    }
    Exec(pg.get(), "BEGIN");
    Exec(pg.get(),
         "COPY outbound_call_jobs (run_id, business_id, lead_id, phone, lead_name, project_id, "
         "status) FROM STDIN",
         PGRES_COPY_IN);
    if (PQputCopyData(pg.get(), data.data(), static_cast<int>(data.size())) != 1 ||
        PQputCopyEnd(pg.get(), nullptr) != 1) {
      Die(absl::StrCat("COPY: ", PQerrorMessage(pg.get())));
    }
    while (PGresult* result = PQgetResult(pg.get())) {
      if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        Die(absl::StrCat("COPY: ", PQresultErrorMessage(result)));
      }
      PQclear(result);
    }
    pg.Exec(
        "UPDATE outbound_call_runs SET total_leads = total_leads + $3, queued_count = "
        "queued_count + $3, status = 'running', started_at = now(), "
        "locked_by_worker = 'campaign-bench-raw-loop', lock_ts = now() + interval '1 day', "
        "lease_epoch = lease_epoch + 1 WHERE id = $1 AND business_id = $2",
        {run_id, business_id, absl::StrCat(n)});
    Exec(pg.get(), "COMMIT");
    pg.Exec("ANALYZE outbound_call_jobs");
  }
  for (const auto& [name, sql] : {std::pair{"claim", kRawClaim}, std::pair{"calling", kRawCalling},
                                  std::pair{"completed", kRawCompleted}}) {
    PGresult* result = PQprepare(pg.get(), name, sql, 0, nullptr);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      Die(absl::StrCat("prepare ", name, ": ", PQerrorMessage(pg.get())));
    }
    PQclear(result);
  }
  auto exec_prepared = [&](const char* name, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    PGresult* result = PQexecPrepared(pg.get(), name, static_cast<int>(values.size()),
                                      values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      Die(absl::StrCat(name, ": ", PQerrorMessage(pg.get())));
    }
    return result;
  };
  int64_t jobs = 0, batches = 0;
  const std::string limit = absl::StrCat(batch);
  const Clock::time_point start = Clock::now();
  for (;;) {
    PGresult* claimed = exec_prepared("claim", {run_id, business_id, limit});
    const std::string ids = PQgetvalue(claimed, 0, 0);
    const int64_t count = std::stoll(PQgetvalue(claimed, 0, 1));
    PQclear(claimed);
    if (count == 0) break;
    PQclear(exec_prepared("calling", {run_id, business_id, ids}));
    PQclear(exec_prepared("completed", {run_id, business_id, ids}));
    jobs += count;
    ++batches;
  }
  const double seconds = SecondsSince(start);
  pg.Exec(
      "UPDATE outbound_call_runs SET status = 'completed', ended_at = now(), completed_at = "
      "now(), locked_by_worker = NULL, lock_ts = NULL WHERE id = $1 AND business_id = $2",
      {run_id, business_id});
  std::printf(
      "{\"run_id\":%s,\"jobs\":%lld,\"batches\":%lld,\"batch\":%d,\"seconds\":%.6f,"
      "\"rate\":%.1f}\n",
      run_id.c_str(), static_cast<long long>(jobs), static_cast<long long>(batches), batch, seconds,
      static_cast<double>(jobs) / seconds);
  return 0;
}

// ------------------------------------------------------------------ control

// One line of the simulated dialer's log: when, which run, which worker.
struct DialLine {
  absl::Time at;
  int64_t run_id = 0;
  std::string worker;
};

// Parses "TIME run=R job=J lead=L phone=P worker=W token=T ..." (false when
// the line is not one).
bool ParseDialLine(absl::string_view line, DialLine* out) {
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) return false;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, line.substr(0, space), &out->at, &error)) return false;
  out->run_id = 0;
  out->worker.clear();
  for (absl::string_view field : absl::StrSplit(line.substr(space + 1), ' ')) {
    if (absl::ConsumePrefix(&field, "run=")) {
      if (!absl::SimpleAtoi(field, &out->run_id)) return false;
    } else if (absl::ConsumePrefix(&field, "worker=")) {
      out->worker = std::string(field);
    }
  }
  return out->run_id != 0;
}

int ControlCommand() {
  const int trials = absl::GetFlag(FLAGS_trials);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int64_t leads = absl::GetFlag(FLAGS_leads);
  const std::string log_path = absl::GetFlag(FLAGS_dial_log);
  if (log_path.empty()) Die("control needs --dial_log");
  auto stub = v1::CampaignService::NewStub(OpenChannel(absl::GetFlag(FLAGS_target), 0));
  absl::flat_hash_map<int64_t, absl::Time> returned;  // run -> when StopRun returned
  std::vector<double> latency_ms;
  int finished_first = 0;
  for (int t = 0; t < trials; ++t) {
    const int64_t run_id = CreatePausedRun(*stub, leads, concurrency, "control").id();
    ResumeRun(*stub, run_id);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    v1::OutboundCallRun run = GetRun(*stub, run_id);
    while (run.total_leads() == run.queued_count() && !IsTerminal(run.status())) {
      if (absl::Now() > deadline) Die(absl::StrCat("run ", run_id, " never started dialing"));
      absl::SleepFor(absl::Milliseconds(2));
      run = GetRun(*stub, run_id);
    }
    // Stop at different points of the pipeline: 0..20 ms after the first dials.
    absl::SleepFor(absl::Milliseconds(5 * (t % 5)));
    const absl::Time before = absl::Now();
    const v1::StopRunResponse stopped = StopRun(*stub, run_id);
    const absl::Time after = absl::Now();
    if (stopped.run().status() != v1::RUN_STATUS_STOPPED) {
      ++finished_first;  // ended before the stop: not a trial of the stop
      continue;
    }
    latency_ms.push_back(absl::ToDoubleMilliseconds(after - before));
    returned[run_id] = after;
  }
  // Dials of a stopped run can only come from jobs claimed before the stop;
  // wait until none is in flight, then read the log.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (const auto& [run_id, at] : returned) {
    while (GetRun(*stub, run_id).in_progress_count() > 0) {
      if (absl::Now() > deadline) Die(absl::StrCat("run ", run_id, " kept calls in progress"));
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  std::ifstream log(log_path);
  int64_t dials = 0, late = 0;
  double worst_late_ms = 0;
  absl::flat_hash_set<int64_t> late_runs;
  DialLine d;
  for (std::string line; std::getline(log, line);) {
    if (!ParseDialLine(line, &d)) continue;
    auto it = returned.find(d.run_id);
    if (it == returned.end()) continue;
    ++dials;
    if (d.at > it->second) {
      ++late;
      late_runs.insert(d.run_id);
      worst_late_ms = std::max(worst_late_ms, absl::ToDoubleMilliseconds(d.at - it->second));
    }
  }
  std::printf(
      "{\"trials\":%zu,\"ended_before_stop\":%d,\"concurrency\":%d,\"leads\":%lld,"
      "\"stop_latency\":%s,\"dials\":%lld,\"dials_after_return\":%lld,"
      "\"trials_with_dials_after_return\":%zu,\"latest_dial_after_return_ms\":%.3f}\n",
      returned.size(), finished_first, concurrency, static_cast<long long>(leads),
      LatencyJson(latency_ms).c_str(), static_cast<long long>(dials), static_cast<long long>(late),
      late_runs.size(), worst_late_ms);
  return 0;
}

// ----------------------------------------------------------------- progress

int ProgressCommand() {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int changes = absl::GetFlag(FLAGS_changes);
  auto stub = v1::CampaignService::NewStub(OpenChannel(absl::GetFlag(FLAGS_target), 0));
  const int64_t run_id = CreatePausedRun(*stub, 1, 1, "progress").id();
  WatcherPool pool(absl::GetFlag(FLAGS_watch_target), run_id, streams, /*keep_arrivals=*/true);
  std::vector<Clock::time_point> committed;
  std::vector<double> rpc_ms;
  for (int i = 1; i <= changes; ++i) {
    // Spaced beyond the watch rate limit, so each change is a message of its own.
    std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_interval_ms)));
    v1::AddLeadsRequest req;
    req.set_run_id(run_id);
    v1::Lead* lead = req.add_leads();
    lead->set_lead_id(1 + i);
    lead->set_phone(PhoneOf(1 + i));
    grpc::ClientContext context;
    Prepare(&context, absl::Seconds(30));
    v1::AddLeadsResponse response;
    const Clock::time_point call = Clock::now();
    CheckOk(stub->AddLeads(&context, req, &response), "AddLeads");
    committed.push_back(Clock::now());
    rpc_ms.push_back(std::chrono::duration<double, std::milli>(committed.back() - call).count());
  }
  // Every stream's message of the last change, or a deadline.
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  for (const auto& w : pool.watchers()) {
    while (!w->ArrivalOf(1 + changes) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::vector<double> latency_ms;
  int64_t missing = 0;
  for (const auto& w : pool.watchers()) {
    for (int i = 1; i <= changes; ++i) {
      std::optional<Clock::time_point> at = w->ArrivalOf(1 + i);
      if (!at) {
        ++missing;
        continue;
      }
      latency_ms.push_back(
          std::chrono::duration<double, std::milli>(*at - committed[i - 1]).count());
    }
  }
  {
    grpc::ClientContext context;
    Prepare(&context, absl::Seconds(30));
    v1::CancelRunRequest req;
    req.set_run_id(run_id);
    v1::OutboundCallRun run;
    (void)stub->CancelRun(&context, req, &run);
  }
  std::printf(
      "{\"run_id\":%lld,\"streams\":%d,\"changes\":%d,\"latency\":%s,\"missing\":%lld,"
      "\"failed_streams\":%d,\"add_leads_rpc\":%s}\n",
      static_cast<long long>(run_id), streams, changes, LatencyJson(latency_ms).c_str(),
      static_cast<long long>(missing), pool.Failed(), LatencyJson(rpc_ms).c_str());
  return 0;
}

int NotifyRttCommand() {
  const std::string url = absl::GetFlag(FLAGS_database_url);
  const int changes = absl::GetFlag(FLAGS_changes);
  Pg listener(url), sender(url);
  listener.Exec("LISTEN campaign_bench_rtt");
  std::vector<std::atomic<int64_t>> received(changes + 1);
  for (auto& r : received) r.store(0);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    const int fd = PQsocket(listener.get());
    while (!stop.load()) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int64_t now = Clock::now().time_since_epoch().count();
      PQconsumeInput(listener.get());
      while (PGnotify* note = PQnotifies(listener.get())) {
        int i = 0;
        if (absl::SimpleAtoi(note->extra, &i) && i >= 1 && i <= changes) received[i].store(now);
        PQfreemem(note);
      }
    }
  });
  std::vector<double> latency_ms;
  for (int i = 1; i <= changes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // From the call: the listener may hear of the commit before the sender does.
    const int64_t committed = Clock::now().time_since_epoch().count();
    sender.Exec(absl::StrCat("NOTIFY campaign_bench_rtt, '", i, "'"));
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
    while (received[i].load() == 0 && Clock::now() < deadline) std::this_thread::yield();
    if (received[i].load() == 0) Die("a NOTIFY never arrived");
    latency_ms.push_back(std::max<double>(0, std::chrono::duration<double, std::milli>(
                                                 Clock::duration(received[i].load() - committed))
                                                 .count()));
  }
  stop.store(true);
  reader.join();
  std::printf("{\"changes\":%d,\"latency\":%s}\n", changes, LatencyJson(latency_ms).c_str());
  return 0;
}

// ----------------------------------------------------------------- failover

int FailoverCommand() {
  const std::vector<std::string> targets = absl::StrSplit(absl::GetFlag(FLAGS_targets), ',');
  const std::vector<std::string> pids = absl::StrSplit(absl::GetFlag(FLAGS_pids), ',');
  const std::vector<std::string> workers = absl::StrSplit(absl::GetFlag(FLAGS_workers), ',');
  const std::string log_path = absl::GetFlag(FLAGS_dial_log);
  if (targets.size() != 2 || pids.size() != 2 || workers.size() != 2 || log_path.empty() ||
      absl::GetFlag(FLAGS_database_url).empty()) {
    Die("failover needs two --targets, --pids and --workers, --dial_log and --database_url");
  }
  std::vector<std::unique_ptr<v1::CampaignService::Stub>> stubs;
  for (int i = 0; i < 2; ++i) {
    stubs.push_back(v1::CampaignService::NewStub(OpenChannel(targets[i], i)));
  }
  const int64_t run_id = CreatePausedRun(*stubs[0], absl::GetFlag(FLAGS_leads),
                                         absl::GetFlag(FLAGS_concurrency), "failover")
                             .id();
  ResumeRun(*stubs[0], run_id);
  // Mid-run: held, and dialing for a while. The holder is read from the
  // database (GetRun shows it to system admins only).
  Pg pg(absl::GetFlag(FLAGS_database_url));
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string holder_id;
  for (;;) {
    const v1::OutboundCallRun run = GetRun(*stubs[0], run_id);
    if (JobsDone(run) + run.in_progress_count() >= 10) {
      holder_id =
          pg.Scalar("SELECT coalesce(locked_by_worker, '') FROM outbound_call_runs WHERE id = $1",
                    {absl::StrCat(run_id)});
      if (!holder_id.empty()) break;
    }
    if (absl::Now() > deadline || IsTerminal(run.status())) Die("the run never got going");
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int holder = holder_id == workers[0] ? 0 : 1;
  if (holder_id != workers[holder]) Die(absl::StrCat("run held by unknown worker ", holder_id));
  const int other = 1 - holder;
  int pid = 0;
  if (!absl::SimpleAtoi(pids[holder], &pid) || pid <= 0) Die("bad --pids");
  const absl::Time killed = absl::Now();
  if (kill(pid, SIGKILL) != 0) Die(absl::StrCat("kill ", pid, ": ", std::strerror(errno)));
  // The first dial of the run by the other worker, from the log.
  std::ifstream log(log_path);
  std::optional<absl::Time> first;
  std::string line;
  DialLine d;
  const absl::Time wait_until = absl::Now() + absl::Seconds(60);
  while (!first && absl::Now() < wait_until) {
    const std::streampos at = log.tellg();
    if (!std::getline(log, line) || log.eof()) {
      // At the end, maybe inside a line being written: read it again later.
      log.clear();
      log.seekg(at);
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (ParseDialLine(line, &d) && d.run_id == run_id && d.worker == workers[other] &&
        d.at > killed) {
      first = d.at;
    }
  }
  if (!first) Die("the other replica never dialed the run within 60 s of the kill");
  StopRun(*stubs[other], run_id);
  std::printf("{\"run_id\":%lld,\"killed_worker\":\"%s\",\"seconds\":%.6f}\n",
              static_cast<long long>(run_id), workers[holder].c_str(),
              absl::ToDoubleSeconds(*first - killed));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr char kCommands[] =
      "create-run|copy|unary|dispatch|raw-dispatch|control|progress|notify-rtt|failover";
  absl::SetProgramUsageMessage(
      absl::StrCat("campaign_bench ", kCommands, " [flags]: one measurement as JSON"));
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) Die(absl::StrCat("usage: campaign_bench ", kCommands, " [flags]"));
  const std::string command = args[1];
  if (command == "create-run") return CreateRunCommand();
  if (command == "copy") return CopyCommand();
  if (command == "unary") return UnaryCommand();
  if (command == "dispatch") return DispatchCommand();
  if (command == "raw-dispatch") return RawDispatchCommand();
  if (command == "control") return ControlCommand();
  if (command == "progress") return ProgressCommand();
  if (command == "notify-rtt") return NotifyRttCommand();
  if (command == "failover") return FailoverCommand();
  Die(absl::StrCat("unknown command ", command));
}
