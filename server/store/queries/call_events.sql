-- The call-event inbox: Twilio's status callbacks (store::CallEventStore;
-- migrations/0012_call_events.sql).

-- fragment: CallEventColumns
business_id, run_id, job_id, dial_token, call_sid, call_status,
coalesce(sequence_number::text, '') AS sequence_number,
coalesce(answered_by, '') AS answered_by,
coalesce(call_duration::text, '') AS call_duration,
coalesce(sip_response_code::text, '') AS sip_response_code,
(extract(epoch from received_at) * 1000000)::int8 AS received_at_us

-- name: RecordCallEvents
-- Records a batch of callbacks of business `$1`, as parallel arrays: run
-- `$2`, job `$3`, call `$4`, status `$5`, dial token `$6`, Twilio's sequence
-- number `$7`, AnsweredBy `$8`, CallDuration `$9` and SipResponseCode `$10`
-- ('' when absent). An event is stored only while its job still carries that
-- token (a callback of an older attempt is stored nowhere); a duplicate
-- (call, status), of a recorded event or earlier in the batch, is dropped.
-- `received_at` is each row's own clock time. Returns the events stored.
INSERT INTO outbound_call_events
  (business_id, run_id, job_id, dial_token, call_sid, call_status, sequence_number, answered_by,
   call_duration, sip_response_code, received_at)
SELECT j.business_id, j.run_id, j.id, j.dial_lock_token, s.call_sid, s.call_status,
       nullif(s.sequence_number, '')::int4, nullif(s.answered_by, ''),
       nullif(s.call_duration, '')::int8, nullif(s.sip_response_code, '')::int4,
       clock_timestamp()
  FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::text[])
         WITH ORDINALITY AS s(run_id, job_id, call_sid, call_status, token, sequence_number,
                              answered_by, call_duration, sip_response_code, n)
  JOIN outbound_call_jobs j
    ON j.business_id = $1 AND j.id = s.job_id AND j.run_id = s.run_id
   AND j.dial_lock_token = s.token
 ORDER BY s.n
ON CONFLICT (business_id, call_sid, call_status) DO NOTHING
RETURNING call_sid, call_status;

-- name: FinalCallEvents
-- The final events (completed, busy, no-answer, canceled, failed) recorded
-- for calls `$2` (text[]) of business `$1`: the first received per call.
SELECT DISTINCT ON (call_sid) {{CallEventColumns}}
  FROM outbound_call_events
 WHERE business_id = $1 AND call_sid = ANY ($2::text[])
   AND call_status IN ('completed', 'busy', 'no-answer', 'canceled', 'failed')
 ORDER BY call_sid, received_at, call_status;

-- name: CallEventsByCallSid
-- Every event recorded for call `$1`, of whichever business (the reconciler
-- knows the call of a run it took over, not the business to ask through).
SELECT {{CallEventColumns}}
  FROM outbound_call_events
 WHERE call_sid = $1
 ORDER BY received_at, call_status;

-- name: CallEventsByToken
-- Every event recorded for the dial with token `$1`, of whichever business
-- (a create request whose answer was lost; the reconciler's lookup by token).
SELECT {{CallEventColumns}}
  FROM outbound_call_events
 WHERE dial_token = $1
 ORDER BY received_at, call_status;
