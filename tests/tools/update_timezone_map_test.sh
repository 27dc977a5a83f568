#!/usr/bin/env bash
# tools/update-timezone-map without the network: the shipped table passes its
# checks; --from refuses a malformed, duplicated or unknown-zone file and
# leaves the target untouched; --from installs a good file. The target is a
# copy (CAMPAIGN_TIME_ZONE_MAP_TARGET), never the repository's data file.
# Usage: update_timezone_map_test.sh REPOSITORY_ROOT
set -euo pipefail

root=${1:?usage: update_timezone_map_test.sh REPOSITORY_ROOT}
tool=$root/tools/update-timezone-map
shipped=$root/server/rules/data/map_data.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$tool" --check "$shipped" 2>"$work/err" || fail "the shipped table fails its checks: $(cat "$work/err")"
grep -q 'is fine (3182 prefixes)' "$work/err" || fail "unexpected --check output: $(cat "$work/err")"

target=$work/map_data.txt
cp "$shipped" "$target"
export CAMPAIGN_TIME_ZONE_MAP_TARGET=$target

# bad FILE CONTENT EXPECTED_MESSAGE
bad() {
  printf '%b' "$2" >"$work/$1"
  if "$tool" --from "$work/$1" >"$work/out" 2>&1; then
    fail "$1: accepted"
  fi
  grep -qF -- "$3" "$work/out" || fail "$1: no '$3' in: $(cat "$work/out")"
  cmp -s "$shipped" "$target" || fail "$1: the target changed"
}
bad malformed '# x\n1|America/New_York\n12 America/Chicago\n' 'line 3: malformed'
bad duplicate '1|America/New_York\n1|America/Chicago\n' 'line 2: prefix 1 already on line 1'
bad unknown_zone '1|America/New_York\n2|Mars/Olympus_Mons\n' 'line 2: zone Mars/Olympus_Mons is not in'
bad empty '' 'is empty'
bad comments_only '# nothing\n' 'no entries'

printf '# small\n1|America/New_York\n44|Europe/London\n' >"$work/good.txt"
"$tool" --from "$work/good.txt" 2>"$work/out" || fail "good file refused: $(cat "$work/out")"
cmp -s "$work/good.txt" "$target" || fail "good file not installed"
"$tool" --from "$work/good.txt" 2>"$work/out" || fail "second install failed"
grep -q 'already up to date' "$work/out" || fail "no 'already up to date': $(cat "$work/out")"
[[ -z $(find "$work" -name 'map_data.txt.*') ]] || fail "temporary files left behind"

((failures == 0)) && echo "update-timezone-map: all checks passed"
exit $((failures > 0))
