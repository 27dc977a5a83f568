-- Upgrades outbound_call_runs in place: the columns the scheduler, the API and
-- idempotent creation need, the business key, and the indexes for
-- keyset listing and the scheduler's lease scan (status and counter checks come in
-- 0003, after the recount). Safe to run on a legacy
-- table holding data and on the baseline of 0001.

ALTER TABLE outbound_call_runs
  ADD COLUMN IF NOT EXISTS created_by_user_id bigint,
  ADD COLUMN IF NOT EXISTS started_at         timestamptz,
  ADD COLUMN IF NOT EXISTS ended_at           timestamptz,
  ADD COLUMN IF NOT EXISTS cursor_position    integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS locked_by_worker   varchar(128),
  ADD COLUMN IF NOT EXISTS lock_ts            timestamptz,
  -- Incremented by every lease acquisition; fences writes of stale workers.
  ADD COLUMN IF NOT EXISTS lease_epoch        bigint NOT NULL DEFAULT 0,
  -- Jobs cancelled before dialing (the original counted them as failed).
  ADD COLUMN IF NOT EXISTS cancelled_count    integer NOT NULL DEFAULT 0,
  -- Idempotency key of CreateRun and a digest of the request it came with.
  ADD COLUMN IF NOT EXISTS request_id         varchar(128),
  ADD COLUMN IF NOT EXISTS request_digest     varchar(64),
  -- Grows with every change of the row; progress streams order snapshots by it.
  ADD COLUMN IF NOT EXISTS version            bigint NOT NULL DEFAULT 1,
  -- CRM project recorded on every job, also on leads added later.
  ADD COLUMN IF NOT EXISTS project_id         bigint;

-- The original kept the end of a run in completed_at.
UPDATE outbound_call_runs
   SET ended_at = completed_at
 WHERE ended_at IS NULL AND completed_at IS NOT NULL;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'outbound_call_runs'::regclass
                    AND conname = 'outbound_call_runs_business_id_fkey') THEN
    ALTER TABLE outbound_call_runs ADD CONSTRAINT outbound_call_runs_business_id_fkey
      FOREIGN KEY (business_id) REFERENCES business (id) NOT VALID;
  END IF;
END $$;

-- Validate the business key where the legacy data allows it; a legacy run of
-- a business the CRM deleted keeps the key unvalidated rather than failing.
DO $$
BEGIN
  ALTER TABLE outbound_call_runs VALIDATE CONSTRAINT outbound_call_runs_business_id_fkey;
EXCEPTION WHEN foreign_key_violation THEN
  RAISE NOTICE 'outbound_call_runs holds runs of unknown businesses; the key stays NOT VALID';
END $$;

-- Idempotent creation: one run per (business, request_id).
CREATE UNIQUE INDEX IF NOT EXISTS outbound_call_runs_request_id_key
  ON outbound_call_runs (business_id, request_id);
-- Target of the jobs' (business_id, run_id) key, and keyset listing per business.
CREATE UNIQUE INDEX IF NOT EXISTS outbound_call_runs_business_id_id_key
  ON outbound_call_runs (business_id, id);
CREATE INDEX IF NOT EXISTS outbound_call_runs_business_status_id_idx
  ON outbound_call_runs (business_id, status, id);
-- The scheduler's scan for runs to lease.
CREATE INDEX IF NOT EXISTS outbound_call_runs_schedulable_idx
  ON outbound_call_runs (lock_ts NULLS FIRST, id)
  WHERE status IN ('pending', 'running');
