-- The attempt ledger as the API reads it (store::AttemptStore): rows of
-- call_attempts (migration 0015), written by the scheduler's claim and
-- completed when a call ends.

-- name: RunOfBusinessExists
-- Whether business `$2` has run `$1`.
SELECT 1 FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2;

-- name: JobOfRunExists
-- Whether job `$1` is a job of run `$2` of business `$3`.
SELECT 1 FROM outbound_call_jobs j WHERE j.id = $1 AND j.run_id = $2 AND j.business_id = $3;

-- name: ListAttempts
-- A page of run `$2`'s attempts (business `$1`), only job `$3`'s when not
-- NULL, in (job_id, attempt) order after (`$4`, `$5`) (NULL: from the
-- first), at most `$6` rows. Timestamps as microseconds since the epoch.
SELECT a.run_id, a.job_id, a.attempt, a.lead_id, a.phone, coalesce(a.caller_id, '') AS caller_id,
       a.dial_token, coalesce(a.call_sid, '') AS call_sid,
       (extract(epoch from a.started_at) * 1000000)::int8 AS started_at_us,
       (extract(epoch from a.answered_at) * 1000000)::int8 AS answered_at_us,
       (extract(epoch from a.ended_at) * 1000000)::int8 AS ended_at_us,
       coalesce(a.outcome, '') AS outcome, coalesce(a.answered_by, '') AS answered_by,
       coalesce(a.error, '') AS error
  FROM call_attempts a
 WHERE a.business_id = $1 AND a.run_id = $2 AND ($3::int8 IS NULL OR a.job_id = $3::int8)
   AND ($4::int8 IS NULL OR (a.job_id, a.attempt) > ($4::int8, $5::int4))
 ORDER BY a.job_id, a.attempt LIMIT $6;
