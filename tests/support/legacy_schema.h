// The original CRM's bulk-calling tables, exactly as a database that
// predates the service's migrations holds them (before 0002/0003 upgrade them
// in place). Tests that start from a legacy database create these first.
#ifndef CAMPAIGN_TESTS_SUPPORT_LEGACY_SCHEMA_H_
#define CAMPAIGN_TESTS_SUPPORT_LEGACY_SCHEMA_H_

namespace campaign::testing {

inline constexpr char kLegacySchemaSql[] = R"sql(
CREATE TABLE business (
  id   bigserial PRIMARY KEY,
  name varchar(255)
);
CREATE TABLE outbound_call_runs (
  id                bigserial PRIMARY KEY,
  business_id       bigint NOT NULL,
  outbound_list_id  bigint,
  concurrency       integer NOT NULL DEFAULT 3,
  total_leads       integer NOT NULL DEFAULT 0,
  queued_count      integer NOT NULL DEFAULT 0,
  in_progress_count integer NOT NULL DEFAULT 0,
  completed_count   integer NOT NULL DEFAULT 0,
  failed_count      integer NOT NULL DEFAULT 0,
  status            varchar NOT NULL DEFAULT 'pending',
  cancel_requested  boolean NOT NULL DEFAULT false,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz
);
CREATE TABLE outbound_call_jobs (
  id              bigserial PRIMARY KEY,
  run_id          bigint NOT NULL,
  lead_id         bigint NOT NULL,
  call_log_id     bigint,
  project_id      bigint,
  status          varchar NOT NULL DEFAULT 'queued',
  error_message   text,
  call_sid        varchar(64),
  twilio_call_sid varchar(64),
  dial_started_at timestamptz,
  dial_lock_token varchar(64),
  lead_name       varchar(255),
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  completed_at    timestamptz
);
)sql";

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_LEGACY_SCHEMA_H_
