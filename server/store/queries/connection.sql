-- The connection pool and the LISTEN connection (store::Database,
-- store::NotificationListener).

-- name: SetTenancy
-- Sets both tenancy settings in one round trip; `true` makes them local to
-- the transaction (SET LOCAL), so a pooled connection never leaks them.
SELECT set_config('campaign.business_id', $1, true),
       set_config('campaign.all_businesses', $2, true);

-- name: Ping
-- A round trip that touches nothing (pool health, the listener's liveness probe).
SELECT 1;

-- name: RoleBypassesRowSecurity
-- Whether the service's own role ignores row-level security (a superuser or
-- BYPASSRLS role): the second wall of business isolation would be down.
SELECT rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = current_user;
