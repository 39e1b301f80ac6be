#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): formatting, lints, every unit and integration
# test against DynamoDB Local and moto, the served functions, the providers' SDK checks, and
# the short forms of the fuzzing, benchmark, cold-start and load runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
bash scripts/bootstrap.sh
source scripts/env.sh
source scripts/lib.sh

# The shared target dir outlives every clone: test binaries a day old belong to earlier
# commits and would fill the disk over many runs.
# (Test binaries have no extension; proc-macro libraries, which are executable too, do.)
find "$CARGO_TARGET_DIR"/debug/deps -maxdepth 1 -type f -executable ! -name '*.*' -mtime +0 -delete 2>/dev/null || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== infrastructure (SAM, CDK, consistency, arm64 release builds)"
bash scripts/infra-check.sh

# Own ports and run dir, so a `make run --keep` left running does not interfere.
export GATEWAY_RUN_DIR="$(mktemp -d)"
export GATEWAY_DYNAMODB_PORT="${GATEWAY_TEST_DYNAMODB_PORT:-8101}"
export GATEWAY_MOTO_PORT="${GATEWAY_TEST_MOTO_PORT:-5101}"
export GATEWAY_FUNCTIONS_PORT="${GATEWAY_TEST_FUNCTIONS_PORT:-9101}"
export GATEWAY_STANDIN_PORT="${GATEWAY_TEST_STANDIN_PORT:-9190}"
cleanup() { scripts/functions.sh stop; stop_standins; scripts/services.sh stop; [ -n "${GATEWAY_KEEP_RUN_DIR:-}" ] || rm -rf "$GATEWAY_RUN_DIR"; }
trap cleanup EXIT

echo "== building"
cargo build --quiet --workspace --all-targets
echo "== local services"
scripts/services.sh start
source "$GATEWAY_RUN_DIR/services.env"
start_standins
for i in "${!GATEWAY_CHANNELS[@]}"; do
  channel="${GATEWAY_CHANNELS[$i]}"
  upper=$(echo "$channel" | tr '[:lower:]' '[:upper:]')
  port=$((GATEWAY_FUNCTIONS_PORT + i))
  queue_url=$(provision_channel "$channel" served-messages served-blobs "served-$channel" "served/$channel" "$GATEWAY_RUN_DIR/$channel.env")
  scripts/functions.sh start "$channel" "$GATEWAY_RUN_DIR/$channel.env" "$port"
  export "GATEWAY_${upper}_URL=http://127.0.0.1:$port/lambda-url/$channel"
  export "GATEWAY_${upper}_QUEUE_URL=$queue_url"
  export "GATEWAY_${upper}_LOG=$GATEWAY_RUN_DIR/functions-$channel.log"
done
export GATEWAY_TABLE=served-messages
export GATEWAY_BUCKET=served-blobs

echo "== provider SDK cross-checks"
cargo run --quiet -p gateway-tests --bin gateway-local -- events --now --out "$GATEWAY_RUN_DIR/events" >/dev/null
python scripts/check_sdk_signatures.py events "$GATEWAY_RUN_DIR/events"
python scripts/check_sdk_signatures.py vectors "$GATEWAY_RUN_DIR/sdk_vectors.json"
diff -u shared/tests/data/sdk_vectors.json "$GATEWAY_RUN_DIR/sdk_vectors.json"

echo "== cargo test (unit, pipeline, local services, served function)"
cargo test --workspace --all-targets --quiet 2>&1 | tee "$GATEWAY_RUN_DIR/cargo-test.log"
# One closing line for the whole run (the last test binary may well hold no tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' \
  "$GATEWAY_RUN_DIR/cargo-test.log"

# The short forms of the stress runs (the long ones and their figures: BENCHMARKS.md).
echo "== fuzzing (short: ${GATEWAY_FUZZ_SECONDS:=20} s per target)"
bash scripts/fuzz.sh "$GATEWAY_FUZZ_SECONDS"
echo "== benchmarks, cold start, load (short)"
bash scripts/bench.sh --quick
