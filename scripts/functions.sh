#!/usr/bin/env bash
# Serves channel functions locally with `cargo lambda watch`, one server per channel (each
# function has its own environment, as in AWS), as HTTP API / Function URL requests at
# http://127.0.0.1:PORT/lambda-url/<channel>/<provider>.
#   scripts/functions.sh start CHANNEL ENV_FILE PORT   (waits until the function answers)
#   scripts/functions.sh stop                          (stops every channel's server)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
run_dir="${GATEWAY_RUN_DIR:-$here/../.local}"
mkdir -p "$run_dir"

descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do
    echo "$child"
    descendants "$child"
  done
}

stop_one() {
  local pidfile="$1" pid pids
  pid=$(cat "$pidfile")
  # cargo-lambda runs each function in a session of its own and waits for it on shutdown:
  # end the whole tree, not only cargo-lambda.
  pids="$pid $(descendants "$pid")"
  kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 $pids 2>/dev/null || break
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
  rm -f "$pidfile"
}

stop_all() {
  local pidfile
  for pidfile in "$run_dir"/functions-*.pid; do
    [ -f "$pidfile" ] && stop_one "$pidfile"
  done
  return 0
}

case "${1:-}" in
  start)
    channel="${2:?usage: $0 start CHANNEL ENV_FILE PORT}"
    env_file="${3:?usage: $0 start CHANNEL ENV_FILE PORT}"
    port="${4:?usage: $0 start CHANNEL ENV_FILE PORT}"
    [ -f "$run_dir/functions-$channel.pid" ] && stop_one "$run_dir/functions-$channel.pid"
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      echo "[functions] port $port is already in use (a function server left running?)" >&2
      exit 1
    fi
    # GATEWAY_FUNCTIONS_RELEASE=1 serves release builds (the load run's figures).
    profile=()
    [ -n "${GATEWAY_FUNCTIONS_RELEASE:-}" ] && profile=(--release)
    # Build first: watch compiles lazily on the first request otherwise.
    (cd "$here/.." && cargo build --quiet "${profile[@]}" -p "$channel")
    # No CORS: the HTTP API in AWS has none either, so an OPTIONS request reaches the function.
    (cd "$here/.." && setsid cargo lambda watch "${profile[@]}" --ignore-changes --disable-cors -A 127.0.0.1 -P "$port" \
        --env-file "$env_file" -p "$channel" >"$run_dir/functions-$channel.log" 2>&1 &
      echo $! >"$run_dir/functions-$channel.pid")
    for _ in $(seq 1 600); do
      code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/lambda-url/$channel/ready" || true)
      if [ "$code" = "404" ]; then
        echo "[functions] $channel served at http://127.0.0.1:$port/lambda-url/$channel (log: $run_dir/functions-$channel.log)" >&2
        exit 0
      fi
      sleep 0.5
    done
    echo "[functions] the $channel function did not come up; see $run_dir/functions-$channel.log" >&2
    tail -n 30 "$run_dir/functions-$channel.log" >&2 || true
    exit 1
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start CHANNEL ENV_FILE PORT | stop" >&2; exit 2 ;;
esac
