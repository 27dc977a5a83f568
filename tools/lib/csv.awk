# csv.awk: the CSV reading shared by campaignctl's file checkers
# (leads_csv.awk, phones_csv.awk), loaded before them with a second -f:
# RFC 4180 fields on one line, UTF-8 checks, JSON string escaping, and
# fail(), which reports NAME:LINE: message on stderr (the first 50) and
# counts bad lines in `bad`.
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
  bad = 0
}
