-- The rate governor: a calls-per-second limit per business, enforced across
-- every replica through a token bucket per business that the claim takes
-- from (queries/leases.sql, ClaimJobsGoverned; docs/design.md, "Calls per
-- second").
--
-- business.max_calls_per_second is the limit (default 1: Twilio's default
-- account CPS), set with `campaignd set-business-limits`. Fractions are
-- allowed (0.5: one call every two seconds); at most 1000.
--
-- business_dial_rate is the bucket: `tokens` as of `refilled_at` (database
-- time, never a replica's clock). A claim refills it by the time elapsed
-- since refilled_at (capped at the capacity), takes the whole tokens it
-- dials, and writes the rest back, all in the claim's statement with the
-- bucket row locked. refilled_at never moves backwards: a claim whose
-- transaction began before the bucket's last refill adds no time. A bucket
-- row is created full when a claim of its business first finds none (and
-- for every existing business here). Its own narrow table, not columns of
-- business: every governed claim updates it, and a small row keeps those
-- updates HOT and off the CRM's business row.
--
-- campaign_dial_capacity(cps): the bucket's capacity (the burst):
-- max(1, cps / 10), a tenth of a second's worth of calls and at least one
-- call. In any window of T seconds a business starts at most
-- capacity + cps * T claims (docs/design.md).
--
-- A tenant table like the runs' (0005, 0010, 0012): forced row-level
-- security on business_id.

ALTER TABLE business
  ADD COLUMN IF NOT EXISTS max_calls_per_second double precision NOT NULL DEFAULT 1;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'business'::regclass
                    AND conname = 'business_max_calls_per_second_check') THEN
    ALTER TABLE business ADD CONSTRAINT business_max_calls_per_second_check
      CHECK (max_calls_per_second > 0 AND max_calls_per_second <= 1000);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION campaign_dial_capacity(cps double precision)
  RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT greatest(1, cps / 10) $$;

CREATE TABLE IF NOT EXISTS business_dial_rate (
  business_id bigint           NOT NULL,
  tokens      double precision NOT NULL,
  refilled_at timestamptz      NOT NULL DEFAULT now(),
  CONSTRAINT business_dial_rate_pkey PRIMARY KEY (business_id),
  CONSTRAINT business_dial_rate_business_fkey FOREIGN KEY (business_id)
    REFERENCES business (id) ON DELETE CASCADE,
  CONSTRAINT business_dial_rate_tokens_check CHECK (tokens >= 0)
);

INSERT INTO business_dial_rate (business_id, tokens, refilled_at)
SELECT b.id, campaign_dial_capacity(b.max_calls_per_second), now()
  FROM business b
ON CONFLICT (business_id) DO NOTHING;

ALTER TABLE business_dial_rate ENABLE ROW LEVEL SECURITY;
ALTER TABLE business_dial_rate FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS business_isolation ON business_dial_rate;
CREATE POLICY business_isolation ON business_dial_rate
  USING (current_setting('campaign.all_businesses', true) = 'on'
         OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint)
  WITH CHECK (current_setting('campaign.all_businesses', true) = 'on'
              OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint);
