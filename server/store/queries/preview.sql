-- What PreviewRun reads (store::PreviewStore): the facts rules::Decide needs
-- for the jobs of a run, or for the numbers of a proposed run, as of a time
-- `$4`/`$3` that may be in the future. Read only; every query names the
-- business on every table.

-- fragment: RecentDials
-- The business's dials per number within the per-number window (`secs`
-- seconds before `at`; none when `secs` is 0): the per-number cap's count.
recent AS (
  SELECT a.phone, count(*) AS dials, min(a.started_at) AS oldest
    FROM call_attempts a
   WHERE a.business_id = $1 AND $3::float8 > 0
     AND a.started_at > to_timestamp($4::float8 / 1000000) - $3::float8 * interval '1 second'
   GROUP BY a.phone)

-- name: PreviewJobs
-- Every job of run `$2` of business `$1` with what a decision needs: its
-- status, zone spec, caller id, attempts, next_attempt_at (NULL when due
-- now), whether its number is on the do-not-call list, and its number's
-- recent dials (`$3`: the cap's window in seconds, 0 when there is no cap;
-- `$4`: the preview's time, microseconds since the epoch).
WITH {{RecentDials}}
SELECT j.id, j.lead_id, coalesce(j.phone, '') AS phone, j.status,
       coalesce(j.time_zone, '') AS time_zone, coalesce(j.caller_id, '') AS caller_id,
       j.attempts,
       CASE WHEN j.next_attempt_at = '-infinity' THEN NULL
            ELSE (extract(epoch FROM j.next_attempt_at) * 1000000)::int8 END AS next_attempt_at_us,
       coalesce(j.waiting_reason, '') AS waiting_reason,
       EXISTS (SELECT 1 FROM do_not_call d
                WHERE d.business_id = $1 AND d.phone = j.phone) AS on_do_not_call,
       coalesce(k.dials, 0) AS recent_dials,
       (extract(epoch FROM k.oldest) * 1000000)::int8 AS oldest_recent_dial_us
  FROM outbound_call_jobs j
  LEFT JOIN recent k ON k.phone = j.phone
 WHERE j.business_id = $1 AND j.run_id = $2
 ORDER BY j.id;

-- name: PreviewPhones
-- For numbers `$2` (E.164) of business `$1`: on the do-not-call list, and
-- their recent dials (`$3`, `$4` as in PreviewJobs). One row per distinct
-- number.
WITH {{RecentDials}},
phones AS (SELECT DISTINCT p.phone FROM unnest($2::text[]) AS p(phone))
SELECT p.phone,
       EXISTS (SELECT 1 FROM do_not_call d
                WHERE d.business_id = $1 AND d.phone = p.phone) AS on_do_not_call,
       coalesce(k.dials, 0) AS recent_dials,
       (extract(epoch FROM k.oldest) * 1000000)::int8 AS oldest_recent_dial_us
  FROM phones p
  LEFT JOIN recent k ON k.phone = p.phone;
