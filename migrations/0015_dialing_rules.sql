-- Dialing rules (docs/design.md, "Dialing rules"): dialing policies per
-- business and per run, the do-not-call list, the attempt ledger, run
-- schedules and caller id pools, and the job columns the scheduler defers,
-- retries and skips jobs by.
--
-- dialing_policy: one row per business default (run_id = 0) and per run
-- with overrides. A NULL column is "not set here": the run's value, else
-- the business's, else the server's default (rules::Effective). Windows are
-- three parallel arrays (weekday 1 = Monday .. 7, start and end minute after
-- local midnight), retry delays two (outcome, seconds).
--
-- do_not_call: the business's numbers never to dial (E.164), checked at
-- every claim.
--
-- call_attempts: the attempt ledger, one row per dial, written by the claim
-- in the statement that claims the job (so it is durable before the dial)
-- and deleted again only if the claim is undone before any dial; its outcome
-- columns are filled when the call ends. Also the per-number cap's count
-- (index on business, phone, started_at).
--
-- Jobs: next_attempt_at (NOT NULL, '-infinity' = due now: the claim's index
-- range is (run_id, next_attempt_at, id) over queued jobs, so a deferred job
-- costs nothing until it is due), waiting_reason, time_zone (the zone spec
-- resolved at insert), caller_id (sticky, from the run's pool), skip_reason,
-- and the status 'skipped'. Runs: skipped_count (queued + in_progress +
-- completed + failed + cancelled + skipped = total_leads), next_dial_at and
-- waiting_reason (why a running run dials nothing), start_at / end_at,
-- caller_ids and local_presence.
--
-- Tenant tables like the runs' (0005, 0010): forced row-level security on
-- business_id.

ALTER TABLE outbound_call_jobs
  ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
  ADD COLUMN IF NOT EXISTS waiting_reason text,
  ADD COLUMN IF NOT EXISTS time_zone text,
  ADD COLUMN IF NOT EXISTS caller_id text,
  ADD COLUMN IF NOT EXISTS skip_reason text;

ALTER TABLE outbound_call_jobs DROP CONSTRAINT IF EXISTS outbound_call_jobs_status_check;
ALTER TABLE outbound_call_jobs ADD CONSTRAINT outbound_call_jobs_status_check
  CHECK (status IN ('queued', 'dialing', 'calling', 'completed', 'failed',
                    'no_answer', 'busy', 'cancelled', 'skipped')) NOT VALID;
ALTER TABLE outbound_call_jobs VALIDATE CONSTRAINT outbound_call_jobs_status_check;

-- The claim's range: due queued jobs of a run, earliest due first, then id.
CREATE INDEX IF NOT EXISTS outbound_call_jobs_due_idx
  ON outbound_call_jobs (run_id, next_attempt_at, id) WHERE status = 'queued';

ALTER TABLE outbound_call_runs
  ADD COLUMN IF NOT EXISTS skipped_count bigint NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS next_dial_at timestamptz,
  ADD COLUMN IF NOT EXISTS waiting_reason text,
  ADD COLUMN IF NOT EXISTS start_at timestamptz,
  ADD COLUMN IF NOT EXISTS end_at timestamptz,
  ADD COLUMN IF NOT EXISTS caller_ids text[],
  ADD COLUMN IF NOT EXISTS local_presence boolean NOT NULL DEFAULT false;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'outbound_call_runs'::regclass
                    AND conname = 'outbound_call_runs_skipped_check') THEN
    ALTER TABLE outbound_call_runs ADD CONSTRAINT outbound_call_runs_skipped_check
      CHECK (skipped_count >= 0);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'outbound_call_runs'::regclass
                    AND conname = 'outbound_call_runs_schedule_check') THEN
    ALTER TABLE outbound_call_runs ADD CONSTRAINT outbound_call_runs_schedule_check
      CHECK (start_at IS NULL OR end_at IS NULL OR start_at < end_at);
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS dialing_policy (
  business_id            bigint      NOT NULL,
  run_id                 bigint      NOT NULL DEFAULT 0,
  window_days            int2[],
  window_start_minutes   int2[],
  window_end_minutes     int2[],
  restricted_dates       date[],
  max_attempts           int4,
  retry_outcomes         text[],
  retry_delay_seconds    int4[],
  max_dials_per_number   int4,
  per_number_window_days int4,
  default_time_zone      text,
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT dialing_policy_pkey PRIMARY KEY (business_id, run_id),
  CONSTRAINT dialing_policy_business_fkey FOREIGN KEY (business_id)
    REFERENCES business (id) ON DELETE CASCADE,
  CONSTRAINT dialing_policy_windows_check
    CHECK (coalesce(cardinality(window_days), 0) = coalesce(cardinality(window_start_minutes), 0)
           AND coalesce(cardinality(window_days), 0) = coalesce(cardinality(window_end_minutes), 0)),
  CONSTRAINT dialing_policy_retries_check
    CHECK (coalesce(cardinality(retry_outcomes), 0) = coalesce(cardinality(retry_delay_seconds), 0)),
  CONSTRAINT dialing_policy_numbers_check
    CHECK ((max_attempts IS NULL OR max_attempts BETWEEN 1 AND 20)
           AND (max_dials_per_number IS NULL OR max_dials_per_number BETWEEN 1 AND 1000)
           AND (per_number_window_days IS NULL OR per_number_window_days BETWEEN 1 AND 365))
);

CREATE TABLE IF NOT EXISTS do_not_call (
  business_id bigint      NOT NULL,
  phone       text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT do_not_call_pkey PRIMARY KEY (business_id, phone),
  CONSTRAINT do_not_call_business_fkey FOREIGN KEY (business_id)
    REFERENCES business (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS call_attempts (
  business_id bigint      NOT NULL,
  run_id      bigint      NOT NULL,
  job_id      bigint      NOT NULL,
  attempt     int4        NOT NULL,
  lead_id     bigint      NOT NULL,
  phone       text        NOT NULL,
  caller_id   text,
  dial_token  text        NOT NULL,
  call_sid    text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  answered_at timestamptz,
  ended_at    timestamptz,
  outcome     text,
  answered_by text,
  error       text,
  CONSTRAINT call_attempts_pkey PRIMARY KEY (business_id, job_id, attempt),
  CONSTRAINT call_attempts_attempt_check CHECK (attempt >= 1),
  CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IS NULL OR outcome IN ('completed', 'failed', 'no_answer', 'busy'))
);

-- ListAttempts of a run, in (job, attempt) order.
CREATE INDEX IF NOT EXISTS call_attempts_run_idx
  ON call_attempts (business_id, run_id, job_id, attempt);
-- The per-number cap: a number's dials in the rolling window.
CREATE INDEX IF NOT EXISTS call_attempts_phone_idx
  ON call_attempts (business_id, phone, started_at);
-- Outcomes find their attempt by token.
CREATE INDEX IF NOT EXISTS call_attempts_dial_token_idx
  ON call_attempts (dial_token);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['dialing_policy', 'do_not_call', 'call_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS business_isolation ON %I', t);
    EXECUTE format(
      'CREATE POLICY business_isolation ON %I '
      'USING (current_setting(''campaign.all_businesses'', true) = ''on'' '
      '       OR business_id = nullif(current_setting(''campaign.business_id'', true), '''')::bigint) '
      'WITH CHECK (current_setting(''campaign.all_businesses'', true) = ''on'' '
      '       OR business_id = nullif(current_setting(''campaign.business_id'', true), '''')::bigint)',
      t);
  END LOOP;
END $$;
