# Shared by scripts/*: installs what is missing, from PyPI and npm only, into the project.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
PY="$VENV/bin/python"
TEMPLATE="$ROOT/infra/cdk.out/Livepay.template.json"
export AWS_REGION="${AWS_REGION:-us-east-1}"
# The emulator accepts any credentials; real ones must never be needed locally.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export CDK_DISABLE_CLI_TELEMETRY=true

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_venv() {
  local req="$ROOT/scripts/local/requirements.txt" stamp="$VENV/.requirements"
  if [ -x "$PY" ] && cmp -s "$req" "$stamp"; then return; fi
  log "installing the local stack's Python tools into .local/venv"
  mkdir -p "$LOCAL"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

ensure_infra() {
  local lock="$ROOT/infra/package-lock.json" stamp="$ROOT/infra/node_modules/.livepay-lock"
  if cmp -s "$lock" "$stamp"; then return; fi
  log "installing the CDK app's packages (npm ci)"
  (cd "$ROOT/infra" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$stamp"
}

synth() {
  ensure_infra
  log "cdk synth (offline)"
  (cd "$ROOT/infra" && npx cdk synth --quiet --no-notices >/dev/null 2>"$LOCAL/synth.log") || { cat "$LOCAL/synth.log" >&2; return 1; }
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url, seconds
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    [ $SECONDS -lt "$deadline" ] || { echo "timed out waiting for $url" >&2; return 1; }
    sleep 0.2
  done
}

# Starts moto on a free port in the background; sets MOTO_PID and AWS_ENDPOINT_URL.
start_moto() { # log file
  local port; port=$(free_port)
  "$PY" "$ROOT/scripts/local/moto_server.py" 127.0.0.1 "$port" >"$1" 2>&1 &
  MOTO_PID=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  wait_http "$AWS_ENDPOINT_URL/moto-api/" 60
}

functions_env() { # prefix, webhook secret: creates the template's resources in moto, prints the functions' environment
  (cd "$ROOT/scripts/local" && "$PY" -m livepay_local provision --template "$TEMPLATE" --endpoint "$AWS_ENDPOINT_URL" \
    --region "$AWS_REGION" --prefix "$1" --webhook-secret "$2")
  printf 'AWS_ENDPOINT_URL=%s\nAWS_REGION=%s\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n' \
    "$AWS_ENDPOINT_URL" "$AWS_REGION"
}
