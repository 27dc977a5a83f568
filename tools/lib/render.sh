# shellcheck shell=bash
# Rendering helpers of campaignctl: aligned tables of runs and jobs (from the
# API's JSON, through jq) and the one-line watch bar fitted to the terminal
# width. Source this file: it only defines a constant and functions. The
# watch functions read cmd_watch's state from the caller's scope (RUN_ID,
# status, total, cursor, the outcome counts, sample_t/sample_d and
# CTL_TTY_FD).
# shellcheck disable=SC2154  # the caller's variables

# ------------------------------------------------------------------- tables

# Aligns TSV on stdin into columns (two spaces apart).
align() {
  awk -F'\t' '
    { rows[NR] = $0; if (NF > cols) cols = NF
      for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i) }
    END {
      for (r = 1; r <= NR; r++) {
        n = split(rows[r], f, "\t"); line = ""
        for (i = 1; i <= n; i++) {
          if (i < n) line = line sprintf("%-" w[i] "s  ", f[i]); else line = line f[i]
        }
        print line
      }
    }'
}

# jq definitions shared by the table printers.
# shellcheck disable=SC2016  # jq code
readonly JQ_DEFS='
  def n: (. // 0) | tonumber;
  def st: (. // "") | sub("^(RUN|JOB)_STATUS_"; "") | ascii_downcase;
  def ts: if . == null or . == "" then "-" else sub("\\.[0-9]+Z$"; "Z") | sub("T"; " ") end;
  def pct: if (.totalLeads | n) == 0 then "0.0%"
           else (((.cursorPosition | n) * 1000 / (.totalLeads | n)) | floor) as $p
                | "\($p / 10 | floor).\($p % 10)%" end;
'

print_run_table() {
  jq -r "$JQ_DEFS"'
    ["ID", "BUSINESS", "STATUS", "LEADS", "DONE", "PROGRESS", "ACTIVE", "QUEUED",
     "COMPLETED", "BUSY", "NO_ANSWER", "FAILED", "CANCELLED", "CONC", "CREATED", "REQUEST_ID"],
    (.[] | [.id, .businessId,
            (.status | st) + (if .cancelRequested and (.status | st | IN("pending","running","paused"))
                              then "*" else "" end),
            (.totalLeads | n), (.cursorPosition | n), pct, (.inProgressCount | n),
            (.queuedCount | n), (.outcomes.completed | n), (.outcomes.busy | n),
            (.outcomes.noAnswer | n), (.outcomes.failed | n), (.outcomes.cancelled | n),
            (.concurrency | n), (.createdAt | ts), .requestId])
    | map(tostring) | @tsv' | align
}

print_run() {
  jq -r "$JQ_DEFS"'
    "run \(.id)  \(.status | st)\(if .cancelRequested and (.status | st | IN("pending","running","paused")) then " (cancel requested)" else "" end)",
    (["  business", .businessId],
     ["  request id", .requestId],
     ["  concurrency", (.concurrency | n)],
     ["  progress", "\(.cursorPosition | n)/\(.totalLeads | n) (\(pct))"],
     ["  jobs", "\(.queuedCount | n) queued, \(.inProgressCount | n) in progress"],
     ["  outcomes", "\(.outcomes.completed | n) completed, \(.outcomes.busy | n) busy, \(.outcomes.noAnswer | n) no answer, \(.outcomes.failed | n) failed, \(.outcomes.cancelled | n) cancelled"],
     (if (.outboundListId | n) != 0 then ["  list id", .outboundListId] else empty end),
     (if (.createdByUserId | n) != 0 then ["  created by user", .createdByUserId] else empty end),
     (if (.lockedByWorker // "") != "" then ["  worker", "\(.lockedByWorker) (heartbeat \(.lockTs | ts))"] else empty end),
     ["  created", (.createdAt | ts)],
     ["  started", (.startedAt | ts)],
     ["  ended", (.endedAt | ts)],
     ["  updated", (.updatedAt | ts)],
     (if (.lastError // "") != "" then ["  last error", .lastError] else empty end)
     | map(tostring) | @tsv)' | align
}

print_jobs_table() {
  jq -r "$JQ_DEFS"'
    ["JOB", "LEAD", "PHONE", "STATUS", "ATTEMPTS", "DIALED", "NAME", "ERROR"],
    (.[] | [.id, .leadId, .phone, (.status | st), (.attempts | n), (.dialStartedAt | ts),
            (.leadName // ""), (.errorMessage // "")])
    | map(tostring) | @tsv' | align
}

# ---------------------------------------------------------------- watch bar

# Progress bar of WIDTH cells for DONE of TOTAL.
bar() {
  local done=$1 total=$2 width=$3 filled=0 s
  ((total > 0)) && filled=$((done * width / total))
  printf -v s '%*s' "$filled" ''
  printf '%s' "${s// /#}"
  printf -v s '%*s' "$((width - filled))" ''
  printf '%s' "${s// /-}"
}

# Dials per second over the sample window, with one decimal: "12.5".
dial_rate() {
  local now=${EPOCHREALTIME/./} n=${#sample_t[@]} dt dd
  ((n > 0)) || { printf '0.0'; return; }
  dt=$((now - sample_t[0]))
  dd=$((sample_d[n - 1] - sample_d[0]))
  if ((dt <= 0 || dd <= 0)); then printf '0.0'; return; fi
  local tenths=$((dd * 10000000 / dt))
  printf '%d.%d' $((tenths / 10)) $((tenths % 10))
}

percent() {
  local tenths=0
  ((total > 0)) && tenths=$((cursor * 1000 / total))
  printf '%d.%d%%' $((tenths / 10)) $((tenths % 10))
}

# Sets TTY_COLS: the width of the terminal watch draws on (stty on the saved
# descriptor, so a resize counts), else $COLUMNS, else 80.
tty_cols() {
  local size
  TTY_COLS=80
  if size=$(stty size <&"$CTL_TTY_FD" 2>/dev/null) && [[ $size =~ ^[0-9]+\ ([1-9][0-9]*)$ ]]; then
    TTY_COLS=${BASH_REMATCH[1]}
  elif [[ ${COLUMNS:-} =~ ^[1-9][0-9]*$ ]]; then
    TTY_COLS=$COLUMNS
  fi
}

# One line that fits the terminal, the cursor staying on it: the bar (30
# cells, shrunk in steps of 5 down to 10), percentage, done of total, status,
# and as many of the other fields as fit, the least useful dropped first:
# cancelled, then active, then the dial rate, then the outcomes.
render_tty() {
  local st=${status#RUN_STATUS_} max head pct rate width text drop
  tty_cols
  max=$((TTY_COLS - 1)) head="run $RUN_ID "
  pct=$(percent) rate=$(dial_rate)
  local -a fields
  for drop in 0 1 2 3 4; do
    fields=()
    ((drop < 4)) && fields+=("ok $completed" "busy $busy" "no-ans $no_answer" "fail $failed")
    ((drop < 1)) && fields+=("cancelled $cancelled")
    ((drop < 2)) && fields+=("active $active")
    ((drop < 3)) && fields+=("$rate/s")
    printf -v text ' %6s %d/%d' "$pct" "$cursor" "$total"
    ((${#fields[@]})) && text+=$(printf '  %s' "${fields[@]}")
    text+="  ${st,,}"
    width=$((max - ${#head} - 2 - ${#text}))
    ((width > 30)) && width=30
    width=$((width / 5 * 5))
    ((width >= 10)) && break
  done
  # Narrower still: the smallest bar that fits, or at worst no bar.
  ((width < 10)) && width=$((max - ${#head} - 2 - ${#text}))
  if ((width >= 3)); then
    printf '\r\033[K%s[%s]%s' "$head" "$(bar "$cursor" "$total" "$width")" "$text"
  else
    text=$head${text# }
    printf '\r\033[K%s' "${text:0:max}"
  fi
}

render_plain() {
  local st=${status#RUN_STATUS_}
  printf '%s run %s %s %d/%d (%s) queued=%d active=%d completed=%d busy=%d no_answer=%d failed=%d cancelled=%d rate=%s/s\n' \
    "$(date -u +%H:%M:%S)" "$RUN_ID" "${st,,}" "$cursor" "$total" "$(percent)" \
    "$queued" "$active" "$completed" "$busy" "$no_answer" "$failed" "$cancelled" "$(dial_rate)"
}

# ------------------------------------------------------------ dialing rules

# jq definitions of the dialing-rules printers: day names, HH:MM, durations,
# windows grouped by time span with consecutive days as ranges.
# shellcheck disable=SC2016  # jq code
readonly JQ_RULES='
  def day: {"DAY_OF_WEEK_MONDAY": 1, "DAY_OF_WEEK_TUESDAY": 2, "DAY_OF_WEEK_WEDNESDAY": 3,
            "DAY_OF_WEEK_THURSDAY": 4, "DAY_OF_WEEK_FRIDAY": 5, "DAY_OF_WEEK_SATURDAY": 6,
            "DAY_OF_WEEK_SUNDAY": 7}[.] // 0;
  def dayname: ["?", "mon", "tue", "wed", "thu", "fri", "sat", "sun"][.];
  def hhmm: (. // 0) as $m | "\($m / 60 | floor | tostring | if length < 2 then "0" + . else . end):\($m % 60 | tostring | if length < 2 then "0" + . else . end)";
  def span: if .[0] == .[1] then (.[0] | dayname) else "\(.[0] | dayname)-\(.[1] | dayname)" end;
  def ranges: reduce .[] as $d ([]; if length > 0 and .[-1][1] + 1 == $d then .[-1][1] = $d else . + [[$d, $d]] end);
  def windows: if (. // []) | length == 0 then "none (never called)" else
      map({d: (.dayOfWeek | day), s: (.startMinute // 0), e: (.endMinute // 0)})
      | group_by([.s, .e]) | sort_by(map(.d) | min)
      | map("\(map(.d) | unique | ranges | map(span) | join(",")) \(.[0].s | hhmm)-\(.[0].e | hhmm)")
      | join("; ") end;
  def dur: (. // 0 | tonumber) as $s
      | if $s % 86400 == 0 then "\($s / 86400)d" elif $s % 3600 == 0 then "\($s / 3600)h"
        elif $s % 60 == 0 then "\($s / 60)m" else "\($s)s" end;
  def outcome: (. // "") | sub("^JOB_STATUS_"; "") | ascii_downcase;
  def reason: (. // "") | sub("^(WAIT|SKIP)_REASON_"; "") | ascii_downcase | gsub("_"; " ");
'

print_policy() {
  jq -r "$JQ_DEFS$JQ_RULES"'
    (["calling windows", (.callingWindows | windows)],
     ["restricted dates", ((.restrictedDates // []) | if length == 0 then "none" else join(", ") end)],
     ["max attempts", (.maxAttempts | n)],
     ["retry delays", ((.retryDelays // []) | if length == 0 then "none (no retries)"
                       else map("\(.outcome | outcome)=\(.delaySeconds | dur)") | join(",") end)],
     ["per-number cap", (if (.maxDialsPerNumber | n) == 0 then "none"
                         else "\(.maxDialsPerNumber | n) dials in \(.perNumberWindowDays | n) days" end)],
     ["default time zone", (.defaultTimeZone // "UTC")]
     | map(tostring) | @tsv)' | align
}

print_dnc_table() {
  jq -r "$JQ_DEFS"'["PHONE", "ADDED"], (.[] | [.phone, (.createdAt | ts)]) | map(tostring) | @tsv' |
    align
}

print_attempts_table() {
  jq -r "$JQ_DEFS$JQ_RULES"'
    ["JOB", "LEAD", "ATTEMPT", "PHONE", "CALLER_ID", "STARTED", "ANSWERED", "ENDED", "OUTCOME",
     "ANSWERED_BY", "CALL_SID", "ERROR"],
    (.[] | [.jobId, .leadId, (.attempt | n), .phone, (.callerId // "-"), (.startedAt | ts),
            (.answeredAt | ts), (.endedAt | ts),
            (if (.outcome // "") == "" then "in progress" else (.outcome | outcome) end),
            (.answeredBy // "-"), (.callSid // "-"), (.error // "")])
    | map(tostring) | @tsv' | align
}

# PreviewRun's answer: the counts, the waits by reason, the policy it used
# and, when asked for, one lead's decision.
print_preview() {
  jq -r "$JQ_DEFS$JQ_RULES"'
    "preview at \(.at | ts)",
    ((["  leads", (.total | n)],
      ["  callable now", (.callableNow | n)],
      (.deferred // [] | .[] | ["  waiting: \(.reason | reason)", "\(.count | n) (earliest \(.earliest | ts))"]),
      ["  do-not-call", (.suppressed | n)],
      ["  skipped", (.skipped | n)],
      ["  invalid", (.invalid | n)],
      ["  policy", "windows \(.policy.callingWindows | windows); max attempts \(.policy.maxAttempts | n); zone \(.policy.defaultTimeZone // "UTC")"]
      | map(tostring) | @tsv)),
    (if .leadDecision then .leadDecision |
      "lead \(.leadId): \((.action // "") | sub("^ACTION_"; "") | ascii_downcase | gsub("_"; " "))"
      + (if (.phone // "") != "" then " \(.phone)" else "" end)
      + (if (.timeZone // "") != "" then " (\(.timeZone))" else "" end)
      + (if .nextDialAt then " until \(.nextDialAt | ts)" else "" end)
      + (if (.waitingReason // "") != "" then ", waiting: \(.waitingReason | reason)" else "" end)
      + (if (.skipReason // "") != "" then ", skipped: \(.skipReason | reason)" else "" end)
      + (if (.callerId // "") != "" then ", from \(.callerId)" else "" end)
      + (if (.rule // "") != "" then "\n  rule: \(.rule)" else "" end)
    else empty end)' | awk -F'\t' 'NF == 2 { printf "%-26s %s\n", $1, $2; next } { print }'
}
