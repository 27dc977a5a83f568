// A fixed pool of threads for the blocking work (database calls) of RPC
// handlers, so gRPC's callback threads never block.
#ifndef CAMPAIGN_SERVER_API_EXECUTOR_H_
#define CAMPAIGN_SERVER_API_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::api {

// Runs submitted tasks on `threads` threads, first in first out.
class Executor {
 public:
  // `max_queued` bounds the tasks waiting for a thread.
  Executor(int threads, size_t max_queued);
  // Runs every task already submitted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE
  // once StopAccepting was called (the server is shutting down).
  absl::Status Submit(std::function<void()> task);

  // Refuses every later Submit; tasks already queued still run.
  void StopAccepting();

  // Waits until no task is queued or running, or `deadline`; true if idle.
  bool AwaitIdle(absl::Time deadline);

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_EXECUTOR_H_
