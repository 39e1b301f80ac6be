#!/usr/bin/env bash
# The main job, locally: installs the tools if needed, starts DynamoDB Local and moto,
# provisions the table and each channel's queue and secret, serves each channel's function
# on cargo-lambda's Runtime API emulator, sends every events/ sample as a real signed HTTP request, and shows what
# arrived on the queues and in the table.
#   scripts/run-local.sh [--keep]   (--keep leaves the services and the functions running)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
bash scripts/bootstrap.sh run
source scripts/env.sh
source scripts/lib.sh
export GATEWAY_RUN_DIR="${GATEWAY_RUN_DIR:-$PWD/.local}"
base_port="${GATEWAY_FUNCTIONS_PORT:-9000}"
keep=false; [ "${1:-}" = "--keep" ] && keep=true
export GATEWAY_STANDIN_PORT="${GATEWAY_STANDIN_PORT:-9180}"
cleanup() { scripts/functions.sh stop; stop_standins; scripts/services.sh stop; }
$keep || trap cleanup EXIT

echo "== building (the one debug build the tests use too)"
cargo build --quiet --workspace --all-targets
echo "== starting DynamoDB Local and moto"
scripts/services.sh start
source "$GATEWAY_RUN_DIR/services.env"
echo "== starting the stand-in provider endpoints (AssemblyAI, SNS) on :$GATEWAY_STANDIN_PORT"
start_standins
urls=(); queues=()
mapfile -t GATEWAY_CHANNELS < <(channels)
for i in "${!GATEWAY_CHANNELS[@]}"; do
  channel="${GATEWAY_CHANNELS[$i]}"
  port=$((base_port + i))
  echo "== $channel: queue gateway-$channel.fifo, secret gateway/$channel, function on :$port"
  queue_url=$(provision_channel "$channel" gateway-messages gateway-blobs "gateway-$channel" "gateway/$channel" "$GATEWAY_RUN_DIR/$channel.env")
  url=$(scripts/functions.sh start "$channel" "$GATEWAY_RUN_DIR/$channel.env" "$port")
  urls+=(--url "$channel=$url")
  queues+=(--queue "$channel=$queue_url")
done
echo "== sending the events/ samples (timestamped schemes re-signed now)"
gateway_local send "${urls[@]}"
echo "== publishing from the outbox's stream (the publisher function's work in AWS)"
gateway_local publish --table gateway-messages "${queues[@]}"
echo "== what arrived (the queues are drained as they are shown)"
gateway_local show --table gateway-messages "${queues[@]}"
if $keep; then
  echo
  echo "Still running: functions at ${urls[*]}; endpoints in $GATEWAY_RUN_DIR/services.env."
  echo "Stop with: scripts/functions.sh stop && scripts/services.sh stop && kill \$(cat $GATEWAY_RUN_DIR/standins.pid)"
fi
