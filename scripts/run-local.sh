#!/usr/bin/env bash
# The main job, locally (`make run`): the one debug build, the tools the run needs, then
# `gateway-local run`: DynamoDB Local and moto on free ports, each channel's queue, secret and
# function, every events/ sample sent as a real signed HTTP request, published from the
# outbox's stream, and what arrived shown per channel and per customer.
#   scripts/run-local.sh [--keep] [--json]   (--keep leaves the stack running until Ctrl-C;
#                                             --json prints every queued document in full)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
source scripts/env.sh
echo "== building (the one debug build the tests use too)"
cargo build --quiet --workspace --all-targets
"$CARGO_TARGET_DIR/debug/gateway-local" install run
exec "$CARGO_TARGET_DIR/debug/gateway-local" run "$@"
