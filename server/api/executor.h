// A fixed pool of threads for the blocking work (database calls) of RPC
// handlers, so gRPC's callback threads never block.
#ifndef CAMPAIGN_SERVER_API_EXECUTOR_H_
#define CAMPAIGN_SERVER_API_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

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

  // Queues `task`; false when the queue is full or the executor is stopping.
  bool Submit(std::function<void()> task);

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_EXECUTOR_H_
