#!/usr/bin/env bash
# tools/bench --quick end to end: it starts its own PostgreSQL and campaignd,
# runs every scenario once at small sizes, and writes well-formed JSON holding
# each scenario with its figures. Never asserts a speed: only that the tool
# runs and reports.
# Usage: bench_quick_test.sh CAMPAIGND CAMPAIGN_BENCH CAMPAIGN_FAKE_TWILIO_SERVER
set -euo pipefail
campaignd=${1:?usage: bench_quick_test.sh CAMPAIGND CAMPAIGN_BENCH}
client=${2:?usage: bench_quick_test.sh CAMPAIGND CAMPAIGN_BENCH}
fake_twilio=${3:?usage: bench_quick_test.sh CAMPAIGND CAMPAIGN_BENCH FAKE_TWILIO}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-quick-test.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
out=$tmp/bench.json

"$root/tools/bench" --quick --campaignd "$campaignd" --client "$client" \
  --fake-twilio "$fake_twilio" --out "$out" \
  >"$tmp/stdout" 2>"$tmp/stderr" || { cat "$tmp/stderr" "$tmp/stdout" >&2; fail "tools/bench --quick failed"; }
cat "$tmp/stdout"

[[ -s $out ]] || fail "no JSON file at $out"
jq -e . "$out" >/dev/null || fail "$out is not JSON"
grep -qF "JSON: $out" "$tmp/stdout" || fail "tools/bench did not print the JSON path"
grep -q "PostgreSQL on 127.0.0.1:" "$tmp/stderr" || fail "tools/bench did not print PostgreSQL's settings"
grep -q "fsync = off" "$tmp/stderr" || fail "tools/bench did not print PostgreSQL's settings"

# Every scenario the tool knows, each with numeric figures and a target, or
# recorded as skipped with the reason (a `campaignd serve` flag it needs is
# missing) and its target.
# (BENCH_SCENARIOS=(...) may span lines.)
mapfile -t scenarios < <(sed -n '/^BENCH_SCENARIOS=(/,/)/p' "$root/tools/bench" |
  sed 's/^BENCH_SCENARIOS=(//; s/).*$//' | tr -s ' \n' '\n' | sed '/^$/d')
((${#scenarios[@]} > 0)) || fail "found no BENCH_SCENARIOS in tools/bench"
for s in "${scenarios[@]}"; do
  jq -e --arg s "$s" '.scenarios[$s] | if .skipped != null then
      (.skipped | type == "string" and startswith("flag missing")) and (.target | type == "string")
    else (.measured.median | type == "number") and
      (.measured.min | type == "number") and (.measured.max | type == "number") and
      (.measured.runs | length == 1) and (.target | type == "string") end' "$out" >/dev/null ||
    fail "scenario $s missing or malformed in $out: $(jq -c --arg s "$s" '.scenarios[$s]' "$out")"
  grep -q "^$s " "$tmp/stdout" || fail "scenario $s missing from the table"
done
jq -e '.scenarios.ingest.beside.median | type == "number"' "$out" >/dev/null ||
  fail "ingest has no COPY figure beside it"
# The figures each scenario is put beside, and the ones derived from a run.
for s in dispatch unary slow_provider twilio_provider streaming_cost progress_latency failover; do
  jq -e --arg s "$s" '.scenarios[$s] | .skipped != null or (.beside.median | type == "number")' \
    "$out" >/dev/null ||
    fail "$s has no figure beside it"
done
# (Transactions per job may be 0 in quick mode: it does not wait for
# PostgreSQL's late statistics; statements are counted at once.)
jq -e '.scenarios.database_cost.measured | (.median | type == "number") and
    (.statements_per_job > 0)' "$out" >/dev/null || fail "database_cost has no statements per job"
jq -e '.scenarios.database_cost.top_statements | length > 0' "$out" >/dev/null ||
  fail "database_cost has no top statements"
jq -e '.scenarios.control.measured.stop_latency.samples > 0' "$out" >/dev/null ||
  fail "control stopped no run"
jq -e '.scenarios.memory.measured.details | length >= 3' "$out" >/dev/null ||
  fail "memory lacks the peaks of the dispatch and streaming replicas"
jq -e '(.machine.cpus | type == "number") and (.postgres.fsync == "off") and .quick' "$out" \
  >/dev/null || fail "machine, settings or mode missing from $out"
echo "bench_quick: ok (${scenarios[*]})"
