#include "server/observability/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/model/model.h"
#include "server/scheduler/scheduler.h"

namespace campaign::observability {
namespace {

// Latency buckets (seconds) for unary RPCs: 1 ms .. 30 s.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

constexpr RunStatus kRunStatuses[] = {
    RunStatus::kPending,   RunStatus::kRunning,   RunStatus::kPaused, RunStatus::kStopped,
    RunStatus::kCancelled, RunStatus::kCompleted, RunStatus::kFailed};

// Gauges whose values are read when scraped.
class ScrapeGauges : public prometheus::Collectable {
 public:
  void Add(std::string name, std::string help, std::function<double()> value) {
    absl::MutexLock lock(&mu_);
    gauges_.push_back(Gauge{std::move(name), std::move(help), std::move(value)});
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    std::vector<prometheus::MetricFamily> families;
    for (const Gauge& gauge : gauges_) {
      prometheus::MetricFamily family;
      family.name = gauge.name;
      family.help = gauge.help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.gauge.value = gauge.value();
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
    }
    return families;
  }

 private:
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> value;
  };
  mutable absl::Mutex mu_;
  std::vector<Gauge> gauges_ ABSL_GUARDED_BY(mu_);
};

class SchedulerAdapter : public scheduler::SchedulerMetrics {
 public:
  explicit SchedulerAdapter(Metrics* metrics) : metrics_(metrics) {}
  void LeaseTakenOver() override { metrics_->LeaseTakenOver(); }
  void JobReconciled(absl::string_view result) override { metrics_->JobReconciled(result); }
  void DialedAfterRunEnded() override { metrics_->DialedAfterRunEnded(); }
  void CallHungUpOnRunEnd() override { metrics_->CallHungUpOnRunEnd(); }
  void ClaimRateLimited() override { metrics_->ClaimRateLimited(); }
  void CallsRecorded(int starts, int results) override { metrics_->CallsRecorded(starts, results); }
  void ReplicationGateOn(bool on) override { metrics_->ReplicationGateOn(on); }
  void ClaimsHeld(double seconds, bool confirmed, int jobs) override {
    metrics_->ClaimsHeld(seconds, confirmed, jobs);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

absl::Status ValidateMetricsAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen \"", address, "\" is not host:port with a port 0..65535"));
  }
  return absl::OkStatus();
}

struct Metrics::Impl {
  explicit Impl(Metrics* owner)
      : registry(std::make_shared<prometheus::Registry>()),
        scrape_gauges(std::make_shared<ScrapeGauges>()),
        rpcs(prometheus::BuildCounter()
                 .Name("campaign_rpcs_total")
                 .Help("Finished RPCs by full method name and gRPC status code")
                 .Register(*registry)),
        rpc_duration(prometheus::BuildHistogram()
                         .Name("campaign_rpc_duration_seconds")
                         .Help("Latency of unary RPCs by full method name")
                         .Register(*registry)),
        dials(prometheus::BuildCounter()
                  .Name("campaign_dials_total")
                  .Help("Dials placed by this process by outcome (completed, failed, "
                        "no_answer, busy; rejected: the provider refused the dial)")
                  .Register(*registry)),
        active_calls(prometheus::BuildGauge()
                         .Name("campaign_active_calls")
                         .Help("Calls this process placed that have not ended")
                         .Register(*registry)
                         .Add({})),
        runs(prometheus::BuildGauge()
                 .Name("campaign_runs")
                 .Help("Runs of every business by status (refreshed periodically)")
                 .Register(*registry)),
        lease_takeovers(prometheus::BuildCounter()
                            .Name("campaign_lease_takeovers_total")
                            .Help("Runs whose expired lease this worker took over")
                            .Register(*registry)
                            .Add({})),
        reconciled_jobs(prometheus::BuildCounter()
                            .Name("campaign_reconciled_jobs_total")
                            .Help("Jobs found dialing or calling in a run taken over, "
                                  "looked up at the provider, by result")
                            .Register(*registry)),
        dials_after_run_end(prometheus::BuildCounter()
                                .Name("campaign_dials_after_run_end_total")
                                .Help("Calls dialed after their run ended (a job claimed "
                                      "before a Stop or Cancel committed, dialed after it); "
                                      "each is hung up at once. The goal is zero")
                                .Register(*registry)
                                .Add({})),
        rate_limited_claims(prometheus::BuildCounter()
                                .Name("campaign_rate_limited_claims_total")
                                .Help("Claims that took fewer jobs than their run had free "
                                      "slots because the business's calls-per-second bucket "
                                      "was short (the rate governor): its businesses dial at "
                                      "their limit")
                                .Register(*registry)
                                .Add({})),
        hangups_on_run_end(prometheus::BuildCounter()
                               .Name("campaign_hangups_on_run_end_total")
                               .Help("Calls in progress hung up because their run was "
                                     "stopped, cancelled or failed")
                               .Register(*registry)
                               .Add({})),
        record_batches(prometheus::BuildCounter()
                           .Name("campaign_call_record_batches_total")
                           .Help("Transactions that recorded accepted calls and outcomes "
                                 "(one per run per scheduler round)")
                           .Register(*registry)
                           .Add({})),
        recorded_calls(prometheus::BuildCounter()
                           .Name("campaign_call_records_total")
                           .Help("Accepted calls (kind=start) and outcomes (kind=result) "
                                 "recorded in those batches")
                           .Register(*registry)),
        database_errors(prometheus::BuildCounter()
                            .Name("campaign_database_errors_total")
                            .Help("Database errors (failed connects and statements) by "
                                  "status code")
                            .Register(*registry)),
        listener_probe_failures(
            prometheus::BuildCounter()
                .Name("campaign_listener_probe_failures_total")
                .Help("Liveness probes of the LISTEN connection (a self-NOTIFY) that did not "
                      "come back in time; each is followed by a reconnect")
                .Register(*registry)
                .Add({})),
        database_up(prometheus::BuildGauge()
                        .Name("campaign_database_up")
                        .Help("1 while the health probe reaches the database, else 0")
                        .Register(*registry)
                        .Add({})),
        replication_gate(prometheus::BuildGauge()
                             .Name("campaign_replicated_claims_gate")
                             .Help("1 while claimed batches wait for a synchronous standby "
                                   "before they are dialed (--require-replicated-claims), "
                                   "else 0")
                             .Register(*registry)
                             .Add({})),
        held_batches(prometheus::BuildHistogram()
                         .Name("campaign_replicated_claims_hold_seconds")
                         .Help("How long the replicated-claims gate held each claimed batch, "
                               "by result: confirmed (a synchronous standby flushed it; "
                               "dialed) or given_back (returned to the queue undialed)")
                         .Register(*registry)),
        claims_given_back(prometheus::BuildCounter()
                              .Name("campaign_replicated_claims_given_back_total")
                              .Help("Claims returned to the queue undialed because no "
                                    "synchronous standby confirmed them in time")
                              .Register(*registry)
                              .Add({})),
        scheduler_adapter(owner) {}

  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<ScrapeGauges> scrape_gauges;
  prometheus::Family<prometheus::Counter>& rpcs;
  prometheus::Family<prometheus::Histogram>& rpc_duration;
  prometheus::Family<prometheus::Counter>& dials;
  prometheus::Gauge& active_calls;
  prometheus::Family<prometheus::Gauge>& runs;
  prometheus::Counter& lease_takeovers;
  prometheus::Family<prometheus::Counter>& reconciled_jobs;
  prometheus::Counter& dials_after_run_end;
  prometheus::Counter& rate_limited_claims;
  prometheus::Counter& hangups_on_run_end;
  prometheus::Counter& record_batches;
  prometheus::Family<prometheus::Counter>& recorded_calls;
  prometheus::Family<prometheus::Counter>& database_errors;
  prometheus::Counter& listener_probe_failures;
  prometheus::Gauge& database_up;
  prometheus::Gauge& replication_gate;
  prometheus::Family<prometheus::Histogram>& held_batches;
  prometheus::Counter& claims_given_back;
  SchedulerAdapter scheduler_adapter;
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = 0;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>(this)) {
  for (RunStatus status : kRunStatuses) {
    impl_->runs.Add({{"status", std::string(RunStatusName(status))}}).Set(0);
  }
  // Outcomes are listed up front so dashboards see zeros rather than gaps.
  for (const char* outcome : {"completed", "failed", "no_answer", "busy", "rejected"}) {
    impl_->dials.Add({{"outcome", outcome}});
  }
}

Metrics::~Metrics() = default;

void Metrics::RecordRpc(absl::string_view method, absl::string_view code,
                        std::optional<double> seconds) {
  const std::string method_name(method);
  impl_->rpcs.Add({{"method", method_name}, {"code", std::string(code)}}).Increment();
  if (seconds)
    impl_->rpc_duration.Add({{"method", method_name}}, kLatencyBuckets).Observe(*seconds);
}

void Metrics::RecordDial(absl::string_view outcome) {
  impl_->dials.Add({{"outcome", std::string(outcome)}}).Increment();
}

void Metrics::CallStarted() { impl_->active_calls.Increment(); }

void Metrics::CallEnded() { impl_->active_calls.Decrement(); }

void Metrics::RecordDatabaseError(const absl::Status& error) {
  impl_->database_errors.Add({{"code", absl::StatusCodeToString(error.code())}}).Increment();
}

void Metrics::LeaseTakenOver() { impl_->lease_takeovers.Increment(); }

void Metrics::DialedAfterRunEnded() { impl_->dials_after_run_end.Increment(); }

void Metrics::ClaimRateLimited() { impl_->rate_limited_claims.Increment(); }

void Metrics::ReplicationGateOn(bool on) { impl_->replication_gate.Set(on ? 1 : 0); }

void Metrics::ClaimsHeld(double seconds, bool confirmed, int jobs) {
  // Hold times: 100 us .. 10 s (a synchronous standby on a LAN confirms in
  // about a millisecond; the give-back timeout is seconds).
  static const prometheus::Histogram::BucketBoundaries kHoldBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  impl_->held_batches.Add({{"result", confirmed ? "confirmed" : "given_back"}}, kHoldBuckets)
      .Observe(seconds);
  if (!confirmed) impl_->claims_given_back.Increment(jobs);
}

void Metrics::CallHungUpOnRunEnd() { impl_->hangups_on_run_end.Increment(); }

void Metrics::CallsRecorded(int starts, int results) {
  impl_->record_batches.Increment();
  impl_->recorded_calls.Add({{"kind", "start"}}).Increment(starts);
  impl_->recorded_calls.Add({{"kind", "result"}}).Increment(results);
}

void Metrics::JobReconciled(absl::string_view result) {
  impl_->reconciled_jobs.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::SetRunsByStatus(const std::map<std::string, int64_t>& counts) {
  for (RunStatus status : kRunStatuses) {
    const std::string name(RunStatusName(status));
    auto it = counts.find(name);
    impl_->runs.Add({{"status", name}}).Set(it == counts.end() ? 0 : it->second);
  }
}

void Metrics::SetDatabaseUp(bool up) { impl_->database_up.Set(up ? 1 : 0); }

void Metrics::ListenerProbeFailed() { impl_->listener_probe_failures.Increment(); }

void Metrics::AddScrapeGauge(const std::string& name, const std::string& help,
                             std::function<double()> value) {
  impl_->scrape_gauges->Add(name, help, std::move(value));
}

absl::Status Metrics::Serve(const std::string& address) {
  if (absl::Status valid = ValidateMetricsAddress(address); !valid.ok()) return valid;
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on \"", address, "\" (--metrics-listen): ", error.what()));
  }
  impl_->exposer->RegisterCollectable(impl_->registry);
  impl_->exposer->RegisterCollectable(impl_->scrape_gauges);
  const std::vector<int> ports = impl_->exposer->GetListeningPorts();
  impl_->port = ports.empty() ? 0 : ports.front();
  return absl::OkStatus();
}

void Metrics::StopServing() { impl_->exposer.reset(); }

int Metrics::port() const { return impl_->port; }

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry->Collect();
  std::vector<prometheus::MetricFamily> gauges = impl_->scrape_gauges->Collect();
  families.insert(families.end(), gauges.begin(), gauges.end());
  return prometheus::TextSerializer().Serialize(families);
}

scheduler::SchedulerMetrics* Metrics::scheduler_metrics() { return &impl_->scheduler_adapter; }

}  // namespace campaign::observability
