// The call-event inbox (store::CallEventStore) against a real database: an
// event is stored once however often it arrives, only for the job's current
// dial token, and only inside its own business.

#include "server/store/call_event_store.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using store::CallEventRow;
using store::CallEventStore;
using store::Database;
using store::PoolOptions;
using testing::TestDatabase;

constexpr char kSid[] = "CA0123456789abcdef0123456789abcdef";

// A migrated database with businesses A and B, one run of two jobs each; the
// first job of each is dialing with a known token.
class CallEventStoreTest : public ::testing::Test {
 protected:
  CallEventStoreTest() {
    db_.Migrate();
    business_a_ = db_.CreateBusiness("A");
    business_b_ = db_.CreateBusiness("B");
    database_ = std::make_unique<Database>(db_.app_url(), PoolOptions{.size = 2});
    store::RunStore runs(database_.get(), absl::Seconds(30));
    run_a_ = Create(runs, business_a_, "a");
    run_b_ = Create(runs, business_b_, "b");
    job_a_ = db_.QueryInt(
        absl::StrCat("SELECT min(id) FROM outbound_call_jobs WHERE run_id = ", run_a_));
    job_b_ = db_.QueryInt(
        absl::StrCat("SELECT min(id) FROM outbound_call_jobs WHERE run_id = ", run_b_));
    db_.ExecAsAdmin(
        absl::StrCat("UPDATE outbound_call_jobs SET status = 'dialing', dial_started_at = now(),"
                     " dial_lock_token = 'token-' || id WHERE id IN (",
                     job_a_, ", ", job_b_, ")"));
    events_ = std::make_unique<CallEventStore>(database_.get());
  }

  static int64_t Create(store::RunStore& runs, int64_t business_id, const std::string& request) {
    NewRun run;
    run.business_id = business_id;
    run.request_id = request;
    run.request_digest = "d";
    run.concurrency = 1;
    run.leads = {Lead{1, "+14155550001", ""}, Lead{2, "+14155550002", ""}};
    absl::StatusOr<store::CreatedRun> created = runs.CreateRun(run);
    if (!created.ok()) throw std::runtime_error(created.status().ToString());
    return created->run.id;
  }

  // An event of business A's dialing job.
  CallEventRow EventA(const std::string& status) const {
    CallEventRow event;
    event.business_id = business_a_;
    event.run_id = run_a_;
    event.job_id = job_a_;
    event.dial_token = absl::StrCat("token-", job_a_);
    event.call_sid = kSid;
    event.call_status = status;
    return event;
  }

  int64_t StoredEvents() const { return db_.QueryInt("SELECT count(*) FROM outbound_call_events"); }

  TestDatabase db_;
  int64_t business_a_ = 0, business_b_ = 0, run_a_ = 0, run_b_ = 0, job_a_ = 0, job_b_ = 0;
  std::unique_ptr<Database> database_;
  std::unique_ptr<CallEventStore> events_;
};

TEST_F(CallEventStoreTest, AnEventIsStoredOnceAndReadBackWithItsFields) {
  CallEventRow completed = EventA("completed");
  completed.sequence_number = 3;
  completed.answered_by = "human";
  completed.call_duration_seconds = 17;
  completed.sip_response_code = 200;
  absl::StatusOr<bool> first = events_->Record(completed);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  // Twilio retries and duplicates: the same (call, status) again is dropped.
  absl::StatusOr<bool> again = events_->Record(completed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
  ASSERT_TRUE(events_->Record(EventA("ringing")).ok());
  EXPECT_EQ(StoredEvents(), 2);

  absl::StatusOr<std::vector<CallEventRow>> final_events =
      events_->FinalEvents(business_a_, {kSid, "CAffffffffffffffffffffffffffffffff"});
  ASSERT_TRUE(final_events.ok()) << final_events.status();
  ASSERT_EQ(final_events->size(), 1u);
  const CallEventRow& read = final_events->front();
  EXPECT_EQ(read.call_status, "completed");
  EXPECT_EQ(read.run_id, run_a_);
  EXPECT_EQ(read.job_id, job_a_);
  EXPECT_EQ(read.dial_token, absl::StrCat("token-", job_a_));
  EXPECT_EQ(read.sequence_number, 3);
  EXPECT_EQ(read.answered_by, "human");
  EXPECT_EQ(read.call_duration_seconds, 17);
  EXPECT_EQ(read.sip_response_code, 200);
  EXPECT_GT(read.received_at, absl::Now() - absl::Minutes(5));

  absl::StatusOr<std::vector<CallEventRow>> by_sid = events_->EventsByCallSid(kSid);
  ASSERT_TRUE(by_sid.ok()) << by_sid.status();
  EXPECT_EQ(by_sid->size(), 2u);
  absl::StatusOr<std::vector<CallEventRow>> by_token =
      events_->EventsByToken(absl::StrCat("token-", job_a_));
  ASSERT_TRUE(by_token.ok()) << by_token.status();
  EXPECT_EQ(by_token->size(), 2u);
  // Fields Twilio did not send stay absent.
  for (const CallEventRow& event : *by_token) {
    if (event.call_status != "ringing") continue;
    EXPECT_FALSE(event.sequence_number.has_value());
    EXPECT_FALSE(event.answered_by.has_value());
    EXPECT_FALSE(event.call_duration_seconds.has_value());
    EXPECT_FALSE(event.sip_response_code.has_value());
  }
}

TEST_F(CallEventStoreTest, AnEventOfAnotherDialAttemptOrAnotherJobIsStoredNowhere) {
  CallEventRow stale = EventA("completed");
  stale.dial_token = "an-older-token";
  CallEventRow wrong_run = EventA("completed");
  wrong_run.run_id = run_b_;
  CallEventRow no_job = EventA("completed");
  no_job.job_id = job_a_ + 1000;
  for (const CallEventRow& event : {stale, wrong_run, no_job}) {
    absl::StatusOr<bool> recorded = events_->Record(event);
    ASSERT_TRUE(recorded.ok()) << recorded.status();
    EXPECT_FALSE(*recorded);
  }
  EXPECT_EQ(StoredEvents(), 0);
  // The job's next attempt (a new token) makes the old one's callbacks stale.
  ASSERT_TRUE(*events_->Record(EventA("ringing")));
  db_.ExecAsAdmin(
      absl::StrCat("UPDATE outbound_call_jobs SET dial_lock_token = 'token-new'"
                   " WHERE id = ",
                   job_a_));
  absl::StatusOr<bool> late = events_->Record(EventA("completed"));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(*late);
  EXPECT_EQ(StoredEvents(), 1);
}

TEST_F(CallEventStoreTest, ABusinessCannotRecordOrReadEventsOfAnotherBusinessesJobs) {
  // Business A's transaction naming business B's job (with its right token):
  // the job is invisible to it, so nothing is stored.
  CallEventRow foreign = EventA("completed");
  foreign.run_id = run_b_;
  foreign.job_id = job_b_;
  foreign.dial_token = absl::StrCat("token-", job_b_);
  absl::StatusOr<bool> recorded = events_->Record(foreign);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_FALSE(*recorded);
  EXPECT_EQ(StoredEvents(), 0);

  // Row-level security refuses a row of business B in business A's
  // transaction, and hides B's rows from it.
  CallEventRow of_b = foreign;
  of_b.business_id = business_b_;
  ASSERT_TRUE(*events_->Record(of_b));
  absl::StatusOr<std::vector<CallEventRow>> seen_by_a = events_->FinalEvents(business_a_, {kSid});
  ASSERT_TRUE(seen_by_a.ok()) << seen_by_a.status();
  EXPECT_TRUE(seen_by_a->empty());
  pqxx::connection connection(db_.app_url());
  {
    pqxx::work txn(connection);
    txn.exec_params("SELECT set_config('campaign.business_id', $1, true)",
                    absl::StrCat(business_a_));
    EXPECT_EQ(txn.exec1("SELECT count(*) FROM outbound_call_events")[0].as<int64_t>(), 0);
    EXPECT_THROW(txn.exec(absl::StrCat(
                     "INSERT INTO outbound_call_events (business_id, run_id, job_id, dial_token,"
                     " call_sid, call_status) VALUES (",
                     business_b_, ", ", run_b_, ", ", job_b_, ", 'token-", job_b_,
                     "', 'CAx',"
                     " 'ringing')")),
                 pqxx::insufficient_privilege);
  }
  absl::StatusOr<std::vector<CallEventRow>> seen_by_b = events_->FinalEvents(business_b_, {kSid});
  ASSERT_TRUE(seen_by_b.ok()) << seen_by_b.status();
  EXPECT_EQ(seen_by_b->size(), 1u);
}

// The listener's batches: one write records what is new in it, each
// business's events under its own tenancy; duplicates inside the batch or of
// earlier events, and events of another dial attempt, add nothing.
TEST_F(CallEventStoreTest, ABatchOfSeveralBusinessesRecordsEachNewEventOnce) {
  ASSERT_TRUE(events_->Record(EventA("initiated")).value());
  CallEventRow b = EventA("ringing");
  b.business_id = business_b_;
  b.run_id = run_b_;
  b.job_id = job_b_;
  b.dial_token = absl::StrCat("token-", job_b_);
  b.call_sid = "CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  CallEventRow stale = EventA("completed");
  stale.dial_token = "an-older-token";
  CallEventRow completed = EventA("completed");
  completed.call_duration_seconds = 17;
  completed.sequence_number = 3;
  const std::vector<CallEventRow> batch = {
      EventA("initiated"),  // recorded before
      EventA("ringing"), b, stale, completed, EventA("ringing"),  // duplicate in the batch
      b};
  absl::StatusOr<int> recorded = events_->RecordAll(batch);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(*recorded, 3);  // A ringing, A completed, B ringing
  EXPECT_EQ(StoredEvents(), 4);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_events WHERE call_status = "
                         "'completed' AND call_duration = 17 AND sequence_number = 3"),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_events WHERE "
                                      "business_id = ",
                                      business_b_, " AND job_id = ", job_b_)),
            1);
  // Within a batch, events keep their order of arrival.
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_events a JOIN outbound_call_events "
                         "c ON a.call_sid = c.call_sid WHERE a.call_status = 'ringing' AND "
                         "c.call_status = 'completed' AND a.received_at < c.received_at"),
            1);
  EXPECT_EQ(events_->RecordAll(batch).value(), 0);
  EXPECT_EQ(events_->RecordAll({}).value(), 0);
}

TEST_F(CallEventStoreTest, EventsGoWithTheirJob) {
  ASSERT_TRUE(*events_->Record(EventA("ringing")));
  db_.ExecAsAdmin(absl::StrCat("DELETE FROM outbound_call_jobs WHERE id = ", job_a_));
  EXPECT_EQ(StoredEvents(), 0);
}

}  // namespace
}  // namespace campaign
