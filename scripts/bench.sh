#!/usr/bin/env bash
# The figures of BENCHMARKS.md, each from its own step:
#   1. per provider: verify + normalise + serialise beside HMAC + parse (criterion);
#   2. cold start, network before the first request and memory, per function beside a
#      hello-world lambda_runtime function, on a local Runtime API emulator (release builds);
#   3. a bounded load run against the release functions served on the local services;
#   4. the arm64 release bootstrap sizes.
#   scripts/bench.sh            the full run (about 15 minutes once built)
#   scripts/bench.sh --quick    every step in its short form: each bench once, 3 cold starts,
#                               500 requests; prints the figures without claiming them (make
#                               test runs the same short forms on its debug build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
quick=""
[ "${1:-}" = "--quick" ] && quick=1
source scripts/env.sh
gateway_local() { "$CARGO_TARGET_DIR/debug/gateway-local" "$@"; }

echo "== machine"
echo "cpu: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) cores"
echo "memory: $(free -g | awk '/Mem:/ { print $2 }') GiB; kernel $(uname -r); $(rustc --version)"

echo "== 1. providers (criterion)"
if [ -n "$quick" ]; then
  cargo bench --quiet -p gateway-bench --bench providers -- --test
else
  cargo bench --quiet -p gateway-bench --bench providers 2>&1 | grep -E '^[a-z]+/[a-z]+/(gateway|floor)|time:' || true
  python scripts/bench_report.py
fi

echo "== release build (every binary of the workspace, once)"
cargo build --quiet --release --workspace --bins
cargo build --quiet --workspace --all-targets  # the local tool (debug), as make run and make test build it

gateway_local install run

# The release functions served on the local stack (free ports), beside the cold-start runs'
# own processes.
export GATEWAY_RUN_DIR="$(mktemp -d)"
cleanup() { gateway_local down --run-dir "$GATEWAY_RUN_DIR"; rm -rf "$GATEWAY_RUN_DIR"; }
trap cleanup EXIT
gateway_local up --detach --profile release --name bench --run-dir "$GATEWAY_RUN_DIR"
source "$GATEWAY_RUN_DIR/stack.env"
stack_args

echo "== 2. cold start and memory (Runtime API emulator, release x86_64 builds)"
if [ -n "$quick" ]; then runs=3 rounds=2; else runs=20 rounds=20; fi
"$CARGO_TARGET_DIR/release/coldstart" --bin-dir "$CARGO_TARGET_DIR/release" "${env_args[@]}" \
  --runs "$runs" --rounds "$rounds" --standin "$GATEWAY_STANDIN_URL"

echo "== 3. load (release functions on cargo lambda's Runtime API emulator)"
# One client per function (cargo lambda watch runs one invocation at a time per function),
# then 32 clients queueing behind them.
if [ -n "$quick" ]; then loads=("500 16"); else loads=("1000 5" "3000 32"); fi
for load in "${loads[@]}"; do
  read -r requests clients <<<"$load"
  "$CARGO_TARGET_DIR/release/load" "${url_args[@]}" "${queue_args[@]}" --table "$GATEWAY_TABLE" \
    --requests "$requests" --clients "$clients" --duplicates 10
done

echo "== 4. arm64 release bootstrap sizes"
if [ -n "$quick" ]; then
  echo "(the arm64 builds and their sizes are in scripts/infra-check.sh's output)"
else
  # As scripts/infra-check.sh builds them (every function), then the baseline on its own.
  functions=$(ls functions)
  for args in "$(printf -- '--bin %s ' $functions)" "-p gateway-hello"; do
    cargo lambda build --release --arm64 $args 2>&1 | grep -v -E '^\s+(Compiling|Downloaded|Downloading)' || true
  done
  echo "| function | arm64 bootstrap (bytes) | MB |"
  echo "|---|---:|---:|"
  for f in $functions gateway-hello; do
    size=$(stat -c %s "$CARGO_TARGET_DIR/lambda/$f/bootstrap")
    awk -v f="$f" -v s="$size" 'BEGIN { printf "| %s | %d | %.1f |\n", f, s, s / 1048576 }'
  done
fi
