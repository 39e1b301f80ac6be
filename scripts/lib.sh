# Helpers shared by run-local.sh and test.sh (sourced).

# Provisions the SMS channel on the running local services and writes the SMS function's
# environment file. Prints the queue URL.
#   provision_sms TABLE QUEUE SECRET_ID ENV_FILE
provision_sms() {
  local table="$1" queue="$2" secret_id="$3" env_file="$4" queue_url
  queue_url=$(cargo run --quiet -p gateway-tests --bin gateway-local -- provision \
    --table "$table" --queue "$queue" --secret-id "$secret_id")
  cat >"$env_file" <<ENV
TABLE_NAME=$table
QUEUE_URL=$queue_url
SECRET_ID=$secret_id
PUBLIC_BASE_URL=https://hooks.example.com/sms
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
