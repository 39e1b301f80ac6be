#!/usr/bin/env bash
# Offline checks of the infrastructure code: cfn-lint and `sam validate --lint` on the SAM
# template; the CDK app's type check, assertion tests (with cdk-nag's AwsSolutions rules) and
# synthesis with bundling skipped; the SAM/CDK consistency test; and the arm64 release build of
# every function with its bootstrap size.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
source scripts/env.sh
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 CDK_DISABLE_VERSION_CHECK=1

echo "== generated from the registry (infra/template.yaml, infra/cdk/lib/channels.ts) and not stale"
"$CARGO_TARGET_DIR/debug/gateway-local" infra --check
echo "== cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml
echo "== sam validate --lint"
(cd infra && "$GATEWAY_SAM_VENV/bin/sam" validate --lint -t template.yaml)

echo "== CDK: install, type check, assertion and cdk-nag tests, synth"
cd infra/cdk
npm ci --no-audit --no-fund --loglevel=error
npx tsc --noEmit
npm test --silent
# The synthesised templates stay for the permission check when the caller names a folder.
out="${GATEWAY_INFRA_OUT:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "${GATEWAY_INFRA_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
CDK_SKIP_BUNDLING=1 npx cdk synth --no-notices -q -o "$out" >/dev/null
cd ../..

echo "== SAM and CDK describe the same system"
"$GATEWAY_SAM_VENV/bin/python" infra/tests/consistency.py infra/template.yaml "$out/channel-gateway.template.json"

echo "== cargo lambda build --release --arm64"
functions=$(ls functions)
cargo lambda build --release --arm64 $(printf -- '--bin %s ' $functions) 2>&1 | grep -v -E '^\s+(Compiling|Downloaded|Downloading)' || true
for f in $functions; do
  bootstrap="$CARGO_TARGET_DIR/lambda/$f/bootstrap"
  [ -f "$bootstrap" ] || { echo "no arm64 bootstrap for $f" >&2; exit 1; }
  file "$bootstrap" 2>/dev/null | grep -q aarch64 || { echo "$f bootstrap is not arm64" >&2; exit 1; }
  printf 'bootstrap size %-10s %8d bytes (%s)\n' "$f" "$(stat -c %s "$bootstrap")" "$(du -h "$bootstrap" | cut -f1)"
done

echo "== sam build (the template's cargo-lambda build metadata)"
(cd infra && "$GATEWAY_SAM_VENV/bin/sam" build --beta-features --build-dir "$out/sam" >/dev/null)
# Functions with the same build (the channel functions all run the gateway binary) share one
# artifact: every function's CodeUri must hold an arm64 bootstrap.
built=0
for dir in $(awk '/^      CodeUri:/ { print $2 }' "$out/sam/template.yaml"); do
  [ -x "$out/sam/$dir/bootstrap" ] || { echo "sam build made no bootstrap for $dir" >&2; exit 1; }
  file "$out/sam/$dir/bootstrap" 2>/dev/null | grep -q aarch64 || { echo "$dir bootstrap is not arm64" >&2; exit 1; }
  built=$((built + 1))
done
echo "sam build: $built functions, $(ls "$out/sam" | grep -vc template.yaml) artifacts"
