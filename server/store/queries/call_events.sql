-- The call-event inbox: Twilio's status callbacks (store::CallEventStore;
-- migrations/0012_call_events.sql).

-- fragment: CallEventColumns
business_id, run_id, job_id, dial_token, call_sid, call_status,
coalesce(sequence_number::text, '') AS sequence_number,
coalesce(answered_by, '') AS answered_by,
coalesce(call_duration::text, '') AS call_duration,
coalesce(sip_response_code::text, '') AS sip_response_code,
(extract(epoch from received_at) * 1000000)::int8 AS received_at_us

-- name: RecordCallEvent
-- Records status `$5` of call `$4` for job `$3` of run `$2` of business `$1`,
-- dialed with token `$6`, with Twilio's sequence number `$7`, AnsweredBy
-- `$8`, CallDuration `$9` and SipResponseCode `$10` ('' when absent). Only
-- while the job still carries that token (a callback of an older attempt is
-- stored nowhere); a duplicate of a recorded (call, status) is dropped.
-- Returns a row only when the event is new.
INSERT INTO outbound_call_events
  (business_id, run_id, job_id, dial_token, call_sid, call_status, sequence_number, answered_by,
   call_duration, sip_response_code)
SELECT j.business_id, j.run_id, j.id, j.dial_lock_token, $4, $5, nullif($7, '')::int4,
       nullif($8, ''), nullif($9, '')::int8, nullif($10, '')::int4
  FROM outbound_call_jobs j
 WHERE j.business_id = $1 AND j.id = $3 AND j.run_id = $2 AND j.dial_lock_token = $6
ON CONFLICT (business_id, call_sid, call_status) DO NOTHING
RETURNING 1 AS recorded;

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
