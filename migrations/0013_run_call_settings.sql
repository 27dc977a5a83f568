-- Per-run call settings and the hang-up choice of StopRun and CancelRun
-- (docs/twilio.md, docs/api.md).
--
-- CreateRun's optional call settings, stored as asked (NULL: not given, the
-- server's flag applies when the call is placed): the caller id (Twilio's
-- `From`, E.164), the TwiML URL, the ring timeout in seconds (Twilio's
-- `Timeout`, 5..600) and answering-machine detection ('enable' or
-- 'detect_message_end'; NULL: off). A run's settings never change after
-- CreateRun: a worker reads them once when it acquires the run
-- (queries/leases.sql, AcquireRuns).
--
-- hang_up_on_end: whether the calls of the run still in progress are hung up
-- when it is stopped or cancelled. Set by the first StopRun or CancelRun (its
-- `hang_up`, true when not given); a later one does not change it. True for
-- every run before that, and for runs that fail.
--
-- Old rows read as "no settings, hang up" (today's behaviour); old clients
-- never write these columns. Re-applying is a no-op.

ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS caller_id varchar(16);
ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS twiml_url text;
ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS ring_timeout_seconds integer;
ALTER TABLE outbound_call_runs ADD COLUMN IF NOT EXISTS machine_detection varchar(32);
ALTER TABLE outbound_call_runs
  ADD COLUMN IF NOT EXISTS hang_up_on_end boolean NOT NULL DEFAULT true;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'outbound_call_runs'::regclass
                    AND conname = 'outbound_call_runs_call_settings_check') THEN
    ALTER TABLE outbound_call_runs ADD CONSTRAINT outbound_call_runs_call_settings_check CHECK (
      (ring_timeout_seconds IS NULL OR ring_timeout_seconds BETWEEN 5 AND 600)
      AND (machine_detection IS NULL
           OR machine_detection IN ('enable', 'detect_message_end')));
  END IF;
END $$;
