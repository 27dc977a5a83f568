# shellcheck shell=bash disable=SC2034  # sets variables for the test that sources it
# Helpers shared by the shell tests (tests/campaignctl, tests/docs,
# tests/tools): a scratch directory and a database of the test's own on the
# PostgreSQL server tools/test starts, `campaignd serve` processes on free
# ports, and one EXIT trap that stops and removes all of it. Usage:
#   source "$root/tests/tools/test_lib.sh"
#   test_init NAME              # checks tools, makes $tmp, sets the traps
#   test_create_database ROLE   # sets $db, $app_url (as ROLE), $db_admin_url
#   start_server NAME ARGS...   # campaignd serve ARGS; sets $port
# A test appends the names of its own cleanup functions to test_cleanups and
# sets passed=true at its end (server logs are printed only on failure).
# Needs $campaignd and CAMPAIGN_TEST_ADMIN_URL (a superuser URL; tools/test
# sets it).

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
step() { printf '== %s\n' "$*"; }

# test_init NAME [COMMAND ...]: checks $campaignd, the admin URL and that each
# COMMAND is installed; makes $tmp and sets the traps.
test_init() {
  local name=$1 tool
  shift
  admin_url=${CAMPAIGN_TEST_ADMIN_URL:-}
  [[ -n $admin_url ]] ||
    fail "CAMPAIGN_TEST_ADMIN_URL is not set: run the suite through tools/test"
  [[ -x ${campaignd:-} ]] || fail "campaignd not found at ${campaignd:-}"
  for tool in psql "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
  done
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
  server_pids=() drain_pids=() test_cleanups=() db_created=false passed=false db=
  trap _test_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# shellcheck disable=SC2317  # runs from the EXIT trap
_test_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local pid log fn
  for fn in "${test_cleanups[@]}"; do "$fn" || true; done
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}" "${drain_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ! $passed; then
    for log in "$tmp"/server*.log; do
      [[ -s $log ]] || continue
      echo "--- last lines of $(basename "$log"):" >&2
      tail -n 30 "$log" >&2
    done
  fi
  if $db_created; then
    psql -X -q -v ON_ERROR_STOP=1 "$admin_url" \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
      echo "warning: could not drop database $db" >&2
  fi
  rm -rf -- "$tmp"
  exit "$rc"
}

admin_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$admin_url" -c "$1"; }

# test_create_database ROLE: a new database owned by the login role ROLE
# (created if missing; never a superuser, so row-level security applies).
# Sets $db, $app_url (ROLE on it) and $db_admin_url (the superuser on it).
test_create_database() {
  local role=$1 scheme user host query
  # postgresql://[user@]host:port/db[?query] -> the same server, another
  # database (and user).
  [[ $admin_url =~ ^(postgres(ql)?://)([^@/]*@)?([^/?]*)(/[^?]*)?(\?.*)?$ ]] ||
    fail "CAMPAIGN_TEST_ADMIN_URL must be a postgresql:// URI"
  scheme=${BASH_REMATCH[1]} user=${BASH_REMATCH[3]} host=${BASH_REMATCH[4]}
  query=${BASH_REMATCH[6]}
  db=test_${role}_$$_$RANDOM
  db_admin_url=$scheme$user$host/$db$query
  app_url=$scheme$role@$host/$db$query
  step "database $db owned by $role"
  # The role is cluster-wide and other tests may create it at the same time.
  if ! admin_sql "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role')
      THEN CREATE ROLE $role LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END \$\$" >/dev/null 2>&1; then
    [[ $(admin_sql "SELECT count(*) FROM pg_roles WHERE rolname = '$role'") == 1 ]] ||
      fail "could not create role $role"
  fi
  admin_sql "CREATE DATABASE $db OWNER $role" >/dev/null
  db_created=true
}

# wait_for_log_port FD LOG: reads lines from FD into LOG until campaignd's
# "serving on ... (port N)" line; sets $port. The read timeout only guards
# against a hung server.
wait_for_log_port() {
  local fd=$1 log=$2 line
  port=
  while IFS= read -r -t 120 -u "$fd" line; do
    printf '%s\n' "$line" >>"$log"
    if [[ $line =~ serving\ on\ .*\(port\ ([0-9]+)\) ]]; then
      port=${BASH_REMATCH[1]}
      return 0
    fi
  done
  return 1
}

# start_server NAME ARGS...: starts `campaignd serve ARGS` on a port the
# kernel picks (--listen port 0) and sets $port from its log line; the rest of
# its log goes on to $tmp/NAME.log.
start_server() {
  local name=$1 log_fd
  shift
  mkfifo "$tmp/$name.fifo"
  # Calls all day (tests pass at any hour).
  "$campaignd" serve --listen 127.0.0.1:0 --default-calling-hours=00:00-24:00 "$@" </dev/null >/dev/null 2>"$tmp/$name.fifo" &
  server_pids+=("$!")
  exec {log_fd}<"$tmp/$name.fifo"
  wait_for_log_port "$log_fd" "$tmp/$name.log" ||
    fail "campaignd serve ($name) did not report its port"
  cat <&"$log_fd" >>"$tmp/$name.log" &
  drain_pids+=("$!")
  exec {log_fd}<&-
}

# new_business NAME: creates a business through $campaignd (on
# CAMPAIGN_DATABASE_URL) and prints its id.
new_business() {
  local id
  id=$("$campaignd" create-business --name "$1" 2>/dev/null | tr -d '[:space:]')
  [[ $id =~ ^[0-9]+$ ]] || fail "create-business $1"
  printf '%s\n' "$id"
}
