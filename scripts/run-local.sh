#!/usr/bin/env bash
# The main job: a local Kafka broker, the API + Faust sink on the embedded engine (one process,
# since chdb allows one process per data directory), and demo traffic through Kafka.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

export LLMHUB_KAFKA_BOOTSTRAP="${LLMHUB_KAFKA_BOOTSTRAP:-127.0.0.1:19092}"
export LLMHUB_API_PORT="${LLMHUB_API_PORT:-8080}"
export LLMHUB_API_URL="http://127.0.0.1:${LLMHUB_API_PORT}"
mkdir -p .data
# A local admin token, made once and kept in the ignored data folder.
[ -s .data/admin-token ] || "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > .data/admin-token
export LLMHUB_API_ADMIN_TOKEN="${LLMHUB_API_ADMIN_TOKEN:-$(cat .data/admin-token)}"

if [ "$LLMHUB_KAFKA_BOOTSTRAP" = "127.0.0.1:19092" ]; then
  bash deploy/kafka/kafka.sh start
fi

"$BIN/llmhub-serve" > .data/serve.log 2>&1 &
SERVE=$!
trap 'kill -TERM $SERVE 2>/dev/null; wait $SERVE 2>/dev/null; echo "stopped (broker left running: make kafka-stop)"' EXIT
echo "service starting (log: .data/serve.log), admin token in .data/admin-token"
echo "dashboard: ${LLMHUB_API_URL}/  (sign in with an API key printed below)"
"$BIN/llmhub-demo" "$@"
