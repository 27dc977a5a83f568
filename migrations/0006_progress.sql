-- Live progress (WatchRun / WatchRuns).
--
-- 1. A feed of job transitions: every statement that changes a job's status
--    stamps `run_version` with the version the run row has once the same
--    transaction's run update is done, so "jobs changed since version v" is
--    `run_version > v` on an index.
-- 2. Notifications: a trigger on outbound_call_runs sends
--    pg_notify('run_progress', '<business_id>:<run_id>:<version>') in the
--    transaction of the change (delivered on commit; the payload never holds
--    personal data). Changes that only move counters are debounced per run:
--    at most one notification per run every 100 ms (campaign_progress_
--    debounce()); status, cancel and error changes always notify. Listeners
--    re-read a notified run shortly after each notification, so the last
--    state inside a debounce window is never missed.

ALTER TABLE outbound_call_jobs ADD COLUMN IF NOT EXISTS run_version bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS outbound_call_jobs_run_version_idx
  ON outbound_call_jobs (run_id, run_version);

ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS notified_at timestamptz;

-- The debounce interval of counter-only notifications.
CREATE OR REPLACE FUNCTION campaign_progress_debounce() RETURNS interval
  LANGUAGE sql IMMUTABLE AS $$ SELECT interval '100 milliseconds' $$;

CREATE OR REPLACE FUNCTION campaign_notify_run_progress() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.notified_at := clock_timestamp();
  ELSIF NEW.version IS DISTINCT FROM OLD.version
        AND (NEW.status IS DISTINCT FROM OLD.status
             OR NEW.cancel_requested IS DISTINCT FROM OLD.cancel_requested
             OR NEW.last_error IS DISTINCT FROM OLD.last_error
             OR OLD.notified_at IS NULL
             OR clock_timestamp() - OLD.notified_at >= campaign_progress_debounce()) THEN
    NEW.notified_at := clock_timestamp();
  ELSE
    RETURN NEW;
  END IF;
  PERFORM pg_notify('run_progress', NEW.business_id || ':' || NEW.id || ':' || NEW.version);
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS run_progress_notify ON outbound_call_runs;
CREATE TRIGGER run_progress_notify
  BEFORE INSERT OR UPDATE ON outbound_call_runs
  FOR EACH ROW EXECUTE FUNCTION campaign_notify_run_progress();
