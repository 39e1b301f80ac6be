#!/usr/bin/env bash
# Serves channel functions locally, one per channel and port, as HTTP API / Function URL
# requests at http://127.0.0.1:PORT/lambda-url/gateway/<channel>/<provider>: cargo lambda's
# Runtime API emulator (`cargo lambda watch --only-lambda-apis`) in front of the `gateway`
# binary the caller already built, so nothing is compiled again here. Each function has its
# own environment (its CHANNEL, queue and secret), as in AWS.
#   scripts/functions.sh start CHANNEL ENV_FILE PORT   (waits until the function answers, then
#                                                       prints its URL)
#   scripts/functions.sh stop                          (stops every channel's server)
# GATEWAY_FUNCTIONS_PROFILE=release serves the release builds (default: debug).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
run_dir="${GATEWAY_RUN_DIR:-$here/../.local}"
mkdir -p "$run_dir"

stop_pid_file() {
  local pidfile="$1" pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_all() {
  local pidfile
  for pidfile in "$run_dir"/functions-*.pid "$run_dir"/runtime-api-*.pid; do
    [ -f "$pidfile" ] && stop_pid_file "$pidfile"
  done
  return 0
}

case "${1:-}" in
  start)
    channel="${2:?usage: $0 start CHANNEL ENV_FILE PORT}"
    env_file="${3:?usage: $0 start CHANNEL ENV_FILE PORT}"
    port="${4:?usage: $0 start CHANNEL ENV_FILE PORT}"
    profile="${GATEWAY_FUNCTIONS_PROFILE:-debug}"
    binary="$CARGO_TARGET_DIR/$profile/gateway"
    [ -x "$binary" ] || { echo "[functions] $binary is not built (cargo build --workspace first)" >&2; exit 1; }
    for pidfile in "$run_dir/functions-$channel.pid" "$run_dir/runtime-api-$channel.pid"; do
      [ -f "$pidfile" ] && stop_pid_file "$pidfile"
    done
    if listening "$port"; then
      echo "[functions] port $port is already in use (a function server left running?)" >&2
      exit 1
    fi
    # No CORS: the HTTP API in AWS has none either, so an OPTIONS request reaches the function.
    (cd "$here/.." && exec cargo lambda watch --only-lambda-apis --disable-cors -A 127.0.0.1 -P "$port" \
        >"$run_dir/runtime-api-$channel.log" 2>&1) &
    echo $! >"$run_dir/runtime-api-$channel.pid"
    # The runtime client gives up at once if the emulator is not listening yet.
    for _ in $(seq 1 100); do
      listening "$port" && break
      sleep 0.1
    done
    # The function polls its own route of the emulator, as cargo lambda would start it.
    (set -a; source "$env_file"; set +a
      export AWS_LAMBDA_FUNCTION_NAME=gateway AWS_LAMBDA_FUNCTION_VERSION=1 \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/gateway"
      exec "$binary" >"$run_dir/functions-$channel.log" 2>&1) &
    echo $! >"$run_dir/functions-$channel.pid"
    for _ in $(seq 1 300); do
      kill -0 "$(cat "$run_dir/functions-$channel.pid")" 2>/dev/null || break
      url="http://127.0.0.1:$port/lambda-url/gateway/$channel"
      code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$url/ready" || true)
      if [ "$code" = "404" ]; then
        echo "[functions] $channel ($profile) served at $url (log: $run_dir/functions-$channel.log)" >&2
        echo "$url"
        exit 0
      fi
      sleep 0.2
    done
    echo "[functions] the $channel function did not come up; see $run_dir/functions-$channel.log" >&2
    tail -n 30 "$run_dir/runtime-api-$channel.log" "$run_dir/functions-$channel.log" >&2 || true
    exit 1
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start CHANNEL ENV_FILE PORT | stop" >&2; exit 2 ;;
esac
