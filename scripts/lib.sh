# Helpers shared by run-local.sh and test.sh (sourced).

# The channels that have a function, in the order their local ports are assigned.
GATEWAY_CHANNELS=(sms social chat)

# Provisions a channel's queue and secret (and the shared table) on the running local
# services and writes its function's environment file. Prints the queue URL.
#   provision_channel CHANNEL TABLE QUEUE SECRET_ID ENV_FILE
provision_channel() {
  local channel="$1" table="$2" queue="$3" secret_id="$4" env_file="$5" queue_url
  queue_url=$(cargo run --quiet -p gateway-tests --bin gateway-local -- provision \
    --channel "$channel" --table "$table" --queue "$queue" --secret-id "$secret_id")
  cat >"$env_file" <<ENV
TABLE_NAME=$table
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
AWS_ENDPOINT_URL_SECRETS_MANAGER=$AWS_ENDPOINT_URL_SECRETS_MANAGER
ENV
  echo "$queue_url"
}
