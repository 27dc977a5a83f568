# leads_csv.awk: checks a leads CSV for `campaignctl create` and writes it out
# in chunks. Run as
#   LC_ALL=C awk -v name=NAME -v dir=DIR -v size=CHUNK_SIZE -f leads_csv.awk FILE
# The header must be lead_id,phone,name (any case, blanks around names, an
# optional UTF-8 BOM); fields follow RFC 4180 quoting, one line per record,
# CRLF or LF; blank lines are skipped. Chunk K's leads go to DIR/leads.K as
# JSON objects joined by commas, their line numbers to DIR/lines.K. Prints
# "LEADS CHUNKS" on stdout; bad lines on stderr as NAME:LINE: message (the
# first 50, then a count); exits 3 when any line is bad. Nothing is written
# once a line was bad. Tests: tests/tools/leads_csv_test.sh.
function fail(msg) {
  bad++
  if (bad <= 50) printf "%s:%d: %s\n", name, NR, msg > "/dev/stderr"
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# Splits line s into fields f[1..n] (RFC 4180 quoting, one line per record);
# returns n, or -1 with perr set.
function parse(s,    n, pos, len, c, q, field, rest) {
  if (index(s, "\"") == 0) return split(s, f, ",")
  n = 0; len = length(s); pos = 1
  while (1) {
    # Skip blanks before a quoted field.
    rest = substr(s, pos)
    if (rest ~ /^[ \t]*"/) {
      pos += index(rest, "\"")
      field = ""
      while (1) {
        q = index(substr(s, pos), "\"")
        if (q == 0) { perr = "unterminated quoted field"; return -1 }
        field = field substr(s, pos, q - 1)
        pos += q
        if (substr(s, pos, 1) == "\"") { field = field "\""; pos++ } else break
      }
      f[++n] = field
      rest = substr(s, pos)
      if (rest ~ /^[ \t]*$/) return n
      if (rest !~ /^[ \t]*,/) { perr = "text after a closing quote (field " n ")"; return -1 }
      pos += index(rest, ",")
    } else {
      c = index(rest, ",")
      if (c == 0) { f[++n] = rest; return n }
      f[++n] = substr(rest, 1, c - 1)
      if (f[n] ~ /"/) { perr = "a quote inside an unquoted field (field " n ")"; return -1 }
      pos += c
    }
  }
}
function valid_utf8(s,    i, len, b, need, min, cp) {
  # ASCII (nearly every phone and most names) is valid: skip the byte loop.
  if (s !~ /[\200-\377]/) return 1
  len = length(s); i = 1
  while (i <= len) {
    b = substr(s, i, 1)
    if (!(b in ord)) { i++; continue }
    b = ord[b]
    if (b >= 194 && b <= 223) { need = 1; cp = b - 192; min = 128 }
    else if (b >= 224 && b <= 239) { need = 2; cp = b - 224; min = 2048 }
    else if (b >= 240 && b <= 244) { need = 3; cp = b - 240; min = 65536 }
    else return 0
    while (need-- > 0) {
      i++
      b = substr(s, i, 1)
      if (!(b in ord) || ord[b] > 191) return 0
      cp = cp * 64 + ord[b] - 128
    }
    if (cp < min || cp > 1114111 || (cp >= 55296 && cp <= 57343)) return 0
    i++
  }
  return 1
}
# Escapes by hand: what gsub makes of a backslash in the replacement differs
# between awks (mawk, Debian's default, left "\" single).
function escape_quotes(s,   out, i) {
  out = ""
  while (match(s, /["\\]/)) {
    out = out substr(s, 1, RSTART - 1) "\\" substr(s, RSTART, 1)
    s = substr(s, RSTART + 1)
  }
  return out s
}
function json(s) {
  s = escape_quotes(s)
  if (s ~ /[\001-\037\177]/) {
    gsub(/\t/, "\\t", s); gsub(/\r/, "\\r", s)
    while (match(s, /[\001-\037\177]/)) {
      s = substr(s, 1, RSTART - 1) sprintf("\\u%04x", ctl[substr(s, RSTART, 1)]) substr(s, RSTART + 1)
    }
  }
  return "\"" s "\""
}
BEGIN {
  for (i = 128; i < 256; i++) ord[sprintf("%c", i)] = i
  for (i = 1; i < 32; i++) ctl[sprintf("%c", i)] = i
  ctl[sprintf("%c", 127)] = 127
  leads = 0; chunks = 0; in_chunk = 0; bad = 0; header = 0
}
{ sub(/\r$/, "") }
!header {
  if (NR == 1) sub(/^\357\273\277/, "")
  if ($0 ~ /^[ \t]*$/) next
  header = 1
  n = parse($0)
  h = ""
  for (i = 1; i <= n; i++) h = h (i > 1 ? "," : "") tolower(trim(f[i]))
  if (h != "lead_id,phone,name") {
    fail("the header must be lead_id,phone,name")
    exit 3
  }
  next
}
$0 ~ /^[ \t]*$/ { next }
{
  n = parse($0)
  if (n < 0) { fail(perr); next }
  if (n != 3) { fail("expected 3 fields (lead_id,phone,name), found " n); next }
  id = trim(f[1]); phone = trim(f[2]); nm = f[3]
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
  if (msg != "") { fail(msg); next }
  if (bad) next
  if (in_chunk == 0 || in_chunk == size) {
    if (chunks) { close(out); close(lines) }
    chunks++; in_chunk = 0
    out = dir "/leads." chunks; lines = dir "/lines." chunks
    sep = ""
  }
  printf "%s{\"lead_id\":\"%s\",\"phone\":%s,\"name\":%s}", sep, id, json(phone), json(nm) > out
  print NR > lines
  sep = ","
  in_chunk++; leads++
}
END {
  if (bad) {
    if (bad > 50) printf "%s: ... and %d more bad lines\n", name, bad - 50 > "/dev/stderr"
    exit 3
  }
  if (!header) { printf "%s: the file is empty (want the header lead_id,phone,name)\n", name > "/dev/stderr"; exit 3 }
  print leads, chunks
}
