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
-- per claim. A pending run whose start_at (database time) has not come is not
-- a candidate: it costs nothing while it waits (CreateRun showed why in its
-- next_dial_at / waiting_reason); its acquisition clears that note.
WITH eligible AS (
  SELECT r.id, r.business_id
    FROM outbound_call_runs r
   WHERE (r.status = 'running' OR (r.status = 'pending' AND (r.start_at IS NULL OR r.start_at <= now()))
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
     AND (r.status = 'running' OR (r.status = 'pending' AND (r.start_at IS NULL OR r.start_at <= now()))
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
       next_dial_at = CASE WHEN r.waiting_reason = 'start_at' THEN NULL ELSE r.next_dial_at END,
       waiting_reason = CASE WHEN r.waiting_reason = 'start_at' THEN NULL
                             ELSE r.waiting_reason END,
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
-- Claims up to `(SELECT free FROM run)` due queued jobs of the run `run`
-- locked: `status = 'queued' AND next_attempt_at <= $6` (`$6`: the
-- scheduler's clock, microseconds since the epoch) in (next_attempt_at, id)
-- order, the range of outbound_call_jobs_due_idx. Each claimed job gets its
-- attempt's row in the ledger (call_attempts) in the same statement, so the
-- attempt is durable before its dial. `facts` adds what rules::Decide needs
-- per job: on the business's do-not-call list, and, when `$7` > 0 (the
-- per-number window in microseconds; 0: no cap, nothing counted), the
-- number's dials in the window before `$6` and the oldest of them (this
-- statement's own ledger rows are not visible to it, so they are not
-- counted). The run's next_dial_at / waiting_reason are cleared when a job
-- is claimed. (CTEs picked, claimed, ledger, counted, facts.)
picked AS (
  SELECT j.id
    FROM outbound_call_jobs j
   WHERE j.run_id = (SELECT id FROM run) AND j.business_id = $2 AND j.status = 'queued'
     AND j.next_attempt_at <= 'epoch'::timestamptz + $6::int8 * interval '1 microsecond'
   ORDER BY j.next_attempt_at, j.id
   LIMIT (SELECT free FROM run)
   FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE outbound_call_jobs j
     SET status = 'dialing', dial_lock_token = $8::text || '.' || j.id::text,
         dial_started_at = now(), attempts = j.attempts + 1, waiting_reason = NULL,
         run_version = (SELECT next_version FROM run)
   WHERE j.business_id = $2 AND j.id = ANY (ARRAY(SELECT id FROM picked))
  RETURNING j.id, j.run_id, j.lead_id, coalesce(j.phone, '') AS phone, j.dial_lock_token,
            j.attempts, coalesce(j.time_zone, '') AS time_zone,
            coalesce(j.caller_id, '') AS caller_id),
ledger AS (
  INSERT INTO call_attempts (business_id, run_id, job_id, attempt, lead_id, phone, caller_id,
                             dial_token, started_at)
  SELECT $2, c.run_id, c.id, c.attempts, c.lead_id, c.phone, nullif(c.caller_id, ''),
         c.dial_lock_token, now()
    FROM claimed c
  RETURNING 1),
counted AS (
  UPDATE outbound_call_runs r
     SET queued_count = r.queued_count - (SELECT count(*) FROM claimed),
         in_progress_count = r.in_progress_count + (SELECT count(*) FROM claimed),
         next_dial_at = NULL, waiting_reason = NULL,
         lock_ts = now(), version = r.version + 1, updated_at = now()
   WHERE r.id = (SELECT id FROM run) AND r.business_id = $2 AND EXISTS (SELECT 1 FROM claimed)
  RETURNING 1),
facts AS (
  SELECT c.id, c.lead_id, c.phone, c.dial_lock_token, c.attempts, c.time_zone, c.caller_id,
         EXISTS (SELECT 1 FROM do_not_call d WHERE d.business_id = $2 AND d.phone = c.phone)
           AS on_do_not_call,
         coalesce(n.recent_dials, 0) AS recent_dials, n.oldest_recent_dial_us
    FROM claimed c
    LEFT JOIN LATERAL (
      SELECT count(*) AS recent_dials,
             (extract(epoch FROM min(a.started_at)) * 1000000)::int8 AS oldest_recent_dial_us
        FROM call_attempts a
       WHERE $7::int8 > 0 AND a.business_id = $2 AND a.phone = c.phone
         AND a.started_at > 'epoch'::timestamptz + ($6::int8 - $7::int8) * interval '1 microsecond'
    ) n ON true)

-- fragment: ClaimedColumns
-- A claimed job and its facts (store::ClaimedJob), from `facts c`.
c.id, c.lead_id, c.phone, c.dial_lock_token, c.attempts, c.time_zone, c.caller_id,
c.on_do_not_call, c.recent_dials, c.oldest_recent_dial_us

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
SELECT {{ClaimedColumns}} FROM facts c ORDER BY c.id;

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
SELECT {{ClaimedColumns}}, s.bucket_found, s.limited, s.next_token_us
  FROM state s LEFT JOIN facts c ON true
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
-- (`$5` = 'queued') or cancels it, with reason `$6`; its attempt's ledger row
-- goes with it (never dialed). `moved`: 1 when the job was released.
WITH released AS (
  UPDATE outbound_call_jobs
     SET status = $5::text, error_message = nullif($6, ''),
         completed_at = CASE WHEN $5::text = 'queued' THEN NULL ELSE now() END,
         dial_lock_token = CASE WHEN $5::text = 'queued' THEN NULL ELSE dial_lock_token END,
         dial_started_at = CASE WHEN $5::text = 'queued' THEN NULL ELSE dial_started_at END,
         attempts = attempts - 1,
         run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                         WHERE r.id = $2 AND r.business_id = $3)
   WHERE id = $1 AND run_id = $2 AND business_id = $3 AND dial_lock_token = $4
     AND status = 'dialing' AND call_sid IS NULL
  RETURNING id),
unledgered AS (
  DELETE FROM call_attempts a
   WHERE a.business_id = $3 AND a.dial_token = $4 AND EXISTS (SELECT 1 FROM released)
  RETURNING 1)
SELECT count(*) AS moved FROM released;

-- name: UndoClaims
-- Undoes claims the rules vetoed before any dial (rules::Decide said defer
-- or skip), for run `$1` of business `$2`, in one statement: jobs `$3`
-- (tokens `$4`) go to `$5` ('queued': not before `$6`, microseconds since
-- the epoch, for reason `$7`; 'skipped' with skip reason `$8`; 'cancelled'
-- when the run ended meanwhile) with error message `$9` (the rule); the
-- attempt and the token are given back and the attempt's ledger row
-- deleted (never dialed). The run's counters move once. A job whose token no
-- longer matches or that is no longer dialing is left alone. Returns the
-- run's control state.
WITH input AS (
  SELECT * FROM unnest($3::int8[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[],
                       $9::text[]) AS u(job_id, token, status, next_at_us, waiting, skip, error)),
undone AS (
  UPDATE outbound_call_jobs j
     SET status = u.status, attempts = j.attempts - 1, dial_lock_token = NULL,
         dial_started_at = NULL,
         next_attempt_at = CASE WHEN u.status = 'queued'
                                THEN 'epoch'::timestamptz + u.next_at_us * interval '1 microsecond'
                                ELSE j.next_attempt_at END,
         waiting_reason = CASE WHEN u.status = 'queued' THEN nullif(u.waiting, '') END,
         skip_reason = CASE WHEN u.status = 'skipped' THEN nullif(u.skip, '') END,
         error_message = nullif(u.error, ''),
         completed_at = CASE WHEN u.status = 'queued' THEN NULL ELSE now() END,
         run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
    FROM input u
   WHERE j.business_id = $2 AND j.id = u.job_id AND j.run_id = $1
     AND j.dial_lock_token = u.token AND j.status = 'dialing' AND j.call_sid IS NULL
  RETURNING j.id, j.attempts + 1 AS attempt, j.status, u.token),
unledgered AS (
  DELETE FROM call_attempts a USING undone d
   WHERE a.business_id = $2 AND a.job_id = d.id AND a.attempt = d.attempt
     AND a.dial_token = d.token
  RETURNING 1),
moved AS (
  SELECT count(*) AS total,
         count(*) FILTER (WHERE status = 'queued') AS queued,
         count(*) FILTER (WHERE status = 'skipped') AS skipped,
         count(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM undone)
UPDATE outbound_call_runs r
   SET in_progress_count = r.in_progress_count - m.total,
       queued_count = r.queued_count + m.queued,
       skipped_count = r.skipped_count + m.skipped,
       cancelled_count = r.cancelled_count + m.cancelled,
       cursor_position = r.cursor_position + m.skipped + m.cancelled,
       version = r.version + CASE WHEN m.total > 0 THEN 1 ELSE 0 END,
       updated_at = CASE WHEN m.total > 0 THEN now() ELSE r.updated_at END
  FROM moved m
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{ControlColumns}};

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
-- longer matches or that is no longer dialing is left alone. The attempt's
-- ledger row (by its key, the token re-checked) gets the call id.
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
  RETURNING j.id, j.attempts, s.token, s.call_sid),
ledgered AS (
  UPDATE call_attempts a SET call_sid = t.call_sid
    FROM started t
   WHERE a.business_id = $2 AND a.job_id = t.id AND a.attempt = t.attempts
     AND a.dial_token = t.token
  RETURNING 1)
UPDATE outbound_call_runs
   SET version = version + 1, updated_at = now()
 WHERE id = $1 AND business_id = $2 AND EXISTS (SELECT 1 FROM started);

-- name: FinishJobs
-- Records the outcomes of jobs `$3` (tokens `$4`, statuses `$5`, errors `$6`,
-- call ids `$7` when not recorded yet; parallel arrays) of run `$1` of
-- business `$2`, and moves the run's counters and cursor once for all of them
-- in the same statement (dialing and calling both count as in progress).
-- `$8` (microseconds since the epoch; 0: none) is the job's retry: the job
-- goes back to queued, due then, waiting for 'retry_delay', with the token
-- and the call id cleared and the error kept (not final: in progress - 1,
-- queued + 1). Every ending fills the attempt's ledger row (by its key
-- (business, job, attempt), the token re-checked; see below): call
-- id, ended_at, outcome, error, answered_by `$9` and answered_at `$10`
-- (microseconds; 0: unknown) when the dialer reported them. No retry once
-- the run is stopped, cancelled (or a cancel is pending) or ended: the run
-- row is locked by the fence, so a Stop that committed first is seen.
-- A job whose token no longer matches or that is already final is left alone
-- and not counted. The input is hash-joined to the run's jobs in flight
-- (bounded by its concurrency, found through the (run_id, status) index);
-- an `id = ANY` key filter here made the planner pick a nested loop over the
-- input, quadratic in the batch.
-- The ledger rows are found by their primary key: a join on the token
-- alone let the planner, which expects one finished row, filter every
-- ledger row of the business once per outcome (2.8 s for 1,000 outcomes on
-- a 100,000-job run, with the run row locked: dispatch fell to 0.13 of the
-- raw loop). Returns the run's control state afterwards.
WITH live AS (
  SELECT EXISTS (SELECT 1 FROM outbound_call_runs r
                  WHERE r.id = $1 AND r.business_id = $2 AND r.status IN ('running', 'paused')
                    AND NOT r.cancel_requested) AS live),
input AS (
  SELECT u.job_id, u.token, u.status, u.error, u.call_sid, u.answered_by, u.answered_at_us,
         CASE WHEN (SELECT live FROM live) THEN u.retry_at_us ELSE 0 END AS retry_at_us
    FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[],
                $9::text[], $10::int8[])
           AS u(job_id, token, status, error, call_sid, retry_at_us, answered_by,
                answered_at_us)),
finished AS (
  UPDATE outbound_call_jobs j
     SET status = CASE WHEN o.retry_at_us <> 0 THEN 'queued' ELSE o.status END,
         error_message = nullif(o.error, ''),
         completed_at = CASE WHEN o.retry_at_us <> 0 THEN NULL ELSE now() END,
         call_sid = CASE WHEN o.retry_at_us <> 0 THEN NULL
                         ELSE coalesce(nullif(o.call_sid, ''), j.call_sid) END,
         started_at = CASE WHEN o.retry_at_us <> 0 THEN NULL
                           WHEN o.call_sid <> '' THEN coalesce(j.started_at, now())
                           ELSE j.started_at END,
         dial_lock_token = CASE WHEN o.retry_at_us <> 0 THEN NULL ELSE j.dial_lock_token END,
         dial_started_at = CASE WHEN o.retry_at_us <> 0 THEN NULL ELSE j.dial_started_at END,
         next_attempt_at = CASE WHEN o.retry_at_us <> 0
                                THEN 'epoch'::timestamptz + o.retry_at_us * interval '1 microsecond'
                                ELSE j.next_attempt_at END,
         waiting_reason = CASE WHEN o.retry_at_us <> 0 THEN 'retry_delay' END,
         run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
    FROM input o
   WHERE j.business_id = $2 AND j.id = o.job_id AND j.run_id = $1
     AND j.dial_lock_token = o.token AND j.status IN ('dialing', 'calling')
  RETURNING j.id, j.attempts, j.status, o.token, o.status AS outcome, o.error, o.call_sid,
            o.answered_by, o.answered_at_us),
ledgered AS (
  UPDATE call_attempts a
     SET call_sid = coalesce(nullif(f.call_sid, ''), a.call_sid), ended_at = now(),
         outcome = f.outcome, error = nullif(f.error, ''),
         answered_by = coalesce(nullif(f.answered_by, ''), a.answered_by),
         answered_at = CASE WHEN f.answered_at_us <> 0
                            THEN 'epoch'::timestamptz + f.answered_at_us * interval '1 microsecond'
                            ELSE a.answered_at END
    FROM finished f
   WHERE a.business_id = $2 AND a.job_id = f.id AND a.attempt = f.attempts
     AND a.dial_token = f.token
  RETURNING 1),
moved AS (
  SELECT count(*) AS total,
         count(*) FILTER (WHERE status = 'queued') AS retried,
         count(*) FILTER (WHERE status = 'completed') AS completed,
         count(*) FILTER (WHERE status IN ('failed', 'busy', 'no_answer')) AS failed,
         count(*) FILTER (WHERE status = 'busy') AS busy,
         count(*) FILTER (WHERE status = 'no_answer') AS no_answer
    FROM finished)
UPDATE outbound_call_runs r
   SET in_progress_count = r.in_progress_count - m.total,
       queued_count = r.queued_count + m.retried,
       completed_count = r.completed_count + m.completed,
       failed_count = r.failed_count + m.failed,
       busy_count = r.busy_count + m.busy, no_answer_count = r.no_answer_count + m.no_answer,
       cursor_position = r.cursor_position + m.total - m.retried,
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
       skipped_count = r.skipped_count + $11,
       version = r.version + 1, updated_at = now()
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{ControlColumns}};

-- name: CompleteRun
-- Completes running run `$1` of business `$2` with no work left.
UPDATE outbound_call_runs r
   SET status = 'completed', ended_at = now(), completed_at = now(),
       next_dial_at = NULL, waiting_reason = NULL,
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
       next_dial_at = NULL, waiting_reason = NULL,
       queued_count = queued_count - $4, cancelled_count = cancelled_count + $4,
       cursor_position = cursor_position + $4,
       version = version + 1, updated_at = now()
 WHERE id = $1 AND business_id = $2 AND status IN ('pending', 'running', 'paused');

-- name: ActiveJobs
-- The jobs of run `$1` of business `$2` with a call in flight (dialing or calling).
SELECT id, lead_id, coalesce(phone, '') AS phone, coalesce(dial_lock_token, '') AS token,
       coalesce(call_sid, '') AS call_sid, status, attempts,
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

-- name: RunDialingRules
-- The stored dialing policy rows run `$1` of business `$2` dials by: the
-- business default (run_id 0, `is_run` false) and the run's overrides
-- (`is_run` true), each when it exists; columns as PolicyFromRow reads them.
SELECT p.run_id <> 0 AS is_run, p.window_days::text AS window_days,
       p.window_start_minutes::text AS window_start_minutes,
       p.window_end_minutes::text AS window_end_minutes,
       p.restricted_dates::text AS restricted_dates, p.max_attempts,
       p.retry_outcomes::text AS retry_outcomes,
       p.retry_delay_seconds::text AS retry_delay_seconds, p.max_dials_per_number,
       p.per_number_window_days, p.default_time_zone
  FROM dialing_policy p
 WHERE p.business_id = $2 AND p.run_id IN (0, $1);

-- name: RunSchedule
-- Run `$1` of business `$2`'s start_at and end_at (microseconds; NULL: none).
SELECT (extract(epoch FROM start_at) * 1000000)::int8 AS start_at_us,
       (extract(epoch FROM end_at) * 1000000)::int8 AS end_at_us
  FROM outbound_call_runs WHERE id = $1 AND business_id = $2;

-- name: NoteWaiting
-- After a claim of run `$1` of business `$2` found nothing due at `$3`
-- (microseconds): the earliest queued job's next_attempt_at and reason,
-- written to the run's next_dial_at / waiting_reason only when they changed
-- (no write per round) and only when it is in the future. Returns the run's
-- control state and that time (`next_due_us`, NULL when nothing is queued
-- or it is due already). The run row must be locked (the fence).
WITH next AS (
  SELECT j.next_attempt_at, j.waiting_reason
    FROM outbound_call_jobs j
   WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued'
   ORDER BY j.next_attempt_at, j.id
   LIMIT 1),
future AS (
  SELECT n.next_attempt_at, n.waiting_reason FROM next n
   WHERE isfinite(n.next_attempt_at)
     AND n.next_attempt_at > 'epoch'::timestamptz + $3::int8 * interval '1 microsecond'),
noted AS (
  UPDATE outbound_call_runs r
     SET next_dial_at = f.next_attempt_at, waiting_reason = f.waiting_reason,
         version = r.version + 1, updated_at = now()
    FROM future f
   WHERE r.id = $1 AND r.business_id = $2
     AND (r.next_dial_at IS DISTINCT FROM f.next_attempt_at
          OR r.waiting_reason IS DISTINCT FROM f.waiting_reason)
  RETURNING 1)
SELECT {{ControlColumns}},
       (SELECT (extract(epoch FROM f.next_attempt_at) * 1000000)::int8 FROM future f)
         AS next_due_us
  FROM outbound_call_runs r
 WHERE r.id = $1 AND r.business_id = $2;

-- name: DueZones
-- The due queued jobs of run `$1` of business `$2` at `$3` (microseconds),
-- counted by zone spec (the screen: each zone's window is decided once).
SELECT coalesce(j.time_zone, '') AS time_zone, count(*) AS jobs
  FROM outbound_call_jobs j
 WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued'
   AND j.next_attempt_at <= 'epoch'::timestamptz + $3::int8 * interval '1 microsecond'
 GROUP BY 1 ORDER BY 1;

-- name: ScreenZones
-- Every due queued job (at `$3`, microseconds) of run `$1` of business `$2`
-- in a closed zone, in one statement: zone specs `$4`, per zone 'queued'
-- (deferred until `$5`, microseconds, waiting for 'calling_window') or
-- 'skipped' (the window never opens: skip reason 'window_unreachable') in
-- `$6`, the rule `$7` as error message of skipped jobs. A job whose number
-- is on the business's do-not-call list is skipped for that instead (the
-- first rule rules::Decide applies), whatever its zone: so a run shows such
-- a lead as PreviewRun does, and it never waits for a window. Skips move the
-- run's counters (queued - n, skipped + n, cursor + n). Returns the run's
-- control state.
WITH input AS (
  SELECT * FROM unnest($4::text[], $5::int8[], $6::text[], $7::text[])
           AS z(zone, until_us, status, rule)),
target AS (
  SELECT j.id, z.zone, z.until_us, z.status, z.rule,
         EXISTS (SELECT 1 FROM do_not_call d WHERE d.business_id = $2 AND d.phone = j.phone)
           AS barred
    FROM outbound_call_jobs j
    JOIN input z ON coalesce(j.time_zone, '') = z.zone
   WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued'
     AND j.next_attempt_at <= 'epoch'::timestamptz + $3::int8 * interval '1 microsecond'),
screened AS (
  UPDATE outbound_call_jobs j
     SET status = CASE WHEN t.barred THEN 'skipped' ELSE t.status END,
         next_attempt_at = CASE WHEN t.status = 'queued' AND NOT t.barred
                                THEN 'epoch'::timestamptz + t.until_us * interval '1 microsecond'
                                ELSE j.next_attempt_at END,
         waiting_reason = CASE WHEN t.status = 'queued' AND NOT t.barred
                               THEN 'calling_window' END,
         skip_reason = CASE WHEN t.barred THEN 'do_not_call'
                            WHEN t.status = 'skipped' THEN 'window_unreachable' END,
         error_message = CASE WHEN t.barred
                              THEN 'the number is on the business''s do-not-call list'
                              WHEN t.status = 'skipped' THEN nullif(t.rule, '')
                              ELSE j.error_message END,
         completed_at = CASE WHEN t.status = 'skipped' OR t.barred
                             THEN now() ELSE j.completed_at END,
         run_version = (SELECT campaign_next_run_version(r) FROM outbound_call_runs r
                         WHERE r.id = $1 AND r.business_id = $2)
    FROM target t
   WHERE j.business_id = $2 AND j.id = t.id AND j.run_id = $1 AND j.status = 'queued'
  RETURNING j.status),
moved AS (
  SELECT count(*) AS total, count(*) FILTER (WHERE status = 'skipped') AS skipped
    FROM screened)
UPDATE outbound_call_runs r
   SET queued_count = r.queued_count - m.skipped,
       skipped_count = r.skipped_count + m.skipped,
       cursor_position = r.cursor_position + m.skipped,
       version = r.version + CASE WHEN m.total > 0 THEN 1 ELSE 0 END,
       updated_at = CASE WHEN m.total > 0 THEN now() ELSE r.updated_at END
  FROM moved m
 WHERE r.id = $1 AND r.business_id = $2
RETURNING {{ControlColumns}};

-- name: CommitWalPosition
-- The server's WAL insert position, read by the scheduler right after a
-- claim committed, on the same connection (so on the server that took the
-- commit): at or past the end of the claim's commit record, because that
-- record was inserted before COMMIT returned and the insert position never
-- goes back (pg_current_wal_lsn, the write position, can lag it under
-- synchronous_commit = off). A standby that flushed this far holds the
-- claim. In bytes since 0/0, as text (pg_lsn has no integer cast).
SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text AS lsn;

-- name: ReplicationState
-- What the replicated-claims gate decides by, in one statement: the
-- primary's synchronous_standby_names, its standbys (rows of
-- pg_stat_replication), how many of them this role may not read (every
-- column but pid is NULL without pg_read_all_stats), the highest flush
-- position (bytes since 0/0, as text; NULL when none) of the standbys that
-- are synchronous now (sync_state sync or quorum), and whether this role has
-- pg_read_all_stats.
SELECT current_setting('synchronous_standby_names') AS sync_names,
       (SELECT count(*) FROM pg_stat_replication) AS standbys,
       (SELECT count(*) FROM pg_stat_replication WHERE sync_state IS NULL) AS unreadable,
       (SELECT (max(flush_lsn) - '0/0'::pg_lsn)::text
          FROM pg_stat_replication
         WHERE sync_state IN ('sync', 'quorum')) AS sync_flushed,
       pg_has_role('pg_read_all_stats', 'USAGE') AS can_read;
