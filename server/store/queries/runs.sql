-- Runs and their jobs as the API reads and changes them (store::RunStore,
-- store::ProgressStore). Queries name the run table `r` and the job table `j`.
-- Every query names the business on every table it reads (one shard when
-- distributed by business_id, docs/scaling.md), except the statements that
-- read across businesses by design: RunOwner, ListRunsAllBusinesses,
-- RecentRunsAllBusinesses and CountRunsByStatus.

-- fragment: RunColumns
-- The run fields store::RunFromRow reads, by these names; timestamps as
-- microseconds since the epoch (NULL when unset or infinite). caller_ids are
-- E.164 numbers, so a comma joins them unambiguously.
r.id, r.business_id, coalesce(r.outbound_list_id, 0) AS outbound_list_id,
coalesce(r.created_by_user_id, 0) AS created_by_user_id,
coalesce(r.request_id, '') AS request_id, r.concurrency, r.total_leads, r.queued_count,
r.in_progress_count, r.completed_count, r.failed_count, r.cancelled_count,
r.busy_count, r.no_answer_count, r.cursor_position, r.status, r.cancel_requested,
coalesce(r.last_error, '') AS last_error, coalesce(r.locked_by_worker, '') AS locked_by_worker,
(extract(epoch from r.lock_ts) * 1000000)::int8 AS lock_ts_us, r.lease_epoch, r.version,
(extract(epoch from r.created_at) * 1000000)::int8 AS created_at_us,
(extract(epoch from r.started_at) * 1000000)::int8 AS started_at_us,
(extract(epoch from r.ended_at) * 1000000)::int8 AS ended_at_us,
(extract(epoch from r.updated_at) * 1000000)::int8 AS updated_at_us,
coalesce(r.caller_id, '') AS caller_id, coalesce(r.twiml_url, '') AS twiml_url,
coalesce(r.ring_timeout_seconds, 0) AS ring_timeout_seconds,
coalesce(r.machine_detection, '') AS machine_detection, r.hang_up_on_end, r.skipped_count,
CASE WHEN isfinite(r.next_dial_at)
     THEN (extract(epoch from r.next_dial_at) * 1000000)::int8 END AS next_dial_at_us,
coalesce(r.waiting_reason, '') AS waiting_reason,
CASE WHEN isfinite(r.start_at) THEN (extract(epoch from r.start_at) * 1000000)::int8 END AS start_at_us,
CASE WHEN isfinite(r.end_at) THEN (extract(epoch from r.end_at) * 1000000)::int8 END AS end_at_us,
coalesce(array_to_string(r.caller_ids, ','), '') AS caller_ids, r.local_presence

-- fragment: JobColumns
-- The job fields store::JobFromRow reads, by these names; next_attempt_at
-- '-infinity' (due now) reads as NULL.
j.id, j.run_id, j.business_id, j.lead_id, coalesce(j.lead_name, '') AS lead_name,
coalesce(j.phone, '') AS phone, coalesce(j.project_id, 0) AS project_id,
coalesce(j.call_log_id, 0) AS call_log_id, j.status,
coalesce(j.error_message, '') AS error_message, coalesce(j.call_sid, '') AS call_sid, j.attempts,
(extract(epoch from j.dial_started_at) * 1000000)::int8 AS dial_started_at_us,
(extract(epoch from j.created_at) * 1000000)::int8 AS created_at_us,
(extract(epoch from j.started_at) * 1000000)::int8 AS started_at_us,
(extract(epoch from j.completed_at) * 1000000)::int8 AS completed_at_us,
CASE WHEN isfinite(j.next_attempt_at)
     THEN (extract(epoch from j.next_attempt_at) * 1000000)::int8 END AS next_attempt_at_us,
coalesce(j.waiting_reason, '') AS waiting_reason, coalesce(j.time_zone, '') AS time_zone,
coalesce(j.caller_id, '') AS caller_id, coalesce(j.skip_reason, '') AS skip_reason

-- name: InsertRun
-- CreateRun, step 1: the run row, unless this business already used the
-- request_id (then nothing is returned and the existing run is read). Call
-- settings `$9`..`$12` not given (empty, 0) are stored as NULL. `$13`: the
-- caller id pool as a text[] literal (NULL: none), `$14` local presence,
-- `$15`/`$16` start_at/end_at in microseconds since the epoch (NULL: not
-- given). A start_at still to come is also the run's next_dial_at, waiting
-- for 'start_at'.
INSERT INTO outbound_call_runs AS r
  (business_id, outbound_list_id, created_by_user_id, request_id, request_digest,
   concurrency, status, project_id, total_leads, queued_count,
   caller_id, twiml_url, ring_timeout_seconds, machine_detection,
   caller_ids, local_presence, start_at, end_at, next_dial_at, waiting_reason)
SELECT $1, nullif($2::int8, 0), nullif($3::int8, 0), $4, $5, $6, $7, nullif($8::int8, 0), 0, 0,
       nullif($9::text, ''), nullif($10::text, ''), nullif($11::int4, 0), nullif($12::text, ''),
       $13::text[], $14::bool, s.start_at, s.end_at,
       CASE WHEN s.start_at > now() THEN s.start_at END,
       CASE WHEN s.start_at > now() THEN 'start_at' END
  FROM (SELECT timestamptz 'epoch' + $15::int8 * interval '1 microsecond' AS start_at,
               timestamptz 'epoch' + $16::int8 * interval '1 microsecond' AS end_at) s
ON CONFLICT (business_id, request_id) DO NOTHING
RETURNING r.id;

-- name: RunByRequestId
-- The run a business created with request_id `$2`, and the digest of that request.
SELECT r.request_digest, {{RunColumns}}
  FROM outbound_call_runs r WHERE r.business_id = $1 AND r.request_id = $2;

-- name: CreateIncomingLeads
-- Leads arrive through COPY into a transaction-local table (COPY cannot write
-- into a table with row-level security), then move into jobs in one INSERT.
-- (run_store.cc streams into it by name: kIncomingLeadsTable.)
-- time_zone and caller_id: the job's zone spec and sticky caller id resolved
-- by the service ('' when none).
CREATE TEMP TABLE incoming_leads (
  ord bigint NOT NULL, lead_id bigint NOT NULL, phone text NOT NULL, lead_name text NOT NULL,
  time_zone text NOT NULL, caller_id text NOT NULL
) ON COMMIT DROP;

-- name: InsertStagedNewJobs
-- CreateRun's jobs: the staged leads as queued jobs of the run `$1` this
-- transaction created. Its leads are de-duplicated and it has no jobs yet, so
-- no row can conflict: a plain INSERT, without ON CONFLICT's speculative
-- insertion (measured: about a fifth of the statement's time at 100,000 rows).
INSERT INTO outbound_call_jobs
  (run_id, business_id, lead_id, phone, lead_name, project_id, status, time_zone, caller_id)
SELECT $1, $2, i.lead_id, i.phone, nullif(i.lead_name, ''), $3, 'queued',
       nullif(i.time_zone, ''), nullif(i.caller_id, '')
  FROM incoming_leads i
 ORDER BY i.ord;

-- name: InsertStagedJobs
-- The staged leads as queued jobs of run `$1`; leads already in the run are skipped.
INSERT INTO outbound_call_jobs
  (run_id, business_id, lead_id, phone, lead_name, project_id, status, time_zone, caller_id)
SELECT $1, $2, i.lead_id, i.phone, nullif(i.lead_name, ''), $3, 'queued',
       nullif(i.time_zone, ''), nullif(i.caller_id, '')
  FROM incoming_leads i
 ORDER BY i.ord
ON CONFLICT (business_id, run_id, lead_id) DO NOTHING;

-- name: CountAddedJobs
-- Adds `$3` new queued jobs to the run's counters.
UPDATE outbound_call_runs r
   SET total_leads = total_leads + $3, queued_count = queued_count + $3,
       version = version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{RunColumns}};

-- name: GetRun
SELECT {{RunColumns}}
  FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2;

-- name: ReadRunScoped
-- GetRun as one statement in its own implicit transaction (store::Database::
-- ReadOnce: one round trip, no BEGIN/COMMIT), setting the business's tenancy
-- itself. The read is a LATERAL subquery that depends on the settings, so the
-- settings are made (the one-time filter) before the run row is scanned and
-- row-level security checks it; they are local to this statement's
-- transaction. Were the order ever otherwise, row-level security would hide
-- the row: NOT_FOUND, never another business's run.
SELECT q.*
  FROM (SELECT set_config('campaign.business_id', $2::int8::text, true)
               || set_config('campaign.all_businesses', 'off', true) AS tenancy) t
 CROSS JOIN LATERAL (
   SELECT {{RunColumns}}
     FROM outbound_call_runs r
    WHERE r.id = $1::int8 AND r.business_id = $2::int8 AND t.tenancy IS NOT NULL
   OFFSET 0) q;

-- name: LockRunForChange
-- The run row locked for a change, and whether a worker holds a live lease
-- (`$3`: the lease TTL in microseconds).
-- NO KEY UPDATE: it serialises with claims (the same lock) but not with the
-- foreign-key KEY SHARE locks of an AddLeads still inserting jobs.
SELECT {{RunColumns}},
       (r.locked_by_worker IS NOT NULL
        AND r.lock_ts > now() - $3::float8 * interval '1 microsecond') AS held_by_live_worker
  FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2 FOR NO KEY UPDATE;

-- name: LockRunForCount
-- AddLeads' last step: the run row locked for its counter update (a
-- NO KEY UPDATE lock, like a claim's), with the state to re-check.
SELECT {{RunColumns}}
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2
   FOR NO KEY UPDATE;

-- name: ProjectOfRun
SELECT r.project_id FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2;

-- name: ListRuns
-- A page of runs of business `$1`, newest first: in status `$2` (any when
-- NULL), with ids below `$3` (when not NULL).
SELECT {{RunColumns}}
  FROM outbound_call_runs r
 WHERE r.business_id = $1
   AND ($2::text IS NULL OR r.status = $2)
   AND ($3::int8 IS NULL OR r.id < $3)
 ORDER BY r.id DESC LIMIT $4;

-- name: ListRunsAllBusinesses
-- ListRuns of a system admin: a page of the runs of every business, newest
-- first, in status `$1` (any when NULL), with ids below `$2` (when not NULL).
SELECT {{RunColumns}}
  FROM outbound_call_runs r
 WHERE ($1::text IS NULL OR r.status = $1)
   AND ($2::int8 IS NULL OR r.id < $2)
 ORDER BY r.id DESC LIMIT $3;

-- name: ListJobs
-- A page of a run's jobs in id order, optionally of one status, after job `$4`.
SELECT {{JobColumns}}
  FROM outbound_call_jobs j
 WHERE j.run_id = $1 AND j.business_id = $2
   AND ($3::text IS NULL OR j.status = $3)
   AND ($4::int8 IS NULL OR j.id > $4)
 ORDER BY j.id LIMIT $5;

-- name: ApplyTransition
-- Writes a planned transition; `$6` queued jobs moved to cancelled. `$7`:
-- the Stop's or Cancel's hang_up, recorded only when `$8` (the run's first
-- Stop or Cancel). A run that ends waits for nothing any more: its
-- next_dial_at and waiting_reason are cleared.
UPDATE outbound_call_runs r
   SET status = $3,
       next_dial_at = CASE WHEN $5 THEN NULL ELSE r.next_dial_at END,
       waiting_reason = CASE WHEN $5 THEN NULL ELSE r.waiting_reason END,
       cancel_requested = r.cancel_requested OR $4,
       hang_up_on_end = CASE WHEN $8::bool THEN $7::bool ELSE r.hang_up_on_end END,
       ended_at = CASE WHEN $5 THEN now() ELSE r.ended_at END,
       completed_at = CASE WHEN $5 THEN now() ELSE r.completed_at END,
       queued_count = r.queued_count - $6,
       cancelled_count = r.cancelled_count + $6,
       cursor_position = r.cursor_position + $6,
       version = r.version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{RunColumns}};

-- name: CancelQueuedJobs
-- Cancels every queued job of run `$1` with `$3` as error message. The run
-- row is locked and the caller bumps its version in the same transaction.
UPDATE outbound_call_jobs j
   SET status = 'cancelled', error_message = $3, completed_at = now(),
       run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                       WHERE r.id = $1 AND r.business_id = $2)
 WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued';

-- name: RunOwner
-- The business of run `$1` (read across businesses).
SELECT business_id FROM outbound_call_runs WHERE id = $1;

-- name: JobChanges
-- Jobs of a run changed after version `$3`. Uses the (run_id, run_version)
-- index; `$4` is the limit plus one, so a truncated feed is told apart from
-- one that fits exactly.
SELECT j.id, j.lead_id, j.status, coalesce(j.error_message, '') AS error_message, j.run_version
  FROM outbound_call_jobs j
 WHERE j.run_id = $1 AND j.business_id = $2 AND j.run_version > $3
 ORDER BY j.run_version, j.id LIMIT $4;

-- name: RecentRuns
-- The newest runs of business `$1`, of status `$2` (any when NULL).
SELECT {{RunColumns}}
  FROM outbound_call_runs r
 WHERE r.business_id = $1
   AND ($2::text IS NULL OR r.status = $2)
 ORDER BY r.id DESC LIMIT $3;

-- name: RecentRunsAllBusinesses
-- RecentRuns of a system admin: the newest runs of every business, of status
-- `$1` (any when NULL).
SELECT {{RunColumns}}
  FROM outbound_call_runs r
 WHERE ($1::text IS NULL OR r.status = $1)
 ORDER BY r.id DESC LIMIT $2;

-- name: CountRunsByStatus
-- How many runs are in each status (every business).
SELECT status, count(*) AS runs FROM outbound_call_runs GROUP BY status;
