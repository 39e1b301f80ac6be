# Helpers shared by run-local.sh and test.sh (sourced).

# The channels that have a function, in the order their local ports are assigned.
GATEWAY_CHANNELS=(sms social chat voice)

# Provisions a channel's queue and secret (and the shared table and bucket) on the running
# local services and writes its function's environment file. Prints the queue URL.
#   provision_channel CHANNEL TABLE BUCKET QUEUE SECRET_ID ENV_FILE
provision_channel() {
  local channel="$1" table="$2" bucket="$3" queue="$4" secret_id="$5" env_file="$6" queue_url
  queue_url=$(cargo run --quiet -p gateway-tests --bin gateway-local -- provision \
    --channel "$channel" --table "$table" --bucket "$bucket" --queue "$queue" --secret-id "$secret_id")
  cat >"$env_file" <<ENV
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
  if [ "$channel" = voice ]; then
    echo "ASSEMBLYAI_API_BASE_URL=http://127.0.0.1:$GATEWAY_TRANSCRIPT_API_PORT" >>"$env_file"
  fi
  echo "$queue_url"
}

# The stand-in AssemblyAI transcript API the voice function fetches from locally
# (gateway-local transcript-api), on $GATEWAY_TRANSCRIPT_API_PORT.
start_transcript_api() {
  "$CARGO_TARGET_DIR/debug/gateway-local" transcript-api --port "$GATEWAY_TRANSCRIPT_API_PORT" \
    >"$GATEWAY_RUN_DIR/transcript-api.log" 2>&1 &
  echo $! >"$GATEWAY_RUN_DIR/transcript-api.pid"
}

stop_transcript_api() {
  local pid_file="$GATEWAY_RUN_DIR/transcript-api.pid"
  if [ -f "$pid_file" ]; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  fi
}
