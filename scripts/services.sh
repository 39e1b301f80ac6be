#!/usr/bin/env bash
# Starts or stops the local AWS services: Amazon DynamoDB Local and moto (SQS, Secrets Manager,
# S3). `start` writes $GATEWAY_RUN_DIR/services.env with the AWS_ENDPOINT_URL_* variables that
# point the gateway's binaries (and the AWS SDK generally) at them.
#   scripts/services.sh start|stop|status
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
run_dir="${GATEWAY_RUN_DIR:-$here/../.local}"
ddb_port="${GATEWAY_DYNAMODB_PORT:-8000}"
moto_port="${GATEWAY_MOTO_PORT:-5000}"
mkdir -p "$run_dir"

wait_for() { # url name
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "[services] $2 did not come up; see $run_dir/$2.log" >&2
  return 1
}

stop_one() {
  local pidfile="$run_dir/$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

case "${1:-}" in
  start)
    stop_one dynamodb; stop_one moto
    java -Djava.library.path="$DYNAMODB_LOCAL_DIR/DynamoDBLocal_lib" -jar "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" \
      -inMemory -port "$ddb_port" >"$run_dir/dynamodb.log" 2>&1 &
    echo $! >"$run_dir/dynamodb.pid"
    "$GATEWAY_VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$run_dir/moto.log" 2>&1 &
    echo $! >"$run_dir/moto.pid"
    wait_for "http://127.0.0.1:$ddb_port" dynamodb
    wait_for "http://127.0.0.1:$moto_port/moto-api/" moto
    cat >"$run_dir/services.env" <<ENV
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$moto_port
ENV
    echo "[services] DynamoDB Local on :$ddb_port, moto on :$moto_port ($run_dir/services.env)" >&2
    ;;
  stop)
    stop_one dynamodb; stop_one moto
    ;;
  status)
    for s in dynamodb moto; do
      if [ -f "$run_dir/$s.pid" ] && kill -0 "$(cat "$run_dir/$s.pid")" 2>/dev/null; then echo "$s: running"; else echo "$s: stopped"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
