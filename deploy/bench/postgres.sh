#!/usr/bin/env bash
# A throw-away PostgreSQL server (Debian's package) for the billing benchmark's
# PostgreSQL baseline (bench/postgres/) - no Docker, loopback only.
#
# Usage: deploy/bench/postgres.sh <command>
#   start    install Debian's postgresql if no `initdb` is found, initdb the
#            cluster if needed, (re)write the tuning file, start the server and
#            wait until it accepts connections; the last line printed on stdout
#            is BENCH_PG_DSN=postgresql://postgres@127.0.0.1:<port>/postgres
#   stop     stop the server (pg_ctl stop -m fast); a no-op if it is not running
#   status   exit 0 and print BENCH_PG_DSN=... if running, exit 1 otherwise
#   reset    stop, then delete the data directory (the next start re-creates it)
#
# Environment (all optional):
#   BENCH_PG_PORT      TCP port on 127.0.0.1        (default 55432)
#   BENCH_PG_HOME      cluster home                 (default <repo>/.cache/bench/pg)
#   BENCH_PG_BIN       directory of initdb/pg_ctl   (default: newest /usr/lib/postgresql/*/bin)
#   BENCH_PG_SHARED_BUFFERS, BENCH_PG_WORK_MEM, BENCH_PG_EFFECTIVE_CACHE_SIZE
#                      override the memory settings (defaults sized for 2 cores / 24 GiB)
#   BENCH_PG_START_TIMEOUT  seconds to wait for readiness (default 120)
#
# Layout (under .cache/, which git ignores; owned by the `postgres` OS user,
# because the server refuses to run as root):
#   $BENCH_PG_HOME/data/              the cluster (initdb --auth=trust --locale=C)
#   $BENCH_PG_HOME/data/bench.conf    tuning, rewritten on every start
#   $BENCH_PG_HOME/run/               unix socket directory
#   $BENCH_PG_HOME/log/postgres.log   server log
#
# The loader streams the TSV with COPY ... FROM STDIN over the connection, so
# the server never opens the benchmark's files itself (no permission issues).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

BENCH_PG_PORT="${BENCH_PG_PORT:-55432}"
BENCH_PG_HOME="${BENCH_PG_HOME:-$REPO_ROOT/.cache/bench/pg}"
[[ "$BENCH_PG_HOME" == /* ]] || BENCH_PG_HOME="$PWD/$BENCH_PG_HOME"
BENCH_PG_START_TIMEOUT="${BENCH_PG_START_TIMEOUT:-120}"
SHARED_BUFFERS="${BENCH_PG_SHARED_BUFFERS:-4GB}"
WORK_MEM="${BENCH_PG_WORK_MEM:-256MB}"
EFFECTIVE_CACHE_SIZE="${BENCH_PG_EFFECTIVE_CACHE_SIZE:-12GB}"

DSN="postgresql://postgres@127.0.0.1:$BENCH_PG_PORT/postgres"

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as the cluster owner: `postgres` when we are root, else ourselves.
as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_bin() {
    if [[ -n "${BENCH_PG_BIN:-}" ]]; then
        [[ -x "$BENCH_PG_BIN/initdb" ]] && { echo "$BENCH_PG_BIN"; return 0; }
        return 1
    fi
    local dir
    # Newest major version first (sort -V); Debian keeps the server binaries here.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }
    done
    local initdb
    initdb="$(command -v initdb 2>/dev/null || true)"
    [[ -n "$initdb" ]] && { dirname "$(readlink -f "$initdb")"; return 0; }
    return 1
}

ensure_installed() {
    if PG_BIN="$(find_bin)"; then
        return 0
    fi
    is_root || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
    PG_BIN="$(find_bin)" || die "postgresql installed but no initdb found under /usr/lib/postgresql"
}

# The `postgres` OS user must be able to reach the cluster home; a clone under a
# private directory (e.g. /root) is not traversable, so fall back to a directory
# the user owns anyway.
resolve_home() {
    if is_root; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (is the postgresql package installed?)"
        mkdir -p "$BENCH_PG_HOME"
        chown postgres: "$BENCH_PG_HOME"
        if ! runuser -u postgres -- test -w "$BENCH_PG_HOME"; then
            local fallback="/var/lib/postgresql/llmhub-bench-$BENCH_PG_PORT"
            log "user postgres cannot reach $BENCH_PG_HOME; using $fallback"
            BENCH_PG_HOME="$fallback"
            mkdir -p "$BENCH_PG_HOME"
            chown postgres: "$BENCH_PG_HOME"
        fi
    else
        mkdir -p "$BENCH_PG_HOME"
    fi
    DATA_DIR="$BENCH_PG_HOME/data"
    SOCKET_DIR="$BENCH_PG_HOME/run"
    LOG_DIR="$BENCH_PG_HOME/log"
    LOG_FILE="$LOG_DIR/postgres.log"
    # A unix socket path must fit in 107 bytes; a deep checkout can exceed it.
    if (( ${#SOCKET_DIR} + 20 > 107 )); then
        SOCKET_DIR="/tmp/llmhub-bench-pg-$BENCH_PG_PORT"
    fi
}

make_owned_dir() {
    mkdir -p "$1"
    if is_root; then chown postgres: "$1"; fi
    chmod 700 "$1"
}

write_config() {
    # Rewritten on every start so tuning changes apply without a reset.
    local conf="$DATA_DIR/bench.conf"
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF
# Written by deploy/bench/postgres.sh on every start; edits here are lost.
listen_addresses = '127.0.0.1'
port = $BENCH_PG_PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 100

# Memory, sized modestly for the 2-core / 24 GiB benchmark box (the same box
# also runs ClickHouse during the comparison).
shared_buffers = '$SHARED_BUFFERS'
work_mem = '$WORK_MEM'
maintenance_work_mem = '2GB'
effective_cache_size = '$EFFECTIVE_CACHE_SIZE'
huge_pages = try

# Two cores: at most two parallel workers per query / index build.
max_worker_processes = 8
max_parallel_workers = 2
max_parallel_workers_per_gather = 2
max_parallel_maintenance_workers = 2

# The data set lives in RAM / on SSD: random reads cost about as much as
# sequential ones (the usual setting on such hardware).
random_page_cost = 1.1
effective_io_concurrency = 200

# Durability OFF - acceptable ONLY because this is a disposable benchmark
# cluster that is re-loaded from the TSV after any crash. None of this changes
# the read path that the benchmark measures; it only makes the bulk load
# faster. wal_level=minimal also lets index builds (and anything written to a
# table created in the same transaction) skip the WAL.
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '8GB'
checkpoint_timeout = '30min'

# Logging: only what helps when something breaks.
logging_collector = off
log_min_duration_statement = -1
log_checkpoints = off
EOF
    install -m 600 "$tmp" "$conf"
    rm -f "$tmp"
    if is_root; then chown postgres: "$conf"; fi
    local main_conf="$DATA_DIR/postgresql.conf"
    if ! grep -q "^include_if_exists = 'bench.conf'" "$main_conf"; then
        echo "include_if_exists = 'bench.conf'" | as_owner tee -a "$main_conf" >/dev/null
    fi
}

ensure_cluster() {
    if [[ -f "$DATA_DIR/PG_VERSION" ]]; then
        return 0
    fi
    log "initdb $DATA_DIR"
    make_owned_dir "$DATA_DIR"
    # trust for local socket and 127.0.0.1/::1 connections (loopback-only server);
    # C locale: byte-order text comparison, like ClickHouse's.
    as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C >"$BENCH_PG_HOME/initdb.log" 2>&1 \
        || { cat "$BENCH_PG_HOME/initdb.log" >&2; die "initdb failed"; }
}

is_running() {
    [[ -n "${PG_BIN:-}" && -f "$DATA_DIR/PG_VERSION" ]] || return 1
    as_owner "$PG_BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

# Port of the running server (4th line of postmaster.pid), empty if unknown.
running_port() {
    as_owner sed -n 4p "$DATA_DIR/postmaster.pid" 2>/dev/null || true
}

wait_ready() {
    local deadline=$((SECONDS + BENCH_PG_START_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$BENCH_PG_PORT" -U postgres -d postgres; do
        if (( SECONDS >= deadline )); then
            tail -n 40 "$LOG_FILE" >&2 || true
            die "server not ready after ${BENCH_PG_START_TIMEOUT}s (log: $LOG_FILE)"
        fi
        is_running || { tail -n 40 "$LOG_FILE" >&2 || true; die "server exited (log: $LOG_FILE)"; }
        sleep 0.5
    done
}

cmd_start() {
    ensure_installed
    resolve_home
    ensure_cluster
    make_owned_dir "$SOCKET_DIR"
    make_owned_dir "$LOG_DIR"
    if is_running; then
        local port
        port="$(running_port)"
        if [[ -n "$port" && "$port" != "$BENCH_PG_PORT" ]]; then
            die "already running on port $port (one cluster per BENCH_PG_HOME); stop it first"
        fi
        log "already running ($DATA_DIR)"
    else
        write_config
        log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$BENCH_PG_PORT"
        as_owner "$PG_BIN/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w \
            -t "$BENCH_PG_START_TIMEOUT" >&2 \
            || { tail -n 40 "$LOG_FILE" >&2 || true; die "pg_ctl start failed (log: $LOG_FILE)"; }
    fi
    wait_ready
    echo "BENCH_PG_DSN=$DSN"
}

cmd_stop() {
    PG_BIN="$(find_bin)" || { log "PostgreSQL is not installed; nothing to stop"; return 0; }
    resolve_home
    if is_running; then
        as_owner "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 120 >&2
    else
        log "not running"
    fi
}

cmd_status() {
    PG_BIN="$(find_bin)" || { log "PostgreSQL is not installed"; exit 1; }
    resolve_home
    if is_running; then
        local port
        port="$(running_port)"
        port="${port:-$BENCH_PG_PORT}"
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" || { log "starting up or shutting down"; exit 1; }
        echo "BENCH_PG_DSN=postgresql://postgres@127.0.0.1:$port/postgres"
    else
        log "not running"
        exit 1
    fi
}

cmd_reset() {
    cmd_stop
    log "deleting $DATA_DIR"
    rm -rf "$DATA_DIR"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    *)
        echo "usage: $0 start|stop|status|reset" >&2
        exit 2
        ;;
esac
