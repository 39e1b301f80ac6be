# Helpers shared by run-local.sh and test.sh (sourced).

# The channels, as the registry lists them (shared/src/channels.rs), in the order their local
# ports are assigned; read after the debug build.
channels() { gateway_local channels; }

# The local tool, as the workspace's one debug build made it (`cargo run -p gateway-tests`
# would resolve features for that package alone and build everything a second time).
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

# Provisions a channel's queue and secret (and the shared table and bucket) on the running
# local services and writes its function's environment file. Prints the queue URL.
#   provision_channel CHANNEL TABLE BUCKET QUEUE SECRET_ID ENV_FILE
provision_channel() {
  local channel="$1" table="$2" bucket="$3" queue="$4" secret_id="$5" env_file="$6" queue_url
  queue_url=$(gateway_local provision \
    --channel "$channel" --table "$table" --bucket "$bucket" --queue "$queue" --secret-id "$secret_id")
  cat >"$env_file" <<ENV
CHANNEL=$channel
TABLE_NAME=$table
BUCKET_NAME=$bucket
S3_FORCE_PATH_STYLE=true
QUEUE_URL=$queue_url
SECRET_ID=$secret_id
PUBLIC_BASE_URL=https://hooks.example.com/$channel
RETENTION_DAYS=30
RUST_LOG=info
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL_SQS
AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL_S3
AWS_ENDPOINT_URL_SECRETS_MANAGER=$AWS_ENDPOINT_URL_SECRETS_MANAGER
ENV
  case "$channel" in
    voice) echo "ASSEMBLYAI_API_BASE_URL=http://127.0.0.1:$GATEWAY_STANDIN_PORT" >>"$env_file" ;;
    # Honoured by debug builds only: SNS certificates from the stand-in.
    email) echo "LOCAL_SNS_CERT_BASE_URL=http://127.0.0.1:$GATEWAY_STANDIN_PORT/sns/" >>"$env_file" ;;
  esac
  echo "$queue_url"
}

# The stand-in provider endpoints the functions call back locally (AssemblyAI's transcript
# API, SNS's certificate and subscription confirmation: gateway-local standins), on
# $GATEWAY_STANDIN_PORT; GATEWAY_STANDIN_URL tells the tests and the sender where they are.
start_standins() {
  export GATEWAY_STANDIN_URL="http://127.0.0.1:$GATEWAY_STANDIN_PORT"
  "$CARGO_TARGET_DIR/debug/gateway-local" standins --port "$GATEWAY_STANDIN_PORT" \
    >"$GATEWAY_RUN_DIR/standins.log" 2>&1 &
  echo $! >"$GATEWAY_RUN_DIR/standins.pid"
}

stop_standins() {
  local pid_file="$GATEWAY_RUN_DIR/standins.pid"
  if [ -f "$pid_file" ]; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  fi
}
