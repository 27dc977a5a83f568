// Measures what live progress costs the scheduler (issue 4 asks for < 10% of
// dispatch throughput). Dispatches one run of N zero-length calls through
// one in-process replica, twice per round on fresh databases:
//   baseline: the notification trigger dropped and nobody watching;
//   watched:  the trigger on, the listener running and 50 WatchRun streams
//             reading every message.
// Prints jobs per second for each; asserts nothing (timing is not a test).
// Usage: CAMPAIGN_TEST_ADMIN_URL=... watch_benchmark [jobs] [rounds]
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/app/server.h"
#include "server/rules/dialing_rules.h"
#include "server/progress/hub.h"
#include "tests/support/test_database.h"
#include "tests/support/test_server.h"

namespace campaign {
namespace {

namespace pb = ::outbound::v1;

// Dispatches `jobs` leads with `watchers` streams; returns jobs per second.
double Measure(int jobs, bool notify, int watchers) {
  testing::TestDatabase db;
  db.Migrate();
  if (!notify) db.ExecAsAdmin("DROP TRIGGER run_progress_notify ON outbound_call_runs");
  const int64_t business = db.CreateBusiness("bench");
  const std::string key = db.CreateApiKey(business, Role::kOwner).key;
  app::ServerConfig config;
  config.database_url = db.app_url();
  config.listen = "127.0.0.1:0";
  config.scheduler_enabled = true;
  config.default_dialing_policy = rules::AllDayPolicy();  // at any hour
  config.scheduler.poll_interval = absl::Milliseconds(5);
  config.scheduler.heartbeat_interval = absl::Seconds(1);
  config.simulated_dialer.call_duration = absl::ZeroDuration();
  config.watch_max_streams_per_business = 1000;
  auto server = app::CampaignServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::CampaignService::NewStub(channel);
  pb::CreateRunRequest create;
  create.set_request_id("bench");
  create.set_concurrency(100);
  create.set_start_paused(true);
  for (int i = 0; i < jobs; ++i) {
    pb::Lead* lead = create.add_leads();
    lead->set_lead_id(i + 1);
    lead->set_phone(absl::StrCat("+1415", 5552000 + i));
  }
  pb::CreateRunResponse created;
  if (!stub->CreateRun(testing::CallContext(key).get(), create, &created).ok()) std::exit(1);
  const int64_t run_id = created.run().id();

  std::vector<std::thread> readers;
  std::vector<int> messages(watchers, 0);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int i = 0; i < watchers; ++i) contexts.push_back(testing::CallContext(key));
  for (int i = 0; i < watchers; ++i) {
    readers.emplace_back([&, i] {
      pb::WatchRunRequest request;
      request.set_run_id(run_id);
      auto reader = stub->WatchRun(contexts[i].get(), request);
      pb::WatchRunResponse message;
      while (reader->Read(&message)) ++messages[i];
      reader->Finish();
    });
  }
  while ((*server)->progress_hub()->stats().streams < watchers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pb::ResumeRunRequest resume;
  resume.set_run_id(run_id);
  pb::OutboundCallRun run;
  const absl::Time start = absl::Now();
  if (!stub->ResumeRun(testing::CallContext(key).get(), resume, &run).ok()) std::exit(1);
  const std::string done = absl::StrCat(
      "SELECT count(*) FROM outbound_call_runs WHERE status = 'completed' AND id = ", run_id);
  while (db.QueryInt(done) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const absl::Duration elapsed = absl::Now() - start;
  for (std::thread& reader : readers) reader.join();
  int total = 0;
  for (int count : messages) total += count;
  const int64_t notifications = (*server)->progress_hub()->stats().notifications;
  const int64_t reads = (*server)->progress_hub()->stats().run_reads;
  const double rate = jobs / absl::ToDoubleSeconds(elapsed);
  std::printf(
      "%-9s %6d jobs in %7.3f s = %8.1f jobs/s; %d streams got %d messages; "
      "%lld notifications used, %lld run reads\n",
      notify ? "watched" : "baseline", jobs, absl::ToDoubleSeconds(elapsed), rate, watchers, total,
      static_cast<long long>(notifications), static_cast<long long>(reads));
  return rate;
}

}  // namespace
}  // namespace campaign

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  double baseline = 0;
  double watched = 0;
  for (int round = 0; round < rounds; ++round) {
    baseline += campaign::Measure(jobs, /*notify=*/false, /*watchers=*/0);
    watched += campaign::Measure(jobs, /*notify=*/true, /*watchers=*/50);
  }
  std::printf("mean: baseline %.1f jobs/s, watched %.1f jobs/s, cost %.1f%%\n", baseline / rounds,
              watched / rounds, 100.0 * (1.0 - watched / baseline));
  return 0;
}
