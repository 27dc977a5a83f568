-- Distribution-ready keys: every primary key, unique constraint and foreign
-- key of a tenant table (a table whose rows belong to one business:
-- outbound_call_runs, outbound_call_jobs) includes business_id, so the schema
-- can be distributed by business_id with co-located shards (docs/scaling.md).
-- business and api_keys are not tenant tables (reference tables in that
-- layout) and keep their keys.
--
--   outbound_call_runs  PRIMARY KEY (id)               -> (business_id, id)
--   outbound_call_jobs  PRIMARY KEY (id)               -> (business_id, id)
--   outbound_call_jobs  unique_run_lead (run_id, lead_id)
--                                                      -> (business_id, run_id, lead_id)
--
-- The names stay (unique_run_lead is part of the legacy contract). At most
-- one job per lead per run still holds: a job's (business_id, run_id) is a
-- foreign key to the run's primary key, so a run is identified by
-- (business_id, id) and each run holds each lead at most once. Run and job
-- ids stay unique by their sequences; a plain index on the run id keeps
-- lookups by id alone (RunOwner, acquisition) fast. The index on
-- outbound_call_jobs (business_id) is dropped: the new primary key leads
-- with the same column.
--
-- Large tables: each key is swapped onto a unique index built beforehand
-- (ADD CONSTRAINT ... USING INDEX only changes the catalog). This migration
-- runs in the migrator's transaction, where CREATE INDEX CONCURRENTLY is not
-- possible, so it builds a missing index itself (writes to the table wait
-- for the build; reads do not). To keep writes going on a large table, an
-- operator builds the indexes online before upgrading:
--   CREATE UNIQUE INDEX CONCURRENTLY outbound_call_jobs_business_id_id_key
--     ON outbound_call_jobs (business_id, id);
--   CREATE UNIQUE INDEX CONCURRENTLY outbound_call_jobs_business_run_lead_key
--     ON outbound_call_jobs (business_id, run_id, lead_id);
--   CREATE INDEX CONCURRENTLY outbound_call_runs_id_idx ON outbound_call_runs (id);
-- and this migration takes them as they are. An index of one of these names
-- that is invalid (a concurrent build that failed) or not of the expected
-- shape is rebuilt. Re-applying is a no-op: a key that already has its
-- columns is left alone.

-- Writers wait from here to commit (readers do not until the swaps below);
-- taking both locks first, in the order the service touches the tables,
-- avoids a deadlock between a lock upgrade here and a claim in flight.
LOCK TABLE outbound_call_runs, outbound_call_jobs IN SHARE MODE;

-- Lookups of a run by id alone (RunOwner, acquisition's joins), which the
-- old primary key served.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('outbound_call_runs_id_idx')
                AND NOT indisvalid) THEN
    DROP INDEX outbound_call_runs_id_idx;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS outbound_call_runs_id_idx ON outbound_call_runs (id);

DO $$
DECLARE
  k record;
  -- The columns, in order, of index or constraint key `attnums` of `rel`.
  key_columns text[];
  usable boolean;
  old_name text;
BEGIN
  -- Pass 1: the unique indexes the keys move onto (only SHARE locks).
  -- Pass 2: the swaps (ACCESS EXCLUSIVE, catalog changes only).
  FOR pass IN 1..2 LOOP
    FOR k IN
      SELECT * FROM (VALUES
        (1, 'outbound_call_runs', 'p', 'outbound_call_runs_pkey',
         'outbound_call_runs_business_id_id_key', ARRAY['business_id', 'id']),
        (2, 'outbound_call_jobs', 'p', 'outbound_call_jobs_pkey',
         'outbound_call_jobs_business_id_id_key', ARRAY['business_id', 'id']),
        (3, 'outbound_call_jobs', 'u', 'unique_run_lead',
         'outbound_call_jobs_business_run_lead_key', ARRAY['business_id', 'run_id', 'lead_id'])
      ) AS v(ord, tbl, kind, con, idx, cols)
      ORDER BY ord
    LOOP
      -- Done already: the key exists under its name with the new columns.
      SELECT array_agg(a.attname::text ORDER BY x.n) INTO key_columns
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS x(attnum, n)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = x.attnum
       WHERE c.conrelid = k.tbl::regclass AND c.conname = k.con AND c.contype = k.kind;
      CONTINUE WHEN key_columns = k.cols;

      IF pass = 1 THEN
        SELECT i.indisvalid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
               AND i.indrelid = k.tbl::regclass
               AND (SELECT array_agg(a.attname::text ORDER BY x.n)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS x(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum)
                   = k.cols
          INTO usable
          FROM pg_index i WHERE i.indexrelid = to_regclass(k.idx);
        IF usable IS NOT TRUE THEN
          IF to_regclass(k.idx) IS NOT NULL THEN
            RAISE NOTICE 'index % is invalid or of another shape; rebuilding it', k.idx;
            EXECUTE format('DROP INDEX %I', k.idx);
          END IF;
          EXECUTE format('CREATE UNIQUE INDEX %I ON %I (%s)', k.idx, k.tbl,
                         (SELECT string_agg(format('%I', c), ', ') FROM unnest(k.cols) AS c));
        END IF;
      ELSE
        -- The key it replaces: the table's primary key, or the named unique constraint.
        SELECT c.conname INTO old_name
          FROM pg_constraint c
         WHERE c.conrelid = k.tbl::regclass AND c.contype = k.kind
           AND (k.kind = 'p' OR c.conname = k.con);
        IF old_name IS NOT NULL THEN
          EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', k.tbl, old_name);
        END IF;
        -- Renames the index to the constraint's name.
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s USING INDEX %I', k.tbl, k.con,
                       CASE k.kind WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, k.idx);
      END IF;
    END LOOP;
  END LOOP;
END $$;

DROP INDEX IF EXISTS outbound_call_jobs_business_id_idx;
