# Shared settings for the local scripts (sourced, not run).
export GATEWAY_TOOLS="${GATEWAY_TOOLS:-$HOME/.cache/channel-gateway}"
export GATEWAY_VENV="$GATEWAY_TOOLS/venv"
export GATEWAY_SAM_VENV="$GATEWAY_TOOLS/sam-venv"
export DYNAMODB_LOCAL_DIR="$GATEWAY_TOOLS/dynamodb-local"
export PATH="$GATEWAY_VENV/bin:$PATH"
# One target dir outside the clone, so CI on the same machine reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$GATEWAY_TOOLS/target}"

# The cold-start and load runs' arguments for every channel of a sourced stack.env
# (`gateway-local up`): env_args (--env), url_args (--url) and queue_args (--queue).
stack_args() {
  env_args=(); url_args=(); queue_args=()
  local channel upper
  for channel in $("$CARGO_TARGET_DIR/debug/gateway-local" channels); do
    upper=${channel^^}
    env_args+=(--env "$channel=$(printenv "GATEWAY_${upper}_ENV")")
    url_args+=(--url "$channel=$(printenv "GATEWAY_${upper}_URL")")
    queue_args+=(--queue "$channel=$(printenv "GATEWAY_${upper}_QUEUE_URL")")
  done
}
