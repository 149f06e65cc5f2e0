#!/usr/bin/env bash
# Run a REAL single-node Apache Kafka 4.4 broker (KRaft, combined
# broker+controller) on loopback, without Docker - for tests, CI and local runs.
#
# Usage: deploy/kafka/kafka.sh <command>
#   install   resolve the Kafka jars from Maven Central into $KAFKA_HOME/libs
#   start     install if needed, format storage if needed, start the broker in
#             the background and wait until it serves clients; the last line
#             printed is KAFKA_BOOTSTRAP=127.0.0.1:<port>
#   stop      stop the broker (SIGTERM, SIGKILL after $KAFKA_STOP_TIMEOUT s)
#   status    exit 0 and print KAFKA_BOOTSTRAP=... if running, exit 1 otherwise
#   reset     stop, then delete the data dir (topics, offsets, logs); keeps jars
#   run-class <main class> [args...]
#             run a Kafka CLI class on the broker classpath, e.g.
#             run-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
#
# Environment (all optional):
#   KAFKA_HOME             jars, data, pid files   (default <repo>/.cache/kafka)
#   KAFKA_PORT             client port             (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port   (default KAFKA_PORT+1, i.e. 19093)
#   KAFKA_DATA_DIR         per-broker state        (default $KAFKA_HOME/data-$KAFKA_PORT)
#   KAFKA_HEAP             JVM heap flags          (default "-Xms256m -Xmx768m")
#   KAFKA_JVM_OPTS         other JVM flags         (default: serial GC, see below)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean stop (default 30)
#   JAVA_HOME              Java 17+ to use (default: `java` on PATH)
#
# Several brokers can run side by side as long as they use different
# KAFKA_PORT values: data dir, pid file, lock and console log are all keyed by
# the port.
#
# Layout (KAFKA_HOME is under .cache/, which git ignores):
#   $KAFKA_HOME/libs/                    jars (+ .resolved marker = pom.xml hash)
#   $KAFKA_HOME/run/kafka-<port>.pid     pid of the broker JVM
#   $KAFKA_HOME/run/kafka-<port>.out     JVM stdout/stderr (WARN+ log lines)
#   $KAFKA_DATA_DIR/server.properties    rendered from server.properties.template
#   $KAFKA_DATA_DIR/kraft/               Kafka log.dirs (metadata + topic data)
#   $KAFKA_DATA_DIR/logs/server.log      full INFO log
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

KAFKA_HOME="${KAFKA_HOME:-$REPO_ROOT/.cache/kafka}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
# Default to port+1 (not a fixed 19093) so that a second broker started with
# only KAFKA_PORT overridden does not collide on the controller port.
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$KAFKA_HOME/data-$KAFKA_PORT}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx768m}"
# Serial GC: smallest footprint and quickest start for a test broker on a
# 2-core box (G1's concurrent threads buy nothing at <1 GiB heap).
# ExitOnOutOfMemoryError: die loudly instead of limping along.
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
# Absolute paths: they end up in log.dirs and in the pid-file identity check,
# and the JVM's working directory is whatever the caller's was.
[[ "$KAFKA_HOME" == /* ]] || KAFKA_HOME="$PWD/$KAFKA_HOME"
[[ "$KAFKA_DATA_DIR" == /* ]] || KAFKA_DATA_DIR="$PWD/$KAFKA_DATA_DIR"

LIBS_DIR="$KAFKA_HOME/libs"
RUN_DIR="$KAFKA_HOME/run"
PID_FILE="$RUN_DIR/kafka-$KAFKA_PORT.pid"
OUT_FILE="$RUN_DIR/kafka-$KAFKA_PORT.out"
LOCK_FILE="$RUN_DIR/kafka-$KAFKA_PORT.lock"
PROPS_FILE="$KAFKA_DATA_DIR/server.properties"
KRAFT_DIR="$KAFKA_DATA_DIR/kraft"
LOGS_DIR="$KAFKA_DATA_DIR/logs"
SERVER_LOG="$LOGS_DIR/server.log"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Logged by KafkaRaftServer once both the controller and the broker are up;
# BrokerServer.startup() only returns after the broker has been unfenced by
# the controller, so at this point produce/consume/admin requests work.
READY_LINE='Kafka Server started'

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_START_TIMEOUT KAFKA_STOP_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"

# True if something accepts TCP connections on 127.0.0.1:$1. Pure bash
# (/dev/tcp); `timeout` only guards against a wedged connect.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Pid from the pid file if that process is alive AND is our broker (guards
# against a stale pid file whose pid was reused by an unrelated process).
running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS_FILE" || return 1
  echo "$pid"
}

show_log_tail() {
  local f
  for f in "$OUT_FILE" "$SERVER_LOG"; do
    [[ -s "$f" ]] || continue
    log "---- last 40 lines of $f ----"
    tail -n 40 "$f" >&2
  done
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install Java 17+ or set JAVA_HOME)"
  local ver
  # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15
  ver="$("$JAVA" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n1)"
  [[ -n "$ver" && "$ver" -ge 17 ]] || die "Kafka 4.x needs Java 17+, found: $("$JAVA" -version 2>&1 | head -n1)"
}

# --------------------------------------------------------------------------
# install: resolve jars with Maven (only network access: Maven Central, via
# the user's ~/.m2 cache). Re-resolves whenever pom.xml changes.
# --------------------------------------------------------------------------
cmd_install() {
  local pom="$SCRIPT_DIR/pom.xml" hash tmp
  hash="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [[ -f "$LIBS_DIR/.resolved" && "$(cat "$LIBS_DIR/.resolved")" == "$hash" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn (Maven 3) not found; it is needed once to fetch the Kafka jars"
  mkdir -p "$KAFKA_HOME"
  (
    # Serialize concurrent installs (e.g. two brokers started in parallel).
    flock 9
    if [[ -f "$LIBS_DIR/.resolved" && "$(cat "$LIBS_DIR/.resolved")" == "$hash" ]]; then
      exit 0
    fi
    log "resolving Kafka jars with Maven into $LIBS_DIR (first run only) ..."
    # Resolve into a temp dir and swap it in, so an interrupted run never
    # leaves a half-filled libs/ that looks complete.
    tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
    # Maven's output (even with -q) is only interesting on failure.
    if ! mvn -q -B -Dstyle.color=never -f "$pom" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" \
        >"$KAFKA_HOME/install.log" 2>&1; then
      rm -rf "$tmp"
      cat "$KAFKA_HOME/install.log" >&2
      die "Maven dependency resolution failed (log: $KAFKA_HOME/install.log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "Maven ran but no kafka_2.13 jar was copied"; }
    echo "$hash" >"$tmp/.resolved"
    rm -rf "$LIBS_DIR"
    mv "$tmp" "$LIBS_DIR"
    log "installed $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars"
  ) 9>"$KAFKA_HOME/.install.lock"
}

# Render server.properties from the template (every start, so the file always
# matches the current env; the identity of the node lives in meta.properties).
render_properties() {
  mkdir -p "$KRAFT_DIR" "$LOGS_DIR"
  sed -e "s|@PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@LOG_DIRS@|$KRAFT_DIR|g" \
      "$SCRIPT_DIR/server.properties.template" >"$PROPS_FILE.tmp"
  mv "$PROPS_FILE.tmp" "$PROPS_FILE"
}

# Format the KRaft storage once. `--standalone` bootstraps a single-voter
# dynamic quorum (matches controller.quorum.bootstrap.servers in the template).
# (Restarting later with another KAFKA_CONTROLLER_PORT works: the single
# voter is its own leader and updates its endpoint - verified on 4.4.0.)
format_storage_if_needed() {
  [[ -f "$KRAFT_DIR/meta.properties" ]] && return 0
  local cluster_id=""
  # A Kafka cluster id is a base64url-encoded random 16-byte UUID (22 chars),
  # exactly what `kafka.tools.StorageTool random-uuid` prints; doing it in bash
  # saves a JVM start. Like Kafka's Uuid.randomUuid(), avoid a leading '-'
  # (it would be parsed as a CLI flag).
  while [[ -z "$cluster_id" || "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  log "formatting $KRAFT_DIR (cluster id $cluster_id)"
  if ! "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$LIBS_DIR/*" \
      kafka.tools.StorageTool format --standalone \
      --cluster-id "$cluster_id" --config "$PROPS_FILE" >"$LOGS_DIR/format.log" 2>&1; then
    cat "$LOGS_DIR/format.log" >&2
    die "storage format failed"
  fi
}

# --------------------------------------------------------------------------
# start
# --------------------------------------------------------------------------
cmd_start() {
  cmd_install
  check_java
  mkdir -p "$RUN_DIR"
  # Per-port lock: concurrent `start`/`stop` calls for the same broker run one
  # after the other (a second `start` then just sees the running broker).
  exec 8>"$LOCK_FILE"
  flock 8

  local pid
  if pid="$(running_pid)"; then
    # Already running. Normally wait_ready returns at once; if the broker is
    # still starting (e.g. the `start` that launched it was killed while
    # waiting) it gets the normal timeout instead of a second JVM.
    wait_ready "$pid"
    echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"

  # Fail fast (instead of a bind error buried in the log) if another process
  # - e.g. a broker whose pid file was deleted - already holds our ports.
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "127.0.0.1:$p is already in use by another process (not a broker started by this script for KAFKA_PORT=$KAFKA_PORT)"
    fi
  done

  render_properties
  format_storage_if_needed

  # Readiness is detected by grepping server.log, so make sure it only
  # contains lines from this run (log4j then creates a fresh file).
  [[ -f "$SERVER_LOG" ]] && mv -f "$SERVER_LOG" "$SERVER_LOG.prev"

  local t0
  t0="$(now_ms)"
  # - setsid: new session/process group, so the broker survives the calling
  #   shell, its terminal and Ctrl-C / process-group kills aimed at the caller
  #   (e.g. a test runner); nohup on top ignores SIGHUP just in case.
  # - The `bash -c` wrapper writes its own pid and then execs java, so the pid
  #   file holds the JVM's pid whether or not setsid had to fork.
  # - 8>&- : don't let the JVM inherit the start lock, or it would hold it for
  #   its whole lifetime and block every later start/stop.
  # shellcheck disable=SC2086,SC2016  # word-split JVM opts; $$ is for the inner bash
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$PID_FILE" \
    "$JAVA" $KAFKA_HEAP $KAFKA_JVM_OPTS \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml" \
    -Dkafka.logs.dir="$LOGS_DIR" \
    -cp "$LIBS_DIR/*" \
    kafka.Kafka "$PROPS_FILE" \
    >"$OUT_FILE" 2>&1 </dev/null 8>&- &

  # The wrapper writes the pid file within milliseconds.
  local _
  for _ in $(seq 50); do
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ -n "$pid" ]] && break
    sleep 0.1
  done
  [[ -n "$pid" ]] || die "broker process did not start (no pid file)"

  wait_ready "$pid"
  log "broker pid $pid ready on $BOOTSTRAP in $(($(now_ms) - t0)) ms (data: $KAFKA_DATA_DIR)"
  echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
}

# wait_ready <pid>
# Ready = JVM alive + "Kafka Server started" in this run's server.log + the
# client port accepts connections. The log line is only written after the
# broker has been unfenced by the controller and its acceptors started; the
# TCP check confirms the listener is reachable on loopback. On timeout or
# early exit: print the log tail, make sure no half-started broker is left
# behind, exit 1.
wait_ready() {
  local pid="$1" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      rm -f "$PID_FILE"
      die "broker exited during startup (see $SERVER_LOG)"
    fi
    if grep -qF "$READY_LINE" "$SERVER_LOG" 2>/dev/null; then
      port_open "$KAFKA_PORT" && return 0
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      log "broker not ready after ${KAFKA_START_TIMEOUT}s; stopping it"
      stop_pid "$pid"
      die "timed out waiting for Kafka on $BOOTSTRAP"
    fi
    sleep 0.25
  done
}

# SIGTERM (Kafka's shutdown hook does a clean controlled shutdown and flushes
# the logs), then SIGKILL after KAFKA_STOP_TIMEOUT seconds.
stop_pid() {
  local pid="$1" deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
}

cmd_stop() {
  mkdir -p "$RUN_DIR"
  exec 8>"$LOCK_FILE"
  flock 8
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($BOOTSTRAP)"
    return 0
  fi
  local t0
  t0="$(now_ms)"
  stop_pid "$pid"
  log "stopped broker pid $pid in $(($(now_ms) - t0)) ms"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && port_open "$KAFKA_PORT"; then
    log "running, pid $pid"
    echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
    return 0
  fi
  if [[ -n "${pid:-}" ]]; then
    log "pid $pid alive but $BOOTSTRAP not answering (starting or unhealthy)"
  else
    log "not running ($BOOTSTRAP)"
  fi
  return 1
}

cmd_reset() {
  cmd_stop
  # Guard the rm -rf against an empty / root-ish KAFKA_DATA_DIR.
  case "$KAFKA_DATA_DIR" in
    "" | "/" | "$HOME" | "$REPO_ROOT" | "$KAFKA_HOME" | "$KAFKA_HOME/") die "refusing to delete KAFKA_DATA_DIR='$KAFKA_DATA_DIR'" ;;
  esac
  rm -rf "$KAFKA_DATA_DIR"
  log "deleted $KAFKA_DATA_DIR"
}

cmd_run_class() {
  [[ $# -ge 1 ]] || die "usage: $0 run-class <main class> [args...]"
  cmd_install
  check_java
  # Small heap: CLI tools; log4j2 defaults to ERROR-only console output.
  exec "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$LIBS_DIR/*" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  run-class) shift; cmd_run_class "$@" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
