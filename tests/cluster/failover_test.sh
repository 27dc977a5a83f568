#!/usr/bin/env bash
# The cluster tier (issue 14): one run dispatched by two `campaignd serve`
# replicas on a pg_auto_failover formation started by tools/cluster, across
# three `pg_autoctl perform failover`s. The simulated dialer's shared dial log
# is the oracle:
#   - no lead and no token appears twice in it (no double dial);
#   - the run completes with exact counters: queued 0, in progress 0, and
#     completed / failed / cancelled / skipped equal to its jobs' statuses,
#     summing to the total;
#   - no job failed "dial outcome unknown" whose lead is not in the dial log
#     (a never-dialed claim is returned to the queue, never failed);
#   - every job the dial log shows as placed (sid=) ended in a call outcome.
# Each failover waits for new dials first (the dial log grows), so all three
# land mid-run. Prints each failover's write outage and the test's time.
#
# Usage: failover_test.sh PATH_TO_CAMPAIGND   (ctest passes it)
# Needs root (tools/cluster runs PostgreSQL as postgres), pg_autoctl,
# pgbouncer, psql and jq; fails, never skips, without them. Extra `serve`
# flags (e.g. the failover branch's --require-replicated-claims=on) come from
# CAMPAIGN_CLUSTER_TEST_SERVE_ARGS.
set -euo pipefail
campaignd=${1:?usage: failover_test.sh PATH_TO_CAMPAIGND}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
started=$SECONDS
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '== %s (%ds)\n' "$*" "$((SECONDS - started))"; }

leads=${CAMPAIGN_CLUSTER_TEST_LEADS:-600}
concurrency=8 call=300ms failovers=3
[[ -x $campaignd ]] || fail "campaignd not found at $campaignd"
for tool in psql jq pg_autoctl /usr/sbin/pgbouncer setpriv; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
((EUID == 0)) || fail "the cluster test needs root (it runs PostgreSQL as postgres)"

tmp=$(mktemp -d /tmp/cluster-failover-test.XXXXXX)
chmod 0755 "$tmp"
cluster=$tmp/cluster dial_log=$tmp/dial.log passed=false
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local rc=$? log
  trap - EXIT INT TERM HUP
  if ! $passed && [[ -d $cluster/logs ]]; then
    for log in "$cluster"/logs/replica-*.log "$cluster"/logs/follower.log; do
      [[ -s $log ]] || continue
      echo "--- last lines of $(basename "$log"):" >&2
      tail -n 25 -- "$log" >&2
    done
  fi
  "$root/tools/cluster" down --dir "$cluster" >/dev/null 2>&1 ||
    echo "warning: tools/cluster down failed for $cluster" >&2
  rm -rf -- "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step "formation, PgBouncer and two replicas (tools/cluster up)"
: >"$dial_log"
# shellcheck disable=SC2206  # words on purpose: flags
extra=(${CAMPAIGN_CLUSTER_TEST_SERVE_ARGS:-})
"$root/tools/cluster" up --dir "$cluster" --replicas 2 --campaignd "$campaignd" -- \
  --sim-dial-log "$dial_log" --sim-call-duration "$call" --poll-interval 100ms \
  --shutdown-grace 1s "${extra[@]}" >"$tmp/up.out" 2>"$tmp/up.err" ||
  { cat "$tmp/up.err" "$tmp/up.out" >&2; fail "tools/cluster up failed"; }
cat "$tmp/up.out"
eval "$("$root/tools/cluster" env --dir "$cluster")"
[[ -n ${CLUSTER_ADMIN_URL:-} && -n ${CLUSTER_API_KEY:-} && $CLUSTER_ADDRS == *,* ]] ||
  fail "tools/cluster env lacks the URLs, the API key or two replicas"
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$CLUSTER_ADMIN_URL" -c "$1"; }

step "a run of $leads leads, concurrency $concurrency, ${call} calls"
awk -v n="$leads" 'BEGIN { print "lead_id,phone,name"
  for (i = 1; i <= n; i++) printf "%d,+1415%07d,Lead %d\n", i, 3000000 + i, i }' >"$tmp/leads.csv"
CAMPAIGN_ADDR=${CLUSTER_ADDRS%%,*} CAMPAIGN_API_KEY=$CLUSTER_API_KEY \
  "$root/tools/campaignctl" create "$tmp/leads.csv" --concurrency "$concurrency" --json \
  >"$tmp/create.json" 2>"$tmp/create.err" || { cat "$tmp/create.err" >&2; fail "campaignctl create"; }
run=$(jq -r '.run.id' "$tmp/create.json")
[[ $run =~ ^[0-9]+$ ]] || fail "no run id in $(cat "$tmp/create.json")"

# run_field COLUMN: one column of the run's row.
run_field() { sql "SELECT $1 FROM outbound_call_runs WHERE id = $run"; }
dials() { grep -c " run=$run " "$dial_log" || true; }
# wait_dials N SECONDS: until the dial log holds N dials of the run.
wait_dials() {
  local deadline=$((SECONDS + $2))
  until (($(dials) >= $1)); do
    ((SECONDS < deadline)) || fail "the run made $(dials) dials in $2 s, waiting for $1"
    sleep 0.2
  done
}

outages=()
for ((k = 1; k <= failovers; k++)); do
  want=$(($(dials) + 2 * concurrency))
  wait_dials "$want" 60
  [[ $(run_field status 2>/dev/null) == running ]] ||
    fail "the run is $(run_field status) before failover $k: make it longer"
  step "failover $k/$failovers at $(dials) dials"
  "$root/tools/cluster" failover --dir "$cluster" --json >"$tmp/failover.json" 2>"$tmp/failover.err" ||
    { cat "$tmp/failover.err" >&2; fail "tools/cluster failover $k"; }
  cat "$tmp/failover.json"
  outages+=("$(jq .write_outage_s "$tmp/failover.json")")
done

step "waiting for the run to end"
deadline=$((SECONDS + 120))
while :; do
  status=$(run_field status 2>/dev/null || echo unreachable)
  [[ $status == completed || $status == failed || $status == stopped || $status == cancelled ]] && break
  ((SECONDS < deadline)) || fail "the run is still $status 120 s after the last failover ($(dials) dials)"
  sleep 0.5
done
[[ $status == completed ]] || fail "the run ended $status"

step "checks"
problems=0
# 1. No lead and no token twice in the dial log.
grep " run=$run " "$dial_log" >"$tmp/run-dials.log" || true
dup_leads=$(grep -o ' lead=[0-9]*' "$tmp/run-dials.log" | sort | uniq -d | wc -l)
dup_tokens=$(grep -o ' token=[^ ]*' "$tmp/run-dials.log" | sort | uniq -d | wc -l)
if ((dup_leads > 0 || dup_tokens > 0)); then
  echo "DUPLICATE DIALS: $dup_leads leads and $dup_tokens tokens dialed more than once, e.g.:" >&2
  grep -o ' lead=[0-9]*' "$tmp/run-dials.log" | sort | uniq -d | head -n 3 | while read -r l; do
    grep -- "$l " "$tmp/run-dials.log" >&2
  done
  problems=$((problems + 1))
fi
# 2. Counters exact against the jobs.
counters=$(sql "SELECT r.total_leads, r.queued_count, r.in_progress_count, r.completed_count,
    r.failed_count, r.cancelled_count, r.skipped_count, r.cursor_position,
    count(j.id), count(j.id) FILTER (WHERE j.status = 'queued'),
    count(j.id) FILTER (WHERE j.status IN ('dialing', 'calling')),
    count(j.id) FILTER (WHERE j.status = 'completed'),
    count(j.id) FILTER (WHERE j.status IN ('failed', 'no_answer', 'busy')),
    count(j.id) FILTER (WHERE j.status = 'cancelled'),
    count(j.id) FILTER (WHERE j.status = 'skipped')
  FROM outbound_call_runs r JOIN outbound_call_jobs j ON j.business_id = r.business_id AND j.run_id = r.id
  WHERE r.id = $run GROUP BY r.business_id, r.id")
IFS='|' read -r total q ip c f x s cursor jobs jq_ jip jc jf jx js <<<"$counters"
echo "run $run: total $total, counters q=$q ip=$ip c=$c f=$f x=$x s=$s cursor=$cursor;" \
  "jobs $jobs: q=$jq_ ip=$jip c=$jc f=$jf x=$jx s=$js; $(wc -l <"$tmp/run-dials.log") dials"
if [[ $total != "$leads" || $jobs != "$leads" || $q != 0 || $ip != 0 || $jq_ != 0 || $jip != 0 ||
  $c != "$jc" || $f != "$jf" || $x != "$jx" || $s != "$js" || $cursor != "$leads" ||
  $((c + f + x + s)) != "$leads" ]]; then
  echo "COUNTERS NOT EXACT (above)" >&2
  problems=$((problems + 1))
fi
# 3. No never-dialed lead failed "dial outcome unknown"; 4. every placed
# call ended in a call outcome.
sql "SELECT lead_id FROM outbound_call_jobs WHERE run_id = $run AND status = 'failed'
  AND error_message LIKE 'dial outcome unknown%' ORDER BY 1" >"$tmp/unknown.txt"
grep -o ' lead=[0-9]*' "$tmp/run-dials.log" | cut -d= -f2 | sort -u >"$tmp/dialed.txt"
never_dialed_unknown=$(sort -u "$tmp/unknown.txt" | comm -23 - "$tmp/dialed.txt" | wc -l)
if ((never_dialed_unknown > 0)); then
  echo "NEVER-DIALED LEADS FAILED AS UNKNOWN: $never_dialed_unknown (of $(wc -l <"$tmp/unknown.txt") unknown), e.g.:" >&2
  sql "SELECT lead_id, error_message FROM outbound_call_jobs WHERE run_id = $run AND status = 'failed'
    AND error_message LIKE 'dial outcome unknown%' ORDER BY 1 LIMIT 3" >&2
  problems=$((problems + 1))
fi
grep ' sid=' "$tmp/run-dials.log" | grep -o ' lead=[0-9]*' | cut -d= -f2 | sort -u >"$tmp/placed.txt"
sql "SELECT lead_id FROM outbound_call_jobs WHERE run_id = $run
  AND status IN ('completed', 'failed', 'no_answer', 'busy')" | sort -u >"$tmp/ended.txt"
placed_not_ended=$(comm -23 "$tmp/placed.txt" "$tmp/ended.txt" | wc -l)
if ((placed_not_ended > 0)); then
  echo "PLACED CALLS WITHOUT A CALL OUTCOME: $placed_not_ended" >&2
  problems=$((problems + 1))
fi

# What the replicas found of claims whose COMMIT answer the failover lost
# (queued again, never failed: checked by 3 above).
in_doubt=$(cat "$cluster"/logs/replica-*.log 2>/dev/null | grep -c 'never heard back from' || true)
echo "claims of an in-doubt commit found and queued again: $in_doubt time(s)"
echo "write outages: ${outages[*]} s; test time $((SECONDS - started)) s"
((problems == 0)) || fail "$problems check(s) failed (above)"
passed=true
echo "cluster failover: ok ($leads leads, $failovers failovers, 0 duplicate dials)"
