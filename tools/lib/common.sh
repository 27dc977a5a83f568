# shellcheck shell=bash
# Helpers shared by tools/test and tools/run. Source this file: it only
# defines variables and functions. Functions report problems with a message
# on stderr and a non-zero return, so they also work inside `if`.

[[ -n ${CAMPAIGN_COMMON_SOURCED:-} ]] && return 0
CAMPAIGN_COMMON_SOURCED=1

# Repo root, whatever the caller's working directory.
CAMPAIGN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

# Debian packages the build, the tests and tools/run need. Add new ones here.
CAMPAIGN_DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev
  postgresql postgresql-client libpq-dev libpqxx-dev
  pgbouncer postgresql-15-auto-failover
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libspdlog-dev libabsl-dev libphonenumber-dev libssl-dev prometheus-cpp-dev
  libcurl4-openssl-dev libcpp-httplib-dev
  nodejs npm jq openssl python3 bsdutils tzdata
)

# Where campaign_install_buf puts buf, and which version it installs.
CAMPAIGN_BUF="$CAMPAIGN_ROOT/.tools/node_modules/.bin/buf"
CAMPAIGN_BUF_VERSION=${CAMPAIGN_BUF_VERSION:-1.75.0}

campaign_log() { printf '%s: %s\n' "${CAMPAIGN_LOG_PREFIX:-tools/${0##*/}}" "$*" >&2; }
campaign_warn() { campaign_log "warning: $*"; }
campaign_die() { campaign_log "error: $*"; exit 1; }

# Absolute form of a path (relative to the caller's cwd); need not exist.
campaign_abs_path() { realpath -m -- "$1"; }

# ---------------------------------------------------------------- packages

# Prints the packages of CAMPAIGN_DEB_PACKAGES that are not installed. A
# package another installed one provides counts as installed (NodeSource's
# nodejs provides npm; installing Debian's npm beside it is impossible).
campaign_missing_packages() {
  local provided pkg status
  provided=$(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
    awk -F'|' '$1 ~ /^ii/ && $2 != "" { print $2 }' | tr ',' '\n' |
    sed -E 's/\(.*\)//; s/^ +//; s/ +$//' | sort -u)
  for pkg in "${CAMPAIGN_DEB_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] && continue
    grep -qxF -- "$pkg" <<<"$provided" && continue
    printf '%s\n' "$pkg"
  done
}

# Installs the missing packages (apt-get update first, only if needed).
campaign_install_deps() {
  local -a missing sudo=()
  mapfile -t missing < <(campaign_missing_packages)
  ((${#missing[@]} == 0)) && return 0
  [[ $EUID -ne 0 ]] && sudo=(sudo)
  campaign_log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
    { campaign_log "error: apt-get update failed"; return 1; }
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
    { campaign_log "error: apt-get install failed"; return 1; }
}

# ------------------------------------------------------------------- build

# campaign_build BUILD_DIR [TARGET ...]: configures once (Ninja,
# RelWithDebInfo, plus the words of $CAMPAIGN_CMAKE_ARGS, which are re-applied
# whenever set), then builds the TARGETs (default: everything).
campaign_build() {
  local build_dir=${1:?usage: campaign_build BUILD_DIR [TARGET ...]}
  shift
  local -a targets=() cmake_args=()
  (($#)) && targets=(--target "$@")
  # shellcheck disable=SC2206  # words on purpose: -DNAME=VALUE options
  [[ -n ${CAMPAIGN_CMAKE_ARGS:-} ]] && cmake_args=($CAMPAIGN_CMAKE_ARGS)
  # ccache, when installed, makes rebuilds in other checkouts cheap.
  command -v ccache >/dev/null 2>&1 &&
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    cmake -S "$CAMPAIGN_ROOT" -B "$build_dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" || return 1
  elif [[ -n ${CAMPAIGN_CMAKE_ARGS:-} ]]; then
    cmake -S "$CAMPAIGN_ROOT" -B "$build_dir" "${cmake_args[@]}" || return 1
  elif [[ ! -f $build_dir/build.ninja && ! -f $build_dir/Makefile ]]; then
    # An earlier configure failed half way: redo it with the cached settings.
    cmake -S "$CAMPAIGN_ROOT" -B "$build_dir" || return 1
  fi
  cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}" || return 1
}

# campaign_run_database_url PORT: the database tools/run creates and serves
# (its login role `campaign`, never a superuser) on PostgreSQL port PORT.
campaign_run_database_url() { printf 'postgresql://campaign@127.0.0.1:%s/campaign\n' "$1"; }

# Exports the runtime options of sanitizer builds (CAMPAIGN_SANITIZE):
# suppressions for reports from inside the libraries (tests/sanitizers/),
# a non-zero exit on any report, and stacks for UBSan.
campaign_sanitizer_env() {
  local dir=$CAMPAIGN_ROOT/tests/sanitizers
  # history_size=4: four times the default history, so the earlier access of a
  # report in a busy gRPC server is restored more often (a report whose
  # stack is lost cannot match a suppression).
  export TSAN_OPTIONS="suppressions=$dir/tsan.supp second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
  export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
  export LSAN_OPTIONS="suppressions=$dir/lsan.supp ${LSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
}

# Installs buf (npm @bufbuild/buf) into .tools/. Never fails: warns instead.
# Concurrent callers (tests run in parallel) take turns through a lock file,
# so one npm install never overwrites another half way.
campaign_install_buf() {
  local prefix=$CAMPAIGN_ROOT/.tools lock_fd
  if [[ -x $CAMPAIGN_BUF ]] && "$CAMPAIGN_BUF" --version >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    campaign_warn "npm not found: buf is not installed"
    return 0
  fi
  mkdir -p "$prefix" || { campaign_warn "cannot create $prefix"; return 0; }
  exec {lock_fd}>"$prefix/.install.lock" || { campaign_warn "cannot lock $prefix"; return 0; }
  flock "$lock_fd"
  campaign_install_buf_locked "$prefix"
  exec {lock_fd}>&-
  return 0
}

# The body of campaign_install_buf, with its lock held.
campaign_install_buf_locked() {
  local prefix=$1
  # Another caller may have installed it while this one waited.
  if [[ -x $CAMPAIGN_BUF ]] && "$CAMPAIGN_BUF" --version >/dev/null 2>&1; then
    return 0
  fi
  campaign_log "installing buf $CAMPAIGN_BUF_VERSION into .tools/ (npm)"
  if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "@bufbuild/buf@$CAMPAIGN_BUF_VERSION" >"$prefix/npm-install.log" 2>&1; then
    campaign_warn "npm install @bufbuild/buf failed (see $prefix/npm-install.log)"
    return 0
  fi
  if ! "$CAMPAIGN_BUF" --version >/dev/null 2>&1; then
    campaign_warn "buf was installed but does not run: $CAMPAIGN_BUF"
  fi
  return 0
}

# -------------------------------------------------------------- PostgreSQL

# Sets CAMPAIGN_PG_BIN: PostgreSQL 15's bin dir, else the newest installed.
campaign_pg_find_bin() {
  [[ -n ${CAMPAIGN_PG_BIN:-} && -x $CAMPAIGN_PG_BIN/pg_ctl ]] && return 0
  local dir
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
    dir=/usr/lib/postgresql/15/bin
  else
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  if [[ ! -x $dir/pg_ctl ]]; then
    campaign_log "error: no PostgreSQL server found under /usr/lib/postgresql"
    return 1
  fi
  CAMPAIGN_PG_BIN=$dir
}

# Runs a command as the postgres user (initdb and pg_ctl refuse root). From /
# so that the caller's cwd need not be readable by postgres.
campaign_as_postgres() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  elif [[ $(id -un) == postgres ]]; then
    (cd / && "$@")
  else
    campaign_log "error: PostgreSQL helpers must run as root or postgres"
    return 1
  fi
}

# True if something uses TCP port $1 on this machine.
campaign_port_in_use() {
  # A listener on 127.0.0.1 (or 0.0.0.0) accepts the connect.
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    return 0
  fi
  # ss also sees listeners on other addresses.
  if command -v ss >/dev/null 2>&1 &&
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; then
    return 0
  fi
  return 1
}

# campaign_pg_free_port [FIRST]: prints a free TCP port, trying FIRST, FIRST+1,
# ... (default: a random start in 20000-29999, below the ephemeral range).
campaign_pg_free_port() {
  local port=${1:-$((20000 + RANDOM % 10000))} tries
  for ((tries = 0; tries < 1000; tries++, port++)); do
    ((port > 65535)) && port=20000
    if ! campaign_port_in_use "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  campaign_log "error: found no free TCP port"
  return 1
}

campaign_pg_initialized() { [[ -f $1/PG_VERSION ]]; }

# True if the server of data dir $1 is running.
campaign_pg_running() {
  campaign_pg_find_bin || return 1
  [[ -f $1/postmaster.pid ]] &&
    campaign_as_postgres "$CAMPAIGN_PG_BIN/pg_ctl" status -D "$1" >/dev/null 2>&1
}

# campaign_pg_init DATADIR: initdb (trust auth, UTF8, C.UTF-8) unless DATADIR
# already holds a cluster. DATADIR ends up owned by postgres, mode 0700.
campaign_pg_init() {
  local datadir out
  datadir=$(campaign_abs_path "${1:?usage: campaign_pg_init DATADIR}")
  campaign_pg_find_bin || return 1
  if [[ $datadir == /root || $datadir == /root/* ]]; then
    campaign_log "error: $datadir is under /root, which the postgres user cannot enter;" \
      "put the PostgreSQL data directory elsewhere (e.g. under /tmp or /var/lib)"
    return 1
  fi
  campaign_pg_initialized "$datadir" && return 0
  mkdir -p -- "$datadir" || return 1
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres -- "$datadir" || return 1
  fi
  chmod 0700 -- "$datadir" || return 1
  if ! campaign_as_postgres test -w "$datadir"; then
    campaign_log "error: user postgres cannot reach $datadir: each parent directory" \
      "must be searchable by postgres (so not under /root)"
    return 1
  fi
  if ! out=$(campaign_as_postgres "$CAMPAIGN_PG_BIN/initdb" -D "$datadir" -U postgres \
    -A trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions 2>&1); then
    printf '%s\n' "$out" >&2
    campaign_log "error: initdb failed for $datadir"
    return 1
  fi
}

# campaign_pg_start DATADIR PORT SOCKDIR [NAME=VALUE ...]: starts the server
# (waiting until it accepts connections) on 127.0.0.1:PORT with its Unix
# socket in SOCKDIR. Each NAME=VALUE becomes `-c NAME=VALUE` (a `-c` before
# it is accepted too). Logs to $CAMPAIGN_PG_LOG, default DATADIR/../postgres.log.
campaign_pg_start() {
  local datadir port sockdir log opts setting running_port
  datadir=$(campaign_abs_path "${1:?usage: campaign_pg_start DATADIR PORT SOCKDIR [NAME=VALUE ...]}")
  port=${2:?missing PORT} sockdir=$(campaign_abs_path "${3:?missing SOCKDIR}")
  shift 3
  campaign_pg_find_bin || return 1
  log=${CAMPAIGN_PG_LOG:-$(dirname "$datadir")/postgres.log}

  # pg_ctl hands -o to a shell: single-quote each setting.
  opts="-c port=$port -c listen_addresses=127.0.0.1 -c 'unix_socket_directories=$sockdir'"
  for setting in "$@"; do
    [[ $setting == -c ]] && continue
    if [[ $setting != *=* || $setting == *\'* ]]; then
      campaign_log "error: bad PostgreSQL setting: $setting (want NAME=VALUE, no quotes)"
      return 1
    fi
    opts+=" -c '$setting'"
  done

  if campaign_pg_running "$datadir"; then
    running_port=$(sed -n 4p "$datadir/postmaster.pid")
    if [[ $running_port != "$port" ]]; then
      campaign_log "error: the cluster in $datadir already runs on port $running_port, not $port"
      return 1
    fi
    campaign_log "PostgreSQL in $datadir is already running"
    return 0
  fi

  if [[ ! -d $sockdir ]]; then
    mkdir -p -- "$sockdir" || return 1
    [[ $EUID -eq 0 ]] && { chown postgres:postgres -- "$sockdir" || return 1; }
  fi
  if ! campaign_as_postgres test -w "$sockdir"; then
    campaign_log "error: socket directory $sockdir is not writable by postgres"
    return 1
  fi
  # pg_ctl opens the log as postgres; the log's directory may be root's.
  touch -- "$log" || return 1
  [[ $EUID -eq 0 ]] && { chown postgres:postgres -- "$log" || return 1; }

  if ! campaign_as_postgres "$CAMPAIGN_PG_BIN/pg_ctl" start -D "$datadir" -l "$log" \
    -w -t 60 -s -o "$opts"; then
    campaign_log "error: PostgreSQL did not start on port $port; end of $log:"
    tail -n 15 -- "$log" >&2 || true
    return 1
  fi
}

# campaign_pg_stop DATADIR: fast shutdown; does nothing if not running.
campaign_pg_stop() {
  local datadir=${1:?usage: campaign_pg_stop DATADIR}
  campaign_pg_running "$datadir" || return 0
  campaign_as_postgres "$CAMPAIGN_PG_BIN/pg_ctl" stop -D "$datadir" -m fast -w -t 60 -s &&
    return 0
  campaign_warn "fast shutdown of $datadir failed; trying immediate"
  campaign_as_postgres "$CAMPAIGN_PG_BIN/pg_ctl" stop -D "$datadir" -m immediate -w -s
}

# campaign_pg_psql SOCKDIR PORT DBNAME [psql args]: psql as the postgres
# superuser over the Unix socket; stops at the first error; unaligned output.
campaign_pg_psql() {
  local sockdir=${1:?usage: campaign_pg_psql SOCKDIR PORT DBNAME [ARGS]} port=${2:?} db=${3:?}
  shift 3
  campaign_pg_find_bin || return 1
  campaign_as_postgres "$CAMPAIGN_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$sockdir" -p "$port" -U postgres -d "$db" "$@"
}

# ---------------------------------------------------------- foreground jobs

# campaign_run_job CMD [ARGS]: runs CMD in a process group of its own and
# waits for it; returns its exit status. While it runs, SIGINT is forwarded
# to the group once (so Ctrl-C reaches it exactly once, and it does not start
# with SIGINT ignored as plain `cmd &` would), SIGTERM and SIGHUP as SIGTERM.
# The caller's INT/TERM/HUP traps are restored afterwards.
CAMPAIGN_JOB_PID=
campaign_run_job() {
  local saved_traps rc=0 done_pid
  saved_traps=$(trap -p INT TERM HUP)
  set -m
  "$@" &
  CAMPAIGN_JOB_PID=$!
  set +m
  trap '_campaign_forward INT' INT
  trap '_campaign_forward TERM' TERM HUP
  while :; do
    done_pid=
    if wait -p done_pid "$CAMPAIGN_JOB_PID"; then rc=0; else rc=$?; fi
    # wait -p leaves done_pid unset when a trap cut the wait short (status
    # 128+signal: wait again) or when the pid is unknown (status 127).
    [[ -n ${done_pid:-} ]] && break
    ((rc == 127)) && break
  done
  CAMPAIGN_JOB_PID=
  trap - INT TERM HUP
  eval "$saved_traps"
  return "$rc"
}

# shellcheck disable=SC2317  # runs from the traps above
_campaign_forward() {
  [[ -n $CAMPAIGN_JOB_PID ]] && kill -"$1" -- "-$CAMPAIGN_JOB_PID" 2>/dev/null
  return 0
}

# Stops a job campaign_run_job left running (for EXIT traps): SIGTERM to its
# group, then waits for it.
campaign_stop_job() {
  [[ -n $CAMPAIGN_JOB_PID ]] || return 0
  kill -TERM -- "-$CAMPAIGN_JOB_PID" 2>/dev/null || true
  wait "$CAMPAIGN_JOB_PID" 2>/dev/null || true
  CAMPAIGN_JOB_PID=
}
