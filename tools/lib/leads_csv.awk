# leads_csv.awk: checks a leads CSV for `campaignctl create` and writes it out
# in chunks. Run as
#   LC_ALL=C awk -v name=NAME -v dir=DIR -v size=CHUNK_SIZE -f csv.awk -f leads_csv.awk FILE
# The header must be lead_id,phone,name, or lead_id,phone,name,time_zone
# (the callee's IANA zone, optional per line; any case, blanks around names,
# an optional UTF-8 BOM); fields follow RFC 4180 quoting, one line per record,
# CRLF or LF; blank lines are skipped. Chunk K's leads go to DIR/leads.K as
# JSON objects joined by commas, their line numbers to DIR/lines.K. Prints
# "LEADS CHUNKS" on stdout; bad lines on stderr as NAME:LINE: message (the
# first 50, then a count); exits 3 when any line is bad. Nothing is written
# once a line was bad. Tests: tests/tools/leads_csv_test.sh.
BEGIN { leads = 0; chunks = 0; in_chunk = 0; header = 0 }
{ sub(/\r$/, "") }
!header {
  if (NR == 1) sub(/^\357\273\277/, "")
  if ($0 ~ /^[ \t]*$/) next
  header = 1
  n = parse($0)
  h = ""
  for (i = 1; i <= n; i++) h = h (i > 1 ? "," : "") tolower(trim(f[i]))
  if (h == "lead_id,phone,name,time_zone") columns = 4
  else if (h == "lead_id,phone,name") columns = 3
  else {
    fail("the header must be lead_id,phone,name (or lead_id,phone,name,time_zone)")
    exit 3
  }
  expected = columns == 4 ? "lead_id,phone,name,time_zone" : "lead_id,phone,name"
  next
}
$0 ~ /^[ \t]*$/ { next }
{
  n = parse($0)
  if (n < 0) { fail(perr); next }
  if (n != columns) { fail("expected " columns " fields (" expected "), found " n); next }
  id = trim(f[1]); phone = trim(f[2]); nm = f[3]; zone = columns == 4 ? trim(f[4]) : ""
  msg = ""
  if (id ~ /^-[0-9]+$/ || id ~ /^0+$/) msg = "lead_id must be > 0, got " id
  else if (id !~ /^[0-9]+$/) msg = "lead_id \"" substr(id, 1, 40) "\" is not an integer"
  else {
    sub(/^0+/, "", id)
    if (length(id) > 19 || (length(id) == 19 && id > "9223372036854775807"))
      msg = "lead_id " id " is out of range (at most 9223372036854775807)"
  }
  if (msg == "" && phone == "") msg = "phone is empty"
  if (msg == "" && length(phone) > 64) msg = "phone is " length(phone) " bytes; at most 64"
  if (msg == "" && !valid_utf8(phone)) msg = "phone is not valid UTF-8"
  if (msg == "" && length(nm) > 255) msg = "name is " length(nm) " bytes; at most 255"
  if (msg == "" && !valid_utf8(nm)) msg = "name is not valid UTF-8"
  if (msg == "" && zone !~ /^[A-Za-z0-9_+\/-]*$/) msg = "time_zone \"" substr(zone, 1, 40) "\" is not an IANA zone name"
  if (msg == "" && length(zone) > 64) msg = "time_zone is " length(zone) " bytes; at most 64"
  if (msg != "") { fail(msg); next }
  if (bad) next
  if (in_chunk == 0 || in_chunk == size) {
    if (chunks) { close(out); close(lines) }
    chunks++; in_chunk = 0
    out = dir "/leads." chunks; lines = dir "/lines." chunks
    sep = ""
  }
  tz = ""
  if (zone != "") tz = ",\"time_zone\":" json(zone)
  printf "%s{\"lead_id\":\"%s\",\"phone\":%s,\"name\":%s%s}", sep, id, json(phone), json(nm), tz > out
  print NR > lines
  sep = ","
  in_chunk++; leads++
}
END {
  if (bad) {
    if (bad > 50) printf "%s: ... and %d more bad lines\n", name, bad - 50 > "/dev/stderr"
    exit 3
  }
  if (!header) { printf "%s: the file is empty (want the header lead_id,phone,name[,time_zone])\n", name > "/dev/stderr"; exit 3 }
  print leads, chunks
}
