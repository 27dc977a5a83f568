#!/usr/bin/env bash
# Test of tools/run as a script would drive it: started in the background
# with `setsid tools/run &` (so bash inherits SIGINT and SIGQUIT ignored), on a
# scratch CAMPAIGN_DATA_DIR and the test build (no rebuild: campaignd is up
# to date). Twice, the second time on the same data (a warm restart): waits
# until it serves, makes calls through campaignctl, tools/campaignd and
# `campaignctl keys` (which find tools/run's database from the data dir), then
# sends SIGINT (first
# round) or SIGTERM (second round) to the process group and asserts that
# tools/run exits 0 and that campaignd and PostgreSQL are both gone within
# a bound.
#
# Usage: run_test.sh PATH_TO_CAMPAIGND   (ctest passes it; its build tree is
# used). Runs as root (tools/run starts PostgreSQL as user postgres).
set -euo pipefail

campaignd=${1:?usage: run_test.sh PATH_TO_CAMPAIGND}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
build_dir=$(cd "$(dirname "$campaignd")/.." && pwd -P)
# shellcheck source-path=SCRIPTDIR source=test_lib.sh
source "$root/tests/tools/test_lib.sh"
test_init tools-run-test jq setsid ps
# tools/run refuses to start without the packages it installs; it finds them.

# The cluster lives in $data/pg: user postgres must be able to enter $tmp.
chmod 755 "$tmp"
data=$tmp/data
mkdir -m 755 "$data"
# A port of its own (tools/run keeps the one in pg.port), not tools/run's
# first choice 55432, where another tools/run may be starting.
# shellcheck source-path=SCRIPTDIR source=../../tools/lib/common.sh
source "$root/tools/lib/common.sh"
# shellcheck disable=SC2119  # no FIRST: random start
campaign_pg_free_port >"$data/pg.port"
run_pid=

# shellcheck disable=SC2317  # runs from the EXIT trap
stop_run() {
  [[ -n $run_pid ]] || return 0
  kill -TERM -- "-$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  run_pid=
}
# shellcheck disable=SC2317  # runs from the EXIT trap
show_run_log() {
  $passed && return 0
  local f
  for f in "$tmp"/run*.log; do
    [[ -s $f ]] || continue
    echo "--- last lines of $(basename "$f"):" >&2
    tail -n 40 "$f" >&2
  done
}
test_cleanups+=(stop_run show_run_log)

# alive PID: true while PID exists and is not a zombie.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

# wait_gone SECONDS PID...: waits until every PID has exited; false on timeout.
wait_gone() {
  local deadline=$((SECONDS + $1)) pid
  shift
  while ((SECONDS < deadline)); do
    for pid in "$@"; do
      alive "$pid" && { sleep 0.1; continue 2; }
    done
    return 0
  done
  return 1
}

# round NAME SIGNAL
round() {
  local name=$1 sig=$2 fd campaignd_pid pm_pid rc
  step "$name: setsid tools/run & (data $data)"
  mkfifo "$tmp/$name.fifo"
  CAMPAIGN_BUILD_DIR=$build_dir CAMPAIGN_DATA_DIR=$data CAMPAIGN_LISTEN=127.0.0.1:0 \
    setsid "$root/tools/run" --sim-call-duration 10ms --shutdown-grace 2s \
    </dev/null >"$tmp/run-$name.out.log" 2>"$tmp/$name.fifo" &
  run_pid=$!
  exec {fd}<"$tmp/$name.fifo"
  wait_for_log_port "$fd" "$tmp/run-$name.log" || fail "tools/run ($name) never served"
  cat <&"$fd" >>"$tmp/run-$name.log" &
  drain_pids+=("$!")
  exec {fd}<&-
  grep -q 'building\|up to date' "$tmp/run-$name.log" ||
    fail "tools/run did not say what it builds"

  step "$name: it serves on port $port; calls through campaignctl"
  [[ -s $data/demo.env ]] || fail "no $data/demo.env"
  (
    set -a
    # shellcheck source=/dev/null
    source "$data/demo.env"
    export CAMPAIGN_ADDR=127.0.0.1:$port
    "$root/tools/campaignctl" health >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
    grep -q SERVING "$tmp/out" || exit 1
    printf 'lead_id,phone,name\n1,+14155550101,Ada\n' >"$tmp/leads.csv"
    "$root/tools/campaignctl" create "$tmp/leads.csv" --request-id "$name" >"$tmp/out" 2>&1 ||
      { cat "$tmp/out"; exit 1; }
    "$root/tools/campaignctl" list >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
  ) >&2 || fail "calls to the server tools/run started failed"
  # tools/campaignd finds tools/run's database from the data dir alone.
  local bid
  bid=$(env -u CAMPAIGN_DATABASE_URL CAMPAIGN_DATA_DIR="$data" CAMPAIGN_BUILD_DIR="$build_dir" \
    "$root/tools/campaignd" create-business --name "wrapper $name" 2>"$tmp/err") ||
    { cat "$tmp/err" >&2; fail "tools/campaignd create-business against tools/run's database"; }
  [[ $bid =~ ^[0-9]+$ ]] || fail "tools/campaignd create-business printed \"$bid\""
  # So does `campaignctl keys`.
  env -u CAMPAIGN_DATABASE_URL -u CAMPAIGND CAMPAIGN_DATA_DIR="$data" CAMPAIGN_BUILD_DIR="$build_dir" \
    "$root/tools/campaignctl" keys create --role agent --business-id "$bid" --json \
    >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "campaignctl keys create on tools/run's database"; }
  [[ $(jq -r .key "$tmp/out") == ocs_* ]] || fail "campaignctl keys create printed $(cat "$tmp/out")"

  # campaignd: in tools/run's session (setsid made it); the postmaster: its pid file.
  campaignd_pid=$(ps -o pid=,comm= -s "$run_pid" | awk '$2 == "campaignd" { print $1 }')
  [[ $campaignd_pid =~ ^[0-9]+$ ]] || fail "no campaignd in the session of tools/run"
  pm_pid=$(head -n 1 "$data/pg/postmaster.pid" 2>/dev/null || true)
  if ! [[ $pm_pid =~ ^[0-9]+$ ]] || ! alive "$pm_pid"; then fail "no postmaster for $data/pg"; fi

  step "$name: SIG$sig to the process group $run_pid"
  kill "-$sig" -- "-$run_pid"
  wait_gone 30 "$campaignd_pid" ||
    fail "campaignd ($campaignd_pid) still runs 30 s after SIG$sig to tools/run's group"
  wait_gone 30 "$pm_pid" "$run_pid" ||
    fail "PostgreSQL ($pm_pid) or tools/run ($run_pid) still runs 30 s after SIG$sig"
  rc=0
  wait "$run_pid" || rc=$?
  run_pid=
  ((rc == 0)) || fail "tools/run exited $rc after SIG$sig, expected 0 (campaignd stopped cleanly)"
  grep -q 'campaignd stopped' "$tmp/run-$name.log" || fail "campaignd did not log a clean stop"
}

round first INT
round restart TERM

passed=true
step "PASS"
