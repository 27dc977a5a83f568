-- The scheduler's lease on a run and the job transitions it makes
-- (store::LeaseStore). A lease is (run id, business id, lease_epoch, worker);
-- every write under a lease is fenced by campaign_lease_held() (migration
-- 0009), and every job transition stamps run_version with
-- campaign_next_run_version(). Every statement under a lease names the run's
-- business (`r.business_id`, `j.business_id`) on every table it reads, so it
-- touches one business only (one shard when distributed by business_id,
-- docs/scaling.md); AcquireRuns and AbandonedCancels scan across businesses
-- by design.

-- fragment: ControlColumns
-- What a worker steers a run by (store::RunControl), from the run row `r`.
r.status, r.cancel_requested, r.queued_count, r.in_progress_count,
(extract(epoch from r.ended_at) * 1000000)::int8 AS ended_at_us, r.hang_up_on_end

-- name: TrySweepLock
-- One sweeper at a time across replicas (transaction-scoped advisory lock).
SELECT pg_try_advisory_xact_lock($1) AS locked;

-- name: AcquireRuns
-- Leases runs to dispatch, and runs with calls left to reconcile. `$4` picks
-- free runs (false) or runs whose lease expired (true). Businesses take
-- turns: each candidate's turn is the number of runs of its business this
-- worker (`$1`) already holds plus its rank among its business's candidates
-- (oldest first), and candidates are taken by turn, then id, so the oldest
-- waiting run of every business comes before a second run of any. `$5` > 0
-- caps the runs of one business this worker holds. Rows the run checks would
-- refuse (legacy rows before migration 0007) are never candidates, so one
-- such row cannot fail the statement for every other run. Candidates are
-- locked with SKIP LOCKED (the ranking reads without locks; a row another
-- worker holds locked is skipped). The pre-update holder is read from the
-- same snapshot. The run's call settings come back with the lease: they never
-- change after CreateRun, so the worker reads them once per acquisition, not
-- per claim.
WITH eligible AS (
  SELECT r.id, r.business_id
    FROM outbound_call_runs r
   WHERE (r.status IN ('pending', 'running')
          OR (r.status IN ('paused', 'stopped', 'cancelled', 'failed')
              AND r.in_progress_count > 0))
     AND r.concurrency > 0 AND r.total_leads >= 0 AND r.queued_count >= 0
     AND r.in_progress_count >= 0 AND r.completed_count >= 0 AND r.failed_count >= 0
     AND r.cancelled_count >= 0 AND r.cursor_position >= 0
     AND r.cursor_position <= r.total_leads),
held AS (
  SELECT e.business_id, count(*) AS runs
    FROM eligible e JOIN outbound_call_runs r ON r.id = e.id
   WHERE r.locked_by_worker = $1
   GROUP BY e.business_id),
ranked AS (
  SELECT e.id,
         coalesce(h.runs, 0)
           + row_number() OVER (PARTITION BY e.business_id ORDER BY e.id) AS turn
    FROM eligible e
    JOIN outbound_call_runs r ON r.id = e.id
    LEFT JOIN held h ON h.business_id = e.business_id
   WHERE CASE WHEN $4
              THEN r.locked_by_worker IS NOT NULL
                   AND (r.lock_ts IS NULL
                        OR r.lock_ts < now() - $2::float8 * interval '1 microsecond')
              ELSE r.locked_by_worker IS NULL END),
candidates AS (
  SELECT r.id, r.locked_by_worker AS previous_worker
    FROM outbound_call_runs r
    JOIN ranked k ON k.id = r.id
   WHERE ($5::int <= 0 OR k.turn <= $5::int)
     AND (r.status IN ('pending', 'running')
          OR (r.status IN ('paused', 'stopped', 'cancelled', 'failed')
              AND r.in_progress_count > 0))
     AND CASE WHEN $4
              THEN r.locked_by_worker IS NOT NULL
                   AND (r.lock_ts IS NULL
                        OR r.lock_ts < now() - $2::float8 * interval '1 microsecond')
              ELSE r.locked_by_worker IS NULL END
   ORDER BY k.turn, r.id
   LIMIT $3
   FOR UPDATE OF r SKIP LOCKED)
UPDATE outbound_call_runs r
   SET locked_by_worker = $1, lock_ts = now(), lease_epoch = r.lease_epoch + 1,
       status = CASE WHEN r.status = 'pending' THEN 'running' ELSE r.status END,
       started_at = CASE WHEN r.status = 'pending' THEN coalesce(r.started_at, now())
                         ELSE r.started_at END,
       version = r.version + 1, updated_at = now()
  FROM candidates c
 WHERE r.id = c.id
RETURNING r.id, r.business_id, r.lease_epoch, r.concurrency,
          coalesce(c.previous_worker, '') AS previous_worker,
          coalesce(r.caller_id, '') AS caller_id, coalesce(r.twiml_url, '') AS twiml_url,
          coalesce(r.ring_timeout_seconds, 0) AS ring_timeout_seconds,
          coalesce(r.machine_detection, '') AS machine_detection;

-- name: LockLeasedRun
-- The fence of every write: the run row, locked, if this lease still holds.
SELECT 1 AS held FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4) FOR NO KEY UPDATE;

-- name: ReadControl
-- What the dispatch loop steers by, if this lease still holds.
SELECT {{ControlColumns}}
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4);

-- name: RenewLeases
-- Renews the leases worker `$1` holds among runs `$2` of businesses `$3` at
-- epochs `$4` (parallel arrays), all in one statement: the run rows are
-- locked in id order (two renewals never deadlock), and only a run still
-- held at its epoch is renewed and returned (the run's version is left
-- alone: nothing a watcher sees changed). A lease missing from the answer
-- was lost.
WITH held AS (
  SELECT r.id, r.business_id
    FROM outbound_call_runs r
    JOIN unnest($2::int8[], $3::int8[], $4::int8[]) AS l(run_id, business_id, epoch)
      ON r.id = l.run_id AND r.business_id = l.business_id
   WHERE campaign_lease_held(r, l.epoch, $1)
   ORDER BY r.id
   FOR NO KEY UPDATE OF r)
UPDATE outbound_call_runs r SET lock_ts = now()
  FROM held h
 WHERE r.id = h.id AND r.business_id = h.business_id
RETURNING r.id, {{ControlColumns}};

-- fragment: ClaimRun
-- The run row of a claim (`$1`, business `$2`, lease epoch `$3`, worker
-- `$4`), locked and re-checked: running, no cancel requested, still held;
-- `free` is its free slots, at most `$5`.
SELECT r.id, campaign_next_run_version(r) AS next_version,
       greatest(0, least($5::int, r.concurrency - r.in_progress_count)) AS free
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4)
   AND r.status = 'running' AND NOT r.cancel_requested
 FOR NO KEY UPDATE

-- fragment: ClaimTail
-- Claims up to `(SELECT free FROM run)` queued jobs of the run `run` locked
-- (the CTEs picked, claimed, counted).
picked AS (
  SELECT j.id
    FROM outbound_call_jobs j
   WHERE j.run_id = (SELECT id FROM run) AND j.business_id = $2 AND j.status = 'queued'
   ORDER BY j.id
   LIMIT (SELECT free FROM run)
   FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE outbound_call_jobs j
     SET status = 'dialing', dial_lock_token = gen_random_uuid()::text,
         dial_started_at = now(), attempts = j.attempts + 1,
         run_version = (SELECT next_version FROM run)
   WHERE j.business_id = $2 AND j.id = ANY (ARRAY(SELECT id FROM picked))
  RETURNING j.id, j.lead_id, coalesce(j.phone, '') AS phone, j.dial_lock_token),
counted AS (
  UPDATE outbound_call_runs r
     SET queued_count = r.queued_count - (SELECT count(*) FROM claimed),
         in_progress_count = r.in_progress_count + (SELECT count(*) FROM claimed),
         lock_ts = now(), version = r.version + 1, updated_at = now()
   WHERE r.id = (SELECT id FROM run) AND r.business_id = $2 AND EXISTS (SELECT 1 FROM claimed)
  RETURNING 1)

-- name: ClaimJobs
-- Claims queued jobs with the run row locked and re-checked in the same
-- statement; never more than the run's free slots. The jobs' stamp comes from
-- the row as locked (a change that committed while the lock was awaited is
-- seen), not from the statement's snapshot. The claimed rows are updated by
-- key (`id = ANY (ARRAY(...))`: index lookups on the primary key), never by a
-- join the planner could turn into a scan of every job of the business.
-- The claim of a replica that does not enforce calls per second: it never
-- reads or locks the business's dial-rate bucket.
WITH run AS (
{{ClaimRun}}),
{{ClaimTail}}
SELECT id, lead_id, phone, dial_lock_token FROM claimed ORDER BY id;

-- name: ClaimJobsGoverned
-- ClaimJobs under the business's calls-per-second limit (the rate governor,
-- migration 0014): also never more jobs than the whole tokens of the
-- business's bucket, which are debited in the same statement. Only when the
-- run can claim (a free slot) is the bucket row locked (after the run row,
-- always in that order): refilled by the database time elapsed since
-- refilled_at (never backwards, capped at the capacity), `limited` when its
-- whole tokens were fewer than the free slots. One row per claimed job, or
-- one row with a NULL id when none; every row carries the bucket's state:
-- `bucket_found` (false: the business has no bucket row yet, nothing was
-- claimed; the caller creates it and claims again), `limited`, and
-- `next_token_us`, the microseconds from now until the bucket holds a whole
-- token again (0 when it does).
WITH locked AS (
{{ClaimRun}}),
bucket AS (
  SELECT d.business_id, b.max_calls_per_second AS rate,
         greatest(d.refilled_at, now()) AS refilled_at,
         least(campaign_dial_capacity(b.max_calls_per_second),
               d.tokens + b.max_calls_per_second
                            * greatest(0, extract(epoch FROM now() - d.refilled_at)))
           AS available
    FROM business_dial_rate d
    JOIN business b ON b.id = d.business_id
   WHERE d.business_id = $2 AND (SELECT free FROM locked) > 0
   FOR NO KEY UPDATE OF d),
run AS (
  SELECT l.id, l.next_version,
         least(l.free, coalesce((SELECT floor(available)::int FROM bucket), 0)) AS free
    FROM locked l),
{{ClaimTail}},
debited AS (
  UPDATE business_dial_rate d
     SET tokens = greatest(0, k.available - (SELECT count(*) FROM claimed)),
         refilled_at = k.refilled_at
    FROM bucket k
   WHERE d.business_id = $2 AND k.business_id = d.business_id
  RETURNING d.tokens, k.rate, k.refilled_at),
state AS (
  SELECT EXISTS (SELECT 1 FROM bucket) OR NOT EXISTS (SELECT 1 FROM locked WHERE free > 0)
           AS bucket_found,
         coalesce((SELECT floor(available) < l.free FROM bucket, locked l), false) AS limited,
         coalesce((SELECT CASE WHEN t.tokens >= 1 THEN 0
                               ELSE ceil(extract(epoch FROM t.refilled_at - now()) * 1000000
                                         + (1 - t.tokens) / t.rate * 1000000)::int8
                          END FROM debited t), 0) AS next_token_us)
SELECT c.id, c.lead_id, c.phone, c.dial_lock_token, s.bucket_found, s.limited, s.next_token_us
  FROM state s LEFT JOIN claimed c ON true
 ORDER BY c.id;

-- name: CreateDialRate
-- The dial-rate bucket of business `$1`, full, when it has none yet (a
-- business created after migration 0014).
INSERT INTO business_dial_rate (business_id, tokens, refilled_at)
SELECT b.id, campaign_dial_capacity(b.max_calls_per_second), now()
  FROM business b WHERE b.id = $1
ON CONFLICT (business_id) DO NOTHING;

-- name: DialGate
-- The run row share-locked for the time a claimed batch is handed to the
-- dialer, if this lease still holds; `dispatchable` says whether it may be:
-- a Stop, Cancel or Pause (which update the row) either committed first and
-- is seen, or waits until the dials are placed.
SELECT r.status = 'running' AND NOT r.cancel_requested AS dispatchable
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4)
   FOR SHARE;

-- name: ReleaseClaim
-- Gives claimed job `$1` of run `$2` of business `$3` (token `$4`) back
-- (`$5` = 'queued') or cancels it, with reason `$6`.
UPDATE outbound_call_jobs
   SET status = $5::text, error_message = nullif($6, ''),
       completed_at = CASE WHEN $5::text = 'queued' THEN NULL ELSE now() END,
       dial_lock_token = CASE WHEN $5::text = 'queued' THEN NULL ELSE dial_lock_token END,
       dial_started_at = CASE WHEN $5::text = 'queued' THEN NULL ELSE dial_started_at END,
       attempts = attempts - 1,
       run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                       WHERE r.id = $2 AND r.business_id = $3)
 WHERE id = $1 AND run_id = $2 AND business_id = $3 AND dial_lock_token = $4
   AND status = 'dialing' AND call_sid IS NULL;

-- name: RunState
-- The run state an undone claim is decided on, read after the fence locked
-- the run row: a Stop or Cancel that committed first is seen.
SELECT status, cancel_requested, coalesce(last_error, '') AS last_error
  FROM outbound_call_runs WHERE id = $1 AND business_id = $2;

-- name: RecordCallsStarted
-- Marks the jobs `$3` (tokens `$4`, call ids `$5`; parallel arrays) of run
-- `$1` of business `$2` calling, and bumps the run's version once in the same
-- statement, so the jobs' run_version is covered by the run's version
-- (watchers read "jobs changed since version v"). A job whose token no
-- longer matches or that is no longer dialing is left alone.
WITH input AS (
  SELECT * FROM unnest($3::int8[], $4::text[], $5::text[]) AS s(job_id, token, call_sid)),
started AS (
  UPDATE outbound_call_jobs j
     SET status = 'calling', call_sid = s.call_sid, started_at = now(),
         run_version = (SELECT campaign_next_run_version(r)
                          FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2)
    FROM input s
   WHERE j.business_id = $2 AND j.id = s.job_id AND j.run_id = $1
     AND j.dial_lock_token = s.token AND j.status = 'dialing'
  RETURNING 1)
UPDATE outbound_call_runs
   SET version = version + 1, updated_at = now()
 WHERE id = $1 AND business_id = $2 AND EXISTS (SELECT 1 FROM started);

-- name: FinishJobs
-- Records the outcomes of jobs `$3` (tokens `$4`, statuses `$5`, errors `$6`,
-- call ids `$7` when not recorded yet; parallel arrays) of run `$1` of
-- business `$2`, and moves the run's counters and cursor once for all of them
-- in the same statement (dialing and calling both count as in progress).
-- A job whose token no longer matches or that is already final is left alone
-- and not counted. The input is hash-joined to the run's jobs in flight
-- (bounded by its concurrency, found through the (run_id, status) index);
-- an `id = ANY` key filter here made the planner pick a nested loop over the
-- input, quadratic in the batch. Returns the run's control state afterwards.
WITH input AS (
  SELECT * FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[])
           AS o(job_id, token, status, error, call_sid)),
finished AS (
  UPDATE outbound_call_jobs j
     SET status = o.status, error_message = nullif(o.error, ''), completed_at = now(),
         call_sid = coalesce(nullif(o.call_sid, ''), j.call_sid),
         started_at = CASE WHEN o.call_sid <> '' THEN coalesce(j.started_at, now())
                           ELSE j.started_at END,
         run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
    FROM input o
   WHERE j.business_id = $2 AND j.id = o.job_id AND j.run_id = $1
     AND j.dial_lock_token = o.token AND j.status IN ('dialing', 'calling')
  RETURNING j.status),
moved AS (
  SELECT count(*) AS total,
         count(*) FILTER (WHERE status = 'completed') AS completed,
         count(*) FILTER (WHERE status IN ('failed', 'busy', 'no_answer')) AS failed,
         count(*) FILTER (WHERE status = 'busy') AS busy,
         count(*) FILTER (WHERE status = 'no_answer') AS no_answer
    FROM finished)
UPDATE outbound_call_runs r
   SET in_progress_count = r.in_progress_count - m.total,
       completed_count = r.completed_count + m.completed,
       failed_count = r.failed_count + m.failed,
       busy_count = r.busy_count + m.busy, no_answer_count = r.no_answer_count + m.no_answer,
       cursor_position = r.cursor_position + m.total,
       version = r.version + CASE WHEN m.total > 0 THEN 1 ELSE 0 END,
       updated_at = CASE WHEN m.total > 0 THEN now() ELSE r.updated_at END
  FROM moved m
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{ControlColumns}};

-- name: CountJobMoves
-- Applies counter deltas to run `$1` of business `$2`; returns the control
-- state afterwards.
UPDATE outbound_call_runs r
   SET queued_count = r.queued_count + $3, in_progress_count = r.in_progress_count + $4,
       completed_count = r.completed_count + $5, failed_count = r.failed_count + $6,
       cancelled_count = r.cancelled_count + $7, cursor_position = r.cursor_position + $8,
       busy_count = r.busy_count + $9, no_answer_count = r.no_answer_count + $10,
       version = r.version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{ControlColumns}};

-- name: CompleteRun
-- Completes running run `$1` of business `$2` with no work left.
UPDATE outbound_call_runs r
   SET status = 'completed', ended_at = now(), completed_at = now(),
       version = version + 1, updated_at = now()
 WHERE id = $1 AND business_id = $2 AND status = 'running' AND NOT cancel_requested
   AND queued_count = 0 AND in_progress_count = 0
RETURNING {{ControlColumns}};

-- name: EndRun
-- Ends run `$1` of business `$2` with `$3` (cancelled or failed) after `$4`
-- queued jobs were cancelled; `$5` is the error (failed runs only).
UPDATE outbound_call_runs
   SET status = $3, ended_at = now(), completed_at = now(),
       last_error = coalesce(nullif($5, ''), last_error),
       queued_count = queued_count - $4, cancelled_count = cancelled_count + $4,
       cursor_position = cursor_position + $4,
       version = version + 1, updated_at = now()
 WHERE id = $1 AND business_id = $2 AND status IN ('pending', 'running', 'paused');

-- name: ActiveJobs
-- The jobs of run `$1` of business `$2` with a call in flight (dialing or calling).
SELECT id, lead_id, coalesce(phone, '') AS phone, coalesce(dial_lock_token, '') AS token,
       coalesce(call_sid, '') AS call_sid, status,
       (extract(epoch from coalesce(dial_started_at, created_at)) * 1000000)::int8
         AS dial_started_at_us
  FROM outbound_call_jobs
 WHERE run_id = $1 AND business_id = $2 AND status IN ('dialing', 'calling') ORDER BY id;

-- name: PendingCancel
-- The run this lease holds, locked, with whether a cancel is pending; no
-- row when the lease was lost.
SELECT r.cancel_requested AND r.status IN ('pending', 'running', 'paused') AS cancel_pending
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4)
   FOR NO KEY UPDATE;

-- name: AbandonedCancels
-- Runs with a pending cancel that no live lease holds (`$1`: lease TTL in
-- microseconds): nothing else would finalise them (a paused run with no
-- calls is never acquired again).
SELECT id, business_id FROM outbound_call_runs
 WHERE cancel_requested AND status IN ('pending', 'running', 'paused')
   AND (locked_by_worker IS NULL OR lock_ts IS NULL
        OR lock_ts < now() - $1::float8 * interval '1 microsecond')
 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED;

-- name: ReleaseLease
-- Gives the lease up (the run's version is left alone).
UPDATE outbound_call_runs r SET locked_by_worker = NULL, lock_ts = NULL
 WHERE r.id = $1 AND r.business_id = $2 AND campaign_lease_held(r, $3, $4);
