-- Two things every insert into outbound_call_jobs paid for and nothing needs
-- (measured in docs/benchmarks.md: the two foreign-key checks were 40-50% of
-- inserting a job, one trigger call per row each).
--
-- 1. outbound_call_jobs_business_id_fkey (business_id -> business) is implied
--    by the two keys that stay: outbound_call_jobs_run_fkey, (business_id,
--    run_id) -> outbound_call_runs (business_id, id), and
--    outbound_call_runs_business_id_fkey, business_id -> business. A job can
--    only be written with the business of an existing run, and that run's
--    business exists, so the job's does. Neither key is deferrable and
--    neither has an ON DELETE or ON UPDATE action on business, so a business
--    that has runs can be neither deleted nor renumbered (refused, as
--    before), and one without runs has no jobs. Dropped only when the run's
--    key to business is validated: a legacy database whose runs name
--    businesses the CRM deleted keeps that key NOT VALID (0002), and there
--    the jobs' own key still refuses new jobs for such a run.
--
-- 2. outbound_call_jobs_queued_idx (run_id, id) WHERE status = 'queued'
--    duplicates outbound_call_jobs_run_status_id_idx (run_id, status, id):
--    for `run_id = $1 AND status = 'queued' ORDER BY id` (the claim,
--    CancelQueuedJobs, ListJobs of queued jobs) the latter reads the same
--    index entries in the same order, and the planner takes it (EXPLAIN
--    ANALYZE with a million jobs: the same rows read, no sort). The other job
--    indexes each serve a query nothing else serves: the primary key
--    (business_id, id) the updates by job id; unique_run_lead (business_id,
--    run_id, lead_id) one job per lead and AddLeads' ON CONFLICT, and the
--    cascade from a deleted run; run_status_id_idx FinishJobs, ActiveJobs and
--    ListJobs by status; run_version_idx (run_id, run_version) JobChanges
--    (WatchRun).
--
-- Re-applying is a no-op.

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_constraint
              WHERE conrelid = 'outbound_call_runs'::regclass
                AND conname = 'outbound_call_runs_business_id_fkey' AND convalidated)
     AND EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'outbound_call_jobs'::regclass
                    AND conname = 'outbound_call_jobs_run_fkey' AND convalidated) THEN
    ALTER TABLE outbound_call_jobs DROP CONSTRAINT IF EXISTS outbound_call_jobs_business_id_fkey;
  ELSIF EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conrelid = 'outbound_call_jobs'::regclass
                   AND conname = 'outbound_call_jobs_business_id_fkey') THEN
    RAISE NOTICE 'outbound_call_runs_business_id_fkey is not validated (runs of unknown'
                 ' businesses); outbound_call_jobs_business_id_fkey stays';
  END IF;
END $$;

DROP INDEX IF EXISTS outbound_call_jobs_queued_idx;
