-- The connection pool and the LISTEN connection (store::Database,
-- store::NotificationListener).

-- name: SetTenancy
-- Runs first in every transaction of the pool. Sets both tenancy settings
-- and the pool's idle_in_transaction_session_timeout ($3, e.g. '1500ms';
-- empty: keep the server's value) in one round trip; `true` makes them
-- local to the transaction (SET LOCAL), so neither a pooled connection nor a
-- server connection shared through PgBouncer ever leaks them, and the
-- service sends no startup parameter a pooler could refuse.
SELECT set_config('campaign.business_id', $1, true),
       set_config('campaign.all_businesses', $2, true),
       set_config('idle_in_transaction_session_timeout',
                  coalesce(nullif($3, ''), current_setting('idle_in_transaction_session_timeout')),
                  true);

-- name: Ping
-- A round trip that touches nothing (pool health, whether the listener's
-- connection answers).
SELECT 1;

-- name: Notify
-- The listener's liveness probe: a notification on its own channel ($1) with
-- a payload unique to the process and probe ($2), delivered at commit.
SELECT pg_notify($1, $2);

-- name: RoleBypassesRowSecurity
-- Whether the service's own role ignores row-level security (a superuser or
-- BYPASSRLS role): the second wall of business isolation would be down.
SELECT rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = current_user;
