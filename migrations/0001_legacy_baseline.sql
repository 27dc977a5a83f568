-- The tables of the CRM's original bulk-calling feature, in their original
-- shape. A database that already holds them is left as it is; an empty one
-- gets the same baseline, so every database upgrades through the same steps.

CREATE TABLE IF NOT EXISTS business (
  id         bigserial PRIMARY KEY,
  name       varchar(255),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS outbound_call_runs (
  id                bigserial PRIMARY KEY,
  business_id       bigint NOT NULL,
  outbound_list_id  bigint,
  concurrency       integer NOT NULL DEFAULT 3,
  total_leads       integer NOT NULL DEFAULT 0,
  queued_count      integer NOT NULL DEFAULT 0,
  in_progress_count integer NOT NULL DEFAULT 0,
  completed_count   integer NOT NULL DEFAULT 0,
  failed_count      integer NOT NULL DEFAULT 0,
  status            varchar(32) NOT NULL DEFAULT 'pending',
  cancel_requested  boolean NOT NULL DEFAULT false,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz
);

CREATE TABLE IF NOT EXISTS outbound_call_jobs (
  id              bigserial PRIMARY KEY,
  run_id          bigint NOT NULL,
  lead_id         bigint NOT NULL,
  call_log_id     bigint,
  project_id      bigint,
  status          varchar(32) NOT NULL DEFAULT 'queued',
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
