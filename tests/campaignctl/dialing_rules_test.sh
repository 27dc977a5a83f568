#!/usr/bin/env bash
# campaignctl's dialing-rules commands end to end against a real `campaignd
# serve` process (no scheduler: nothing dials, so every answer is
# deterministic) on a database of its own. Proves: dnc add/list/remove
# (normalised, counted once, paged, tables and JSON), dnc import of a CSV
# (phone column anywhere, chunks, a rerun adds nothing, bad lines refused
# before anything is sent, a number the server refuses named by its CSV
# line), policy set/get for the business and a run (update_mask of exactly
# the fields given, --clear, inheritance), attempts of a finished run
# (ledger rows written as the scheduler's claim writes them; paging, --job,
# another business's run NOT_FOUND), create with the caller id pool, local
# presence, schedule, policy options and the time_zone column, and the usage
# errors of the new commands (preview included; PreviewRun itself is tested
# once implemented).
#
# Usage: dialing_rules_test.sh PATH_TO_CAMPAIGND   (ctest passes it)
# Needs CAMPAIGN_TEST_ADMIN_URL (a superuser URL; tools/test sets it).
set -euo pipefail

campaignd=${1:?usage: dialing_rules_test.sh PATH_TO_CAMPAIGND}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ctl=$root/tools/campaignctl
# shellcheck source-path=SCRIPTDIR source=../tools/test_lib.sh
source "$root/tests/tools/test_lib.sh"
test_init dialing-rules-test jq

test_create_database campaign_rules_app
export CAMPAIGN_DATABASE_URL=$app_url
"$campaignd" migrate >/dev/null 2>"$tmp/migrate.log" || { cat "$tmp/migrate.log" >&2; fail "migrate"; }
business=$(new_business "rules")
other_business=$(new_business "other")
new_key() {
  "$campaignd" create-api-key --business-id "$1" --role "$2" 2>/dev/null | tr -d '[:space:]'
}
key=$(new_key "$business" owner)
agent_key=$(new_key "$business" agent)
other_key=$(new_key "$other_business" owner)

step "campaignd serve (no scheduler) on a free port"
start_server server --scheduler=false --auth-cache-ttl 0s --shutdown-grace 0s \
  --default-calling-hours 08:00-21:00  # the default shown as is (nothing is dialed here)
export CAMPAIGN_ADDR=127.0.0.1:$port CAMPAIGN_API_KEY=$key
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
expect_eq() { [[ $2 == "$3" ]] || fail "$1: got \"$2\", expected \"$3\""; }
expect_in() { grep -qF -- "$2" "$3" || { cat "$3" >&2; fail "$1: \"$2\" not in output"; }; }
db_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$db_admin_url" -c "$1"; }
dnc_phones() {
  ctl 0 dnc list --all --json
  jq -r '[.numbers[].phone] | join(",")' "$tmp/out"
}

step "dnc add / list / remove"
ctl 0 dnc add "+1 (415) 555-0101" +14155550102 +14155550101
expect_in "dnc add table" "2 of 3 numbers added to the do-not-call list" "$tmp/out"
ctl 0 dnc add +14155550102 +442071838750 --json
expect_eq "dnc add JSON" "$(jq -r '.added' "$tmp/out")" 1
expect_eq "dnc list" "$(dnc_phones)" "+14155550101,+14155550102,+442071838750"
ctl 0 dnc list --page-size 2 --json
expect_eq "dnc page" "$(jq '.numbers | length' "$tmp/out")" 2
token=$(jq -r '.nextPageToken' "$tmp/out")
ctl 0 dnc list --page-size 2 --page-token "$token"
expect_in "dnc table header" "PHONE" "$tmp/out"
expect_in "dnc second page" "+442071838750" "$tmp/out"
ctl 0 --api-key "$agent_key" dnc list
expect_in "agent reads the list" "+14155550101" "$tmp/out"
ctl 17 --api-key "$agent_key" dnc add +14155550103
expect_in "agent may not write" PERMISSION_DENIED "$tmp/err"
ctl 0 --api-key "$other_key" dnc list --json
expect_eq "another business sees none of it" "$(jq '.numbers // [] | length' "$tmp/out")" 0
ctl 13 dnc add +14155550104 "not a phone"
expect_in "refused number named" 'phones[1] "not a phone"' "$tmp/err"
ctl 0 dnc remove +14155550101 +14155550199 --json
expect_eq "dnc remove" "$(jq -r '.removed' "$tmp/out")" 1
expect_eq "dnc after remove" "$(dnc_phones)" "+14155550102,+442071838750"
ctl 2 dnc add
ctl 2 dnc frobnicate
ctl 2 dnc list --status queued

step "dnc import: a phone column, chunks, reruns, bad lines"
cat >"$tmp/dnc.csv" <<'EOF'
name,Phone,note
Ada,"+1 415 555 0111",x
Bob,+14155550112,"a, b"

Cy,+14155550102,already listed
Di,+14155550113,
EOF
ctl 0 dnc import "$tmp/dnc.csv" --chunk-size 2
expect_in "import summary" "imported 4 numbers from $tmp/dnc.csv: 3 added, 1 on the list already (2 requests)" "$tmp/out"
ctl 0 dnc import "$tmp/dnc.csv" --json
expect_eq "import again adds nothing" "$(jq -r '.added' "$tmp/out")" 0
expect_eq "dnc after import" "$(dnc_phones | tr ',' '\n' | wc -l)" 5
printf 'phone\n+14155550121\n\n+14155550122,extra\n,\n' >"$tmp/bad.csv"
ctl 2 dnc import "$tmp/bad.csv"
expect_in "bad line 4" "bad.csv:4: expected 1 fields as in the header, found 2" "$tmp/err"
expect_in "bad line 5" "bad.csv:5: expected 1 fields as in the header, found 2" "$tmp/err"
expect_in "nothing sent" "nothing was sent" "$tmp/err"
printf 'phone\n' | "$ctl" dnc import - >"$tmp/out" 2>"$tmp/err" && fail "an empty import succeeded"
expect_in "no numbers" "stdin holds no numbers; nothing was sent" "$tmp/err"
printf 'phone\n+14155550131\n+14155550132\n+1415\n' >"$tmp/refused.csv"
ctl 13 dnc import "$tmp/refused.csv" --chunk-size 2
expect_in "refused number's line" "(CSV line 4)" "$tmp/err"
expect_in "what was added" "the numbers before line 4 were added (2 new)" "$tmp/err"
expect_eq "dnc after the refused import" "$(dnc_phones | tr ',' '\n' | wc -l)" 7

step "attempts of a finished run (ledger rows as the claim writes them)"
printf 'lead_id,phone,name\n1,+14155550201,A\n2,+14155550202,B\n3,+14155550203,C\n' >"$tmp/run.csv"
ctl 0 create "$tmp/run.csv" --start-paused --json
run=$(jq -r '.run.id' "$tmp/out")
ctl 0 cancel "$run"
db_sql "INSERT INTO call_attempts (business_id, run_id, job_id, attempt, lead_id, phone, caller_id,
          dial_token, call_sid, started_at, ended_at, outcome, error)
        SELECT business_id, run_id, id, a, lead_id, phone, '+14155550100', 'tok-' || id || '-' || a,
               'CA' || id || a, timestamptz '2026-12-01 10:00:00Z' + a * interval '1 hour',
               timestamptz '2026-12-01 10:00:30Z' + a * interval '1 hour',
               CASE a WHEN 1 THEN 'busy' ELSE 'failed' END,
               CASE a WHEN 2 THEN 'provider refused' END
          FROM outbound_call_jobs, generate_series(1, 2) a
         WHERE run_id = $run AND lead_id <> 2" >/dev/null
ctl 0 attempts "$run"
expect_in "attempts table header" "JOB  LEAD  ATTEMPT  PHONE" "$tmp/out"
expect_in "attempts table outcome" "busy" "$tmp/out"
expect_in "attempts table error" "provider refused" "$tmp/out"
expect_in "attempts table times" "2026-12-01 11:00:00Z" "$tmp/out"
expect_eq "attempts rows" "$(($(wc -l <"$tmp/out") - 1))" 4
ctl 0 attempts "$run" --page-size 1 --all --json
expect_eq "attempts in (job, attempt) order" \
  "$(jq -r '[.attempts[] | "\(.leadId)/\(.attempt)"] | join(",")' "$tmp/out")" "1/1,1/2,3/1,3/2"
job3=$(jq -r '.attempts[2].jobId' "$tmp/out")
ctl 0 attempts "$run" --job "$job3" --json
expect_eq "attempts of one job" "$(jq -r '[.attempts[].attempt] | join(",")' "$tmp/out")" "1,2"
expect_eq "attempt fields" "$(jq -r '.attempts[1] | "\(.outcome) \(.callerId) \(.dialToken)"' "$tmp/out")" \
  "JOB_STATUS_FAILED +14155550100 tok-$job3-2"
ctl 0 attempts "$run" --page-size 3
expect_in "more pages" "(more: --page-token" "$tmp/err"
ctl 15 --api-key "$other_key" attempts "$run"
expect_in "another business's run" NOT_FOUND "$tmp/err"
ctl 15 attempts "$run" --job 999999999
ctl 2 attempts
ctl 2 attempts "$run" --job x

step "policy set / get: the business's default"
# What is stored is checked in the database (the effective values that
# GetDialingPolicy resolves are the rules' and the API's tests); the table
# of `policy get` on a business without a policy: the server's defaults.
policy_row() {
  db_sql "SELECT concat_ws(' | ', array_to_string(window_days, ','),
                 array_to_string(window_start_minutes, ','), array_to_string(window_end_minutes, ','),
                 array_to_string(restricted_dates, ','), max_attempts,
                 array_to_string(retry_outcomes, ','), array_to_string(retry_delay_seconds, ','),
                 max_dials_per_number, per_number_window_days, default_time_zone)
            FROM dialing_policy WHERE business_id = $business AND run_id = ${1:-0}"
}
ctl 0 policy set --window "mon-fri 09:00-20:00" --window "sat 10:00-14:00" --max-attempts 3 \
  --retry busy=10m,no_answer=1h --time-zone America/Chicago --json
jq -e '.callingWindows | length > 0' "$tmp/out" >/dev/null || fail "policy set printed no policy"
expect_eq "stored policy" "$(policy_row)" \
  "1,2,3,4,5,6 | 540,540,540,540,540,600 | 1200,1200,1200,1200,1200,840 | 3 | busy,no_answer | 600,3600 | America/Chicago"
ctl 0 policy get
expect_in "policy table" "calling windows" "$tmp/out"
expect_in "policy table" "default time zone" "$tmp/out"
# Only the fields given change (update_mask): the windows stay.
ctl 0 policy set --max-dials-per-number 2 --per-number-days 7 --restricted-date 2026-12-25
expect_eq "masked update" "$(policy_row)" \
  "1,2,3,4,5,6 | 540,540,540,540,540,600 | 1200,1200,1200,1200,1200,840 | 2026-12-25 | 3 | busy,no_answer | 600,3600 | 2 | 7 | America/Chicago"
ctl 0 policy set --clear max_attempts --clear restricted_date
expect_eq "cleared fields" "$(policy_row)" \
  "1,2,3,4,5,6 | 540,540,540,540,540,600 | 1200,1200,1200,1200,1200,840 | busy,no_answer | 600,3600 | 2 | 7 | America/Chicago"
ctl 17 --api-key "$agent_key" policy set --max-attempts 2
ctl 0 --api-key "$agent_key" policy get --json
jq -e '.maxAttempts >= 1' "$tmp/out" >/dev/null || fail "agent reads the policy"
ctl 0 --api-key "$other_key" policy get
expect_in "server default windows" "mon-sun 08:00-21:00" "$tmp/out"
expect_in "server default retries" "busy=10m,no_answer=1h" "$tmp/out"
expect_in "server default attempts" "max attempts       1" "$tmp/out"
expect_in "server default cap" "per-number cap     none" "$tmp/out"
expect_in "server default zone" "default time zone  UTC" "$tmp/out"
expect_eq "another business's row" "$(db_sql "SELECT count(*) FROM dialing_policy WHERE business_id = $other_business")" 0
ctl 2 policy set
ctl 2 policy set --window "someday 09:00-10:00"
ctl 2 policy set --window "mon 10:00-09:00"
ctl 2 policy set --retry busy=soon
ctl 2 policy set --max-attempts 0
ctl 2 policy set --time-zone UTC --clear time_zone
ctl 2 policy set --clear colour
ctl 2 policy get --max-attempts 2

step "create with a caller id pool, a schedule, policy overrides and time zones"
cat >"$tmp/zones.csv" <<'EOF'
lead_id,phone,name,time_zone
1,+13125550101,Chicago,America/Chicago
2,+12125550102,New York,
EOF
ctl 0 create "$tmp/zones.csv" --start-paused --caller-ids "+13125550100, +12125550100" \
  --local-presence --start-at 2030-01-02T09:00:00Z --end-at "2030-01-03 09:00 UTC" \
  --max-attempts 2 --window "daily 10:00-18:00" --json
zrun=$(jq -r '.run.id' "$tmp/out")
ctl 0 get "$zrun" --json
expect_eq "caller ids" "$(jq -r '.callerIds | join(",")' "$tmp/out")" "+13125550100,+12125550100"
expect_eq "local presence" "$(jq -r '.localPresence' "$tmp/out")" true
expect_eq "start_at" "$(jq -r '.startAt' "$tmp/out")" 2030-01-02T09:00:00Z
expect_eq "end_at" "$(jq -r '.endAt' "$tmp/out")" 2030-01-03T09:00:00Z
ctl 0 jobs "$zrun" --json
expect_eq "lead time zone" "$(jq -r '.jobs[0].timeZone' "$tmp/out")" America/Chicago
# Which one of the pool a lead gets is the rules' (their unit tests); here:
# every job has one of the pool.
expect_eq "caller ids from the pool" \
  "$(jq -r '[.jobs[].callerId | IN("+13125550100", "+12125550100")] | all' "$tmp/out")" true
expect_eq "run override" "$(policy_row "$zrun")" \
  "1,2,3,4,5,6,7 | 600,600,600,600,600,600,600 | 1080,1080,1080,1080,1080,1080,1080 | 2"
ctl 0 policy get --run "$zrun"
expect_in "run policy" "dialing policy of run $zrun" "$tmp/out"
ctl 0 policy set --run "$zrun" --clear windows
expect_eq "run windows inherit again" "$(policy_row "$zrun")" "2"
ctl 15 --api-key "$other_key" policy get --run "$zrun"
ctl 2 create "$tmp/zones.csv" --start-at "not a time"
ctl 2 create "$tmp/zones.csv" --clear max_attempts

step "preview: usage errors (nothing sent)"
ctl 2 preview
ctl 2 preview "$tmp/run.csv" --run 3
ctl 2 preview --run 3 --max-attempts 2
ctl 2 preview "$tmp/bad.csv"
expect_in "preview checks the CSV" "nothing was sent" "$tmp/err"

passed=true
step "PASS"
