# phones_csv.awk: checks a CSV of phone numbers for `campaignctl dnc import`
# and writes it out in chunks. Run as
#   LC_ALL=C awk -v name=NAME -v dir=DIR -v size=CHUNK_SIZE -f csv.awk -f phones_csv.awk FILE
# The header must name a `phone` column (any case, blanks around names, an
# optional UTF-8 BOM; other columns are ignored); fields follow RFC 4180
# quoting, one line per record, CRLF or LF; blank lines are skipped. Chunk
# K's numbers go to DIR/phones.K as JSON strings joined by commas, their line
# numbers to DIR/lines.K. Prints "NUMBERS CHUNKS" on stdout; bad lines on
# stderr as NAME:LINE: message (the first 50, then a count); exits 3 when
# any line is bad. Nothing is written once a line was bad. The server parses
# the numbers (an invalid one is named with its line by campaignctl).
# Tests: tests/campaignctl/leads_csv_test.sh.
BEGIN { numbers = 0; chunks = 0; in_chunk = 0; header = 0; column = 0 }
{ sub(/\r$/, "") }
!header {
  if (NR == 1) sub(/^\357\273\277/, "")
  if ($0 ~ /^[ \t]*$/) next
  header = 1
  columns = parse($0)
  for (i = 1; i <= columns; i++) if (tolower(trim(f[i])) == "phone" && !column) column = i
  if (columns < 0 || !column) {
    fail("the header must name a phone column")
    exit 3
  }
  next
}
$0 ~ /^[ \t]*$/ { next }
{
  n = parse($0)
  if (n < 0) { fail(perr); next }
  if (n != columns) { fail("expected " columns " fields as in the header, found " n); next }
  phone = trim(f[column])
  msg = ""
  if (phone == "") msg = "phone is empty"
  else if (length(phone) > 64) msg = "phone is " length(phone) " bytes; at most 64"
  else if (!valid_utf8(phone)) msg = "phone is not valid UTF-8"
  if (msg != "") { fail(msg); next }
  if (bad) next
  if (in_chunk == 0 || in_chunk == size) {
    if (chunks) { close(out); close(lines) }
    chunks++; in_chunk = 0
    out = dir "/phones." chunks; lines = dir "/lines." chunks
    sep = ""
  }
  printf "%s%s", sep, json(phone) > out
  print NR > lines
  sep = ","
  in_chunk++; numbers++
}
END {
  if (bad) {
    if (bad > 50) printf "%s: ... and %d more bad lines\n", name, bad - 50 > "/dev/stderr"
    exit 3
  }
  if (!header) { printf "%s: the file is empty (want a header with a phone column)\n", name > "/dev/stderr"; exit 3 }
  print numbers, chunks
}
