#include "server/api/executor.h"

namespace campaign::api {

Executor::Executor(int threads, size_t max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

absl::Status Executor::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !accepting_) {
    return absl::UnavailableError("the server is shutting down; retry on another replica");
  }
  if (queue_.size() >= max_queued_) {
    return absl::ResourceExhaustedError("the server is overloaded; retry with backoff");
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void Executor::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool Executor::AwaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && running_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void Executor::Work() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Executor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task();
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace campaign::api
