#!/usr/bin/env bash
# The main job, locally: installs the tools if needed, starts DynamoDB Local and moto,
# provisions the table, the SMS queue and secret, serves the SMS function with cargo-lambda,
# sends every events/sms sample as a real signed HTTP request, and shows what arrived.
#   scripts/run-local.sh [--keep]   (--keep leaves the services and the function running)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
bash scripts/bootstrap.sh
source scripts/env.sh
source scripts/lib.sh
export GATEWAY_RUN_DIR="${GATEWAY_RUN_DIR:-$PWD/.local}"
keep=false; [ "${1:-}" = "--keep" ] && keep=true
cleanup() { scripts/functions.sh stop; scripts/services.sh stop; }
$keep || trap cleanup EXIT

echo "== building"
cargo build --quiet -p sms -p gateway-tests
echo "== starting DynamoDB Local and moto"
scripts/services.sh start
source "$GATEWAY_RUN_DIR/services.env"
echo "== provisioning table gateway-messages, queue gateway-sms.fifo, secret gateway/sms"
queue_url=$(provision_sms gateway-messages gateway-sms gateway/sms "$GATEWAY_RUN_DIR/sms.env")
echo "== serving the SMS function"
scripts/functions.sh start "$GATEWAY_RUN_DIR/sms.env"
url="http://127.0.0.1:${GATEWAY_FUNCTIONS_PORT:-9000}/lambda-url/sms"
echo "== sending the events/sms samples to $url/<provider> (timestamped schemes re-signed now)"
gateway_local() { cargo run --quiet -p gateway-tests --bin gateway-local -- "$@"; }
gateway_local send --url "$url"
echo "== running the redrive once (publishes anything whose queue send failed)"
gateway_local redrive --table gateway-messages --queue-url "$queue_url"
echo "== what arrived (the queue is drained as it is shown)"
gateway_local show --table gateway-messages --queue-url "$queue_url"
if $keep; then
  echo
  echo "Still running: function at $url, endpoints in $GATEWAY_RUN_DIR/services.env."
  echo "Stop with: scripts/functions.sh stop && scripts/services.sh stop"
fi
