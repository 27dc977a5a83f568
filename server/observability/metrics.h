// campaignd's Prometheus metrics: one registry, the counters, gauges and
// histograms below, and the HTTP endpoint that serves them
// (--metrics-listen). Lower layers never see Prometheus: the scheduler gets
// a scheduler::SchedulerMetrics, the database pool an error callback, the
// dialer a decorator (metrics_dialer.h), the RPC layer an interceptor
// (rpc_interceptor.h).
//
// Names (all prefixed campaign_):
//   rpcs_total{method,code}                counter: finished RPCs
//   rpc_duration_seconds{method}           histogram: unary RPC latency
//   dials_total{outcome}                   counter: dials placed by this process,
//                                          by outcome (completed, failed,
//                                          no_answer, busy; rejected by the provider)
//   active_calls                           gauge: calls this process placed that
//                                          have not ended
//   runs{status}                           gauge: runs of every business by status
//                                          (refreshed by a periodic GROUP BY)
//   lease_takeovers_total                  counter: expired leases taken over
//   reconciled_jobs_total{result}          counter: stuck jobs (dialing/calling when
//                                          a run was taken over) looked up at the
//                                          provider: finished, lost, in_progress, error
//   watch_streams                          gauge: open WatchRun/WatchRuns streams
//   database_errors_total{code}            counter: database errors by status code
//   database_up                            gauge: 1 while the health probe reaches
//                                          the database
//   listener_probe_failures_total          counter: liveness probes of the LISTEN
//                                          connection that did not come back
//   listener_up                            gauge: 1 while the LISTEN connection's
//                                          last probe came back
//   db_pool_open_connections               gauge
//   db_pool_busy_connections               gauge
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_METRICS_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace campaign::scheduler {
class SchedulerMetrics;
}  // namespace campaign::scheduler

namespace campaign::observability {

// Checks the form host:port of --metrics-listen (port 0..65535).
absl::Status ValidateMetricsAddress(const std::string& address);

// The registry and its metrics. Thread-safe.
class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A finished RPC: full method name ("/pkg.Service/Method"), gRPC code name
  // ("OK", "NOT_FOUND"), and its duration when it is a unary call.
  void RecordRpc(absl::string_view method, absl::string_view code, std::optional<double> seconds);
  // A dial's outcome: a job status name or "rejected".
  void RecordDial(absl::string_view outcome);
  void CallStarted();
  void CallEnded();
  void RecordDatabaseError(const absl::Status& error);
  void LeaseTakenOver();
  void JobReconciled(absl::string_view result);
  // A call dialed after its run ended (see SchedulerMetrics).
  void DialedAfterRunEnded();
  // A call hung up because its run ended.
  void CallHungUpOnRunEnd();
  // A claim the business's calls-per-second bucket limited (see
  // SchedulerMetrics).
  void ClaimRateLimited();
  // The replicated-claims gate is on or off (see SchedulerMetrics).
  void ReplicationGateOn(bool on);
  // The gate held a batch of `jobs` claims `seconds`, then dialed it
  // (confirmed) or gave its claims back to the queue.
  void ClaimsHeld(double seconds, bool confirmed, int jobs);
  // One transaction recorded `starts` accepted calls and `results` outcomes.
  void CallsRecorded(int starts, int results);
  // Replaces the runs-by-status gauge (missing known statuses become 0).
  void SetRunsByStatus(const std::map<std::string, int64_t>& counts);
  void SetDatabaseUp(bool up);
  // A liveness probe of the LISTEN connection did not come back in time.
  void ListenerProbeFailed();

  // Gauges computed when scraped (pool usage, open streams). Register before
  // Serve; `value` must stay callable until this object is destroyed.
  void AddScrapeGauge(const std::string& name, const std::string& help,
                      std::function<double()> value);

  // Serves GET /metrics on `address` (host:port; port 0 picks one).
  // INVALID_ARGUMENT naming --metrics-listen when it cannot listen.
  absl::Status Serve(const std::string& address);
  // Stops serving (joins the HTTP threads; no scrape gauge is read after).
  void StopServing();
  // The port served on, or 0.
  int port() const;

  // The exposition text of every metric (what /metrics returns).
  std::string Render() const;

  // Adapter for the scheduler; lives as long as this object.
  scheduler::SchedulerMetrics* scheduler_metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_METRICS_H_
