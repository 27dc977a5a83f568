-- Rules several statements of the store share, kept here once
-- (server/store/queries/ calls them).
--
-- campaign_lease_held(run, epoch, worker): the lease fence. A worker's write
-- to a run it leased goes through only while the run is still held by that
-- worker at that lease epoch; a takeover bumps lease_epoch, so a worker that
-- lost its lease (even to itself after a restart) is refused. Plain SQL,
-- inlined by the planner into the calling statement.
--
-- campaign_next_run_version(run): the run_version stamp of a job
-- transition: the version the run row has once the same transaction's run
-- update is done (the run is bumped exactly once after the job changes), so
-- watchers read "jobs changed since version v" as run_version > v. Callers
-- pass the run row they locked (or read after an earlier statement of their
-- transaction locked it), so no other change can come in between. Inlined
-- like the fence (a lookup inside the function would not be, and would be
-- planned again at every call).
--
-- The run's own `version = version + 1` stays in the statements that change
-- what a watcher sees: a trigger cannot tell them apart (a heartbeat and a
-- release change lease columns without a bump, an acquisition bumps, the
-- call-started update bumps with nothing else changed).

CREATE OR REPLACE FUNCTION campaign_lease_held(run outbound_call_runs, epoch bigint, worker text)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT run.lease_epoch = epoch AND run.locked_by_worker = worker $$;

CREATE OR REPLACE FUNCTION campaign_next_run_version(run outbound_call_runs)
  RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT run.version + 1 $$;
