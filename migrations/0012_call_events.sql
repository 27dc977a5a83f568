-- The call-event inbox: Twilio's status callbacks as they arrive, so the
-- replica that holds a run learns how its calls progress and end whichever
-- replica received the callback (docs/twilio.md).
--
-- The listener of any replica checks the callback's signature, then inserts
-- one row per (call, status) here (queries/call_events.sql,
-- RecordCallEvent). The row is written only when the job still carries the
-- dial token the callback URL names: a callback of an older attempt of the
-- job is stored nowhere. A duplicate callback (Twilio retries, or sends the
-- same event twice) meets the primary key and is dropped (ON CONFLICT DO
-- NOTHING), so recording one twice changes nothing.
--
-- A tenant table: its key, foreign key and policy name business_id like the
-- runs' and jobs' (0005, 0010). Events go with their job (ON DELETE CASCADE).
-- sequence_number is Twilio's order of the events of one call, when sent.

CREATE TABLE IF NOT EXISTS outbound_call_events (
  business_id       bigint      NOT NULL,
  run_id            bigint      NOT NULL,
  job_id            bigint      NOT NULL,
  dial_token        varchar(64) NOT NULL,
  call_sid          varchar(64) NOT NULL,
  call_status       varchar(16) NOT NULL,
  sequence_number   integer,
  answered_by       varchar(32),
  call_duration     bigint,
  sip_response_code integer,
  received_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbound_call_events_pkey PRIMARY KEY (business_id, call_sid, call_status),
  CONSTRAINT outbound_call_events_job_fkey FOREIGN KEY (business_id, job_id)
    REFERENCES outbound_call_jobs (business_id, id) ON DELETE CASCADE,
  CONSTRAINT outbound_call_events_status_check CHECK (call_status IN (
    'queued', 'initiated', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer',
    'canceled', 'failed'))
);

-- The foreign key's job side (a job's deletion finds its events).
CREATE INDEX IF NOT EXISTS outbound_call_events_job_idx
  ON outbound_call_events (business_id, job_id);
-- Lookups by call id or dial token alone: the reconciler knows the call or
-- the token of a run it took over, not through which business to ask.
CREATE INDEX IF NOT EXISTS outbound_call_events_call_sid_idx
  ON outbound_call_events (call_sid);
CREATE INDEX IF NOT EXISTS outbound_call_events_dial_token_idx
  ON outbound_call_events (dial_token);

ALTER TABLE outbound_call_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_call_events FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS business_isolation ON outbound_call_events;
CREATE POLICY business_isolation ON outbound_call_events
  USING (current_setting('campaign.all_businesses', true) = 'on'
         OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint)
  WITH CHECK (current_setting('campaign.all_businesses', true) = 'on'
              OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint);
