# Shared settings for the local scripts (sourced, not run).
export GATEWAY_TOOLS="${GATEWAY_TOOLS:-$HOME/.cache/channel-gateway}"
export GATEWAY_VENV="$GATEWAY_TOOLS/venv"
export GATEWAY_SAM_VENV="$GATEWAY_TOOLS/sam-venv"
export DYNAMODB_LOCAL_DIR="$GATEWAY_TOOLS/dynamodb-local"
export PATH="$GATEWAY_VENV/bin:$PATH"
# One target dir outside the clone, so CI on the same machine reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$GATEWAY_TOOLS/target}"
