-- The migrator's ledger and lock (store::Migrate); the migrations themselves
-- live in migrations/.

-- name: LockMigrationsForTransaction
-- Transaction-scoped advisory lock that serialises migrations across
-- replicas: taken first in each migration's transaction and released by its
-- COMMIT or ROLLBACK, so it never outlives the transaction and stays correct
-- behind a transaction-pooling connection pooler (PgBouncer), where a
-- session-level lock and its unlock could land on different server
-- connections and leak.
SELECT pg_advisory_xact_lock($1);

-- name: CreateLedger
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   char(64) NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: ReadLedger
SELECT version, name, checksum FROM schema_migrations;

-- name: RecordMigration
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: AllBusinesses
-- Migrations may touch rows of every business under row-level security.
SELECT set_config('campaign.all_businesses', 'on', true);
