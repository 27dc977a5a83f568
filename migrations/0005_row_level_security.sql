-- Row-level security: the second wall behind the business filter of every
-- query. Each transaction of the service sets `campaign.business_id` (SET
-- LOCAL through set_config); only cross-business work (a system admin's
-- listing, the scheduler, migrations) sets `campaign.all_businesses` to 'on'.
-- FORCE applies the policies to the table owner too; superusers and roles
-- with BYPASSRLS still bypass them, so the service must not connect as one.

ALTER TABLE outbound_call_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_call_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE outbound_call_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_call_jobs FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS business_isolation ON outbound_call_runs;
CREATE POLICY business_isolation ON outbound_call_runs
  USING (current_setting('campaign.all_businesses', true) = 'on'
         OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint)
  WITH CHECK (current_setting('campaign.all_businesses', true) = 'on'
              OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint);

DROP POLICY IF EXISTS business_isolation ON outbound_call_jobs;
CREATE POLICY business_isolation ON outbound_call_jobs
  USING (current_setting('campaign.all_businesses', true) = 'on'
         OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint)
  WITH CHECK (current_setting('campaign.all_businesses', true) = 'on'
              OR business_id = nullif(current_setting('campaign.business_id', true), '')::bigint);
