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
# local services and writes its function's environment file. Prints the queue URL. With
# ENDPOINT, the function reaches every AWS service there (a recording proxy) instead.
#   provision_channel CHANNEL TABLE BUCKET QUEUE SECRET_ID ENV_FILE [ENDPOINT]
provision_channel() {
  local channel="$1" table="$2" bucket="$3" queue="$4" secret_id="$5" env_file="$6" queue_url
  local ddb="${7:-$AWS_ENDPOINT_URL_DYNAMODB}" sqs="${7:-$AWS_ENDPOINT_URL_SQS}" s3="${7:-$AWS_ENDPOINT_URL_S3}" secrets="${7:-$AWS_ENDPOINT_URL_SECRETS_MANAGER}"
  queue_url=$(gateway_local provision \
    --channel "$channel" --table "$table" --bucket "$bucket" --queue "$queue" --secret-id "$secret_id")
  # TRANSCRIPT_GRACE_SECS=0: a real-time transcript is assembled at its stop event, so each
  # sample gets its answer at once (the grace itself is tested in tests/tests/voice.rs).
  cat >"$env_file" <<ENV
CHANNEL=$channel
TABLE_NAME=$table
BUCKET_NAME=$bucket
S3_FORCE_PATH_STYLE=true
OUTBOX_TABLE_NAME=$table-outbox
PARTS_TABLE_NAME=$table-parts
TRANSCRIPT_GRACE_SECS=0
SECRET_ID=$secret_id
PUBLIC_BASE_URL=https://hooks.example.com/$channel
RETENTION_DAYS=30
RUST_LOG=info
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_ENDPOINT_URL_DYNAMODB=$ddb
AWS_ENDPOINT_URL_SQS=$sqs
AWS_ENDPOINT_URL_S3=$s3
AWS_ENDPOINT_URL_SECRETS_MANAGER=$secrets
ENV
  # Its providers' calls out (a provider API, signing certificates) go to the stand-ins.
  gateway_local local-env --channel "$channel" --standin "http://127.0.0.1:$GATEWAY_STANDIN_PORT" >>"$env_file"
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

# Serves a recording proxy for one function's AWS calls on PORT (gateway-local record), and
# waits until it listens: a port still held by another process must fail the run, not leave
# the function talking to a stale proxy that records elsewhere.
#   start_recorder FUNCTION PORT LOG
start_recorder() {
  local function="$1" port="$2" log="$3" pid
  "$CARGO_TARGET_DIR/debug/gateway-local" record --function "$function" --port "$port" \
    --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" --moto "$AWS_ENDPOINT_URL_SQS" --log "$log" \
    >>"$GATEWAY_RUN_DIR/recorders.log" 2>&1 &
  pid=$!
  echo "$pid" >>"$GATEWAY_RUN_DIR/recorders.pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { echo "the recording proxy for $function did not start (port $port):" >&2; cat "$GATEWAY_RUN_DIR/recorders.log" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the recording proxy for $function is not listening on $port" >&2
  return 1
}
