-- Repairs or finalises every legacy row that the checks of 0003 (added NOT
-- VALID) let through, then validates those checks, so no row is left that a
-- later update of the service would trip over (an update of such a row
-- failed with check_violation, which stopped every worker's acquisition and
-- made StopRun on it fail). Also gives legacy jobs in dialing or calling
-- without a dial lock token a token, so reconciliation can finish them.
--
-- Rows violating a check cannot have been changed since 0003 (any update of
-- them failed), so nothing updates them concurrently while this runs.

-- Jobs in a status the service does not know. 0003 already counted them as
-- failed, so the run counters stay as they are.
UPDATE outbound_call_jobs
   SET status = 'failed',
       error_message = format('upgrade: unknown legacy job status "%s"%s', status,
                              coalesce('; ' || error_message, '')),
       completed_at = coalesce(completed_at, now())
 WHERE status NOT IN ('queued', 'dialing', 'calling', 'completed', 'failed', 'no_answer',
                      'busy', 'cancelled');

-- Legacy jobs in dialing or calling without a token: every outcome is
-- recorded against the token, so without one such a job could never finish.
-- A token marked as generated lets the worker that takes the run reconcile
-- them (look the call up, record its outcome or fail it; never dial again).
UPDATE outbound_call_jobs
   SET dial_lock_token = 'legacy-' || gen_random_uuid()::text
 WHERE status IN ('dialing', 'calling') AND dial_lock_token IS NULL;

-- Runs the service cannot continue: a status it does not know, or a run that
-- would still dial with a concurrency of zero or less. They become failed
-- with the reason in last_error and their queued jobs cancelled (nothing is
-- dialed by guesswork; calls already in progress are still reconciled).
CREATE TEMP TABLE legacy_failed_runs ON COMMIT DROP AS
SELECT r.id,
       CASE WHEN r.status NOT IN ('pending', 'running', 'paused', 'stopped', 'cancelled',
                                  'completed', 'failed')
            THEN format('upgrade: unknown legacy run status "%s"; the run was failed and its'
                        ' queued leads cancelled (create a new run to call them)', r.status)
            ELSE format('upgrade: concurrency %s is not valid (it must be at least 1); the run'
                        ' was failed and its queued leads cancelled (create a new run to call'
                        ' them)', r.concurrency)
       END AS reason
  FROM outbound_call_runs r
 WHERE r.status NOT IN ('pending', 'running', 'paused', 'stopped', 'cancelled', 'completed',
                        'failed')
    OR (r.status IN ('pending', 'running', 'paused') AND r.concurrency <= 0);

UPDATE outbound_call_jobs j
   SET status = 'cancelled', error_message = 'Run failed: ' || f.reason,
       completed_at = coalesce(j.completed_at, now()),
       run_version = (SELECT r.version + 1 FROM outbound_call_runs r WHERE r.id = j.run_id)
  FROM legacy_failed_runs f
 WHERE j.run_id = f.id AND j.status = 'queued';

-- One update per run to repair (every check applies to the whole new row):
-- the failed runs above, runs with a concurrency of zero or less (a final
-- run never dials again: it becomes 1) and runs whose numbers the check
-- refuses. Their counters and cursor are recounted from the jobs, as 0003
-- counts them.
UPDATE outbound_call_runs r
   SET status            = CASE WHEN f.id IS NULL THEN r.status ELSE 'failed' END,
       last_error        = coalesce(f.reason, r.last_error),
       ended_at          = CASE WHEN f.id IS NULL THEN r.ended_at
                                ELSE coalesce(r.ended_at, now()) END,
       completed_at      = CASE WHEN f.id IS NULL THEN r.completed_at
                                ELSE coalesce(r.completed_at, now()) END,
       concurrency       = greatest(r.concurrency, 1),
       total_leads       = c.total,
       queued_count      = c.queued,
       in_progress_count = c.in_progress,
       completed_count   = c.completed,
       cancelled_count   = c.cancelled,
       failed_count      = c.total - c.queued - c.in_progress - c.completed - c.cancelled,
       cursor_position   = c.total - c.queued - c.in_progress,
       version           = r.version + 1,
       updated_at        = now()
  FROM (SELECT r2.id AS run_id,
               count(j.id) AS total,
               count(j.id) FILTER (WHERE j.status = 'queued') AS queued,
               count(j.id) FILTER (WHERE j.status IN ('dialing', 'calling')) AS in_progress,
               count(j.id) FILTER (WHERE j.status = 'completed') AS completed,
               count(j.id) FILTER (WHERE j.status = 'cancelled') AS cancelled
          FROM outbound_call_runs r2
          LEFT JOIN outbound_call_jobs j ON j.run_id = r2.id
         WHERE r2.id IN (SELECT id FROM legacy_failed_runs)
            OR r2.concurrency <= 0
            OR NOT (r2.total_leads >= 0 AND r2.queued_count >= 0 AND r2.in_progress_count >= 0
                    AND r2.completed_count >= 0 AND r2.failed_count >= 0
                    AND r2.cancelled_count >= 0 AND r2.cursor_position >= 0
                    AND r2.cursor_position <= r2.total_leads)
         GROUP BY r2.id) c
  LEFT JOIN legacy_failed_runs f ON f.id = c.run_id
 WHERE r.id = c.run_id;

-- Nothing is left that the checks refuse: validate them (a failure here
-- fails the migration rather than leaving a row that blocks the service).
ALTER TABLE outbound_call_jobs VALIDATE CONSTRAINT outbound_call_jobs_status_check;
ALTER TABLE outbound_call_runs VALIDATE CONSTRAINT outbound_call_runs_status_check;
ALTER TABLE outbound_call_runs VALIDATE CONSTRAINT outbound_call_runs_numbers_check;
