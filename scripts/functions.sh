#!/usr/bin/env bash
# Serves the channel functions locally with `cargo lambda watch`, as HTTP API / Function URL
# requests at http://127.0.0.1:$PORT/lambda-url/<function>/<provider>.
#   scripts/functions.sh start ENV_FILE   (waits until the SMS function answers)
#   scripts/functions.sh stop
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
run_dir="${GATEWAY_RUN_DIR:-$here/../.local}"
port="${GATEWAY_FUNCTIONS_PORT:-9000}"
mkdir -p "$run_dir"

descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}

stop() {
  [ -f "$run_dir/functions.pid" ] || return 0
  local pid pids
  pid=$(cat "$run_dir/functions.pid")
  # cargo-lambda runs each function in a session of its own and waits for it on shutdown:
  # end the whole tree, not only cargo-lambda.
  pids="$pid $(descendants "$pid")"
  kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 $pids 2>/dev/null || break
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
  rm -f "$run_dir/functions.pid"
}

case "${1:-}" in
  start)
    env_file="${2:?usage: $0 start ENV_FILE}"
    stop
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      echo "[functions] port $port is already in use (a function server left running?)" >&2
      exit 1
    fi
    # Build first: watch compiles lazily on the first request otherwise.
    (cd "$here/.." && cargo build --quiet -p sms)
    (cd "$here/.." && setsid cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" \
        --env-file "$env_file" -p sms >"$run_dir/functions.log" 2>&1 & echo $! >"$run_dir/functions.pid")
    for _ in $(seq 1 600); do
      code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/lambda-url/sms/ready" || true)
      if [ "$code" = "404" ]; then
        echo "[functions] sms served at http://127.0.0.1:$port/lambda-url/sms (log: $run_dir/functions.log)" >&2
        exit 0
      fi
      sleep 0.5
    done
    echo "[functions] the SMS function did not come up; see $run_dir/functions.log" >&2
    tail -n 30 "$run_dir/functions.log" >&2 || true
    exit 1
    ;;
  stop) stop ;;
  *) echo "usage: $0 start ENV_FILE | stop" >&2; exit 2 ;;
esac
