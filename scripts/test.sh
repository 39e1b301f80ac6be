#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): formatting, lints, every unit and integration
# test against DynamoDB Local and moto, the served functions, the providers' SDK checks, the
# infrastructure checks, and the short forms of the fuzzing, cold-start and load runs.
#
# Each profile is built once and reused: one debug build of the whole workspace (tests, the
# served functions, the local tool, the short benchmark runs), one arm64 release build (the
# Lambda packages and the SAM build check), one fuzz build. The long forms (`make fuzz`,
# `make bench`) are not part of it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
source scripts/env.sh
started=$SECONDS
gateway_local() { "$CARGO_TARGET_DIR/debug/gateway-local" "$@"; }

# Prints a section title, with the minutes and seconds the previous section took.
step() {
  local now=$SECONDS
  if [ -n "${_step_name:-}" ]; then
    printf '   (%s: %dm%02ds)\n' "$_step_name" $(((now - _step_start) / 60)) $(((now - _step_start) % 60))
  fi
  _step_name="$1" _step_start=$now
  [ -z "$1" ] || echo "== $1"
}

# The shared target dir outlives every clone: test binaries a day old belong to earlier
# commits and would fill the disk over many runs.
# (Test binaries have no extension; proc-macro libraries, which are executable too, do.)
find "$CARGO_TARGET_DIR"/debug/deps -maxdepth 1 -type f -executable ! -name '*.*' -mtime +0 -delete 2>/dev/null || true

step "cargo fmt --check"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "debug build (workspace, every target)"
cargo build --quiet --workspace --all-targets
# Only this build's test binaries stay (the listing is a no-op build).
cargo build --workspace --all-targets --message-format=json 2>/dev/null \
  | python3 scripts/prune_target.py "$CARGO_TARGET_DIR/debug/deps"

step "tools (gateway-local install test)"
gateway_local install test

export GATEWAY_RUN_DIR="$(mktemp -d)"
cleanup() { gateway_local down --run-dir "$GATEWAY_RUN_DIR"; [ -n "${GATEWAY_KEEP_RUN_DIR:-}" ] || rm -rf "$GATEWAY_RUN_DIR"; }
trap cleanup EXIT

step "infrastructure (SAM, CDK, consistency, arm64 release build)"
GATEWAY_INFRA_OUT="$GATEWAY_RUN_DIR/infra" bash scripts/infra-check.sh

step "the local stack: services, stand-ins, the served functions, each behind a recorder of its AWS calls"
# On free ports, so a `make run --keep` left running does not interfere.
gateway_local up --detach --record --name served --run-dir "$GATEWAY_RUN_DIR"
source "$GATEWAY_RUN_DIR/stack.env"

step "provider SDK cross-checks"
gateway_local events --now --out "$GATEWAY_RUN_DIR/events" >/dev/null
python scripts/check_sdk_signatures.py events "$GATEWAY_RUN_DIR/events"
python scripts/check_sdk_signatures.py vectors "$GATEWAY_RUN_DIR/sdk_vectors.json"
diff -u shared/tests/data/sdk_vectors.json "$GATEWAY_RUN_DIR/sdk_vectors.json"
# The differential cases: the SDKs installed now give the verdicts committed (cargo test then
# checks the gateway's against them).
python scripts/sdk_differential.py "$GATEWAY_RUN_DIR/sdk_differential.json"
cmp tests/data/sdk_differential.json "$GATEWAY_RUN_DIR/sdk_differential.json" \
  || { echo "tests/data/sdk_differential.json is stale: run python scripts/sdk_differential.py tests/data/sdk_differential.json" >&2; exit 1; }

step "cargo test (unit, pipeline, local services, served functions, benchmarks once in test mode)"
cargo test --workspace --all-targets --quiet 2>&1 | tee "$GATEWAY_RUN_DIR/cargo-test.log"
# One closing line for the whole run (the last test binary may well hold no tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (p == 0 || f > 0) }' \
  "$GATEWAY_RUN_DIR/cargo-test.log"

step "permissions: every AWS call the served functions and the publisher made, against their roles in SAM and CDK"
"$GATEWAY_SAM_VENV/bin/python" infra/tests/permissions.py "$GATEWAY_RUN_DIR/aws-calls.jsonl" \
  infra/template.yaml "$GATEWAY_RUN_DIR/infra/channel-gateway.template.json"

# The short forms of the stress runs, on the debug build (their figures are not claimed:
# BENCHMARKS.md has the release figures of `make bench`).
step "cold start and memory (short: 3 starts, debug build)"
stack_args
"$CARGO_TARGET_DIR/debug/coldstart" --bin-dir "$CARGO_TARGET_DIR/debug" "${env_args[@]}" \
  --runs 3 --rounds 2 --standin "$GATEWAY_STANDIN_URL"
step "load (short: 500 requests, 16 clients, debug build)"
"$CARGO_TARGET_DIR/debug/load" "${url_args[@]}" "${queue_args[@]}" --table "$GATEWAY_TABLE" \
  --requests 500 --clients 16 --duplicates 10

step "fuzzing (short: ${GATEWAY_FUZZ_SECONDS:=20} s per target)"
bash scripts/fuzz.sh "$GATEWAY_FUZZ_SECONDS"

step ""
total=$((SECONDS - started))
printf '== make test passed in %dm%02ds\n' $((total / 60)) $((total % 60))
