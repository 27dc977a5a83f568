# shellcheck shell=bash
# Dialing-policy options of campaignctl (`policy set`, `create`, `preview`):
# parsing --window, --restricted-date, --max-attempts, --retry,
# --max-dials-per-number, --per-number-days, --time-zone and --clear into a
# DialingPolicy JSON object and the update_mask of exactly the fields given.
# Source this file: it only defines variables and functions. Errors go
# through the caller's usage_error (exit 2: nothing was sent).

readonly POLICY_DAY_NAMES=(mon tue wed thu fri sat sun)
readonly POLICY_DAY_ENUMS=(DAY_OF_WEEK_MONDAY DAY_OF_WEEK_TUESDAY DAY_OF_WEEK_WEDNESDAY
  DAY_OF_WEEK_THURSDAY DAY_OF_WEEK_FRIDAY DAY_OF_WEEK_SATURDAY DAY_OF_WEEK_SUNDAY)
# The DialingPolicy fields in proto order, and the names --clear takes.
readonly POLICY_FIELDS=(calling_windows restricted_dates max_attempts retry_delays
  max_dials_per_number per_number_window_days default_time_zone)

# The policy given so far: JSON pieces per field, and the fields named (set
# or cleared) in the order given.
POL_WINDOWS=() POL_DATES=() POL_RETRIES=()
POL_MAX_ATTEMPTS='' POL_MAX_DIALS='' POL_DAYS='' POL_ZONE=''
POL_SET=() POL_CLEAR=()

policy_reset() {
  POL_WINDOWS=() POL_DATES=() POL_RETRIES=()
  POL_MAX_ATTEMPTS='' POL_MAX_DIALS='' POL_DAYS='' POL_ZONE=''
  POL_SET=() POL_CLEAR=()
}

# policy_mark SET|CLEAR FIELD: records that FIELD was given.
policy_mark() {
  local -n _pm_list=POL_$1
  local f
  for f in "${_pm_list[@]}"; do [[ $f == "$2" ]] && return 0; done
  _pm_list+=("$2")
}

# policy_day NAME: prints 1..7 for mon..sun (any case, also full names).
policy_day() {
  local name=${1,,} i
  name=${name:0:3}
  for i in "${!POLICY_DAY_NAMES[@]}"; do
    if [[ ${POLICY_DAY_NAMES[i]} == "$name" ]]; then
      printf '%d\n' $((i + 1))
      return 0
    fi
  done
  return 1
}

# policy_minute HH:MM [END]: prints minutes after midnight (24:00 only as END).
policy_minute() {
  local text=$1 end=${2:-} h m
  [[ $text =~ ^([0-9]{1,2}):([0-9]{2})$ ]] || return 1
  h=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]}))
  ((m < 60)) || return 1
  if ((h == 24 && m == 0)) && [[ -n $end ]]; then printf '1440\n'; return 0; fi
  ((h < 24)) || return 1
  printf '%d\n' $((h * 60 + m))
}

# policy_add_window SPEC: "mon-fri 09:00-20:00", "sat,sun 10:00-14:00",
# "daily 08:00-21:00"; a day range may wrap (fri-mon).
policy_add_window() {
  local spec=$1 days range item from to d start end
  [[ $spec =~ ^[[:space:]]*([A-Za-z,-]+)[[:space:]]+([0-9:]+)-([0-9:]+)[[:space:]]*$ ]] ||
    usage_error "--window \"$spec\": expected DAYS HH:MM-HH:MM, e.g. \"mon-fri 09:00-20:00\""
  days=${BASH_REMATCH[1]} range="${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
  if ! start=$(policy_minute "${range% *}") || ! end=$(policy_minute "${range#* }" end); then
    usage_error "--window \"$spec\": times are HH:MM, 00:00..24:00"
  fi
  ((start < end)) || usage_error "--window \"$spec\": the window must end after it starts"
  local -a list=()
  [[ ${days,,} == daily || ${days,,} == all ]] && days=mon-sun
  local IFS=,
  for item in $days; do
    if [[ $item == *-* ]]; then
      if ! from=$(policy_day "${item%%-*}") || ! to=$(policy_day "${item#*-}"); then
        usage_error "--window \"$spec\": unknown day in \"$item\" (mon..sun)"
      fi
      d=$from
      while :; do
        list+=("$d")
        ((d == to)) && break
        d=$((d % 7 + 1))
      done
    else
      d=$(policy_day "$item") || usage_error "--window \"$spec\": unknown day \"$item\" (mon..sun)"
      list+=("$d")
    fi
  done
  for d in "${list[@]}"; do
    POL_WINDOWS+=("{\"day_of_week\":\"${POLICY_DAY_ENUMS[d - 1]}\",\"start_minute\":$start,\"end_minute\":$end}")
  done
  policy_mark SET calling_windows
}

# policy_seconds TEXT: 90, 90s, 10m, 1h, 2d as seconds.
policy_seconds() {
  [[ $1 =~ ^([0-9]{1,7})([smhd]?)$ ]] || return 1
  local n=$((10#${BASH_REMATCH[1]}))
  case ${BASH_REMATCH[2]} in
    m) n=$((n * 60)) ;; h) n=$((n * 3600)) ;; d) n=$((n * 86400)) ;;
  esac
  printf '%d\n' "$n"
}

# policy_add_retries SPEC: "busy=10m,no_answer=1h,failed=30s".
policy_add_retries() {
  local spec=$1 item outcome seconds enum
  local IFS=,
  for item in $spec; do
    [[ $item == *=* ]] || usage_error "--retry \"$spec\": expected OUTCOME=DELAY, e.g. busy=10m"
    outcome=${item%%=*} outcome=${outcome,,} outcome=${outcome//-/_}
    case $outcome in
      busy) enum=JOB_STATUS_BUSY ;;
      no_answer) enum=JOB_STATUS_NO_ANSWER ;;
      failed) enum=JOB_STATUS_FAILED ;;
      *) usage_error "--retry \"$spec\": unknown outcome \"${item%%=*}\" (busy, no_answer, failed)" ;;
    esac
    seconds=$(policy_seconds "${item#*=}") ||
      usage_error "--retry \"$spec\": delay \"${item#*=}\" is not N, Ns, Nm, Nh or Nd"
    POL_RETRIES+=("{\"outcome\":\"$enum\",\"delay_seconds\":$seconds}")
  done
  policy_mark SET retry_delays
}

# policy_clear NAME: a field name (or its option's name) to clear.
policy_clear() {
  local name=${1,,} f
  name=${name#--} name=${name//-/_}
  case $name in
    window | windows) name=calling_windows ;;
    restricted_date) name=restricted_dates ;;
    retry | retries) name=retry_delays ;;
    per_number_days) name=per_number_window_days ;;
    time_zone) name=default_time_zone ;;
  esac
  for f in "${POLICY_FIELDS[@]}"; do
    if [[ $f == "$name" ]]; then
      policy_mark CLEAR "$f"
      return 0
    fi
  done
  usage_error "--clear \"$1\": unknown field; one of: ${POLICY_FIELDS[*]}"
}

# parse_policy_flag CMD ARGS...: consumes one policy option at the front of
# ARGS (OPT_SHIFT words; 0 when ARGS[0] is none). --clear only when CMD
# accepts it (policy set).
# shellcheck disable=SC2034  # OPT_SHIFT is the caller's
parse_policy_flag() {
  local cmd=$1
  shift
  OPT_SHIFT=0
  case $1 in
    --window | --window=*) take_value --window "$@"; policy_add_window "$OPT_VALUE" ;;
    --restricted-date | --restricted-date=*)
      take_value --restricted-date "$@"
      if [[ ! $OPT_VALUE =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
        [[ $(date -u -d "$OPT_VALUE" +%F 2>/dev/null) != "$OPT_VALUE" ]]; then
        usage_error "$cmd: --restricted-date must be a date YYYY-MM-DD, got \"$OPT_VALUE\""
      fi
      POL_DATES+=("\"$OPT_VALUE\"")
      policy_mark SET restricted_dates ;;
    --max-attempts | --max-attempts=*)
      take_value --max-attempts "$@"
      [[ $OPT_VALUE =~ ^[1-9][0-9]?$ ]] || usage_error "$cmd: --max-attempts must be 1..20"
      POL_MAX_ATTEMPTS=$OPT_VALUE
      policy_mark SET max_attempts ;;
    --retry | --retry=*) take_value --retry "$@"; policy_add_retries "$OPT_VALUE" ;;
    --max-dials-per-number | --max-dials-per-number=*)
      take_value --max-dials-per-number "$@"
      [[ $OPT_VALUE =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "$cmd: --max-dials-per-number must be 1..1000"
      POL_MAX_DIALS=$OPT_VALUE
      policy_mark SET max_dials_per_number ;;
    --per-number-days | --per-number-days=*)
      take_value --per-number-days "$@"
      [[ $OPT_VALUE =~ ^[1-9][0-9]{0,2}$ ]] || usage_error "$cmd: --per-number-days must be 1..365"
      POL_DAYS=$OPT_VALUE
      policy_mark SET per_number_window_days ;;
    --time-zone | --time-zone=*)
      take_value --time-zone "$@"
      [[ -n $OPT_VALUE ]] || usage_error "$cmd: --time-zone must not be empty (--clear time_zone)"
      POL_ZONE=$OPT_VALUE
      policy_mark SET default_time_zone ;;
    --clear | --clear=*)
      [[ $cmd == "policy set" ]] || usage_error "$cmd: unknown flag $1"
      take_value --clear "$@"; policy_clear "$OPT_VALUE" ;;
  esac
  return 0
}

# policy_check CMD: a field both set and cleared is a usage error.
policy_check() {
  local f g
  for f in "${POL_SET[@]}"; do
    for g in "${POL_CLEAR[@]}"; do
      [[ $f == "$g" ]] && usage_error "$1: $f is both set and cleared"
    done
  done
  return 0
}

# policy_json: the DialingPolicy of the options given (cleared fields are
# absent: empty).
policy_json() {
  local json='' sep
  ((${#POL_WINDOWS[@]})) && { sep=$(IFS=,; printf '%s' "${POL_WINDOWS[*]}"); json+=",\"calling_windows\":[$sep]"; }
  ((${#POL_DATES[@]})) && { sep=$(IFS=,; printf '%s' "${POL_DATES[*]}"); json+=",\"restricted_dates\":[$sep]"; }
  [[ -n $POL_MAX_ATTEMPTS ]] && json+=",\"max_attempts\":$POL_MAX_ATTEMPTS"
  ((${#POL_RETRIES[@]})) && { sep=$(IFS=,; printf '%s' "${POL_RETRIES[*]}"); json+=",\"retry_delays\":[$sep]"; }
  [[ -n $POL_MAX_DIALS ]] && json+=",\"max_dials_per_number\":$POL_MAX_DIALS"
  [[ -n $POL_DAYS ]] && json+=",\"per_number_window_days\":$POL_DAYS"
  [[ -n $POL_ZONE ]] && json+=",\"default_time_zone\":$(json_str "$POL_ZONE")"
  printf '{%s}\n' "${json#,}"
}

# policy_mask: the update_mask of the fields set and cleared, in proto
# order, as protobuf JSON writes a FieldMask (comma-separated lowerCamelCase).
policy_mask() {
  local f g out='' camel
  for f in "${POLICY_FIELDS[@]}"; do
    for g in "${POL_SET[@]}" "${POL_CLEAR[@]}"; do
      if [[ $f == "$g" ]]; then
        camel=$(sed -E 's/_([a-z])/\U\1/g' <<<"$f")
        out+=",$camel"
        break
      fi
    done
  done
  printf '%s\n' "${out#,}"
}

# policy_given: true when some policy option was given.
policy_given() { ((${#POL_SET[@]} + ${#POL_CLEAR[@]} > 0)); }

# time_arg OPTION VALUE: VALUE (anything `date -d` reads: RFC 3339,
# "2026-12-03 09:00", "tomorrow 09:00 America/Chicago"...) as RFC 3339 UTC.
time_arg() {
  local out
  out=$(date -u -d "$2" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null) ||
    usage_error "$1 \"$2\" is not a time (e.g. 2026-12-03T09:00:00Z or \"tomorrow 09:00\")"
  printf '%s\n' "$out"
}
