#!/usr/bin/env bash
# Tests of the leads CSV checker of `campaignctl create`
# (tools/lib/leads_csv.awk), run the way campaignctl runs it: quoting,
# embedded commas and quotes, CRLF, a BOM, header variants, every error with
# its line number, the cap of 50 reported lines, chunking and JSON escaping.
# Then campaignctl itself from another working directory and through a
# symlink, refusing a bad file before anything is sent (no server needed).
#
# Usage: leads_csv_test.sh   (ctest runs it; needs awk and jq only).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
program=$root/tools/lib/leads_csv.awk
csv=$root/tools/lib/csv.awk
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leads-csv-test.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
failures=0

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
  [[ $2 == "$3" ]] && return 0
  fail "$1: expected"
  printf '%s\n' "$3" | sed 's/^/    | /' >&2
  printf '  got\n' >&2
  printf '%s\n' "$2" | sed 's/^/    | /' >&2
}

# check NAME RC STDOUT STDERR [CHUNK_SIZE] <<<INPUT: runs the checker on
# INPUT (given to printf %b, so \r, \t and \xHH work) as file f.csv and
# compares exit status, stdout and stderr.
check() {
  local name=$1 rc_want=$2 out_want=$3 err_want=$4 size=${5:-2} rc=0
  rm -rf -- "$tmp/chunks" && mkdir "$tmp/chunks"
  printf '%b' "$(cat)" >"$tmp/f.csv"
  (cd "$tmp" && LC_ALL=C awk -v name=f.csv -v dir="$tmp/chunks" -v size="$size" -f "$csv" \
    -f "$program" f.csv >"$tmp/out" 2>"$tmp/err") || rc=$?
  expect_eq "$name: exit status" "$rc" "$rc_want"
  expect_eq "$name: stdout" "$(cat -- "$tmp/out")" "$out_want"
  expect_eq "$name: stderr" "$(cat -- "$tmp/err")" "$err_want"
}

# chunk NAME K LEADS_JSON LINES: chunk K of the last check.
chunk() {
  expect_eq "$1: leads.$2" "$(cat -- "$tmp/chunks/leads.$2")" "$3"
  expect_eq "$1: lines.$2" "$(cat -- "$tmp/chunks/lines.$2")" "$4"
}

echo "== quoting: embedded commas and doubled quotes; chunks of 2"
check quoting 0 "3 2" "" <<'CSV'
lead_id,phone,name\n1,+14155550101,Ann\n2,"+14155550102","Smith, Bob"\n3,+14155550103,"say ""hi"""\n
CSV
chunk quoting 1 '{"lead_id":"1","phone":"+14155550101","name":"Ann"},{"lead_id":"2","phone":"+14155550102","name":"Smith, Bob"}' $'2\n3'
chunk quoting 2 '{"lead_id":"3","phone":"+14155550103","name":"say \"hi\""}' 4
[[ -e $tmp/chunks/leads.3 ]] && fail "quoting: a third chunk"

echo "== blanks around quoted fields, a quoted header, no final newline"
check blanks 0 "1 1" "" <<'CSV'
"lead_id","phone","name"\n 1 , "+1" , "n" 
CSV
chunk blanks 1 '{"lead_id":"1","phone":"+1","name":"n"}' 2

echo "== CRLF, a BOM, header case and blanks, blank lines skipped"
check crlf-bom 0 "2 1" "" <<'CSV'
\xef\xbb\xbfLead_ID , Phone ,NAME\r\n1,+1,A\r\n\r\n  \n2,+2,\r\n
CSV
chunk crlf-bom 1 '{"lead_id":"1","phone":"+1","name":"A"},{"lead_id":"2","phone":"+2","name":""}' $'2\n5'

echo "== blank lines before the header; line numbers count them"
check leading-blanks 3 "" "f.csv:4: lead_id must be > 0, got 0" <<'CSV'
\n\nlead_id,phone,name\n0,+1,x\n
CSV

echo "== a BOM counts on line 1 only"
check late-bom 3 "" $'f.csv:2: lead_id "\xef\xbb\xbf1" is not an integer' <<'CSV'
lead_id,phone,name\n\xef\xbb\xbf1,+1,x\n
CSV

echo "== trimming: lead_id and phone trimmed, leading zeros dropped, name kept"
check trimming 0 "2 1" "" <<'CSV'
lead_id,phone,name\n007,  +1 ,  spaced  \n9223372036854775807,+1,x\n
CSV
chunk trimming 1 '{"lead_id":"7","phone":"+1","name":"  spaced  "},{"lead_id":"9223372036854775807","phone":"+1","name":"x"}' $'2\n3'

echo "== JSON escaping of control characters and UTF-8"
check escaping 0 "2 1" "" <<'CSV'
lead_id,phone,name\n1,+1,"\t\x01""\x7f"\n2,+1,\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\x9e\n
CSV
chunk escaping 1 '{"lead_id":"1","phone":"+1","name":"\t\u0001\"\u007f"},{"lead_id":"2","phone":"+1","name":"é€📞"}' $'2\n3'

echo "== JSON escaping of backslashes (mawk's gsub left them single: a\\b became a backspace)"
check backslashes 0 "2 1" "" <<'CSV'
lead_id,phone,name\n1,+1,a\\b\n2,+1,"\\""x\\y\\\\"\n
CSV
chunk backslashes 1 '{"lead_id":"1","phone":"+1","name":"a\\b"},{"lead_id":"2","phone":"+1","name":"\\\"x\\y\\\\"}' $'2\n3'
expect_eq "backslashes: names as jq reads them" \
  "$(jq -r '.[].name' <<<"[$(cat -- "$tmp/chunks/leads.1")]" 2>&1)" 'a\b
\"x\y\\'

echo "== header variants refused at once"
for header in 'lead_id,phone' 'id,phone,name' 'lead_id,phone,name,extra' 'phone,lead_id,name' \
  'lead_id,phone,time_zone,name'; do
  check "header $header" 3 "" \
    "f.csv:1: the header must be lead_id,phone,name (or lead_id,phone,name,time_zone)" \
    <<<"$header\\n1,+1,x\\n0,+1,x\\n"
done
check "header after blank lines" 3 "" \
  "f.csv:3: the header must be lead_id,phone,name (or lead_id,phone,name,time_zone)" <<'CSV'
\n \nlead_id;phone;name\n
CSV

echo "== empty files"
check empty 3 "" "f.csv: the file is empty (want the header lead_id,phone,name[,time_zone])" <<<''
check blank-only 3 "" "f.csv: the file is empty (want the header lead_id,phone,name[,time_zone])" <<<'\n \r\n\t\n'
check header-only 0 "0 0" "" <<<'lead_id,phone,name\n'

echo "== every line error, with its line number"
check errors 3 "" "$(
  cat <<'ERR'
f.csv:2: unterminated quoted field
f.csv:3: text after a closing quote (field 3)
f.csv:4: a quote inside an unquoted field (field 2)
f.csv:5: expected 3 fields (lead_id,phone,name), found 2
f.csv:6: expected 3 fields (lead_id,phone,name), found 4
f.csv:7: lead_id must be > 0, got 0
f.csv:8: lead_id must be > 0, got -5
f.csv:9: lead_id "abc" is not an integer
f.csv:10: lead_id "" is not an integer
f.csv:11: lead_id 99999999999999999999 is out of range (at most 9223372036854775807)
f.csv:12: lead_id 9223372036854775808 is out of range (at most 9223372036854775807)
f.csv:13: phone is empty
f.csv:14: phone is 65 bytes; at most 64
f.csv:15: phone is not valid UTF-8
f.csv:16: name is 256 bytes; at most 255
f.csv:17: name is not valid UTF-8
f.csv:18: name is not valid UTF-8
f.csv:19: name is not valid UTF-8
ERR
)" <<CSV
lead_id,phone,name\\n1,+1,"abc\\n2,+1,"a"b\\n3,+1"2,x\\n4,+1\\n5,+1,x,y\\n0,+1,x\\n-5,+1,x\\nabc,+1,x\\n,+1,x
99999999999999999999,+1,x\\n9223372036854775808,+1,x\\n6,,x\\n7,$(printf '%065d' 1),x\\n8,\\xc3,x
9,+1,$(printf '%0256d' 1)\\n10,+1,\\xff\\n11,+1,\\xc0\\xaf\\n12,+1,\\xed\\xa0\\x80\\n20,+1,ok\\n
CSV
# A quote inside the last field is taken as it is (the checker never looked).
check quote-in-last-field 0 "1 1" "" <<'CSV'
lead_id,phone,name\n1,+1,a"b\n
CSV
chunk quote-in-last-field 1 '{"lead_id":"1","phone":"+1","name":"a\"b"}' 2

echo "== an optional time_zone column: sent only when given, checked for its form"
check time-zone 0 "3 2" "" <<'CSV'
lead_id,phone,name,Time_Zone\n1,+1,a,America/Chicago\n2,+1,b,\n3,+1,c, Etc/GMT+5 \n
CSV
chunk time-zone 1 '{"lead_id":"1","phone":"+1","name":"a","time_zone":"America/Chicago"},{"lead_id":"2","phone":"+1","name":"b"}' $'2\n3'
chunk time-zone 2 '{"lead_id":"3","phone":"+1","name":"c","time_zone":"Etc/GMT+5"}' 4
check time-zone-errors 3 "" "$(
  cat <<'ERR'
f.csv:2: expected 4 fields (lead_id,phone,name,time_zone), found 3
f.csv:3: time_zone "Mars Base" is not an IANA zone name
f.csv:4: time_zone is 65 bytes; at most 64
ERR
)" <<CSV
lead_id,phone,name,time_zone\\n1,+1,a\\n2,+1,b,Mars Base\\n3,+1,c,$(printf '%065d' 1)\\n
CSV

echo "== the longest values allowed"
check limits 0 "1 1" "" <<CSV
lead_id,phone,name\\n1,$(printf '%064d' 1),$(printf '%0255d' 1)\\n
CSV

echo "== at most 50 bad lines listed, then a count"
{
  printf 'lead_id,phone,name\n'
  for ((i = 0; i < 53; i++)); do printf '0,+1,x\n'; done
} >"$tmp/many.csv"
want=$(for ((i = 2; i <= 51; i++)); do printf 'f.csv:%d: lead_id must be > 0, got 0\n' "$i"; done
  printf 'f.csv: ... and 3 more bad lines')
check many-bad 3 "" "$want" <<<"$(sed 's/$/\\n/' "$tmp/many.csv" | tr -d '\n')"

echo "== phones_csv.awk (dnc import): a phone column anywhere, other columns ignored"
phones_program=$root/tools/lib/phones_csv.awk
# check_phones NAME RC STDOUT STDERR [CHUNK_SIZE] <<<INPUT: as check, for phones_csv.awk.
check_phones() {
  local saved=$program
  program=$phones_program
  check "$@"
  program=$saved
}
check_phones phones 0 "3 2" "" <<'CSV'
\xef\xbb\xbfname, Phone ,note\r\nAda,"+1 415 555 0101",x\r\n\r\nBob,+14155550102,"a, b"\nCy,  +44 20 7183 8750 ,\n
CSV
expect_eq "phones: phones.1" "$(cat -- "$tmp/chunks/phones.1")" '"+1 415 555 0101","+14155550102"'
expect_eq "phones: lines.1" "$(cat -- "$tmp/chunks/lines.1")" $'2\n4'
expect_eq "phones: phones.2" "$(cat -- "$tmp/chunks/phones.2")" '"+44 20 7183 8750"'
check_phones phones-only 0 "1 1" "" <<<'phone\n+14155550101\n'
check_phones phones-header 3 "" "f.csv:1: the header must name a phone column" <<<'tel,name\n+1,x\n'
check_phones phones-errors 3 "" "$(
  cat <<'ERR'
f.csv:2: phone is empty
f.csv:3: expected 2 fields as in the header, found 1
f.csv:4: phone is 65 bytes; at most 64
f.csv:5: unterminated quoted field
ERR
)" <<CSV
phone,name\\n,x\\n+1\\n$(printf '%065d' 1),y\\n"+1,z\\n+2,ok\\n
CSV
check_phones phones-empty 3 "" "f.csv: the file is empty (want a header with a phone column)" <<<''

echo "== campaignctl runs the checker from any working directory and through a symlink"
printf 'lead_id,phone,name\n1,+1,x\n1,+1,x,y\n' >"$tmp/bad.csv"
ln -s "$root/tools/campaignctl" "$tmp/ctl"
rc=0
(cd / && "$tmp/ctl" create "$tmp/bad.csv" >"$tmp/out" 2>"$tmp/err") || rc=$?
expect_eq "campaignctl exit status" "$rc" 2
expect_eq "campaignctl stderr" "$(cat -- "$tmp/err")" \
  "$tmp/bad.csv:3: expected 3 fields (lead_id,phone,name), found 4
campaignctl: $tmp/bad.csv has bad lines (listed above); nothing was sent"
rc=0
(cd "$tmp" && printf 'lead_id,phone,name\n' | "$root/tools/campaignctl" create - >"$tmp/out" \
  2>"$tmp/err") || rc=$?
expect_eq "campaignctl no leads: exit status" "$rc" 2
expect_eq "campaignctl no leads: stderr" "$(cat -- "$tmp/err")" \
  "campaignctl: stdin holds no leads; nothing was sent"

if ((failures)); then
  printf '%d check(s) failed\n' "$failures" >&2
  exit 1
fi
echo "PASS"
