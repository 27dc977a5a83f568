-- Outcome counts as users read them. failed_count keeps counting every
-- unsuccessful call (failed, busy, no answer), so that queued + in progress
-- + completed + failed + cancelled = total_leads still holds; busy_count and
-- no_answer_count say how many of those were busy or not answered, so the
-- API can report completed / busy / no answer / failed / cancelled.

ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS busy_count bigint NOT NULL DEFAULT 0;
ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS no_answer_count bigint NOT NULL DEFAULT 0;

-- Counted from the jobs (runs that ended before this migration included).
-- The run version is left alone: nothing a watcher sees has changed.
UPDATE outbound_call_runs r
   SET busy_count = c.busy, no_answer_count = c.no_answer
  FROM (SELECT run_id,
               count(*) FILTER (WHERE status = 'busy') AS busy,
               count(*) FILTER (WHERE status = 'no_answer') AS no_answer
          FROM outbound_call_jobs
         GROUP BY run_id) c
 WHERE r.id = c.run_id
   AND (r.busy_count, r.no_answer_count) IS DISTINCT FROM (c.busy, c.no_answer);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conname = 'outbound_call_runs_outcomes_check'
                    AND conrelid = 'outbound_call_runs'::regclass) THEN
    ALTER TABLE outbound_call_runs ADD CONSTRAINT outbound_call_runs_outcomes_check
      CHECK (busy_count >= 0 AND no_answer_count >= 0);
  END IF;
END
$$;
