-- Dialing policies as the API reads and writes them (store::PolicyStore, and
-- store::RunStore for CreateRun's override): one dialing_policy row per
-- business default (run_id = 0) and per run with overrides. A NULL column is
-- a field not set there (store::PolicyFromRow). Every query names the
-- business.

-- name: DialingPolicies
-- The business default row of business `$1` and the override row of its run
-- `$2` (when `$2` is not 0), each with its run_id; either may be missing.
SELECT p.run_id, p.window_days, p.window_start_minutes, p.window_end_minutes,
       p.restricted_dates, p.max_attempts, p.retry_outcomes, p.retry_delay_seconds,
       p.max_dials_per_number, p.per_number_window_days, p.default_time_zone
  FROM dialing_policy p
 WHERE p.business_id = $1 AND p.run_id IN (0, $2::int8);

-- name: UpsertDialingPolicy
-- Sets the fields of the policy row (business `$1`, run `$2`, 0: the
-- business default) whose flag is true: calling windows `$3` (arrays `$10`
-- days, `$11` start minutes, `$12` end minutes), restricted dates `$4`
-- (`$13` date[]), max_attempts `$5` (`$14`), retry delays `$6` (`$15`
-- outcomes, `$16` seconds), max_dials_per_number `$7` (`$17`),
-- per_number_window_days `$8` (`$18`), default_time_zone `$9` (`$19`). A
-- NULL value clears the field (it inherits again); fields whose flag is
-- false keep their value. Arrays arrive as literals (store::PgArray).
INSERT INTO dialing_policy AS p
  (business_id, run_id, window_days, window_start_minutes, window_end_minutes,
   restricted_dates, max_attempts, retry_outcomes, retry_delay_seconds,
   max_dials_per_number, per_number_window_days, default_time_zone)
VALUES ($1, $2,
        CASE WHEN $3::bool THEN $10::int2[] END, CASE WHEN $3::bool THEN $11::int2[] END,
        CASE WHEN $3::bool THEN $12::int2[] END, CASE WHEN $4::bool THEN $13::date[] END,
        CASE WHEN $5::bool THEN $14::int4 END, CASE WHEN $6::bool THEN $15::text[] END,
        CASE WHEN $6::bool THEN $16::int4[] END, CASE WHEN $7::bool THEN $17::int4 END,
        CASE WHEN $8::bool THEN $18::int4 END, CASE WHEN $9::bool THEN $19::text END)
ON CONFLICT (business_id, run_id) DO UPDATE SET
  window_days = CASE WHEN $3::bool THEN excluded.window_days ELSE p.window_days END,
  window_start_minutes =
    CASE WHEN $3::bool THEN excluded.window_start_minutes ELSE p.window_start_minutes END,
  window_end_minutes =
    CASE WHEN $3::bool THEN excluded.window_end_minutes ELSE p.window_end_minutes END,
  restricted_dates = CASE WHEN $4::bool THEN excluded.restricted_dates ELSE p.restricted_dates END,
  max_attempts = CASE WHEN $5::bool THEN excluded.max_attempts ELSE p.max_attempts END,
  retry_outcomes = CASE WHEN $6::bool THEN excluded.retry_outcomes ELSE p.retry_outcomes END,
  retry_delay_seconds =
    CASE WHEN $6::bool THEN excluded.retry_delay_seconds ELSE p.retry_delay_seconds END,
  max_dials_per_number =
    CASE WHEN $7::bool THEN excluded.max_dials_per_number ELSE p.max_dials_per_number END,
  per_number_window_days =
    CASE WHEN $8::bool THEN excluded.per_number_window_days ELSE p.per_number_window_days END,
  default_time_zone =
    CASE WHEN $9::bool THEN excluded.default_time_zone ELSE p.default_time_zone END,
  updated_at = now();

-- name: RunStatusForPolicy
-- The status of run `$1` of business `$2` (no row: not the business's run).
SELECT r.status FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2;
