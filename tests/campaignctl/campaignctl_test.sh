#!/usr/bin/env bash
# End-to-end test of tools/campaignctl against a real `campaignd serve`
# process (scheduler on, simulated dialer with short calls) on a database of
# its own. Proves: create from CSV (quoted fields, duplicates, chunking of a
# 50,000-line file through CreateRun + AddLeads), idempotent reruns, list,
# get, jobs, watch to each outcome with its exit code, stop/cancel/pause/
# resume, health, keys create/revoke, TLS and mutual TLS, the error exit codes
# (NOT_FOUND, UNAVAILABLE, UNAUTHENTICATED, PERMISSION_DENIED,
# FAILED_PRECONDITION, usage) and bad CSV refused before anything is sent.
# Waits only on events (the server's log line, watch streams).
#
# Usage: campaignctl_test.sh PATH_TO_CAMPAIGND   (ctest passes it)
# Needs CAMPAIGN_TEST_ADMIN_URL (a superuser URL; tools/test sets it).
set -euo pipefail

campaignd=${1:?usage: campaignctl_test.sh PATH_TO_CAMPAIGND}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ctl=$root/tools/campaignctl
# shellcheck source-path=SCRIPTDIR source=../tools/test_lib.sh
source "$root/tests/tools/test_lib.sh"
test_init campaignctl-test jq openssl script

# ------------------------------------------------------------- database
test_create_database campaign_test_app
export CAMPAIGN_DATABASE_URL=$app_url
"$campaignd" migrate >/dev/null 2>"$tmp/migrate.log" || { cat "$tmp/migrate.log" >&2; fail "migrate"; }
business=$(new_business "ctl test")
other_business=$(new_business "other")
key=$("$campaignd" create-api-key --business-id "$business" --role owner --label ctl 2>/dev/null |
  tr -d '[:space:]')
[[ -n $key ]] || fail "create-api-key"

# ---------------------------------------------------------------- server
step "campaignd serve on a free port"
# Calls at any hour (the default calling window would defer them at night).
start_server server --sim-call-duration 10ms --poll-interval 50ms --auth-cache-ttl 0s \
  --shutdown-grace 0s --max-leads-per-request 20000 --default-calling-hours 00:00-24:00

export CAMPAIGN_ADDR=127.0.0.1:$port CAMPAIGN_API_KEY=$key CAMPAIGND=$campaignd
unset CAMPAIGN_BUSINESS_ID CAMPAIGN_TLS_CA CAMPAIGN_TLS_CERT CAMPAIGN_TLS_KEY

# ctl EXPECTED_RC ARGS...: runs campaignctl; stdout in $tmp/out, stderr in
# $tmp/err; fails unless it exits EXPECTED_RC.
ctl() {
  local want=$1 rc=0
  shift
  "$ctl" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  if ((rc != want)); then
    echo "--- stdout:" >&2; cat "$tmp/out" >&2
    echo "--- stderr:" >&2; cat "$tmp/err" >&2
    fail "campaignctl $* exited $rc, expected $want"
  fi
}
# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { [[ $2 == "$3" ]] || fail "$1: got \"$2\", expected \"$3\""; }
expect_in() { grep -qF -- "$2" "$3" || { cat "$3" >&2; fail "$1: \"$2\" not in output"; }; }
run_count() {
  ctl 0 list --all --json
  jq '.runs | length' "$tmp/out"
}

# ---------------------------------------------------------------- checks
step "health"
ctl 0 health
expect_in "health" SERVING "$tmp/out"

step "create from a small CSV (quoted fields, a duplicate lead_id)"
cat >"$tmp/small.csv" <<'EOF'
lead_id,phone,name
1,+14155550101,Ada
2,+14155550102,"Lovelace, Ada"
3,+14155550103,"She said ""hi"""
2,+14155550199,repeated lead
4,+14155550104,
EOF
ctl 0 create "$tmp/small.csv" --concurrency 2 --json
run_a=$(jq -r '.run.id' "$tmp/out")
expect_eq "small run total" "$(jq -r '.run.totalLeads' "$tmp/out")" 4
expect_eq "small run duplicates" "$(jq -r '.duplicateLeadsDropped' "$tmp/out")" 1
ctl 0 jobs "$run_a" --all --json
expect_eq "quoted name" "$(jq -r '.jobs[] | select(.leadId == "2") | .leadName' "$tmp/out")" "Lovelace, Ada"
expect_eq "escaped quotes" "$(jq -r '.jobs[] | select(.leadId == "3") | .leadName' "$tmp/out")" 'She said "hi"'
expect_eq "first of a repeated lead wins" \
  "$(jq -r '.jobs[] | select(.leadId == "2") | .phone' "$tmp/out")" +14155550102

step "a rerun of the same create makes no second run"
ctl 0 create "$tmp/small.csv" --concurrency 2 --json
expect_eq "rerun run id" "$(jq -r '.run.id' "$tmp/out")" "$run_a"
expect_eq "runs after rerun" "$(run_count)" 1

step "list shows it (table and JSON)"
ctl 0 list
expect_in "list table" "csv-" "$tmp/out"
grep -qE "^$run_a +$business " "$tmp/out" || { cat "$tmp/out" >&2; fail "list table lacks run $run_a"; }

step "watch to completion exits 0"
ctl 0 watch "$run_a"
expect_in "watch output" "completed 4/4 (100.0%)" "$tmp/out"
ctl 0 get "$run_a" --json
expect_eq "run A status" "$(jq -r '.status' "$tmp/out")" RUN_STATUS_COMPLETED
ctl 0 get "$run_a"
expect_in "get table" "4/4 (100.0%)" "$tmp/out"
expect_in "get outcomes" "4 completed, 0 busy, 0 no answer, 0 failed, 0 cancelled" "$tmp/out"
# On a terminal (script(1) gives it one): the one-line progress bar.
COLUMNS=140 script -qec "$(printf '%q ' "$ctl" watch "$run_a")" /dev/null </dev/null >"$tmp/tty" ||
  fail "watch on a terminal exited $?"
expect_in "progress bar" "[##############################] 100.0% 4/4" "$tmp/tty"
expect_in "progress bar status" "completed" "$tmp/tty"
expect_in "progress bar outcomes" "ok 4  busy 0  no-ans 0  fail 0" "$tmp/tty"
# The terminal's own width (stty, no COLUMNS): on a standard 80-column
# terminal, and on a narrow one, the bar is drawn and no line is as wide as
# the terminal (the cursor stays on the line).
for cols in 80 60; do
  env -u COLUMNS script -qec "stty cols $cols rows 24; $(printf '%q ' "$ctl" watch "$run_a")" \
    /dev/null </dev/null >"$tmp/tty" || fail "watch on a $cols-column terminal exited $?"
  python3 - "$tmp/tty" "$cols" <<'PY' || fail "watch output on a $cols-column terminal (above)"
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
cols = int(sys.argv[2])
text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
drawn = [s for s in re.split(r"[\r\n]", text) if s.strip()]
bad = [s for s in drawn if len(s) >= cols]
bars = [s for s in drawn if re.search(r"\[#+\] +100\.0% 4/4", s)]
if bad or not bars:
    for s in drawn:
        print(f"{len(s):3d} | {s}", file=sys.stderr)
    print(f"{len(bad)} lines of {cols}+ characters; final bar drawn: {bool(bars)}", file=sys.stderr)
    sys.exit(1)
PY
done

step "a 50,000-line file goes in chunks into one run"
awk 'BEGIN { print "lead_id,phone,name"
             for (i = 1; i <= 50000; i++) printf "%d,+1415%07d,Lead %d\n", i, 2000000 + i, i }' \
  >"$tmp/big.csv"
# The server takes at most 20,000 leads a request: one request could not do it.
ctl 0 create "$tmp/big.csv" --concurrency 3 --start-paused --json
run_b=$(jq -r '.run.id' "$tmp/out")
expect_eq "big run total" "$(jq -r '.run.totalLeads' "$tmp/out")" 50000
expect_eq "big run status" "$(jq -r '.run.status' "$tmp/out")" RUN_STATUS_PAUSED
ctl 0 create "$tmp/big.csv" --concurrency 3 --start-paused --json
expect_eq "big rerun run id" "$(jq -r '.run.id' "$tmp/out")" "$run_b"
expect_eq "big rerun skipped" "$(jq -r '.duplicatesSkipped' "$tmp/out")" 40000
expect_eq "runs after big rerun" "$(run_count)" 2
ctl 0 get "$run_b" --json
expect_eq "big run total (get)" "$(jq -r '.totalLeads' "$tmp/out")" 50000
ctl 0 jobs "$run_b" --status queued --page-size 5 --json
expect_eq "jobs page" "$(jq '.jobs | length' "$tmp/out")" 5
expect_eq "jobs in dial order" "$(jq -r '[.jobs[].leadId] | join(",")' "$tmp/out")" 1,2,3,4,5

step "chunks go in file order; a refused chunk ends the upload (early clients)"
# The client of each next chunk starts while the current chunk is in flight
# and gets its body only after the answer: the jobs are the file's leads in
# file order.
expect_eq "big run in file order" "$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$db_admin_url" -c "SELECT count(*) FILTER (WHERE lead_id = n)
  FROM (SELECT lead_id, row_number() OVER (ORDER BY id) AS n FROM outbound_call_jobs
         WHERE run_id = $run_b) j")" 50000
# Lead 15,000 (chunk 2 of 3) has a phone the server refuses (the CSV checker
# does not parse phones): the run keeps chunk 1, and chunk 3's client, which
# was waiting for its body, sends nothing and does not outlive campaignctl.
awk 'BEGIN { print "lead_id,phone,name"
             for (i = 1; i <= 30000; i++)
               printf "%d,%s,Lead %d\n", i, (i == 15000 ? "not a phone" : sprintf("+1415%07d", 3000000 + i)), i }' \
  >"$tmp/refused.csv"
ctl 13 create "$tmp/refused.csv"
expect_in "refused lead's line" "(CSV line 15001)" "$tmp/err"
run_r=$(sed -n 's/.*run \([0-9][0-9]*\) holds the leads before 10002 and stays paused.*/\1/p' "$tmp/err")
[[ -n $run_r ]] || { cat "$tmp/err" >&2; fail "no run named in the error"; }
ctl 0 get "$run_r" --json
expect_eq "refused upload's run total" "$(jq -r '.totalLeads' "$tmp/out")" 10000
expect_eq "refused upload's run status" "$(jq -r '.status' "$tmp/out")" RUN_STATUS_PAUSED
if pgrep -f "$port/outbound.v1.CampaignService/AddLeads" >/dev/null; then
  pgrep -af "$port/outbound.v1.CampaignService/AddLeads" >&2
  fail "a client of campaignctl create outlived it"
fi
# A rerun finds the run ended: nothing is added, the waiting client is dropped.
ctl 0 cancel "$run_r"
ctl 0 create "$tmp/refused.csv"
expect_in "rerun says why" "run $run_r already exists and is CANCELLED: not adding leads" "$tmp/err"
ctl 0 get "$run_r" --json
expect_eq "rerun of a cancelled upload" "$(jq -r '.totalLeads' "$tmp/out")" 10000
pgrep -f "$port/outbound.v1.CampaignService/AddLeads" >/dev/null &&
  fail "a client of campaignctl create outlived it (rerun)"
expect_eq "runs after the refused upload" "$(run_count)" 3

step "resume, then stop another run; watch exits 4"
ctl 0 resume "$run_b" --json
status=$(jq -r '.status' "$tmp/out")
[[ $status == RUN_STATUS_PENDING || $status == RUN_STATUS_RUNNING ]] || fail "resume gave $status"
ctl 0 stop "$run_b" --json
expect_eq "stopped" "$(jq -r '.run.status' "$tmp/out")" RUN_STATUS_STOPPED
cancelled=$(jq -r '.cancelledJobs // "0"' "$tmp/out")
((cancelled > 0 && cancelled <= 50000)) || fail "stop cancelled $cancelled jobs"
ctl 4 watch "$run_b"
ctl 0 stop "$run_b"
expect_in "stop again" "stopped" "$tmp/out"

step "pause, cancel (a run no worker holds); watch exits 5"
printf 'lead_id,phone,name\n10,+14155550110,C\n' >"$tmp/c.csv"
ctl 0 create "$tmp/c.csv" --start-paused --json
run_c=$(jq -r '.run.id' "$tmp/out")
ctl 0 pause "$run_c"
expect_in "pause" "paused" "$tmp/out"
ctl 0 cancel "$run_c"
expect_in "cancel" "cancelled" "$tmp/out"
ctl 5 watch "$run_c"
expect_in "watch cancelled" "cancelled" "$tmp/out"
ctl 19 resume "$run_c"
expect_in "resume cancelled" FAILED_PRECONDITION "$tmp/err"
expect_eq "runs" "$(run_count)" 4

step "error exit codes"
ctl 15 get 999999
expect_in "unknown run" "NOT_FOUND" "$tmp/err"
ctl 15 watch 999999
ctl 26 --api-key ocs_not_a_key list
expect_in "bad key" "UNAUTHENTICATED" "$tmp/err"
ctl 2 get not-a-number
ctl 2 frobnicate
ctl 2 list --status sideways

step "bad CSV: line numbers reported, nothing sent"
{
  echo 'lead_id,phone,name'
  echo '20,+14155550120,fine'
  echo '21,+14155550121'
  echo 'x,+14155550122,not a number'
  echo '23,,no phone'
  printf '24,+14155550124,%0300d\n' 0
  echo '0,+14155550125,zero'
  echo '26,+14155550126,"unterminated'
  echo '27,+14155550127,"a, quoted, name"'
} >"$tmp/bad.csv"
ctl 2 create "$tmp/bad.csv"
for line in 3 4 5 6 7 8; do expect_in "bad line $line" "bad.csv:$line:" "$tmp/err"; done
grep -qE 'bad\.csv:(2|9):' "$tmp/err" && fail "good lines reported as bad"
expect_in "nothing sent" "nothing was sent" "$tmp/err"
expect_eq "runs after bad CSV" "$(run_count)" 4

step "keys create / revoke through campaignd; isolation"
ctl 0 keys create --role agent --business-id "$business" --label ctl-agent --json
agent_key=$(jq -r '.key' "$tmp/out") agent_key_id=$(jq -r '.id // ""' "$tmp/out")
[[ -n $agent_key && $agent_key_id =~ ^[0-9]+$ ]] || fail "keys create printed $(cat "$tmp/out")"
ctl 0 --api-key "$agent_key" get "$run_a"
ctl 17 --api-key "$agent_key" create "$tmp/c.csv" --request-id agent-try
ctl 0 keys revoke "$agent_key_id"
ctl 26 --api-key "$agent_key" get "$run_a"
ctl 0 keys create --role owner --business-id "$other_business"
other_key=$(tr -d '[:space:]' <"$tmp/out")
ctl 15 --api-key "$other_key" get "$run_a"
ctl 0 keys create --role system_admin --label ctl-admin
admin_key=$(tr -d '[:space:]' <"$tmp/out")
ctl 0 --api-key "$admin_key" --business-id "$business" get "$run_a" --json
expect_eq "admin reads the business" "$(jq -r '.id' "$tmp/out")" "$run_a"

step "business: limits set with campaignd, read through GetBusiness"
"$campaignd" set-business-limits --business-id "$business" --max-calls-per-second 2.5 \
  >"$tmp/limits.out" 2>/dev/null || fail "set-business-limits"
expect_in "set-business-limits prints" "max_calls_per_second=2.5" "$tmp/limits.out"
ctl 0 business "$business"
expect_in "owner reads its business" "max calls per second: 2.5" "$tmp/out"
ctl 17 business "$other_business"
expect_in "another business" "PERMISSION_DENIED" "$tmp/err"
ctl 0 --api-key "$admin_key" business "$other_business" --json
expect_eq "admin reads any business" "$(jq -r '.maxCallsPerSecond' "$tmp/out")" "1"
ctl 2 business not-a-number

step "TLS and mutual TLS (certificates made now)"
(
  cd "$tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=ctl-ca
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.pem
  openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=ctl-client
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out client.pem
) >/dev/null 2>"$tmp/openssl.log" || { cat "$tmp/openssl.log" >&2; fail "openssl"; }
start_server server-tls --scheduler=false --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key"
ctl 0 --addr "127.0.0.1:$port" --cacert "$tmp/ca.pem" get "$run_a" --json
expect_eq "TLS get" "$(jq -r '.id' "$tmp/out")" "$run_a"
ctl 24 --addr "127.0.0.1:$port" get "$run_a"
start_server server-mtls --scheduler=false --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key" \
  --tls-client-ca "$tmp/ca.pem"
CAMPAIGN_TLS_CA=$tmp/ca.pem CAMPAIGN_TLS_CERT=$tmp/client.pem CAMPAIGN_TLS_KEY=$tmp/client.key \
  ctl 0 --addr "127.0.0.1:$port" list --json
expect_eq "mutual TLS list" "$(jq '.runs | length' "$tmp/out")" 4
ctl 24 --addr "127.0.0.1:$port" --cacert "$tmp/ca.pem" get "$run_a"

passed=true
step "PASS"
